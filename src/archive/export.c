/* Archive export engine. See export.h for the contract and
 * docs/internals/archive-export.md for the design.
 *
 * How (MP4): the planner demuxes one segment at a time with a fresh sv_ts_demux (every
 * segment starts with PAT/PMT and a keyframe with parameter sets), keeping only frame
 * metadata for that segment. It then picks the frames inside the window, decides the
 * segment's timestamp offset (contiguous run: original spacing, 33-bit wrap unwrapped;
 * gap or timestamp reset: the segment follows the previous output end) and appends the
 * samples to an sv_mp4 together with their frame ordinal in the segment. The reader
 * locates the first sample of a byte range (sv_mp4_locate), re-demuxes from the start of
 * its segment and copies the payloads of the wanted ordinals, checking that each frame
 * still has the planned track and size. TS: whole files, concatenated with pread.
 * Not here: catalog access, HTTP, job queues, thumbnails. */
#include "archive/export.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "format/ts_demux.h"

#define READ_CHUNK (256u << 10)   /* bytes fed to the demuxer per read */
#define WRITE_CHUNK (1u << 20)    /* bytes per write() in sv_export_to_file */
#define SYNC_EVERY (8u << 20)     /* start writeback of every 8 MiB written, so the final
                                   * fsync waits for little: disk I/O overlaps the demux */
#define CONTIG_MS 100             /* segments closer than this form one run */
#define RESET_MS 1000             /* dts vs wall-clock disagreement meaning a reset */
#define WRAP ((int64_t)1 << 33)
#define AUDIO_SLACK 1000          /* 90 kHz: audio this close before the key is kept */

typedef struct seg_info {
    char *path;
    int64_t start_ms, duration_ms;
    uint64_t bytes;        /* TS: file size at plan time; MP4: unused */
    uint64_t out_off;      /* TS: offset of the file in the output */
    uint32_t first_sample; /* MP4: first output sample taken from this segment */
} seg_info;

struct sv_export_plan {
    sv_export_format fmt;
    seg_info *segs; /* the segments the output uses, in order */
    size_t nsegs;
    sv_mp4 *mp4;
    sv_bytes header;   /* MP4: ftyp + moov + mdat header */
    uint32_t *ordinal; /* MP4: per sample, its frame ordinal within its segment */
    size_t nord, cap_ord;
    uint64_t total;
    int64_t first_utc, dur_ms;
};

static int cancelled(const atomic_int *c)
{
    return c && atomic_load_explicit(c, memory_order_relaxed);
}

void sv_export_plan_free(sv_export_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsegs; i++)
        free(p->segs[i].path);
    free(p->segs);
    sv_mp4_free(p->mp4);
    sv_bytes_free(&p->header);
    free(p->ordinal);
    free(p);
}

uint64_t sv_export_size(const sv_export_plan *p) { return p->total; }
int64_t sv_export_first_utc_ms(const sv_export_plan *p) { return p->first_utc; }
int64_t sv_export_duration_ms(const sv_export_plan *p) { return p->dur_ms; }
size_t sv_export_sample_count(const sv_export_plan *p) { return p->nord; }

const char *sv_export_content_type(const sv_export_plan *p)
{
    return p->fmt == SV_EXPORT_MP4 ? "video/mp4" : "video/mp2t";
}

static int add_seg(sv_export_plan *p, const sv_export_seg *s)
{
    seg_info *v = realloc(p->segs, (p->nsegs + 1) * sizeof *v);
    if (!v)
        return SV_ENOMEM;
    p->segs = v;
    memset(&v[p->nsegs], 0, sizeof v[0]);
    v[p->nsegs].path = strdup(s->path);
    if (!v[p->nsegs].path)
        return SV_ENOMEM;
    v[p->nsegs].start_ms = s->start_ms;
    v[p->nsegs].duration_ms = s->duration_ms;
    p->nsegs++;
    return 0;
}

/* ---- TS plan: whole files ---- */

