/* Archive playback routes (HLS of any recorded window, recorded segment files).
 *
 * Flussonic, UTC seconds:
 *   GET /{name}/index-{from}-{duration}.m3u8, /{name}/archive-{from}-{duration}.m3u8   VOD
 *   GET /{name}/index-{from}-now.m3u8        from a past moment up to live (EVENT)
 *   GET /{name}/archive-{from}-{duration}.mp4 | .ts   the window as one file (api_export.c)
 * Ti Top, UTC milliseconds:
 *   GET /{app}/{stream}/playlist.m3u8?start_time=&end_time=   (or &duration=; end_time
 *   wins), also the documented spelling "playlist.m3u8&start_time=..."
 * Segments: GET /{name}/YYYY/MM/DD/HH/MM-SS-mmm_DUR.ts, served from the catalog's root
 * with sendfile and HTTP Range. Paths are parsed strictly by dvr/layout, and the file is
 * looked up in the catalog, so a request can never name a file outside a DVR root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_account.h"
#include "api/api_util.h"
#include "archive/playlist.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/error.h"
#include "dvr/layout.h"

#define NAME_MAX_LEN 256

/* Parses a window parameter; on failure answers 400 naming it. unit_ms: the route's unit. */
static bool parse_time(sv_http_req *req, const char *param, const char *text, bool unit_ms,
                       bool is_duration, int64_t *out_ms)
{
    long long v;
    char msg[200];
    const char *why = NULL;
    if (!text || sv_parse_int(text, is_duration ? 1 : 0, INT64_MAX / 4000, &v))
        why = is_duration ? "must be a positive integer" : "must be a non-negative integer";
    else if (!is_duration && !unit_ms && v > 100000000000LL)
        why = "looks like milliseconds; this route takes UTC seconds";
    else if (!is_duration && unit_ms && v < 100000000000LL && v > 0)
        why = "looks like seconds; this route takes UTC milliseconds";
    if (why) {
        snprintf(msg, sizeof msg, "%s: %s", param, why);
        sv_http_error(req, 400, "bad_parameter", msg);
        return false;
    }
    *out_ms = unit_ms ? v : v * 1000;
    return true;
}

static bool check_window(sv_api *api, sv_http_req *req, int64_t from, int64_t to)
{
    int64_t max = (int64_t)api->cfg->archive_max_window_s * 1000;
    if (to <= from) {
        sv_http_error(req, 400, "bad_window", "the window is empty or inverted");
        return false;
    }
    if (to - from > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "the window exceeds the maximum of %d s",
                 api->cfg->archive_max_window_s);
        sv_http_error(req, 400, "bad_window", msg);
        return false;
    }
    return true;
}

static void serve_playlist(sv_api *api, sv_http_req *req, const char *name, int64_t from,
                           int64_t to, bool vod)
{
    char sfx[96];
    if (!sv_stream_name_valid(name) || !api->dvr)
        return sv_http_error(req, 404, "not_found", "no such stream");
    if (!sv_api_viewer_ok(api, req, name, sfx, sizeof sfx))
        return;
    sv_catalog_range *spans = NULL;
    size_t n = 0;
    if (sv_catalog_spans(sv_dvr_catalog(api->dvr), name, from, to, &spans, &n))
        return sv_http_error(req, 500, "catalog", "catalog query failed");
    if (n == 0)
        return sv_http_error(req, 404, "no_recording", "nothing recorded in this window");
    sv_stream *s = sv_registry_find(api->reg, name);
    bool ended = vod || !s || !sv_stream_alive(s);
    sv_bytes out;
    sv_bytes_init(&out);
    int rc = sv_archive_playlist(spans, n, vod, ended, sfx, &out);
    free(spans);
    if (rc) {
        sv_bytes_free(&out);
        return sv_http_error(req, 500, "internal", "out of memory");
    }
    sv_api_account(api, req, "archive", name, SV_SRC_RAM, from, true);
    sv_api_cors(req);
    sv_http_add_header(req, "Cache-Control", vod ? "max-age=10" : "no-cache");
    sv_http_respond(req, 200, "application/vnd.apple.mpegurl", out.p, out.len);
    sv_bytes_free(&out);
}

/* The extension of a Flussonic window file: .m3u8, .mp4, .ts; NULL for anything else. */
static const char *window_ext(const char *file, size_t flen)
{
    static const char *const exts[] = {".m3u8", ".mp4", ".ts", NULL};
    for (int i = 0; exts[i]; i++) {
        size_t el = strlen(exts[i]);
        if (flen > el && !strcmp(file + flen - el, exts[i]))
            return exts[i];
    }
    return NULL;
}

/* /{name}/index-{from}-{duration|now}.m3u8, archive-{from}-{duration}.m3u8|.mp4|.ts */
static bool flussonic_window(sv_api *api, sv_http_req *req, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return false;
    const char *file = slash + 1;
    size_t flen = strlen(file);
    bool index = !strncmp(file, "index-", 6), archive = !strncmp(file, "archive-", 8);
    const char *ext = window_ext(file, flen);
    if ((!index && !archive) || !ext || (index && strcmp(ext, ".m3u8")))
        return false;
    size_t elen = strlen(ext);
    char from_s[32], dur_s[32], name[NAME_MAX_LEN];
    const char *a = file + (index ? 6 : 8);
    const char *dash = strchr(a, '-');
    size_t nlen = (size_t)(slash - path - 1);
    if (!dash || (size_t)(dash - a) >= sizeof from_s || nlen >= sizeof name)
        return false;
    size_t dlen = (size_t)(file + flen - elen - dash - 1);
    if (dlen == 0 || dlen >= sizeof dur_s)
        return false;
    memcpy(from_s, a, (size_t)(dash - a));
    from_s[dash - a] = '\0';
    memcpy(dur_s, dash + 1, dlen);
    dur_s[dlen] = '\0';
    memcpy(name, path + 1, nlen);
    name[nlen] = '\0';
    int64_t from, dur;
    if (!parse_time(req, "from", from_s, false, false, &from))
        return true;
    if (index && !strcmp(dur_s, "now")) {
        int64_t now = sv_now_utc_ms();
        if (check_window(api, req, from, now + 1))
            serve_playlist(api, req, name, from, now + 1, false);
        return true;
    }
    if (!parse_time(req, "duration", dur_s, false, true, &dur))
        return true;
    if (!check_window(api, req, from, from + dur))
        return true;
    if (!strcmp(ext, ".m3u8"))
        serve_playlist(api, req, name, from, from + dur, true);
    else
        sv_api_download(api, req, name, from, from + dur, !strcmp(ext, ".mp4"));
    return true;
}

