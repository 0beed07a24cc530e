/* DVR catalog on SQLite (see catalog.h for the model, threading and error contract).
 *
 * How: two connections per handle, a writer (BEGIN IMMEDIATE transactions, guarded by
 * wmu) and a read-only reader (guarded by rmu); WAL lets the reader see the last commit
 * while a write is in progress. Indexes: segments(stream, start_ms, duration_ms) covers
 * the range scan so it never touches the table; segments(root, start_ms) serves quota;
 * seg_totals is maintained by triggers so stats and per-root bytes do not scan segments.
 * Segments are never updated in place (replace = delete + insert), which is what keeps
 * the triggers exact. Statements are prepared per call (microseconds) except in batch
 * loops, where one prepared statement is reused. Lists copy strings into one pool per
 * list, interning the stream/root repeated on consecutive rows.
 *
 * Not here: file deletion, .part repair, scheduling of retention (the lead's recorder,
 * recovery and retention modules drive these functions). */
#include "dvr/catalog.h"

#include "core/error.h"
#include "core/log.h"
#include "dvr/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sv_catalog {
    sqlite3 *w;          /* writer connection; only with wmu held */
    sqlite3 *r;          /* read-only connection; only with rmu held */
    pthread_mutex_t wmu, rmu;
    char *path;          /* database file */
    char *sidecar;       /* {path}.state.json: locks + settings, survives a rebuild */
};

#define SEG_COLS "id, stream, root, path, start_ms, duration_ms, bytes"
#define NOT_LOCKED                                                                       \
    " NOT EXISTS (SELECT 1 FROM locks l WHERE l.stream = segments.stream AND"            \
    " l.from_ms < segments.start_ms + segments.duration_ms AND l.to_ms > segments.start_ms) "

static const char schema_v1[] =
    "CREATE TABLE segments(id INTEGER PRIMARY KEY, stream TEXT NOT NULL, root TEXT NOT NULL,"
    " path TEXT NOT NULL, start_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL);"
    "CREATE INDEX segments_stream_start ON segments(stream, start_ms, duration_ms);"
    "CREATE INDEX segments_root_start ON segments(root, start_ms);"
    "CREATE TABLE seg_totals(stream TEXT NOT NULL, root TEXT NOT NULL, count INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, PRIMARY KEY(stream, root)) WITHOUT ROWID;"
    "CREATE TRIGGER segments_ai AFTER INSERT ON segments BEGIN"
    " INSERT INTO seg_totals(stream, root, count, bytes) VALUES(new.stream, new.root, 1,"
    " new.bytes) ON CONFLICT(stream, root) DO UPDATE SET count = count + 1,"
    " bytes = bytes + excluded.bytes; END;"
    "CREATE TRIGGER segments_ad AFTER DELETE ON segments BEGIN"
    " UPDATE seg_totals SET count = count - 1, bytes = bytes - old.bytes"
    " WHERE stream = old.stream AND root = old.root;"
    " DELETE FROM seg_totals WHERE stream = old.stream AND root = old.root AND count <= 0;"
    " END;"
    "CREATE TABLE locks(id INTEGER PRIMARY KEY, stream TEXT NOT NULL, from_ms INTEGER NOT NULL,"
    " to_ms INTEGER NOT NULL, CHECK(to_ms > from_ms));"
    "CREATE INDEX locks_stream_from ON locks(stream, from_ms);"
    "CREATE TABLE settings(kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,"
    " PRIMARY KEY(kind, name)) WITHOUT ROWID;";

/* ---- small SQLite helpers ---- */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: return 0;
    case SQLITE_NOMEM: return SV_ENOMEM;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT: return SV_EINVAL;
    case SQLITE_FULL: return SV_ENOSPC;
    default: return SV_EIO;
    }
}

/* Logs the connection's last error once and maps rc. */
static int db_err(sqlite3 *db, int rc, const char *what)
{
    sv_error(NULL, "catalog: %s: %s (%d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
             rc);
    return map_rc(rc);
}

static int exec(sqlite3 *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_err(db, rc, what);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : db_err(db, rc, "prepare");
}

/* Steps a statement that returns no rows (or whose rows are ignored) to the end. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_err(db, rc, what);
}

/* Prepares sql, binds (?1 text, ?2, ?3 int64), runs it to the end, finalizes. */
static int run3(sqlite3 *db, const char *sql, const char *s, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, sql, &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a);
        sqlite3_bind_int64(st, 3, b);
        rc = step_done(db, st, "write");
    }
    sqlite3_finalize(st);
    return rc;
}

