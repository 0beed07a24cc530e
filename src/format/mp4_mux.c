/* Progressive MP4 writer. See mp4_mux.h for the contract.
 *
 * How: sv_mp4_add_sample appends 13 bytes per sample to two compact arrays in file order
 * (size, dts delta to the previous sample of the same track, composition offset; and a
 * flags byte: track + key). Nothing else grows with the sample count until finish, which
 * walks each track once and builds its tables run-length (stts, ctts, stsc) or flat (stsz,
 * stss, stco/co64), plus a sparse index (payload offset of every IDX_STRIDE-th sample) for
 * sv_mp4_locate. The moov is built twice: once to learn its size (and whether 64-bit
 * offsets are needed), then with the real mdat start as the chunk offset base.
 * Timing: video keeps its 90 kHz dts deltas exactly; audio timestamps are converted to
 * the sample rate and snapped to the nominal 1024-sample frame while the drift stays
 * under 1 ms (so stts is one run for continuous AAC; a real jump is kept). Each track gets
 * an edit list: an empty edit for its delay from the earliest presentation time of all
 * tracks, then its media from its first presentation time (skipping B-frame delay).
 * Not here: fragmented MP4, several sample descriptions (a codec change), payload I/O. */
#include "format/mp4_mux.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

#define IDX_STRIDE 64       /* samples per sparse-index entry */
#define MOVIE_TS 1000       /* mvhd/tkhd/elst timescale */
#define MAC_EPOCH 2082844800 /* seconds from 1904-01-01 to 1970-01-01 */
#define AAC_FRAME 1024
#define FL_AUDIO 1
#define FL_KEY 2

typedef struct smp {
    uint32_t size;
    uint32_t ddts; /* dts minus the previous dts of the same track (0 for its first) */
    int32_t cto;   /* pts - dts, 90 kHz */
} smp;

typedef struct trk {
    sv_track t;
    int usable;
    size_t n;                   /* samples */
    int64_t first_dts, last_dts; /* 90 kHz */
    int64_t min_pts, max_pts;
    uint64_t bytes;
    /* computed by finish */
    uint32_t id, timescale;
    int64_t media_dur;   /* sum of sample durations, timescale units */
    int64_t last_dur;    /* duration of the last sample, timescale units */
    int64_t media_start; /* elst media_time, timescale units */
    int64_t delay;       /* empty edit, MOVIE_TS units */
    int64_t shown;       /* presented duration, MOVIE_TS units */
    uint32_t max_bitrate;
} trk;

struct sv_mp4 {
    trk tr[SV_MAX_TRACKS];
    smp *s;
    uint8_t *fl; /* FL_AUDIO | FL_KEY per sample */
    size_t n, cap;
    uint64_t *idx; /* payload offset of sample k * IDX_STRIDE */
    uint64_t payload, data_off;
    int finished;
    int64_t dur_ms;
    int64_t ctime; /* creation time, seconds since 1904 (0: none) */
};

static int track_usable(const sv_track *t, int i)
{
    if (!t->config || !t->config->len)
        return 0;
    if (i == 0)
        return t->codec == SV_CODEC_H264 || t->codec == SV_CODEC_H265;
    return t->codec == SV_CODEC_AAC && t->sample_rate > 0;
}

/* tracks: borrowed, copied (config references taken). */
sv_mp4 *sv_mp4_new(const sv_track *tracks)
{
    sv_mp4 *m = calloc(1, sizeof *m);
    int any = 0;
    if (!m)
        return NULL;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        if (!track_usable(&tracks[i], i))
            continue;
        sv_track_copy(&m->tr[i].t, &tracks[i]);
        m->tr[i].usable = any = 1;
    }
    if (!any) {
        free(m);
        return NULL;
    }
    return m;
}

void sv_mp4_free(sv_mp4 *m)
{
    if (!m)
        return;
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&m->tr[i].t);
    free(m->s);
    free(m->fl);
    free(m->idx);
    free(m);
}

static int grow(sv_mp4 *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    smp *s = realloc(m->s, cap * sizeof *s);
    if (!s)
        return SV_ENOMEM;
    m->s = s;
    uint8_t *fl = realloc(m->fl, cap);
    if (!fl)
        return SV_ENOMEM;
    m->fl = fl;
    m->cap = cap;
    return 0;
}

