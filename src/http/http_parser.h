/* Pure, incremental HTTP/1.x request parser.
 *
 * sv_http_parse() is fed a buffer that always starts at the first byte of the request and
 * may grow between calls (the same prefix each time, possibly followed by pipelined
 * bytes). The parser keeps its position and an explicit state enum, so every byte of the
 * head is examined once. It returns the number of bytes the complete request occupies,
 * SV_ENEEDMORE, or a negative SV_E* code with the HTTP status to answer and a reason.
 * On success it materialises the request into one allocation (sv_http_request): method,
 * raw target, percent-decoded path, raw query, decoded query parameters, headers with
 * trimmed values, and the body. No I/O, no globals.
 *
 * Accepted: origin-form, absolute-form (http/https, path kept) and "*" for OPTIONS;
 * HTTP/1.0 and 1.1 (1.x with x > 1 is treated as 1.1, 2+ is 505); CRLF or bare LF line
 * ends; empty lines before the request line. Rejected: obs-fold, whitespace before a
 * colon, control bytes, invalid or %00 escapes, Transfer-Encoding in requests (501, or
 * 400 together with Content-Length), conflicting Content-Length, missing or repeated Host
 * in HTTP/1.1. Caps: head (request line + headers) 16 KiB (431, 414 while in the target),
 * request-target 8 KiB (414), 100 headers (431), body 1 MiB (413), method 32 bytes (501). */
#ifndef SV_HTTP_HTTP_PARSER_H
#define SV_HTTP_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define SV_HTTP_MAX_HEAD (16 * 1024)
#define SV_HTTP_MAX_TARGET (8 * 1024)
#define SV_HTTP_MAX_HEADERS 100
#define SV_HTTP_MAX_BODY (1024 * 1024)
#define SV_HTTP_MAX_METHOD 32

typedef enum sv_http_parse_state {
    SV_HTTP_PS_START = 0, /* skipping empty lines before the request line */
    SV_HTTP_PS_START_LF,  /* CR seen on a leading empty line */
    SV_HTTP_PS_METHOD,
    SV_HTTP_PS_TARGET,
    SV_HTTP_PS_VERSION,
    SV_HTTP_PS_LINE_LF,     /* CR seen after the version */
    SV_HTTP_PS_FIELD_START, /* at the start of a header line or of the final empty line */
    SV_HTTP_PS_FIELD_NAME,
    SV_HTTP_PS_FIELD_OWS,   /* whitespace after the colon */
    SV_HTTP_PS_FIELD_VALUE,
    SV_HTTP_PS_FIELD_LF,    /* CR seen at the end of a header line */
    SV_HTTP_PS_END_LF,      /* CR seen on the empty line closing the head */
    SV_HTTP_PS_BODY,        /* head complete, waiting for Content-Length bytes */
    SV_HTTP_PS_DONE,
    SV_HTTP_PS_ERROR,
} sv_http_parse_state;

typedef struct sv_http_span {
    uint32_t off, len; /* offsets into the caller's buffer */
} sv_http_span;

typedef struct sv_http_parser {
    sv_http_parse_state state;
    size_t pos;                 /* next byte to examine */
    sv_http_span method, target, version, path, query;
    int has_query;
    int minor;                  /* HTTP/1.minor (0 or 1) */
    size_t nfields;
    sv_http_span names[SV_HTTP_MAX_HEADERS], values[SV_HTTP_MAX_HEADERS];
    size_t value_end;           /* end of the last non-blank byte of the current value */
    size_t head_len;            /* bytes of request line + headers incl. the empty line */
    size_t content_length;
    int keep_alive;
    int expect_continue;        /* Expect: 100-continue and a body is announced */
    int err;                    /* SV_E* code once state == ERROR */
    int status;                 /* HTTP status to answer once state == ERROR */
    const char *reason;         /* static text once state == ERROR */
} sv_http_parser;

typedef struct sv_http_kv {
    const char *name, *value;
} sv_http_kv;

/* A parsed request. Every pointer points into `mem`, one allocation owned by the struct. */
typedef struct sv_http_request {
    const char *method;
    const char *target;  /* request-target as sent */
    const char *path;    /* percent-decoded, without query; "*" for OPTIONS * */
    const char *query;   /* raw text after '?', "" if none */
    int minor;           /* 0: HTTP/1.0, 1: HTTP/1.1 */
    int keep_alive;      /* connection may be reused after the response */
    size_t nheaders;
    const sv_http_kv *headers; /* names as sent, values trimmed */
    size_t nparams;
    const sv_http_kv *params;  /* query split at '&' / '=', decoded, '+' as space */
    const uint8_t *body; /* NULL if body_len == 0 */
    size_t body_len;
    void *mem;
} sv_http_request;

void sv_http_parser_init(sv_http_parser *p);

/* buf: the request from its first byte (borrowed, not retained). Returns the bytes the
 * request occupies (> 0) and fills *out (caller frees with sv_http_request_free),
 * SV_ENEEDMORE, or a negative code (SV_EINVAL, SV_ETOOBIG, SV_EUNSUPPORTED, SV_ENOMEM)
 * with p->status and p->reason set. After success or error, re-init before reuse. */
int sv_http_parse(sv_http_parser *p, const uint8_t *buf, size_t len, sv_http_request *out);

/* The most bytes the next sv_http_parse call can use: the head cap while reading the
 * head, the whole request size once the head is complete. A caller may wait until that
 * many bytes are available in the BODY state instead of calling again. */
size_t sv_http_parser_want(const sv_http_parser *p);

/* Frees r->mem and clears r. NULL-safe. */
void sv_http_request_free(sv_http_request *r);

/* Case-insensitive header lookup, first match; borrowed from r. NULL if absent. */
const char *sv_http_request_header(const sv_http_request *r, const char *name);
/* Decoded query parameter (case-sensitive name), first match; borrowed. NULL if absent. */
const char *sv_http_request_param(const sv_http_request *r, const char *name);

/* Percent-decodes src[0..n) into dst (room for n bytes + NUL); plus_space turns '+' into
 * ' '. Returns the decoded length or SV_EINVAL on a bad escape or %00. */
int sv_http_pct_decode(const char *src, size_t n, int plus_space, char *dst);

#endif