static int64_t clamp_limit(size_t limit)
{
    return limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

/* ---- write transactions: lock + BEGIN IMMEDIATE ... COMMIT/ROLLBACK + unlock ---- */

static int sidecar_save(sv_catalog *cat);

static int w_begin(sv_catalog *cat)
{
    pthread_mutex_lock(&cat->wmu);
    int rc = exec(cat->w, "BEGIN IMMEDIATE", "begin");
    if (rc < 0)
        pthread_mutex_unlock(&cat->wmu);
    return rc;
}

/* Commits when rc == 0, else rolls back; saves the sidecar after a commit when asked.
 * Returns the final result and releases the writer. */
static int w_end(sv_catalog *cat, int rc, int save_sidecar)
{
    if (rc == 0)
        rc = exec(cat->w, "COMMIT", "commit");
    if (rc < 0 && !sqlite3_get_autocommit(cat->w))
        sqlite3_exec(cat->w, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0 && save_sidecar)
        sidecar_save(cat); /* logged; the database change stands */
    pthread_mutex_unlock(&cat->wmu);
    return rc;
}

/* ---- segment lists ---- */

void sv_catalog_seglist_free(sv_catalog_seglist *l)
{
    if (!l)
        return;
    free(l->v);
    free(l->pool);
    memset(l, 0, sizeof *l);
}

/* Makes room for one more row in l->v and in the parallel offsets array. */
static int seglist_grow(sv_catalog_seglist *l, size_t **offs)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 64;
    sv_catalog_seg *v = realloc(l->v, cap * sizeof *v);
    if (!v)
        return SV_ENOMEM;
    l->v = v;
    size_t *o = realloc(*offs, cap * 3 * sizeof *o);
    if (!o)
        return SV_ENOMEM;
    *offs = o;
    l->cap = cap;
    return 0;
}

/* Stores column col of the current row in the pool; reuses prev (an offset, or SIZE_MAX)
 * when it holds the same text. */
static int pool_col(sv_catalog_seglist *l, sqlite3_stmt *st, int col, size_t prev, size_t *off)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    if (!s)
        return SV_ENOMEM; /* columns are NOT NULL: only OOM gives NULL */
    if (prev != SIZE_MAX && strlen(l->pool + prev) == len && memcmp(l->pool + prev, s, len) == 0) {
        *off = prev;
        return 0;
    }
    if (l->pool_cap - l->pool_len < len + 1) {
        size_t cap = l->pool_cap ? l->pool_cap : 4096;
        while (cap - l->pool_len < len + 1)
            cap *= 2;
        char *p = realloc(l->pool, cap);
        if (!p)
            return SV_ENOMEM;
        l->pool = p;
        l->pool_cap = cap;
    }
    memcpy(l->pool + l->pool_len, s, len);
    l->pool[l->pool_len + len] = '\0';
    *off = l->pool_len;
    l->pool_len += len + 1;
    return 0;
}

/* Appends the current row (columns in SEG_COLS order) to l. */
static int seglist_row(sv_catalog_seglist *l, size_t **offs, sqlite3_stmt *st)
{
    int rc = seglist_grow(l, offs);
    size_t i = l->n, *o = *offs + 3 * i;
    for (int c = 0; rc == 0 && c < 3; c++)
        rc = pool_col(l, st, c + 1, i ? o[c - 3] : SIZE_MAX, &o[c]);
    if (rc < 0)
        return rc;
    sv_catalog_seg *g = &l->v[i];
    g->id = sqlite3_column_int64(st, 0);
    g->start_ms = sqlite3_column_int64(st, 4);
    g->duration_ms = sqlite3_column_int64(st, 5);
    g->bytes = sqlite3_column_int64(st, 6);
    l->n++;
    return 0;
}

/* Steps st to the end collecting rows into l (emptied first). On failure l is empty. */
static int collect(sqlite3 *db, sqlite3_stmt *st, sv_catalog_seglist *l)
{
    size_t *offs = NULL;
    int rc = 0, s;
    sv_catalog_seglist_free(l);
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = seglist_row(l, &offs, st)) < 0)
            goto fail;
    if (s != SQLITE_DONE) {
        rc = db_err(db, s, "query");
        goto fail;
    }
    for (size_t i = 0; i < l->n; i++) {
        l->v[i].stream = l->pool + offs[3 * i];
        l->v[i].root = l->pool + offs[3 * i + 1];
        l->v[i].path = l->pool + offs[3 * i + 2];
    }
    free(offs);
    return 0;
fail:
    free(offs);
    sv_catalog_seglist_free(l);
    return rc;
}

/* Parameters of a query: ?1 text, ?2..?4 integers (unused ones are harmless). */
typedef struct q_args {
    const char *s;
    int64_t a, b, c;
} q_args;

static void bind_args(sqlite3_stmt *st, const q_args *q)
{
    sqlite3_bind_text(st, 1, q->s, -1, SQLITE_STATIC);
    int np = sqlite3_bind_parameter_count(st);
    const int64_t v[3] = {q->a, q->b, q->c};
    for (int i = 2; i <= np && i <= 4; i++)
        sqlite3_bind_int64(st, i, v[i - 2]);
}

/* Reader helper: runs sql with q on the read connection, collecting rows into out. */
static int read_list(sv_catalog *cat, const char *sql, const q_args *q, sv_catalog_seglist *out)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, sql, &st);
    if (rc == 0) {
        bind_args(st, q);
        rc = collect(cat->r, st, out);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    if (rc < 0)
        sv_catalog_seglist_free(out);
    return rc;
}

/* ---- sidecar: locks + settings as JSON next to the database ---- */

static char *str_cat(const char *a, const char *b);