int sv_mp4_add_sample(sv_mp4 *m, int track, uint32_t size, int64_t dts, int64_t pts, bool key)
{
    if (m->finished || track < 0 || track >= SV_MAX_TRACKS || !m->tr[track].usable)
        return SV_EINVAL;
    trk *t = &m->tr[track];
    int64_t cto = pts - dts;
    if ((t->n && (dts < t->last_dts || dts - t->last_dts > UINT32_MAX)) || cto > INT32_MAX ||
        cto < INT32_MIN || m->n >= UINT32_MAX)
        return SV_EINVAL;
    if (m->n == m->cap && grow(m) < 0)
        return SV_ENOMEM;
    m->s[m->n] = (smp){size, t->n ? (uint32_t)(dts - t->last_dts) : 0, (int32_t)cto};
    m->fl[m->n] = (uint8_t)(track | (key || track == 1 ? FL_KEY : 0));
    m->n++;
    if (!t->n) {
        t->first_dts = dts;
        t->min_pts = pts;
    }
    if (pts < t->min_pts)
        t->min_pts = pts;
    if (pts > t->max_pts || t->n == 0)
        t->max_pts = pts;
    t->last_dts = dts;
    t->bytes += size;
    t->n++;
    m->payload += size;
    return 0;
}

/* ---- per-track walk: durations in the track timescale ---- */

typedef struct walk {
    const sv_mp4 *m;
    int t;
    size_t i;      /* next global sample to look at */
    size_t k;      /* samples of this track returned so far */
    int64_t dts;   /* 90 kHz dts of the sample returned last */
    int64_t pos;   /* its start in timescale units (audio: snapped) */
    int64_t next_dts, next_pos;
    size_t next_i; /* global index of the following sample of the track, or m->n */
    int64_t last_dur;
} walk;

static int64_t rescale(int64_t v, int64_t num, int64_t den)
{
    return v >= 0 ? (v * num + den / 2) / den : -((-v * num + den / 2) / den);
}

static size_t next_of(const sv_mp4 *m, int t, size_t i)
{
    while (i < m->n && (m->fl[i] & FL_AUDIO) != t)
        i++;
    return i;
}

/* Position of the sample at 90 kHz dts following one at pos (audio snapping). */
static int64_t advance(const walk *w, int64_t pos, int64_t dts)
{
    const trk *t = &w->m->tr[w->t];
    int64_t target = rescale(dts - t->first_dts, t->timescale, SV_TIMEBASE);
    if (w->t == 0)
        return target;
    int64_t d = target - pos, tol = t->timescale / 1000;
    if (d - AAC_FRAME <= tol && AAC_FRAME - d <= tol)
        d = AAC_FRAME;
    return pos + (d < 0 ? 0 : d);
}

static void walk_init(walk *w, const sv_mp4 *m, int t)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    w->t = t;
    w->next_i = next_of(m, t, 0);
    w->next_dts = m->tr[t].first_dts;
    w->last_dur = t == 0 ? 3600 : AAC_FRAME;
}

/* Returns the global index of the track's next sample and its duration in *dur; m->n at
 * the end. */
static size_t walk_next(walk *w, int64_t *dur)
{
    const sv_mp4 *m = w->m;
    size_t i = w->next_i;
    if (i >= m->n)
        return m->n;
    w->dts = w->next_dts;
    w->pos = w->next_pos;
    w->next_i = next_of(m, w->t, i + 1);
    if (w->next_i < m->n) {
        w->next_dts = w->dts + m->s[w->next_i].ddts;
        w->next_pos = advance(w, w->pos, w->next_dts);
        w->last_dur = w->next_pos - w->pos;
    }
    *dur = w->last_dur;
    w->k++;
    return i;
}

/* ---- sample tables of one track ---- */

typedef struct tables {
    sv_bytes stts, ctts, stss, stsz, stco, stsc; /* entry bytes, no box headers */
    uint32_t n_stts, n_ctts, n_stss, n_stco, n_stsc;
    uint32_t run_n, crun_n, chunk_n, last_spc;
    int64_t run_v;
    int32_t crun_v;
    int neg_cto, any_cto;
} tables;

