/* Admin API (Flussonic v3 shapes): stream status and settings, templates.
 *
 *   GET    /streams                  every stream: live ones, configured ones, recorded ones
 *   GET    /streams/{name}           status + effective settings + dvr summary
 *   PUT    /streams/{name}           {"dvr": {...}, "inputs": [...]}: create or replace
 *   DELETE /streams/{name}           forget the settings (the archive stays until
 *                                    retention takes it; ?archive=delete removes it now)
 *   GET    /templates, GET/PUT/DELETE /templates/{name}   {"prefixes": [...], "dvr": {...}}
 * Settings changes are persisted (catalog) and apply to the next segment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_util.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/error.h"
#include "http/auth.h"
#include "ingest/rtsp/inputs.h" /* rtsp wiring */

static json_t *track_json(const sv_track *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "content", json_string(t->type == SV_MEDIA_VIDEO ? "video" : "audio"));
    json_object_set_new(j, "codec", json_string(sv_codec_name(t->codec)));
    if (t->type == SV_MEDIA_VIDEO) {
        json_object_set_new(j, "width", json_integer(t->width));
        json_object_set_new(j, "height", json_integer(t->height));
        json_object_set_new(j, "profile", json_integer(t->profile));
        json_object_set_new(j, "level", json_integer(t->level));
        json_object_set_new(j, "fps", t->fps_den ? json_real((double)t->fps_num / t->fps_den)
                                                 : json_null());
    } else {
        json_object_set_new(j, "sample_rate", json_integer(t->sample_rate));
        json_object_set_new(j, "channels", json_integer(t->channels));
    }
    return j;
}

static void live_fields(sv_api *api, sv_stream *s, json_t *j)
{
    sv_stream_stats st;
    sv_stream_get_stats(s, &st);
    json_object_set_new(j, "alive", json_boolean(st.alive));
    json_t *in = json_object();
    json_object_set_new(in, "protocol", json_string(st.protocol));
    json_object_set_new(in, "remote", json_string(st.remote));
    json_object_set_new(in, "since", st.since_ms ? json_integer(st.since_ms) : json_null());
    json_object_set_new(j, "input", in);
    json_t *tracks = json_array();
    const sv_track *t = sv_stream_tracks(s);
    for (int i = 0; st.alive && i < SV_MAX_TRACKS; i++)
        if (t[i].codec != SV_CODEC_NONE)
            json_array_append_new(tracks, track_json(&t[i]));
    json_object_set_new(j, "tracks", tracks);
    json_object_set_new(j, "bitrate", json_integer((json_int_t)(st.bitrate_bps / 1000)));
    json_object_set_new(j, "bytes_in", json_integer((json_int_t)st.bytes_in));
    json_object_set_new(j, "publishes", json_integer(st.publishes));
    json_object_set_new(j, "viewers", json_integer(sv_live_viewers(api->live, s)));
}

/* Status of a stream known to the registry, the settings or the archive. NULL if none. */
static json_t *stream_json(sv_api *api, const char *name)
{
    sv_stream *s = sv_registry_find(api->reg, name);
    json_t *dvr = sv_api_dvr_status(api, name);
    bool configured = sv_settings_get(api->settings, "stream", name) != NULL;
    if (!s && !dvr && !configured)
        return NULL;
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(name));
    if (s) {
        live_fields(api, s, j);
    } else {
        json_object_set_new(j, "alive", json_false());
        json_object_set_new(j, "tracks", json_array());
    }
    json_t *eff = sv_settings_effective(api->settings, name);
    json_object_set_new(j, "static", json_boolean(configured));
    sv_inputs_mask_settings(eff); /* rtsp wiring: no passwords in the API */
    json_object_set_new(j, "settings", eff);
    json_object_set_new(j, "dvr", dvr ? dvr : json_null());
    json_t *is = sv_inputs_status(sv_inputs_of(api->reg), name); /* rtsp wiring */
    if (is)                                                        /* rtsp wiring */
        json_object_set_new(j, "input_status", is);                /* rtsp wiring */
    return j;
}

static int strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_name(json_t *set, const char *name) { json_object_set_new(set, name, json_true()); }

