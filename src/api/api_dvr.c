/* Archive API of a stream (Flussonic units: UTC seconds).
 *
 *   GET    /streams/{name}/dvr/ranges   [{"from": s, "duration": s}, ...]
 *   DELETE /streams/{name}/dvr/ranges   {"from", "duration"}: removes the whole segments
 *                                       inside, reports what was removed
 *   POST   /streams/{name}/dvr/locks    {"from", "duration"}: protect from retention
 *   GET    /streams/{name}/dvr/locks    [{"from", "duration"}, ...]
 *   DELETE /streams/{name}/dvr/locks    {"from", "duration"}: unlock
 * Reads are indexed catalog queries on the loop; writes (and file removal) run on the
 * worker pool and answer when done. A client gone meanwhile is simply not answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_util.h"
#include "core/error.h"

#define MAX_WINDOW_S (20LL * 365 * 86400)

static int64_t s_floor(int64_t ms) { return ms / 1000; }
static int64_t s_ceil(int64_t ms) { return (ms + 999) / 1000; }

json_t *sv_api_dvr_status(sv_api *api, const char *name)
{
    sv_catalog_stats st;
    if (!api->dvr || sv_catalog_stream_stats(sv_dvr_catalog(api->dvr), name, &st) || !st.count)
        return NULL;
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "from", (json_int_t)s_floor(st.first_ms), "to",
                     (json_int_t)s_ceil(st.last_end_ms), "depth",
                     (json_int_t)(s_ceil(st.last_end_ms) - s_floor(st.first_ms)), "bytes",
                     (json_int_t)st.bytes, "segments", (json_int_t)st.count);
}

static bool stream_known(sv_api *api, const char *name)
{
    sv_catalog_stats st;
    return sv_registry_find(api->reg, name) || sv_settings_get(api->settings, "stream", name) ||
           (!sv_catalog_stream_stats(sv_dvr_catalog(api->dvr), name, &st) && st.count);
}

static json_t *intervals_json(const sv_catalog_range *r, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        int64_t from = s_floor(r[i].from_ms);
        int64_t to = s_ceil(r[i].from_ms + r[i].duration_ms);
        json_array_append_new(arr, json_pack("{s:I,s:I}", "from", (json_int_t)from, "duration",
                                             (json_int_t)(to - from)));
    }
    return arr;
}

static void get_ranges(sv_api *api, sv_http_req *req, const char *name)
{
    sv_catalog_range *r = NULL;
    size_t n = 0;
    if (sv_catalog_ranges(sv_dvr_catalog(api->dvr), name, SV_DVR_RANGE_TOLERANCE_MS, &r, &n))
        return sv_http_error(req, 500, "catalog", "catalog query failed");
    sv_api_reply_json(req, 200, intervals_json(r, n));
    free(r);
}

static void get_locks(sv_api *api, sv_http_req *req, const char *name)
{
    sv_catalog_lock *l = NULL;
    size_t n = 0;
    if (sv_catalog_locks(sv_dvr_catalog(api->dvr), name, &l, &n))
        return sv_http_error(req, 500, "catalog", "catalog query failed");
    sv_catalog_range *r = calloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; r && i < n; i++)
        r[i] = (sv_catalog_range){l[i].from_ms, l[i].to_ms - l[i].from_ms};
    sv_api_reply_json(req, 200, intervals_json(r, r ? n : 0));
    free(r);
    free(l);
}

/* Parses {"from": s, "duration": s} into a [from_ms, to_ms) window. */
static bool parse_window(sv_http_req *req, int64_t *from_ms, int64_t *to_ms)
{
    size_t len;
    const uint8_t *body = sv_http_body(req, &len);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, len, 0, &jerr);
    const char *bad = NULL;
    if (!json_is_object(j))
        bad = "body must be a JSON object {\"from\": seconds, \"duration\": seconds}";
    json_t *f = json_object_get(j, "from"), *d = json_object_get(j, "duration");
    if (!bad && (!json_is_integer(f) || json_integer_value(f) < 0 ||
                 json_integer_value(f) > MAX_WINDOW_S * 10))
        bad = "from: must be UTC seconds (a non-negative integer)";
    if (!bad && (!json_is_integer(d) || json_integer_value(d) <= 0 ||
                 json_integer_value(d) > MAX_WINDOW_S))
        bad = "duration: must be a positive number of seconds";
    if (bad) {
        json_decref(j);
        sv_http_error(req, 400, "bad_request", bad);
        return false;
    }
    *from_ms = json_integer_value(f) * 1000;
    *to_ms = *from_ms + json_integer_value(d) * 1000;
    json_decref(j);
    return true;
}

/* ---- writes on the worker pool ---- */

typedef enum { JOB_DELETE_RANGE, JOB_LOCK, JOB_UNLOCK } job_kind;

