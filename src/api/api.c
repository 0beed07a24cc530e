/* See api.h. Top-level routing and the live HLS routes. */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_account.h"
#include "api/api_util.h"
#include "core/error.h"
#include "http/auth.h"

#define API_PREFIX "/streamer/api/v3/"
#define NAME_MAX_LEN 256

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
    char sfx[96];
    if (!sv_api_viewer_ok(api, req, name, sfx, sizeof sfx))
        return;
    sv_bytes out;
    sv_bytes_init(&out);
    int rc = sv_live_playlist(api->live, s, sfx, &out);
    if (rc) {
        sv_bytes_free(&out);
        sv_http_error(req, 404, "not_found", "stream has no live segments yet");
        return;
    }
    sv_live_touch_viewer(api->live, s, sv_http_client_ip(req), sv_http_header(req, "User-Agent"));
    sv_api_account(api, req, "live", name, SV_SRC_RAM, -1, true);
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
    if (!s || !sv_api_viewer_ok(api, req, name, NULL, 0))
        return;
    sv_buf *b = sv_live_segment(api->live, s, seq);
    if (!b) {
        sv_http_error(req, 404, "not_found", "segment left the live window");
        return;
    }
    sv_live_touch_viewer(api->live, s, sv_http_client_ip(req), sv_http_header(req, "User-Agent"));
    sv_api_account(api, req, "live", name, SV_SRC_RAM, -1, true);
    sv_api_cors(req);
    sv_http_add_header(req, "Cache-Control", "max-age=60");
    sv_http_respond_buf(req, 200, "video/mp2t", b);
    sv_buf_unref(b);
}

static bool route_media(sv_api *api, sv_http_req *req, const char *path)
{
    char name[NAME_MAX_LEN];
    uint64_t seq;
    if (sv_api_archive_route(api, req, path))
        return true;
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

/* Admin credentials check; answers 401 itself. */
static bool admin_ok(sv_api *api, sv_http_req *req)
{
    if (sv_auth_check_admin(sv_http_header(req, "Authorization"), api->cfg->admin_user,
                            api->cfg->admin_pass))
        return true;
    sv_http_add_header(req, "WWW-Authenticate", "Basic realm=\"StreamVault\"");
    sv_http_error(req, 401, "unauthorized", "admin credentials required");
    return false;
}

void sv_api_handle(sv_http_req *req, void *ctx)
{
    sv_api *api = ctx;
    const char *path = sv_http_path(req);
    const char *m = sv_http_method(req);
    if (!strcmp(path, "/v1/nvr/convert2mp4")) { /* Ti Top: writes files, so admin only */
        if (!admin_ok(api, req))
            return;
        if (strcmp(m, "POST"))
            return sv_http_error(req, 405, "method_not_allowed", "use POST");
        return sv_api_convert2mp4(api, req);
    }
    if (!strncmp(path, API_PREFIX, strlen(API_PREFIX))) {
        if (!admin_ok(api, req))
            return;
        if (sv_events_api_route(path + strlen(API_PREFIX))) { /* events wiring */
            sv_events_api(api->events, req, path + strlen(API_PREFIX));
            return;
        }
        sv_api_admin(api, req, path + strlen(API_PREFIX));
        return;
    }
    if (!strcmp(path, "/metrics")) { /* events wiring: public, like most exporters */
        sv_metrics_handle(api->metrics, req);
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
