/* See retention.h. */
#include "dvr/retention.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "dvr/dvr.h"

#define BATCH 256
#define MAX_DELETE_ROUNDS 4096

typedef struct plan_stream {
    char *name;
    int64_t expiration_s;
    /* results */
    uint64_t segs, bytes;
    int64_t from_ms, to_ms;
} plan_stream;

typedef struct plan_root {
    char *root;
    int64_t limit_bytes; /* 0 none */
    int limit_percent;   /* 0 none */
    uint64_t segs, bytes; /* deleted for the quota */
} plan_root;

typedef struct plan {
    sv_dvr_retention *r;
    plan_stream *streams;
    size_t nstreams;
    plan_root *roots;
    size_t nroots;
    uint64_t segs, bytes;
} plan;

struct sv_dvr_retention {
    struct event_base *base;
    sv_workq *wq;
    sv_settings *settings;
    sv_catalog *cat;
    sv_dvr_writer *writer;
    struct event *timer, *kick_ev;
    bool running, again;
    sv_dvr_retention_cb cb;
    void *cb_ctx;
    atomic_uint_fast64_t passes, segments, bytes;
};

static void account(plan_stream *ps, const sv_catalog_seglist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const sv_catalog_seg *s = &l->v[i];
        ps->segs++;
        ps->bytes += (uint64_t)s->bytes;
        if (!ps->from_ms || s->start_ms < ps->from_ms)
            ps->from_ms = s->start_ms;
        if (s->start_ms + s->duration_ms > ps->to_ms)
            ps->to_ms = s->start_ms + s->duration_ms;
    }
}

static plan_stream *stream_of(plan *p, const char *name)
{
    for (size_t i = 0; i < p->nstreams; i++)
        if (!strcmp(p->streams[i].name, name))
            return &p->streams[i];
    return NULL;
}

/* Deletes the rows of l (keeping any locked meanwhile) and then their files. */
static void delete_list(plan *p, sv_catalog_seglist *l, plan_root *pr)
{
    if (sv_catalog_delete_segs(p->r->cat, l, SV_CATALOG_KEEP_LOCKED))
        return;
    for (size_t i = 0; i < l->n; i++) {
        if (pr) {
            pr->segs++;
            pr->bytes += (uint64_t)l->v[i].bytes;
        }
        plan_stream *ps = stream_of(p, l->v[i].stream);
        sv_catalog_seglist one = {.v = &l->v[i], .n = 1};
        if (ps)
            account(ps, &one);
        sv_dvr_remove_file(l->v[i].root, l->v[i].path);
    }
}

static void expire(plan *p, plan_stream *ps)
{
    if (ps->expiration_s <= 0)
        return;
    int64_t cutoff = sv_now_utc_ms() - ps->expiration_s * 1000;
    for (int round = 0; round < MAX_DELETE_ROUNDS; round++) {
        sv_catalog_seglist l = {0};
        if (sv_catalog_expired(p->r->cat, ps->name, cutoff, BATCH, &l) || l.n == 0) {
            sv_catalog_seglist_free(&l);
            return;
        }
        size_t n = l.n;
        delete_list(p, &l, NULL);
        sv_catalog_seglist_free(&l);
        if (n < BATCH)
            return;
    }
}

/* True while root is over its quota or short of free space. */
static bool over_quota(plan *p, const plan_root *pr)
{
    if (pr->limit_bytes) {
        int64_t used = 0;
        if (!sv_catalog_root_bytes(p->r->cat, pr->root, &used) && used > pr->limit_bytes)
            return true;
    }
    struct statvfs vfs;
    if (statvfs(pr->root, &vfs) || vfs.f_blocks == 0)
        return false;
    uint64_t total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t headroom = total / 20 < (64u << 20) ? total / 20 : (64u << 20);
    if (avail < headroom)
        return true; /* nearly full: what failed writes need */
    return pr->limit_percent && (total - avail) * 100 > (uint64_t)pr->limit_percent * total;
}

static void enforce_quota(plan *p, plan_root *pr)
{
    for (int round = 0; round < MAX_DELETE_ROUNDS && over_quota(p, pr); round++) {
        sv_catalog_seglist l = {0};
        if (sv_catalog_oldest_in_root(p->r->cat, pr->root, 8, &l) || l.n == 0) {
            sv_catalog_seglist_free(&l);
            if (round == 0)
                sv_warn(NULL, "dvr: %s is over quota but nothing unlocked is left to delete",
                        pr->root);
            return;
        }
        delete_list(p, &l, pr);
        sv_catalog_seglist_free(&l);
    }
}

static void run_pass(void *arg)
{
    plan *p = arg;
    for (size_t i = 0; i < p->nstreams; i++)
        expire(p, &p->streams[i]);
    for (size_t i = 0; i < p->nroots; i++)
        enforce_quota(p, &p->roots[i]);
    for (size_t i = 0; i < p->nroots; i++)
        if (!over_quota(p, &p->roots[i]))
            sv_dvr_writer_resume(p->r->writer, p->roots[i].root);
}

static void free_plan(plan *p)
{
    for (size_t i = 0; i < p->nstreams; i++)
        free(p->streams[i].name);
    for (size_t i = 0; i < p->nroots; i++)
        free(p->roots[i].root);
    free(p->streams);
    free(p->roots);
    free(p);
}

static void schedule(sv_dvr_retention *r);

