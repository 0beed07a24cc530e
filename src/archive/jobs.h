/* Background MP4 export jobs (Ti Top convert2mp4, Flussonic dvr/export).
 *
 * A job exports [from, to) of a stream to an MP4 file: it runs on the worker pool (plan +
 * sv_export_to_file: temp name, fsync, rename, never overwriting), reports progress, and
 * emits dvr_mp4_export_start / _ready / _failed / _aborted with stream, from, duration,
 * path, size and error. Jobs are kept in memory (the newest SV_JOBS_KEEP finished ones)
 * and persisted in the catalog's settings table (kind "export"), so a restart shows them
 * and marks the ones it interrupted as failed (their temp file removed). Loop thread. */
#ifndef SV_ARCHIVE_JOBS_H
#define SV_ARCHIVE_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "archive/export.h"
#include "core/workq.h"
#include "dvr/dvr.h"
#include "events/events.h"

#define SV_JOBS_KEEP 500     /* finished jobs remembered */
#define SV_JOBS_ACTIVE 64    /* queued + running at once */

typedef struct sv_jobs sv_jobs;

sv_jobs *sv_jobs_new(sv_workq *wq, sv_dvr *dvr, sv_events *events, int64_t max_window_ms);
/* Asks running jobs to stop (they end as failed: interrupted by shutdown). Call before
 * the worker pool is freed; sv_jobs_free after it. */
void sv_jobs_shutdown(sv_jobs *j);
void sv_jobs_free(sv_jobs *j);

/* Starts a job. path: the output file (validated by the caller). meta: write udta/meta.
 * Returns the job's JSON (new reference) or NULL with SV_ETOOBIG (too many active) in *rc. */
json_t *sv_jobs_start(sv_jobs *j, const char *stream, int64_t from_ms, int64_t to_ms,
                      const char *path, bool meta, const char *origin, int *rc);
/* JSON of one job (new reference) or NULL. */
json_t *sv_jobs_get(sv_jobs *j, const char *id);
/* {"exports": [...]} newest first (new reference). */
json_t *sv_jobs_list(sv_jobs *j);
/* Aborts a queued/running job (its partial file is removed) or forgets a finished one.
 * Returns 0 or SV_ENOTFOUND. */
int sv_jobs_delete(sv_jobs *j, const char *id);
/* Plans the export of [from_ms, to_ms) of a stream from its catalog rows (the one place
 * catalog segments become export input; used by downloads and jobs). Blocking: worker
 * threads only. Same returns as sv_export_plan_new, plus catalog errors. */
int sv_jobs_plan(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                 int64_t max_window_ms, sv_export_format fmt, const sv_mp4_meta *meta,
                 const atomic_int *cancel, sv_export_plan **out);
/* Prometheus collector (sv_metrics_collector shape): jobs by state, finished jobs and
 * their total run time by outcome. ctx: the sv_jobs. */
struct sv_metrics_out;
void sv_jobs_collect_metrics(struct sv_metrics_out *out, void *ctx);
/* True if some active job writes path (so a second request is refused). */
bool sv_jobs_path_busy(sv_jobs *j, const char *path);

#endif
