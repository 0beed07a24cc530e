/* See dvr.h: the recorder (loop thread) and the glue to the writer, retention and
 * recovery. Per-stream recorder state hangs in the stream's SV_SLOT_DVR. */
#include "dvr/dvr.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "dvr/layout.h"
#include "dvr/retention.h"
#include "dvr/recovery.h"
#include "dvr/writer.h"
#include "events/events.h"
#include "format/ts_mux.h"
#include "stream/cut.h"

#define FLUSH_BYTES (256 * 1024)
#define FLUSH_TICKS (1 * 90000) /* hand bytes to the writer at least every second */
#define FORCE_CUT_TICKS ((int64_t)(SV_DVR_SEG_MAX_MS - 60000) * 90)

struct sv_dvr {
    struct event_base *base;
    sv_workq *wq;
    sv_settings *settings;
    sv_catalog *cat;
    sv_dvr_writer *writer;
    sv_dvr_retention *retention;
    char *catalog_path;
    sv_events *events;
    uint64_t dropped_frames;
};

typedef struct rec {
    sv_dvr *dvr;
    sv_stream *s;
    sv_consumer *cons;
    sv_ts_mux *mux;
    bool muxable;
    sv_cut cut;               /* timing of the segment being written */
    sv_dvr_wfile *file;       /* segment being written, NULL when not recording */
    sv_dvr_settings set;      /* settings in force for the current segment */
    sv_bytes pending;         /* muxed, not yet handed to the writer */
    int64_t start_utc, last_flush_dts;
    int64_t last_end_utc;     /* end of the previous segment: the next never overlaps it */
    bool skipping;            /* dropping until the next keyframe */
    int64_t next_check_mono;  /* recording disabled: when to look at the settings again */
    bool logged_pause;
} rec;

static void flush_pending(rec *r)
{
    if (!r->file || r->pending.len == 0)
        return;
    sv_buf *b = sv_bytes_to_buf(&r->pending);
    sv_bytes_reset(&r->pending);
    int rc = b ? sv_dvr_writer_append(r->dvr->writer, r->file, b) : SV_ENOMEM;
    sv_buf_unref(b);
    if (rc) {
        /* disk too slow: end this segment here and drop frames until the next keyframe */
        sv_warn(sv_stream_name(r->s), "dvr: writer queue full, dropping to the next keyframe");
        sv_dvr_writer_abort(r->dvr->writer, r->file);
        r->file = NULL;
        r->skipping = true;
    }
    r->last_flush_dts = r->cut.last_dts;
}

static void close_segment(rec *r, int64_t end_dts)
{
    if (!r->file)
        return;
    flush_pending(r);
    if (!r->file)
        return;
    int64_t dur = sv_cut_elapsed(&r->cut, end_dts) / 90;
    if (dur < 1)
        dur = 1;
    sv_dvr_writer_close(r->dvr->writer, r->file, dur);
    r->file = NULL;
    r->last_end_utc = r->start_utc + dur;
}

static void open_segment(rec *r, const sv_frame *f)
{
    int64_t now = sv_now_mono_ms();
    if (now < r->next_check_mono)
        return; /* recording was off a moment ago: don't re-resolve settings per frame */
    sv_dvr_settings_clear(&r->set);
    sv_settings_dvr(r->dvr->settings, sv_stream_name(r->s), &r->set);
    int64_t utc = sv_stream_utc_ms(r->s, f->dts);
    if (!r->set.enabled || (r->set.schedule && !sv_schedule_active(r->set.schedule, utc))) {
        r->next_check_mono = now + 1000;
        return;
    }
    if (utc < r->last_end_utc)
        utc = r->last_end_utc; /* never overlap the previous segment */
    r->file = sv_dvr_writer_open(r->dvr->writer, r->set.root, sv_stream_name(r->s), utc);
    if (!r->file) {
        if (!r->logged_pause)
            sv_warn(sv_stream_name(r->s), "dvr: recording paused (root %s unavailable)",
                    r->set.root);
        r->logged_pause = true;
        return;
    }
    if (r->logged_pause)
        sv_info(sv_stream_name(r->s), "dvr: recording resumed");
    r->logged_pause = false;
    sv_cut_begin(&r->cut, f, sv_stream_epoch(r->s));
    r->last_flush_dts = f->dts;
    r->start_utc = utc;
    r->skipping = false;
    sv_bytes_reset(&r->pending);
    sv_ts_mux_write_tables(r->mux, &r->pending);
}

