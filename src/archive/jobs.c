/* See jobs.h. A job is owned by the list; while a worker runs it the list keeps it (a
 * DELETE only sets the cancel flag and marks it "aborting"), and the done callback on
 * the loop settles the final state, emits the event and persists the record. */
#include "archive/jobs.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/export.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "events/metrics.h"

typedef enum { J_QUEUED, J_RUNNING, J_DONE, J_FAILED, J_ABORTED } jstate;
static const char *const state_names[] = {"queued", "running", "done", "failed", "aborted"};

typedef struct job {
    sv_jobs *owner;
    char id[24];
    char stream[256];
    char *path;
    char origin[16];
    bool meta, in_worker, forget;
    int64_t from_ms, to_ms, created_ms, finished_ms;
    jstate state;
    atomic_int progress, cancel;
    int rc;
    int64_t size;
    char error[160];
    struct job *next; /* newest first */
} job;

struct sv_jobs {
    sv_workq *wq;
    sv_dvr *dvr;
    sv_events *events;
    int64_t max_window_ms;
    job *head;
    uint64_t seq;
    bool stopping;
    uint64_t finished[5];    /* by final state */
    double run_seconds[5];   /* total run time of finished jobs by final state */
};

static bool active(const job *jb) { return jb->state == J_QUEUED || jb->state == J_RUNNING; }

static json_t *job_json(const job *jb)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:s, s:I}", "id", jb->id,
                          "stream", jb->stream, "state", state_names[jb->state], "from",
                          (json_int_t)(jb->from_ms / 1000), "duration",
                          (json_int_t)((jb->to_ms - jb->from_ms) / 1000), "path", jb->path,
                          "progress", atomic_load(&jb->progress), "origin", jb->origin,
                          "created_ms", (json_int_t)jb->created_ms);
    json_object_set_new(o, "from_ms", json_integer(jb->from_ms));
    json_object_set_new(o, "to_ms", json_integer(jb->to_ms));
    json_object_set_new(o, "meta", json_boolean(jb->meta));
    json_object_set_new(o, "size", jb->state == J_DONE ? json_integer(jb->size) : json_null());
    json_object_set_new(o, "error", jb->error[0] ? json_string(jb->error) : json_null());
    json_object_set_new(o, "finished_ms", jb->finished_ms ? json_integer(jb->finished_ms) : json_null());
    return o;
}

static void persist(sv_jobs *js, const job *jb)
{
    json_t *o = job_json(jb);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        sv_dvr_store_setting(js->dvr, "export", jb->id, text);
    free(text);
}

static void emit(sv_jobs *js, const job *jb, const char *name, bool async)
{
    json_t *f = json_pack("{s:s, s:I, s:I, s:s, s:s}", "id", jb->id, "from",
                          (json_int_t)(jb->from_ms / 1000), "duration",
                          (json_int_t)((jb->to_ms - jb->from_ms) / 1000), "path", jb->path,
                          "origin", jb->origin);
    if (jb->state == J_DONE)
        json_object_set_new(f, "size", json_integer(jb->size));
    if (jb->error[0])
        json_object_set_new(f, "error", json_string(jb->error));
    if (async)
        sv_events_emit_async(js->events, name, jb->stream, f);
    else
        sv_events_emit(js->events, name, jb->stream, f);
}

static void free_job(job *jb)
{
    free(jb->path);
    free(jb);
}

static void on_progress(void *ctx, int percent)
{
    job *jb = ctx;
    atomic_store(&jb->progress, percent);
}

int sv_jobs_plan(sv_catalog *cat, const char *stream, int64_t from_ms, int64_t to_ms,
                 int64_t max_window_ms, sv_export_format fmt, const sv_mp4_meta *meta,
                 const atomic_int *cancel, sv_export_plan **out)
{
    sv_catalog_seglist l = {0};
    int rc = sv_catalog_list(cat, stream, from_ms, to_ms, &l);
    sv_export_seg *segs = rc ? NULL : calloc(l.n ? l.n : 1, sizeof *segs);
    char **paths = rc ? NULL : calloc(l.n ? l.n : 1, sizeof *paths);
    if (!rc && (!segs || !paths))
        rc = SV_ENOMEM;
    for (size_t i = 0; !rc && i < l.n; i++) {
        if (asprintf(&paths[i], "%s/%s", l.v[i].root, l.v[i].path) < 0) {
            paths[i] = NULL;
            rc = SV_ENOMEM;
            break;
        }
        segs[i] = (sv_export_seg){paths[i], l.v[i].start_ms, l.v[i].duration_ms};
    }
    if (!rc)
        rc = sv_export_plan_new(segs, l.n, from_ms, to_ms, max_window_ms, fmt, meta, cancel, out);
    for (size_t i = 0; paths && i < l.n; i++)
        free(paths[i]);
    free(paths);
    free(segs);
    sv_catalog_seglist_free(&l);
    return rc;
}

