/* RTSP 1.0 wire protocol (RFC 2326): pure parsers and helpers, no I/O.
 *
 * - sv_rtsp_parse: one message (a response, or a request the server sends us) over
 *   (buf, len) -> bytes consumed, SV_ENEEDMORE or an error. The header block and the
 *   body are capped (SV_RTSP_MAX_HEADER, SV_RTSP_MAX_BODY); header values are borrowed
 *   pointers into the input, so the message is valid only while the input is.
 * - sv_rtsp_interleaved: one "$ channel len16 payload" frame of RTP/RTCP over TCP.
 * - sv_rtsp_url_parse / sv_rtsp_url_mask: rtsp://user:pass@host:port/path, and the form
 *   that is safe to log or show ("rtsp://user:***@host/path").
 * - Authentication: WWW-Authenticate challenge parsing, Basic credentials and Digest
 *   responses (RFC 2617: MD5, qop "auth" or none).
 * It does not do RTSP 2.0, pipelining of requests or TLS (rtsps). */
#ifndef SV_INGEST_RTSP_PROTO_H
#define SV_INGEST_RTSP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_RTSP_MAX_HEADER 16384   /* bytes of start line + headers */
#define SV_RTSP_MAX_BODY 65536     /* Content-Length cap (SDP, parameters) */
#define SV_RTSP_MAX_HEADERS 48
#define SV_RTSP_DEFAULT_PORT 554

typedef struct sv_rtsp_str {
    const char *p; /* borrowed from the parsed buffer, not NUL-terminated */
    size_t len;
} sv_rtsp_str;

typedef struct sv_rtsp_header {
    sv_rtsp_str name, value;
} sv_rtsp_header;

typedef struct sv_rtsp_msg {
    bool is_request;       /* a request from the server (method/uri), not a response */
    int status;            /* response status code */
    sv_rtsp_str reason;    /* response reason phrase */
    sv_rtsp_str method, uri; /* request line */
    int nheaders;
    sv_rtsp_header headers[SV_RTSP_MAX_HEADERS]; /* extra headers beyond the cap are dropped */
    int cseq;              /* -1 if absent */
    const uint8_t *body;   /* borrowed; body_len bytes */
    size_t body_len;
} sv_rtsp_msg;

/* Parses one RTSP message at buf. Returns bytes consumed (headers + body), SV_ENEEDMORE,
 * SV_ETOOBIG (header block or body over its cap) or SV_EINVAL. */
int sv_rtsp_parse(const uint8_t *buf, size_t len, sv_rtsp_msg *out);
/* Value of a header (case-insensitive name), or a {NULL, 0} string. */
sv_rtsp_str sv_rtsp_header_get(const sv_rtsp_msg *m, const char *name);
/* Copies s into out (NUL-terminated, truncated to size-1). Returns out. */
char *sv_rtsp_str_copy(sv_rtsp_str s, char *out, size_t size);

/* Interleaved frame at buf (buf[0] must be '$'): returns total bytes (4 + payload),
 * SV_ENEEDMORE or SV_EINVAL. *channel and *payload (borrowed) / *plen set on success. */
int sv_rtsp_interleaved(const uint8_t *buf, size_t len, int *channel, const uint8_t **payload,
                        size_t *plen);

#define SV_RTSP_URL_MAX 1024

typedef struct sv_rtsp_url {
    char user[128], pass[128]; /* percent-decoded; empty when absent */
    char host[256];            /* without brackets for IPv6 literals */
    int port;
    char path[SV_RTSP_URL_MAX]; /* path and query starting with '/' ("/" if none) */
} sv_rtsp_url;

/* Parses rtsp://[user[:pass]@]host[:port][/path]. Returns 0, SV_EINVAL or SV_ETOOBIG. */
int sv_rtsp_url_parse(const char *url, sv_rtsp_url *out);
/* Request URL without credentials: rtsp://host:port/path. Returns 0 or SV_ETOOBIG. */
int sv_rtsp_url_plain(const sv_rtsp_url *u, char *out, size_t size);
/* Writes url with the password replaced by "***" (unchanged when it has none). */
void sv_rtsp_url_mask(const char *url, char *out, size_t size);
/* Resolves a (possibly relative) control/Location reference against base. 0 or SV_E*. */
int sv_rtsp_url_join(const char *base, const char *ref, char *out, size_t size);

typedef enum { SV_RTSP_AUTH_NONE = 0, SV_RTSP_AUTH_BASIC, SV_RTSP_AUTH_DIGEST } sv_rtsp_auth_kind;

typedef struct sv_rtsp_auth {
    sv_rtsp_auth_kind kind;
    char realm[128], nonce[256], opaque[256];
    bool qop_auth;  /* the server offered qop="auth" */
    bool stale;
    uint32_t nc;    /* nonce count of the last response */
} sv_rtsp_auth;

/* Parses one WWW-Authenticate value into a (Digest preferred over Basic: call it for each
 * header; a Digest challenge replaces a Basic one, not the other way round). Returns 0,
 * SV_EUNSUPPORTED (other scheme or algorithm) or SV_EINVAL. */
int sv_rtsp_auth_challenge(sv_rtsp_auth *a, const char *value, size_t len);
/* Writes the Authorization header value for a request into out. cnonce: client nonce for
 * qop=auth (any token; NULL: generated). Returns 0, SV_EINVAL or SV_ETOOBIG. */
int sv_rtsp_auth_header(sv_rtsp_auth *a, const char *user, const char *pass, const char *method,
                        const char *uri, const char *cnonce, char *out, size_t size);
/* RFC 2617 3.2.2 response: MD5(HA1:nonce[:nc:cnonce:qop]:HA2) in lowercase hex (33 bytes
 * with the NUL). qop NULL for the RFC 2069 form. */
void sv_rtsp_digest(const char *user, const char *realm, const char *pass, const char *method,
                    const char *uri, const char *nonce, const char *nc, const char *cnonce,
                    const char *qop, char out[33]);

#endif
