/* Incremental HTTP/1.x request parser (see http_parser.h).
 *
 * The head is scanned one byte at a time by a state machine that records spans (offsets)
 * into the caller's buffer, never pointers, because the buffer may move between calls.
 * When the empty line is reached the framing headers (Host, Content-Length,
 * Transfer-Encoding, Connection, Expect) are checked; once the body is present too, the
 * request is copied into a single allocation. The parser does not read chunked request
 * bodies, does not normalise "." / ".." path segments (routing does), and does not know
 * about sockets. */
#include "http/http_parser.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(sv_http_parser *p, int err, int status, const char *reason)
{
    p->state = SV_HTTP_PS_ERROR;
    p->err = err;
    p->status = status;
    p->reason = reason;
    return err;
}

static int is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sv_http_pct_decode(const char *src, size_t n, int plus_space, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (n - i < 3)
                return SV_EINVAL;
            int hi = hexval((uint8_t)src[i + 1]), lo = hexval((uint8_t)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return SV_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (dst)
            dst[o] = c;
        o++;
    }
    if (dst)
        dst[o] = '\0';
    return (int)o;
}

void sv_http_parser_init(sv_http_parser *p)
{
    memset(p, 0, sizeof *p);
    p->state = SV_HTTP_PS_START;
}

size_t sv_http_parser_want(const sv_http_parser *p)
{
    if (p->state >= SV_HTTP_PS_BODY && p->state != SV_HTTP_PS_ERROR)
        return p->head_len + p->content_length;
    return SV_HTTP_MAX_HEAD;
}

