/* The DVR subsystem: recorder, retention and crash recovery around the catalog.
 *
 * Recorder: a consumer on every stream. While the stream's effective DVR settings enable
 * recording it muxes frames with the shared TS muxer into segments cut at the first
 * keyframe at or after `segment_duration` (and at every clock epoch change, codec change
 * or unpublish), and streams the bytes to the writer thread in chunks (<= 256 KiB or
 * 1 s of media), so a crash loses at most the frames not yet handed over. Each segment's
 * UTC start comes from the stream's media-to-wall-clock anchor.
 *
 * Retention: a periodic pass on the worker pool (and at once when a root fills up)
 * deletes, oldest first and never overlapping a lock, the segments older than
 * `expiration` and, per root, what exceeds `disk_limit` (bytes of archive or percent of
 * the filesystem).
 *
 * Recovery (sv_dvr_recover, at start-up before the loop runs): repairs `.part` files left
 * by a crash (cut back to the last whole frame, renamed with their real duration, or
 * removed if nothing usable is left) and reconciles the catalog with the files in every
 * known root; with a missing or corrupt catalog it rebuilds the index from the files. */
#ifndef SV_DVR_DVR_H
#define SV_DVR_DVR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/workq.h"
#include "dvr/catalog.h"
#include "stream/settings.h"
#include "stream/stream.h"

typedef struct sv_dvr sv_dvr;

#define SV_DVR_RANGE_TOLERANCE_MS 100 /* segments closer than this form one range */

typedef struct sv_dvr_config {
    const char *catalog_path;  /* {data_dir}/catalog.db */
    int retention_interval_ms; /* periodic pass; default 5000 */
    size_t max_queued_bytes;   /* writer queue bound; default 256 MiB */
    struct sv_events *events;  /* dvr_* events; may be NULL */
} sv_dvr_config;

/* Opens (quarantining and rebuilding a corrupt one) the catalog, repairs and reconciles
 * every root the settings name. Blocking: call before the loop runs. NULL on failure. */
sv_dvr *sv_dvr_new(struct event_base *base, sv_workq *wq, sv_settings *settings,
                   const sv_dvr_config *cfg);
/* Closes open segments (they are written out), joins the writer, closes the catalog. */
void sv_dvr_free(sv_dvr *dvr);

sv_catalog *sv_dvr_catalog(sv_dvr *dvr);
/* Stores (json) or deletes (NULL) a catalog setting through the writer thread, in order. */
void sv_dvr_store_setting(sv_dvr *dvr, const char *kind, const char *name, const char *json);
/* Attach/detach the recorder to a stream (from the registry hooks). */
int sv_dvr_attach(sv_dvr *dvr, sv_stream *s);
void sv_dvr_detach(sv_dvr *dvr, sv_stream *s);
/* Runs a retention pass now (asynchronously). */
void sv_dvr_retention_now(sv_dvr *dvr);
/* Queues removal of catalog-deleted files (root + relpath of each row). */
void sv_dvr_remove_files(sv_dvr *dvr, const sv_catalog_seglist *deleted);

/* Rebuilds the catalog from the files of every root the settings name (for
 * --rebuild-index). Returns the number of segments indexed or a negative error. */
int sv_dvr_rebuild_index(sv_settings *settings, const char *catalog_path);

typedef struct sv_dvr_stats {
    uint64_t segments_written, bytes_written, write_errors, dropped_frames;
    uint64_t retention_deleted_segments, retention_deleted_bytes, retention_passes;
    uint64_t queued_bytes;
} sv_dvr_stats;
void sv_dvr_get_stats(sv_dvr *dvr, sv_dvr_stats *st);

/* Every distinct DVR root the settings name (default, global, templates, streams) plus
 * the roots of streams in the catalog. Caller frees with sv_catalog_strv_free. */
int sv_dvr_roots(sv_settings *settings, sv_catalog *cat, char ***roots, size_t *n);

#endif
