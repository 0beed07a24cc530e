/* Helpers shared by the API handlers: JSON replies, CORS, suffix matching. */
#ifndef SV_API_UTIL_H
#define SV_API_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "http/http.h"

/* Replies with json (takes the reference). */
void sv_api_reply_json(sv_http_req *req, int status, json_t *json);
/* CORS headers for media responses. */
void sv_api_cors(sv_http_req *req);
/* If path ends with suffix and has a non-empty "/name" before it, copies name (without
 * the leading '/') into out and returns true. */
bool sv_api_split_suffix(const char *path, const char *suffix, char *out, size_t size);

struct sv_api;
/* Viewer access to a stream's media (when a viewer secret is configured): true if allowed;
 * otherwise answers 403 and returns false. suffix (size >= 80) receives the query to append
 * to URIs in a playlist ("?token=..." or ""). */
bool sv_api_viewer_ok(struct sv_api *api, sv_http_req *req, const char *name, char *suffix,
                      size_t size);

#endif