/* Worker thread: catalog -> plan -> file. Reads only immutable job fields. */
static void run_job(void *arg)
{
    job *jb = arg;
    sv_jobs *js = jb->owner;
    emit(js, jb, "dvr_mp4_export_start", true);
    char title[300];
    snprintf(title, sizeof title, "%s", jb->stream);
    sv_mp4_meta meta = {title, "exported by StreamVault", jb->from_ms};
    sv_export_plan *plan = NULL;
    int rc = sv_jobs_plan(sv_dvr_catalog(js->dvr), jb->stream, jb->from_ms, jb->to_ms,
                          js->max_window_ms, SV_EXPORT_MP4, jb->meta ? &meta : NULL,
                          &jb->cancel, &plan);
    if (!rc)
        rc = sv_export_to_file(plan, jb->path, on_progress, jb, &jb->cancel, 0);
    jb->size = rc ? 0 : (int64_t)sv_export_size(plan);
    jb->rc = rc;
    sv_export_plan_free(plan);
}

static void unlink_job(sv_jobs *js, job *jb)
{
    for (job **pp = &js->head; *pp; pp = &(*pp)->next)
        if (*pp == jb) {
            *pp = jb->next;
            return;
        }
}

static void settle(sv_jobs *js, job *jb, bool cancelled)
{
    jb->in_worker = false;
    jb->finished_ms = sv_now_utc_ms();
    bool stopped = cancelled || jb->rc == SV_ECLOSED; /* the work did not finish */
    if (stopped && js->stopping) {
        jb->state = J_FAILED;
        snprintf(jb->error, sizeof jb->error, "interrupted by a server shutdown");
        emit(js, jb, "dvr_mp4_export_failed", false);
    } else if (stopped) {
        jb->state = J_ABORTED;
        snprintf(jb->error, sizeof jb->error, "aborted");
        emit(js, jb, "dvr_mp4_export_aborted", false);
    } else if (jb->rc) {
        jb->state = J_FAILED;
        snprintf(jb->error, sizeof jb->error, "%s",
                 jb->rc == SV_ENOTFOUND ? "nothing recorded in this window"
                 : jb->rc == SV_EEXIST  ? "output file already exists"
                                        : sv_strerror(jb->rc));
        emit(js, jb, "dvr_mp4_export_failed", false);
    } else { /* finished, even if an abort arrived too late to stop it */
        jb->state = J_DONE;
        atomic_store(&jb->progress, 100);
        emit(js, jb, "dvr_mp4_export_ready", false);
    }
    js->finished[jb->state]++;
    js->run_seconds[jb->state] += (double)(jb->finished_ms - jb->created_ms) / 1000.0;
    sv_info(jb->stream, "export %s %s: %s (%lld bytes)", jb->id, state_names[jb->state], jb->path,
            (long long)jb->size);
    if (jb->forget) {
        unlink_job(js, jb);
        sv_dvr_store_setting(js->dvr, "export", jb->id, NULL);
        free_job(jb);
        return;
    }
    persist(js, jb);
}

static void job_done(void *arg, bool cancelled)
{
    job *jb = arg;
    settle(jb->owner, jb, cancelled);
}

/* Drops the oldest finished jobs past SV_JOBS_KEEP. */
static void trim(sv_jobs *js)
{
    size_t n = 0;
    for (job **pp = &js->head; *pp;) {
        job *jb = *pp;
        if (!active(jb) && ++n > SV_JOBS_KEEP) {
            *pp = jb->next;
            sv_dvr_store_setting(js->dvr, "export", jb->id, NULL);
            free_job(jb);
        } else {
            pp = &jb->next;
        }
    }
}