static void on_tracks(void *ctx, sv_stream *s, const sv_track *tracks)
{
    rec *r = ctx;
    close_segment(r, sv_cut_end(&r->cut));
    r->cut.has_video = tracks[0].codec != SV_CODEC_NONE;
    r->muxable = sv_ts_mux_set_tracks(r->mux, tracks) == 0;
}

static void on_frame(void *ctx, sv_stream *s, sv_frame *f)
{
    rec *r = ctx;
    if (!r->muxable)
        return;
    if (r->file && sv_dvr_wfile_failed(r->file)) {
        sv_dvr_writer_abort(r->dvr->writer, r->file); /* writer already removed it */
        r->file = NULL;
    }
    if (r->file && sv_stream_epoch(s) != r->cut.epoch)
        close_segment(r, sv_cut_end(&r->cut));
    int64_t elapsed = sv_cut_elapsed(&r->cut, f->dts);
    if (r->file && sv_cut_boundary(&r->cut, f) &&
        (elapsed >= r->set.segment_duration_ms * 90 || elapsed >= FORCE_CUT_TICKS ||
         (r->set.schedule && !sv_schedule_active(r->set.schedule, sv_stream_utc_ms(s, f->dts)))))
        close_segment(r, f->dts);
    if (!r->file) {
        if (!sv_cut_boundary(&r->cut, f)) {
            r->dvr->dropped_frames += r->skipping;
            return;
        }
        open_segment(r, f);
        if (!r->file)
            return;
    }
    sv_cut_track(&r->cut, f);
    if (sv_ts_mux_write_frame(r->mux, f, &r->pending) < 0)
        sv_warn(sv_stream_name(s), "dvr: dropped a malformed frame");
    if (r->pending.len >= FLUSH_BYTES || f->dts - r->last_flush_dts >= FLUSH_TICKS)
        flush_pending(r);
}

static void on_unpublish(void *ctx, sv_stream *s)
{
    rec *r = ctx;
    close_segment(r, sv_cut_end(&r->cut));
}

static const sv_consumer_ops rec_ops = {on_tracks, on_frame, on_unpublish};

int sv_dvr_attach(sv_dvr *dvr, sv_stream *s)
{
    if (sv_stream_slot(s, SV_SLOT_DVR))
        return 0;
    rec *r = calloc(1, sizeof *r);
    if (!r || !(r->mux = sv_ts_mux_new())) {
        free(r);
        return SV_ENOMEM;
    }
    r->dvr = dvr;
    r->s = s;
    sv_bytes_init(&r->pending);
    sv_stream_set_slot(s, SV_SLOT_DVR, r);
    r->cons = sv_stream_subscribe(s, &rec_ops, r);
    return 0;
}

void sv_dvr_detach(sv_dvr *dvr, sv_stream *s)
{
    rec *r = sv_stream_slot(s, SV_SLOT_DVR);
    if (!r)
        return;
    close_segment(r, sv_cut_end(&r->cut));
    sv_stream_unsubscribe(s, r->cons);
    sv_ts_mux_free(r->mux);
    sv_bytes_free(&r->pending);
    sv_dvr_settings_clear(&r->set);
    free(r);
    sv_stream_set_slot(s, SV_SLOT_DVR, NULL);
}

/* Writer thread: a write failed (disk full, I/O error). */
static void on_write_error(void *ctx, const char *root, const char *stream, const char *path,
                           int err)
{
    sv_dvr *dvr = ctx;
    sv_events_emit_async(dvr->events, "dvr_record_error", stream,
                         json_pack("{s:s, s:s, s:s}", "root", root, "path", path, "error",
                                   strerror(err)));
    sv_dvr_retention_kick(dvr->retention); /* thread-safe */
}

static void on_retention(void *ctx, const char *event, const char *media, json_t *fields)
{
    sv_dvr *dvr = ctx;
    sv_events_emit(dvr->events, event, media, fields);
}

static void persist_setting(void *ctx, const char *kind, const char *name, const json_t *body)
{
    sv_dvr *dvr = ctx;
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (body && !text)
        return;
    sv_dvr_store_setting(dvr, kind, name, text);
    free(text);
}

typedef struct load_ctx {
    sv_settings *settings;
    const char *kind;
} load_ctx;

static int load_setting(const char *name, const char *json, void *ud)
{
    load_ctx *lc = ud;
    char err[256];
    json_t *body = json_loads(json, 0, NULL);
    if (!body || sv_settings_put(lc->settings, lc->kind, name, body, false, err, sizeof err))
        sv_error(NULL, "ignoring stored %s %s: %s", lc->kind, name, body ? err : "bad JSON");
    json_decref(body);
    return 0;
}