static void list_streams(sv_api *api, sv_http_req *req)
{
    json_t *names = json_object(); /* a set, so each name appears once */
    for (sv_stream *s = sv_registry_first(api->reg); s; s = sv_registry_next(api->reg, s))
        add_name(names, sv_stream_name(s));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sv_settings_all(api->settings, "stream"), k, v) add_name(names, k);
    char **rec = NULL;
    size_t nrec = 0;
    if (api->dvr && !sv_catalog_streams(sv_dvr_catalog(api->dvr), &rec, &nrec))
        for (size_t i = 0; i < nrec; i++)
            add_name(names, rec[i]);
    sv_catalog_strv_free(rec, nrec);
    json_t *arr = json_array();
    const char **sorted = malloc((json_object_size(names) + 1) * sizeof *sorted);
    size_t n = 0;
    json_object_foreach(names, k, v) sorted[n++] = k;
    qsort(sorted, n, sizeof *sorted, strcmp_ptr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, stream_json(api, sorted[i]));
    free(sorted);
    json_decref(names);
    json_t *j = json_pack("{s:I,s:o}", "estimated_count", (json_int_t)n, "streams", arr);
    sv_api_reply_json(req, 200, j);
}

static json_t *parse_body(sv_http_req *req)
{
    size_t len;
    const uint8_t *body = sv_http_body(req, &len);
    json_error_t err;
    json_t *j = json_loadb((const char *)body, len, 0, &err);
    if (!j) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON: %s (line %d)", err.text, err.line);
        sv_http_error(req, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        sv_http_error(req, 400, "bad_json", "body must be a JSON object");
        return NULL;
    }
    return j;
}

static void put_entry(sv_api *api, sv_http_req *req, const char *kind, const char *name)
{
    json_t *body = parse_body(req);
    if (!body)
        return;
    char err[256];
    int rc = sv_settings_put(api->settings, kind, name, body, true, err, sizeof err);
    json_decref(body);
    if (rc) {
        sv_http_error(req, 400, "invalid_settings", err);
        return;
    }
    if (!strcmp(kind, "stream")) {
        sv_registry_get(api->reg, name); /* the stream exists from now on */
        sv_inputs_sync(sv_inputs_of(api->reg)); /* rtsp wiring: start/restart pulls */
        sv_api_reply_json(req, 200, stream_json(api, name));
    } else {
        json_t *t = json_deep_copy(sv_settings_get(api->settings, kind, name));
        json_object_set_new(t, "name", json_string(name));
        sv_api_reply_json(req, 200, t);
    }
}

static void stream_route(sv_api *api, sv_http_req *req, const char *m, const char *name)
{
    if (!sv_stream_name_valid(name))
        return sv_http_error(req, 400, "bad_name", "invalid stream name");
    if (!strcmp(m, "PUT"))
        return put_entry(api, req, "stream", name);
    if (!strcmp(m, "DELETE")) {
        const char *archive = sv_http_query_param(req, "archive");
        bool purge = archive && !strcmp(archive, "delete");
        if (archive && !purge)
            return sv_http_error(req, 400, "bad_parameter", "archive: only \"delete\" is accepted");
        bool had = sv_settings_delete(api->settings, "stream", name) == 0;
        sv_inputs_sync(sv_inputs_of(api->reg)); /* rtsp wiring: stop its pull */
        if (purge)
            return sv_api_dvr_delete_all(api, req, name);
        if (!had)
            return sv_http_error(req, 404, "not_found", "stream has no stored settings");
        return sv_http_respond(req, 204, NULL, NULL, 0);
    }
    if (strcmp(m, "GET") && strcmp(m, "HEAD"))
        return sv_http_error(req, 405, "method_not_allowed", "use GET, PUT or DELETE");
    json_t *j = stream_json(api, name);
    if (!j)
        return sv_http_error(req, 404, "not_found", "no such stream");
    sv_api_reply_json(req, 200, j);
}

static void template_route(sv_api *api, sv_http_req *req, const char *m, const char *name)
{
    if (!strcmp(m, "PUT"))
        return put_entry(api, req, "template", name);
    if (!strcmp(m, "DELETE")) {
        if (sv_settings_delete(api->settings, "template", name))
            return sv_http_error(req, 404, "not_found", "no such template");
        return sv_http_respond(req, 204, NULL, NULL, 0);
    }
    const json_t *t = sv_settings_get(api->settings, "template", name);
    if (!t)
        return sv_http_error(req, 404, "not_found", "no such template");
    json_t *j = json_deep_copy(t);
    json_object_set_new(j, "name", json_string(name));
    sv_api_reply_json(req, 200, j);
}