json_t *sv_jobs_start(sv_jobs *js, const char *stream, int64_t from_ms, int64_t to_ms,
                      const char *path, bool meta, const char *origin, int *rc)
{
    size_t nactive = 0;
    for (job *jb = js->head; jb; jb = jb->next)
        nactive += active(jb);
    job *jb = nactive < SV_JOBS_ACTIVE ? calloc(1, sizeof *jb) : NULL;
    if (!jb || !(jb->path = strdup(path))) {
        free(jb);
        *rc = nactive < SV_JOBS_ACTIVE ? SV_ENOMEM : SV_ETOOBIG;
        return NULL;
    }
    jb->owner = js;
    snprintf(jb->id, sizeof jb->id, "%llx%04llx", (unsigned long long)sv_now_utc_ms(),
             (unsigned long long)(++js->seq & 0xffff));
    snprintf(jb->stream, sizeof jb->stream, "%s", stream);
    snprintf(jb->origin, sizeof jb->origin, "%s", origin);
    jb->meta = meta;
    jb->from_ms = from_ms;
    jb->to_ms = to_ms;
    jb->created_ms = sv_now_utc_ms();
    jb->state = J_RUNNING; /* the worker pool picks it up; "queued" only while it waits */
    jb->in_worker = true;
    if (sv_workq_submit(js->wq, run_job, job_done, jb)) {
        free_job(jb);
        *rc = SV_ETOOBIG;
        return NULL;
    }
    jb->next = js->head;
    js->head = jb;
    persist(js, jb);
    trim(js);
    *rc = 0;
    return job_json(jb);
}

static job *find(sv_jobs *js, const char *id)
{
    for (job *jb = js->head; jb; jb = jb->next)
        if (!strcmp(jb->id, id))
            return jb;
    return NULL;
}

json_t *sv_jobs_get(sv_jobs *js, const char *id)
{
    job *jb = find(js, id);
    return jb ? job_json(jb) : NULL;
}

json_t *sv_jobs_list(sv_jobs *js)
{
    json_t *arr = json_array();
    for (job *jb = js->head; jb; jb = jb->next)
        json_array_append_new(arr, job_json(jb));
    return json_pack("{s:o}", "exports", arr);
}

int sv_jobs_delete(sv_jobs *js, const char *id)
{
    job *jb = find(js, id);
    if (!jb)
        return SV_ENOTFOUND;
    if (jb->in_worker) {
        atomic_store(&jb->cancel, 1); /* the worker removes the partial file */
        return 0;
    }
    unlink_job(js, jb);
    sv_dvr_store_setting(js->dvr, "export", jb->id, NULL);
    free_job(jb);
    return 0;
}

void sv_jobs_collect_metrics(sv_metrics_out *out, void *ctx)
{
    sv_jobs *js = ctx;
    size_t by_state[5] = {0};
    for (job *jb = js->head; jb; jb = jb->next)
        by_state[jb->state]++;
    sv_metrics_family(out, "streamvault_export_jobs", "gauge", "Export jobs known, by state");
    for (int i = 0; i < 5; i++)
        sv_metrics_sample(out, "streamvault_export_jobs", (double)by_state[i], "state",
                          state_names[i], NULL);
    sv_metrics_family(out, "streamvault_export_jobs_finished_total", "counter",
                      "Export jobs finished since start, by outcome");
    for (int i = J_DONE; i < 5; i++)
        sv_metrics_sample(out, "streamvault_export_jobs_finished_total", (double)js->finished[i],
                          "state", state_names[i], NULL);
    sv_metrics_family(out, "streamvault_export_job_seconds_total", "counter",
                      "Run time of the export jobs finished since start, by outcome");
    for (int i = J_DONE; i < 5; i++)
        sv_metrics_sample(out, "streamvault_export_job_seconds_total", js->run_seconds[i],
                          "state", state_names[i], NULL);
}

bool sv_jobs_path_busy(sv_jobs *js, const char *path)
{
    for (job *jb = js->head; jb; jb = jb->next)
        if (active(jb) && !strcmp(jb->path, path))
            return true;
    return false;
}

