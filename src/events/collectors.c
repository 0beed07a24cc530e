/* Collectors for what the server has now, read through each subsystem's public API on the
 * loop thread at scrape time: streams (state, publishers, viewers, bytes in), live HLS,
 * the DVR (recorder/retention counters, per-stream archive bytes and depth from the
 * catalog's O(1) totals), disk usage per DVR root (statvfs), HTTP connections, and the
 * event bus with its sinks. Per-stream series exist only for streams the registry or the
 * catalog knows, at most SV_METRICS_MAX_SERIES per family. statvfs of a root on a hung
 * network filesystem would stall the scrape: roots are expected to be local disks. */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/error.h"
#include "dvr/dvr.h"
#include "events/internal.h"
#include "events/metrics.h"
#include "live/hls.h"
#include "stream/stream.h"

typedef struct collectors {
    sv_metrics_sources src;
} collectors;

/* ---- streams and live HLS ---- */

typedef struct stream_row {
    const char *name;
    sv_stream_stats st;
    uint32_t viewers;
    sv_live_stats live;
} stream_row;

static size_t snapshot_streams(const sv_metrics_sources *src, stream_row *rows)
{
    size_t n = 0;
    for (sv_stream *s = sv_registry_first(src->reg); s && n < SV_METRICS_MAX_SERIES;
         s = sv_registry_next(src->reg, s), n++) {
        rows[n].name = sv_stream_name(s);
        sv_stream_get_stats(s, &rows[n].st);
        memset(&rows[n].live, 0, sizeof rows[n].live);
        rows[n].viewers = src->live ? sv_live_viewers(src->live, s) : 0;
        if (src->live)
            sv_live_get_stats(src->live, s, &rows[n].live);
    }
    return n;
}

#define PER_STREAM(o, fam, type, help, expr)                                    \
    do {                                                                        \
        sv_metrics_family(o, fam, type, help);                                  \
        for (size_t i = 0; i < n; i++)                                          \
            sv_metrics_sample(o, fam, (double)(expr), "stream", rows[i].name, NULL); \
    } while (0)

static void stream_totals(sv_metrics_out *o, sv_registry *reg, stream_row *rows, size_t n)
{
    size_t total = sv_registry_count(reg), alive = 0;
    uint64_t viewers = 0;
    for (sv_stream *s = sv_registry_first(reg); s; s = sv_registry_next(reg, s))
        alive += sv_stream_alive(s);
    for (size_t i = 0; i < n; i++)
        viewers += rows[i].viewers;
    sv_metrics_family(o, "sv_streams", "gauge", "Known streams by state");
    sv_metrics_sample(o, "sv_streams", (double)alive, "state", "alive", NULL);
    sv_metrics_sample(o, "sv_streams", (double)(total - alive), "state", "offline", NULL);
    sv_metrics_single(o, "sv_publishers", "gauge", "Streams with a connected input",
                      (double)alive);
    sv_metrics_single(o, "sv_live_viewers", "gauge",
                      "Distinct live HLS clients seen in the last 30 s (first 1000 streams)",
                      (double)viewers);
}

static void collect_streams(sv_metrics_out *o, void *ctx)
{
    const sv_metrics_sources *src = &((collectors *)ctx)->src;
    stream_row *rows = malloc(SV_METRICS_MAX_SERIES * sizeof *rows);
    if (!rows)
        return;
    size_t n = snapshot_streams(src, rows);
    stream_totals(o, src->reg, rows, n);
    PER_STREAM(o, "sv_stream_alive", "gauge", "1 while the stream has an input",
               rows[i].st.alive);
    PER_STREAM(o, "sv_stream_input_bytes_total", "counter", "Bytes received from the inputs",
               rows[i].st.bytes_in);
    PER_STREAM(o, "sv_stream_input_frames_total", "counter", "Frames received",
               rows[i].st.frames_in);
    PER_STREAM(o, "sv_stream_input_bytes_per_second", "gauge",
               "Input rate averaged over the last seconds", rows[i].st.bitrate_bps / 8);
    PER_STREAM(o, "sv_stream_publishes_total", "counter", "Publish sessions",
               rows[i].st.publishes);
    PER_STREAM(o, "sv_stream_viewers", "gauge",
               "Distinct live HLS clients seen in the last 30 s", rows[i].viewers);
    if (src->live) {
        PER_STREAM(o, "sv_live_segments_total", "counter", "Live HLS segments closed",
                   rows[i].live.segments);
        PER_STREAM(o, "sv_live_held_bytes", "gauge", "Bytes held in the live HLS window",
                   rows[i].live.bytes_held);
    }
    free(rows);
}

