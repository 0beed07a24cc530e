/* The durable outbox: one SQLite database ({data_dir}/events.db, WAL, synchronous=NORMAL)
 * owned by one dedicated thread.
 *
 * The loop never touches SQLite after open: it queues small ops (append, ack, load,
 * register, remove, save, prune) on a mutex/condvar list and returns at once. The thread
 * takes the whole list, applies it in order inside one transaction and commits, so a burst
 * of N emits costs one commit, not N. Load results are posted back after the commit (so
 * nothing is delivered before it is durable) through a libevent user event activated from
 * the thread (needs evthread_use_pthreads()).
 *
 * Tables: outbox(sink, id, body) keyed (sink, id) so each sink reads its events in id
 * order; sinks(name, def) for sinks created by the API; meta(k, v) with the highest id
 * ever issued, so ids stay increasing across restarts even with an empty outbox.
 * Bounds: appends beyond max_queue queued ops are dropped (counted); each sink keeps at
 * most max_outbox events, the oldest are deleted past it (counted, logged). What this
 * does not do: deliver anything (deliver.c) or decide what a sink selects (events.c). */
#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "events/internal.h"

enum { OP_REGISTER, OP_APPEND, OP_ACK, OP_LOAD, OP_REMOVE, OP_SAVE, OP_PRUNE, OP_SYNC };

typedef struct op {
    int kind;
    char sink[SV_EVENTS_NAME_MAX + 1];
    int64_t id;     /* APPEND: event id; ACK: up to; LOAD: after; SYNC: ticket */
    long n;         /* REGISTER: max_outbox; LOAD: limit */
    uint64_t cookie;
    sv_events_body *body;      /* APPEND */
    sv_events_sink_stats *st;  /* REGISTER */
    char *text;                /* SAVE */
    struct op *next;
} op;

typedef struct reply {
    char sink[SV_EVENTS_NAME_MAX + 1];
    uint64_t cookie;
    sv_events_row *rows;
    size_t n;
    struct reply *next;
} reply;

/* Thread-side state of a registered sink. */
typedef struct tsink {
    char name[SV_EVENTS_NAME_MAX + 1];
    long max;
    int64_t count;
    uint64_t dropped_unlogged;
    int64_t last_log_mono;
    sv_events_sink_stats *st;
} tsink;

enum { ST_INS, ST_ACK, ST_LOAD, ST_TRIM, ST_COUNT, ST_DELSINK, ST_SAVE, ST_UNSAVE, ST_META,
       ST_N };

struct sv_events_outbox {
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv, sync_cv;
    op *head, *tail;
    size_t appends_queued, max_queue;
    bool stopping;
    int64_t sync_req, sync_done;
    int64_t max_id;  /* at open; then the highest appended, written to meta */
    json_t *saved;
    /* thread side */
    tsink sinks[SV_EVENTS_MAX_SINKS * 2];
    size_t nsinks;
    /* replies to the loop */
    struct event *reply_ev;
    reply *rhead, *rtail;
    sv_events_loaded_fn fn;
    void *fn_ctx;
};

static const char *const schema =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS outbox(sink TEXT NOT NULL, id INTEGER NOT NULL,"
    "  body TEXT NOT NULL, PRIMARY KEY(sink, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS sinks(name TEXT PRIMARY KEY, def TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);";

static const char *const sqls[ST_N] = {
    [ST_INS] = "INSERT OR REPLACE INTO outbox(sink, id, body) VALUES(?1, ?2, ?3)",
    [ST_ACK] = "DELETE FROM outbox WHERE sink = ?1 AND id <= ?2",
    [ST_LOAD] = "SELECT id, body FROM outbox WHERE sink = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [ST_TRIM] = ("DELETE FROM outbox WHERE sink = ?1 AND id IN (SELECT id FROM outbox "
                 "WHERE sink = ?1 ORDER BY id LIMIT ?2)"),
    [ST_COUNT] = "SELECT count(*) FROM outbox WHERE sink = ?1",
    [ST_DELSINK] = "DELETE FROM outbox WHERE sink = ?1",
    [ST_SAVE] = "INSERT OR REPLACE INTO sinks(name, def) VALUES(?1, ?2)",
    [ST_UNSAVE] = "DELETE FROM sinks WHERE name = ?1",
    [ST_META] = "INSERT OR REPLACE INTO meta(k, v) VALUES('last_id', ?1)",
};

/* ---- thread side ---- */

static sqlite3_stmt *stmt(sv_events_outbox *ob, int which, const char *sink)
{
    sqlite3_stmt *s = ob->st[which];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (sink)
        sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
    return s;
}

static int exec_step(sv_events_outbox *ob, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sv_error(NULL, "events outbox: %s", sqlite3_errmsg(ob->db));
        return SV_EIO;
    }
    return 0;
}

