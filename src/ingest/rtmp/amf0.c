/* AMF0 decoder/encoder (see amf0.h).
 *
 * The decoder is recursive descent over a cursor (pos within buf) with a depth counter
 * and a node budget shared by the whole call. Object/array children grow by doubling, so
 * an array's declared count is never trusted for allocation: every child consumes at
 * least one input byte, which with the node budget bounds memory. ECMA arrays are read
 * until the object-end marker (their count field is advisory, as in every encoder); a
 * strict array reads exactly `count` items. It does not decode AMF3. */
#include "ingest/rtmp/amf0.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct amf_reader {
    const uint8_t *p;
    size_t len, pos;
    int nodes; /* budget left */
} amf_reader;

static int decode_value(amf_reader *r, sv_amf_value *out, int depth);

static int need(const amf_reader *r, size_t n)
{
    return r->len - r->pos >= n ? 0 : SV_ENEEDMORE;
}

/* Copies n bytes at the cursor into a new NUL-terminated string. */
static int read_str(amf_reader *r, size_t n, char **s, size_t *slen)
{
    int rc = need(r, n);
    if (rc)
        return rc;
    char *c = malloc(n + 1);
    if (!c)
        return SV_ENOMEM;
    memcpy(c, r->p + r->pos, n);
    c[n] = 0;
    r->pos += n;
    *s = c;
    *slen = n;
    return 0;
}

static double read_double(const uint8_t *p)
{
    uint64_t u = (uint64_t)sv_rb32(p) << 32 | sv_rb32(p + 4);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return SV_ENOMEM;
    memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 0;
}

/* Properties until the 00 00 09 end marker (objects and ECMA arrays). */
static int decode_props(amf_reader *r, sv_amf_value *out, int depth)
{
    size_t cap = 0;
    for (;;) {
        int rc = need(r, 2);
        if (rc)
            return rc;
        size_t klen = sv_rb16(r->p + r->pos);
        if (klen == 0) {
            if ((rc = need(r, 3)))
                return rc;
            if (r->p[r->pos + 2] != SV_AMF_OBJECT_END)
                return SV_EINVAL;
            r->pos += 3;
            return 0;
        }
        if ((rc = grow((void **)&out->props, &cap, out->len, sizeof *out->props)))
            return rc;
        sv_amf_prop *pr = &out->props[out->len];
        r->pos += 2;
        if ((rc = read_str(r, klen, &pr->key, &pr->key_len)))
            return rc;
        out->len++; /* counted now so sv_amf_free releases the key on failure */
        if ((rc = decode_value(r, &pr->val, depth + 1)))
            return rc;
    }
}

static int decode_strict(amf_reader *r, sv_amf_value *out, int depth)
{
    int rc = need(r, 4);
    if (rc)
        return rc;
    uint32_t count = sv_rb32(r->p + r->pos);
    r->pos += 4;
    size_t cap = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (r->pos >= r->len)
            return SV_ENEEDMORE; /* checked before growing: each item is >= 1 byte */
        if ((rc = grow((void **)&out->items, &cap, out->len, sizeof *out->items)))
            return rc;
        out->len++;
        if ((rc = decode_value(r, &out->items[out->len - 1], depth + 1)))
            return rc;
    }
    return 0;
}

static int decode_scalar(amf_reader *r, uint8_t m, sv_amf_value *out)
{
    int rc;
    switch (m) {
    case SV_AMF_NUMBER:
        if ((rc = need(r, 8)))
            return rc;
        out->num = read_double(r->p + r->pos);
        r->pos += 8;
        return 0;
    case SV_AMF_BOOLEAN:
        if ((rc = need(r, 1)))
            return rc;
        out->boolean = r->p[r->pos++] != 0;
        return 0;
    case SV_AMF_STRING:
    case SV_AMF_LONG_STRING: {
        size_t hl = m == SV_AMF_STRING ? 2 : 4;
        if ((rc = need(r, hl)))
            return rc;
        size_t n = hl == 2 ? sv_rb16(r->p + r->pos) : sv_rb32(r->p + r->pos);
        r->pos += hl;
        out->type = SV_AMF_STRING;
        return read_str(r, n, &out->str, &out->len);
    }
    case SV_AMF_DATE:
        if ((rc = need(r, 10)))
            return rc;
        out->num = read_double(r->p + r->pos);
        out->tz = (int16_t)sv_rb16(r->p + r->pos + 8);
        r->pos += 10;
        return 0;
    case SV_AMF_NULL:
    case SV_AMF_UNDEFINED:
        return 0;
    default:
        return SV_EINVAL;
    }
}

