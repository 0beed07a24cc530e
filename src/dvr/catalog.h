/* DVR catalog: the SQLite index of recorded segments, DVR locks and API-made settings.
 *
 * One file (e.g. {data}/catalog.db) in WAL mode with synchronous=NORMAL. Tables:
 *   segments(id, stream, root, path, start_ms, duration_ms, bytes)  path is relative to
 *            root and is always sv_dvr_layout_segment_path(stream, start_ms, duration_ms)
 *   seg_totals(stream, root, count, bytes)   kept by triggers, so stats/quota are O(1)
 *   locks(stream, from_ms, to_ms)            half-open [from, to), merged per stream
 *   settings(kind, name, json)               e.g. ('stream', 'live/cam1', '{...}')
 * and PRAGMA user_version as the schema version. Times are UTC milliseconds, intervals
 * are half-open [from, to). A segment [s, s+d) overlaps [a, b) when s < b and s + d > a.
 *
 * The catalog is an index, not the truth: segments can always be rebuilt from the files
 * (sv_catalog_rebuild). Locks and settings live only in the database, so every change to
 * them also rewrites a small JSON sidecar next to it ({path}.state.json, written
 * atomically: temp file, fsync, rename). When open() creates a fresh database (the old
 * one was lost or quarantined) it imports that sidecar, so locks and settings survive a
 * rebuild (to really start from scratch, delete the sidecar too). The sidecar is per catalog, not per DVR root, because a lock belongs to a
 * stream whose root may change and may exist before any segment does. A failed sidecar
 * write is logged and does not fail the call (the database change stands; the next
 * change rewrites the whole file). Segments are never in the sidecar.
 *
 * Threads: every function is thread-safe. A handle has two connections: a writer guarded
 * by one mutex (used by all functions that modify) and a read-only connection guarded by
 * another (used by all queries). With WAL, a query never waits for a write transaction,
 * only for another query. Writers block on fsync and may take long (rebuild), so call
 * them from the writer/worker thread; queries are short (indexed) and may run on the
 * network loop. Callbacks (settings list) run with the read mutex held: they must not
 * call back into the catalog.
 *
 * Errors: 0 or a negative SV_E* code; the SQLite message is logged once, here.
 * SV_EINVAL from open means "not a database / corrupt / not ours": quarantine the file
 * (sv_catalog_quarantine), open again (creates a fresh one) and rebuild.
 *
 * Not here: deleting files (functions that delete rows hand back the paths), repairing
 * .part files, deciding when retention runs. */
#ifndef SV_DVR_CATALOG_H
#define SV_DVR_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#define SV_CATALOG_SCHEMA_VERSION 1

typedef struct sv_catalog sv_catalog;

/* ---- open / close / recovery ---- */

/* Opens or creates the catalog at path (borrowed; the directory must exist). Runs
 * PRAGMA quick_check (O(database size): a one-time start-up cost). On success *out is a
 * new handle the caller owns (sv_catalog_close). Returns SV_EINVAL when the file is not a
 * database, is corrupt or belongs to something else; SV_EUNSUPPORTED when its schema is
 * newer than this build; SV_EIO / SV_ENOSPC / SV_ENOMEM otherwise. Blocking. */
int sv_catalog_open(const char *path, sv_catalog **out);
/* Closes both connections and frees the handle. NULL-safe. No call may be in flight. */
void sv_catalog_close(sv_catalog *cat);

/* Moves a bad catalog aside: renames path, path-wal and path-shm to
 * "{path}.corrupt-{unix seconds}" (+ "-wal", "-shm"); the sidecar stays in place so the
 * next open imports it. The catalog must not be open. If moved_to is not NULL it receives
 * the new name (malloc'd, caller frees). Returns 0, SV_ENOTFOUND, SV_EIO or SV_ENOMEM. */
int sv_catalog_quarantine(const char *path, char **moved_to);

/* Empties the segments table and re-inserts every closed segment found by
 * sv_dvr_layout_walk under each root (roots[0..nroots), borrowed; each stored as given,
 * so pass the same spelling the recorder uses). .part files are ignored: repair them
 * first. A root that does not exist contributes nothing (warning logged). One
 * transaction: on any error nothing changes. Locks and settings are untouched. If
 * nsegments is not NULL it receives the number of segments indexed. Writer; blocking. */
int sv_catalog_rebuild(sv_catalog *cat, const char *const *roots, size_t nroots,
                       size_t *nsegments);

