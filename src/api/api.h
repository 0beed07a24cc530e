/* The HTTP surface: one entry point that routes every request (DESIGN.md section 7).
 *
 * Media routes are matched by their known suffix because stream names contain '/':
 *   GET /{name}/index.m3u8, /{name}/playlist.m3u8   live HLS playlist
 *   GET /{name}/live-{seq}.ts                       live HLS segment
 * Admin routes need credentials (Basic or Bearer):
 *   GET /streamer/api/v3/streams, /streamer/api/v3/streams/{name}
 * Every error is JSON: {"error": {"code": "...", "message": "..."}}. */
#ifndef SV_API_API_H
#define SV_API_API_H

#include "core/config.h"
#include "http/http.h"
#include "live/hls.h"
#include "stream/stream.h"

typedef struct sv_api {
    const sv_config *cfg;
    sv_registry *reg;
    sv_live *live;
} sv_api;

/* The sv_http_handler for the server; ctx is a sv_api. */
void sv_api_handle(sv_http_req *req, void *ctx);

#endif
