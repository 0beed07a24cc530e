/* See api_util.h. */
#include "api/api_util.h"

#include <stdio.h>

#include "api/api.h"
#include "core/clock.h"
#include "http/auth.h"

#include <stdlib.h>
#include <string.h>

void sv_api_reply_json(sv_http_req *req, int status, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!text) {
        sv_http_error(req, 500, "internal", "out of memory");
        return;
    }
    sv_http_add_header(req, "Cache-Control", "no-cache");
    sv_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

void sv_api_cors(sv_http_req *req)
{
    sv_http_add_header(req, "Access-Control-Allow-Origin", "*");
    sv_http_add_header(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    sv_http_add_header(req, "Access-Control-Allow-Headers", "Range, Authorization");
    sv_http_add_header(req, "Access-Control-Expose-Headers", "Content-Length, Content-Range");
}

bool sv_api_split_suffix(const char *path, const char *suffix, char *out, size_t size)
{
    size_t plen = strlen(path), slen = strlen(suffix);
    if (plen < slen + 2 || path[0] != '/' || strcmp(path + plen - slen, suffix))
        return false;
    size_t nlen = plen - slen - 1;
    if (nlen >= size)
        return false;
    memcpy(out, path + 1, nlen);
    out[nlen] = '\0';
    return true;
}

bool sv_api_viewer_ok(sv_api *api, sv_http_req *req, const char *name, char *suffix, size_t size)
{
    if (suffix)
        suffix[0] = '\0';
    const char *secret = api->cfg->viewer_secret;
    if (!secret)
        return true;
    const char *token = sv_http_query_param(req, "token");
    if (!sv_auth_viewer_check(secret, name, token, sv_now_utc_ms() / 1000)) {
        sv_api_cors(req);
        sv_http_error(req, 403, "forbidden", token ? "invalid or expired token" : "token required");
        return false;
    }
    if (suffix)
        snprintf(suffix, size, "?token=%s", token);
    return true;
}