static void tables_free(tables *tb)
{
    sv_bytes *b[] = {&tb->stts, &tb->ctts, &tb->stss, &tb->stsz, &tb->stco, &tb->stsc};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        sv_bytes_free(b[i]);
}

static void flush_runs(tables *tb)
{
    if (tb->run_n) {
        sv_bytes_put_be32(&tb->stts, tb->run_n);
        sv_bytes_put_be32(&tb->stts, (uint32_t)tb->run_v);
        tb->n_stts++;
    }
    if (tb->crun_n) {
        sv_bytes_put_be32(&tb->ctts, tb->crun_n);
        sv_bytes_put_be32(&tb->ctts, (uint32_t)tb->crun_v);
        tb->n_ctts++;
    }
    tb->run_n = tb->crun_n = 0;
}

static void add_timing(tables *tb, int64_t dur, int32_t cto)
{
    if (tb->run_n && dur != tb->run_v) {
        sv_bytes_put_be32(&tb->stts, tb->run_n);
        sv_bytes_put_be32(&tb->stts, (uint32_t)tb->run_v);
        tb->n_stts++;
        tb->run_n = 0;
    }
    tb->run_v = dur;
    tb->run_n++;
    if (tb->crun_n && cto != tb->crun_v) {
        sv_bytes_put_be32(&tb->ctts, tb->crun_n);
        sv_bytes_put_be32(&tb->ctts, (uint32_t)tb->crun_v);
        tb->n_ctts++;
        tb->crun_n = 0;
    }
    tb->crun_v = cto;
    tb->crun_n++;
    tb->any_cto |= cto != 0;
    tb->neg_cto |= cto < 0;
}

static void end_chunk(tables *tb)
{
    if (!tb->chunk_n)
        return;
    if (tb->chunk_n != tb->last_spc) {
        sv_bytes_put_be32(&tb->stsc, tb->n_stco);
        sv_bytes_put_be32(&tb->stsc, tb->chunk_n);
        sv_bytes_put_be32(&tb->stsc, 1);
        tb->n_stsc++;
        tb->last_spc = tb->chunk_n;
    }
    tb->chunk_n = 0;
}

/* Walks track t once: fills tb, the track's media duration and max bitrate. Chunk
 * offsets are base + payload offset. */
static void build_tables(sv_mp4 *m, int t, int use64, uint64_t base, tables *tb)
{
    trk *tr = &m->tr[t];
    walk w;
    int64_t dur, total = 0, sec = -1;
    uint64_t off = 0, sec_bytes = 0, max_bytes = 0;
    size_t gi = 0, i, k = 0;
    walk_init(&w, m, t);
    while ((i = walk_next(&w, &dur)) < m->n) {
        for (; gi < i; gi++)
            off += m->s[gi].size;
        if (i == 0 || (m->fl[i - 1] & FL_AUDIO) != t) {
            end_chunk(tb);
            if (use64)
                sv_bytes_put_be64(&tb->stco, base + off);
            else
                sv_bytes_put_be32(&tb->stco, (uint32_t)(base + off));
            tb->n_stco++;
        }
        tb->chunk_n++;
        k++;
        if (m->fl[i] & FL_KEY) {
            sv_bytes_put_be32(&tb->stss, (uint32_t)k);
            tb->n_stss++;
        }
        sv_bytes_put_be32(&tb->stsz, m->s[i].size);
        add_timing(tb, dur, t == 0 ? m->s[i].cto : 0);
        total += dur;
        if ((w.dts - tr->first_dts) / SV_TIMEBASE != sec) {
            sec = (w.dts - tr->first_dts) / SV_TIMEBASE;
            sec_bytes = 0;
        }
        sec_bytes += m->s[i].size;
        if (sec_bytes > max_bytes)
            max_bytes = sec_bytes;
    }
    end_chunk(tb);
    flush_runs(tb);
    tr->media_dur = total;
    tr->last_dur = w.last_dur;
    tr->max_bitrate = max_bytes * 8 > UINT32_MAX ? UINT32_MAX : (uint32_t)(max_bytes * 8);
}

/* ---- boxes ---- */

static size_t box_open(sv_bytes *b, const char *type)
{
    size_t at = b->len;
    sv_bytes_put_be32(b, 0);
    sv_bytes_put(b, type, 4);
    return at;
}

