/* See api_account.h. */
#include "api/api_account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "events/events.h"
#include "events/metrics.h"

struct sv_api_acct {
    sv_api *api;
    const char *kind;
    char stream[256];
    sv_api_source src;
    int64_t dvr_utc_ms;
    int64_t start_mono;
};

static void finish(sv_api_acct *a, sv_http_req *req, int status, uint64_t bytes)
{
    sv_api *api = a->api;
    sv_metrics_count_bytes_out(api->metrics, a->kind, a->src == SV_SRC_RAM ? "ram" : "disk", bytes);
    sv_metrics_count_request(api->metrics, a->kind, status);
    json_t *f = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "kind", a->kind,
                          "path", sv_http_path(req), "client", sv_http_client_ip(req),
                          "status", status, "bytes", (json_int_t)bytes, "bytes_from_ram",
                          (json_int_t)(a->src == SV_SRC_RAM ? bytes : 0), "bytes_from_dvr_cache",
                          (json_int_t)0, "bytes_from_dvr_disk",
                          (json_int_t)(a->src == SV_SRC_DISK ? bytes : 0),
                          "bytes_from_dvr_remote", (json_int_t)0, "duration_ms",
                          (json_int_t)(sv_now_mono_ms() - a->start_mono));
    json_object_set_new(f, "dvr_utc_ms", a->dvr_utc_ms < 0 ? json_null() : json_integer(a->dvr_utc_ms));
    sv_events_emit(api->events, "web_request", a->stream[0] ? a->stream : NULL, f);
    free(a);
}

static void on_done(sv_http_req *req, int status, uint64_t bytes, void *ctx)
{
    finish(ctx, req, status, bytes);
}

void sv_api_acct_closed(sv_api_acct *a, sv_http_req *req)
{
    if (a)
        finish(a, req, 499, sv_http_req_bytes_sent(req)); /* 499: client closed request */
}

static void on_close(sv_http_req *req, void *ctx) { sv_api_acct_closed(ctx, req); }

void sv_api_acct_own_close(sv_api_acct *a, sv_http_req *req)
{
    sv_http_req_on_close(req, a ? on_close : NULL, a);
}

sv_api_acct *sv_api_account(sv_api *api, sv_http_req *req, const char *kind, const char *stream,
                            sv_api_source src, int64_t dvr_utc_ms, bool own_close)
{
    sv_api_acct *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    *a = (sv_api_acct){.api = api, .kind = kind, .src = src, .dvr_utc_ms = dvr_utc_ms,
                       .start_mono = sv_now_mono_ms()};
    if (stream)
        snprintf(a->stream, sizeof a->stream, "%s", stream);
    sv_http_req_on_done(req, on_done, a);
    if (own_close)
        sv_http_req_on_close(req, on_close, a);
    return a;
}