static tsink *find_tsink(sv_events_outbox *ob, const char *name)
{
    for (size_t i = 0; i < ob->nsinks; i++)
        if (!strcmp(ob->sinks[i].name, name))
            return &ob->sinks[i];
    return NULL;
}

static void apply_register(sv_events_outbox *ob, op *o)
{
    tsink *t = find_tsink(ob, o->sink);
    if (!t) {
        if (ob->nsinks == sizeof ob->sinks / sizeof ob->sinks[0]) {
            sv_error(NULL, "events outbox: too many sinks, '%s' not registered", o->sink);
            return;
        }
        size_t i = ob->nsinks++;
        memset(&ob->sinks[i], 0, sizeof ob->sinks[i]);
        memcpy(ob->sinks[i].name, o->sink, sizeof o->sink); /* same size, NUL-terminated */
        t = &ob->sinks[i];
        sqlite3_stmt *s = stmt(ob, ST_COUNT, t->name);
        t->count = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    } else {
        sv_events_stats_unref(t->st);
    }
    t->max = o->n;
    t->st = o->st;
    o->st = NULL; /* the table keeps the reference */
    atomic_store(&t->st->depth, (uint64_t)t->count);
}

static void trim(sv_events_outbox *ob, tsink *t)
{
    if (t->count <= t->max)
        return;
    sqlite3_stmt *s = stmt(ob, ST_TRIM, t->name);
    sqlite3_bind_int64(s, 2, t->count - t->max);
    if (exec_step(ob, s))
        return;
    int64_t n = sqlite3_changes(ob->db);
    t->count -= n;
    t->dropped_unlogged += (uint64_t)n;
    atomic_fetch_add(&t->st->dropped, (uint64_t)n);
    atomic_store(&t->st->depth, (uint64_t)t->count);
}

static void log_drops(tsink *t)
{
    int64_t now = sv_now_mono_ms();
    if (!t->dropped_unlogged || now - t->last_log_mono < 10000)
        return;
    sv_warn(NULL, "event sink %s: outbox full (max_outbox %ld), dropped %llu oldest events "
            "(total %llu)", t->name, t->max, (unsigned long long)t->dropped_unlogged,
            (unsigned long long)atomic_load(&t->st->dropped));
    t->dropped_unlogged = 0;
    t->last_log_mono = now;
}

static void apply_append(sv_events_outbox *ob, op *o)
{
    tsink *t = find_tsink(ob, o->sink);
    if (!t)
        return; /* removed meanwhile */
    sqlite3_stmt *s = stmt(ob, ST_INS, o->sink);
    sqlite3_bind_int64(s, 2, o->id);
    sqlite3_bind_text(s, 3, o->body->data, (int)o->body->len, SQLITE_STATIC);
    if (exec_step(ob, s))
        return;
    t->count++;
    atomic_store(&t->st->depth, (uint64_t)t->count);
    if (o->id > ob->max_id)
        ob->max_id = o->id;
}

static void apply_ack(sv_events_outbox *ob, op *o)
{
    tsink *t = find_tsink(ob, o->sink);
    sqlite3_stmt *s = stmt(ob, ST_ACK, o->sink);
    sqlite3_bind_int64(s, 2, o->id);
    if (exec_step(ob, s) || !t)
        return;
    t->count -= sqlite3_changes(ob->db);
    if (t->count < 0)
        t->count = 0;
    atomic_store(&t->st->depth, (uint64_t)t->count);
}