static size_t full_open(sv_bytes *b, const char *type, uint8_t version, uint32_t flags)
{
    size_t at = box_open(b, type);
    sv_bytes_put_be32(b, (uint32_t)version << 24 | flags);
    return at;
}

static void box_close(sv_bytes *b, size_t at)
{
    if (!b->failed)
        sv_wb32(b->p + at, (uint32_t)(b->len - at));
}

static void put_matrix(sv_bytes *b)
{
    static const uint32_t mx[9] = {0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000};
    for (int i = 0; i < 9; i++)
        sv_bytes_put_be32(b, mx[i]);
}

/* Writes a version 0 or 1 time triple (creation, modification, [ts,] duration). */
static void put_times(sv_bytes *b, int v1, int64_t ctime, int64_t ts, int64_t dur, int with_id,
                      uint32_t id)
{
    if (v1) {
        sv_bytes_put_be64(b, (uint64_t)ctime);
        sv_bytes_put_be64(b, (uint64_t)ctime);
    } else {
        sv_bytes_put_be32(b, (uint32_t)ctime);
        sv_bytes_put_be32(b, (uint32_t)ctime);
    }
    if (with_id) {
        sv_bytes_put_be32(b, id);
        sv_bytes_put_be32(b, 0);
    } else {
        sv_bytes_put_be32(b, (uint32_t)ts);
    }
    if (v1)
        sv_bytes_put_be64(b, (uint64_t)dur);
    else
        sv_bytes_put_be32(b, (uint32_t)dur);
}

static int need_v1(int64_t ctime, int64_t dur) { return ctime > UINT32_MAX || dur > UINT32_MAX; }

static void put_ftyp(const sv_mp4 *m, sv_bytes *b)
{
    size_t at = box_open(b, "ftyp");
    int hevc = m->tr[0].usable && m->tr[0].t.codec == SV_CODEC_H265;
    sv_bytes_put(b, "isom", 4);
    sv_bytes_put_be32(b, 0x200);
    sv_bytes_put(b, "isomiso2", 8);
    if (m->tr[0].usable)
        sv_bytes_put(b, hevc ? "hvc1" : "avc1", 4);
    sv_bytes_put(b, "mp41", 4);
    box_close(b, at);
}

static void put_mvhd(const sv_mp4 *m, sv_bytes *b, int64_t dur, uint32_t next_id)
{
    int v1 = need_v1(m->ctime, dur);
    size_t at = full_open(b, "mvhd", (uint8_t)v1, 0);
    put_times(b, v1, m->ctime, MOVIE_TS, dur, 0, 0);
    sv_bytes_put_be32(b, 0x00010000); /* rate 1.0 */
    sv_bytes_put_be16(b, 0x0100);     /* volume 1.0 */
    sv_bytes_fill(b, 0, 10);
    put_matrix(b);
    sv_bytes_fill(b, 0, 24);
    sv_bytes_put_be32(b, next_id);
    box_close(b, at);
}

static void put_tkhd(const sv_mp4 *m, const trk *t, sv_bytes *b)
{
    int64_t dur = t->delay + t->shown;
    int v1 = need_v1(m->ctime, dur), audio = t->t.type == SV_MEDIA_AUDIO;
    size_t at = full_open(b, "tkhd", (uint8_t)v1, 3); /* enabled | in movie */
    put_times(b, v1, m->ctime, 0, dur, 1, t->id);
    sv_bytes_fill(b, 0, 8);
    sv_bytes_put_be16(b, 0);                        /* layer */
    sv_bytes_put_be16(b, audio ? 1 : 0);            /* alternate group */
    sv_bytes_put_be16(b, audio ? 0x0100 : 0);       /* volume */
    sv_bytes_put_be16(b, 0);
    put_matrix(b);
    sv_bytes_put_be32(b, audio ? 0 : (uint32_t)t->t.width << 16);
    sv_bytes_put_be32(b, audio ? 0 : (uint32_t)t->t.height << 16);
    box_close(b, at);
}