/* fsyncs the directory holding path, so a rename in it is durable. Best effort. */
static void fsync_parent(const char *path)
{
    char *dir = str_cat(path, "");
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = dir ? open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes data to path atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(const char *path, const char *data, size_t len)
{
    char *tmp = str_cat(path, ".tmp");
    if (!tmp)
        return SV_ENOMEM;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) < 0) /* close() is done in fail / below; fd stays valid here */
        goto fail;
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    free(tmp);
    fsync_parent(path);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    sv_error(NULL, "catalog: cannot write %s: %s", path, strerror(e));
    return e == ENOSPC ? SV_ENOSPC : SV_EIO;
}

/* Appends every row of sql (on the writer) to arr, as objects built by row(). */
static int dump_rows(sqlite3 *db, const char *sql, json_t *arr, json_t *(*row)(sqlite3_stmt *))
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, sql, &st), s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
        if (json_array_append_new(arr, row(st)) < 0)
            rc = SV_ENOMEM;
    if (rc == 0 && s != SQLITE_DONE)
        rc = db_err(db, s, "sidecar dump");
    sqlite3_finalize(st);
    return rc;
}

static json_t *lock_row(sqlite3_stmt *st)
{
    return json_pack("{s:s, s:I, s:I}", "stream", (const char *)sqlite3_column_text(st, 0),
                     "from_ms", (json_int_t)sqlite3_column_int64(st, 1), "to_ms",
                     (json_int_t)sqlite3_column_int64(st, 2));
}

static json_t *setting_row(sqlite3_stmt *st)
{
    const char *text = (const char *)sqlite3_column_text(st, 2);
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        v = json_string(text ? text : ""); /* keep it verbatim if it ever fails to parse */
    return json_pack("{s:s, s:s, s:o}", "kind", (const char *)sqlite3_column_text(st, 0),
                     "name", (const char *)sqlite3_column_text(st, 1), "value", v);
}

/* Rewrites the sidecar from the writer's view. wmu held, outside a transaction. */
static int sidecar_save(sv_catalog *cat)
{
    char *text = NULL;
    json_t *locks = json_array(), *settings = json_array();
    json_t *root = json_pack("{s:i, s:o, s:o}", "version", 1, "locks", locks, "settings",
                             settings);
    int rc = root ? 0 : SV_ENOMEM;
    if (rc == 0)
        rc = dump_rows(cat->w, "SELECT stream, from_ms, to_ms FROM locks ORDER BY stream,"
                               " from_ms", locks, lock_row);
    if (rc == 0)
        rc = dump_rows(cat->w, "SELECT kind, name, json FROM settings ORDER BY kind, name",
                       settings, setting_row);
    if (rc == 0 && !(text = json_dumps(root, JSON_INDENT(1))))
        rc = SV_ENOMEM;
    if (rc == 0)
        rc = write_atomic(cat->sidecar, text, strlen(text));
    free(text);
    json_decref(root);
    return rc;
}

