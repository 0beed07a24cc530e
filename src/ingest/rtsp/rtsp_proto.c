/* RTSP wire protocol: message parser, interleaved frames, URLs, authentication.
 *
 * The message parser looks for the blank line that ends the header block within
 * SV_RTSP_MAX_HEADER bytes, then splits lines in place (pointers into the input, no
 * copies), accepting bare LF line ends and folded continuation lines are rejected as
 * malformed. Content-Length decides the body; a message without it has no body. Digest
 * uses OpenSSL's MD5 through EVP. See rtsp_proto.h for what is not supported. */
#include "ingest/rtsp/rtsp_proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/buf.h"
#include "core/error.h"

/* ---- messages ---- */

static bool str_ieq(sv_rtsp_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static sv_rtsp_str trim(const char *p, size_t len)
{
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    return (sv_rtsp_str){p, len};
}

/* Finds the end of the header block: returns its length including the blank line, 0 if
 * not complete yet. */
static size_t header_end(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int parse_int(sv_rtsp_str s, long max, long *out)
{
    long v = 0;
    if (!s.len || s.len > 10)
        return SV_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        if (!isdigit((unsigned char)s.p[i]))
            return SV_EINVAL;
        v = v * 10 + (s.p[i] - '0');
    }
    if (v > max)
        return SV_ETOOBIG;
    *out = v;
    return 0;
}

static int parse_start_line(const char *p, size_t len, sv_rtsp_msg *m)
{
    const char *sp1 = memchr(p, ' ', len);
    if (!sp1)
        return SV_EINVAL;
    if (len > 9 && !memcmp(p, "RTSP/1.", 7)) {
        long status;
        const char *code = sp1 + 1;
        size_t rest = len - (size_t)(code - p);
        size_t clen = 0;
        while (clen < rest && code[clen] != ' ')
            clen++;
        if (parse_int((sv_rtsp_str){code, clen}, 999, &status) || status < 100)
            return SV_EINVAL;
        m->status = (int)status;
        m->reason = trim(code + clen, rest - clen);
        return 0;
    }
    const char *sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p));
    if (!sp2 || (size_t)(p + len - sp2) < 9 || memcmp(sp2 + 1, "RTSP/1.", 7))
        return SV_EINVAL;
    m->is_request = true;
    m->method = (sv_rtsp_str){p, (size_t)(sp1 - p)};
    m->uri = (sv_rtsp_str){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    return m->method.len ? 0 : SV_EINVAL;
}

static int parse_header_line(const char *p, size_t len, sv_rtsp_msg *m)
{
    if (p[0] == ' ' || p[0] == '\t')
        return SV_EINVAL; /* obsolete line folding */
    const char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return SV_EINVAL;
    sv_rtsp_header h = {trim(p, (size_t)(colon - p)),
                        trim(colon + 1, len - (size_t)(colon + 1 - p))};
    if (m->nheaders < SV_RTSP_MAX_HEADERS)
        m->headers[m->nheaders++] = h;
    return 0;
}

int sv_rtsp_parse(const uint8_t *buf, size_t len, sv_rtsp_msg *out)
{
    memset(out, 0, sizeof *out);
    out->cseq = -1;
    size_t hlen = header_end(buf, len < SV_RTSP_MAX_HEADER ? len : SV_RTSP_MAX_HEADER);
    if (!hlen)
        return len >= SV_RTSP_MAX_HEADER ? SV_ETOOBIG : SV_ENEEDMORE;
    const char *p = (const char *)buf, *end = p + hlen;
    for (bool first = true; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)(nl - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0 && !first)
            break;
        int rc = first ? parse_start_line(p, l, out) : parse_header_line(p, l, out);
        if (rc)
            return rc;
        first = false;
        p = nl + 1;
    }
    long v = 0;
    sv_rtsp_str cl = sv_rtsp_header_get(out, "Content-Length");
    if (cl.p) {
        int rc = parse_int(cl, SV_RTSP_MAX_BODY, &v);
        if (rc)
            return rc;
    }
    sv_rtsp_str cs = sv_rtsp_header_get(out, "CSeq");
    long cseq;
    if (cs.p && !parse_int(cs, 2000000000L, &cseq))
        out->cseq = (int)cseq;
    if (len - hlen < (size_t)v)
        return SV_ENEEDMORE;
    out->body = buf + hlen;
    out->body_len = (size_t)v;
    return (int)(hlen + (size_t)v);
}