static void put_edts(const trk *t, sv_bytes *b)
{
    int v1 = t->delay > UINT32_MAX || t->shown > UINT32_MAX || t->media_start > INT32_MAX;
    size_t at = box_open(b, "edts"), el = full_open(b, "elst", (uint8_t)v1, 0);
    sv_bytes_put_be32(b, t->delay ? 2 : 1);
    if (t->delay) {
        if (v1) {
            sv_bytes_put_be64(b, (uint64_t)t->delay);
            sv_bytes_put_be64(b, UINT64_MAX); /* media_time -1: empty edit */
        } else {
            sv_bytes_put_be32(b, (uint32_t)t->delay);
            sv_bytes_put_be32(b, UINT32_MAX);
        }
        sv_bytes_put_be32(b, 0x00010000);
    }
    if (v1) {
        sv_bytes_put_be64(b, (uint64_t)t->shown);
        sv_bytes_put_be64(b, (uint64_t)t->media_start);
    } else {
        sv_bytes_put_be32(b, (uint32_t)t->shown);
        sv_bytes_put_be32(b, (uint32_t)t->media_start);
    }
    sv_bytes_put_be32(b, 0x00010000); /* media rate 1.0 */
    box_close(b, el);
    box_close(b, at);
}

static void put_mdhd(const sv_mp4 *m, const trk *t, sv_bytes *b)
{
    int v1 = need_v1(m->ctime, t->media_dur);
    size_t at = full_open(b, "mdhd", (uint8_t)v1, 0);
    put_times(b, v1, m->ctime, t->timescale, t->media_dur, 0, 0);
    sv_bytes_put_be16(b, 0x55c4); /* language "und" */
    sv_bytes_put_be16(b, 0);
    box_close(b, at);
}

static void put_hdlr(sv_bytes *b, const char *type, const char *name)
{
    size_t at = full_open(b, "hdlr", 0, 0);
    sv_bytes_put_be32(b, 0);
    sv_bytes_put(b, type, 4);
    if (memcmp(type, "mdir", 4) == 0)
        sv_bytes_put(b, "appl", 4);
    else
        sv_bytes_put_be32(b, 0);
    sv_bytes_fill(b, 0, 8);
    sv_bytes_put(b, name, strlen(name) + 1);
    box_close(b, at);
}

static void put_visual_entry(const trk *t, sv_bytes *b)
{
    int hevc = t->t.codec == SV_CODEC_H265;
    size_t at = box_open(b, hevc ? "hvc1" : "avc1");
    sv_bytes_fill(b, 0, 6);
    sv_bytes_put_be16(b, 1); /* data_reference_index */
    sv_bytes_fill(b, 0, 16);
    sv_bytes_put_be16(b, (uint16_t)t->t.width);
    sv_bytes_put_be16(b, (uint16_t)t->t.height);
    sv_bytes_put_be32(b, 0x00480000); /* 72 dpi */
    sv_bytes_put_be32(b, 0x00480000);
    sv_bytes_put_be32(b, 0);
    sv_bytes_put_be16(b, 1); /* frame_count */
    sv_bytes_fill(b, 0, 32); /* compressorname */
    sv_bytes_put_be16(b, 0x0018);
    sv_bytes_put_be16(b, 0xffff);
    size_t cfg = box_open(b, hevc ? "hvcC" : "avcC");
    sv_bytes_put(b, t->t.config->data, t->t.config->len);
    box_close(b, cfg);
    box_close(b, at);
}

/* An MPEG-4 descriptor header (tag + 4-byte expandable size). */
static void put_desc(sv_bytes *b, uint8_t tag, size_t len)
{
    sv_bytes_put_u8(b, tag);
    sv_bytes_put_u8(b, (uint8_t)(0x80 | (len >> 21 & 0x7f)));
    sv_bytes_put_u8(b, (uint8_t)(0x80 | (len >> 14 & 0x7f)));
    sv_bytes_put_u8(b, (uint8_t)(0x80 | (len >> 7 & 0x7f)));
    sv_bytes_put_u8(b, (uint8_t)(len & 0x7f));
}

