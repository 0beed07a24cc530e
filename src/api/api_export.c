/* Archive downloads over HTTP: GET /{name}/archive-{from}-{duration}.mp4 | .ts
 *
 * The window starts at the keyframe at or before `from` (export engine rules). The plan
 * (one read of the window's segments) is made on the worker pool; then the response
 * streams: each 1 MiB piece is produced by a worker job and handed to the socket on the
 * loop, and the next piece is only produced once the socket's queue drains, so memory
 * stays bounded whatever the window. Content-Length is known before the first byte, and a
 * single `Range: bytes=a-b` gets a 206 with exactly those bytes. A client that goes away
 * cancels the job. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/api_account.h"
#include "api/api_util.h"
#include "archive/export.h"
#include "core/error.h"
#include "core/log.h"

#define PIECE (1u << 20)
#define HIGH_WATER (4u << 20)

typedef struct dl {
    sv_api *api;
    sv_http_req *req;      /* NULL once the client left */
    char name[256];
    int64_t from_ms, to_ms;
    sv_export_format fmt;
    atomic_int cancel;
    sv_api_acct *acct;     /* usage accounting (web_request) */
    bool busy;             /* a worker job is running for this download */
    bool head;
    /* planning */
    int rc;
    sv_export_plan *plan;
    /* streaming */
    sv_export_reader *reader;
    uint64_t off, len, sent;
    uint8_t *piece;
    ssize_t piece_len;
} dl;

static void dl_free(dl *d)
{
    sv_export_reader_free(d->reader);
    sv_export_plan_free(d->plan);
    free(d->piece);
    free(d);
}

static void on_close(sv_http_req *req, void *ctx)
{
    dl *d = ctx;
    sv_api_acct_closed(d->acct, req);
    d->req = NULL;
    atomic_store(&d->cancel, 1);
    if (!d->busy)
        dl_free(d);
}

static void next_piece(dl *d);

static void read_piece(void *arg)
{
    dl *d = arg;
    d->piece_len = sv_export_read(d->reader, d->piece, PIECE);
}

static void piece_done(void *arg, bool cancelled)
{
    dl *d = arg;
    d->busy = false;
    if (!d->req) {
        dl_free(d);
        return;
    }
    if (cancelled || d->piece_len < 0) {
        sv_error(d->name, "export: read failed after %llu bytes: %s",
                 (unsigned long long)d->sent, sv_strerror((int)d->piece_len));
        sv_api_acct_own_close(d->acct, d->req);
        sv_http_stream_end(d->req); /* short body: the client sees the truncation */
        dl_free(d);
        return;
    }
    if (d->piece_len == 0) {
        sv_api_acct_own_close(d->acct, d->req);
        sv_http_stream_end(d->req);
        dl_free(d);
        return;
    }
    d->sent += (uint64_t)d->piece_len;
    size_t queued = sv_http_stream_write(d->req, d->piece, (size_t)d->piece_len);
    if (d->sent >= d->len) { /* the whole body is queued: the response completes by itself */
        sv_api_acct_own_close(d->acct, d->req);
        sv_http_stream_end(d->req);
        dl_free(d);
    } else if (queued < HIGH_WATER) {
        next_piece(d);
    } /* else on_drain resumes */
}

static void on_drain(sv_http_req *req, void *ctx)
{
    dl *d = ctx;
    if (!d->busy && d->req)
        next_piece(d);
}

static void next_piece(dl *d)
{
    d->busy = true;
    if (sv_workq_submit(d->api->wq, read_piece, piece_done, d)) {
        d->piece_len = SV_ETOOBIG;
        piece_done(d, true);
    }
}