static int span_ieq(const uint8_t *buf, sv_http_span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = buf[s.off + i], b = (uint8_t)lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t)(a + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

/* Splits the target into path and query spans and checks their escapes. */
static int finish_target(sv_http_parser *p, const uint8_t *buf)
{
    const uint8_t *t = buf + p->target.off;
    size_t n = p->target.len, start = 0;
    if (n == 1 && t[0] == '*') {
        if (!span_ieq(buf, p->method, "options"))
            return fail(p, SV_EINVAL, 400, "'*' target outside OPTIONS");
        p->path = p->target;
        return 0;
    }
    if (t[0] != '/') {
        size_t skip = 0;
        if (n >= 7 && !strncasecmp((const char *)t, "http://", 7))
            skip = 7;
        else if (n >= 8 && !strncasecmp((const char *)t, "https://", 8))
            skip = 8;
        if (!skip)
            return fail(p, SV_EINVAL, 400, "invalid request-target");
        start = skip;
        while (start < n && t[start] != '/' && t[start] != '?')
            start++;
    }
    size_t q = start;
    while (q < n && t[q] != '?')
        q++;
    p->path.off = (uint32_t)(p->target.off + start);
    p->path.len = (uint32_t)(q - start); /* 0: absolute-form without a path, means "/" */
    if (q < n) {
        p->has_query = 1;
        p->query.off = (uint32_t)(p->target.off + q + 1);
        p->query.len = (uint32_t)(n - q - 1);
    }
    if (sv_http_pct_decode((const char *)buf + p->path.off, p->path.len, 0, NULL) < 0 ||
        sv_http_pct_decode((const char *)buf + p->query.off, p->query.len, 1, NULL) < 0)
        return fail(p, SV_EINVAL, 400, "invalid percent-encoding in request-target");
    return 0;
}

static int finish_version(sv_http_parser *p, const uint8_t *buf)
{
    const uint8_t *v = buf + p->version.off;
    if (p->version.len != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' ||
        v[5] > '9' || v[7] < '0' || v[7] > '9')
        return fail(p, SV_EINVAL, 400, "invalid HTTP version");
    if (v[5] != '1')
        return fail(p, SV_EUNSUPPORTED, 505, "HTTP version not supported");
    p->minor = v[7] == '0' ? 0 : 1;
    return finish_target(p, buf);
}

/* One byte of the request line (and of the empty lines before it). */
static int step_line(sv_http_parser *p, const uint8_t *buf, uint8_t c)
{
    uint32_t pos = (uint32_t)p->pos;
    switch (p->state) {
    case SV_HTTP_PS_START:
        if (c == '\r' || c == '\n') {
            p->state = c == '\r' ? SV_HTTP_PS_START_LF : SV_HTTP_PS_START;
            return 0;
        }
        if (!is_tchar(c))
            return fail(p, SV_EINVAL, 400, "invalid method");
        p->method = (sv_http_span){pos, 1};
        p->state = SV_HTTP_PS_METHOD;
        return 0;
    case SV_HTTP_PS_START_LF:
    case SV_HTTP_PS_LINE_LF:
        if (c != '\n')
            return fail(p, SV_EINVAL, 400, "CR not followed by LF");
        p->state = p->state == SV_HTTP_PS_START_LF ? SV_HTTP_PS_START : SV_HTTP_PS_FIELD_START;
        return 0;
    case SV_HTTP_PS_METHOD:
        if (c == ' ') {
            p->target = (sv_http_span){pos + 1, 0};
            p->state = SV_HTTP_PS_TARGET;
            return 0;
        }
        if (!is_tchar(c))
            return fail(p, SV_EINVAL, 400, "invalid method");
        if (++p->method.len > SV_HTTP_MAX_METHOD)
            return fail(p, SV_EUNSUPPORTED, 501, "method too long");
        return 0;
    case SV_HTTP_PS_TARGET:
        if (c == ' ') {
            if (!p->target.len)
                return fail(p, SV_EINVAL, 400, "empty request-target");
            p->version = (sv_http_span){pos + 1, 0};
            p->state = SV_HTTP_PS_VERSION;
            return 0;
        }
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return fail(p, SV_EINVAL, 400, "invalid byte in request-target");
        if (++p->target.len > SV_HTTP_MAX_TARGET)
            return fail(p, SV_ETOOBIG, 414, "request-target too long");
        return 0;
    case SV_HTTP_PS_VERSION:
        if (c == '\r' || c == '\n') {
            p->state = c == '\r' ? SV_HTTP_PS_LINE_LF : SV_HTTP_PS_FIELD_START;
            return finish_version(p, buf);
        }
        if (++p->version.len > 8)
            return fail(p, SV_EINVAL, 400, "invalid HTTP version");
        return 0;
    default:
        return fail(p, SV_EINVAL, 400, "parser state error");
    }
}

/* Content-Length: a list of equal decimal values ("5", "5, 5"); every header agrees. */
static int parse_content_length(sv_http_parser *p, const uint8_t *buf, sv_http_span v,
                                int *have)
{
    const uint8_t *s = buf + v.off;
    size_t i = 0, n = v.len;
    for (;;) {
        size_t val = 0, digits = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (val <= SV_HTTP_MAX_BODY)
                val = val * 10 + (size_t)(s[i] - '0');
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (!digits || (i < n && s[i] != ','))
            return fail(p, SV_EINVAL, 400, "invalid Content-Length");
        if (*have && val != p->content_length)
            return fail(p, SV_EINVAL, 400, "conflicting Content-Length");
        *have = 1;
        p->content_length = val;
        if (i == n)
            break;
        i++;
    }
    if (p->content_length > SV_HTTP_MAX_BODY)
        return fail(p, SV_ETOOBIG, 413, "request body too large");
    return 0;
}

/* Sets *close / *keep for the tokens of one Connection header. */
static void scan_connection(const uint8_t *buf, sv_http_span v, int *close, int *keep)
{
    size_t i = 0;
    while (i < v.len) {
        size_t a = i;
        while (i < v.len && buf[v.off + i] != ',')
            i++;
        size_t b = i++;
        while (a < b && (buf[v.off + a] == ' ' || buf[v.off + a] == '\t'))
            a++;
        while (b > a && (buf[v.off + b - 1] == ' ' || buf[v.off + b - 1] == '\t'))
            b--;
        sv_http_span t = {(uint32_t)(v.off + a), (uint32_t)(b - a)};
        if (span_ieq(buf, t, "close"))
            *close = 1;
        else if (span_ieq(buf, t, "keep-alive"))
            *keep = 1;
    }
}

/* The empty line was reached: check the framing headers. */
static int finish_head(sv_http_parser *p, const uint8_t *buf)
{
    int hosts = 0, te = 0, have_cl = 0, close = 0, keep = 0, expect = 0;
    p->head_len = p->pos + 1;
    for (size_t i = 0; i < p->nfields; i++) {
        sv_http_span n = p->names[i], v = p->values[i];
        if (span_ieq(buf, n, "host"))
            hosts++;
        else if (span_ieq(buf, n, "transfer-encoding"))
            te = 1;
        else if (span_ieq(buf, n, "connection"))
            scan_connection(buf, v, &close, &keep);
        else if (span_ieq(buf, n, "expect"))
            expect = span_ieq(buf, v, "100-continue");
        else if (span_ieq(buf, n, "content-length") &&
                 parse_content_length(p, buf, v, &have_cl) < 0)
            return p->err;
    }
    if (hosts > 1 || (p->minor == 1 && hosts == 0))
        return fail(p, SV_EINVAL, 400, hosts ? "repeated Host header" : "missing Host header");
    if (te && (have_cl || p->minor == 0))
        return fail(p, SV_EINVAL, 400, "Transfer-Encoding with Content-Length or HTTP/1.0");
    if (te)
        return fail(p, SV_EUNSUPPORTED, 501, "Transfer-Encoding in requests not supported");
    p->keep_alive = !close && (p->minor == 1 || keep);
    p->expect_continue = expect && p->content_length > 0;
    p->state = SV_HTTP_PS_BODY;
    return 0;
}

/* One byte of the header section. */
static int step_field(sv_http_parser *p, const uint8_t *buf, uint8_t c)
{
    uint32_t pos = (uint32_t)p->pos;
    size_t nf = p->nfields;
    switch (p->state) {
    case SV_HTTP_PS_FIELD_START:
        if (c == '\r' || c == '\n') {
            p->state = SV_HTTP_PS_END_LF;
            return c == '\n' ? finish_head(p, buf) : 0;
        }
        if (c == ' ' || c == '\t')
            return fail(p, SV_EINVAL, 400, "obsolete line folding or leading whitespace");
        if (!is_tchar(c))
            return fail(p, SV_EINVAL, 400, "invalid header name");
        if (nf == SV_HTTP_MAX_HEADERS)
            return fail(p, SV_ETOOBIG, 431, "too many headers");
        p->names[nf] = (sv_http_span){pos, 1};
        p->state = SV_HTTP_PS_FIELD_NAME;
        return 0;
    case SV_HTTP_PS_FIELD_NAME:
        if (c == ':') {
            p->state = SV_HTTP_PS_FIELD_OWS;
            return 0;
        }
        if (!is_tchar(c))
            return fail(p, SV_EINVAL, 400, "invalid header name");
        p->names[nf].len++;
        return 0;
    case SV_HTTP_PS_FIELD_OWS:
        if (c == ' ' || c == '\t')
            return 0;
        p->values[nf] = (sv_http_span){pos, 0};
        p->value_end = pos;
        p->state = SV_HTTP_PS_FIELD_VALUE;
        /* fall through */
    case SV_HTTP_PS_FIELD_VALUE:
        if (c == '\r' || c == '\n') {
            p->values[nf].len = (uint32_t)(p->value_end - p->values[nf].off);
            p->nfields++;
            p->state = c == '\r' ? SV_HTTP_PS_FIELD_LF : SV_HTTP_PS_FIELD_START;
            return 0;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(p, SV_EINVAL, 400, "control byte in header value");
        if (c != ' ' && c != '\t')
            p->value_end = pos + 1;
        return 0;
    case SV_HTTP_PS_FIELD_LF:
    case SV_HTTP_PS_END_LF:
        if (c != '\n')
            return fail(p, SV_EINVAL, 400, "CR not followed by LF");
        if (p->state == SV_HTTP_PS_END_LF)
            return finish_head(p, buf);
        p->state = SV_HTTP_PS_FIELD_START;
        return 0;
    default:
        return fail(p, SV_EINVAL, 400, "parser state error");
    }
}

/* Copies n bytes plus a NUL at *w, advancing *w. */
static const char *put_str(char **w, const void *src, size_t n)
{
    char *s = *w;
    if (n)
        memcpy(s, src, n);
    s[n] = '\0';
    *w += n + 1;
    return s;
}

/* Splits the raw query into decoded name/value pairs; returns the number stored. */
static size_t split_query(const char *q, size_t n, sv_http_kv *kv, char **w)
{
    size_t count = 0, i = 0;
    while (i < n) {
        size_t a = i, eq = n;
        while (i < n && q[i] != '&') {
            if (q[i] == '=' && eq == n)
                eq = i;
            i++;
        }
        size_t b = i++, name_end = eq < b ? eq : b;
        if (a == b)
            continue;
        int len = sv_http_pct_decode(q + a, name_end - a, 1, *w);
        kv[count].name = *w;
        *w += len + 1;
        len = eq < b ? sv_http_pct_decode(q + eq + 1, b - eq - 1, 1, *w) : 0;
        (*w)[len] = '\0';
        kv[count++].value = *w;
        *w += len + 1;
    }
    return count;
}

/* Copies the complete request into one allocation. */
static int build_request(sv_http_parser *p, const uint8_t *buf, sv_http_request *out)
{
    const char *q = (const char *)buf + p->query.off;
    size_t nparams = 0, chars;
    if (p->has_query) {
        nparams = 1;
        for (size_t i = 0; i < p->query.len; i++)
            nparams += q[i] == '&';
    }
    chars = p->method.len + p->target.len + p->path.len + 2 * p->query.len + 4 * nparams + 8;
    for (size_t i = 0; i < p->nfields; i++)
        chars += p->names[i].len + p->values[i].len + 2;
    size_t kvbytes = (p->nfields + nparams) * sizeof(sv_http_kv);
    char *mem = malloc(kvbytes + chars + p->content_length);
    if (!mem)
        return fail(p, SV_ENOMEM, 500, "out of memory");
    sv_http_kv *kv = (sv_http_kv *)(void *)mem;
    char *w = mem + kvbytes;
    memset(out, 0, sizeof *out);
    out->mem = mem;
    out->method = put_str(&w, buf + p->method.off, p->method.len);
    out->target = put_str(&w, buf + p->target.off, p->target.len);
    if (p->path.len) {
        out->path = w;
        w += sv_http_pct_decode((const char *)buf + p->path.off, p->path.len, 0, w) + 1;
    } else {
        out->path = put_str(&w, "/", 1);
    }
    out->query = put_str(&w, q, p->query.len);
    for (size_t i = 0; i < p->nfields; i++) {
        kv[i].name = put_str(&w, buf + p->names[i].off, p->names[i].len);
        kv[i].value = put_str(&w, buf + p->values[i].off, p->values[i].len);
    }
    out->headers = kv;
    out->nheaders = p->nfields;
    out->params = kv + p->nfields;
    out->nparams = split_query(q, p->query.len, kv + p->nfields, &w);
    if (p->content_length) {
        memcpy(w, buf + p->head_len, p->content_length);
        out->body = (const uint8_t *)w;
    }
    out->body_len = p->content_length;
    out->minor = p->minor;
    out->keep_alive = p->keep_alive;
    return 0;
}

int sv_http_parse(sv_http_parser *p, const uint8_t *buf, size_t len, sv_http_request *out)
{
    if (p->state == SV_HTTP_PS_ERROR)
        return p->err;
    if (p->state == SV_HTTP_PS_DONE)
        return fail(p, SV_EINVAL, 400, "parser reused without init");
    while (p->state < SV_HTTP_PS_BODY && p->pos < len && p->pos < SV_HTTP_MAX_HEAD) {
        uint8_t c = buf[p->pos];
        int rc = p->state < SV_HTTP_PS_FIELD_START ? step_line(p, buf, c)
                                                   : step_field(p, buf, c);
        if (rc < 0)
            return rc;
        p->pos++;
    }
    if (p->state < SV_HTTP_PS_BODY) {
        if (p->pos < SV_HTTP_MAX_HEAD)
            return SV_ENEEDMORE;
        if (p->state == SV_HTTP_PS_TARGET)
            return fail(p, SV_ETOOBIG, 414, "request-target too long");
        return fail(p, SV_ETOOBIG, 431, "request header section too large");
    }
    size_t total = p->head_len + p->content_length;
    if (len < total)
        return SV_ENEEDMORE;
    if (build_request(p, buf, out) < 0)
        return p->err;
    p->state = SV_HTTP_PS_DONE;
    return (int)total;
}

void sv_http_request_free(sv_http_request *r)
{
    if (!r)
        return;
    free(r->mem);
    memset(r, 0, sizeof *r);
}

const char *sv_http_request_header(const sv_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

const char *sv_http_request_param(const sv_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].name, name))
            return r->params[i].value;
    return NULL;
}
