/* MPEG-TS demuxer. See ts_demux.h for the contract.
 *
 * How: bytes are cut into 188-byte packets (straight from the input when a whole packet
 * is there, else through a 188-byte carry buffer, so any feeding pattern gives the same
 * result). PAT then PMT pick the program's first video (0x1b H.264, 0x24 H.265) and first
 * audio (0x0f AAC/ADTS) stream. Each elementary stream collects one PES in a reusable
 * buffer (capped at SV_TS_DEMUX_PES_CAP; continuity errors drop it) and is emitted when
 * its declared length is reached or the next PES starts. Video: Annex B -> 4-byte
 * lengths, AUDs dropped, latest VPS/SPS/PPS kept to build avcC/hvcC; frames before the
 * first parameter sets are dropped. Audio: one frame per ADTS frame, ASC built from the
 * header. Frames wait in a small bounded queue until every PMT track has a config, so
 * on_tracks comes before the first frame. Timestamps are unwrapped against the last DTS.
 * Not here: PSI sections spanning packets, several programs, PES without PTS (dropped),
 * ADTS frames split across PES packets, SCTE/teletext/private streams. */
#include "format/ts_demux.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/ts_mux.h"
#include "media/aac.h"
#include "media/h264.h"
#include "media/h265.h"

#define SV_TS_DEMUX_PES_CAP (16u << 20)
#define QUEUE_MAX 256
#define QUEUE_BYTES (32u << 20)
#define PS_CAP 4096 /* largest parameter set we keep */
#define WRAP ((int64_t)1 << 33)

typedef struct es {
    uint16_t pid; /* 0: absent */
    uint8_t stream_type;
    int cc;       /* last continuity counter, -1 unknown */
    int active;   /* collecting a PES into buf */
    sv_bytes buf;
    sv_bytes ps[3]; /* latest VPS, SPS, PPS (video) */
} es;

struct sv_ts_demux {
    sv_ts_demux_cb cb;
    uint8_t pkt[SV_TS_PACKET];
    size_t fill;
    int in_garbage;
    uint16_t pmt_pid;
    es es[SV_MAX_TRACKS];
    sv_track tracks[SV_MAX_TRACKS];
    int tracks_sent, tracks_dirty;
    int have_ts;
    int64_t ref_ts; /* last unwrapped DTS */
    sv_frame *queue[QUEUE_MAX];
    size_t qn, qbytes;
    uint64_t errors;
};

sv_ts_demux *sv_ts_demux_new(const sv_ts_demux_cb *cb)
{
    sv_ts_demux *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cb = *cb;
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        d->es[t].cc = -1;
    return d;
}

static void es_reset(sv_ts_demux *d, int t)
{
    es *e = &d->es[t];
    sv_bytes_free(&e->buf);
    for (int i = 0; i < 3; i++)
        sv_bytes_free(&e->ps[i]);
    memset(e, 0, sizeof *e);
    e->cc = -1;
    sv_track_clear(&d->tracks[t]);
}

void sv_ts_demux_free(sv_ts_demux *d)
{
    if (!d)
        return;
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        es_reset(d, t);
    for (size_t i = 0; i < d->qn; i++)
        sv_frame_unref(d->queue[i]);
    free(d);
}

uint64_t sv_ts_demux_errors(const sv_ts_demux *d) { return d->errors; }

/* ---- delivery ---- */

static void send_tracks(sv_ts_demux *d)
{
    d->tracks_sent = 1;
    d->tracks_dirty = 0;
    if (d->cb.on_tracks)
        d->cb.on_tracks(d->cb.ctx, d->tracks);
}

static int all_known(const sv_ts_demux *d)
{
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        if (d->es[t].pid && d->tracks[t].codec == SV_CODEC_NONE)
            return 0;
    return 1;
}

static int call_frame(sv_ts_demux *d, sv_frame *f)
{
    int rc = d->cb.on_frame ? d->cb.on_frame(d->cb.ctx, f) : 0;
    sv_frame_unref(f);
    return rc;
}

