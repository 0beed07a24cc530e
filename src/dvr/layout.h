/* DVR on-disk layout: where a segment of a stream lives under a DVR root.
 *
 * A closed segment is `{stream}/{YYYY}/{MM}/{DD}/{HH}/{MM}-{SS}-{mmm}_{duration_ms}.ts`
 * and the segment being written is `{stream}/{YYYY}/{MM}/{DD}/{HH}/{MM}-{SS}-{mmm}.ts.part`,
 * both relative to a DVR root, with the start time in UTC (the folder is the hour the
 * segment *starts* in, even when it runs past the hour). `{stream}` is the stream name
 * itself ("live/cam1", or deeper "tenant/live/cam1"), so a path parses from the right:
 * the last five components are the date and the file, everything before is the name.
 *
 * Everything here is pure (no I/O, no allocation except the *_dup builders) and
 * thread-safe, except sv_dvr_layout_walk, which reads directories. Paths are canonical:
 * a parsed path re-builds to the exact same bytes, anything else (other digit counts,
 * Feb 30, leading zeros in the duration, "..", junk files) is refused.
 *
 * Not here: creating directories, renaming .part files, repairing them (the recorder and
 * recovery do that), the catalog (dvr/catalog.h). */
#ifndef SV_DVR_LAYOUT_H
#define SV_DVR_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Longest stream name in bytes, and most '/'-separated parts in a name. */
#define SV_DVR_STREAM_NAME_MAX 200
#define SV_DVR_STREAM_PARTS_MAX 16
/* Buffer size (with the NUL) that holds any relative path built or accepted here. */
#define SV_DVR_LAYOUT_PATH_MAX 256
/* Longest segment duration accepted (1 hour). The recorder must cut at least this often;
 * the catalog relies on it to find segments overlapping a time with an index range. */
#define SV_DVR_SEG_MAX_MS INT64_C(3600000)
/* Latest start time representable (9999-12-31T23:59:59.999Z). Earliest is 0 (1970). */
#define SV_DVR_TIME_MAX_MS INT64_C(253402300799999)

/* Result of parsing a relative path. The stream name is the first stream_len bytes of the
 * parsed path (no copy is made). */
typedef struct sv_dvr_layout_info {
    size_t stream_len;
    int64_t start_ms;    /* UTC milliseconds */
    int64_t duration_ms; /* 0 for a .part file */
    int is_part;         /* 1 for `.ts.part`, 0 for a closed `.ts` segment */
} sv_dvr_layout_info;

/* 1 if name is a valid stream name: 1..SV_DVR_STREAM_NAME_MAX bytes of parts made of
 * [A-Za-z0-9_.-], joined by single '/', at most SV_DVR_STREAM_PARTS_MAX parts, no part
 * equal to "." or "..". 0 otherwise (NULL included). Borrowed; thread-safe. */
int sv_dvr_layout_name_valid(const char *name);

/* Writes the relative path of a closed segment into out[0..size) with a NUL.
 * stream: borrowed; start_ms in [0, SV_DVR_TIME_MAX_MS]; duration_ms in
 * [1, SV_DVR_SEG_MAX_MS]. Returns the path length (> 0), SV_EINVAL for a bad argument, or
 * SV_ETOOBIG when size is too small (SV_DVR_LAYOUT_PATH_MAX is always enough). */
int sv_dvr_layout_segment_path(char *out, size_t size, const char *stream, int64_t start_ms,
                               int64_t duration_ms);
/* Same for the in-progress file `....ts.part` of a segment starting at start_ms. */
int sv_dvr_layout_part_path(char *out, size_t size, const char *stream, int64_t start_ms);

/* Allocating variants: on success *out is a malloc'd string the caller owns and frees
 * with free(); returns 0, SV_EINVAL or SV_ENOMEM (*out untouched on failure). */
int sv_dvr_layout_segment_path_dup(char **out, const char *stream, int64_t start_ms,
                                   int64_t duration_ms);
int sv_dvr_layout_part_path_dup(char **out, const char *stream, int64_t start_ms);

/* Parses a relative path (rel[0..len), borrowed, need not be NUL-terminated) into *info.
 * Returns 0, or SV_EINVAL when the path is not exactly a segment or part path built by
 * the functions above (absolute paths, "..", wrong digits, impossible dates, other
 * extensions are all refused). Pure. */
int sv_dvr_layout_parse(const char *rel, size_t len, sv_dvr_layout_info *info);

/* One file found by the walker. All pointers are borrowed and valid only during the
 * callback. */
typedef struct sv_dvr_layout_entry {
    const char *relpath; /* path relative to the root, NUL-terminated */
    const char *stream;  /* stream name, NUL-terminated */
    int64_t start_ms;
    int64_t duration_ms; /* 0 for a .part file */
    int is_part;
    int64_t bytes; /* file size at the time of the walk */
} sv_dvr_layout_entry;

/* Return 0 to continue the walk, anything else to stop it (the walk returns that value). */
typedef int (*sv_dvr_layout_walk_cb)(const sv_dvr_layout_entry *e, void *ud);

/* Visits every segment and part file under root (borrowed; the root itself may be a
 * symlink), recursively, in directory order (unsorted). Files and directories that do
 * not match the layout are skipped, symlinks below the root are never followed (neither
 * files nor directories), so the walk never leaves the root. An unreadable subdirectory
 * is logged and skipped. Returns 0 when the whole tree was visited, the callback's
 * non-zero value if it stopped the walk, SV_ENOTFOUND if root does not exist, SV_EIO if it
 * cannot be opened. Blocking I/O: call from a worker thread, never the network loop.
 * Thread-safe (no shared state); the callback runs on the calling thread. */
int sv_dvr_layout_walk(const char *root, sv_dvr_layout_walk_cb cb, void *ud);

#endif