/* Parses "bytes=a-b" / "a-" / "-n" against size. 0: no/ignored range, 1: range, -1: 416. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    unsigned long long a, b;
    char tail;
    if (!h || strncasecmp(h, "bytes=", 6) || strchr(h, ','))
        return 0;
    h += 6;
    if (sscanf(h, "-%llu%c", &b, &tail) == 1) {
        if (b == 0)
            return -1;
        *off = b >= size ? 0 : size - b;
        *len = size - *off;
        return 1;
    }
    int n = sscanf(h, "%llu-%llu%c", &a, &b, &tail);
    if (n == 1 && h[strlen(h) - 1] == '-')
        b = size - 1;
    else if (n != 2 || b < a)
        return 0;
    if (a >= size)
        return -1;
    if (b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

/* Sends the response headers; false when it answered 416 instead. */
static bool send_headers(dl *d)
{
    sv_http_req *req = d->req;
    uint64_t size = sv_export_size(d->plan);
    const char *base = strrchr(d->name, '/');
    char disp[400], range_hdr[100];
    snprintf(disp, sizeof disp, "attachment; filename=%s_%lld_%lld.%s", base ? base + 1 : d->name,
             (long long)(d->from_ms / 1000), (long long)((d->to_ms - d->from_ms) / 1000),
             d->fmt == SV_EXPORT_MP4 ? "mp4" : "ts");
    sv_http_add_header(req, "Content-Disposition", disp);
    sv_http_add_header(req, "Accept-Ranges", "bytes");
    sv_api_cors(req);
    char utc[32];
    snprintf(utc, sizeof utc, "%lld", (long long)(sv_export_first_utc_ms(d->plan) / 1000));
    sv_http_add_header(req, "X-Archive-Start", utc);
    d->off = 0;
    d->len = size;
    int r = parse_range(sv_http_header(req, "Range"), size, &d->off, &d->len);
    if (r < 0) {
        snprintf(range_hdr, sizeof range_hdr, "bytes */%llu", (unsigned long long)size);
        sv_http_add_header(req, "Content-Range", range_hdr);
        sv_http_error(req, 416, "range_not_satisfiable", "range outside the file");
        return false;
    }
    if (r > 0) {
        snprintf(range_hdr, sizeof range_hdr, "bytes %llu-%llu/%llu", (unsigned long long)d->off,
                 (unsigned long long)(d->off + d->len - 1), (unsigned long long)size);
        sv_http_add_header(req, "Content-Range", range_hdr);
    }
    sv_http_stream_begin(req, r > 0 ? 206 : 200, sv_export_content_type(d->plan), (int64_t)d->len);
    return true;
}

static void plan_job(void *arg)
{
    dl *d = arg;
    d->rc = sv_jobs_plan(sv_dvr_catalog(d->api->dvr), d->name, d->from_ms, d->to_ms, 0, d->fmt,
                         NULL, &d->cancel, &d->plan);
}

static void plan_done(void *arg, bool cancelled)
{
    dl *d = arg;
    d->busy = false;
    if (!d->req) {
        dl_free(d);
        return;
    }
    if (cancelled || d->rc) {
        sv_api_acct_own_close(d->acct, d->req);
        if (d->rc == SV_ENOTFOUND)
            sv_http_error(d->req, 404, "no_recording", "nothing recorded in this window");
        else
            sv_http_error(d->req, 500, "export_failed", sv_strerror(cancelled ? SV_ECLOSED : d->rc));
        dl_free(d);
        return;
    }
    if (!send_headers(d)) {
        sv_api_acct_own_close(d->acct, d->req);
        dl_free(d);
        return;
    }
    if (d->head || d->len == 0) {
        sv_api_acct_own_close(d->acct, d->req);
        sv_http_stream_end(d->req);
        dl_free(d);
        return;
    }
    d->piece = malloc(PIECE);
    if (!d->piece || sv_export_reader_new(d->plan, d->off, d->len, &d->cancel, &d->reader)) {
        sv_api_acct_own_close(d->acct, d->req);
        sv_http_stream_end(d->req);
        dl_free(d);
        return;
    }
    sv_http_req_on_drain(d->req, on_drain, d);
    next_piece(d);
}

void sv_api_download(sv_api *api, sv_http_req *req, const char *name, int64_t from_ms,
                     int64_t to_ms, bool mp4)
{
    if (!api->dvr || !sv_stream_name_valid(name))
        return sv_http_error(req, 404, "not_found", "no such stream");
    if (!sv_api_viewer_ok(api, req, name, NULL, 0))
        return;
    dl *d = calloc(1, sizeof *d);
    if (!d)
        return sv_http_error(req, 500, "internal", "out of memory");
    d->api = api;
    d->req = req;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->from_ms = from_ms;
    d->to_ms = to_ms;
    d->fmt = mp4 ? SV_EXPORT_MP4 : SV_EXPORT_TS;
    d->head = !strcmp(sv_http_method(req), "HEAD");
    d->busy = true;
    d->acct = sv_api_account(api, req, "download", name, SV_SRC_DISK, from_ms, false);
    sv_http_req_on_close(req, on_close, d);
    if (sv_workq_submit(api->wq, plan_job, plan_done, d)) {
        sv_api_acct_own_close(d->acct, req);
        free(d);
        sv_http_error(req, 503, "busy", "too many exports in progress, retry");
    }
}
