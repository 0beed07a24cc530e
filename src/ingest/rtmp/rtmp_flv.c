/* FLV tag bodies <-> tracks and frames (see rtmp_flv.h).
 *
 * Video: byte 0 bit 7 selects the Enhanced RTMP header (frame type in bits 4-6, packet
 * type in bits 0-3, then a FourCC), else the legacy header (frame type bits 4-7, codec id
 * bits 0-3, AVCPacketType, 24-bit signed composition time). Audio: sound format in bits
 * 4-7; AAC has an AACPacketType byte. Config records are copied with their NAL length
 * field forced to 4 bytes, because frames are always rewritten to 4-byte lengths.
 * Held frames are kept in arrival order and flushed in that order after on_tracks. */
#include "ingest/rtmp/rtmp_flv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "media/aac.h"
#include "media/h264.h"
#include "media/h265.h"

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (c) << 8 | (d))

static int32_t si24(const uint8_t *p)
{
    uint32_t v = sv_rb24(p);
    return (int32_t)(v ^ 0x800000u) - 0x800000;
}

static int parse_ex_video(const uint8_t *p, size_t len, sv_rtmp_flv_tag *out)
{
    int ftype = p[0] >> 4 & 7, ptype = p[0] & 0x0f;
    if (len < 5)
        return SV_EINVAL;
    uint32_t fourcc = sv_rb32(p + 1);
    if (fourcc == FOURCC('h', 'v', 'c', '1'))
        out->codec = SV_CODEC_H265;
    else if (fourcc == FOURCC('a', 'v', 'c', '1'))
        out->codec = SV_CODEC_H264;
    else
        return SV_EUNSUPPORTED;
    out->key = ftype == 1;
    out->data = p + 5;
    out->len = len - 5;
    if (ftype == 5) {
        out->pkt = SV_RTMP_PKT_IGNORE;
        return 0;
    }
    switch (ptype) {
    case 0: out->pkt = SV_RTMP_PKT_SEQ; break;
    case 1:
        if (len < 8)
            return SV_EINVAL;
        out->pkt = SV_RTMP_PKT_FRAME;
        out->cts = si24(p + 5);
        out->data = p + 8;
        out->len = len - 8;
        break;
    case 2: out->pkt = SV_RTMP_PKT_EOS; break;
    case 3: out->pkt = SV_RTMP_PKT_FRAME; break;
    case 4: out->pkt = SV_RTMP_PKT_IGNORE; break; /* metadata */
    default: return SV_EUNSUPPORTED;              /* multitrack, TS sequence start */
    }
    return 0;
}

int sv_rtmp_flv_parse_video(const uint8_t *p, size_t len, sv_rtmp_flv_tag *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1)
        return SV_EINVAL;
    if (p[0] & 0x80) {
        int rc = parse_ex_video(p, len, out);
        if (rc == SV_EUNSUPPORTED)
            out->codec = SV_CODEC_NONE;
        return rc;
    }
    int ftype = p[0] >> 4, codec_id = p[0] & 0x0f;
    if (codec_id != 7 && codec_id != 12)
        return SV_EUNSUPPORTED;
    out->codec = codec_id == 7 ? SV_CODEC_H264 : SV_CODEC_H265;
    out->key = ftype == 1;
    if (ftype == 5) { /* video info / command frame */
        out->pkt = SV_RTMP_PKT_IGNORE;
        return 0;
    }
    if (len < 5)
        return SV_EINVAL;
    static const sv_rtmp_pkt map[3] = {SV_RTMP_PKT_SEQ, SV_RTMP_PKT_FRAME, SV_RTMP_PKT_EOS};
    out->pkt = p[1] < 3 ? map[p[1]] : SV_RTMP_PKT_IGNORE;
    out->cts = si24(p + 2);
    out->data = p + 5;
    out->len = len - 5;
    return 0;
}

int sv_rtmp_flv_parse_audio(const uint8_t *p, size_t len, sv_rtmp_flv_tag *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1)
        return SV_EINVAL;
    int fmt = p[0] >> 4;
    out->key = true;
    out->channels = (p[0] & 1) + 1;
    if (fmt == 7 || fmt == 8) {
        out->codec = fmt == 7 ? SV_CODEC_PCMA : SV_CODEC_PCMU;
        out->pkt = SV_RTMP_PKT_FRAME;
        out->data = p + 1;
        out->len = len - 1;
        return 0;
    }
    if (fmt != 10)
        return SV_EUNSUPPORTED;
    if (len < 2)
        return SV_EINVAL;
    out->codec = SV_CODEC_AAC;
    out->pkt = p[1] == 0 ? SV_RTMP_PKT_SEQ : SV_RTMP_PKT_FRAME;
    out->data = p + 2;
    out->len = len - 2;
    return 0;
}

