/* The DVR writer thread: the only place archive segment files are written.
 *
 * The recorder (loop thread) hands it a sequence of operations per segment —
 * open, append bytes, close (or abort) — through one bounded queue; the writer creates
 * `{root}/{part path}`, appends, and on close fdatasyncs, renames the `.part` file to its
 * final name and adds the segment to the catalog. Catalog rows are batched: everything
 * closed while the queue had work is committed in one transaction.
 *
 * Back-pressure: the queue is bounded in bytes. sv_dvr_writer_append refuses (returns
 * SV_ETOOBIG) past the bound and the recorder drops the rest of that segment's GOP, so a
 * stalled disk costs recording, never the network loop. Disk full: a failed write
 * (ENOSPC or another error) removes that segment's file, marks its root full (recording
 * into it pauses) and asks for a retention pass; the root is retried after a back-off. */
#ifndef SV_DVR_WRITER_H
#define SV_DVR_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "dvr/catalog.h"

typedef struct sv_dvr_writer sv_dvr_writer;
typedef struct sv_dvr_wfile sv_dvr_wfile; /* one segment in flight */

/* on_error runs on the WRITER thread when a write fails (root now paused); it must only
 * hand work over (event_active, sv_events_emit_async). */
typedef void (*sv_dvr_write_error_fn)(void *ctx, const char *root, const char *stream,
                                      const char *path, int err);
sv_dvr_writer *sv_dvr_writer_new(sv_catalog *cat, size_t max_queued_bytes,
                                 sv_dvr_write_error_fn on_error, void *ctx);
/* Drains the queue (every queued close completes), joins the thread. NULL-safe. */
void sv_dvr_writer_free(sv_dvr_writer *w);

/* Starts a segment: file {root}/{part path of stream/start_ms}. Strings copied.
 * Returns NULL if the root is paused (full) or on OOM. */
sv_dvr_wfile *sv_dvr_writer_open(sv_dvr_writer *w, const char *root, const char *stream,
                                 int64_t start_ms);
/* Queues bytes (takes a reference on b). SV_ETOOBIG when the queue is full. */
int sv_dvr_writer_append(sv_dvr_writer *w, sv_dvr_wfile *f, sv_buf *b);
/* Completes the segment with its duration; f is consumed. */
void sv_dvr_writer_close(sv_dvr_writer *w, sv_dvr_wfile *f, int64_t duration_ms);
/* Drops the segment and its file; f is consumed. */
void sv_dvr_writer_abort(sv_dvr_writer *w, sv_dvr_wfile *f);
/* Queues removal of a file (root/relpath) and of directories left empty up to root. */
void sv_dvr_writer_unlink(sv_dvr_writer *w, const char *root, const char *relpath);
/* Queues a settings change for the catalog (json NULL: delete). Strings copied. The writer
 * applies them in order, off the loop thread. */
void sv_dvr_writer_setting(sv_dvr_writer *w, const char *kind, const char *name,
                           const char *json);
/* True if the file hit a write error (its segment will be dropped). Loop-thread safe. */
bool sv_dvr_wfile_failed(const sv_dvr_wfile *f);
/* True while the root is marked full. Clear with sv_dvr_writer_resume (after retention). */
bool sv_dvr_writer_root_paused(sv_dvr_writer *w, const char *root);
void sv_dvr_writer_resume(sv_dvr_writer *w, const char *root);

typedef struct sv_dvr_writer_stats {
    uint64_t segments_written, bytes_written, write_errors, queue_full_drops;
    uint64_t queued_bytes;
} sv_dvr_writer_stats;
void sv_dvr_writer_get_stats(sv_dvr_writer *w, sv_dvr_writer_stats *st);

/* Removes root/relpath and then each parent directory that is now empty, stopping at
 * root. Blocking; shared with retention. */
void sv_dvr_remove_file(const char *root, const char *relpath);
/* mkdir -p of the directory part of root/relpath. Returns 0 or -errno. */
int sv_dvr_mkdirs_for(const char *root, const char *relpath);

#endif