/* ---- segments ---- */

/* A segment to add; all strings borrowed for the call. */
typedef struct sv_catalog_newseg {
    const char *stream;  /* valid stream name (sv_dvr_layout_name_valid) */
    const char *root;    /* DVR root the file lives under */
    int64_t start_ms;    /* [0, SV_DVR_TIME_MAX_MS] */
    int64_t duration_ms; /* [1, SV_DVR_SEG_MAX_MS] */
    int64_t bytes;       /* >= 0 */
} sv_catalog_newseg;

/* Adds segs[0..n) in one transaction (all or nothing). The relative path is derived with
 * sv_dvr_layout_segment_path. A segment with the same (stream, start_ms) as an existing
 * row replaces it (so re-adding after a crash is harmless). If ids is not NULL it
 * receives n row ids (caller-owned array). SV_EINVAL if any segment is invalid. Writer. */
int sv_catalog_add(sv_catalog *cat, const sv_catalog_newseg *segs, size_t n, int64_t *ids);

/* One catalog row. The strings point into the owning list and live until it is freed. */
typedef struct sv_catalog_seg {
    int64_t id;
    const char *stream;
    const char *root;
    const char *path; /* relative to root */
    int64_t start_ms;
    int64_t duration_ms;
    int64_t bytes;
} sv_catalog_seg;

/* A caller-owned list of rows (usually on the stack). Zero-initialise it ({0}) before
 * the first use; functions that fill it replace its contents (freeing old ones). */
typedef struct sv_catalog_seglist {
    sv_catalog_seg *v;
    size_t n;
    /* private */
    size_t cap;
    char *pool; /* string storage for v[i].stream/root/path */
    size_t pool_len, pool_cap;
} sv_catalog_seglist;

/* Frees what the list holds and zeroes it (the struct itself is the caller's). NULL-safe. */
void sv_catalog_seglist_free(sv_catalog_seglist *l);

/* Segments of stream overlapping [from_ms, to_ms), in start order, into *out. Uses the
 * (stream, start_ms) index for both ends (segments are at most SV_DVR_SEG_MAX_MS long).
 * Reader. */
int sv_catalog_list(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                    sv_catalog_seglist *out);

typedef struct sv_catalog_range {
    int64_t from_ms;
    int64_t duration_ms;
} sv_catalog_range;

/* Recorded ranges of stream: its segments in start order merged while each one starts no
 * later than tolerance_ms after the end of the range so far (overlaps merge too). On
 * success *out is a malloc'd array (caller frees with free(); NULL when *n == 0). One
 * ordered scan of a covering index merged in C: ~0.1 us CPU per segment (about 4.5 ms
 * for a day of 2 s segments, linear beyond), so for multi-week archives on the network
 * loop prefer sv_catalog_ranges_window. Reader. */
int sv_catalog_ranges(sv_catalog *cat, const char *stream, int64_t tolerance_ms,
                      sv_catalog_range **out, size_t *n);
/* Same, built only from the segments overlapping [from_ms, to_ms) (from < to; the cost is
 * proportional to the window). Ranges are not clipped to the window. Reader. */
int sv_catalog_ranges_window(sv_catalog *cat, const char *stream, int64_t from_ms,
                             int64_t to_ms, int64_t tolerance_ms, sv_catalog_range **out,
                             size_t *n);

/* The (start, duration) of each segment of stream overlapping [from_ms, to_ms), in start
 * order, unmerged: what an archive playlist needs (paths derive from the layout). *out
 * is malloc'd (caller frees; NULL when *n == 0). A covering-index scan. Reader. */
int sv_catalog_spans(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                     sv_catalog_range **out, size_t *n);

typedef struct sv_catalog_stats {
    int64_t count;       /* segments; 0 when the stream has none (other fields 0 too) */
    int64_t bytes;       /* sum of segment sizes */
    int64_t first_ms;    /* start of the first segment */
    int64_t last_end_ms; /* end of the segment ending last */
} sv_catalog_stats;

/* Stats of one stream, all roots together. Reader. */
int sv_catalog_stream_stats(sv_catalog *cat, const char *stream, sv_catalog_stats *st);

/* Names of the streams having at least one segment, sorted. On success *names is a
 * malloc'd array of *n malloc'd strings; free with sv_catalog_strv_free. Reader. */
int sv_catalog_streams(sv_catalog *cat, char ***names, size_t *n);
/* Frees such an array and its strings. NULL-safe. */
void sv_catalog_strv_free(char **v, size_t n);