static reply *apply_load(sv_events_outbox *ob, op *o)
{
    tsink *t = find_tsink(ob, o->sink);
    reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->sink, o->sink, sizeof r->sink);
    r->cookie = o->cookie;
    if (t)
        trim(ob, t);
    r->rows = t ? calloc((size_t)o->n, sizeof *r->rows) : NULL;
    sqlite3_stmt *s = stmt(ob, ST_LOAD, o->sink);
    sqlite3_bind_int64(s, 2, o->id);
    sqlite3_bind_int64(s, 3, o->n);
    while (r->rows && sqlite3_step(s) == SQLITE_ROW && r->n < (size_t)o->n) {
        sv_events_row *row = &r->rows[r->n];
        row->id = sqlite3_column_int64(s, 0);
        row->len = (size_t)sqlite3_column_bytes(s, 1);
        row->body = strndup((const char *)sqlite3_column_text(s, 1), row->len);
        if (!row->body)
            break;
        r->n++;
    }
    sqlite3_reset(s);
    return r;
}

static void apply_remove(sv_events_outbox *ob, op *o)
{
    exec_step(ob, stmt(ob, ST_DELSINK, o->sink));
    exec_step(ob, stmt(ob, ST_UNSAVE, o->sink));
    tsink *t = find_tsink(ob, o->sink);
    if (!t)
        return;
    sv_events_stats_unref(t->st);
    *t = ob->sinks[--ob->nsinks];
}

static void apply_save(sv_events_outbox *ob, op *o)
{
    sqlite3_stmt *s = stmt(ob, ST_SAVE, o->sink);
    sqlite3_bind_text(s, 2, o->text, -1, SQLITE_STATIC);
    exec_step(ob, s);
}

static void apply_prune(sv_events_outbox *ob)
{
    sqlite3_stmt *s;
    char **gone = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(ob->db, "SELECT DISTINCT sink FROM outbox", -1, &s, NULL))
        return;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        char **ng = find_tsink(ob, name) ? NULL : realloc(gone, (n + 1) * sizeof *gone);
        if (ng && (ng[n] = strdup(name)))
            gone = ng, n++;
        else if (ng)
            gone = ng;
    }
    sqlite3_finalize(s);
    for (size_t i = 0; i < n; i++) {
        exec_step(ob, stmt(ob, ST_DELSINK, gone[i]));
        sv_info(NULL, "events outbox: dropped %d queued events of removed sink %s",
                sqlite3_changes(ob->db), gone[i]);
        free(gone[i]);
    }
    free(gone);
}

static void free_op(op *o)
{
    sv_events_body_unref(o->body);
    sv_events_stats_unref(o->st);
    free(o->text);
    free(o);
}

/* Applies one op; LOAD results go on *replies. */
static void apply(sv_events_outbox *ob, op *o, reply ***rtail, int64_t *sync_ticket)
{
    reply *r;
    switch (o->kind) {
    case OP_REGISTER: apply_register(ob, o); break;
    case OP_APPEND: apply_append(ob, o); break;
    case OP_ACK: apply_ack(ob, o); break;
    case OP_LOAD:
        if ((r = apply_load(ob, o))) {
            **rtail = r;
            *rtail = &r->next;
        }
        break;
    case OP_REMOVE: apply_remove(ob, o); break;
    case OP_SAVE: apply_save(ob, o); break;
    case OP_PRUNE: apply_prune(ob); break;
    case OP_SYNC: *sync_ticket = o->id; break;
    }
}

