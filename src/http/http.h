/* HTTP/1.1 server on the libevent loop.
 *
 * Our own small server rather than evhttp: a pure request parser (http_parser.h) we can
 * fuzz, JSON error bodies for every failure, keep-alive, pipelining-safe sequencing, HTTP
 * Range for files, sendfile for files (evbuffer_add_file), and streamed responses with
 * back-pressure for exports. One handler receives every request; routing is the caller's.
 *
 * Lifetime: a sv_http_req belongs to its connection. The handler either responds before
 * returning or keeps the request and responds later (async) on the loop thread. If the
 * client goes away first, the on_close callback set with sv_http_req_on_close fires and
 * the request must not be used afterwards. Limits: request line + headers <= 16 KiB,
 * <= 100 headers, body <= 1 MiB (413 otherwise), idle keep-alive timeout 30 s. */
#ifndef SV_HTTP_HTTP_H
#define SV_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct event_base;
typedef struct sv_http_server sv_http_server;
typedef struct sv_http_req sv_http_req;

/* Called for every complete, well-formed request. */
typedef void (*sv_http_handler)(sv_http_req *req, void *ctx);

typedef struct sv_http_config {
    const char *bind_addr; /* NULL: 0.0.0.0 */
    int port;
    size_t max_connections; /* 0: 4096 */
} sv_http_config;

/* Binds and listens. NULL (reason logged) on failure. */
sv_http_server *sv_http_server_new(struct event_base *base, const sv_http_config *cfg,
                                   sv_http_handler handler, void *ctx);
/* Closes the listener and every connection (pending on_close callbacks fire). NULL-safe. */
void sv_http_server_free(sv_http_server *srv);

/* ---- request (all strings borrowed, valid until the response completes) ---- */
const char *sv_http_method(const sv_http_req *req);   /* "GET", "POST", ... */
const char *sv_http_path(const sv_http_req *req);     /* percent-decoded path, no query */
const char *sv_http_raw_target(const sv_http_req *req); /* request-target as sent */
const char *sv_http_query(const sv_http_req *req);    /* raw query after '?', "" if none */
/* Decoded value of a query parameter, NULL if absent. Returned string lives as long as req. */
const char *sv_http_query_param(sv_http_req *req, const char *name);
const char *sv_http_header(const sv_http_req *req, const char *name); /* case-insensitive */
const uint8_t *sv_http_body(const sv_http_req *req, size_t *len);
const char *sv_http_client_ip(const sv_http_req *req);
uint64_t sv_http_req_id(const sv_http_req *req);

/* ---- responses ---- */
/* Adds a response header (copied). */
void sv_http_add_header(sv_http_req *req, const char *name, const char *value);
/* Complete response with a body (copied). Sets Content-Length. */
void sv_http_respond(sv_http_req *req, int status, const char *content_type,
                     const void *body, size_t len);
/* Same with a refcounted buffer sent without a copy (takes a reference on b, dropped
 * once the bytes left for the socket). For live segments shared by every viewer. */
void sv_http_respond_buf(sv_http_req *req, int status, const char *content_type, sv_buf *b);
/* JSON error body {"error":{"code":code,"message":message}}. */
void sv_http_error(sv_http_req *req, int status, const char *code, const char *message);
/* Serves [off, off+len) of an open file with sendfile, honouring the request's Range
 * header (206/416, Accept-Ranges: bytes). Takes ownership of fd. */
void sv_http_respond_file(sv_http_req *req, const char *content_type, int fd, off_t off,
                          off_t len);

/* Streamed response: headers now, body as produced. content_length < 0: chunked. */
void sv_http_stream_begin(sv_http_req *req, int status, const char *content_type,
                          int64_t content_length);
/* Queues bytes (copied). Returns the number of bytes still queued for the socket, so the
 * producer can pause above a high-water mark and resume from on_drain. */
size_t sv_http_stream_write(sv_http_req *req, const void *p, size_t len);
/* Called when the queued output falls below the low-water mark (64 KiB). */
void sv_http_req_on_drain(sv_http_req *req, void (*cb)(sv_http_req *req, void *ctx), void *ctx);
void sv_http_stream_end(sv_http_req *req);

/* The client disconnected (or server shutdown) before the response completed. */
void sv_http_req_on_close(sv_http_req *req, void (*cb)(sv_http_req *req, void *ctx), void *ctx);
/* Called once the response is fully handed to the socket: status and body bytes sent,
 * for access accounting (web_request events). */
void sv_http_req_on_done(sv_http_req *req,
                         void (*cb)(sv_http_req *req, int status, uint64_t bytes, void *ctx),
                         void *ctx);

const char *sv_http_status_text(int status);

/* ---- additions (http_server.c) ----
 *
 * Request lifetime, precisely:
 *  - The handler owns nothing; req stays valid until exactly one of on_done / on_close
 *    has fired (if set) and returned, then it is freed. Without callbacks, treat req as
 *    gone as soon as the response is complete (sv_http_respond / sv_http_error /
 *    sv_http_respond_file / sv_http_stream_end returned).
 *  - on_done: every byte of the response was handed to the socket.
 *  - on_close: the connection went away (reset, timeout, server shutdown) before that,
 *    even if the handler had already completed the response. After on_close returns the
 *    handler must not use req; inside on_close, response calls are no-ops and accessors
 *    still work. A handler that frees producer state in on_close and also ends the stream
 *    itself should clear the callback (sv_http_req_on_close(req, NULL, NULL)) first.
 *  - Response functions must be called on the loop thread. They queue bytes; completion,
 *    on_drain and the next pipelined request run later from the loop, never re-entrantly.
 *  - A read EOF from the client before the handler completed the response counts as the
 *    client leaving (on_close fires); once complete, the response is still flushed.
 *  - Do not call sv_http_server_free from a callback of the same server. */

/* Port actually bound (useful with port 0), or a negative SV_E* code. */
int sv_http_server_port(const sv_http_server *srv);
/* Open connections (for metrics). */
size_t sv_http_server_connections(const sv_http_server *srv);
/* Response bytes (headers and framing included) handed to the socket so far; usable in
 * on_close for accounting of aborted downloads. */
uint64_t sv_http_req_bytes_sent(const sv_http_req *req);

#endif