static int plan_ts(sv_export_plan *p, const sv_export_seg *segs, size_t n, int64_t from,
                   int64_t to)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (segs[i].start_ms >= to || segs[i].start_ms + segs[i].duration_ms <= from)
            continue;
        if (stat(segs[i].path, &st) < 0) {
            sv_warn(NULL, "export: %s: %s", segs[i].path, strerror(errno));
            return errno == ENOENT ? SV_ENOTFOUND : SV_EIO;
        }
        int rc = add_seg(p, &segs[i]);
        if (rc < 0)
            return rc;
        seg_info *s = &p->segs[p->nsegs - 1];
        s->bytes = (uint64_t)st.st_size;
        s->out_off = p->total;
        p->total += s->bytes;
        p->dur_ms += s->duration_ms;
    }
    if (!p->nsegs || !p->total)
        return SV_ENOTFOUND;
    p->first_utc = p->segs[0].start_ms;
    return 0;
}

/* ---- MP4 plan, pass 1 ---- */

typedef struct pframe {
    int64_t dts, pts; /* raw (unwrapped within the segment), 90 kHz */
    uint32_t size, ordinal;
    uint8_t track, key, take;
} pframe;

typedef struct planner {
    sv_export_plan *p;
    int64_t from, to;
    const sv_export_seg *seg;
    /* current segment */
    pframe *f;
    size_t n, cap;
    uint32_t ordinal;
    int have_ref, stop, codec_change;
    int64_t ref; /* the segment's first dts */
    /* whole output */
    sv_track tracks[SV_MAX_TRACKS];
    int have_tracks, started, video_done, done;
    int64_t start_pts; /* raw pts of the start keyframe (in its segment) */
    int64_t last_dts[SV_MAX_TRACKS], last_dur[SV_MAX_TRACKS]; /* output timeline */
    int have_last[SV_MAX_TRACKS];
    int have_prev;
    int64_t prev_ref, prev_ref_out, prev_start_ms, prev_end_ms;
} planner;

static int64_t utc_of(const planner *pl, int64_t ts)
{
    return pl->seg->start_ms + (ts - pl->ref) / 90;
}

static void plan_on_tracks(void *ctx, const sv_track *t)
{
    planner *pl = ctx;
    if (!pl->have_tracks) {
        for (int i = 0; i < SV_MAX_TRACKS; i++)
            sv_track_copy(&pl->tracks[i], &t[i]);
        pl->have_tracks = 1;
        return;
    }
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (t[i].codec != pl->tracks[i].codec)
            pl->codec_change = 1; /* same codec, new parameters: in-band, keep going */
}

static int plan_on_frame(void *ctx, sv_frame *fr)
{
    planner *pl = ctx;
    if (pl->codec_change) {
        pl->done = 1;
        return 1;
    }
    if (!pl->have_ref) {
        pl->have_ref = 1;
        pl->ref = fr->dts;
    }
    if (utc_of(pl, fr->dts) >= pl->to + RESET_MS) {
        pl->stop = 1; /* nothing later in this file is needed */
        return 1;
    }
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 512;
        pframe *v = realloc(pl->f, cap * sizeof *v);
        if (!v)
            return SV_ENOMEM;
        pl->f = v;
        pl->cap = cap;
    }
    pl->f[pl->n++] = (pframe){fr->dts, fr->pts, (uint32_t)fr->len, pl->ordinal,
                              fr->track, fr->key, 0};
    pl->ordinal++;
    return 0;
}

/* Demuxes the file at path (borrowed) through cb, reading into buf (READ_CHUNK bytes),
 * until its end or a callback's stop. Returns 0 or SV_E*. */
static int demux_file(const char *path, const sv_ts_demux_cb *cb, uint8_t *buf)
{
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    sv_ts_demux *d = NULL;
    if (fd < 0) {
        sv_warn(NULL, "export: %s: %s", path, strerror(errno));
        return errno == ENOENT ? SV_ENOTFOUND : SV_EIO;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!(d = sv_ts_demux_new(cb))) {
        rc = SV_ENOMEM;
        goto fail;
    }
    for (;;) {
        ssize_t k = read(fd, buf, READ_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = SV_EIO;
            goto fail;
        }
        rc = k ? sv_ts_demux_feed(d, buf, (size_t)k) : sv_ts_demux_flush(d);
        if (rc != 0 || k == 0) /* > 0: a callback stopped the demuxer */
            break;
    }
    rc = rc < 0 ? rc : 0;
fail:
    sv_ts_demux_free(d);
    close(fd);
    return rc;
}

