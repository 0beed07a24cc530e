/* Archive export engine: a time window of recorded segments as one MP4 or MPEG-TS file.
 *
 * Blocking code for worker threads (no sockets, no event loop). Two steps:
 *   1. sv_export_plan: reads the segments once and decides the output exactly. MP4: every
 *      sample of the window is demuxed once to record its metadata (track, size, dts,
 *      pts, key) and where it came from (segment + frame ordinal), then the MP4 header is
 *      built, so the total size is known before the first byte (Content-Length, Range).
 *      TS: the whole segments overlapping the window, byte for byte.
 *   2. sv_export_reader: any byte range of the planned file, in pieces, into a caller
 *      buffer: header bytes from memory, payload by re-demuxing from the segment holding
 *      the first needed sample. sv_export_to_file writes the whole file atomically.
 * A plan is immutable once made: several readers (threads) may use one plan at once.
 * Memory: the sample table (~17 bytes per sample, ~4 MB per hour) plus small fixed
 * buffers, whatever the window length. See docs/internals/archive-export.md.
 *
 * MP4 window rule: the output starts at the last video keyframe at or before from_ms
 * (the first keyframe of the window when there is none before it), audio from the same
 * instant, and ends before to_ms. Sample UTC = segment start_ms + (dts - the segment's
 * first dts) / 90. Within a contiguous recording run (a segment starting within 100 ms of
 * the previous one's end) the original timestamps are kept; a gap is collapsed: the next
 * run starts right after the previous one ends in the output, which plays continuously
 * (its duration is the recorded media, not the wall-clock window). A codec change ends the
 * MP4 output at the change. Not here: catalog queries (the caller lists the segments),
 * HTTP, async jobs and their events. */
#ifndef SV_ARCHIVE_EXPORT_H
#define SV_ARCHIVE_EXPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/mp4_mux.h"

typedef enum { SV_EXPORT_MP4 = 0, SV_EXPORT_TS = 1 } sv_export_format;

/* One recorded segment (e.g. from sv_catalog_list: root + "/" + path). */
typedef struct sv_export_seg {
    const char *path; /* absolute file path; borrowed for the call, copied into the plan */
    int64_t start_ms; /* UTC */
    int64_t duration_ms;
} sv_export_seg;

typedef struct sv_export_plan sv_export_plan;
typedef struct sv_export_reader sv_export_reader;

/* Plans the export of [from_ms, to_ms) from segs[0..nsegs) (in start order, the segments
 * overlapping the window; others are ignored). max_window_ms caps to_ms - from_ms
 * (0: no cap). meta (MP4 only, may be NULL) is copied. On success *out is a new plan the
 * caller owns (sv_export_plan_free). Returns 0, SV_EINVAL (bad arguments, from >= to),
 * SV_ETOOBIG (window over the cap), SV_ENOTFOUND (no media in the window: no segment,
 * or no usable frame), SV_EIO (a segment could not be read), SV_ENOMEM. cancel (may be
 * NULL) is checked between segments (SV_ECLOSED when set). Blocking: reads every MP4
 * segment of the window once (TS: only stats the files). */
int sv_export_plan_new(const sv_export_seg *segs, size_t nsegs, int64_t from_ms, int64_t to_ms,
                       int64_t max_window_ms, sv_export_format fmt, const sv_mp4_meta *meta,
                       const atomic_int *cancel, sv_export_plan **out);
void sv_export_plan_free(sv_export_plan *p); /* NULL-safe; no reader may be open */

/* Accessors (borrowed plan). */
uint64_t sv_export_size(const sv_export_plan *p);          /* total bytes of the file */
int64_t sv_export_first_utc_ms(const sv_export_plan *p);  /* UTC of the first sample */
int64_t sv_export_duration_ms(const sv_export_plan *p);    /* media duration */
const char *sv_export_content_type(const sv_export_plan *p); /* "video/mp4", "video/mp2t" */
size_t sv_export_sample_count(const sv_export_plan *p);    /* MP4 samples; TS: 0 */

/* A reader of bytes [off, off + len) of the planned file (len is clipped to the end).
 * p is borrowed and must outlive the reader; cancel (may be NULL) is borrowed too and
 * checked between pieces. *out is caller-owned (sv_export_reader_free). Returns 0,
 * SV_EINVAL (off past the end), SV_ENOMEM. Opens no file until the first read. */
int sv_export_reader_new(const sv_export_plan *p, uint64_t off, uint64_t len,
                         const atomic_int *cancel, sv_export_reader **out);
/* Copies the next up to max bytes of the range into buf. Returns the count (> 0), 0 at the
 * end of the range, or SV_ECLOSED (cancelled), SV_EIO / SV_ENOTFOUND (a segment is gone
 * or changed since the plan: its frames no longer match), SV_ENOMEM. Blocking. */
ssize_t sv_export_read(sv_export_reader *r, uint8_t *buf, size_t max);
void sv_export_reader_free(sv_export_reader *r); /* NULL-safe */

/* Percent (0..100) done; called from the writing thread when the value changes. */
typedef void (*sv_export_progress_cb)(void *ctx, int percent);

#define SV_EXPORT_OVERWRITE 1u /* flag: replace an existing file at path */

/* Writes the whole planned file to path (borrowed): into "{path}.part", fsync, rename,
 * fsync of the directory. Refuses an existing path (SV_EEXIST) unless flags has
 * SV_EXPORT_OVERWRITE. cb may be NULL. The temp file is removed on any failure or on
 * cancel (SV_ECLOSED). Returns 0, SV_EEXIST, SV_ECLOSED, SV_EIO, SV_ENOSPC, SV_ENOMEM,
 * or a reader error. Blocking. */
int sv_export_to_file(const sv_export_plan *p, const char *path, sv_export_progress_cb cb,
                      void *ctx, const atomic_int *cancel, unsigned flags);

#endif
