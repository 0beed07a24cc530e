/* RTMP chunk reader and writer (see rtmp_chunk.h).
 *
 * Reader: RD_HEADER needs the whole chunk header (basic 1-3 bytes, message header 0/3/7/11
 * bytes, extended timestamp 0/4 bytes, so at most 18) in buf; it resolves the header
 * against the csid's previous one, checks the caps, makes room for the message payload
 * and moves to RD_PAYLOAD, which copies any amount up to the end of the chunk. The payload
 * buffer of a csid is kept between messages (its capacity counts toward the cap).
 *
 * Timestamp rules (as FFmpeg and the spec): fmt 0 carries the absolute timestamp, fmt 1
 * and 2 a delta; a fmt 3 chunk that starts a new message adds the csid's last timestamp
 * field again. A fmt 3 chunk carries a 4-byte extended timestamp whenever the csid's last
 * fmt 0-2 header did. Writer: fmt 0 header then fmt 3 continuations. */
#include "ingest/rtmp/rtmp_chunk.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int sv_rtmp_reader_init(sv_rtmp_reader *r)
{
    memset(r, 0, sizeof *r);
    r->chunk_size = SV_RTMP_DEFAULT_CHUNK_SIZE;
    r->max_msg = SV_RTMP_MAX_MSG_PRE;
    r->cs = calloc(SV_RTMP_MAX_CSIDS, sizeof *r->cs);
    return r->cs ? 0 : SV_ENOMEM;
}

void sv_rtmp_reader_free(sv_rtmp_reader *r)
{
    if (!r || !r->cs)
        return;
    for (size_t i = 0; i < r->ncs; i++)
        free(r->cs[i].buf);
    free(r->cs);
    r->cs = NULL;
    r->ncs = 0;
}

/* Finds or (for fmt 0) creates the state of csid. Returns its index or SV_E*. */
static int find_csid(sv_rtmp_reader *r, uint32_t csid, int fmt)
{
    for (size_t i = 0; i < r->ncs; i++)
        if (r->cs[i].csid == csid)
            return (int)i;
    if (fmt != 0)
        return SV_EINVAL; /* compressed header with nothing to refer to */
    if (r->ncs >= SV_RTMP_MAX_CSIDS)
        return SV_ETOOBIG;
    sv_rtmp_csid *c = &r->cs[r->ncs];
    memset(c, 0, sizeof *c);
    c->csid = csid;
    return (int)r->ncs++;
}

/* Basic header: returns its size (1-3) with fmt and csid set, or SV_ENEEDMORE. */
static int basic_header(const uint8_t *b, size_t len, int *fmt, uint32_t *csid)
{
    if (len < 1)
        return SV_ENEEDMORE;
    *fmt = b[0] >> 6;
    uint32_t id = b[0] & 0x3f;
    if (id == 0) {
        if (len < 2)
            return SV_ENEEDMORE;
        *csid = 64u + b[1];
        return 2;
    }
    if (id == 1) {
        if (len < 3)
            return SV_ENEEDMORE;
        *csid = 64u + b[1] + ((uint32_t)b[2] << 8);
        return 3;
    }
    *csid = id;
    return 1;
}

static int reserve_payload(sv_rtmp_reader *r, sv_rtmp_csid *c)
{
    if (c->length > r->max_msg)
        return SV_ETOOBIG;
    if (c->cap >= c->length)
        return 0;
    if (r->buffered - c->cap + c->length > SV_RTMP_MAX_BUFFERED)
        return SV_ETOOBIG;
    uint8_t *nb = realloc(c->buf, c->length);
    if (!nb)
        return SV_ENOMEM;
    r->buffered = r->buffered - c->cap + c->length;
    c->buf = nb;
    c->cap = c->length;
    return 0;
}

