/* RTP depacketizers (see rtp_depack.h). Video builds the access unit in `au` as
 * length-prefixed NAL units, reassembling fragments in `frag` first; an access unit is
 * "broken" when any of its packets went missing (a fragment without its start, a loss
 * report, an over-long unit) and is then dropped whole. AAC access units are emitted
 * straight from the packet, except fragmented ones, which collect in `frag`. */
#include "ingest/rtsp/rtp_depack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ingest/rtsp/sdp.h"
#include "media/h264.h"

static bool is_video(const sv_rtp_depack *d)
{
    return d->codec == SV_CODEC_H264 || d->codec == SV_CODEC_H265;
}

static int fmtp_int(const char *fmtp, const char *name, int def)
{
    char v[16];
    if (sv_sdp_fmtp_get(fmtp, name, v, sizeof v) <= 0)
        return def;
    return atoi(v);
}

int sv_rtp_depack_init(sv_rtp_depack *d, sv_codec codec, const char *fmtp, sv_rtp_au_fn emit,
                       void *ctx)
{
    memset(d, 0, sizeof *d);
    d->codec = codec;
    d->emit = emit;
    d->ctx = ctx;
    d->need_key = true;
    switch (codec) {
    case SV_CODEC_H264:
        if (fmtp_int(fmtp, "packetization-mode", 0) > 1)
            return SV_EUNSUPPORTED; /* interleaved mode */
        return 0;
    case SV_CODEC_H265:
        d->donl = fmtp_int(fmtp, "sprop-max-don-diff", 0) > 0;
        return 0;
    case SV_CODEC_AAC:
        d->size_len = fmtp_int(fmtp, "sizelength", 0);
        d->index_len = fmtp_int(fmtp, "indexlength", 0);
        d->index_delta_len = fmtp_int(fmtp, "indexdeltalength", 0);
        d->frame_len = fmtp_int(fmtp, "constantduration", 1024);
        if (d->size_len < 1 || d->size_len > 16 || d->index_len < 0 || d->index_len > 8 ||
            d->index_delta_len < 0 || d->index_delta_len > 8 || d->frame_len <= 0 ||
            d->frame_len > 8192)
            return SV_EUNSUPPORTED;
        return 0;
    case SV_CODEC_PCMA:
    case SV_CODEC_PCMU:
        return 0;
    default:
        return SV_EUNSUPPORTED;
    }
}

void sv_rtp_depack_free(sv_rtp_depack *d)
{
    if (!d)
        return;
    sv_bytes_free(&d->au);
    sv_bytes_free(&d->frag);
    sv_bytes_free(&d->vps);
    sv_bytes_free(&d->sps);
    sv_bytes_free(&d->pps);
}

/* ---- video access units ---- */

static void au_finish(sv_rtp_depack *d)
{
    if (!d->au_open)
        return;
    if (d->frag_open) { /* the last fragment never came */
        d->au_broken = true;
        d->frag_open = false;
    }
    if (d->au_broken || d->au.failed || !d->au.len) {
        d->frames_dropped += (d->au_broken || d->au.failed) && d->frames > 0;
        d->need_key = true;
    } else if (d->need_key && !d->au_key) {
        d->frames_dropped += d->frames > 0; /* joining mid-GOP is not a loss */
    } else {
        d->need_key = false;
        d->frames++;
        d->emit(d->ctx, d->au.p, d->au.len, d->au_ts, d->au_key);
    }
    sv_bytes_reset(&d->au);
    d->au_open = d->au_broken = d->au_key = d->au_vcl = false;
}

static void au_begin(sv_rtp_depack *d, uint32_t ts)
{
    if (d->au_open && ts != d->au_ts)
        au_finish(d);
    if (!d->au_open) {
        d->au_open = true;
        d->au_ts = ts;
    }
}

static void remember_ps(sv_rtp_depack *d, sv_bytes *slot, const uint8_t *nal, size_t len)
{
    if (len > SV_RTP_MAX_PS || (slot->len == len && !memcmp(slot->p, nal, len)))
        return;
    sv_bytes_reset(slot);
    sv_bytes_put(slot, nal, len);
    if (slot->failed)
        sv_bytes_free(slot);
    else
        d->ps_version++;
}

/* Looks at a NAL unit of the AU: keyframe flag, parameter sets to remember. Returns
 * false when it must not be appended: a parameter set or delimiter after the first slice
 * of the picture (some payloaders repeat SPS/PPS before every IDR slice; inside one
 * picture that would start a new access unit for a decoder). */