/* ---- deletion ---- */

/* Flag for the delete functions: keep segments that overlap a lock of their stream. */
#define SV_CATALOG_KEEP_LOCKED 1u

/* Deletes rows by id (ids borrowed), in one transaction, locks ignored. Ids not present
 * are skipped. *ndeleted (optional) receives the number of rows deleted. Writer. */
int sv_catalog_delete_ids(sv_catalog *cat, const int64_t *ids, size_t n, size_t *ndeleted);

/* Deletes the rows of list (by id) in one transaction and compacts the list in place to
 * the rows actually deleted, whose files the caller then removes. With
 * SV_CATALOG_KEEP_LOCKED a row overlapping a lock *now* is kept (closes the race between
 * a retention query and a lock added meanwhile). Writer. */
int sv_catalog_delete_segs(sv_catalog *cat, sv_catalog_seglist *list, unsigned flags);

/* Deletes the segments of stream lying entirely inside [from_ms, to_ms); segments only
 * partly inside are kept (deleting them would remove recording outside the range). With
 * SV_CATALOG_KEEP_LOCKED locked segments are kept too. The deleted rows (root + path for
 * the files) are returned in *deleted, in no particular order. Writer. */
int sv_catalog_delete_range(sv_catalog *cat, const char *stream, int64_t from_ms,
                            int64_t to_ms, unsigned flags, sv_catalog_seglist *deleted);

/* ---- retention queries (read-only; delete with sv_catalog_delete_segs) ---- */

/* Up to limit segments of stream ending at or before cutoff_ms (start + duration <=
 * cutoff) that overlap no lock of the stream, oldest first. Reader. */
int sv_catalog_expired(sv_catalog *cat, const char *stream, int64_t cutoff_ms, size_t limit,
                       sv_catalog_seglist *out);
/* Up to limit segments stored under root (any stream) that overlap no lock, oldest start
 * first: what to delete to bring a disk under quota. Reader. */
int sv_catalog_oldest_in_root(sv_catalog *cat, const char *root, size_t limit,
                              sv_catalog_seglist *out);
/* Total bytes of the segments stored under root (O(streams), from seg_totals). Reader. */
int sv_catalog_root_bytes(sv_catalog *cat, const char *root, int64_t *bytes);

/* ---- locks ---- */

typedef struct sv_catalog_lock {
    int64_t from_ms;
    int64_t to_ms;
} sv_catalog_lock;

/* Locks [from_ms, to_ms) of stream (from < to), merging with the stream's locks that
 * overlap or touch it. Writer; also rewrites the sidecar. */
int sv_catalog_lock_add(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms);
/* Unlocks [from_ms, to_ms): subtracts it from the stream's locks, splitting a lock that
 * covers it on both sides. Unlocking an unlocked interval is not an error. Writer;
 * rewrites the sidecar. */
int sv_catalog_lock_remove(sv_catalog *cat, const char *stream, int64_t from_ms,
                           int64_t to_ms);
/* Locks of stream ordered by from_ms; *out malloc'd (caller frees; NULL if *n == 0).
 * Reader. */
int sv_catalog_locks(sv_catalog *cat, const char *stream, sv_catalog_lock **out, size_t *n);

/* ---- settings (API-made configuration, stored verbatim as JSON text) ---- */

/* Inserts or replaces (kind, name) -> json (all borrowed; json must parse as JSON, else
 * SV_EINVAL). Writer; rewrites the sidecar. */
int sv_catalog_setting_put(sv_catalog *cat, const char *kind, const char *name,
                           const char *json);
/* *json receives a malloc'd copy (caller frees). SV_ENOTFOUND if absent. Reader. */
int sv_catalog_setting_get(sv_catalog *cat, const char *kind, const char *name, char **json);
/* Deletes (kind, name); SV_ENOTFOUND if absent. Writer; rewrites the sidecar. */
int sv_catalog_setting_delete(sv_catalog *cat, const char *kind, const char *name);

/* name and json are borrowed for the call. Return non-zero to stop the listing. */
typedef int (*sv_catalog_setting_cb)(const char *name, const char *json, void *ud);
/* Calls cb for every setting of kind, ordered by name. Returns 0, the callback's non-zero
 * value, or an error. Reader; cb runs with the read mutex held (no catalog calls). */
int sv_catalog_settings_list(sv_catalog *cat, const char *kind, sv_catalog_setting_cb cb,
                             void *ud);

#endif