static void put_audio_entry(const trk *t, int64_t dur_ms, sv_bytes *b)
{
    size_t asc = t->t.config->len, at = box_open(b, "mp4a");
    uint32_t avg = dur_ms > 0 ? (uint32_t)(t->bytes * 8000 / (uint64_t)dur_ms) : 0;
    sv_bytes_fill(b, 0, 6);
    sv_bytes_put_be16(b, 1);
    sv_bytes_fill(b, 0, 8);
    sv_bytes_put_be16(b, (uint16_t)(t->t.channels > 0 ? t->t.channels : 2));
    sv_bytes_put_be16(b, 16);
    sv_bytes_put_be32(b, 0);
    sv_bytes_put_be32(b, t->t.sample_rate < 65536 ? (uint32_t)t->t.sample_rate << 16 : 0);
    size_t es = full_open(b, "esds", 0, 0);
    put_desc(b, 0x03, 3 + 5 + 13 + 5 + asc + 5 + 1); /* ES_Descriptor */
    sv_bytes_put_be16(b, (uint16_t)t->id);
    sv_bytes_put_u8(b, 0);
    put_desc(b, 0x04, 13 + 5 + asc); /* DecoderConfigDescriptor */
    sv_bytes_put_u8(b, 0x40);        /* Audio ISO/IEC 14496-3 */
    sv_bytes_put_u8(b, 0x15);        /* audio stream, upstream 0, reserved 1 */
    sv_bytes_put_be24(b, 0);
    sv_bytes_put_be32(b, t->max_bitrate > avg ? t->max_bitrate : avg);
    sv_bytes_put_be32(b, avg);
    put_desc(b, 0x05, asc); /* DecoderSpecificInfo: AudioSpecificConfig */
    sv_bytes_put(b, t->t.config->data, asc);
    put_desc(b, 0x06, 1); /* SLConfigDescriptor, predefined MP4 */
    sv_bytes_put_u8(b, 0x02);
    box_close(b, es);
    box_close(b, at);
}

static void put_table(sv_bytes *b, const char *type, uint8_t version, uint32_t n,
                      const sv_bytes *entries)
{
    size_t at = full_open(b, type, version, 0);
    sv_bytes_put_be32(b, n);
    sv_bytes_put(b, entries->p, entries->len);
    box_close(b, at);
}

static void put_stbl(const sv_mp4 *m, const trk *t, tables *tb, int use64, sv_bytes *b)
{
    size_t at = box_open(b, "stbl"), sd = full_open(b, "stsd", 0, 0);
    sv_bytes_put_be32(b, 1);
    if (t->t.type == SV_MEDIA_VIDEO)
        put_visual_entry(t, b);
    else
        put_audio_entry(t, m->dur_ms, b);
    box_close(b, sd);
    put_table(b, "stts", 0, tb->n_stts, &tb->stts);
    if (tb->any_cto)
        put_table(b, "ctts", tb->neg_cto ? 1 : 0, tb->n_ctts, &tb->ctts);
    if (tb->n_stss != t->n)
        put_table(b, "stss", 0, tb->n_stss, &tb->stss);
    put_table(b, "stsc", 0, tb->n_stsc, &tb->stsc);
    size_t sz = full_open(b, "stsz", 0, 0);
    sv_bytes_put_be32(b, 0); /* sample_size 0: a table follows */
    sv_bytes_put_be32(b, (uint32_t)t->n);
    sv_bytes_put(b, tb->stsz.p, tb->stsz.len);
    box_close(b, sz);
    put_table(b, use64 ? "co64" : "stco", 0, tb->n_stco, &tb->stco);
    box_close(b, at);
}

static void put_minf(const sv_mp4 *m, const trk *t, tables *tb, int use64, sv_bytes *b)
{
    size_t at = box_open(b, "minf");
    if (t->t.type == SV_MEDIA_VIDEO) {
        size_t vm = full_open(b, "vmhd", 0, 1);
        sv_bytes_fill(b, 0, 8);
        box_close(b, vm);
    } else {
        size_t sm = full_open(b, "smhd", 0, 0);
        sv_bytes_put_be32(b, 0);
        box_close(b, sm);
    }
    size_t di = box_open(b, "dinf"), dr = full_open(b, "dref", 0, 0);
    sv_bytes_put_be32(b, 1);
    size_t url = full_open(b, "url ", 0, 1); /* media in this file */
    box_close(b, url);
    box_close(b, dr);
    box_close(b, di);
    put_stbl(m, t, tb, use64, b);
    box_close(b, at);
}

