/* MPEG-TS muxer. See ts_mux.h for the contract.
 *
 * How: a frame becomes a short list of byte spans ("segments": PES header, AUD, parameter
 * sets, start code + NAL body, ...) that point into the frame and into the muxer. The
 * packetizer reserves the output once per frame and copies span pieces straight into
 * 188-byte packets in out->p, so 4-byte length prefixes become 4-byte start codes
 * without an intermediate Annex B copy. The last packet of a PES is padded with
 * adaptation-field stuffing; the first carries random_access_indicator on keyframes and
 * the PCR when due (PCR = DTS - SV_TS_PCR_DELAY, clamped to never go backwards).
 * PAT/PMT fit in one packet each; the PMT version is bumped on every track change.
 * Not here: multiple programs, descriptors, SCTE-35, CBR null-packet padding. */
#include "format/ts_mux.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "media/aac.h"
#include "media/h264.h"
#include "media/h265.h"

#define TS_MASK33 ((int64_t)0x1ffffffff)
#define PCR_EVERY 3600 /* 40 ms */
#define PCR_MAX_GAP 9000 /* 100 ms */

typedef struct seg {
    const uint8_t *p;
    size_t len;
} seg;

struct sv_ts_mux {
    sv_track tracks[SV_MAX_TRACKS];
    uint8_t stream_type[SV_MAX_TRACKS]; /* 0: track not in the PMT */
    uint8_t cc[SV_MAX_TRACKS], cc_pat, cc_pmt;
    int version;   /* PMT version_number, 0..31 */
    int configured;
    int pcr_track; /* -1: none */
    int have_pcr;
    int64_t last_pcr; /* 90 kHz base of the last PCR written */
    sv_bytes ps;      /* video parameter sets from the config, Annex B */
    sv_aac_asc asc;
    seg *segs;
    size_t nsegs, segs_cap;
};

static const uint8_t start_code[4] = {0, 0, 0, 1};
static const uint8_t aud_h264[2] = {0x09, 0xf0};
static const uint8_t aud_h265[3] = {0x46, 0x01, 0x50};

static uint16_t pid_of(int t) { return (uint16_t)(SV_TS_PID_VIDEO + t); }

uint32_t sv_ts_crc32(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffff;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int k = 0; k < 8; k++)
            crc = (crc & 0x80000000) ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    }
    return crc;
}

sv_ts_mux *sv_ts_mux_new(void)
{
    sv_ts_mux *m = calloc(1, sizeof *m);
    if (m)
        m->pcr_track = -1;
    return m;
}

void sv_ts_mux_free(sv_ts_mux *m)
{
    if (!m)
        return;
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&m->tracks[i]);
    sv_bytes_free(&m->ps);
    free(m->segs);
    free(m);
}

static void put_ps(sv_bytes *ps, const sv_nal *l, int n)
{
    for (int i = 0; i < n; i++) {
        sv_bytes_put(ps, start_code, 4);
        sv_bytes_put(ps, l[i].p, l[i].len);
    }
}

/* Parameter sets of the video config, as Annex B, into m->ps (empty when unknown). */
static void load_video_config(sv_ts_mux *m, const sv_track *t)
{
    sv_bytes_reset(&m->ps);
    if (!t->config)
        return;
    if (t->codec == SV_CODEC_H264) {
        sv_h264_avcc a;
        if (sv_h264_avcc_parse(t->config->data, t->config->len, &a) == 0) {
            put_ps(&m->ps, a.sps, a.nb_sps);
            put_ps(&m->ps, a.pps, a.nb_pps);
        }
    } else {
        sv_h265_hvcc a;
        if (sv_h265_hvcc_parse(t->config->data, t->config->len, &a) == 0) {
            put_ps(&m->ps, a.vps, a.nb_vps);
            put_ps(&m->ps, a.sps, a.nb_sps);
            put_ps(&m->ps, a.pps, a.nb_pps);
        }
    }
    if (m->ps.failed)
        sv_bytes_reset(&m->ps);
}

/* Stream type for a track, 0 when we cannot carry it. */
static uint8_t usable_type(sv_ts_mux *m, const sv_track *t)
{
    uint8_t hdr[7];
    switch (t->codec) {
    case SV_CODEC_H264: return 0x1b;
    case SV_CODEC_H265: return 0x24;
    case SV_CODEC_AAC:
        if (!t->config || sv_aac_asc_parse(t->config->data, t->config->len, &m->asc) < 0 ||
            sv_aac_adts_build(&m->asc, 0, hdr) < 0)
            return 0;
        return 0x0f;
    default: return 0;
    }
}