/* ---- DVR ---- */

static void dvr_counters(sv_metrics_out *o, sv_dvr *dvr)
{
    sv_dvr_stats st;
    sv_dvr_get_stats(dvr, &st);
    sv_metrics_single(o, "sv_dvr_segments_written_total", "counter", "Archive segments written",
                      (double)st.segments_written);
    sv_metrics_single(o, "sv_dvr_written_bytes_total", "counter", "Archive bytes written",
                      (double)st.bytes_written);
    sv_metrics_single(o, "sv_dvr_write_errors_total", "counter", "Archive write errors",
                      (double)st.write_errors);
    sv_metrics_single(o, "sv_dvr_dropped_frames_total", "counter",
                      "Frames the recorder dropped (writer queue full)",
                      (double)st.dropped_frames);
    sv_metrics_single(o, "sv_dvr_retention_deleted_segments_total", "counter",
                      "Segments deleted by retention", (double)st.retention_deleted_segments);
    sv_metrics_single(o, "sv_dvr_retention_deleted_bytes_total", "counter",
                      "Bytes deleted by retention", (double)st.retention_deleted_bytes);
    sv_metrics_single(o, "sv_dvr_retention_passes_total", "counter", "Retention passes run",
                      (double)st.retention_passes);
    sv_metrics_single(o, "sv_dvr_writer_queued_bytes", "gauge",
                      "Bytes waiting for the writer thread", (double)st.queued_bytes);
}

static void dvr_archive(sv_metrics_out *o, sv_catalog *cat)
{
    char **names = NULL;
    size_t n = 0;
    if (!cat || sv_catalog_streams(cat, &names, &n))
        return;
    if (n > SV_METRICS_MAX_SERIES)
        n = SV_METRICS_MAX_SERIES;
    sv_catalog_stats *st = calloc(n ? n : 1, sizeof *st);
    for (size_t i = 0; st && i < n; i++)
        sv_catalog_stream_stats(cat, names[i], &st[i]);
    static const char *const fam[] = {"sv_dvr_archive_bytes", "sv_dvr_archive_segments",
                                      "sv_dvr_archive_depth_seconds"};
    static const char *const help[] = {"Bytes of the stream's archive", "Segments archived",
                                       "From the first archived frame to the last, seconds"};
    for (int f = 0; st && f < 3; f++) {
        sv_metrics_family(o, fam[f], "gauge", help[f]);
        for (size_t i = 0; i < n; i++) {
            double v = f == 0 ? (double)st[i].bytes : f == 1 ? (double)st[i].count
                     : st[i].count ? (double)(st[i].last_end_ms - st[i].first_ms) / 1000.0 : 0;
            sv_metrics_sample(o, fam[f], v, "stream", names[i], NULL);
        }
    }
    free(st);
    sv_catalog_strv_free(names, n);
}

static void disk_usage(sv_metrics_out *o, const sv_metrics_sources *src)
{
    char **roots = NULL;
    size_t n = 0;
    if (!src->settings || sv_dvr_roots(src->settings, sv_dvr_catalog(src->dvr), &roots, &n))
        return;
    size_t shown = n < 100 ? n : 100;
    struct statvfs *vs = calloc(shown ? shown : 1, sizeof *vs);
    bool *ok = calloc(shown ? shown : 1, sizeof *ok);
    for (size_t i = 0; vs && ok && i < shown; i++)
        ok[i] = statvfs(roots[i], &vs[i]) == 0;
    static const char *const fam[] = {"sv_disk_size_bytes", "sv_disk_free_bytes",
                                      "sv_disk_available_bytes"};
    static const char *const help[] = {"Size of the filesystem of a DVR root",
                                       "Free bytes of the filesystem of a DVR root",
                                       "Bytes available to the server on a DVR root"};
    for (int f = 0; vs && ok && f < 3; f++) {
        sv_metrics_family(o, fam[f], "gauge", help[f]);
        for (size_t i = 0; i < shown; i++) {
            if (!ok[i])
                continue;
            double blocks = f == 0 ? (double)vs[i].f_blocks : f == 1 ? (double)vs[i].f_bfree
                                                                     : (double)vs[i].f_bavail;
            sv_metrics_sample(o, fam[f], blocks * (double)vs[i].f_frsize, "root", roots[i], NULL);
        }
    }
    free(vs);
    free(ok);
    sv_catalog_strv_free(roots, n);
}