/* Delivers queued frames in order; stops (keeping the rest) on a callback's stop. */
static int drain(sv_ts_demux *d)
{
    size_t i = 0;
    int rc = 0;
    while (i < d->qn && rc == 0) {
        d->qbytes -= d->queue[i]->len;
        rc = call_frame(d, d->queue[i++]);
    }
    memmove(d->queue, d->queue + i, (d->qn - i) * sizeof d->queue[0]);
    d->qn -= i;
    return rc;
}

/* Takes ownership of f. */
static int deliver(sv_ts_demux *d, sv_frame *f)
{
    if (!d->tracks_sent && !all_known(d) && d->qn < QUEUE_MAX &&
        d->qbytes + f->len <= QUEUE_BYTES) {
        d->queue[d->qn++] = f;
        d->qbytes += f->len;
        return 0;
    }
    if (!d->tracks_sent || d->tracks_dirty)
        send_tracks(d);
    int rc = drain(d);
    if (rc) {
        sv_frame_unref(f);
        return rc;
    }
    return call_frame(d, f);
}

/* ---- timestamps ---- */

static int64_t unwrap(sv_ts_demux *d, int64_t v)
{
    if (!d->have_ts) {
        d->have_ts = 1;
        d->ref_ts = v;
        return v;
    }
    int64_t c = (d->ref_ts & ~(WRAP - 1)) | v;
    if (c - d->ref_ts > WRAP / 2)
        c -= WRAP;
    else if (d->ref_ts - c > WRAP / 2)
        c += WRAP;
    return c;
}

static int64_t read_ts(const uint8_t *p)
{
    return (int64_t)(p[0] >> 1 & 7) << 30 | (int64_t)p[1] << 22 | (int64_t)(p[2] >> 1) << 15 |
           (int64_t)p[3] << 7 | p[4] >> 1;
}

/* ---- config tracking ---- */

static void set_track(sv_ts_demux *d, int t, sv_track *nt)
{
    sv_track_clear(&d->tracks[t]);
    d->tracks[t] = *nt;
    d->tracks_dirty = 1;
}

static int same_config(const sv_track *t, const uint8_t *p, size_t len)
{
    return t->config && t->config->len == len && memcmp(t->config->data, p, len) == 0;
}

static void update_video_config(sv_ts_demux *d, int t)
{
    es *e = &d->es[t];
    int h265 = e->stream_type == 0x24;
    sv_nal n[3];
    for (int i = 0; i < 3; i++)
        n[i] = (sv_nal){e->ps[i].p, e->ps[i].len};
    if (!n[1].len || !n[2].len || (h265 && !n[0].len))
        return;
    sv_bytes cfg;
    sv_track nt;
    sv_bytes_init(&cfg);
    int rc = h265 ? sv_h265_hvcc_build(&n[0], 1, &n[1], 1, &n[2], 1, &cfg)
                  : sv_h264_avcc_build(&n[1], 1, &n[2], 1, &cfg);
    if (rc == 0 && !same_config(&d->tracks[t], cfg.p, cfg.len)) {
        rc = h265 ? sv_h265_track_from_hvcc(cfg.p, cfg.len, &nt)
                  : sv_h264_track_from_avcc(cfg.p, cfg.len, &nt);
        if (rc == 0)
            set_track(d, t, &nt);
    }
    if (rc < 0)
        d->errors++;
    sv_bytes_free(&cfg);
}

static void update_audio_config(sv_ts_demux *d, int t, const sv_aac_asc *a)
{
    uint8_t asc[SV_AAC_ASC_MAX];
    sv_track nt;
    int n = sv_aac_asc_build(a, asc, sizeof asc);
    if (n <= 0 || same_config(&d->tracks[t], asc, (size_t)n))
        return;
    if (sv_aac_track_from_asc(asc, (size_t)n, &nt) == 0)
        set_track(d, t, &nt);
}

/* ---- elementary streams ---- */