/* Counts the NAL units and the size of their 4-byte-length form. */
static int nalus_measure(const uint8_t *p, size_t len, int nls, size_t *outlen)
{
    size_t pos = 0, total = 0;
    while (pos < len) {
        if (len - pos < (size_t)nls)
            return SV_EINVAL;
        size_t n = 0;
        for (int i = 0; i < nls; i++)
            n = n << 8 | p[pos + i];
        pos += (size_t)nls;
        if (n > len - pos)
            return SV_EINVAL;
        if (n)
            total += 4 + n;
        pos += n;
    }
    *outlen = total;
    return 0;
}

int sv_rtmp_flv_nalus_to_frame(const uint8_t *p, size_t len, int nls, sv_frame **out)
{
    *out = NULL;
    if (nls < 1 || nls > 4)
        return SV_EINVAL;
    size_t total;
    int rc = nalus_measure(p, len, nls, &total);
    if (rc || total == 0)
        return rc;
    sv_frame *f = sv_frame_new(total);
    if (!f)
        return SV_ENOMEM;
    if (nls == 4 && total == len) {
        memcpy(f->data, p, len);
    } else {
        size_t pos = 0, w = 0;
        while (pos < len) {
            size_t n = 0;
            for (int i = 0; i < nls; i++)
                n = n << 8 | p[pos + i];
            pos += (size_t)nls;
            if (n) {
                sv_wb32(f->data + w, (uint32_t)n);
                memcpy(f->data + w + 4, p + pos, n);
                w += 4 + n;
            }
            pos += n;
        }
    }
    *out = f;
    return 0;
}

/* ---- assembler ---- */

void sv_rtmp_media_init(sv_rtmp_media *m, const sv_rtmp_media_cb *cb)
{
    memset(m, 0, sizeof *m);
    m->cb = *cb;
    m->expect[0] = m->expect[1] = true;
}

static void drop_pending(sv_rtmp_media *m)
{
    for (size_t i = 0; i < m->npending; i++)
        sv_frame_unref(m->pending[i]);
    free(m->pending);
    m->pending = NULL;
    m->npending = 0;
}

void sv_rtmp_media_free(sv_rtmp_media *m)
{
    drop_pending(m);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&m->tracks[i]);
}

int64_t sv_rtmp_media_unwrap(sv_rtmp_media *m, uint32_t ts)
{
    if (!m->ts_init) {
        m->ts_init = true;
        m->ts_ext = ts;
    } else {
        m->ts_ext += (int32_t)(ts - m->ts_last);
    }
    m->ts_last = ts;
    return m->ts_ext;
}

static void publish_tracks(sv_rtmp_media *m)
{
    m->published = true;
    m->cb.on_tracks(m->cb.ctx, m->tracks);
    for (size_t i = 0; i < m->npending; i++) {
        sv_frame *f = m->pending[i];
        if (m->tracks[f->track].codec == f->codec)
            m->cb.on_frame(m->cb.ctx, f);
        else
            m->dropped++;
    }
    drop_pending(m);
}

void sv_rtmp_media_flush(sv_rtmp_media *m)
{
    if (!m->published && (m->tracks[0].codec || m->tracks[1].codec))
        publish_tracks(m);
}

static bool all_expected(const sv_rtmp_media *m)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (m->expect[i] && !m->tracks[i].codec)
            return false;
    return m->tracks[0].codec || m->tracks[1].codec;
}

/* Hands a frame on, or holds it until the track set is published. Takes f's reference. */
static int deliver(sv_rtmp_media *m, sv_frame *f)
{
    if (m->published) {
        m->cb.on_frame(m->cb.ctx, f);
        sv_frame_unref(f);
        return 0;
    }
    if (m->npending >= SV_RTMP_MAX_PENDING) {
        sv_frame_unref(f);
        m->dropped++;
        return 0;
    }
    if (m->npending % 64 == 0) {
        sv_frame **np = realloc(m->pending, (m->npending + 64) * sizeof *np);
        if (!np) {
            sv_frame_unref(f);
            return SV_ENOMEM;
        }
        m->pending = np;
    }
    m->pending[m->npending++] = f;
    int64_t span = f->dts - m->pending[0]->dts;
    if (span >= (int64_t)SV_RTMP_TRACK_WAIT_MS * 90 || m->npending >= SV_RTMP_MAX_PENDING)
        publish_tracks(m);
    return 0;
}

