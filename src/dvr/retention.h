/* DVR retention: expiration and disk quotas, applied continuously (see dvr.h).
 *
 * A pass is planned on the loop thread (each stream in the catalog with its effective
 * settings, each root with its strictest quota) and executed on the worker pool: expired
 * segments per stream, then per root the oldest unlocked segments while the root is over
 * its byte limit, its percent-of-filesystem limit, or short of free space (a write failed
 * there). Catalog rows go first, then files; locked segments are never touched. One pass
 * runs at a time; a kick during a pass schedules another right after. */
#ifndef SV_DVR_RETENTION_H
#define SV_DVR_RETENTION_H

#include <jansson.h>
#include <stdint.h>

#include "core/workq.h"
#include "dvr/catalog.h"
#include "dvr/writer.h"
#include "stream/settings.h"

struct event_base;
typedef struct sv_dvr_retention sv_dvr_retention;

/* Called on the loop thread after a pass that deleted something: "dvr_segment_deleted"
 * per stream (segments, bytes, from/to in UTC seconds) and "dvr_disk_limit_reached" per
 * root over its quota (root, segments, bytes). fields: a new reference for the callee. */
typedef void (*sv_dvr_retention_cb)(void *ctx, const char *event, const char *media,
                                    json_t *fields);

sv_dvr_retention *sv_dvr_retention_new(struct event_base *base, sv_workq *wq,
                                       sv_settings *settings, sv_catalog *cat,
                                       sv_dvr_writer *writer, int interval_ms);
void sv_dvr_retention_free(sv_dvr_retention *r);
void sv_dvr_retention_set_cb(sv_dvr_retention *r, sv_dvr_retention_cb cb, void *ctx);
/* Requests a pass as soon as possible. Thread-safe. */
void sv_dvr_retention_kick(sv_dvr_retention *r);
void sv_dvr_retention_stats(sv_dvr_retention *r, uint64_t *passes, uint64_t *segments,
                            uint64_t *bytes);

#endif