static void put_trak(const sv_mp4 *m, const trk *t, tables *tb, int use64, sv_bytes *b)
{
    int video = t->t.type == SV_MEDIA_VIDEO;
    size_t at = box_open(b, "trak");
    put_tkhd(m, t, b);
    put_edts(t, b);
    size_t md = box_open(b, "mdia");
    put_mdhd(m, t, b);
    put_hdlr(b, video ? "vide" : "soun", video ? "VideoHandler" : "SoundHandler");
    put_minf(m, t, tb, use64, b);
    box_close(b, md);
    box_close(b, at);
}

/* One ilst item: ©xxx / data (type 1 = UTF-8). */
static void put_item(sv_bytes *b, const char *type, const char *text)
{
    size_t at = box_open(b, type), d = box_open(b, "data");
    sv_bytes_put_be32(b, 1);
    sv_bytes_put_be32(b, 0);
    sv_bytes_put(b, text, strlen(text));
    box_close(b, d);
    box_close(b, at);
}

static void put_udta(const sv_mp4_meta *meta, sv_bytes *b)
{
    char day[32] = "";
    if (meta->creation_utc_ms > 0) {
        time_t s = (time_t)(meta->creation_utc_ms / 1000);
        struct tm tm;
        if (gmtime_r(&s, &tm))
            strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    size_t at = box_open(b, "udta"), me = full_open(b, "meta", 0, 0);
    put_hdlr(b, "mdir", "");
    size_t il = box_open(b, "ilst");
    if (meta->title)
        put_item(b, "\xa9nam", meta->title);
    if (meta->comment)
        put_item(b, "\xa9" "cmt", meta->comment);
    if (day[0])
        put_item(b, "\xa9" "day", day);
    box_close(b, il);
    box_close(b, me);
    box_close(b, at);
}

/* ---- finish ---- */

static int tables_failed(const tables *tb)
{
    return tb->stts.failed || tb->ctts.failed || tb->stss.failed || tb->stsz.failed ||
           tb->stco.failed || tb->stsc.failed;
}

/* Edit lists and ids, once every track's media duration is known. */
static void compute_edits(sv_mp4 *m)
{
    int64_t t0 = INT64_MAX;
    uint32_t id = 1;
    m->dur_ms = 0;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        trk *t = &m->tr[i];
        if (t->n && (i == 0 ? t->min_pts : t->first_dts) < t0)
            t0 = i == 0 ? t->min_pts : t->first_dts;
    }
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        trk *t = &m->tr[i];
        if (!t->n)
            continue;
        int64_t start = i == 0 ? t->min_pts : t->first_dts;
        t->id = id++;
        t->media_start = rescale(start - t->first_dts, t->timescale, SV_TIMEBASE);
        if (t->media_start < 0)
            t->media_start = 0;
        t->delay = rescale(start - t0, MOVIE_TS, SV_TIMEBASE);
        /* presentation ends with the latest pts (B-frames: after the last dts) */
        int64_t end = rescale(t->max_pts - t->first_dts, t->timescale, SV_TIMEBASE) + t->last_dur;
        if (end < t->media_dur)
            end = t->media_dur;
        t->shown = rescale(end - t->media_start, MOVIE_TS, t->timescale);
        if (t->shown < 0)
            t->shown = 0;
        if (t->delay + t->shown > m->dur_ms)
            m->dur_ms = t->delay + t->shown;
    }
}

static int build_moov(sv_mp4 *m, const sv_mp4_meta *meta, int use64, uint64_t base,
                      sv_bytes *b)
{
    tables tb[SV_MAX_TRACKS];
    int rc = SV_ENOMEM, ntracks = 0;
    memset(tb, 0, sizeof tb);
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        if (!m->tr[i].n)
            continue;
        m->tr[i].timescale = i == 0 ? SV_TIMEBASE : (uint32_t)m->tr[i].t.sample_rate;
        build_tables(m, i, use64, base, &tb[i]);
        if (tables_failed(&tb[i]))
            goto fail;
        ntracks++;
    }
    compute_edits(m);
    size_t at = box_open(b, "moov");
    put_mvhd(m, b, m->dur_ms, (uint32_t)ntracks + 1);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (m->tr[i].n)
            put_trak(m, &m->tr[i], &tb[i], use64, b);
    if (meta)
        put_udta(meta, b);
    box_close(b, at);
    rc = b->failed ? SV_ENOMEM : 0;