static int import_locks(sv_catalog *cat, json_t *locks)
{
    size_t i;
    json_t *l;
    json_array_foreach(locks, i, l) {
        const char *stream = NULL;
        json_int_t from = 0, to = 0;
        if (json_unpack(l, "{s:s, s:I, s:I}", "stream", &stream, "from_ms", &from, "to_ms",
                        &to) < 0 || !sv_dvr_layout_name_valid(stream) || from >= to)
            continue;
        int rc = run3(cat->w, "INSERT INTO locks(stream, from_ms, to_ms) VALUES(?1, ?2, ?3)",
                      stream, from, to);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int import_settings(sv_catalog *cat, json_t *settings)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(cat->w, "INSERT OR REPLACE INTO settings(kind, name, json) VALUES(?, ?, ?)",
                     &st);
    size_t i;
    json_t *s;
    json_array_foreach(settings, i, s) {
        const char *kind = NULL, *name = NULL;
        json_t *value = NULL;
        if (rc < 0)
            break;
        if (json_unpack(s, "{s:s, s:s, s:o}", "kind", &kind, "name", &name, "value", &value) < 0)
            continue;
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            rc = SV_ENOMEM;
            break;
        }
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        free(text);
        rc = step_done(cat->w, st, "import setting");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Imports the sidecar into a freshly created database (inside its transaction). A missing
 * sidecar is normal; an unreadable one is logged and ignored. */
static int sidecar_import(sv_catalog *cat)
{
    if (access(cat->sidecar, F_OK) < 0)
        return 0;
    json_error_t je;
    json_t *root = json_load_file(cat->sidecar, 0, &je);
    if (!root) {
        sv_warn(NULL, "catalog: ignoring unreadable %s: %s", cat->sidecar, je.text);
        return 0;
    }
    int rc = import_locks(cat, json_object_get(root, "locks"));
    if (rc == 0)
        rc = import_settings(cat, json_object_get(root, "settings"));
    if (rc == 0)
        sv_info(NULL, "catalog: restored locks and settings from %s", cat->sidecar);
    json_decref(root);
    return rc;
}

/* ---- open / close ---- */

static int pragma_int(sqlite3 *db, const char *sql, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, sql, &st);
    if (rc == 0) {
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            *v = sqlite3_column_int(st, 0);
        else
            rc = db_err(db, s, sql);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs sql (a pragma returning text rows) and checks the first row equals want. */
static int pragma_expect(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, sql, &st);
    if (rc == 0) {
        int s = sqlite3_step(st);
        const char *got = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (s != SQLITE_ROW)
            rc = db_err(db, s, sql);
        else if (!got || strcmp(got, want) != 0) {
            sv_error(NULL, "catalog: %s: %.300s", sql, got ? got : "(null)");
            rc = SV_EINVAL;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to SV_CATALOG_SCHEMA_VERSION (creating it in an empty file). */
static int migrate(sv_catalog *cat)
{
    int v = 0, rc = pragma_int(cat->w, "PRAGMA user_version", &v);
    if (rc < 0)
        return rc;
    if (v > SV_CATALOG_SCHEMA_VERSION) {
        sv_error(NULL, "catalog: %s has schema %d, newer than %d", cat->path, v,
                 SV_CATALOG_SCHEMA_VERSION);
        return SV_EUNSUPPORTED;
    }
    if (v == SV_CATALOG_SCHEMA_VERSION)
        return 0;
    /* v == 0: a new file (or someone else's database: CREATE fails -> SV_EINVAL) */
    if ((rc = exec(cat->w, "BEGIN IMMEDIATE", "begin")) < 0)
        return rc;
    int s = sqlite3_exec(cat->w, schema_v1, NULL, NULL, NULL);
    if (s != SQLITE_OK)
        rc = (s & 0xff) == SQLITE_ERROR ? (db_err(cat->w, s, "create schema"), SV_EINVAL)
                                        : db_err(cat->w, s, "create schema");
    if (rc == 0)
        rc = sidecar_import(cat);
    if (rc == 0)
        rc = exec(cat->w, "PRAGMA user_version = 1", "set version");
    if (rc == 0)
        rc = exec(cat->w, "COMMIT", "commit");
    if (rc < 0 && !sqlite3_get_autocommit(cat->w))
        sqlite3_exec(cat->w, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int open_conn(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_err(*db, rc, "open");
    sqlite3_busy_timeout(*db, 5000);
    return 0;
}

static char *str_cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb + 1);
    }
    return p;
}

int sv_catalog_open(const char *path, sv_catalog **out)
{
    if (!path || !out)
        return SV_EINVAL;
    if (!sqlite3_threadsafe()) {
        sv_error(NULL, "catalog: SQLite was built without thread support");
        return SV_EUNSUPPORTED;
    }
    sv_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return SV_ENOMEM;
    pthread_mutex_init(&cat->wmu, NULL);
    pthread_mutex_init(&cat->rmu, NULL);
    int rc = SV_ENOMEM;
    cat->path = str_cat(path, "");
    cat->sidecar = str_cat(path, ".state.json");
    if (!cat->path || !cat->sidecar)
        goto fail;
    if ((rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &cat->w)) < 0 ||
        (rc = pragma_expect(cat->w, "PRAGMA journal_mode=WAL", "wal")) < 0 ||
        (rc = exec(cat->w, "PRAGMA synchronous=NORMAL", "pragma")) < 0 ||
        (rc = pragma_expect(cat->w, "PRAGMA quick_check", "ok")) < 0 ||
        (rc = migrate(cat)) < 0 ||
        (rc = open_conn(path, SQLITE_OPEN_READONLY, &cat->r)) < 0)
        goto fail;
    *out = cat;
    return 0;
fail:
    if (rc == SV_EINVAL)
        sv_error(NULL, "catalog: %s is not a usable catalog (corrupt or foreign)", path);
    sv_catalog_close(cat);
    return rc;
}

void sv_catalog_close(sv_catalog *cat)
{
    if (!cat)
        return;
    sqlite3_close_v2(cat->r); /* reader first: the writer's close checkpoints the WAL */
    sqlite3_close_v2(cat->w);
    pthread_mutex_destroy(&cat->wmu);
    pthread_mutex_destroy(&cat->rmu);
    free(cat->path);
    free(cat->sidecar);
    free(cat);
}

/* malloc'd "{path}.corrupt-{now}{sfx}". */
static char *corrupt_name(const char *path, long long now, const char *sfx)
{
    int n = snprintf(NULL, 0, "%s.corrupt-%lld%s", path, now, sfx);
    char *p = n < 0 ? NULL : malloc((size_t)n + 1);
    if (p)
        snprintf(p, (size_t)n + 1, "%s.corrupt-%lld%s", path, now, sfx);
    return p;
}

int sv_catalog_quarantine(const char *path, char **moved_to)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    if (!path)
        return SV_EINVAL;
    long long now = (long long)time(NULL);
    int rc = 0;
    for (int i = 0; rc == 0 && i < 3; i++) {
        char *src = str_cat(path, sfx[i]), *dst = corrupt_name(path, now, sfx[i]);
        int e = !src || !dst ? ENOMEM : rename(src, dst) == 0 ? 0 : errno;
        if (e == ENOMEM)
            rc = SV_ENOMEM;
        else if (e == ENOENT)
            rc = i == 0 ? SV_ENOTFOUND : 0; /* no -wal / -shm is normal */
        else if (e) {
            sv_error(NULL, "catalog: cannot move %s aside: %s", src, strerror(e));
            rc = SV_EIO;
        }
        free(src);
        free(dst);
    }
    if (rc < 0)
        return rc;
    char *moved = corrupt_name(path, now, "");
    sv_warn(NULL, "catalog: moved %s to %s", path, moved ? moved : "(?)");
    if (moved_to && !moved)
        return SV_ENOMEM;
    if (moved_to)
        *moved_to = moved;
    else
        free(moved);
    return 0;
}

/* ---- adding segments, rebuild ---- */

/* The two statements of an insert, prepared once per batch on the writer. */
typedef struct ins_ctx {
    sqlite3 *db;
    sqlite3_stmt *del; /* replace: drop a row with the same (stream, start_ms) */
    sqlite3_stmt *ins;
} ins_ctx;

static int ins_open(ins_ctx *c, sqlite3 *db)
{
    c->db = db;
    c->del = c->ins = NULL;
    int rc = prepare(db, "DELETE FROM segments WHERE stream = ?1 AND start_ms = ?2", &c->del);
    if (rc == 0)
        rc = prepare(db, "INSERT INTO segments(stream, root, path, start_ms, duration_ms, bytes)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", &c->ins);
    return rc;
}

static void ins_close(ins_ctx *c)
{
    sqlite3_finalize(c->del);
    sqlite3_finalize(c->ins);
}

static int ins_one(ins_ctx *c, const sv_catalog_newseg *s, int64_t *id)
{
    char path[SV_DVR_LAYOUT_PATH_MAX];
    if (!s->root || !s->root[0] || s->bytes < 0 ||
        sv_dvr_layout_segment_path(path, sizeof path, s->stream, s->start_ms,
                                   s->duration_ms) < 0) {
        sv_error(s->stream && sv_dvr_layout_name_valid(s->stream) ? s->stream : NULL,
                 "catalog: refusing invalid segment (start %lld, duration %lld)",
                 (long long)s->start_ms, (long long)s->duration_ms);
        return SV_EINVAL;
    }
    sqlite3_bind_text(c->del, 1, s->stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->del, 2, s->start_ms);
    int rc = step_done(c->db, c->del, "replace segment");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(c->ins, 1, s->stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->ins, 2, s->root, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->ins, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->ins, 4, s->start_ms);
    sqlite3_bind_int64(c->ins, 5, s->duration_ms);
    sqlite3_bind_int64(c->ins, 6, s->bytes);
    if ((rc = step_done(c->db, c->ins, "insert segment")) < 0)
        return rc;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

int sv_catalog_add(sv_catalog *cat, const sv_catalog_newseg *segs, size_t n, int64_t *ids)
{
    if (!cat || (!segs && n))
        return SV_EINVAL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    ins_ctx c;
    rc = ins_open(&c, cat->w);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ins_one(&c, &segs[i], ids ? &ids[i] : NULL);
    ins_close(&c);
    return w_end(cat, rc, 0);
}

typedef struct rebuild_ctx {
    ins_ctx ins;
    const char *root;
    size_t count;
    int err; /* insert failure that stopped the walk */
} rebuild_ctx;

static int rebuild_cb(const sv_dvr_layout_entry *e, void *ud)
{
    rebuild_ctx *c = ud;
    if (e->is_part)
        return 0;
    sv_catalog_newseg s = {.stream = e->stream, .root = c->root, .start_ms = e->start_ms,
                           .duration_ms = e->duration_ms, .bytes = e->bytes};
    if ((c->err = ins_one(&c->ins, &s, NULL)) < 0)
        return c->err;
    c->count++;
    return 0;
}

int sv_catalog_rebuild(sv_catalog *cat, const char *const *roots, size_t nroots,
                       size_t *nsegments)
{
    if (!cat || (!roots && nroots))
        return SV_EINVAL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    rebuild_ctx c = {0};
    rc = exec(cat->w, "DELETE FROM segments", "rebuild: empty");
    if (rc == 0)
        rc = ins_open(&c.ins, cat->w);
    for (size_t i = 0; rc == 0 && i < nroots; i++) {
        c.root = roots[i];
        rc = roots[i] && roots[i][0] ? sv_dvr_layout_walk(roots[i], rebuild_cb, &c) : SV_EINVAL;
        if (rc == SV_ENOTFOUND && c.err == 0) {
            sv_warn(NULL, "catalog: rebuild: root %s does not exist", roots[i]);
            rc = 0;
        }
    }
    ins_close(&c.ins);
    rc = w_end(cat, rc, 0);
    if (rc == 0)
        sv_info(NULL, "catalog: rebuilt: %zu segments from %zu roots", c.count, nroots);
    if (rc == 0 && nsegments)
        *nsegments = c.count;
    return rc;
}

/* ---- queries ---- */

static int check_stream(const char *stream)
{
    return sv_dvr_layout_name_valid(stream) ? 0 : SV_EINVAL;
}

/* Lowest start a segment overlapping [from, ...) can have (segments are at most
 * SV_DVR_SEG_MAX_MS long), without overflowing. Bounds the index scan on that side. */
static int64_t scan_low(int64_t from_ms)
{
    return from_ms > INT64_MIN + SV_DVR_SEG_MAX_MS ? from_ms - SV_DVR_SEG_MAX_MS : INT64_MIN;
}

int sv_catalog_list(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                    sv_catalog_seglist *out)
{
    if (!cat || !out || check_stream(stream) < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    q_args q = {stream, from_ms, to_ms, scan_low(from_ms)};
    return read_list(cat,
                     "SELECT " SEG_COLS " FROM segments WHERE stream = ?1 AND start_ms > ?4"
                     " AND start_ms < ?3 AND start_ms + duration_ms > ?2 ORDER BY start_ms",
                     &q, out);
}

/* Merges spans (start order) in place into ranges; returns the new count. */
static size_t merge_spans(sv_catalog_range *v, size_t n, int64_t tol)
{
    size_t len = 0;
    int64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = v[i].from_ms, b = a + v[i].duration_ms;
        if (len && a <= end + tol) {
            end = b > end ? b : end;
        } else {
            v[len++].from_ms = a;
            end = b;
        }
        v[len - 1].duration_ms = end - v[len - 1].from_ms;
    }
    return len;
}

/* Collects the (start, duration) rows of st. */
static int collect_spans(sqlite3 *db, sqlite3_stmt *st, sv_catalog_range **out, size_t *n)
{
    sv_catalog_range *v = NULL;
    size_t len = 0, cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 256;
            sv_catalog_range *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return SV_ENOMEM;
            }
            v = nv;
        }
        v[len++] = (sv_catalog_range){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
    }
    if (s != SQLITE_DONE) {
        free(v);
        return db_err(db, s, "spans");
    }
    *out = v;
    *n = len;
    return 0;
}

int sv_catalog_spans(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                     sv_catalog_range **out, size_t *n)
{
    if (!cat || !out || !n || check_stream(stream) < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT start_ms, duration_ms FROM segments WHERE stream = ?1 AND"
                             " start_ms > ?4 AND start_ms < ?3 AND start_ms + duration_ms > ?2"
                             " ORDER BY start_ms", &st);
    if (rc == 0) {
        q_args q = {stream, from_ms, to_ms, scan_low(from_ms)};
        bind_args(st, &q);
        rc = collect_spans(cat->r, st, out, n);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

int sv_catalog_ranges(sv_catalog *cat, const char *stream, int64_t tolerance_ms,
                      sv_catalog_range **out, size_t *n)
{
    return sv_catalog_ranges_window(cat, stream, INT64_MIN, INT64_MAX, tolerance_ms, out, n);
}

int sv_catalog_ranges_window(sv_catalog *cat, const char *stream, int64_t from_ms,
                             int64_t to_ms, int64_t tolerance_ms, sv_catalog_range **out,
                             size_t *n)
{
    if (!cat || !out || !n || check_stream(stream) < 0 || tolerance_ms < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    int rc = sv_catalog_spans(cat, stream, from_ms, to_ms, out, n);
    if (rc == 0)
        *n = merge_spans(*out, *n, tolerance_ms);
    return rc;
}

int sv_catalog_stream_stats(sv_catalog *cat, const char *stream, sv_catalog_stats *stats)
{
    if (!cat || !stats || check_stream(stream) < 0)
        return SV_EINVAL;
    static const char sql[] =
        "SELECT (SELECT COALESCE(SUM(count), 0) FROM seg_totals WHERE stream = ?1),"
        " (SELECT COALESCE(SUM(bytes), 0) FROM seg_totals WHERE stream = ?1),"
        " (SELECT start_ms FROM segments WHERE stream = ?1 ORDER BY start_ms LIMIT 1),"
        " (SELECT MAX(start_ms + duration_ms) FROM segments WHERE stream = ?1 AND start_ms >"
        "  (SELECT start_ms FROM segments WHERE stream = ?1 ORDER BY start_ms DESC LIMIT 1)"
        "  - ?2)";
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, sql, &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, SV_DVR_SEG_MAX_MS);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW)
            rc = db_err(cat->r, s, "stats");
        else
            *stats = (sv_catalog_stats){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                        sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3)};
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

void sv_catalog_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Collects text column 0 of every row into a malloc'd string array. */
static int collect_strings(sqlite3 *db, sqlite3_stmt *st, char ***out, size_t *n)
{
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0, s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv)
                goto oom;
            v = nv;
        }
        if (!t || !(v[len] = str_cat(t, "")))
            goto oom;
        len++;
    }
    if (s != SQLITE_DONE) {
        rc = db_err(db, s, "list");
        goto fail;
    }
    *out = v;
    *n = len;
    return 0;