static int usable(const planner *pl, int t)
{
    const sv_track *k = &pl->tracks[t];
    return k->config && (t == 0 ? k->codec == SV_CODEC_H264 || k->codec == SV_CODEC_H265
                                : k->codec == SV_CODEC_AAC);
}

/* In the segment that opens the output: the start frame, or -1 if it has none. */
static ssize_t find_start(planner *pl)
{
    int vt = usable(pl, 0) ? 0 : 1;
    ssize_t key = -1, first = -1;
    for (size_t i = 0; i < pl->n; i++) {
        const pframe *f = &pl->f[i];
        if (f->track != vt || !f->key)
            continue;
        if (first < 0)
            first = (ssize_t)i;
        if (utc_of(pl, f->dts) <= pl->from)
            key = (ssize_t)i;
    }
    return key >= 0 ? key : first;
}

/* Marks the frames of the current segment that go to the output; returns their count. */
static size_t select_frames(planner *pl)
{
    ssize_t key = -1;
    size_t taken = 0;
    if (!pl->started) {
        if (!usable(pl, 0) && !usable(pl, 1))
            return 0;
        if ((key = find_start(pl)) < 0)
            return 0;
        pl->started = 1;
        pl->start_pts = pl->f[key].pts;
        pl->p->first_utc = utc_of(pl, pl->f[key].dts);
    }
    for (size_t i = 0; i < pl->n; i++) {
        pframe *f = &pl->f[i];
        if (!usable(pl, f->track))
            continue;
        if (f->track == 0) {
            if (!pl->video_done && utc_of(pl, f->dts) >= pl->to)
                pl->video_done = 1;
            f->take = !pl->video_done && (ssize_t)i >= key;
        } else {
            f->take = utc_of(pl, f->pts) < pl->to &&
                      (key < 0 || f->pts >= pl->start_pts - AUDIO_SLACK);
        }
        taken += f->take;
    }
    return taken;
}

static int64_t wrapdiff(int64_t d)
{
    d &= WRAP - 1;
    return d >= WRAP / 2 ? d - WRAP : d;
}

/* Offset from the segment's raw timestamps to the output timeline. */
static int64_t seg_offset(const planner *pl)
{
    int64_t mind[SV_MAX_TRACKS] = {INT64_MAX, INT64_MAX}, segmin = INT64_MAX, end = INT64_MIN;
    for (size_t i = 0; i < pl->n; i++)
        if (pl->f[i].take && pl->f[i].dts < mind[pl->f[i].track])
            mind[pl->f[i].track] = pl->f[i].dts;
    for (int t = 0; t < SV_MAX_TRACKS; t++) {
        segmin = mind[t] < segmin ? mind[t] : segmin;
        if (pl->have_last[t] && pl->last_dts[t] + pl->last_dur[t] > end)
            end = pl->last_dts[t] + pl->last_dur[t];
    }
    if (!pl->have_prev)
        return 0;
    int64_t delta = wrapdiff(pl->ref - pl->prev_ref), off = pl->prev_ref_out + delta - pl->ref;
    int contiguous = llabs(pl->seg->start_ms - pl->prev_end_ms) <= CONTIG_MS &&
                     llabs(delta / 90 - (pl->seg->start_ms - pl->prev_start_ms)) <= RESET_MS;
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        if (pl->have_last[t] && mind[t] != INT64_MAX && mind[t] + off <= pl->last_dts[t])
            contiguous = 0;
    if (contiguous || end == INT64_MIN || segmin == INT64_MAX)
        return off;
    /* gap (or timestamp reset): collapse it; video plays on frame after frame, audio
     * overlapping the seam is dropped by commit() */
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        if (pl->have_last[t] && mind[t] != INT64_MAX)
            return pl->last_dts[t] + pl->last_dur[t] - mind[t];
    return end - segmin;
}

static int push_ordinal(sv_export_plan *p, uint32_t ord)
{
    if (p->nord == p->cap_ord) {
        size_t cap = p->cap_ord ? p->cap_ord * 2 : 1024;
        uint32_t *v = realloc(p->ordinal, cap * sizeof *v);
        if (!v)
            return SV_ENOMEM;
        p->ordinal = v;
        p->cap_ord = cap;
    }
    p->ordinal[p->nord++] = ord;
    return 0;
}

