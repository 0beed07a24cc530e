/* See hls.h.
 *
 * Segment boundaries: a segment starts at a video keyframe (or any audio frame in
 * audio-only streams) with PAT/PMT; it is closed when the next keyframe at or after the
 * target arrives, when the publisher leaves, or when the stream's clock epoch or tracks
 * change. Its duration is the next start minus its own start, or, for the last segment of
 * a publish, the last frame's dts plus one frame interval. */
#include "live/hls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "format/m3u8.h"
#include "format/ts_mux.h"
#include "stream/cut.h"

#define RING_EXTRA 4
#define IDLE_RING 2           /* segments kept while nobody watches */
#define IDLE_AFTER_MS 60000   /* no playlist or segment request for this long: idle */
#define MAX_VIEWERS 4096
#define VIEWER_TTL_MS 30000

typedef struct live_seg {
    uint64_t seq;
    int64_t duration_ms;
    int64_t pdt_ms;
    bool discontinuity;
    sv_buf *data;
} live_seg;

typedef struct viewer {
    uint64_t key;
    int64_t seen_ms;
} viewer;

typedef struct live_stream {
    sv_live *live;
    sv_stream *s;
    sv_consumer *cons;
    sv_ts_mux *mux;
    bool muxable;
    sv_cut cut;          /* timing of the segment being built */
    /* segment being built */
    sv_bytes cur;
    bool open, cur_disc;
    int64_t cur_pdt;
    bool next_disc;      /* the next segment follows a break */
    /* ring of closed segments, oldest first */
    live_seg *ring;
    size_t ring_len, ring_cap;
    uint64_t next_seq;
    viewer *viewers;
    size_t nviewers;
    int64_t last_view_mono;  /* latest request for this stream's live HLS, 0 = never */
    uint64_t segments, bytes_muxed;
} live_stream;

struct sv_live {
    sv_live_config cfg;
};

sv_live *sv_live_new(const sv_live_config *cfg)
{
    sv_live *live = calloc(1, sizeof *live);
    if (live)
        live->cfg = *cfg;
    return live;
}

void sv_live_free(sv_live *live) { free(live); }

static void push_segment(live_stream *ls, int64_t end_dts)
{
    sv_buf *data = sv_bytes_to_buf(&ls->cur);
    sv_bytes_reset(&ls->cur);
    ls->open = false;
    if (!data) {
        sv_error(sv_stream_name(ls->s), "live: out of memory closing a segment");
        return;
    }
    /* A stream nobody watches live (an NVR camera) keeps only the newest segments: the
     * window refills within a few segments of the first viewer. */
    bool watched = ls->last_view_mono && sv_now_mono_ms() - ls->last_view_mono < IDLE_AFTER_MS;
    size_t keep = watched ? ls->ring_cap : IDLE_RING;
    while (ls->ring_len >= keep) {
        sv_buf_unref(ls->ring[0].data);
        memmove(ls->ring, ls->ring + 1, (ls->ring_len - 1) * sizeof *ls->ring);
        ls->ring_len--;
    }
    int64_t dur = sv_cut_elapsed(&ls->cut, end_dts) / 90;
    ls->ring[ls->ring_len++] = (live_seg){ls->next_seq++, dur > 0 ? dur : 1, ls->cur_pdt,
                                          ls->cur_disc, data};
    ls->segments++;
    ls->bytes_muxed += data->len;
}

static void close_segment(live_stream *ls, int64_t end_dts)
{
    if (ls->open)
        push_segment(ls, end_dts);
}

static void open_segment(live_stream *ls, const sv_frame *f)
{
    ls->open = true;
    sv_cut_begin(&ls->cut, f, sv_stream_epoch(ls->s));
    ls->cur_pdt = sv_stream_utc_ms(ls->s, f->dts);
    ls->cur_disc = ls->next_disc && ls->ring_len > 0;
    ls->next_disc = false;
    sv_ts_mux_write_tables(ls->mux, &ls->cur);
}

static void on_tracks(void *ctx, sv_stream *s, const sv_track *tracks)
{
    live_stream *ls = ctx;
    close_segment(ls, sv_cut_end(&ls->cut));
    ls->next_disc = true;
    ls->cut.has_video = tracks[0].codec != SV_CODEC_NONE;
    ls->muxable = sv_ts_mux_set_tracks(ls->mux, tracks) == 0;
    if (!ls->muxable)
        sv_warn(sv_stream_name(s), "live: no track HLS can carry");
}

static void on_frame(void *ctx, sv_stream *s, sv_frame *f)
{
    live_stream *ls = ctx;
    if (!ls->muxable)
        return;
    int64_t target = (int64_t)ls->live->cfg.segment_ms * 90;
    if (ls->open && sv_stream_epoch(s) != ls->cut.epoch) {
        close_segment(ls, sv_cut_end(&ls->cut));
        ls->next_disc = true;
    }
    if (ls->open && sv_cut_boundary(&ls->cut, f) && sv_cut_elapsed(&ls->cut, f->dts) >= target)
        close_segment(ls, f->dts);
    if (!ls->open) {
        if (!sv_cut_boundary(&ls->cut, f))
            return; /* wait for a keyframe */
        open_segment(ls, f);
    }
    sv_cut_track(&ls->cut, f);
    if (sv_ts_mux_write_frame(ls->mux, f, &ls->cur) < 0)
        sv_warn(sv_stream_name(s), "live: dropped a malformed frame");
}

