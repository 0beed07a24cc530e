/* See buf.h. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

sv_buf *sv_buf_new(size_t len)
{
    sv_buf *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    return b;
}

sv_buf *sv_buf_from(const void *p, size_t len)
{
    sv_buf *b = sv_buf_new(len);
    if (b && len)
        memcpy(b->data, p, len);
    return b;
}

sv_buf *sv_buf_ref(sv_buf *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void sv_buf_unref(sv_buf *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

void sv_bytes_init(sv_bytes *b) { memset(b, 0, sizeof *b); }

void sv_bytes_free(sv_bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void sv_bytes_reset(sv_bytes *b)
{
    b->len = 0;
    b->failed = 0;
}

int sv_bytes_reserve(sv_bytes *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sv_bytes_put(sv_bytes *b, const void *p, size_t len)
{
    if (len == 0 || sv_bytes_reserve(b, len))
        return;
    memcpy(b->p + b->len, p, len);
    b->len += len;
}

void sv_bytes_fill(sv_bytes *b, uint8_t v, size_t n)
{
    if (n == 0 || sv_bytes_reserve(b, n))
        return;
    memset(b->p + b->len, v, n);
    b->len += n;
}

void sv_bytes_put_u8(sv_bytes *b, uint8_t v) { sv_bytes_put(b, &v, 1); }

void sv_bytes_put_be16(sv_bytes *b, uint16_t v)
{
    uint8_t t[2] = {v >> 8, v & 0xff};
    sv_bytes_put(b, t, 2);
}

void sv_bytes_put_be24(sv_bytes *b, uint32_t v)
{
    uint8_t t[3] = {v >> 16, v >> 8, v};
    sv_bytes_put(b, t, 3);
}

void sv_bytes_put_be32(sv_bytes *b, uint32_t v)
{
    uint8_t t[4];
    sv_wb32(t, v);
    sv_bytes_put(b, t, 4);
}

void sv_bytes_put_be64(sv_bytes *b, uint64_t v)
{
    sv_bytes_put_be32(b, (uint32_t)(v >> 32));
    sv_bytes_put_be32(b, (uint32_t)v);
}

sv_buf *sv_bytes_to_buf(const sv_bytes *b)
{
    if (b->failed)
        return NULL;
    return sv_buf_from(b->p, b->len);
}
