/* See api.h. Routing, the live HLS routes and the stream status API. */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_util.h"
#include "core/error.h"
#include "http/auth.h"

#define API_PREFIX "/streamer/api/v3/"
#define NAME_MAX_LEN 256

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
        if (t->fps_den)
            json_object_set_new(j, "fps", json_real((double)t->fps_num / t->fps_den));
        else
            json_object_set_new(j, "fps", json_null());
    } else {
        json_object_set_new(j, "sample_rate", json_integer(t->sample_rate));
        json_object_set_new(j, "channels", json_integer(t->channels));
    }
    return j;
}

static json_t *stream_json(sv_api *api, sv_stream *s)
{
    sv_stream_stats st;
    sv_stream_get_stats(s, &st);
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(sv_stream_name(s)));
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
    return j;
}

static void api_streams(sv_api *api, sv_http_req *req)
{
    json_t *arr = json_array();
    for (sv_stream *s = sv_registry_first(api->reg); s; s = sv_registry_next(api->reg, s))
        json_array_append_new(arr, stream_json(api, s));
    json_t *j = json_object();
    json_object_set_new(j, "estimated_count", json_integer((json_int_t)json_array_size(arr)));
    json_object_set_new(j, "streams", arr);
    sv_api_reply_json(req, 200, j);
}

static void api_stream(sv_api *api, sv_http_req *req, const char *name)
{
    sv_stream *s = sv_registry_find(api->reg, name);
    if (!s) {
        sv_http_error(req, 404, "not_found", "no such stream");
        return;
    }
    sv_api_reply_json(req, 200, stream_json(api, s));
}

static void route_admin(sv_api *api, sv_http_req *req, const char *rest)
{
    if (!sv_auth_check_admin(sv_http_header(req, "Authorization"), api->cfg->admin_user,
                             api->cfg->admin_pass)) {
        sv_http_add_header(req, "WWW-Authenticate", "Basic realm=\"StreamVault\"");
        sv_http_error(req, 401, "unauthorized", "admin credentials required");
        return;
    }
    const char *m = sv_http_method(req);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (!strcmp(rest, "streams")) {
        if (get)
            return api_streams(api, req);
        return sv_http_error(req, 405, "method_not_allowed", "use GET");
    }
    if (!strncmp(rest, "streams/", 8) && rest[8]) {
        if (get)
            return api_stream(api, req, rest + 8);
        return sv_http_error(req, 405, "method_not_allowed", "method not allowed here");
    }
    sv_http_error(req, 404, "not_found", "no such API route");
}

static sv_stream *media_stream(sv_api *api, sv_http_req *req, const char *name)
{
    sv_stream *s = sv_stream_name_valid(name) ? sv_registry_find(api->reg, name) : NULL;
    if (!s)
        sv_http_error(req, 404, "not_found", "no such stream");
    return s;
}

static void live_playlist(sv_api *api, sv_http_req *req, const char *name)
{
    sv_stream *s = media_stream(api, req, name);
    if (!s)
        return;
    sv_bytes out;
    sv_bytes_init(&out);
    int rc = sv_live_playlist(api->live, s, &out);
    if (rc) {
        sv_bytes_free(&out);
        sv_http_error(req, 404, "not_found", "stream has no live segments yet");
        return;
    }
    sv_live_touch_viewer(api->live, s, sv_http_client_ip(req), sv_http_header(req, "User-Agent"));
    sv_api_cors(req);
    sv_http_add_header(req, "Cache-Control", "no-cache");
    sv_http_respond(req, 200, "application/vnd.apple.mpegurl", out.p, out.len);
    sv_bytes_free(&out);
}

static bool parse_live_segment(const char *path, char *name, size_t size, uint64_t *seq)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || strncmp(slash, "/live-", 6))
        return false;
    char *end;
    unsigned long long v = strtoull(slash + 6, &end, 10);
    if (end == slash + 6 || strcmp(end, ".ts"))
        return false;
    size_t nlen = (size_t)(slash - path - 1);
    if (nlen >= size)
        return false;
    memcpy(name, path + 1, nlen);
    name[nlen] = '\0';
    *seq = v;
    return true;
}

static void live_segment(sv_api *api, sv_http_req *req, const char *name, uint64_t seq)
{
    sv_stream *s = media_stream(api, req, name);
    if (!s)
        return;
    sv_buf *b = sv_live_segment(api->live, s, seq);
    if (!b) {
        sv_http_error(req, 404, "not_found", "segment left the live window");
        return;
    }
    sv_live_touch_viewer(api->live, s, sv_http_client_ip(req), sv_http_header(req, "User-Agent"));
    sv_api_cors(req);
    sv_http_add_header(req, "Cache-Control", "max-age=60");
    sv_http_respond(req, 200, "video/mp2t", b->data, b->len);
    sv_buf_unref(b);
}

static bool route_media(sv_api *api, sv_http_req *req, const char *path)
{
    char name[NAME_MAX_LEN];
    uint64_t seq;
    if (sv_api_split_suffix(path, "/index.m3u8", name, sizeof name) ||
        sv_api_split_suffix(path, "/playlist.m3u8", name, sizeof name)) {
        live_playlist(api, req, name);
        return true;
    }
    if (parse_live_segment(path, name, sizeof name, &seq)) {
        live_segment(api, req, name, seq);
        return true;
    }
    return false;
}

void sv_api_handle(sv_http_req *req, void *ctx)
{
    sv_api *api = ctx;
    const char *path = sv_http_path(req);
    const char *m = sv_http_method(req);
    if (!strncmp(path, API_PREFIX, strlen(API_PREFIX))) {
        route_admin(api, req, path + strlen(API_PREFIX));
        return;
    }
    if (!strcmp(m, "OPTIONS")) {
        sv_api_cors(req);
        sv_http_respond(req, 204, NULL, NULL, 0);
        return;
    }
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        sv_http_error(req, 405, "method_not_allowed", "media routes accept GET and HEAD");
        return;
    }
    if (!route_media(api, req, path))
        sv_http_error(req, 404, "not_found", "no such route");
}