static int decode_value(amf_reader *r, sv_amf_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    out->type = SV_AMF_NULL;
    if (depth > SV_AMF_MAX_DEPTH || --r->nodes < 0)
        return SV_ETOOBIG;
    int rc = need(r, 1);
    if (rc)
        return rc;
    uint8_t m = r->p[r->pos++];
    out->type = (sv_amf_type)m;
    switch (m) {
    case SV_AMF_OBJECT:
        return decode_props(r, out, depth);
    case SV_AMF_ECMA_ARRAY:
        if ((rc = need(r, 4)))
            return rc;
        r->pos += 4; /* advisory count */
        return decode_props(r, out, depth);
    case SV_AMF_STRICT_ARRAY:
        return decode_strict(r, out, depth);
    case 0x04: /* movie clip */
    case 0x07: /* reference */
    case 0x0d: /* unsupported */
    case 0x0f: /* XML document */
    case 0x10: /* typed object */
    case 0x11: /* AMF3 switch */
        out->type = SV_AMF_NULL;
        return SV_EUNSUPPORTED;
    default:
        rc = decode_scalar(r, m, out);
        if (rc == SV_EINVAL)
            out->type = SV_AMF_NULL;
        return rc;
    }
}

int sv_amf_decode(const uint8_t *buf, size_t len, sv_amf_value *out)
{
    amf_reader r = {buf, len, 0, SV_AMF_MAX_NODES};
    int rc = decode_value(&r, out, 0);
    if (rc) {
        sv_amf_free(out);
        return rc;
    }
    return (int)r.pos;
}

int sv_amf_decode_all(const uint8_t *buf, size_t len, sv_amf_value *vals, int max)
{
    amf_reader r = {buf, len, 0, SV_AMF_MAX_NODES};
    int n = 0;
    while (n < max && r.pos < len) {
        int rc = decode_value(&r, &vals[n], 0);
        if (rc) {
            sv_amf_free_all(vals, n + 1);
            return rc;
        }
        n++;
    }
    return n;
}

void sv_amf_free(sv_amf_value *v)
{
    if (!v)
        return;
    free(v->str);
    if (v->props) {
        for (size_t i = 0; i < v->len; i++) {
            free(v->props[i].key);
            sv_amf_free(&v->props[i].val);
        }
        free(v->props);
    }
    if (v->items) {
        for (size_t i = 0; i < v->len; i++)
            sv_amf_free(&v->items[i]);
        free(v->items);
    }
    memset(v, 0, sizeof *v);
}

void sv_amf_free_all(sv_amf_value *vals, int n)
{
    for (int i = 0; i < n; i++)
        sv_amf_free(&vals[i]);
}

const sv_amf_value *sv_amf_get(const sv_amf_value *v, const char *key)
{
    if (!v || (v->type != SV_AMF_OBJECT && v->type != SV_AMF_ECMA_ARRAY) || !v->props)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->props[i].key_len == kl && memcmp(v->props[i].key, key, kl) == 0)
            return &v->props[i].val;
    return NULL;
}

const char *sv_amf_get_string(const sv_amf_value *v, const char *key)
{
    const sv_amf_value *p = sv_amf_get(v, key);
    return p && p->type == SV_AMF_STRING ? p->str : NULL;
}

bool sv_amf_get_number(const sv_amf_value *v, const char *key, double *out)
{
    const sv_amf_value *p = sv_amf_get(v, key);
    if (!p || p->type != SV_AMF_NUMBER)
        return false;
    *out = p->num;
    return true;
}

/* ---- encoding ---- */

static void put_double(sv_bytes *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    sv_bytes_put_be64(b, u);
}

void sv_amf_put_number(sv_bytes *b, double d)
{
    sv_bytes_put_u8(b, SV_AMF_NUMBER);
    put_double(b, d);
}

void sv_amf_put_bool(sv_bytes *b, bool v)
{
    sv_bytes_put_u8(b, SV_AMF_BOOLEAN);
    sv_bytes_put_u8(b, v ? 1 : 0);
}