/* Applies a message header of format fmt (fields at h) to c. */
static void apply_header(sv_rtmp_csid *c, int fmt, const uint8_t *h, uint32_t field)
{
    if (fmt <= 1) {
        c->length = sv_rb24(h + 3);
        c->type = h[6];
    }
    if (fmt == 0) {
        c->stream_id = (uint32_t)h[7] | (uint32_t)h[8] << 8 | (uint32_t)h[9] << 16 |
                       (uint32_t)h[10] << 24;
        c->timestamp = field;
        c->seen = true;
    } else {
        c->timestamp += fmt == 3 ? c->delta : field;
    }
    if (fmt != 3)
        c->delta = field;
}

static int parse_header(sv_rtmp_reader *r, const uint8_t *buf, size_t len)
{
    static const size_t mh_size[4] = {11, 7, 3, 0};
    int fmt;
    uint32_t csid;
    int bh = basic_header(buf, len, &fmt, &csid);
    if (bh < 0)
        return bh;
    size_t need = (size_t)bh + mh_size[fmt];
    if (len < need)
        return SV_ENEEDMORE;
    int idx = find_csid(r, csid, fmt);
    if (idx < 0)
        return idx;
    sv_rtmp_csid *c = &r->cs[idx];
    const uint8_t *h = buf + bh;
    uint32_t field = fmt < 3 ? sv_rb24(h) : 0;
    bool ext = fmt < 3 ? field == 0xffffff : c->ext;
    if (ext) {
        if (len < need + 4)
            return SV_ENEEDMORE;
        if (fmt < 3)
            field = sv_rb32(buf + need);
        need += 4;
    }
    if (fmt < 3)
        c->ext = ext;
    if (c->got > 0 && fmt != 3)
        c->got = 0; /* a new header mid-message: the partial message is dropped */
    if (c->got == 0) {
        apply_header(c, fmt, h, field);
        int rc = reserve_payload(r, c);
        if (rc)
            return rc;
    }
    r->cur = (size_t)idx;
    size_t left = c->length - c->got;
    r->chunk_left = left < r->chunk_size ? left : r->chunk_size;
    r->state = SV_RTMP_RD_PAYLOAD;
    return (int)need;
}

static int control(sv_rtmp_reader *r, const sv_rtmp_msg *m)
{
    if (m->type != SV_RTMP_MSG_SET_CHUNK_SIZE && m->type != SV_RTMP_MSG_ABORT &&
        m->type != SV_RTMP_MSG_WINDOW_ACK_SIZE)
        return 0;
    if (m->len < 4)
        return SV_EINVAL;
    uint32_t v = sv_rb32(m->data);
    if (m->type == SV_RTMP_MSG_SET_CHUNK_SIZE) {
        if (v == 0 || v > SV_RTMP_MAX_CHUNK_SIZE)
            return SV_EINVAL;
        r->chunk_size = v;
    } else if (m->type == SV_RTMP_MSG_ABORT) {
        for (size_t i = 0; i < r->ncs; i++)
            if (r->cs[i].csid == v)
                r->cs[i].got = 0;
    } else {
        r->ack_window = v;
    }
    return 0;
}

/* Copies payload bytes of the current chunk; completes the message when it is whole. */
static int parse_payload(sv_rtmp_reader *r, const uint8_t *buf, size_t len,
                         sv_rtmp_msg *msg, bool *have)
{
    sv_rtmp_csid *c = &r->cs[r->cur];
    size_t n = len < r->chunk_left ? len : r->chunk_left;
    if (n)
        memcpy(c->buf + c->got, buf, n);
    c->got += n;
    r->chunk_left -= n;
    if (r->chunk_left == 0)
        r->state = SV_RTMP_RD_HEADER;
    if (c->got == c->length && r->chunk_left == 0) {
        msg->csid = c->csid;
        msg->type = c->type;
        msg->stream_id = c->stream_id;
        msg->timestamp = c->timestamp;
        msg->data = c->buf;
        msg->len = c->length;
        c->got = 0;
        *have = true;
        int rc = control(r, msg);
        if (rc)
            return rc;
    }
    return (int)n;
}

