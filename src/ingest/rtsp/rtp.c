/* RTP/RTCP receive helpers (see rtp.h). The jitter buffer is a ring of SV_RTP_JB_SLOTS
 * slots indexed by seq % SV_RTP_JB_SLOTS; each slot keeps its allocation for reuse, so a
 * steady stream allocates nothing. Sequence arithmetic is modulo 2^16 through int16_t
 * differences. */
#include "ingest/rtsp/rtp.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"

int sv_rtp_parse(const uint8_t *pkt, size_t len, sv_rtp_hdr *out)
{
    if (len < 12 || (pkt[0] >> 6) != 2)
        return SV_EINVAL;
    size_t off = 12 + 4u * (pkt[0] & 0x0f);
    if (pkt[0] & 0x10) { /* header extension */
        if (len < off + 4)
            return SV_EINVAL;
        off += 4 + 4u * sv_rb16(pkt + off + 2);
    }
    size_t end = len;
    if (pkt[0] & 0x20) { /* padding: the last byte counts it */
        if (pkt[len - 1] == 0 || pkt[len - 1] > len)
            return SV_EINVAL;
        end -= pkt[len - 1];
    }
    if (off > end)
        return SV_EINVAL;
    out->marker = pkt[1] >> 7;
    out->pt = pkt[1] & 0x7f;
    out->seq = sv_rb16(pkt + 2);
    out->ts = sv_rb32(pkt + 4);
    out->ssrc = sv_rb32(pkt + 8);
    out->payload = pkt + off;
    out->payload_len = end - off;
    return 0;
}

int sv_rtcp_find_sr(const uint8_t *pkt, size_t len, sv_rtcp_sr *out)
{
    size_t off = 0;
    while (off + 4 <= len) {
        const uint8_t *p = pkt + off;
        if ((p[0] >> 6) != 2)
            return SV_EINVAL;
        size_t plen = 4 + 4u * sv_rb16(p + 2);
        if (off + plen > len)
            return SV_EINVAL;
        if (p[1] == 200 && plen >= 28) {
            out->ssrc = sv_rb32(p + 4);
            out->ntp = (uint64_t)sv_rb32(p + 8) << 32 | sv_rb32(p + 12);
            out->rtp_ts = sv_rb32(p + 16);
            return 1;
        }
        off += plen;
    }
    return 0;
}

void sv_rtcp_rr_build(uint32_t ssrc, uint8_t out[8])
{
    out[0] = 0x80; /* v2, no report blocks */
    out[1] = 201;
    out[2] = 0;
    out[3] = 1;
    sv_wb32(out + 4, ssrc);
}

/* ---- jitter buffer ---- */

void sv_rtp_jb_init(sv_rtp_jb *jb, int depth, int max_wait_ms)
{
    memset(jb, 0, sizeof *jb);
    jb->depth = depth < 0 ? 0 : depth >= SV_RTP_JB_SLOTS ? SV_RTP_JB_SLOTS - 1 : depth;
    jb->max_wait_ms = max_wait_ms;
}

void sv_rtp_jb_free(sv_rtp_jb *jb)
{
    if (!jb)
        return;
    for (int i = 0; i < SV_RTP_JB_SLOTS; i++)
        free(jb->slot[i].data);
    free(jb->out);
    memset(jb, 0, sizeof *jb);
}

static void jb_drop_all(sv_rtp_jb *jb)
{
    for (int i = 0; i < SV_RTP_JB_SLOTS; i++)
        jb->slot[i].used = false;
    jb->held = 0;
}

static int slot_store(sv_rtp_jb_slot *s, uint16_t seq, const uint8_t *pkt, size_t len,
                      int64_t now)
{
    if (s->cap < len) {
        size_t cap = len < 2048 ? 2048 : len;
        uint8_t *d = realloc(s->data, cap);
        if (!d)
            return SV_ENOMEM;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data, pkt, len);
    s->len = len;
    s->seq = seq;
    s->arrival_ms = now;
    s->used = true;
    return 0;
}