int sv_ts_mux_set_tracks(sv_ts_mux *m, const sv_track *tracks)
{
    int usable = 0;
    m->pcr_track = -1;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_track_clear(&m->tracks[i]);
        sv_track_copy(&m->tracks[i], &tracks[i]);
        m->stream_type[i] = usable_type(m, &tracks[i]);
        if (!m->stream_type[i])
            continue;
        usable++;
        if (tracks[i].type == SV_MEDIA_VIDEO) {
            load_video_config(m, &tracks[i]);
            m->pcr_track = i;
        } else if (m->pcr_track < 0) {
            m->pcr_track = i;
        }
    }
    if (m->configured)
        m->version = (m->version + 1) & 31;
    m->configured = 1;
    return usable ? 0 : SV_EUNSUPPORTED;
}

/* Writes one PSI packet: header, pointer field, section (+ CRC), 0xff fill. */
static void put_section(sv_bytes *out, uint16_t pid, uint8_t *cc, const uint8_t *sec,
                        size_t len)
{
    if (sv_bytes_reserve(out, SV_TS_PACKET))
        return;
    uint8_t *p = out->p + out->len;
    p[0] = 0x47;
    p[1] = (uint8_t)(0x40 | pid >> 8);
    p[2] = (uint8_t)pid;
    p[3] = (uint8_t)(0x10 | *cc);
    *cc = (*cc + 1) & 15;
    p[4] = 0; /* pointer_field */
    memcpy(p + 5, sec, len);
    sv_wb32(p + 5 + len, sv_ts_crc32(sec, len));
    memset(p + 9 + len, 0xff, SV_TS_PACKET - 9 - len);
    out->len += SV_TS_PACKET;
}

void sv_ts_mux_write_tables(sv_ts_mux *m, sv_bytes *out)
{
    const uint8_t pat[12] = {0x00, 0xb0, 13, 0x00, 0x01, 0xc1, 0, 0,
                             0x00, 0x01, 0xe0 | SV_TS_PID_PMT >> 8, SV_TS_PID_PMT & 0xff};
    put_section(out, 0, &m->cc_pat, pat, sizeof pat);
    uint8_t pmt[32];
    uint16_t pcr_pid = m->pcr_track >= 0 ? pid_of(m->pcr_track) : 0x1fff;
    size_t n = 12;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        if (!m->stream_type[i])
            continue;
        const uint8_t es[5] = {m->stream_type[i], (uint8_t)(0xe0 | pid_of(i) >> 8),
                               (uint8_t)pid_of(i), 0xf0, 0x00};
        memcpy(pmt + n, es, sizeof es);
        n += sizeof es;
    }
    const uint8_t head[12] = {0x02, 0xb0, (uint8_t)(n + 4 - 3), 0x00, 0x01,
                              (uint8_t)(0xc1 | m->version << 1), 0, 0,
                              (uint8_t)(0xe0 | pcr_pid >> 8), (uint8_t)pcr_pid, 0xf0, 0x00};
    memcpy(pmt, head, sizeof head);
    put_section(out, SV_TS_PID_PMT, &m->cc_pmt, pmt, n);
}

static int add_seg(sv_ts_mux *m, const void *p, size_t len)
{
    if (m->nsegs == m->segs_cap) {
        size_t cap = m->segs_cap ? m->segs_cap * 2 : 64;
        seg *s = realloc(m->segs, cap * sizeof *s);
        if (!s)
            return SV_ENOMEM;
        m->segs = s;
        m->segs_cap = cap;
    }
    m->segs[m->nsegs++] = (seg){p, len};
    return 0;
}

static void put_ts(uint8_t *p, int prefix, int64_t ts)
{
    uint64_t v = (uint64_t)ts & TS_MASK33;
    p[0] = (uint8_t)(prefix << 4 | (v >> 29 & 0x0e) | 1);
    p[1] = (uint8_t)(v >> 22);
    p[2] = (uint8_t)(v >> 14 | 1);
    p[3] = (uint8_t)(v >> 7);
    p[4] = (uint8_t)(v << 1 | 1);
}

