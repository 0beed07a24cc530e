/* Usage accounting of HTTP media responses (Flussonic's "DVR usage data").
 *
 * Every media response (live playlist/segment, archive playlist/segment, download) is
 * accounted when it completes or the client leaves: bytes handed to the client by source
 * (bytes_from_ram: built in memory — live segments, playlists; bytes_from_dvr_disk:
 * archive files and exports made from them; bytes_from_dvr_cache and
 * bytes_from_dvr_remote: always 0, there is no archive cache or remote storage yet),
 * dvr_utc_ms (the requested archive moment, null for live), stream, client, status,
 * duration. They go out as a `web_request` event and into the /metrics byte counters. */
#ifndef SV_API_ACCOUNT_H
#define SV_API_ACCOUNT_H

#include <stdint.h>

#include "api/api.h"

typedef struct sv_api_acct sv_api_acct;

typedef enum { SV_SRC_RAM, SV_SRC_DISK } sv_api_source;

/* Starts accounting req. kind: "live", "archive", "download". dvr_utc_ms < 0: live.
 * When own_close is true the accounting also takes the request's on_close callback;
 * handlers that need on_close themselves pass false and call sv_api_acct_closed from it. */
sv_api_acct *sv_api_account(sv_api *api, sv_http_req *req, const char *kind, const char *stream,
                            sv_api_source src, int64_t dvr_utc_ms, bool own_close);
/* Hands the request's on_close back to the accounting (a handler done with its own). */
void sv_api_acct_own_close(sv_api_acct *acct, sv_http_req *req);
/* The client left before the response completed (from the handler's own on_close). */
void sv_api_acct_closed(sv_api_acct *acct, sv_http_req *req);

#endif