/* NAL type class: 0 other, 1 AUD, 2..4 VPS/SPS/PPS, 5 keyframe slice. */
static int nal_class(int h265, const uint8_t *p)
{
    int ty = h265 ? sv_h265_nal_type(p[0]) : p[0] & 0x1f;
    if (h265)
        return ty == SV_H265_NAL_AUD ? 1 : ty >= 32 && ty <= 34 ? ty - 30
               : ty >= SV_H265_NAL_IRAP_FIRST && ty <= SV_H265_NAL_IRAP_LAST ? 5 : 0;
    return ty == SV_H264_NAL_AUD ? 1 : ty == SV_H264_NAL_SPS ? 3 : ty == SV_H264_NAL_PPS ? 4
           : ty == SV_H264_NAL_IDR ? 5 : 0;
}

static void set_frame(sv_frame *f, int t, sv_codec c, int key, int64_t dts, int64_t pts)
{
    f->track = (uint8_t)t;
    f->codec = c;
    f->key = key;
    f->dts = dts;
    f->pts = pts;
}

#define NAL_KEEP 64 /* NAL spans remembered per access unit (more: scanned again) */

static int emit_video(sv_ts_demux *d, int t, const uint8_t *p, size_t n, int64_t dts,
                      int64_t pts)
{
    es *e = &d->es[t];
    int h265 = e->stream_type == 0x24, key = 0, ps = 0;
    size_t pos = 0, out = 0, nk = 0, total = 0;
    sv_nal nal, kept[NAL_KEEP];
    while (sv_h264_annexb_next(p, n, &pos, &nal)) {
        if (h265 && nal.len < 2)
            continue;
        int c = nal_class(h265, nal.p);
        if (c == 1)
            continue;
        if (c >= 2 && c <= 4 && nal.len <= PS_CAP) {
            sv_bytes_reset(&e->ps[c - 2]);
            sv_bytes_put(&e->ps[c - 2], nal.p, nal.len);
            ps = 1;
        }
        key |= c == 5;
        out += 4 + nal.len;
        if (nk < NAL_KEEP)
            kept[nk] = nal;
        nk++;
    }
    if (ps)
        update_video_config(d, t);
    if (out == 0 || d->tracks[t].codec == SV_CODEC_NONE)
        return 0;
    sv_frame *f = sv_frame_new(out);
    if (!f)
        return SV_ENOMEM;
    set_frame(f, t, d->tracks[t].codec, key, dts, pts);
    uint8_t *w = f->data;
    for (pos = 0; total < nk; total++) { /* the spans found above, in order */
        if (total < NAL_KEEP) {
            nal = kept[total];
        } else {
            do /* past NAL_KEEP: continue scanning after the last kept span */
                sv_h264_annexb_next(p, n, &pos, &nal);
            while ((h265 && nal.len < 2) || nal_class(h265, nal.p) == 1 ||
                   nal.p <= kept[NAL_KEEP - 1].p);
        }
        sv_wb32(w, (uint32_t)nal.len);
        memcpy(w + 4, nal.p, nal.len);
        w += 4 + nal.len;
    }
    return deliver(d, f);
}

static int emit_audio(sv_ts_demux *d, int t, const uint8_t *p, size_t n, int64_t pts)
{
    int64_t samples = 0;
    for (size_t off = 0; off < n;) {
        sv_aac_adts h;
        int hl = sv_aac_adts_parse(p + off, n - off, &h);
        if (hl < 0 || (size_t)h.frame_len > n - off) {
            d->errors++;
            return 0;
        }
        update_audio_config(d, t, &h.asc);
        size_t plen = (size_t)(h.frame_len - hl);
        if (plen && d->tracks[t].codec == SV_CODEC_AAC) {
            sv_frame *f = sv_frame_new(plen);
            if (!f)
                return SV_ENOMEM;
            int64_t ts = pts + (samples * SV_TIMEBASE + h.asc.sample_rate / 2) / h.asc.sample_rate;
            set_frame(f, t, SV_CODEC_AAC, 1, ts, ts);
            memcpy(f->data, p + off + hl, plen);
            int rc = deliver(d, f);
            if (rc)
                return rc;
        }
        samples += 1024 * h.nb_blocks;
        off += (size_t)h.frame_len;
    }
    return 0;
}

