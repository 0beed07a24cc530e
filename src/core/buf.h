/* Byte buffers.
 *
 * sv_buf: a refcounted, immutable-after-creation block of bytes, shared between threads
 * and consumers without copies (TS segments, codec config, playlist snapshots). The
 * creator fills `data` before the first sv_buf_ref and never writes it afterwards.
 *
 * sv_bytes: a growable, single-owner byte builder for muxers and serializers, with
 * big-endian put helpers. Allocation failure is sticky: the builder sets `failed` and
 * further puts are no-ops, so callers check once at the end. */
#ifndef SV_CORE_BUF_H
#define SV_CORE_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sv_buf {
    atomic_int refs;
    size_t len;
    uint8_t data[];
} sv_buf;

/* New buffer of len bytes (contents uninitialised), refs = 1. NULL on OOM. */
sv_buf *sv_buf_new(size_t len);
/* New buffer holding a copy of p[0..len). */
sv_buf *sv_buf_from(const void *p, size_t len);
/* Takes a reference; returns b. NULL-safe. */
sv_buf *sv_buf_ref(sv_buf *b);
/* Drops a reference, freeing on the last one. NULL-safe. */
void sv_buf_unref(sv_buf *b);

typedef struct sv_bytes {
    uint8_t *p;
    size_t len, cap;
    int failed; /* an allocation failed; contents are incomplete */
} sv_bytes;

void sv_bytes_init(sv_bytes *b);
void sv_bytes_free(sv_bytes *b);
void sv_bytes_reset(sv_bytes *b); /* len = 0, keeps capacity */
int sv_bytes_reserve(sv_bytes *b, size_t extra);
void sv_bytes_put(sv_bytes *b, const void *p, size_t len);
void sv_bytes_put_u8(sv_bytes *b, uint8_t v);
void sv_bytes_put_be16(sv_bytes *b, uint16_t v);
void sv_bytes_put_be24(sv_bytes *b, uint32_t v);
void sv_bytes_put_be32(sv_bytes *b, uint32_t v);
void sv_bytes_put_be64(sv_bytes *b, uint64_t v);
void sv_bytes_fill(sv_bytes *b, uint8_t v, size_t n);
/* Copies the contents into a new sv_buf (refs = 1). NULL on OOM or if b->failed. */
sv_buf *sv_bytes_to_buf(const sv_bytes *b);

/* Big-endian readers over raw memory (caller checked the length). */
static inline uint16_t sv_rb16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sv_rb24(const uint8_t *p) { return (uint32_t)p[0] << 16 | p[1] << 8 | p[2]; }
static inline uint32_t sv_rb32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void sv_wb32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

#endif