static void collect_dvr(sv_metrics_out *o, void *ctx)
{
    const sv_metrics_sources *src = &((collectors *)ctx)->src;
    dvr_counters(o, src->dvr);
    dvr_archive(o, sv_dvr_catalog(src->dvr));
    disk_usage(o, src);
}

/* ---- HTTP, events ---- */

static void collect_http(sv_metrics_out *o, void *ctx)
{
    const sv_metrics_sources *src = &((collectors *)ctx)->src;
    sv_metrics_single(o, "sv_http_connections", "gauge", "Open HTTP connections",
                      (double)sv_http_server_connections(src->http));
}

static void events_totals(sv_metrics_out *o, sv_events *bus)
{
    sv_metrics_family(o, "sv_events_emitted_total", "counter", "Events emitted, by name");
    for (size_t i = 0; i < bus->nnames; i++)
        sv_metrics_sample(o, "sv_events_emitted_total", (double)bus->names[i].n, "event",
                          bus->names[i].name, NULL);
    if (bus->other_names)
        sv_metrics_sample(o, "sv_events_emitted_total", (double)bus->other_names, "event",
                          "other", NULL);
    sv_metrics_single(o, "sv_events_async_dropped_total", "counter",
                      "Events from other threads dropped on a full hand-over queue",
                      (double)atomic_load(&bus->async_dropped));
    sv_metrics_single(o, "sv_event_sinks", "gauge", "Configured event sinks",
                      (double)bus->nsinks);
}

static void collect_events(sv_metrics_out *o, void *ctx)
{
    sv_events *bus = ((collectors *)ctx)->src.events;
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"sv_event_sink_outbox_events", "gauge", "Events waiting in the sink's outbox"},
        {"sv_event_sink_delivered_events_total", "counter", "Events acknowledged by a 2xx"},
        {"sv_event_sink_posts_total", "counter", "Successful POSTs"},
        {"sv_event_sink_failures_total", "counter", "Failed POST attempts (error or non-2xx)"},
        {"sv_event_sink_dropped_events_total", "counter",
         "Events dropped past max_outbox or on a full queue"},
        {"sv_event_sink_retrying", "gauge", "1 while the sink waits to retry a failed POST"},
    };
    events_totals(o, bus);
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        sv_metrics_family(o, fam[f].name, fam[f].type, fam[f].help);
        for (sv_events_sink *s = bus->sinks; s; s = s->next) {
            const sv_events_sink_stats *st = s->stats;
            uint64_t v = f == 0 ? atomic_load(&st->depth) : f == 1 ? atomic_load(&st->delivered)
                       : f == 2 ? atomic_load(&st->posts) : f == 3 ? atomic_load(&st->failures)
                       : f == 4 ? atomic_load(&st->dropped) : s->state == SV_SINK_BACKOFF;
            sv_metrics_sample(o, fam[f].name, (double)v, "sink", s->name, NULL);
        }
    }
}

int sv_metrics_add_server_collectors(sv_metrics *m, const sv_metrics_sources *src)
{
    collectors *c = malloc(sizeof *c);
    if (!c || sv_metrics_own(m, c)) {
        free(c);
        return SV_ENOMEM;
    }
    c->src = *src;
    int rc = 0;
    if (src->reg)
        rc |= sv_metrics_add_collector(m, collect_streams, c);
    if (src->dvr)
        rc |= sv_metrics_add_collector(m, collect_dvr, c);
    if (src->http)
        rc |= sv_metrics_add_collector(m, collect_http, c);
    if (src->events)
        rc |= sv_metrics_add_collector(m, collect_events, c);
    return rc ? SV_ENOMEM : 0;
}