static void pass_done(void *arg, bool cancelled)
{
    plan *p = arg;
    sv_dvr_retention *r = p->r;
    for (size_t i = 0; i < p->nstreams && !cancelled; i++) {
        plan_stream *ps = &p->streams[i];
        if (!ps->segs)
            continue;
        atomic_fetch_add(&r->segments, ps->segs);
        atomic_fetch_add(&r->bytes, ps->bytes);
        sv_info(ps->name, "dvr retention: deleted %llu segments (%llu bytes)",
                (unsigned long long)ps->segs, (unsigned long long)ps->bytes);
        if (r->cb)
            r->cb(r->cb_ctx, "dvr_segment_deleted", ps->name,
                  json_pack("{s:I, s:I, s:I, s:I}", "segments", (json_int_t)ps->segs, "bytes",
                            (json_int_t)ps->bytes, "from", (json_int_t)(ps->from_ms / 1000),
                            "to", (json_int_t)((ps->to_ms + 999) / 1000)));
    }
    for (size_t i = 0; i < p->nroots && !cancelled; i++) {
        plan_root *pr = &p->roots[i];
        if (pr->segs && r->cb)
            r->cb(r->cb_ctx, "dvr_disk_limit_reached", NULL,
                  json_pack("{s:s, s:I, s:I, s:I, s:i}", "root", pr->root, "segments",
                            (json_int_t)pr->segs, "bytes", (json_int_t)pr->bytes, "limit_bytes",
                            (json_int_t)pr->limit_bytes, "limit_percent", pr->limit_percent));
    }
    atomic_fetch_add(&r->passes, 1);
    free_plan(p);
    r->running = false;
    if (r->again && !cancelled) {
        r->again = false;
        schedule(r);
    }
}

static void add_root(plan *p, const sv_dvr_settings *d)
{
    plan_root *pr = NULL;
    for (size_t i = 0; i < p->nroots; i++)
        if (!strcmp(p->roots[i].root, d->root))
            pr = &p->roots[i];
    if (!pr) {
        plan_root *v = realloc(p->roots, (p->nroots + 1) * sizeof *v);
        if (!v)
            return;
        p->roots = v;
        pr = &v[p->nroots++];
        *pr = (plan_root){.root = strdup(d->root)};
    }
    /* the strictest limit of the streams sharing a root applies */
    if (d->disk_limit_bytes && (!pr->limit_bytes || d->disk_limit_bytes < pr->limit_bytes))
        pr->limit_bytes = d->disk_limit_bytes;
    if (d->disk_limit_percent && (!pr->limit_percent || d->disk_limit_percent < pr->limit_percent))
        pr->limit_percent = d->disk_limit_percent;
}

/* Loop thread: snapshot of what to enforce. */
static plan *make_plan(sv_dvr_retention *r)
{
    plan *p = calloc(1, sizeof *p);
    char **names = NULL;
    size_t n = 0;
    if (!p || sv_catalog_streams(r->cat, &names, &n)) {
        free(p);
        return NULL;
    }
    p->r = r;
    p->streams = calloc(n ? n : 1, sizeof *p->streams);
    for (size_t i = 0; p->streams && i < n; i++) {
        sv_dvr_settings d;
        sv_settings_dvr(r->settings, names[i], &d);
        p->streams[p->nstreams++] = (plan_stream){.name = strdup(names[i]),
                                                  .expiration_s = d.expiration_s};
        add_root(p, &d);
        sv_dvr_settings_clear(&d);
    }
    char **roots;
    size_t nroots;
    if (!sv_dvr_roots(r->settings, r->cat, &roots, &nroots)) {
        for (size_t i = 0; i < nroots; i++) {
            sv_dvr_settings d = {.root = roots[i]};
            add_root(p, &d); /* roots without streams yet: free-space check only */
        }
        sv_catalog_strv_free(roots, nroots);
    }
    sv_catalog_strv_free(names, n);
    return p;
}

static void schedule(sv_dvr_retention *r)
{
    if (r->running) {
        r->again = true;
        return;
    }
    plan *p = make_plan(r);
    if (!p)
        return;
    r->running = true;
    if (sv_workq_submit(r->wq, run_pass, pass_done, p)) {
        r->running = false;
        free_plan(p);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg) { schedule(arg); }

sv_dvr_retention *sv_dvr_retention_new(struct event_base *base, sv_workq *wq,
                                       sv_settings *settings, sv_catalog *cat,
                                       sv_dvr_writer *writer, int interval_ms)
{
    sv_dvr_retention *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    *r = (sv_dvr_retention){.base = base, .wq = wq, .settings = settings, .cat = cat,
                            .writer = writer};
    r->timer = event_new(base, -1, EV_PERSIST, on_timer, r);
    r->kick_ev = event_new(base, -1, 0, on_timer, r);
    if (!r->timer || !r->kick_ev) {
        sv_dvr_retention_free(r);
        return NULL;
    }
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    event_add(r->timer, &tv);
    return r;
}

void sv_dvr_retention_free(sv_dvr_retention *r)
{
    if (!r)
        return;
    if (r->timer)
        event_free(r->timer);
    if (r->kick_ev)
        event_free(r->kick_ev);
    free(r);
}

void sv_dvr_retention_set_cb(sv_dvr_retention *r, sv_dvr_retention_cb cb, void *ctx)
{
    r->cb = cb;
    r->cb_ctx = ctx;
}

void sv_dvr_retention_kick(sv_dvr_retention *r) { event_active(r->kick_ev, EV_TIMEOUT, 0); }

void sv_dvr_retention_stats(sv_dvr_retention *r, uint64_t *passes, uint64_t *segments,
                            uint64_t *bytes)
{
    *passes = atomic_load(&r->passes);
    *segments = atomic_load(&r->segments);
    *bytes = atomic_load(&r->bytes);
}