static bool classify(sv_rtp_depack *d, const uint8_t *nal, size_t len)
{
    bool ps;
    if (d->codec == SV_CODEC_H264) {
        int t = nal[0] & 0x1f;
        d->au_key |= t == SV_H264_NAL_IDR;
        if (t == SV_H264_NAL_SPS)
            remember_ps(d, &d->sps, nal, len);
        else if (t == SV_H264_NAL_PPS)
            remember_ps(d, &d->pps, nal, len);
        ps = t == SV_H264_NAL_SPS || t == SV_H264_NAL_PPS || t == SV_H264_NAL_AUD;
        if (ps && d->au_vcl)
            return false;
        d->au_vcl |= t >= 1 && t <= 5;
        return true;
    }
    int t = (nal[0] >> 1) & 0x3f;
    d->au_key |= t >= 16 && t <= 21;
    if (len >= 2 && t == 32)
        remember_ps(d, &d->vps, nal, len);
    else if (len >= 2 && t == 33)
        remember_ps(d, &d->sps, nal, len);
    else if (len >= 2 && t == 34)
        remember_ps(d, &d->pps, nal, len);
    ps = t >= 32 && t <= 35;
    if (ps && d->au_vcl)
        return false;
    d->au_vcl |= t < 32;
    return true;
}

/* Appends one NAL unit given as a header part and a body part. */
static void au_add_nal2(sv_rtp_depack *d, const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen)
{
    size_t n = alen + blen;
    if (!n || d->au_broken)
        return;
    if (d->au.len + 4 + n > SV_RTP_MAX_AU) {
        d->au_broken = true;
        return;
    }
    size_t start = d->au.len;
    sv_bytes_put_be32(&d->au, (uint32_t)n);
    sv_bytes_put(&d->au, a, alen);
    sv_bytes_put(&d->au, b, blen);
    if (!d->au.failed && !classify(d, d->au.p + start + 4, n))
        d->au.len = start; /* dropped (remembered if a parameter set) */
}

static void frag_start(sv_rtp_depack *d, const uint8_t *hdr, size_t hlen)
{
    if (d->frag_open)
        d->au_broken = true; /* the previous fragmented unit lost its end */
    sv_bytes_reset(&d->frag);
    sv_bytes_put(&d->frag, hdr, hlen);
    d->frag_open = true;
}

/* Adds a fragment; at the end fragment moves the whole NAL unit into the AU. */
static void frag_add(sv_rtp_depack *d, bool start, bool end, const uint8_t *p, size_t len)
{
    if (!start && !d->frag_open) {
        d->au_broken = true; /* a middle or end without its start */
        return;
    }
    if (d->frag.len + len > SV_RTP_MAX_AU) {
        d->au_broken = true;
        d->frag_open = false;
        return;
    }
    sv_bytes_put(&d->frag, p, len);
    if (end) {
        d->frag_open = false;
        if (d->frag.failed)
            d->au_broken = true;
        else
            au_add_nal2(d, d->frag.p, d->frag.len, NULL, 0);
    }
}

/* ---- H.264 (RFC 6184) ---- */

static int h264_stap_a(sv_rtp_depack *d, const uint8_t *p, size_t len)
{
    size_t off = 1;
    while (off + 2 <= len) {
        size_t n = sv_rb16(p + off);
        off += 2;
        if (off + n > len) {
            d->au_broken = true;
            return SV_EINVAL;
        }
        au_add_nal2(d, p + off, n, NULL, 0);
        off += n;
    }
    return 0;
}

static int h264_push(sv_rtp_depack *d, const uint8_t *p, size_t len, uint32_t ts)
{
    int type = p[0] & 0x1f;
    au_begin(d, ts);
    if (type >= 1 && type <= 23) {
        au_add_nal2(d, p, len, NULL, 0);
        return 0;
    }
    if (type == 24)
        return h264_stap_a(d, p, len);
    if (type != 28)
        return SV_EUNSUPPORTED; /* STAP-B, MTAP, FU-B: interleaved mode only */
    if (len < 2)
        return SV_EINVAL;
    bool s = p[1] & 0x80, e = p[1] & 0x40;
    if (s) {
        uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (p[1] & 0x1f));
        frag_start(d, &hdr, 1);
    }
    frag_add(d, s, e, p + 2, len - 2);
    return 0;
}

/* ---- H.265 (RFC 7798) ---- */

static int h265_ap(sv_rtp_depack *d, const uint8_t *p, size_t len)
{
    size_t off = 2 + (d->donl ? 2 : 0);
    for (bool first = true; off + 2 <= len; first = false) {
        if (!first && d->donl)
            off++; /* DOND */
        if (off + 2 > len)
            break;
        size_t n = sv_rb16(p + off);
        off += 2;
        if (n < 2 || off + n > len) {
            d->au_broken = true;
            return SV_EINVAL;
        }
        au_add_nal2(d, p + off, n, NULL, 0);
        off += n;
    }
    return 0;
}