oom:
    rc = SV_ENOMEM;
fail:
    sv_catalog_strv_free(v, len);
    return rc;
}

int sv_catalog_streams(sv_catalog *cat, char ***names, size_t *n)
{
    if (!cat || !names || !n)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT DISTINCT stream FROM seg_totals ORDER BY stream", &st);
    if (rc == 0)
        rc = collect_strings(cat->r, st, names, n);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

/* ---- deletion ---- */

int sv_catalog_delete_ids(sv_catalog *cat, const int64_t *ids, size_t n, size_t *ndeleted)
{
    if (!cat || (!ids && n))
        return SV_EINVAL;
    size_t count = 0;
    sqlite3_stmt *st = NULL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    rc = prepare(cat->w, "DELETE FROM segments WHERE id = ?1", &st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if ((rc = step_done(cat->w, st, "delete segment")) == 0)
            count += (size_t)sqlite3_changes(cat->w);
    }
    sqlite3_finalize(st);
    rc = w_end(cat, rc, 0);
    if (rc == 0 && ndeleted)
        *ndeleted = count;
    return rc;
}

int sv_catalog_delete_segs(sv_catalog *cat, sv_catalog_seglist *list, unsigned flags)
{
    if (!cat || !list)
        return SV_EINVAL;
    unsigned char *gone = calloc(list->n ? list->n : 1, 1);
    sqlite3_stmt *st = NULL;
    if (!gone)
        return SV_ENOMEM;
    int rc = w_begin(cat);
    if (rc < 0)
        goto out;
    rc = prepare(cat->w, (flags & SV_CATALOG_KEEP_LOCKED)
                             ? "DELETE FROM segments WHERE id = ?1 AND" NOT_LOCKED
                             : "DELETE FROM segments WHERE id = ?1", &st);
    for (size_t i = 0; rc == 0 && i < list->n; i++) {
        sqlite3_bind_int64(st, 1, list->v[i].id);
        if ((rc = step_done(cat->w, st, "delete segment")) == 0)
            gone[i] = sqlite3_changes(cat->w) > 0;
    }
    sqlite3_finalize(st);
    if ((rc = w_end(cat, rc, 0)) == 0) {
        size_t j = 0;
        for (size_t i = 0; i < list->n; i++)
            if (gone[i])
                list->v[j++] = list->v[i];
        list->n = j;
    }
out:
    free(gone);
    return rc;
}

int sv_catalog_delete_range(sv_catalog *cat, const char *stream, int64_t from_ms,
                            int64_t to_ms, unsigned flags, sv_catalog_seglist *deleted)
{
    if (!cat || !deleted || check_stream(stream) < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    rc = prepare(cat->w, (flags & SV_CATALOG_KEEP_LOCKED)
                             ? "DELETE FROM segments WHERE stream = ?1 AND start_ms >= ?2 AND"
                               " start_ms < ?3 AND start_ms + duration_ms <= ?3 AND" NOT_LOCKED
                               "RETURNING " SEG_COLS
                             : "DELETE FROM segments WHERE stream = ?1 AND start_ms >= ?2 AND"
                               " start_ms < ?3 AND start_ms + duration_ms <= ?3"
                               " RETURNING " SEG_COLS, &st);
    if (rc == 0) {
        q_args q = {stream, from_ms, to_ms, 0};
        bind_args(st, &q);
        rc = collect(cat->w, st, deleted);
    }
    sqlite3_finalize(st);
    rc = w_end(cat, rc, 0);
    if (rc < 0)
        sv_catalog_seglist_free(deleted);
    return rc;
}

/* ---- retention ---- */

int sv_catalog_expired(sv_catalog *cat, const char *stream, int64_t cutoff_ms, size_t limit,
                       sv_catalog_seglist *out)
{
    if (!cat || !out || check_stream(stream) < 0)
        return SV_EINVAL;
    q_args q = {stream, cutoff_ms, clamp_limit(limit), 0};
    return read_list(cat,
                     "SELECT " SEG_COLS " FROM segments WHERE stream = ?1 AND start_ms < ?2 AND"
                     " start_ms + duration_ms <= ?2 AND" NOT_LOCKED
                     "ORDER BY start_ms LIMIT ?3", &q, out);
}

int sv_catalog_oldest_in_root(sv_catalog *cat, const char *root, size_t limit,
                              sv_catalog_seglist *out)
{
    if (!cat || !out || !root)
        return SV_EINVAL;
    q_args q = {root, clamp_limit(limit), 0, 0};
    return read_list(cat,
                     "SELECT " SEG_COLS " FROM segments WHERE root = ?1 AND" NOT_LOCKED
                     "ORDER BY start_ms LIMIT ?2", &q, out);
}

int sv_catalog_root_bytes(sv_catalog *cat, const char *root, int64_t *bytes)
{
    if (!cat || !root || !bytes)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT COALESCE(SUM(bytes), 0) FROM seg_totals WHERE root = ?1",
                     &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            *bytes = sqlite3_column_int64(st, 0);
        else
            rc = db_err(cat->r, s, "root bytes");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

/* ---- locks ---- */

int sv_catalog_lock_add(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms)
{
    if (!cat || check_stream(stream) < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    /* union with every lock that overlaps or touches [from, to) */
    rc = prepare(cat->w, "SELECT MIN(from_ms), MAX(to_ms) FROM locks WHERE stream = ?1 AND"
                         " from_ms <= ?3 AND to_ms >= ?2", &st);
    if (rc == 0) {
        q_args q = {stream, from_ms, to_ms, 0};
        bind_args(st, &q);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW)
            rc = db_err(cat->w, s, "lock add");
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
            int64_t a = sqlite3_column_int64(st, 0), b = sqlite3_column_int64(st, 1);
            from_ms = a < from_ms ? a : from_ms;
            to_ms = b > to_ms ? b : to_ms;
        }
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = run3(cat->w, "DELETE FROM locks WHERE stream = ?1 AND from_ms <= ?3 AND"
                          " to_ms >= ?2", stream, from_ms, to_ms);
    if (rc == 0)
        rc = run3(cat->w, "INSERT INTO locks(stream, from_ms, to_ms) VALUES(?1, ?2, ?3)",
                  stream, from_ms, to_ms);
    return w_end(cat, rc, 1);
}

int sv_catalog_lock_remove(sv_catalog *cat, const char *stream, int64_t from_ms,
                           int64_t to_ms)
{
    if (!cat || check_stream(stream) < 0 || from_ms >= to_ms)
        return SV_EINVAL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    /* keep the parts sticking out on the left and on the right, then drop the overlaps
     * (the new pieces end at `from` / start at `to`, so they do not match the delete) */
    rc = run3(cat->w, "INSERT INTO locks(stream, from_ms, to_ms) SELECT stream, from_ms, ?2"
                      " FROM locks WHERE stream = ?1 AND from_ms < ?2 AND to_ms > ?2",
              stream, from_ms, to_ms);
    if (rc == 0)
        rc = run3(cat->w, "INSERT INTO locks(stream, from_ms, to_ms) SELECT stream, ?3, to_ms"
                          " FROM locks WHERE stream = ?1 AND from_ms < ?3 AND to_ms > ?3",
                  stream, from_ms, to_ms);
    if (rc == 0)
        rc = run3(cat->w, "DELETE FROM locks WHERE stream = ?1 AND from_ms < ?3 AND to_ms > ?2",
                  stream, from_ms, to_ms);
    return w_end(cat, rc, 1);
}

/* Reads (from_ms, to_ms) rows into a malloc'd lock array. */
static int collect_locks(sqlite3 *db, sqlite3_stmt *st, sv_catalog_lock **out, size_t *n)
{
    sv_catalog_lock *v = NULL;
    size_t len = 0, cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            sv_catalog_lock *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return SV_ENOMEM;
            }
            v = nv;
        }
        v[len++] = (sv_catalog_lock){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
    }
    if (s != SQLITE_DONE) {
        free(v);
        return db_err(db, s, "locks");
    }
    *out = v;
    *n = len;
    return 0;
}

int sv_catalog_locks(sv_catalog *cat, const char *stream, sv_catalog_lock **out, size_t *n)
{
    if (!cat || !out || !n || check_stream(stream) < 0)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT from_ms, to_ms FROM locks WHERE stream = ?1"
                             " ORDER BY from_ms", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
        rc = collect_locks(cat->r, st, out, n);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

/* ---- settings ---- */

static int setting_args_ok(const char *kind, const char *name)
{
    return kind && kind[0] && name && name[0];
}

int sv_catalog_setting_put(sv_catalog *cat, const char *kind, const char *name,
                           const char *json)
{
    if (!cat || !setting_args_ok(kind, name) || !json)
        return SV_EINVAL;
    json_t *parsed = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!parsed)
        return SV_EINVAL;
    json_decref(parsed);
    sqlite3_stmt *st = NULL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    rc = prepare(cat->w, "INSERT INTO settings(kind, name, json) VALUES(?1, ?2, ?3)"
                         " ON CONFLICT(kind, name) DO UPDATE SET json = excluded.json", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
        rc = step_done(cat->w, st, "setting put");
    }
    sqlite3_finalize(st);
    return w_end(cat, rc, 1);
}

int sv_catalog_setting_get(sv_catalog *cat, const char *kind, const char *name, char **json)
{
    if (!cat || !setting_args_ok(kind, name) || !json)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT json FROM settings WHERE kind = ?1 AND name = ?2", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        const char *t = s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (s == SQLITE_DONE)
            rc = SV_ENOTFOUND;
        else if (s != SQLITE_ROW)
            rc = db_err(cat->r, s, "setting get");
        else if (!t || !(*json = str_cat(t, "")))
            rc = SV_ENOMEM;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}

int sv_catalog_setting_delete(sv_catalog *cat, const char *kind, const char *name)
{
    if (!cat || !setting_args_ok(kind, name))
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = w_begin(cat);
    if (rc < 0)
        return rc;
    rc = prepare(cat->w, "DELETE FROM settings WHERE kind = ?1 AND name = ?2", &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        rc = step_done(cat->w, st, "setting delete");
        if (rc == 0 && sqlite3_changes(cat->w) == 0)
            rc = SV_ENOTFOUND;
    }
    sqlite3_finalize(st);
    if (rc == SV_ENOTFOUND) {
        w_end(cat, 0, 0); /* nothing changed: commit the empty transaction */
        return SV_ENOTFOUND;
    }
    return w_end(cat, rc, 1);
}

int sv_catalog_settings_list(sv_catalog *cat, const char *kind, sv_catalog_setting_cb cb,
                             void *ud)
{
    if (!cat || !kind || !cb)
        return SV_EINVAL;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&cat->rmu);
    int rc = prepare(cat->r, "SELECT name, json FROM settings WHERE kind = ?1 ORDER BY name",
                     &st), s = SQLITE_DONE;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
            rc = cb((const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1), ud);
        if (rc == 0 && s != SQLITE_DONE)
            rc = db_err(cat->r, s, "settings list");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&cat->rmu);
    return rc;
}
