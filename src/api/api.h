/* The HTTP surface: one entry point that routes every request (DESIGN.md section 7).
 *
 * Media routes are matched by their known suffix because stream names contain '/':
 *   GET /{name}/index.m3u8, /{name}/playlist.m3u8   live HLS playlist
 *   GET /{name}/live-{seq}.ts                       live HLS segment
 * Admin routes need credentials (Basic or Bearer), see api_admin.c and api_dvr.c:
 *   /streamer/api/v3/streams[/{name}], /templates[/{name}],
 *   /streams/{name}/dvr/ranges, /streams/{name}/dvr/locks
 * Every error is JSON: {"error": {"code": "...", "message": "..."}}. */
#ifndef SV_API_API_H
#define SV_API_API_H

#include "core/config.h"
#include "core/workq.h"
#include "archive/jobs.h"
#include "dvr/dvr.h"
#include "events/events.h"  /* events wiring */
#include "events/metrics.h" /* events wiring */
#include "http/http.h"
#include "live/hls.h"
#include "stream/settings.h"
#include "stream/stream.h"

typedef struct sv_api {
    const sv_config *cfg;
    sv_registry *reg;
    sv_live *live;
    sv_settings *settings;
    sv_dvr *dvr;
    sv_workq *wq;
    sv_events *events;   /* events wiring: NULL-safe */
    sv_metrics *metrics; /* events wiring: NULL-safe */
    sv_jobs *jobs;       /* background exports */
    char **export_roots; /* absolute directories Flussonic dvr/export may write into */
    int nexport_roots;
} sv_api;

/* The sv_http_handler for the server; ctx is a sv_api. */
void sv_api_handle(sv_http_req *req, void *ctx);

/* Admin routes below /streamer/api/v3/ (rest is the part after it); auth already done. */
void sv_api_admin(sv_api *api, sv_http_req *req, const char *rest);
/* DVR routes of a stream: rest is "ranges" or "locks". */
void sv_api_dvr(sv_api *api, sv_http_req *req, const char *name, const char *rest);
/* Archive playback routes (api_archive.c). True when the path was one of them (answered). */
bool sv_api_archive_route(sv_api *api, sv_http_req *req, const char *path);
/* MP4/TS download of a window (api_export.c); answers asynchronously. */
void sv_api_download(sv_api *api, sv_http_req *req, const char *name, int64_t from_ms,
                     int64_t to_ms, bool mp4);
/* Background exports (api_jobs.c). */
void sv_api_dvr_export(sv_api *api, sv_http_req *req, const char *name);
void sv_api_convert2mp4(sv_api *api, sv_http_req *req);
void sv_api_exports(sv_api *api, sv_http_req *req, const char *id /* NULL: list */);
/* Removes every recorded segment of a stream (answers with what was removed). */
void sv_api_dvr_delete_all(sv_api *api, sv_http_req *req, const char *name);
/* The "dvr" object of a stream's status (NULL if it has no recording). */
json_t *sv_api_dvr_status(sv_api *api, const char *name);

#endif
