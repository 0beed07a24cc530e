/* Background export routes.
 *
 *   POST   /v1/nvr/convert2mp4   Ti Top: {"app_name", "stream_name", "start_time",
 *                                "end_time" | "duration", "file_name"?} in UTC ms; the MP4
 *                                goes into the stream's recording root
 *   POST   /streamer/api/v3/streams/{name}/dvr/export?from=&duration=&path=[&meta=true]
 *                                Flussonic (seconds); path must lie under an export root
 *   GET    /streamer/api/v3/exports, /streamer/api/v3/exports/{id}
 *   DELETE /streamer/api/v3/exports/{id}   abort (partial file removed) or forget
 * All need admin credentials (they write files on the server). Both start routes answer
 * 202 with the job at once; events report the outcome. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_util.h"
#include "core/error.h"
#include "dvr/writer.h"

#define MAX_PATH_LEN 1024

static void reply_job(sv_http_req *req, json_t *job, int rc)
{
    if (!job)
        return sv_http_error(req, rc == SV_ETOOBIG ? 503 : 500, "busy",
                             rc == SV_ETOOBIG ? "too many exports running, retry later"
                                              : "out of memory");
    sv_api_reply_json(req, 202, job);
}

/* Every component of an absolute path: no empty, ".", ".." parts. */
static bool path_clean(const char *p)
{
    if (p[0] != '/' || strlen(p) > MAX_PATH_LEN)
        return false;
    for (const char *c = p + 1; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += n + (e ? 1 : 0);
        if (e && !*c)
            return false; /* trailing slash */
    }
    return true;
}

/* True when path (clean, absolute) is inside root, also after resolving symlinks of the
 * directories that exist. Creates the missing directories below root. */
static bool under_root(const char *path, const char *root)
{
    char rroot[PATH_MAX], dir[PATH_MAX], rdir[PATH_MAX];
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (strncmp(path, root, rl) || path[rl] != '/')
        return false;
    mkdir(root, 0755);
    if (!realpath(root, rroot))
        return false;
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    if (sv_dvr_mkdirs_for(root, path + rl + 1) || !realpath(dir, rdir))
        return false;
    size_t n = strlen(rroot);
    return !strncmp(rdir, rroot, n) && (rdir[n] == '/' || rdir[n] == '\0');
}

/* Validates an output path; answers the error itself and returns false. */
static bool check_output(sv_api *api, sv_http_req *req, const char *path, const char *const *roots,
                         int nroots)
{
    size_t n = strlen(path);
    if (!path_clean(path) || n < 5 || strcmp(path + n - 4, ".mp4")) {
        sv_http_error(req, 400, "bad_path",
                      "path: must be an absolute path ending in .mp4 without . or .. parts");
        return false;
    }
    bool ok = false;
    for (int i = 0; i < nroots && !ok; i++)
        ok = under_root(path, roots[i]);
    if (!ok) {
        sv_http_error(req, 400, "bad_path", "path: must lie under a configured export root");
        return false;
    }
    if (access(path, F_OK) == 0 || sv_jobs_path_busy(api->jobs, path)) {
        sv_http_error(req, 409, "exists", "path: the file already exists; not overwriting it");
        return false;
    }
    return true;
}

static bool param_int(sv_http_req *req, const char *name, long long min, long long max,
                      long long *out)
{
    const char *v = sv_http_query_param(req, name);
    char msg[160];
    if (v && !sv_parse_int(v, min, max, out))
        return true;
    snprintf(msg, sizeof msg, "%s: %s", name, v ? "out of range or not an integer (seconds)"
                                               : "missing");
    sv_http_error(req, 400, "bad_parameter", msg);
    return false;
}

void sv_api_dvr_export(sv_api *api, sv_http_req *req, const char *name)
{
    long long from, dur;
    if (strcmp(sv_http_method(req), "POST"))
        return sv_http_error(req, 405, "method_not_allowed", "use POST");
    if (!param_int(req, "from", 0, 100000000000LL - 1, &from) ||
        !param_int(req, "duration", 1, api->cfg->archive_max_window_s, &dur))
        return;
    const char *path = sv_http_query_param(req, "path");
    if (!path)
        return sv_http_error(req, 400, "bad_parameter", "path: missing");
    const char *meta = sv_http_query_param(req, "meta");
    if (!check_output(api, req, path, (const char *const *)api->export_roots, api->nexport_roots))
        return;
    int rc;
    json_t *job = sv_jobs_start(api->jobs, name, from * 1000, (from + dur) * 1000, path,
                                meta && !strcmp(meta, "true"), "flussonic", &rc);
    reply_job(req, job, rc);
}