static void list_templates(sv_api *api, sv_http_req *req)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sv_settings_all(api->settings, "template"), k, v)
    {
        json_t *t = json_deep_copy(v);
        json_object_set_new(t, "name", json_string(k));
        json_array_append_new(arr, t);
    }
    sv_api_reply_json(req, 200, json_pack("{s:o}", "templates", arr));
}

static bool split_dvr(const char *rest, char *name, size_t size, const char **what)
{
    static const char *const suffixes[] = {"/dvr/ranges", "/dvr/locks", "/dvr/export", NULL};
    for (int i = 0; suffixes[i]; i++) {
        size_t rl = strlen(rest), sl = strlen(suffixes[i]);
        if (rl > sl && rl - sl < size && !strcmp(rest + rl - sl, suffixes[i])) {
            memcpy(name, rest, rl - sl);
            name[rl - sl] = '\0';
            *what = suffixes[i] + 5;
            return true;
        }
    }
    return false;
}

/* POST /streams/{name}/token?ttl=SECONDS: a viewer token for the stream's media routes. */
static void mint_token(sv_api *api, sv_http_req *req, const char *name)
{
    const char *ttl_s = sv_http_query_param(req, "ttl");
    long long ttl = 3600;
    if (!sv_stream_name_valid(name))
        return sv_http_error(req, 400, "bad_name", "invalid stream name");
    if (ttl_s && sv_parse_int(ttl_s, 1, 366LL * 86400, &ttl))
        return sv_http_error(req, 400, "bad_parameter", "ttl: seconds, 1..31622400");
    if (!api->cfg->viewer_secret)
        return sv_http_error(req, 409, "no_viewer_secret",
                             "viewer tokens need `viewer_secret` in the config file");
    char token[SV_VIEWER_TOKEN_MAX];
    int64_t expires = sv_now_utc_ms() / 1000 + ttl;
    sv_auth_viewer_token(api->cfg->viewer_secret, name, expires, token);
    sv_api_reply_json(req, 200, json_pack("{s:s, s:I, s:s+}", "token", token, "expires",
                                          (json_int_t)expires, "query", "token=", token));
}

static bool split_token(const char *rest, char *name, size_t size)
{
    size_t rl = strlen(rest), sl = strlen("/token");
    if (strncmp(rest, "streams/", 8) || rl <= 8 + sl || strcmp(rest + rl - sl, "/token") ||
        rl - sl - 8 >= size)
        return false;
    memcpy(name, rest + 8, rl - sl - 8);
    name[rl - sl - 8] = '\0';
    return true;
}

void sv_api_admin(sv_api *api, sv_http_req *req, const char *rest)
{
    const char *m = sv_http_method(req);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    char name[256];
    const char *what;
    if (!strcmp(rest, "streams"))
        return get ? list_streams(api, req)
                   : sv_http_error(req, 405, "method_not_allowed", "use GET");
    if (!strcmp(rest, "templates"))
        return get ? list_templates(api, req)
                   : sv_http_error(req, 405, "method_not_allowed", "use GET");
    if (split_token(rest, name, sizeof name))
        return mint_token(api, req, name);
    if (!strncmp(rest, "streams/", 8) && split_dvr(rest + 8, name, sizeof name, &what)) {
        if (!strcmp(what, "export"))
            return sv_stream_name_valid(name) ? sv_api_dvr_export(api, req, name)
                                              : sv_http_error(req, 400, "bad_name", "invalid stream name");
        return sv_api_dvr(api, req, name, what);
    }
    if (!strcmp(rest, "exports"))
        return sv_api_exports(api, req, NULL);
    if (!strncmp(rest, "exports/", 8) && rest[8] && !strchr(rest + 8, '/'))
        return sv_api_exports(api, req, rest + 8);
    if (!strncmp(rest, "streams/", 8) && rest[8])
        return stream_route(api, req, m, rest + 8);
    if (!strncmp(rest, "templates/", 10) && rest[10] && !strchr(rest + 10, '/'))
        return template_route(api, req, m, rest + 10);
    sv_http_error(req, 404, "not_found", "no such API route");
}