/* Appends the taken frames of the current segment to the MP4 sample table. */
static int commit(planner *pl, int64_t off)
{
    sv_export_plan *p = pl->p;
    int rc;
    if (!p->mp4 && !(p->mp4 = sv_mp4_new(pl->tracks)))
        return SV_ENOMEM;
    if ((rc = add_seg(p, &(sv_export_seg){pl->seg->path, pl->seg->start_ms,
                                          pl->seg->duration_ms})) < 0)
        return rc;
    p->segs[p->nsegs - 1].first_sample = (uint32_t)p->nord;
    for (size_t i = 0; i < pl->n; i++) {
        const pframe *f = &pl->f[i];
        if (!f->take)
            continue;
        int t = f->track;
        if (t == 1 && pl->have_last[1] && f->dts + off < pl->last_dts[1] + pl->last_dur[1] / 2)
            continue; /* audio overlapping the previous run after a collapsed gap */
        if ((rc = sv_mp4_add_sample(p->mp4, t, f->size, f->dts + off, f->pts + off, f->key)) < 0 ||
            (rc = push_ordinal(p, f->ordinal)) < 0)
            return rc;
        if (pl->have_last[t])
            pl->last_dur[t] = f->dts + off - pl->last_dts[t];
        pl->last_dts[t] = f->dts + off;
        pl->have_last[t] = 1;
    }
    return 0;
}

/* Pass 1 over one segment: demux, select, place on the output timeline, append. */
static int plan_segment(planner *pl, const sv_export_seg *seg, uint8_t *buf)
{
    sv_ts_demux_cb cb = {plan_on_tracks, plan_on_frame, pl};
    pl->seg = seg;
    pl->n = 0;
    pl->ordinal = 0;
    pl->have_ref = pl->stop = 0;
    int rc = demux_file(seg->path, &cb, buf);
    if (rc < 0 || !pl->have_ref)
        return rc;
    if (select_frames(pl)) {
        int64_t off = seg_offset(pl);
        if ((rc = commit(pl, off)) < 0)
            return rc;
        pl->prev_ref_out = pl->ref + off;
    } else {
        pl->prev_ref_out = pl->ref + (pl->have_prev ? wrapdiff(pl->ref - pl->prev_ref) : 0);
    }
    pl->have_prev = 1;
    pl->prev_ref = pl->ref;
    pl->prev_start_ms = seg->start_ms;
    pl->prev_end_ms = seg->start_ms + seg->duration_ms;
    return 0;
}

static int plan_mp4(sv_export_plan *p, const sv_export_seg *segs, size_t n, int64_t from,
                    int64_t to, const sv_mp4_meta *meta, const atomic_int *cancel)
{
    planner pl;
    int rc = SV_ENOMEM;
    uint8_t *buf = malloc(READ_CHUNK);
    memset(&pl, 0, sizeof pl);
    pl.p = p;
    pl.from = from;
    pl.to = to;
    pl.last_dur[0] = 3600;
    pl.last_dur[1] = 2048;
    if (!buf)
        goto fail;
    for (size_t i = 0; i < n && !pl.done; i++) {
        if (segs[i].start_ms >= to || segs[i].start_ms + segs[i].duration_ms <= from)
            continue;
        rc = SV_ECLOSED;
        if (cancelled(cancel) || (rc = plan_segment(&pl, &segs[i], buf)) < 0)
            goto fail;
    }
    rc = SV_ENOTFOUND;
    if (!p->nord)
        goto fail;
    if ((rc = sv_mp4_finish(p->mp4, meta, &p->header, &p->total)) < 0)
        goto fail;
    p->dur_ms = sv_mp4_duration_ms(p->mp4);
    rc = 0;
fail:
    for (int t = 0; t < SV_MAX_TRACKS; t++)
        sv_track_clear(&pl.tracks[t]);
    free(pl.f);
    free(buf);
    return rc;
}