static bool body_ms(sv_http_req *req, json_t *body, const char *key, bool required,
                    bool duration, int64_t *out)
{
    json_t *v = json_object_get(body, key);
    char msg[160];
    if (!v && !required)
        return false;
    const char *why = NULL;
    if (!json_is_integer(v))
        why = v ? "must be an integer (UTC milliseconds)" : "missing";
    else if (duration && json_integer_value(v) <= 0)
        why = "must be a positive number of milliseconds";
    else if (!duration && json_integer_value(v) < 100000000000LL)
        why = "looks like seconds; this route takes UTC milliseconds";
    if (why) {
        snprintf(msg, sizeof msg, "%s: %s", key, why);
        sv_http_error(req, 400, "bad_parameter", msg);
        *out = -1;
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool plain_file_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 5 && n < 200 && s[0] != '.' && !strcmp(s + n - 4, ".mp4") &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

void sv_api_convert2mp4(sv_api *api, sv_http_req *req)
{
    size_t len;
    const uint8_t *b = sv_http_body(req, &len);
    json_t *body = json_loadb((const char *)b, len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return sv_http_error(req, 400, "bad_json", "body must be a JSON object");
    }
    const char *app = json_string_value(json_object_get(body, "app_name"));
    const char *st = json_string_value(json_object_get(body, "stream_name"));
    const char *file = json_string_value(json_object_get(body, "file_name"));
    char name[300], path[1400], gen[200];
    int64_t start, end = -1, dur = -1;
    snprintf(name, sizeof name, "%s/%s", app ? app : "", st ? st : "");
    if (!app || !st || !sv_stream_name_valid(name)) {
        sv_http_error(req, 400, "bad_parameter", "app_name, stream_name: missing or invalid");
    } else if (body_ms(req, body, "start_time", true, false, &start) &&
               (body_ms(req, body, "end_time", false, false, &end) || end == -1) &&
               (end >= 0 || body_ms(req, body, "duration", true, true, &dur))) {
        int64_t to = end >= 0 ? end : start + dur; /* end_time wins */
        if (file && !plain_file_name(file)) {
            sv_http_error(req, 400, "bad_parameter",
                          "file_name: a plain name ending in .mp4 ([A-Za-z0-9_.-])");
        } else if (to <= start || to - start > (int64_t)api->cfg->archive_max_window_s * 1000) {
            sv_http_error(req, 400, "bad_window", "the window is empty, inverted or too long");
        } else {
            sv_dvr_settings d;
            sv_settings_dvr(api->settings, name, &d);
            snprintf(gen, sizeof gen, "%s_%s_%lld_%lld.mp4", app, st, (long long)start, (long long)to);
            snprintf(path, sizeof path, "%s/%s", d.root, file ? file : gen);
            sv_dvr_settings_clear(&d);
            if (access(path, F_OK) == 0 || sv_jobs_path_busy(api->jobs, path)) {
                sv_http_error(req, 409, "exists", "file_name: the file already exists");
            } else {
                int rc;
                json_t *job = sv_jobs_start(api->jobs, name, start, to, path, false, "titop", &rc);
                if (job)
                    json_object_set_new(job, "code", json_integer(0));
                reply_job(req, job, rc);
            }
        }
    }
    json_decref(body);
}

void sv_api_exports(sv_api *api, sv_http_req *req, const char *id)
{
    const char *m = sv_http_method(req);
    if (!id) {
        if (strcmp(m, "GET") && strcmp(m, "HEAD"))
            return sv_http_error(req, 405, "method_not_allowed", "use GET");
        return sv_api_reply_json(req, 200, sv_jobs_list(api->jobs));
    }
    if (!strcmp(m, "DELETE")) {
        if (sv_jobs_delete(api->jobs, id))
            return sv_http_error(req, 404, "not_found", "no such export");
        return sv_http_respond(req, 204, NULL, NULL, 0);
    }
    json_t *j = sv_jobs_get(api->jobs, id);
    if (!j)
        return sv_http_error(req, 404, "not_found", "no such export");
    sv_api_reply_json(req, 200, j);
}