/* PES header into h (19 bytes max); returns its length. */
static size_t pes_header(uint8_t *h, uint8_t sid, size_t es_len, int64_t pts, int64_t dts)
{
    int with_dts = ((pts ^ dts) & TS_MASK33) != 0;
    size_t hdl = with_dts ? 10 : 5, plen = 3 + hdl + es_len;
    h[0] = 0;
    h[1] = 0;
    h[2] = 1;
    h[3] = sid;
    h[4] = plen > 0xffff ? 0 : (uint8_t)(plen >> 8);
    h[5] = plen > 0xffff ? 0 : (uint8_t)plen;
    h[6] = 0x84; /* '10', data_alignment_indicator */
    h[7] = with_dts ? 0xc0 : 0x80;
    h[8] = (uint8_t)hdl;
    put_ts(h + 9, with_dts ? 3 : 2, pts);
    if (with_dts)
        put_ts(h + 14, 1, dts);
    return 9 + hdl;
}

static void put_pcr(uint8_t *p, int64_t pcr)
{
    uint64_t b = (uint64_t)pcr & TS_MASK33;
    p[0] = (uint8_t)(b >> 25);
    p[1] = (uint8_t)(b >> 17);
    p[2] = (uint8_t)(b >> 9);
    p[3] = (uint8_t)(b >> 1);
    p[4] = (uint8_t)((b & 1) << 7 | 0x7e); /* reserved bits, extension 0 */
    p[5] = 0;
}

typedef struct cursor {
    const seg *s;
    size_t i, off;
} cursor;

static void copy_out(cursor *c, uint8_t *dst, size_t n)
{
    while (n) {
        const seg *s = &c->s[c->i];
        size_t k = s->len - c->off < n ? s->len - c->off : n;
        memcpy(dst, s->p + c->off, k);
        dst += k;
        n -= k;
        c->off += k;
        if (c->off == s->len) {
            c->i++;
            c->off = 0;
        }
    }
}

/* One TS packet at p: af_flags (RAI/PCR) only on the first; stuffing when short. */
static size_t put_packet(uint8_t *p, uint16_t pid, uint8_t *cc, int first, int af_flags,
                         int64_t pcr, cursor *c, size_t remaining)
{
    size_t af = af_flags ? 2 + ((af_flags & 0x10) ? 6 : 0) : 0;
    size_t pay = remaining < 184 - af ? remaining : 184 - af;
    af = 184 - pay;
    p[0] = 0x47;
    p[1] = (uint8_t)((first ? 0x40 : 0) | pid >> 8);
    p[2] = (uint8_t)pid;
    p[3] = (uint8_t)((af ? 0x30 : 0x10) | *cc);
    *cc = (*cc + 1) & 15;
    if (af) {
        p[4] = (uint8_t)(af - 1);
        if (af > 1) {
            p[5] = (uint8_t)af_flags;
            size_t used = 2;
            if (af_flags & 0x10) {
                put_pcr(p + 6, pcr);
                used += 6;
            }
            memset(p + 4 + used, 0xff, af - used);
        }
    }
    copy_out(c, p + 4 + af, pay);
    return pay;
}

/* Packetizes m->segs (total bytes) on track t. */
static int packetize(sv_ts_mux *m, int t, size_t total, int af_flags, int64_t pcr,
                     sv_bytes *out)
{
    size_t npk = (total + 8) / 184 + 2;
    if (sv_bytes_reserve(out, npk * SV_TS_PACKET))
        return SV_ENOMEM;
    cursor c = {m->segs, 0, 0};
    uint8_t *p = out->p + out->len;
    for (int first = 1; total; first = 0) {
        total -= put_packet(p, pid_of(t), &m->cc[t], first, first ? af_flags : 0, pcr, &c,
                            total);
        p += SV_TS_PACKET;
    }
    out->len = (size_t)(p - out->p);
    return 0;
}

/* Decides whether this frame carries a PCR; returns its adaptation flags. */
static int pcr_flags(sv_ts_mux *m, int t, const sv_frame *f, int64_t *pcr)
{
    int flags = f->key && (m->tracks[t].type == SV_MEDIA_VIDEO || t == m->pcr_track) ? 0x40 : 0;
    if (t != m->pcr_track)
        return flags;
    *pcr = f->dts - SV_TS_PCR_DELAY;
    if (m->have_pcr && *pcr < m->last_pcr)
        *pcr = m->last_pcr;
    if (!m->have_pcr || f->key || *pcr - m->last_pcr >= PCR_EVERY) {
        m->have_pcr = 1;
        m->last_pcr = *pcr;
        flags |= 0x10;
    }
    return flags;
}