fail:
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        tables_free(&tb[i]);
    return rc;
}

static int build_index(sv_mp4 *m)
{
    size_t n = (m->n + IDX_STRIDE - 1) / IDX_STRIDE;
    uint64_t off = 0;
    m->idx = malloc(n * sizeof *m->idx);
    if (!m->idx)
        return SV_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        if (i % IDX_STRIDE == 0)
            m->idx[i / IDX_STRIDE] = off;
        off += m->s[i].size;
    }
    return 0;
}

static size_t mdat_header_len(uint64_t payload) { return payload + 8 > UINT32_MAX ? 16 : 8; }

/* meta: borrowed for the call. out: caller-owned builder, appended to. */
int sv_mp4_finish(sv_mp4 *m, const sv_mp4_meta *meta, sv_bytes *out, uint64_t *total)
{
    sv_bytes ftyp, moov;
    int rc, use64 = 0;
    size_t mdat_hdr = mdat_header_len(m->payload);
    if (m->finished || !m->n)
        return SV_EINVAL;
    sv_bytes_init(&ftyp);
    sv_bytes_init(&moov);
    m->ctime = meta && meta->creation_utc_ms > 0 ? meta->creation_utc_ms / 1000 + MAC_EPOCH : 0;
    if ((rc = build_index(m)) < 0)
        goto fail;
    put_ftyp(m, &ftyp);
    for (;;) { /* measure the moov; switch to co64 if the file passes 4 GiB */
        sv_bytes_reset(&moov);
        if ((rc = build_moov(m, meta, use64, 0, &moov)) < 0)
            goto fail;
        m->data_off = ftyp.len + moov.len + mdat_hdr;
        if (use64 || m->data_off + m->payload <= UINT32_MAX)
            break;
        use64 = 1;
    }
    sv_bytes_reset(&moov);
    if ((rc = build_moov(m, meta, use64, m->data_off, &moov)) < 0)
        goto fail;
    sv_bytes_put(out, ftyp.p, ftyp.len);
    sv_bytes_put(out, moov.p, moov.len);
    if (mdat_hdr == 16) {
        sv_bytes_put_be32(out, 1);
        sv_bytes_put(out, "mdat", 4);
        sv_bytes_put_be64(out, m->payload + 16);
    } else {
        sv_bytes_put_be32(out, (uint32_t)(m->payload + 8));
        sv_bytes_put(out, "mdat", 4);
    }
    rc = SV_ENOMEM;
    if (out->failed || ftyp.failed)
        goto fail;
    m->finished = 1;
    *total = m->data_off + m->payload;
    rc = 0;
fail:
    sv_bytes_free(&ftyp);
    sv_bytes_free(&moov);
    return rc;
}

int sv_mp4_locate(const sv_mp4 *m, uint64_t off, size_t *sample, uint64_t *sample_off)
{
    if (!m->finished || off < m->data_off || off - m->data_off >= m->payload)
        return SV_EINVAL;
    uint64_t rel = off - m->data_off;
    size_t lo = 0, hi = (m->n + IDX_STRIDE - 1) / IDX_STRIDE; /* idx[lo] <= rel */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->idx[mid] <= rel)
            lo = mid;
        else
            hi = mid;
    }
    size_t i = lo * IDX_STRIDE;
    uint64_t o = m->idx[lo];
    while (i < m->n && rel >= o + m->s[i].size)
        o += m->s[i++].size;
    if (i >= m->n)
        return SV_EINVAL;
    *sample = i;
    *sample_off = m->data_off + o;
    return 0;
}

size_t sv_mp4_sample_count(const sv_mp4 *m) { return m->n; }

int64_t sv_mp4_duration_ms(const sv_mp4 *m) { return m->dur_ms; }

int sv_mp4_sample(const sv_mp4 *m, size_t i, int *track, uint32_t *size)
{
    if (i >= m->n)
        return SV_EINVAL;
    *track = m->fl[i] & FL_AUDIO;
    *size = m->s[i].size;
    return 0;
}

uint64_t sv_mp4_data_offset(const sv_mp4 *m) { return m->data_off; }