/* Installs a new config for track idx (copied into t, owned); republishes on change. */
static void set_track(sv_rtmp_media *m, int idx, sv_track *t)
{
    sv_track *cur = &m->tracks[idx];
    bool same = cur->codec == t->codec && (cur->config == t->config ||
        (cur->config && t->config && cur->config->len == t->config->len &&
         memcmp(cur->config->data, t->config->data, t->config->len) == 0));
    if (same) {
        sv_track_clear(t);
        return;
    }
    sv_track_clear(cur);
    *cur = *t; /* takes t's config reference */
    memset(t, 0, sizeof *t);
    if (m->published)
        m->cb.on_tracks(m->cb.ctx, m->tracks);
    else if (all_expected(m))
        publish_tracks(m);
}

static void apply_meta_fallbacks(const sv_rtmp_media *m, sv_track *t)
{
    if (!t->width && !t->height && m->meta_width > 0 && m->meta_height > 0) {
        t->width = m->meta_width;
        t->height = m->meta_height;
    }
    if (!t->fps_num && m->meta_fps > 0 && m->meta_fps < 1000) {
        t->fps_num = (int)lround(m->meta_fps * 1000);
        t->fps_den = 1000;
    }
}

static int video_config(sv_rtmp_media *m, const sv_rtmp_flv_tag *tag)
{
    bool h264 = tag->codec == SV_CODEC_H264;
    size_t nls_off = h264 ? 4 : 21;
    if (tag->len <= nls_off)
        return SV_EINVAL;
    uint8_t *cfg = malloc(tag->len);
    if (!cfg)
        return SV_ENOMEM;
    memcpy(cfg, tag->data, tag->len);
    int nls = (cfg[nls_off] & 3) + 1;
    cfg[nls_off] |= 3; /* frames are rewritten to 4-byte lengths */
    sv_track t;
    int rc = h264 ? sv_h264_track_from_avcc(cfg, tag->len, &t)
                  : sv_h265_track_from_hvcc(cfg, tag->len, &t);
    free(cfg);
    if (rc < 0)
        return SV_EINVAL;
    t.type = SV_MEDIA_VIDEO;
    apply_meta_fallbacks(m, &t);
    m->nal_len_size = nls;
    set_track(m, 0, &t);
    return 0;
}

int sv_rtmp_media_video(sv_rtmp_media *m, uint32_t ts, const uint8_t *p, size_t len)
{
    sv_rtmp_flv_tag tag;
    int rc = sv_rtmp_flv_parse_video(p, len, &tag);
    if (rc)
        return rc;
    int64_t ms = sv_rtmp_media_unwrap(m, ts);
    if (tag.pkt == SV_RTMP_PKT_SEQ)
        return video_config(m, &tag);
    if (tag.pkt != SV_RTMP_PKT_FRAME)
        return 0;
    if (m->tracks[0].codec != tag.codec) {
        m->dropped++; /* no config for this codec yet */
        return 0;
    }
    sv_frame *f;
    rc = sv_rtmp_flv_nalus_to_frame(tag.data, tag.len, m->nal_len_size, &f);
    if (rc || !f)
        return rc;
    f->track = 0;
    f->codec = tag.codec;
    f->key = tag.key;
    f->dts = ms * 90;
    f->pts = (ms + tag.cts) * 90;
    return deliver(m, f);
}

static int audio_config(sv_rtmp_media *m, const sv_rtmp_flv_tag *tag)
{
    sv_track t;
    if (tag->codec == SV_CODEC_AAC) {
        if (sv_aac_track_from_asc(tag->data, tag->len, &t) < 0)
            return SV_EINVAL;
    } else {
        memset(&t, 0, sizeof t);
        t.codec = tag->codec;
        t.sample_rate = 8000;
        t.channels = tag->channels;
    }
    t.type = SV_MEDIA_AUDIO;
    set_track(m, 1, &t);
    return 0;
}