int sv_rtmp_reader_parse(sv_rtmp_reader *r, const uint8_t *buf, size_t len,
                         sv_rtmp_msg *msg, bool *have)
{
    *have = false;
    if (!r->cs)
        return SV_EINVAL;
    int rc;
    if (r->state == SV_RTMP_RD_HEADER) {
        rc = parse_header(r, buf, len);
        if (rc < 0)
            return rc;
        if (r->chunk_left == 0) { /* zero-length message: complete on its header */
            int rc2 = parse_payload(r, buf, 0, msg, have);
            if (rc2 < 0)
                return rc2;
        }
    } else {
        if (len == 0)
            return SV_ENEEDMORE;
        rc = parse_payload(r, buf, len, msg, have);
        if (rc < 0)
            return rc;
    }
    r->bytes_in += (size_t)rc;
    return rc;
}

bool sv_rtmp_reader_ack_due(sv_rtmp_reader *r, uint32_t *seq)
{
    if (!r->ack_window || r->bytes_in - r->last_ack < r->ack_window)
        return false;
    r->last_ack = r->bytes_in;
    *seq = (uint32_t)r->bytes_in;
    return true;
}

void sv_rtmp_reader_count(sv_rtmp_reader *r, size_t n) { r->bytes_in += n; }

/* ---- writer ---- */

static void put_basic(sv_bytes *out, int fmt, uint32_t csid)
{
    if (csid < 64) {
        sv_bytes_put_u8(out, (uint8_t)(fmt << 6 | csid));
    } else if (csid < 320) {
        sv_bytes_put_u8(out, (uint8_t)(fmt << 6));
        sv_bytes_put_u8(out, (uint8_t)(csid - 64));
    } else {
        sv_bytes_put_u8(out, (uint8_t)(fmt << 6 | 1));
        sv_bytes_put_u8(out, (uint8_t)((csid - 64) & 0xff));
        sv_bytes_put_u8(out, (uint8_t)((csid - 64) >> 8));
    }
}

void sv_rtmp_chunk_write2(sv_bytes *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                          uint32_t stream_id, uint32_t timestamp, const uint8_t *p1,
                          size_t len1, const uint8_t *p2, size_t len2)
{
    size_t len = len1 + len2;
    bool ext = timestamp >= 0xffffff;
    if (len > 0xffffff || chunk_size == 0) {
        out->failed = 1;
        return;
    }
    put_basic(out, 0, csid);
    sv_bytes_put_be24(out, ext ? 0xffffff : timestamp);
    sv_bytes_put_be24(out, (uint32_t)len);
    sv_bytes_put_u8(out, type);
    uint8_t sid[4] = {stream_id & 0xff, stream_id >> 8 & 0xff, stream_id >> 16 & 0xff,
                      stream_id >> 24};
    sv_bytes_put(out, sid, 4);
    if (ext)
        sv_bytes_put_be32(out, timestamp);
    size_t off = 0;
    while (off < len || len == 0) {
        if (off > 0) {
            put_basic(out, 3, csid);
            if (ext)
                sv_bytes_put_be32(out, timestamp);
        }
        size_t n = len - off < chunk_size ? len - off : chunk_size;
        size_t end = off + n;
        if (off < len1)
            sv_bytes_put(out, p1 + off, (end < len1 ? end : len1) - off);
        if (end > len1)
            sv_bytes_put(out, p2 + (off > len1 ? off - len1 : 0), end - (off > len1 ? off : len1));
        off = end;
        if (len == 0)
            break;
    }
}

void sv_rtmp_chunk_write(sv_bytes *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                         uint32_t stream_id, uint32_t timestamp, const uint8_t *p, size_t len)
{
    sv_rtmp_chunk_write2(out, chunk_size, csid, type, stream_id, timestamp, p, len, NULL, 0);
}