static int h265_push(sv_rtp_depack *d, const uint8_t *p, size_t len, uint32_t ts)
{
    if (len < 3)
        return SV_EINVAL;
    int type = (p[0] >> 1) & 0x3f;
    au_begin(d, ts);
    if (type < 48) {
        size_t skip = d->donl ? 2 : 0;
        if (len < 2 + skip + 1)
            return SV_EINVAL;
        au_add_nal2(d, p, 2, p + 2 + skip, len - 2 - skip);
        return 0;
    }
    if (type == 48)
        return h265_ap(d, p, len);
    if (type != 49)
        return type == 50 ? 0 : SV_EUNSUPPORTED; /* PACI: skipped */
    bool s = p[2] & 0x80, e = p[2] & 0x40;
    size_t off = 3 + (s && d->donl ? 2 : 0);
    if (off > len)
        return SV_EINVAL;
    if (s) {
        uint8_t hdr[2] = {(uint8_t)((p[0] & 0x81) | (p[2] & 0x3f) << 1), p[1]};
        frag_start(d, hdr, 2);
    }
    frag_add(d, s, e, p + off, len - off);
    return 0;
}

/* ---- AAC (RFC 3640) ---- */

static void aac_emit(sv_rtp_depack *d, const uint8_t *p, size_t len, uint32_t ts)
{
    d->frames++;
    d->emit(d->ctx, p, len, ts, true);
}

/* Continues a fragmented AU: every packet of it carries one AU header with the full size. */
static int aac_fragment(sv_rtp_depack *d, const uint8_t *p, size_t len, uint32_t ts,
                        bool marker, size_t au_size)
{
    if (!d->frag_open || ts != d->au_ts || d->frag.len + len > au_size) {
        d->frames_dropped += d->frag_open;
        d->frag_open = false;
        return SV_EINVAL;
    }
    sv_bytes_put(&d->frag, p, len);
    if (marker || d->frag.len == au_size) {
        d->frag_open = false;
        if (d->frag.len == au_size && !d->frag.failed)
            aac_emit(d, d->frag.p, d->frag.len, ts);
        else
            d->frames_dropped++;
    }
    return 0;
}

static int aac_push(sv_rtp_depack *d, const uint8_t *p, size_t len, uint32_t ts, bool marker)
{
    if (len < 2)
        return SV_EINVAL;
    size_t hbits = sv_rb16(p), hbytes = (hbits + 7) / 8;
    if (2 + hbytes > len || hbits < (size_t)(d->size_len + d->index_len))
        return SV_EINVAL;
    sv_h264_br br;
    sv_h264_br_init(&br, p + 2, hbytes);
    const uint8_t *data = p + 2 + hbytes;
    size_t avail = len - 2 - hbytes, off = 0;
    for (uint32_t i = 0; br.pos + (size_t)d->size_len <= hbits; i++) {
        size_t size = sv_h264_br_u(&br, d->size_len);
        sv_h264_br_skip(&br, (size_t)(i ? d->index_delta_len : d->index_len));
        if (i == 0 && d->frag_open)
            return aac_fragment(d, data, avail, ts, marker, size);
        if (off + size > avail) {
            if (i != 0 || br.pos + (size_t)d->size_len <= hbits)
                return SV_EINVAL;
            sv_bytes_reset(&d->frag); /* first fragment of a big AU */
            d->frag_open = true;
            d->au_ts = ts;
            return aac_fragment(d, data, avail, ts, marker, size);
        }
        if (size) /* an empty AU carries nothing to decode */
            aac_emit(d, data + off, size, ts + i * (uint32_t)d->frame_len);
        off += size;
    }
    return 0;
}

/* ---- entry points ---- */

static void on_loss(sv_rtp_depack *d)
{
    if (is_video(d)) {
        if (d->au_open)
            d->au_broken = true;
        d->frag_open = false;
        d->need_key = true;
    } else if (d->frag_open) {
        d->frag_open = false;
        d->frames_dropped++;
    }
}

int sv_rtp_depack_push(sv_rtp_depack *d, const uint8_t *payload, size_t len, uint32_t ts,
                       bool marker, uint32_t lost)
{
    if (lost)
        on_loss(d);
    int rc = 0;
    if (!len) {
        rc = SV_EINVAL;
    } else if (d->codec == SV_CODEC_H264) {
        rc = h264_push(d, payload, len, ts);
    } else if (d->codec == SV_CODEC_H265) {
        rc = h265_push(d, payload, len, ts);
    } else if (d->codec == SV_CODEC_AAC) {
        rc = aac_push(d, payload, len, ts, marker);
    } else {
        d->frames++;
        d->emit(d->ctx, payload, len, ts, true);
    }
    if (rc)
        d->packets_bad++;
    if (marker && is_video(d))
        au_finish(d);
    return rc;
}

void sv_rtp_depack_flush(sv_rtp_depack *d)
{
    if (is_video(d))
        au_finish(d);
}