int sv_rtp_jb_push(sv_rtp_jb *jb, uint16_t seq, const uint8_t *pkt, size_t len, int64_t now_ms)
{
    if (len > SV_RTP_MAX_PACKET)
        return SV_ETOOBIG;
    if (!jb->started) {
        jb->started = true;
        jb->next_seq = seq;
    }
    int16_t d = (int16_t)(uint16_t)(seq - jb->next_seq);
    if (d < 0 && d > -SV_RTP_JB_SLOTS) {
        jb->late++;
        return 0;
    }
    if (d < 0 || d >= SV_RTP_JB_SLOTS) { /* far jump: the sender restarted its sequence */
        jb_drop_all(jb);
        jb->resets++;
        jb->next_seq = seq;
    }
    sv_rtp_jb_slot *s = &jb->slot[seq % SV_RTP_JB_SLOTS];
    if (s->used) {
        jb->dups++;
        return 0;
    }
    int rc = slot_store(s, seq, pkt, len, now_ms);
    if (rc == 0)
        jb->held++;
    return rc;
}

/* The held packet closest after next_seq (there is at least one). */
static int jb_first_held(const sv_rtp_jb *jb, int64_t *oldest)
{
    int best = -1;
    *oldest = INT64_MAX;
    for (int i = 0; i < SV_RTP_JB_SLOTS; i++) {
        const sv_rtp_jb_slot *s = &jb->slot[i];
        if (!s->used)
            continue;
        if (s->arrival_ms < *oldest)
            *oldest = s->arrival_ms;
        int d = (uint16_t)(s->seq - jb->next_seq);
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

static int jb_take(sv_rtp_jb *jb, sv_rtp_jb_slot *s, const uint8_t **pkt, size_t *len)
{
    if (jb->out_cap < s->len) { /* swap buffers: the slot keeps the old output block */
        uint8_t *tmp = jb->out;
        size_t tc = jb->out_cap;
        jb->out = s->data;
        jb->out_cap = s->cap;
        s->data = tmp;
        s->cap = tc;
    } else {
        memcpy(jb->out, s->data, s->len);
    }
    *pkt = jb->out;
    *len = s->len;
    s->used = false;
    jb->held--;
    jb->next_seq = (uint16_t)(s->seq + 1);
    return 1;
}

int sv_rtp_jb_pop(sv_rtp_jb *jb, int64_t now_ms, bool flush, const uint8_t **pkt, size_t *len,
                  uint32_t *lost)
{
    *lost = 0;
    if (!jb->held)
        return 0;
    sv_rtp_jb_slot *s = &jb->slot[jb->next_seq % SV_RTP_JB_SLOTS];
    if (s->used && s->seq == jb->next_seq)
        return jb_take(jb, s, pkt, len);
    int64_t oldest;
    int gap = jb_first_held(jb, &oldest);
    if (!flush && jb->held <= jb->depth && now_ms - oldest < jb->max_wait_ms)
        return 0;
    *lost = (uint32_t)gap;
    jb->lost += (uint32_t)gap;
    s = &jb->slot[(uint16_t)(jb->next_seq + gap) % SV_RTP_JB_SLOTS];
    return jb_take(jb, s, pkt, len);
}

bool sv_rtp_jb_bypass(sv_rtp_jb *jb, uint16_t seq)
{
    if (jb->held || (jb->started && seq != jb->next_seq))
        return false;
    jb->started = true;
    jb->next_seq = (uint16_t)(seq + 1);
    return true;
}

int64_t sv_rtp_unwrap_ts(sv_rtp_unwrap *u, uint32_t ts)
{
    if (!u->started) {
        u->started = true;
        u->last = ts;
        u->ext = ts;
        return u->ext;
    }
    u->ext += (int32_t)(ts - u->last);
    u->last = ts;
    return u->ext;
}