/* One batch: a transaction around every queued op, then the replies. */
static void run_batch(sv_events_outbox *ob, op *list)
{
    reply *replies = NULL, **rtail = &replies;
    int64_t ticket = 0, max_before = ob->max_id;
    sqlite3_exec(ob->db, "BEGIN", NULL, NULL, NULL);
    for (op *o = list; o; o = o->next)
        apply(ob, o, &rtail, &ticket);
    for (size_t i = 0; i < ob->nsinks; i++)
        trim(ob, &ob->sinks[i]);
    if (ob->max_id > max_before) {
        sqlite3_stmt *s = stmt(ob, ST_META, NULL);
        sqlite3_bind_int64(s, 1, ob->max_id);
        exec_step(ob, s);
    }
    if (sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sv_error(NULL, "events outbox: commit failed: %s", sqlite3_errmsg(ob->db));
        sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (size_t i = 0; i < ob->nsinks; i++)
        log_drops(&ob->sinks[i]);
    while (list) {
        op *next = list->next;
        free_op(list);
        list = next;
    }
    pthread_mutex_lock(&ob->mu);
    if (replies) {
        if (ob->rtail)
            ob->rtail->next = replies;
        else
            ob->rhead = replies;
        for (ob->rtail = replies; ob->rtail->next; ob->rtail = ob->rtail->next)
            ;
        event_active(ob->reply_ev, EV_READ, 0);
    }
    if (ticket > ob->sync_done) {
        ob->sync_done = ticket;
        pthread_cond_broadcast(&ob->sync_cv);
    }
    pthread_mutex_unlock(&ob->mu);
}

static void *thread_main(void *arg)
{
    sv_events_outbox *ob = arg;
    for (;;) {
        pthread_mutex_lock(&ob->mu);
        while (!ob->head && !ob->stopping)
            pthread_cond_wait(&ob->cv, &ob->mu);
        op *list = ob->head;
        ob->head = ob->tail = NULL;
        ob->appends_queued = 0;
        bool stop = ob->stopping && !list;
        pthread_mutex_unlock(&ob->mu);
        if (stop)
            return NULL;
        run_batch(ob, list);
    }
}

/* ---- loop side ---- */

static void on_replies(evutil_socket_t fd, short what, void *arg)
{
    sv_events_outbox *ob = arg;
    pthread_mutex_lock(&ob->mu);
    reply *r = ob->rhead;
    ob->rhead = ob->rtail = NULL;
    pthread_mutex_unlock(&ob->mu);
    while (r) {
        reply *next = r->next;
        ob->fn(ob->fn_ctx, r->sink, r->cookie, r->rows, r->n);
        free(r);
        r = next;
    }
}

static op *new_op(int kind, const char *sink)
{
    op *o = calloc(1, sizeof *o);
    if (o && sink)
        snprintf(o->sink, sizeof o->sink, "%s", sink);
    if (o)
        o->kind = kind;
    return o;
}

/* Queues o; appends beyond the bound are refused. */
static int push(sv_events_outbox *ob, op *o)
{
    pthread_mutex_lock(&ob->mu);
    if (o->kind == OP_APPEND && ob->appends_queued >= ob->max_queue) {
        pthread_mutex_unlock(&ob->mu);
        return SV_ETOOBIG;
    }
    if (o->kind == OP_APPEND)
        ob->appends_queued++;
    if (ob->tail)
        ob->tail->next = o;
    else
        ob->head = o;
    ob->tail = o;
    if (o == ob->head)
        pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    return 0;
}

static void push_or_log(sv_events_outbox *ob, op *o)
{
    if (!o) {
        sv_error(NULL, "events outbox: out of memory, op lost");
        return;
    }
    push(ob, o);
}

void sv_events_outbox_register(sv_events_outbox *ob, const char *sink, long max_outbox,
                               sv_events_sink_stats *st)
{
    op *o = new_op(OP_REGISTER, sink);
    if (o) {
        o->n = max_outbox;
        o->st = st;
        sv_events_stats_ref(st);
    }
    push_or_log(ob, o);
}

int sv_events_outbox_append(sv_events_outbox *ob, const char *sink, int64_t id,
                            sv_events_body *body)
{
    op *o = new_op(OP_APPEND, sink);
    if (!o)
        return SV_ENOMEM;
    o->id = id;
    o->body = body;
    sv_events_body_ref(body);
    int rc = push(ob, o);
    if (rc)
        free_op(o);
    return rc;
}

void sv_events_outbox_ack(sv_events_outbox *ob, const char *sink, int64_t upto_id)
{
    op *o = new_op(OP_ACK, sink);
    if (o)
        o->id = upto_id;
    push_or_log(ob, o);
}

void sv_events_outbox_load(sv_events_outbox *ob, const char *sink, int64_t after_id,
                           long limit, uint64_t cookie)
{
    op *o = new_op(OP_LOAD, sink);
    if (o) {
        o->id = after_id;
        o->n = limit > 0 ? limit : 1;
        o->cookie = cookie;
    }
    push_or_log(ob, o);
}

void sv_events_outbox_remove(sv_events_outbox *ob, const char *sink)
{
    push_or_log(ob, new_op(OP_REMOVE, sink));
}

void sv_events_outbox_save(sv_events_outbox *ob, const char *sink, json_t *def)
{
    op *o = new_op(OP_SAVE, sink);
    if (o && !(o->text = json_dumps(def, JSON_COMPACT))) {
        free(o);
        o = NULL;
    }
    json_decref(def);
    push_or_log(ob, o);
}

void sv_events_outbox_prune(sv_events_outbox *ob) { push_or_log(ob, new_op(OP_PRUNE, NULL)); }

void sv_events_outbox_sync(sv_events_outbox *ob)
{
    op *o = new_op(OP_SYNC, NULL);
    if (!o)
        return;
    pthread_mutex_lock(&ob->mu);
    int64_t ticket = o->id = ++ob->sync_req;
    pthread_mutex_unlock(&ob->mu);
    push(ob, o);
    pthread_mutex_lock(&ob->mu);
    while (ob->sync_done < ticket)
        pthread_cond_wait(&ob->sync_cv, &ob->mu);
    pthread_mutex_unlock(&ob->mu);
}

int64_t sv_events_outbox_max_id(const sv_events_outbox *ob) { return ob->max_id; }
const json_t *sv_events_outbox_saved(const sv_events_outbox *ob) { return ob->saved; }

/* ---- open / close ---- */

static int read_state(sv_events_outbox *ob)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(ob->db, "SELECT max((SELECT coalesce(max(id), 0) FROM outbox),"
                           " (SELECT coalesce(max(v), 0) FROM meta WHERE k = 'last_id'))",
                           -1, &s, NULL))
        return SV_EIO;
    if (sqlite3_step(s) == SQLITE_ROW)
        ob->max_id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (sqlite3_prepare_v2(ob->db, "SELECT name, def FROM sinks ORDER BY name", -1, &s, NULL))
        return SV_EIO;
    while (sqlite3_step(s) == SQLITE_ROW) {
        json_t *def = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
        if (def)
            json_object_set_new(ob->saved, (const char *)sqlite3_column_text(s, 0), def);
    }
    sqlite3_finalize(s);
    return 0;
}