/* API-made settings stored in the catalog apply over the config file's. */
static void load_stored_settings(sv_dvr *dvr)
{
    static const char *const kinds[] = {"template", "stream"};
    for (int i = 0; i < 2; i++) {
        load_ctx lc = {dvr->settings, kinds[i]};
        sv_catalog_settings_list(dvr->cat, kinds[i], load_setting, &lc);
    }
}

static int open_catalog(const char *path, sv_catalog **cat, bool *fresh)
{
    int rc = sv_catalog_open(path, cat);
    *fresh = false;
    if (rc == SV_EINVAL) {
        char *moved = NULL;
        sv_catalog_quarantine(path, &moved);
        sv_error(NULL, "dvr: catalog %s is corrupt; moved to %s, rebuilding from the files",
                 path, moved ? moved : "?");
        free(moved);
        rc = sv_catalog_open(path, cat);
        *fresh = true;
    }
    return rc;
}

sv_dvr *sv_dvr_new(struct event_base *base, sv_workq *wq, sv_settings *settings,
                   const sv_dvr_config *cfg)
{
    sv_dvr *dvr = calloc(1, sizeof *dvr);
    if (!dvr)
        return NULL;
    dvr->base = base;
    dvr->wq = wq;
    dvr->settings = settings;
    dvr->catalog_path = strdup(cfg->catalog_path);
    dvr->events = cfg->events;
    bool fresh;
    FILE *probe = fopen(cfg->catalog_path, "rb");
    bool existed = probe != NULL;
    if (probe)
        fclose(probe);
    int rc = open_catalog(cfg->catalog_path, &dvr->cat, &fresh);
    if (rc) {
        sv_error(NULL, "dvr: cannot open catalog %s: %s", cfg->catalog_path, sv_strerror(rc));
        free(dvr->catalog_path);
        free(dvr);
        return NULL;
    }
    load_stored_settings(dvr);
    if (sv_dvr_recover(settings, dvr->cat, cfg->catalog_path, fresh || !existed)) {
        sv_catalog_close(dvr->cat);
        free(dvr->catalog_path);
        free(dvr);
        return NULL;
    }
    dvr->writer = sv_dvr_writer_new(dvr->cat, cfg->max_queued_bytes ? cfg->max_queued_bytes
                                                                    : (256u << 20),
                                    on_write_error, dvr);
    dvr->retention = sv_dvr_retention_new(base, wq, settings, dvr->cat, dvr->writer,
                                          cfg->retention_interval_ms ? cfg->retention_interval_ms
                                                                     : 5000);
    if (!dvr->writer || !dvr->retention) {
        sv_dvr_free(dvr);
        return NULL;
    }
    sv_settings_set_persist(settings, persist_setting, dvr);
    sv_dvr_retention_set_cb(dvr->retention, on_retention, dvr);
    return dvr;
}

void sv_dvr_free(sv_dvr *dvr)
{
    if (!dvr)
        return;
    sv_dvr_retention_free(dvr->retention);
    sv_dvr_writer_free(dvr->writer);
    sv_catalog_close(dvr->cat);
    if (dvr->writer)
        sv_dvr_recovery_mark_clean(dvr->catalog_path);
    free(dvr->catalog_path);
    free(dvr);
}

sv_catalog *sv_dvr_catalog(sv_dvr *dvr) { return dvr->cat; }

void sv_dvr_store_setting(sv_dvr *dvr, const char *kind, const char *name, const char *json)
{
    sv_dvr_writer_setting(dvr->writer, kind, name, json);
}

void sv_dvr_retention_now(sv_dvr *dvr) { sv_dvr_retention_kick(dvr->retention); }

void sv_dvr_remove_files(sv_dvr *dvr, const sv_catalog_seglist *deleted)
{
    for (size_t i = 0; i < deleted->n; i++)
        sv_dvr_writer_unlink(dvr->writer, deleted->v[i].root, deleted->v[i].path);
}

void sv_dvr_get_stats(sv_dvr *dvr, sv_dvr_stats *st)
{
    sv_dvr_writer_stats ws;
    sv_dvr_writer_get_stats(dvr->writer, &ws);
    memset(st, 0, sizeof *st);
    st->segments_written = ws.segments_written;
    st->bytes_written = ws.bytes_written;
    st->write_errors = ws.write_errors;
    st->queued_bytes = ws.queued_bytes;
    st->dropped_frames = dvr->dropped_frames;
    sv_dvr_retention_stats(dvr->retention, &st->retention_passes,
                           &st->retention_deleted_segments, &st->retention_deleted_bytes);
}