static void on_unpublish(void *ctx, sv_stream *s)
{
    live_stream *ls = ctx;
    close_segment(ls, sv_cut_end(&ls->cut));
    ls->next_disc = true;
}

static const sv_consumer_ops live_ops = {on_tracks, on_frame, on_unpublish};

int sv_live_attach(sv_live *live, sv_stream *s)
{
    if (sv_stream_slot(s, SV_SLOT_LIVE))
        return 0;
    live_stream *ls = calloc(1, sizeof *ls);
    if (!ls)
        return SV_ENOMEM;
    ls->live = live;
    ls->s = s;
    ls->ring_cap = (size_t)live->cfg.window + RING_EXTRA;
    ls->ring = calloc(ls->ring_cap, sizeof *ls->ring);
    ls->mux = sv_ts_mux_new();
    sv_bytes_init(&ls->cur);
    if (!ls->ring || !ls->mux) {
        free(ls->ring);
        sv_ts_mux_free(ls->mux);
        free(ls);
        return SV_ENOMEM;
    }
    sv_stream_set_slot(s, SV_SLOT_LIVE, ls);
    ls->cons = sv_stream_subscribe(s, &live_ops, ls);
    return 0;
}

void sv_live_detach(sv_live *live, sv_stream *s)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    if (!ls)
        return;
    sv_stream_unsubscribe(s, ls->cons);
    for (size_t i = 0; i < ls->ring_len; i++)
        sv_buf_unref(ls->ring[i].data);
    free(ls->ring);
    free(ls->viewers);
    sv_bytes_free(&ls->cur);
    sv_ts_mux_free(ls->mux);
    free(ls);
    sv_stream_set_slot(s, SV_SLOT_LIVE, NULL);
}

int sv_live_playlist(sv_live *live, sv_stream *s, const char *uri_suffix, sv_bytes *out)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    if (!ls || ls->ring_len == 0)
        return SV_ENOTFOUND;
    size_t first = ls->ring_len > (size_t)live->cfg.window ? ls->ring_len - live->cfg.window : 0;
    int64_t target = 0;
    for (size_t i = first; i < ls->ring_len; i++)
        if (ls->ring[i].duration_ms > target)
            target = ls->ring[i].duration_ms;
    sv_m3u8_begin(out, SV_M3U8_LIVE, target, ls->ring[first].seq);
    for (size_t i = first; i < ls->ring_len; i++) {
        char uri[160];
        snprintf(uri, sizeof uri, "live-%llu.ts%s", (unsigned long long)ls->ring[i].seq,
                 uri_suffix ? uri_suffix : "");
        sv_m3u8_segment(out, ls->ring[i].duration_ms, ls->ring[i].pdt_ms,
                        ls->ring[i].discontinuity && i > first, uri);
    }
    return out->failed ? SV_ENOMEM : 0;
}

sv_buf *sv_live_segment(sv_live *live, sv_stream *s, uint64_t seq)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    if (!ls || ls->ring_len == 0 || seq < ls->ring[0].seq)
        return NULL;
    uint64_t idx = seq - ls->ring[0].seq;
    return idx < ls->ring_len ? sv_buf_ref(ls->ring[idx].data) : NULL;
}

static uint64_t viewer_key(const char *ip, const char *agent)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = ip; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ '|') * 1099511628211ull;
    for (const char *p = agent; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

void sv_live_touch_viewer(sv_live *live, sv_stream *s, const char *ip, const char *agent)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    if (!ls)
        return;
    uint64_t key = viewer_key(ip, agent);
    int64_t now = sv_now_mono_ms();
    ls->last_view_mono = now;
    size_t stale = SIZE_MAX;
    for (size_t i = 0; i < ls->nviewers; i++) {
        if (ls->viewers[i].key == key) {
            ls->viewers[i].seen_ms = now;
            return;
        }
        if (now - ls->viewers[i].seen_ms > VIEWER_TTL_MS)
            stale = i;
    }
    if (stale != SIZE_MAX) {
        ls->viewers[stale] = (viewer){key, now};
        return;
    }
    if (!ls->viewers)
        ls->viewers = calloc(MAX_VIEWERS, sizeof *ls->viewers);
    if (ls->viewers && ls->nviewers < MAX_VIEWERS)
        ls->viewers[ls->nviewers++] = (viewer){key, now};
}

uint32_t sv_live_viewers(sv_live *live, sv_stream *s)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    uint32_t n = 0;
    int64_t now = sv_now_mono_ms();
    for (size_t i = 0; ls && i < ls->nviewers; i++)
        n += now - ls->viewers[i].seen_ms <= VIEWER_TTL_MS;
    return n;
}

void sv_live_get_stats(sv_live *live, sv_stream *s, sv_live_stats *st)
{
    live_stream *ls = sv_stream_slot(s, SV_SLOT_LIVE);
    memset(st, 0, sizeof *st);
    if (!ls)
        return;
    st->segments = ls->segments;
    st->bytes_muxed = ls->bytes_muxed;
    for (size_t i = 0; i < ls->ring_len; i++)
        st->bytes_held += ls->ring[i].data->len;
}
