/* Prometheus metrics: GET /metrics in the text exposition format (version 0.0.4).
 *
 * A registry of collectors: each subsystem registers fn(out, ctx) once; on every scrape
 * the collectors run in registration order on the loop thread and append families with
 * the helpers below, which write the # HELP / # TYPE lines, escape label values and format
 * numbers. A family must be written in one piece (all its samples right after its
 * header). Keep label cardinality bounded: per-stream labels only for streams that exist,
 * at most SV_METRICS_MAX_SERIES of them per family.
 *
 * Traffic counters fed by the HTTP layer (sv_metrics_count_bytes_out,
 * sv_metrics_count_request) are atomics: callable from any thread, cheap (no allocation
 * after the first use of a label value; at most 16 kinds, the rest count as "other"). */
#ifndef SV_EVENTS_METRICS_H
#define SV_EVENTS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define SV_METRICS_MAX_SERIES 1000

typedef struct sv_metrics sv_metrics;
typedef struct sv_metrics_out sv_metrics_out;
typedef void (*sv_metrics_collector)(sv_metrics_out *out, void *ctx);

sv_metrics *sv_metrics_new(void); /* NULL on OOM */
void sv_metrics_free(sv_metrics *m); /* NULL-safe */
/* Registers a collector (ctx borrowed; must outlive m or be removed). 0 or SV_ENOMEM. */
int sv_metrics_add_collector(sv_metrics *m, sv_metrics_collector fn, void *ctx);
void sv_metrics_remove_collector(sv_metrics *m, sv_metrics_collector fn, void *ctx);
/* Hands p (malloc'd, e.g. a collector's ctx) to m: sv_metrics_free frees it. 0 or SV_ENOMEM
 * (p not taken). */
int sv_metrics_own(sv_metrics *m, void *p);

/* Starts a family: "# HELP name help" and "# TYPE name type" (type: "counter", "gauge",
 * "untyped"). Counter names end in _total. */
void sv_metrics_family(sv_metrics_out *o, const char *name, const char *type,
                       const char *help);
/* One sample: `name{k1="v1",k2="v2"} value`. The labels are NULL-terminated pairs of
 * (const char *key, const char *value); values are escaped. */
void sv_metrics_sample(sv_metrics_out *o, const char *name, double value, ...)
    __attribute__((sentinel));
/* Shorthand for a family with a single unlabelled sample. */
void sv_metrics_single(sv_metrics_out *o, const char *name, const char *type,
                       const char *help, double value);

/* Runs every collector. Returns a malloc'd NUL-terminated text (caller frees) and its
 * length, or NULL on OOM. */
char *sv_metrics_render(sv_metrics *m, size_t *len);
/* GET /metrics: 200 text/plain; version=0.0.4 with the rendered text. */
void sv_metrics_handle(sv_metrics *m, sv_http_req *req);

/* Response bytes sent, by kind of content ("hls", "archive", "export", "api", ...) and
 * where they were read from ("ram", "disk", "cache", "remote"; anything else: "other").
 * NULL m: no-op. Any thread. */
void sv_metrics_count_bytes_out(sv_metrics *m, const char *kind, const char *source,
                                uint64_t n);
/* One finished HTTP request of a kind with its status (counted by class 2xx..5xx). */
void sv_metrics_count_request(sv_metrics *m, const char *kind, int status);

/* ---- collectors of the server's subsystems (collectors.c) ---- */

typedef struct sv_registry sv_registry;
typedef struct sv_live sv_live;
typedef struct sv_dvr sv_dvr;
typedef struct sv_settings sv_settings;
typedef struct sv_events sv_events;

typedef struct sv_metrics_sources {
    sv_registry *reg;     /* streams by state, publishers, bytes in, per-stream series */
    sv_live *live;        /* live HLS viewers and segments */
    sv_dvr *dvr;          /* recorder/retention counters, archive bytes/depth per stream */
    sv_settings *settings; /* DVR roots for disk usage */
    sv_http_server *http; /* open connections */
    sv_events *events;    /* bus and per-sink outbox counters */
} sv_metrics_sources;

/* Registers the collectors for every non-NULL source (copied; the objects are borrowed
 * and must outlive m). Also the traffic counters of m itself. 0 or SV_ENOMEM. */
int sv_metrics_add_server_collectors(sv_metrics *m, const sv_metrics_sources *src);

#endif