sv_rtsp_str sv_rtsp_header_get(const sv_rtsp_msg *m, const char *name)
{
    for (int i = 0; i < m->nheaders; i++)
        if (str_ieq(m->headers[i].name, name))
            return m->headers[i].value;
    return (sv_rtsp_str){NULL, 0};
}

char *sv_rtsp_str_copy(sv_rtsp_str s, char *out, size_t size)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    if (n)
        memcpy(out, s.p, n);
    out[n] = '\0';
    return out;
}

int sv_rtsp_interleaved(const uint8_t *buf, size_t len, int *channel, const uint8_t **payload,
                        size_t *plen)
{
    if (len < 1)
        return SV_ENEEDMORE;
    if (buf[0] != '$')
        return SV_EINVAL;
    if (len < 4)
        return SV_ENEEDMORE;
    size_t n = sv_rb16(buf + 2);
    if (len < 4 + n)
        return SV_ENEEDMORE;
    *channel = buf[1];
    *payload = buf + 4;
    *plen = n;
    return (int)(4 + n);
}

/* ---- URLs ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes p[0..len) into out. */
static int pct_decode(const char *p, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)p[i];
        if (c == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
            i += 2;
        }
        if (o + 1 >= size)
            return SV_ETOOBIG;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_hostport(const char *p, size_t len, sv_rtsp_url *out)
{
    const char *hp = p, *colon = NULL;
    size_t hl = len;
    if (len && p[0] == '[') {
        const char *rb = memchr(p, ']', len);
        if (!rb)
            return SV_EINVAL;
        hp = p + 1;
        hl = (size_t)(rb - hp);
        if (rb + 1 < p + len) {
            if (rb[1] != ':')
                return SV_EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', len);
        if (colon)
            hl = (size_t)(colon - p);
    }
    if (!hl || hl >= sizeof out->host)
        return hl ? SV_ETOOBIG : SV_EINVAL;
    memcpy(out->host, hp, hl);
    out->host[hl] = '\0';
    out->port = SV_RTSP_DEFAULT_PORT;
    if (colon) {
        long port;
        if (parse_int((sv_rtsp_str){colon + 1, (size_t)(p + len - colon - 1)}, 65535, &port) ||
            port == 0)
            return SV_EINVAL;
        out->port = (int)port;
    }
    return 0;
}

int sv_rtsp_url_parse(const char *url, sv_rtsp_url *out)
{
    memset(out, 0, sizeof *out);
    if (strncasecmp(url, "rtsp://", 7))
        return SV_EINVAL;
    const char *p = url + 7;
    size_t alen = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (p[i] == '@')
            at = p + i; /* the last '@' ends the userinfo */
    if (at) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        size_t ul = c ? (size_t)(c - p) : (size_t)(at - p);
        if (pct_decode(p, ul, out->user, sizeof out->user) ||
            (c && pct_decode(c + 1, (size_t)(at - c - 1), out->pass, sizeof out->pass)))
            return SV_ETOOBIG;
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    int rc = parse_hostport(p, alen, out);
    if (rc)
        return rc;
    const char *path = p + alen;
    size_t pl = strcspn(path, "#");
    if (pl + 2 > sizeof out->path)
        return SV_ETOOBIG;
    size_t o = 0;
    if (path[0] != '/')
        out->path[o++] = '/';
    memcpy(out->path + o, path, pl);
    out->path[o + pl] = '\0';
    for (const char *q = out->path; *q; q++)
        if ((unsigned char)*q <= ' ')
            return SV_EINVAL; /* no spaces or controls in a request line */
    return 0;
}

int sv_rtsp_url_plain(const sv_rtsp_url *u, char *out, size_t size)
{
    bool v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(out, size, "rtsp://%s%s%s:%d%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
                     u->port, u->path);
    return n < 0 || (size_t)n >= size ? SV_ETOOBIG : 0;
}

void sv_rtsp_url_mask(const char *url, char *out, size_t size)
{
    const char *s = strstr(url, "://");
    const char *auth = s ? s + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        snprintf(out, size, "%s", url);
        return;
    }
    snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
}