void sv_amf_put_string_len(sv_bytes *b, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        b->failed = 1;
        return;
    }
    if (len > 0xffff) {
        sv_bytes_put_u8(b, SV_AMF_LONG_STRING);
        sv_bytes_put_be32(b, (uint32_t)len);
    } else {
        sv_bytes_put_u8(b, SV_AMF_STRING);
        sv_bytes_put_be16(b, (uint16_t)len);
    }
    sv_bytes_put(b, s, len);
}

void sv_amf_put_string(sv_bytes *b, const char *s) { sv_amf_put_string_len(b, s, strlen(s)); }
void sv_amf_put_null(sv_bytes *b) { sv_bytes_put_u8(b, SV_AMF_NULL); }
void sv_amf_put_undefined(sv_bytes *b) { sv_bytes_put_u8(b, SV_AMF_UNDEFINED); }
void sv_amf_put_object_start(sv_bytes *b) { sv_bytes_put_u8(b, SV_AMF_OBJECT); }

void sv_amf_put_ecma_start(sv_bytes *b, uint32_t count)
{
    sv_bytes_put_u8(b, SV_AMF_ECMA_ARRAY);
    sv_bytes_put_be32(b, count);
}

static void put_key_len(sv_bytes *b, const char *key, size_t kl)
{
    if (kl > 0xffff) {
        b->failed = 1;
        return;
    }
    sv_bytes_put_be16(b, (uint16_t)kl);
    sv_bytes_put(b, key, kl);
}

void sv_amf_put_key(sv_bytes *b, const char *key) { put_key_len(b, key, strlen(key)); }

void sv_amf_put_object_end(sv_bytes *b)
{
    sv_bytes_put_be16(b, 0);
    sv_bytes_put_u8(b, SV_AMF_OBJECT_END);
}

void sv_amf_put_prop_string(sv_bytes *b, const char *key, const char *s)
{
    sv_amf_put_key(b, key);
    sv_amf_put_string(b, s);
}

void sv_amf_put_prop_number(sv_bytes *b, const char *key, double d)
{
    sv_amf_put_key(b, key);
    sv_amf_put_number(b, d);
}

void sv_amf_put_prop_bool(sv_bytes *b, const char *key, bool v)
{
    sv_amf_put_key(b, key);
    sv_amf_put_bool(b, v);
}

static int encode_value(sv_bytes *b, const sv_amf_value *v, int depth)
{
    if (depth > SV_AMF_MAX_DEPTH)
        return SV_ETOOBIG;
    int rc = 0;
    switch (v->type) {
    case SV_AMF_NUMBER: sv_amf_put_number(b, v->num); break;
    case SV_AMF_BOOLEAN: sv_amf_put_bool(b, v->boolean); break;
    case SV_AMF_STRING:
    case SV_AMF_LONG_STRING: sv_amf_put_string_len(b, v->str ? v->str : "", v->len); break;
    case SV_AMF_NULL: sv_amf_put_null(b); break;
    case SV_AMF_UNDEFINED: sv_amf_put_undefined(b); break;
    case SV_AMF_DATE:
        sv_bytes_put_u8(b, SV_AMF_DATE);
        put_double(b, v->num);
        sv_bytes_put_be16(b, (uint16_t)v->tz);
        break;
    case SV_AMF_OBJECT:
    case SV_AMF_ECMA_ARRAY:
        if (v->type == SV_AMF_OBJECT)
            sv_amf_put_object_start(b);
        else
            sv_amf_put_ecma_start(b, (uint32_t)v->len);
        for (size_t i = 0; i < v->len && !rc; i++) {
            put_key_len(b, v->props[i].key, v->props[i].key_len);
            rc = encode_value(b, &v->props[i].val, depth + 1);
        }
        sv_amf_put_object_end(b);
        break;
    case SV_AMF_STRICT_ARRAY:
        sv_bytes_put_u8(b, SV_AMF_STRICT_ARRAY);
        sv_bytes_put_be32(b, (uint32_t)v->len);
        for (size_t i = 0; i < v->len && !rc; i++)
            rc = encode_value(b, &v->items[i], depth + 1);
        break;
    default: return SV_EINVAL;
    }
    return rc;
}

int sv_amf_encode(sv_bytes *b, const sv_amf_value *v)
{
    int rc = encode_value(b, v, 0);
    if (!rc && b->failed)
        rc = SV_ENOMEM;
    return rc;
}