/* Audio ran PCR_MAX_GAP past the last (video) PCR: PCR-only packet on the PCR PID. */
static int pcr_only_packet(sv_ts_mux *m, const sv_frame *f, sv_bytes *out)
{
    int64_t pcr = f->dts - SV_TS_PCR_DELAY;
    if (m->pcr_track < 0 || m->pcr_track == f->track || !m->have_pcr ||
        pcr - m->last_pcr < PCR_MAX_GAP)
        return 0;
    if (sv_bytes_reserve(out, SV_TS_PACKET))
        return SV_ENOMEM;
    uint8_t *p = out->p + out->len;
    uint16_t pid = pid_of(m->pcr_track);
    p[0] = 0x47;
    p[1] = (uint8_t)(pid >> 8);
    p[2] = (uint8_t)pid;
    p[3] = (uint8_t)(0x20 | m->cc[m->pcr_track]); /* no payload: cc unchanged */
    p[4] = 183;
    p[5] = 0x10;
    put_pcr(p + 6, pcr);
    memset(p + 12, 0xff, SV_TS_PACKET - 12);
    out->len += SV_TS_PACKET;
    m->last_pcr = pcr;
    return 0;
}

/* Segments for a video access unit; *es_len gets the elementary stream size. */
static int video_segs(sv_ts_mux *m, const sv_frame *f, size_t *es_len)
{
    int h265 = m->tracks[f->track].codec == SV_CODEC_H265;
    size_t pos = 0;
    sv_nal nal;
    int rc, inband_ps = 0, has_aud = 0, n = 0;
    while ((rc = sv_h264_len4_next(f->data, f->len, &pos, &nal)) == 1) {
        if (nal.len == 0)
            return SV_EINVAL;
        int type = h265 ? sv_h265_nal_type(nal.p[0]) : nal.p[0] & 0x1f;
        inband_ps |= type == (h265 ? SV_H265_NAL_SPS : SV_H264_NAL_SPS);
        has_aud |= n++ == 0 && type == (h265 ? SV_H265_NAL_AUD : SV_H264_NAL_AUD);
    }
    if (rc < 0 || n == 0)
        return SV_EINVAL;
    *es_len = f->len;
    rc = 0;
    if (!has_aud) {
        rc |= add_seg(m, start_code, 4);
        rc |= h265 ? add_seg(m, aud_h265, 3) : add_seg(m, aud_h264, 2);
        *es_len += h265 ? 7 : 6;
    }
    if (f->key && !inband_ps && m->ps.len) {
        rc |= add_seg(m, m->ps.p, m->ps.len);
        *es_len += m->ps.len;
    }
    for (pos = 0; sv_h264_len4_next(f->data, f->len, &pos, &nal) == 1;) {
        rc |= add_seg(m, start_code, 4);
        rc |= add_seg(m, nal.p, nal.len);
    }
    return rc ? SV_ENOMEM : 0;
}

int sv_ts_mux_write_frame(sv_ts_mux *m, const sv_frame *f, sv_bytes *out)
{
    int t = f->track;
    if (t >= SV_MAX_TRACKS || !m->stream_type[t])
        return 0;
    int video = m->tracks[t].type == SV_MEDIA_VIDEO;
    uint8_t pes[19] = {0}, adts[7];
    size_t es_len = f->len;
    m->nsegs = 0;
    int rc = add_seg(m, pes, 0);
    if (rc == 0 && video) {
        rc = video_segs(m, f, &es_len);
    } else if (rc == 0) {
        if (f->len == 0 || sv_aac_adts_build(&m->asc, f->len, adts) < 0)
            return SV_EINVAL;
        es_len += sizeof adts;
        rc = add_seg(m, adts, sizeof adts) | add_seg(m, f->data, f->len);
        rc = rc ? SV_ENOMEM : 0;
        if (rc == 0)
            rc = pcr_only_packet(m, f, out);
    }
    if (rc < 0)
        return rc;
    m->segs[0].len = pes_header(pes, video ? 0xe0 : 0xc0, es_len, f->pts, f->dts);
    int64_t pcr = 0;
    int flags = pcr_flags(m, t, f, &pcr);
    return packetize(m, t, m->segs[0].len + es_len, flags, pcr, out);
}