int sv_rtsp_url_join(const char *base, const char *ref, char *out, size_t size)
{
    int n;
    if (!strncasecmp(ref, "rtsp://", 7) || !strncasecmp(ref, "rtsps://", 8)) {
        n = snprintf(out, size, "%s", ref);
    } else if (ref[0] == '/') {
        const char *s = strstr(base, "://");
        size_t hl = s ? (size_t)(s + 3 - base) + strcspn(s + 3, "/?#") : 0;
        n = snprintf(out, size, "%.*s%s", (int)hl, base, ref);
    } else {
        size_t bl = strcspn(base, "?#");
        bool slash = bl && base[bl - 1] == '/';
        n = snprintf(out, size, "%.*s%s%s", (int)bl, base, slash || !*ref ? "" : "/", ref);
    }
    return n < 0 || (size_t)n >= size ? SV_ETOOBIG : 0;
}

/* ---- authentication ---- */

/* Reads the next key=value (value quoted or token) from *p; returns false at the end. */
static bool next_param(const char **p, const char *end, sv_rtsp_str *k, char *v, size_t vsize)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == ',' || *s == '\t'))
        s++;
    const char *eq = s;
    while (eq < end && *eq != '=' && *eq != ',')
        eq++;
    if (s >= end || eq >= end || *eq != '=')
        return false;
    *k = trim(s, (size_t)(eq - s));
    const char *q = eq + 1;
    size_t o = 0;
    if (q < end && *q == '"') {
        for (q++; q < end && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < end)
                q++;
            if (o + 1 < vsize)
                v[o++] = *q;
        }
        q += q < end;
    } else {
        for (; q < end && *q != ','; q++)
            if (*q != ' ' && o + 1 < vsize)
                v[o++] = *q;
    }
    v[o] = '\0';
    *p = q;
    return true;
}

/* Copies a C string, truncating to size - 1. */
static void copy_cstr(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int digest_challenge(sv_rtsp_auth *a, const char *p, const char *end)
{
    sv_rtsp_auth d = {.kind = SV_RTSP_AUTH_DIGEST};
    sv_rtsp_str k;
    char v[256];
    while (next_param(&p, end, &k, v, sizeof v)) {
        if (str_ieq(k, "realm"))
            copy_cstr(d.realm, sizeof d.realm, v);
        else if (str_ieq(k, "nonce"))
            copy_cstr(d.nonce, sizeof d.nonce, v);
        else if (str_ieq(k, "opaque"))
            copy_cstr(d.opaque, sizeof d.opaque, v);
        else if (str_ieq(k, "stale"))
            d.stale = !strcasecmp(v, "true");
        else if (str_ieq(k, "qop"))
            for (char *sp, *t = strtok_r(v, ", ", &sp); t; t = strtok_r(NULL, ", ", &sp))
                d.qop_auth |= !strcasecmp(t, "auth");
        else if (str_ieq(k, "algorithm") && strcasecmp(v, "MD5"))
            return SV_EUNSUPPORTED;
    }
    if (!d.nonce[0])
        return SV_EINVAL;
    *a = d;
    return 0;
}

int sv_rtsp_auth_challenge(sv_rtsp_auth *a, const char *value, size_t len)
{
    sv_rtsp_str v = trim(value, len);
    size_t sl = 0;
    while (sl < v.len && v.p[sl] != ' ')
        sl++;
    sv_rtsp_str scheme = {v.p, sl};
    if (str_ieq(scheme, "Digest"))
        return digest_challenge(a, v.p + sl, v.p + v.len);
    if (!str_ieq(scheme, "Basic"))
        return SV_EUNSUPPORTED;
    if (a->kind == SV_RTSP_AUTH_DIGEST)
        return 0; /* keep the stronger scheme */
    memset(a, 0, sizeof *a);
    a->kind = SV_RTSP_AUTH_BASIC;
    const char *p = v.p + sl, *end = v.p + v.len;
    sv_rtsp_str k;
    char val[128];
    while (next_param(&p, end, &k, val, sizeof val))
        if (str_ieq(k, "realm"))
            copy_cstr(a->realm, sizeof a->realm, val);
    return 0;
}

static void md5_hex(const char *s, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL))
        n = 0;
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = i < n ? hex[md[i] >> 4] : '0';
        out[2 * i + 1] = i < n ? hex[md[i] & 15] : '0';
    }
    out[32] = '\0';
}