/* Parses the PES header in e->buf and emits its payload. */
static int finish_pes(sv_ts_demux *d, int t)
{
    es *e = &d->es[t];
    if (!e->active)
        return 0;
    e->active = 0;
    const uint8_t *p = e->buf.p;
    size_t n = e->buf.len;
    size_t plen = n >= 6 ? sv_rb16(p + 4) : 0, hdl = n >= 9 ? p[8] : 0;
    int flags = n >= 8 ? p[7] >> 6 : 0;
    if (plen && plen + 6 < n)
        n = plen + 6;
    if (plen && plen + 6 > n) /* truncated */
        flags = 0;
    if (n < 14 || p[0] || p[1] || p[2] != 1 || 9 + hdl > n || flags < 2 ||
        (flags == 3 && hdl < 10) || hdl < 5) {
        d->errors++;
        return 0;
    }
    int64_t pts = read_ts(p + 9), dts = flags == 3 ? read_ts(p + 14) : pts;
    dts = unwrap(d, dts);
    int64_t diff = (pts - dts) & (WRAP - 1);
    pts = dts + (diff >= WRAP / 2 ? diff - WRAP : diff);
    d->ref_ts = dts;
    if (e->stream_type == 0x0f)
        return emit_audio(d, t, p + 9 + hdl, n - 9 - hdl, pts);
    return emit_video(d, t, p + 9 + hdl, n - 9 - hdl, dts, pts);
}

static int pes_packet(sv_ts_demux *d, int t, const uint8_t *p, size_t n, int pusi, int cc,
                      int disc)
{
    es *e = &d->es[t];
    if (e->cc >= 0 && !disc) {
        if (cc == e->cc)
            return 0; /* duplicate packet */
        if (cc != ((e->cc + 1) & 15) && e->active) {
            d->errors++;
            e->active = 0;
        }
    }
    e->cc = cc;
    if (pusi) {
        int rc = finish_pes(d, t);
        if (rc)
            return rc;
        e->active = 1;
        sv_bytes_reset(&e->buf);
    } else if (!e->active) {
        return 0;
    }
    if (e->buf.len + n > SV_TS_DEMUX_PES_CAP) {
        d->errors++;
        e->active = 0;
        return 0;
    }
    sv_bytes_put(&e->buf, p, n);
    if (e->buf.failed)
        return SV_ENOMEM;
    size_t plen = e->buf.len >= 6 ? sv_rb16(e->buf.p + 4) : 0;
    return plen && e->buf.len >= plen + 6 ? finish_pes(d, t) : 0;
}

/* ---- PSI ---- */

/* A whole PSI section of table_id in this packet, CRC checked; NULL otherwise. */
static const uint8_t *section(sv_ts_demux *d, const uint8_t *p, size_t n, int table_id,
                              size_t *slen)
{
    if (n < 1 || (size_t)p[0] + 4 > n)
        return NULL;
    const uint8_t *s = p + 1 + p[0];
    size_t rem = n - 1 - p[0], sl = (size_t)(s[1] & 0x0f) << 8 | s[2];
    if (s[0] != table_id)
        return NULL;
    if (sl < 9 || sl + 3 > rem || sv_ts_crc32(s, sl + 3) != 0) {
        d->errors++;
        return NULL;
    }
    *slen = sl + 3 - 4; /* without CRC */
    return s;
}

static void on_pat(sv_ts_demux *d, const uint8_t *p, size_t n)
{
    size_t sl;
    const uint8_t *s = section(d, p, n, 0x00, &sl);
    for (size_t i = 8; s && i + 4 <= sl; i += 4) {
        uint16_t pid = (uint16_t)((s[i + 2] & 0x1f) << 8 | s[i + 3]);
        if (sv_rb16(s + i) != 0 && pid > 0x0f && pid < 0x1fff) {
            d->pmt_pid = pid;
            return;
        }
    }
}