static int open_db(sv_events_outbox *ob, const char *path, char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ||
        sqlite3_exec(ob->db, schema, NULL, NULL, NULL))
        goto fail;
    sqlite3_busy_timeout(ob->db, 5000);
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v3(ob->db, sqls[i], -1, SQLITE_PREPARE_PERSISTENT, &ob->st[i], NULL))
            goto fail;
    if (read_state(ob))
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", path, ob->db ? sqlite3_errmsg(ob->db) : "cannot open");
    return SV_EIO;
}

sv_events_outbox *sv_events_outbox_open(struct event_base *base, const char *path,
                                        size_t max_queue, sv_events_loaded_fn fn, void *ctx,
                                        char *err, size_t errlen)
{
    sv_events_outbox *ob = calloc(1, sizeof *ob);
    if (!ob) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ob->mu, NULL);
    pthread_cond_init(&ob->cv, NULL);
    pthread_cond_init(&ob->sync_cv, NULL);
    ob->max_queue = max_queue ? max_queue : 100000;
    ob->fn = fn;
    ob->fn_ctx = ctx;
    ob->saved = json_object();
    ob->reply_ev = event_new(base, -1, 0, on_replies, ob);
    if (!ob->saved || !ob->reply_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (open_db(ob, path, err, errlen))
        goto fail;
    if (pthread_create(&ob->thread, NULL, thread_main, ob)) {
        snprintf(err, errlen, "cannot start the outbox thread");
        goto fail;
    }
    ob->started = true;
    return ob;
fail:
    sv_events_outbox_close(ob);
    return NULL;
}

void sv_events_outbox_close(sv_events_outbox *ob)
{
    if (!ob)
        return;
    if (ob->started) {
        pthread_mutex_lock(&ob->mu);
        ob->stopping = true;
        pthread_cond_signal(&ob->cv);
        pthread_mutex_unlock(&ob->mu);
        pthread_join(ob->thread, NULL);
    }
    for (reply *r = ob->rhead, *next; r; r = next) {
        next = r->next;
        sv_events_rows_free(r->rows, r->n);
        free(r);
    }
    for (size_t i = 0; i < ob->nsinks; i++)
        sv_events_stats_unref(ob->sinks[i].st);
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(ob->st[i]);
    sqlite3_close(ob->db);
    if (ob->reply_ev)
        event_free(ob->reply_ev);
    json_decref(ob->saved);
    pthread_cond_destroy(&ob->sync_cv);
    pthread_cond_destroy(&ob->cv);
    pthread_mutex_destroy(&ob->mu);
    free(ob);
}