/* segs, meta and cancel: borrowed for the call. */
int sv_export_plan_new(const sv_export_seg *segs, size_t nsegs, int64_t from_ms, int64_t to_ms,
                       int64_t max_window_ms, sv_export_format fmt, const sv_mp4_meta *meta,
                       const atomic_int *cancel, sv_export_plan **out)
{
    sv_export_plan *p;
    int rc;
    if (!out || (!segs && nsegs) || from_ms < 0 || from_ms >= to_ms || max_window_ms < 0 ||
        (fmt != SV_EXPORT_MP4 && fmt != SV_EXPORT_TS))
        return SV_EINVAL;
    for (size_t i = 0; i < nsegs; i++)
        if (!segs[i].path || segs[i].duration_ms < 0)
            return SV_EINVAL;
    if (max_window_ms && to_ms - from_ms > max_window_ms)
        return SV_ETOOBIG;
    if (!(p = calloc(1, sizeof *p)))
        return SV_ENOMEM;
    p->fmt = fmt;
    sv_bytes_init(&p->header);
    rc = fmt == SV_EXPORT_TS ? plan_ts(p, segs, nsegs, from_ms, to_ms)
                             : plan_mp4(p, segs, nsegs, from_ms, to_ms, meta, cancel);
    if (rc < 0) {
        sv_export_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- reader, pass 2 ---- */

struct sv_export_reader {
    const sv_export_plan *p;
    const atomic_int *cancel;
    uint64_t pos, end;
    uint8_t *buf;        /* READ_CHUNK bytes of the open file */
    int fd;              /* open segment, -1 none */
    size_t seg;          /* its index in p->segs */
    sv_ts_demux *dmx;    /* MP4: its demuxer */
    uint32_t ordinal;    /* MP4: ordinal of the next frame the demuxer delivers */
    size_t want;         /* MP4: next sample to queue */
    size_t seg_end;      /* MP4: first sample past the open segment */
    sv_frame **q;        /* MP4: wanted frames in file order, q[qh..qn) */
    size_t qh, qn, qcap;
    uint64_t skip;       /* bytes of q[qh] already returned */
    int err;
};

static size_t seg_of_sample(const sv_export_plan *p, size_t s)
{
    size_t lo = 0, hi = p->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid].first_sample <= s)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static size_t seg_of_offset(const sv_export_plan *p, uint64_t off)
{
    size_t lo = 0, hi = p->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid].out_off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static void close_seg(sv_export_reader *r)
{
    sv_ts_demux_free(r->dmx);
    r->dmx = NULL;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

void sv_export_reader_free(sv_export_reader *r)
{
    if (!r)
        return;
    close_seg(r);
    for (size_t i = r->qh; i < r->qn; i++)
        sv_frame_unref(r->q[i]);
    free(r->q);
    free(r->buf);
    free(r);
}

/* p and cancel: borrowed, must outlive the reader. */
int sv_export_reader_new(const sv_export_plan *p, uint64_t off, uint64_t len,
                         const atomic_int *cancel, sv_export_reader **out)
{
    sv_export_reader *r;
    if (!p || !out || off >= p->total)
        return SV_EINVAL;
    if (!(r = calloc(1, sizeof *r)) || !(r->buf = malloc(READ_CHUNK))) {
        free(r);
        return SV_ENOMEM;
    }
    r->p = p;
    r->cancel = cancel;
    r->fd = -1;
    r->pos = off;
    r->end = len > p->total - off ? p->total : off + len;
    if (p->fmt == SV_EXPORT_MP4 && off >= p->header.len) {
        uint64_t so;
        if (sv_mp4_locate(p->mp4, off, &r->want, &so) < 0) {
            sv_export_reader_free(r);
            return SV_EINVAL;
        }
        r->skip = off - so;
    }
    *out = r;
    return 0;
}

static int rd_on_frame(void *ctx, sv_frame *f)
{
    sv_export_reader *r = ctx;
    uint32_t ord = r->ordinal++, size;
    int track;
    if (r->want >= r->seg_end || ord < r->p->ordinal[r->want])
        return 0;
    if (ord > r->p->ordinal[r->want] || sv_mp4_sample(r->p->mp4, r->want, &track, &size) < 0 ||
        track != f->track || size != f->len) {
        sv_warn(NULL, "export: %s changed since the export was planned",
                r->p->segs[r->seg].path);
        r->err = SV_EIO;
        return 1;
    }
    if (r->qn == r->qcap) {
        if (r->qh) { /* compact */
            memmove(r->q, r->q + r->qh, (r->qn - r->qh) * sizeof *r->q);
            r->qn -= r->qh;
            r->qh = 0;
        } else {
            size_t cap = r->qcap ? r->qcap * 2 : 64;
            sv_frame **v = realloc(r->q, cap * sizeof *v);
            if (!v)
                return SV_ENOMEM;
            r->q = v;
            r->qcap = cap;
        }
    }
    r->q[r->qn++] = sv_frame_ref(f);
    r->want++;
    return 0;
}

static int open_seg(sv_export_reader *r, size_t seg)
{
    r->seg = seg;
    r->fd = open(r->p->segs[seg].path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        sv_warn(NULL, "export: %s: %s", r->p->segs[seg].path, strerror(errno));
        return errno == ENOENT ? SV_ENOTFOUND : SV_EIO;
    }
    posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* MP4: demuxes until the queue holds a wanted frame. */
static int fill(sv_export_reader *r)
{
    const sv_export_plan *p = r->p;
    while (r->qh == r->qn) {
        int rc;
        if (r->err)
            return r->err;
        if (r->fd < 0) {
            sv_ts_demux_cb cb = {NULL, rd_on_frame, r};
            if (r->want >= p->nord)
                return SV_EIO;
            size_t s = seg_of_sample(p, r->want);
            if ((rc = open_seg(r, s)) < 0)
                return rc;
            if (!(r->dmx = sv_ts_demux_new(&cb)))
                return SV_ENOMEM;
            r->ordinal = 0;
            r->want = p->segs[s].first_sample > r->want ? p->segs[s].first_sample : r->want;
            r->seg_end = s + 1 < p->nsegs ? p->segs[s + 1].first_sample : p->nord;
        }
        ssize_t k = read(r->fd, r->buf, READ_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return SV_EIO;
        rc = k ? sv_ts_demux_feed(r->dmx, r->buf, (size_t)k) : sv_ts_demux_flush(r->dmx);
        if (rc < 0)
            return rc;
        if (r->err)
            return r->err;
        if (k == 0 && r->want < r->seg_end) {
            sv_warn(NULL, "export: %s is shorter than planned", p->segs[r->seg].path);
            return SV_EIO;
        }
        if (k == 0 || r->want >= r->seg_end)
            close_seg(r); /* the rest of this file is not needed */
    }
    return 0;
}

static ssize_t read_mp4(sv_export_reader *r, uint8_t *buf, size_t max)
{
    const sv_bytes *h = &r->p->header;
    if (r->pos < h->len) {
        size_t k = h->len - r->pos < max ? (size_t)(h->len - r->pos) : max;
        memcpy(buf, h->p + r->pos, k);
        return (ssize_t)k;
    }
    int rc = fill(r);
    if (rc < 0)
        return rc;
    sv_frame *f = r->q[r->qh];
    size_t k = f->len - r->skip < max ? (size_t)(f->len - r->skip) : max;
    memcpy(buf, f->data + r->skip, k);
    r->skip += k;
    if (r->skip == f->len) {
        sv_frame_unref(f);
        r->qh++;
        r->skip = 0;
    }
    return (ssize_t)k;
}

static ssize_t read_ts(sv_export_reader *r, uint8_t *buf, size_t max)
{
    size_t s = seg_of_offset(r->p, r->pos);
    const seg_info *si = &r->p->segs[s];
    int rc;
    if (r->fd >= 0 && r->seg != s)
        close_seg(r);
    if (r->fd < 0 && (rc = open_seg(r, s)) < 0)
        return rc;
    uint64_t in = r->pos - si->out_off, left = si->bytes - in;
    ssize_t k = pread(r->fd, buf, left < max ? (size_t)left : max, (off_t)in);
    if (k < 0 && errno == EINTR)
        return 0;
    if (k <= 0) {
        sv_warn(NULL, "export: %s is shorter than planned", si->path);
        return SV_EIO;
    }
    return k;
}

/* buf: caller-owned, max bytes. */
ssize_t sv_export_read(sv_export_reader *r, uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (n < max && r->pos < r->end) {
        if (cancelled(r->cancel))
            return SV_ECLOSED;
        size_t room = r->end - r->pos < max - n ? (size_t)(r->end - r->pos) : max - n;
        ssize_t k = r->p->fmt == SV_EXPORT_MP4 ? read_mp4(r, buf + n, room)
                                                : read_ts(r, buf + n, room);
        if (k < 0)
            return k;
        n += (size_t)k;
        r->pos += (uint64_t)k;
    }
    return (ssize_t)n;
}

/* ---- whole file ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno == ENOSPC || errno == EDQUOT ? SV_ENOSPC : SV_EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Renames tmp to path; without overwrite, atomically refuses an existing path. */
static int publish(const char *tmp, const char *path, int overwrite)
{
    if (overwrite)
        return rename(tmp, path) == 0 ? 0 : SV_EIO;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EEXIST)
        return SV_EEXIST;
    if (errno != EINVAL && errno != ENOSYS)
        return SV_EIO;
    if (link(tmp, path) < 0) /* file system without RENAME_NOREPLACE */
        return errno == EEXIST ? SV_EEXIST : SV_EIO;
    unlink(tmp);
    return 0;
}

static void fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Copies the whole planned file into fd, reporting progress. */
static int copy_out(const sv_export_plan *p, int fd, sv_export_progress_cb cb, void *ctx,
                    const atomic_int *cancel)
{
    sv_export_reader *r = NULL;
    uint8_t *buf = malloc(WRITE_CHUNK);
    uint64_t done = 0;
    int rc = SV_ENOMEM, last = 0;
    if (!buf || (rc = sv_export_reader_new(p, 0, p->total, cancel, &r)) < 0)
        goto fail;
    for (;;) {
        ssize_t k = sv_export_read(r, buf, WRITE_CHUNK);
        if (k <= 0) {
            rc = (int)k;
            break;
        }
        if ((rc = write_all(fd, buf, (size_t)k)) < 0)
            break;
        done += (uint64_t)k;
        if (done / SYNC_EVERY != (done - (uint64_t)k) / SYNC_EVERY) /* start writeback now */
            sync_file_range(fd, (off64_t)(done / SYNC_EVERY - 1) * SYNC_EVERY, SYNC_EVERY,
                            SYNC_FILE_RANGE_WRITE);
        int pct = (int)(done * 100 / p->total);
        if (cb && pct != last && pct < 100)
            cb(ctx, pct);
        last = pct;
    }
fail:
    sv_export_reader_free(r);
    free(buf);
    return rc;
}

/* p, path, cancel: borrowed. ctx: passed to cb. */
int sv_export_to_file(const sv_export_plan *p, const char *path, sv_export_progress_cb cb,
                      void *ctx, const atomic_int *cancel, unsigned flags)
{
    int rc = SV_ENOMEM, fd = -1, created = 0, overwrite = (flags & SV_EXPORT_OVERWRITE) != 0;
    size_t tlen = strlen(path) + sizeof ".part";
    char *tmp = malloc(tlen);
    if (!tmp)
        return SV_ENOMEM;
    snprintf(tmp, tlen, "%s.part", path);
    rc = SV_EEXIST;
    if (!overwrite && access(path, F_OK) == 0)
        goto fail;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        /* EEXIST: another export to the same path is running (or a crash left it) */
        rc = errno == EEXIST ? SV_EEXIST : errno == ENOSPC ? SV_ENOSPC : SV_EIO;
        sv_warn(NULL, "export: %s: %s", tmp, strerror(errno));
        goto fail;
    }
    created = 1;
    if (cb)
        cb(ctx, 0);
    if ((rc = copy_out(p, fd, cb, ctx, cancel)) < 0)
        goto fail;
    rc = fsync(fd) < 0 ? SV_EIO : 0;
    if (close(fd) < 0 && rc == 0)
        rc = SV_EIO;
    fd = -1;
    if (rc < 0 || (rc = publish(tmp, path, overwrite)) < 0)
        goto fail;
    fsync_dir(path);
    free(tmp);
    if (cb)
        cb(ctx, 100);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return rc;
}