void sv_rtsp_digest(const char *user, const char *realm, const char *pass, const char *method,
                    const char *uri, const char *nonce, const char *nc, const char *cnonce,
                    const char *qop, char out[33])
{
    char buf[1024], ha1[33], ha2[33];
    snprintf(buf, sizeof buf, "%s:%s:%s", user, realm, pass);
    md5_hex(buf, ha1);
    snprintf(buf, sizeof buf, "%s:%s", method, uri);
    md5_hex(buf, ha2);
    if (qop)
        snprintf(buf, sizeof buf, "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
    else
        snprintf(buf, sizeof buf, "%s:%s:%s", ha1, nonce, ha2);
    md5_hex(buf, out);
}

static int basic_header(const char *user, const char *pass, char *out, size_t size)
{
    char raw[300];
    int n = snprintf(raw, sizeof raw, "%s:%s", user, pass);
    if (n < 0 || (size_t)n >= sizeof raw || size < 7 + 4 * ((size_t)n + 2) / 3 + 1)
        return SV_ETOOBIG;
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)raw, n);
    return 0;
}

int sv_rtsp_auth_header(sv_rtsp_auth *a, const char *user, const char *pass, const char *method,
                        const char *uri, const char *cnonce, char *out, size_t size)
{
    if (a->kind == SV_RTSP_AUTH_BASIC)
        return basic_header(user, pass, out, size);
    if (a->kind != SV_RTSP_AUTH_DIGEST)
        return SV_EINVAL;
    char resp[33], nc[9], cn[17];
    if (!cnonce) {
        unsigned char r[8];
        if (RAND_bytes(r, sizeof r) != 1)
            memset(r, 0x5a, sizeof r);
        for (int i = 0; i < 8; i++)
            snprintf(cn + 2 * i, 3, "%02x", r[i]);
        cnonce = cn;
    }
    snprintf(nc, sizeof nc, "%08x", ++a->nc);
    sv_rtsp_digest(user, a->realm, pass, method, uri, a->nonce, nc, cnonce,
                   a->qop_auth ? "auth" : NULL, resp);
    int n = snprintf(out, size, "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                                "response=\"%s\"",
                     user, a->realm, a->nonce, uri, resp);
    if (n > 0 && (size_t)n < size && a->opaque[0])
        n += snprintf(out + n, size - (size_t)n, ", opaque=\"%s\"", a->opaque);
    if (n > 0 && (size_t)n < size && a->qop_auth)
        n += snprintf(out + n, size - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, cnonce);
    return n < 0 || (size_t)n >= size ? SV_ETOOBIG : 0;
}