/* ---- start-up: stored jobs ---- */

typedef struct load_ctx {
    sv_jobs *js;
    job **tail;
} load_ctx;

static int load_one(const char *name, const char *text, void *ud)
{
    load_ctx *lc = ud;
    json_t *o = json_loads(text, 0, NULL);
    const char *state = json_string_value(json_object_get(o, "state"));
    const char *path = json_string_value(json_object_get(o, "path"));
    job *jb = (o && state && path) ? calloc(1, sizeof *jb) : NULL;
    if (jb && (jb->path = strdup(path))) {
        jb->owner = lc->js;
        snprintf(jb->id, sizeof jb->id, "%s", name);
        snprintf(jb->stream, sizeof jb->stream, "%s", json_string_value(json_object_get(o, "stream")));
        snprintf(jb->origin, sizeof jb->origin, "%s", json_string_value(json_object_get(o, "origin")));
        jb->from_ms = json_integer_value(json_object_get(o, "from_ms"));
        jb->to_ms = json_integer_value(json_object_get(o, "to_ms"));
        jb->created_ms = json_integer_value(json_object_get(o, "created_ms"));
        jb->finished_ms = json_integer_value(json_object_get(o, "finished_ms"));
        jb->size = json_integer_value(json_object_get(o, "size"));
        jb->meta = json_is_true(json_object_get(o, "meta"));
        snprintf(jb->error, sizeof jb->error, "%s",
                 json_is_string(json_object_get(o, "error"))
                     ? json_string_value(json_object_get(o, "error")) : "");
        jb->state = J_FAILED;
        for (int i = 0; i < 5; i++)
            if (!strcmp(state, state_names[i]))
                jb->state = (jstate)i;
        *lc->tail = jb;
        lc->tail = &jb->next;
    } else {
        free(jb);
    }
    json_decref(o);
    return 0;
}

/* Jobs a restart interrupted: failed, temp file removed, event emitted. */
static void fail_interrupted(sv_jobs *js)
{
    for (job *jb = js->head; jb; jb = jb->next) {
        if (!active(jb))
            continue;
        char part[4200];
        snprintf(part, sizeof part, "%s.part", jb->path);
        unlink(part);
        jb->state = J_FAILED;
        jb->finished_ms = sv_now_utc_ms();
        snprintf(jb->error, sizeof jb->error, "interrupted by a server restart");
        emit(js, jb, "dvr_mp4_export_failed", false);
        persist(js, jb);
    }
}

static int cmp_created(const void *a, const void *b)
{
    const job *x = *(job *const *)a, *y = *(job *const *)b;
    return (x->created_ms < y->created_ms) - (x->created_ms > y->created_ms);
}

sv_jobs *sv_jobs_new(sv_workq *wq, sv_dvr *dvr, sv_events *events, int64_t max_window_ms)
{
    sv_jobs *js = calloc(1, sizeof *js);
    if (!js)
        return NULL;
    *js = (sv_jobs){.wq = wq, .dvr = dvr, .events = events, .max_window_ms = max_window_ms};
    load_ctx lc = {js, &js->head};
    sv_catalog_settings_list(sv_dvr_catalog(dvr), "export", load_one, &lc);
    size_t n = 0;
    for (job *jb = js->head; jb; jb = jb->next)
        n++;
    job **v = n ? malloc(n * sizeof *v) : NULL;
    if (v) { /* newest first */
        size_t i = 0;
        for (job *jb = js->head; jb; jb = jb->next)
            v[i++] = jb;
        qsort(v, n, sizeof *v, cmp_created);
        for (i = 0; i < n; i++)
            v[i]->next = i + 1 < n ? v[i + 1] : NULL;
        js->head = v[0];
        free(v);
    }
    fail_interrupted(js);
    return js;
}

void sv_jobs_shutdown(sv_jobs *js)
{
    if (!js)
        return;
    js->stopping = true;
    for (job *jb = js->head; jb; jb = jb->next)
        if (jb->in_worker)
            atomic_store(&jb->cancel, 1);
}

void sv_jobs_free(sv_jobs *js)
{
    if (!js)
        return;
    while (js->head) {
        job *jb = js->head;
        js->head = jb->next;
        free_job(jb);
    }
    free(js);
}