static void use_stream(sv_ts_demux *d, int t, uint16_t pid, uint8_t type)
{
    es *e = &d->es[t];
    if (e->pid == pid && e->stream_type == type)
        return;
    es_reset(d, t);
    e->pid = pid;
    e->stream_type = type;
    d->tracks_dirty = 1;
}

static void on_pmt(sv_ts_demux *d, const uint8_t *p, size_t n)
{
    size_t sl;
    const uint8_t *s = section(d, p, n, 0x02, &sl);
    if (!s)
        return;
    uint16_t pid[SV_MAX_TRACKS] = {0, 0};
    uint8_t type[SV_MAX_TRACKS] = {0, 0};
    for (size_t i = 12 + (sv_rb16(s + 10) & 0x0fff); i + 5 <= sl;
         i += 5 + (sv_rb16(s + i + 3) & 0x0fff)) {
        int t = s[i] == 0x1b || s[i] == 0x24 ? 0 : s[i] == 0x0f ? 1 : -1;
        uint16_t epid = sv_rb16(s + i + 1) & 0x1fff;
        if (t >= 0 && !pid[t] && epid > 0x0f && epid < 0x1fff && epid != d->pmt_pid) {
            pid[t] = epid;
            type[t] = s[i];
        }
    }
    if (pid[0] && pid[0] == pid[1])
        pid[1] = 0;
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        use_stream(d, t, pid[t], type[t]);
}

/* ---- packets ---- */

static int packet(sv_ts_demux *d, const uint8_t *p)
{
    int pid = (p[1] & 0x1f) << 8 | p[2], afc = p[3] >> 4 & 3, disc = 0;
    size_t off = 4;
    if ((p[1] & 0x80) || afc == 0) {
        d->errors++;
        return 0;
    }
    if (afc & 2) {
        if (p[4] > (afc == 3 ? 182 : 183)) {
            d->errors++;
            return 0;
        }
        disc = p[4] && (p[5] & 0x80);
        off += 1 + p[4];
    }
    if (!(afc & 1) || pid == 0x1fff)
        return 0;
    int pusi = p[1] & 0x40;
    if (pid == 0) {
        if (pusi)
            on_pat(d, p + off, SV_TS_PACKET - off);
        return 0;
    }
    if (pid == d->pmt_pid) {
        if (pusi)
            on_pmt(d, p + off, SV_TS_PACKET - off);
        return 0;
    }
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        if (d->es[t].pid == pid)
            return pes_packet(d, t, p + off, SV_TS_PACKET - off, pusi, p[3] & 15, disc);
    return 0;
}

int sv_ts_demux_feed(sv_ts_demux *d, const uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int rc = 0;
        if (d->fill == 0 && buf[i] != 0x47) {
            const uint8_t *s = memchr(buf + i, 0x47, len - i);
            if (!d->in_garbage)
                d->errors++;
            d->in_garbage = 1;
            i = s ? (size_t)(s - buf) : len;
            continue;
        }
        d->in_garbage = 0;
        if (d->fill == 0 && len - i >= SV_TS_PACKET) {
            rc = packet(d, buf + i);
            i += SV_TS_PACKET;
        } else {
            size_t k = SV_TS_PACKET - d->fill < len - i ? SV_TS_PACKET - d->fill : len - i;
            memcpy(d->pkt + d->fill, buf + i, k);
            d->fill += k;
            i += k;
            if (d->fill == SV_TS_PACKET) {
                d->fill = 0;
                rc = packet(d, d->pkt);
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sv_ts_demux_flush(sv_ts_demux *d)
{
    for (int t = 0; t < SV_MAX_TRACKS; t++) {
        int rc = finish_pes(d, t);
        if (rc)
            return rc;
    }
    int known = 0;
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        known |= d->tracks[t].codec != SV_CODEC_NONE;
    if ((!d->tracks_sent && (known || d->qn)) || (d->tracks_sent && d->tracks_dirty))
        send_tracks(d);
    return drain(d);
}