/* Ti Top: .../playlist.m3u8?start_time=...; false when it has no time parameters (live). */
static bool titop_playlist(sv_api *api, sv_http_req *req, const char *name)
{
    const char *start = sv_http_query_param(req, "start_time");
    const char *end = sv_http_query_param(req, "end_time");
    const char *dur = sv_http_query_param(req, "duration");
    if (!start && !end && !dur)
        return false;
    int64_t from, to, d;
    if (!parse_time(req, "start_time", start, true, false, &from))
        return true;
    if (end) {
        if (!parse_time(req, "end_time", end, true, false, &to))
            return true;
    } else {
        if (!parse_time(req, "duration", dur, true, true, &d))
            return true;
        to = from + d;
    }
    if (check_window(api, req, from, to))
        serve_playlist(api, req, name, from, to, true);
    return true;
}

/* "/{app}/{stream}/playlist.m3u8&start_time=...&end_time=..." (no '?'): the raw target. */
static bool titop_amp_spelling(sv_api *api, sv_http_req *req, const char *path)
{
    const char *amp = strstr(path, "/playlist.m3u8&");
    if (!amp || amp == path)
        return false;
    char name[NAME_MAX_LEN];
    size_t nlen = (size_t)(amp - path - 1);
    if (nlen >= sizeof name)
        return false;
    memcpy(name, path + 1, nlen);
    name[nlen] = '\0';
    const char *q = amp + strlen("/playlist.m3u8&");
    char start[32] = "", end[32] = "", dur[32] = "";
    for (const char *p = q; p && *p;) {
        const char *next = strchr(p, '&');
        size_t len = next ? (size_t)(next - p) : strlen(p);
        char *dst = !strncmp(p, "start_time=", 11) ? start : !strncmp(p, "end_time=", 9) ? end
                    : !strncmp(p, "duration=", 9) ? dur : NULL;
        size_t klen = dst == start ? 11 : 9;
        if (dst && len - klen < 32) {
            memcpy(dst, p + klen, len - klen);
            dst[len - klen] = '\0';
        }
        p = next ? next + 1 : NULL;
    }
    int64_t from, to, d;
    if (!parse_time(req, "start_time", start[0] ? start : NULL, true, false, &from))
        return true;
    if (end[0]) {
        if (!parse_time(req, "end_time", end, true, false, &to))
            return true;
    } else {
        if (!parse_time(req, "duration", dur[0] ? dur : NULL, true, true, &d))
            return true;
        to = from + d;
    }
    if (check_window(api, req, from, to))
        serve_playlist(api, req, name, from, to, true);
    return true;
}

/* /{name}/YYYY/MM/DD/HH/MM-SS-mmm_DUR.ts */
static bool archive_segment(sv_api *api, sv_http_req *req, const char *path)
{
    sv_dvr_layout_info info;
    size_t len = strlen(path);
    if (len < 2 || len > 300 || strcmp(path + len - 3, ".ts") ||
        sv_dvr_layout_parse(path + 1, len - 1, &info) || info.is_part || !api->dvr)
        return false;
    char name[NAME_MAX_LEN];
    memcpy(name, path + 1, info.stream_len);
    name[info.stream_len] = '\0';
    if (!sv_api_viewer_ok(api, req, name, NULL, 0))
        return true;
    sv_catalog_seglist l = {0};
    int rc = sv_catalog_list(sv_dvr_catalog(api->dvr), name, info.start_ms, info.start_ms + 1, &l);
    const sv_catalog_seg *seg = NULL;
    for (size_t i = 0; !rc && i < l.n; i++)
        if (l.v[i].start_ms == info.start_ms && !strcmp(l.v[i].path, path + 1))
            seg = &l.v[i];
    char file[4096];
    int fd = -1;
    if (seg) {
        snprintf(file, sizeof file, "%s/%s", seg->root, seg->path);
        fd = open(file, O_RDONLY | O_CLOEXEC);
    }
    sv_catalog_seglist_free(&l);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0)
            close(fd);
        sv_http_error(req, 404, "not_found", "no such recorded segment");
        return true;
    }
    sv_api_account(api, req, "archive", name, SV_SRC_DISK, info.start_ms, true);
    sv_api_cors(req);
    sv_http_add_header(req, "Cache-Control", "max-age=86400");
    sv_http_respond_file(req, "video/mp2t", fd, 0, st.st_size);
    return true;
}

bool sv_api_archive_route(sv_api *api, sv_http_req *req, const char *path)
{
    char name[NAME_MAX_LEN];
    if (sv_api_split_suffix(path, "/playlist.m3u8", name, sizeof name) &&
        titop_playlist(api, req, name))
        return true;
    if (titop_amp_spelling(api, req, path))
        return true;
    if (flussonic_window(api, req, path))
        return true;
    return archive_segment(api, req, path);
}