typedef struct job {
    sv_api *api;
    sv_http_req *req; /* NULL once the client went away */
    job_kind kind;
    char name[256];
    int64_t from_ms, to_ms;
    int rc;
    sv_catalog_seglist deleted;
} job;

static void on_req_close(sv_http_req *req, void *ctx)
{
    job *j = ctx;
    j->req = NULL;
}

static void run_job(void *arg)
{
    job *j = arg;
    sv_catalog *cat = sv_dvr_catalog(j->api->dvr);
    if (j->kind == JOB_LOCK)
        j->rc = sv_catalog_lock_add(cat, j->name, j->from_ms, j->to_ms);
    else if (j->kind == JOB_UNLOCK)
        j->rc = sv_catalog_lock_remove(cat, j->name, j->from_ms, j->to_ms);
    else
        j->rc = sv_catalog_delete_range(cat, j->name, j->from_ms, j->to_ms, 0, &j->deleted);
}

static int cmp_seg(const void *a, const void *b)
{
    const sv_catalog_seg *x = a, *y = b;
    return (x->start_ms > y->start_ms) - (x->start_ms < y->start_ms);
}

static json_t *deleted_json(sv_catalog_seglist *l)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_seg);
    sv_catalog_range *r = calloc(l->n ? l->n : 1, sizeof *r);
    size_t n = 0;
    int64_t bytes = 0;
    for (size_t i = 0; r && i < l->n; i++) {
        const sv_catalog_seg *s = &l->v[i];
        bytes += s->bytes;
        if (n && s->start_ms <= r[n - 1].from_ms + r[n - 1].duration_ms + SV_DVR_RANGE_TOLERANCE_MS)
            r[n - 1].duration_ms = s->start_ms + s->duration_ms - r[n - 1].from_ms;
        else
            r[n++] = (sv_catalog_range){s->start_ms, s->duration_ms};
    }
    json_t *j = json_pack("{s:o,s:I,s:I}", "removed", intervals_json(r, n), "segments",
                          (json_int_t)l->n, "bytes", (json_int_t)bytes);
    free(r);
    return j;
}

static void job_done(void *arg, bool cancelled)
{
    job *j = arg;
    if (!cancelled && j->kind == JOB_DELETE_RANGE && !j->rc)
        sv_dvr_remove_files(j->api->dvr, &j->deleted);
    if (j->req) {
        sv_http_req_on_close(j->req, NULL, NULL);
        if (cancelled || j->rc)
            sv_http_error(j->req, 500, "catalog", "archive update failed");
        else if (j->kind == JOB_DELETE_RANGE)
            sv_api_reply_json(j->req, 200, deleted_json(&j->deleted));
        else
            get_locks(j->api, j->req, j->name);
    }
    sv_catalog_seglist_free(&j->deleted);
    free(j);
}

static void submit_window(sv_api *api, sv_http_req *req, job_kind kind, const char *name,
                          int64_t from, int64_t to)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return sv_http_error(req, 500, "internal", "out of memory");
    *j = (job){.api = api, .req = req, .kind = kind, .from_ms = from, .to_ms = to};
    snprintf(j->name, sizeof j->name, "%s", name);
    sv_http_req_on_close(req, on_req_close, j);
    if (sv_workq_submit(api->wq, run_job, job_done, j)) {
        sv_http_req_on_close(req, NULL, NULL);
        free(j);
        sv_http_error(req, 503, "busy", "server busy, retry");
    }
}

static void submit(sv_api *api, sv_http_req *req, job_kind kind, const char *name)
{
    int64_t from, to;
    if (parse_window(req, &from, &to))
        submit_window(api, req, kind, name, from, to);
}

void sv_api_dvr_delete_all(sv_api *api, sv_http_req *req, const char *name)
{
    submit_window(api, req, JOB_DELETE_RANGE, name, 0, INT64_MAX / 4);
}

void sv_api_dvr(sv_api *api, sv_http_req *req, const char *name, const char *what)
{
    const char *m = sv_http_method(req);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (!sv_stream_name_valid(name))
        return sv_http_error(req, 400, "bad_name", "invalid stream name");
    if (!api->dvr || !stream_known(api, name))
        return sv_http_error(req, 404, "not_found", "no such stream");
    if (!strcmp(what, "ranges")) {
        if (get)
            return get_ranges(api, req, name);
        if (!strcmp(m, "DELETE"))
            return submit(api, req, JOB_DELETE_RANGE, name);
        return sv_http_error(req, 405, "method_not_allowed", "use GET or DELETE");
    }
    if (get)
        return get_locks(api, req, name);
    if (!strcmp(m, "POST") || !strcmp(m, "PUT"))
        return submit(api, req, JOB_LOCK, name);
    if (!strcmp(m, "DELETE"))
        return submit(api, req, JOB_UNLOCK, name);
    sv_http_error(req, 405, "method_not_allowed", "use GET, POST or DELETE");
}