int sv_rtmp_media_audio(sv_rtmp_media *m, uint32_t ts, const uint8_t *p, size_t len)
{
    sv_rtmp_flv_tag tag;
    int rc = sv_rtmp_flv_parse_audio(p, len, &tag);
    if (rc)
        return rc;
    int64_t ms = sv_rtmp_media_unwrap(m, ts);
    if (tag.pkt == SV_RTMP_PKT_SEQ)
        return audio_config(m, &tag);
    if (tag.codec != SV_CODEC_AAC && m->tracks[1].codec != tag.codec &&
        (rc = audio_config(m, &tag)))
        return rc;
    if (m->tracks[1].codec != tag.codec) {
        m->dropped++;
        return 0;
    }
    if (tag.len == 0)
        return 0;
    sv_frame *f = sv_frame_new(tag.len);
    if (!f)
        return SV_ENOMEM;
    memcpy(f->data, tag.data, tag.len);
    f->track = 1;
    f->codec = tag.codec;
    f->key = true;
    f->dts = f->pts = ms * 90;
    return deliver(m, f);
}

void sv_rtmp_media_metadata(sv_rtmp_media *m, const sv_amf_value *meta)
{
    double d;
    if (!meta || (meta->type != SV_AMF_OBJECT && meta->type != SV_AMF_ECMA_ARRAY))
        return;
    if (!m->published) {
        m->have_meta = true;
        m->expect[0] = sv_amf_get(meta, "videocodecid") != NULL;
        m->expect[1] = sv_amf_get(meta, "audiocodecid") != NULL;
    }
    if (sv_amf_get_number(meta, "width", &d) && d > 0 && d < 65536)
        m->meta_width = (int)d;
    if (sv_amf_get_number(meta, "height", &d) && d > 0 && d < 65536)
        m->meta_height = (int)d;
    if (sv_amf_get_number(meta, "framerate", &d) && d > 0 && d < 1000)
        m->meta_fps = d;
}

/* ---- writing ---- */

int sv_rtmp_flv_seq_header(const sv_track *t, sv_bytes *out)
{
    switch (t->codec) {
    case SV_CODEC_H264:
        if (!t->config)
            return SV_EUNSUPPORTED;
        sv_bytes_put_u8(out, 0x17);
        sv_bytes_put_u8(out, 0);
        sv_bytes_put_be24(out, 0);
        break;
    case SV_CODEC_H265:
        if (!t->config)
            return SV_EUNSUPPORTED;
        sv_bytes_put_u8(out, 0x80 | 1 << 4 | 0); /* ex header, key, SequenceStart */
        sv_bytes_put_be32(out, FOURCC('h', 'v', 'c', '1'));
        break;
    case SV_CODEC_AAC:
        if (!t->config)
            return SV_EUNSUPPORTED;
        sv_bytes_put_u8(out, 0xaf);
        sv_bytes_put_u8(out, 0);
        break;
    default:
        return SV_EUNSUPPORTED;
    }
    sv_bytes_put(out, t->config->data, t->config->len);
    return out->failed ? SV_ENOMEM : 0;
}

int sv_rtmp_flv_frame_header(const sv_frame *f, int channels, uint8_t hdr[16])
{
    int32_t cts = (int32_t)((f->pts - f->dts) / 90);
    uint32_t c24 = (uint32_t)cts & 0xffffff;
    switch (f->codec) {
    case SV_CODEC_H264:
        hdr[0] = (uint8_t)((f->key ? 1 : 2) << 4 | 7);
        hdr[1] = 1;
        hdr[2] = (uint8_t)(c24 >> 16);
        hdr[3] = (uint8_t)(c24 >> 8);
        hdr[4] = (uint8_t)c24;
        return 5;
    case SV_CODEC_H265:
        hdr[0] = (uint8_t)(0x80 | (f->key ? 1 : 2) << 4 | 1); /* CodedFrames */
        sv_wb32(hdr + 1, FOURCC('h', 'v', 'c', '1'));
        hdr[5] = (uint8_t)(c24 >> 16);
        hdr[6] = (uint8_t)(c24 >> 8);
        hdr[7] = (uint8_t)c24;
        return 8;
    case SV_CODEC_AAC:
        hdr[0] = 0xaf;
        hdr[1] = 1;
        return 2;
    case SV_CODEC_PCMA:
    case SV_CODEC_PCMU:
        hdr[0] = (uint8_t)((f->codec == SV_CODEC_PCMA ? 7 : 8) << 4 | 1 << 1 | (channels == 2));
        return 1;
    default:
        return SV_EUNSUPPORTED;
    }
}
