/* HTTP/1.1 server on libevent_core (evconnlistener + bufferevent), see http.h.
 *
 * Each connection owns a parser, a bufferevent and at most one request at a time: the
 * next pipelined request is parsed only after the current response has been handed to
 * the socket completely (output buffer empty), which is also when on_done fires and the
 * request is freed. Response completion and drain notifications run from the write
 * callback or from a per-connection "kick" event, never inside the caller's API call, so
 * handlers may respond synchronously or later without re-entrancy. Reading stays enabled
 * while a response is in progress (bounded by a 64 KiB read high-water mark) so that a
 * departing client is noticed: a read EOF while the handler has not completed its
 * response aborts the request (on_close), like a reset; a response already complete is
 * still flushed and requests already buffered are answered before closing. Connections
 * that must close (errors, Connection: close) shut down their write side and drain input
 * for up to 2 s before closing so the peer does not see a reset instead of our answer.
 * Not here: TLS, HTTP/2, chunked request bodies, routing, authentication. */
#include "http/http.h"

#include "core/error.h"
#include "core/log.h"
#include "http/http_parser.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 30
#define WRITE_TIMEOUT_S 30
#define LINGER_TIMEOUT_S 2
#define LINGER_MAX_DISCARD (1024 * 1024)
#define DRAIN_LOW_WATER (64 * 1024)
#define READ_HIGH_WATER (64 * 1024)
#define MAX_EXTRA_HEADERS (16 * 1024)
#define DEFAULT_MAX_CONNECTIONS 4096

typedef enum { RESP_NONE = 0, RESP_STREAMING, RESP_DONE } resp_state;

typedef struct conn conn;

struct sv_http_req {
    conn *conn;            /* NULL once the connection is gone (inside on_close) */
    sv_http_request msg;   /* parsed request, owned */
    uint64_t id;
    char ip[INET6_ADDRSTRLEN];
    int head;              /* HEAD: headers only */
    int keep_alive;        /* connection reusable after this response */
    resp_state resp;
    int status;
    int chunked;           /* streamed body uses chunked framing */
    int64_t remaining;     /* Content-Length stream: bytes still expected, -1 if none */
    uint64_t body_bytes;   /* body bytes queued (excluding framing) */
    uint64_t queued;       /* all response bytes queued, headers included */
    int drain_armed;       /* fire on_drain at the next low-water crossing */
    struct evbuffer *extra; /* headers added with sv_http_add_header */
    void (*on_drain)(sv_http_req *, void *);
    void *drain_ctx;
    void (*on_close)(sv_http_req *, void *);
    void *close_ctx;
    void (*on_done)(sv_http_req *, int, uint64_t, void *);
    void *done_ctx;
};

struct conn {
    sv_http_server *srv;
    struct bufferevent *bev;
    struct event *kick;    /* deferred completion check */
    conn *prev, *next;
    char ip[INET6_ADDRSTRLEN];
    sv_http_parser parser;
    sv_http_req *req;      /* request being answered, NULL when idle */
    int read_eof;          /* peer finished sending */
    int closing;           /* close once the output is flushed */
    int lingering;         /* write side shut, draining input until EOF/timeout */
    size_t discarded;      /* bytes drained while lingering (capped) */
    int sent_continue;     /* 100 Continue sent for the request being read */
};

struct sv_http_server {
    struct event_base *base;
    struct evconnlistener *lis;
    struct event *resume;  /* re-enables accept after EMFILE */
    sv_http_handler handler;
    void *ctx;
    size_t max_conns, nconns;
    conn *conns;
    uint64_t next_id;
    time_t date_at;
    char date[40];
};

static void conn_process(conn *c);
static void conn_free(conn *c);

const char *sv_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

/* Machine-readable error code for the statuses the server produces itself. */
static const char *status_code_name(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 416: return "range_not_satisfiable";
    case 431: return "request_header_fields_too_large";
    case 501: return "not_implemented";
    case 503: return "service_unavailable";
    case 505: return "http_version_not_supported";
    default: return "internal_error";
    }
}

/* IMF-fixdate of the current second, cached. Locale-independent. */
static const char *http_date(sv_http_server *srv)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (now == srv->date_at && srv->date[0])
        return srv->date;
    gmtime_r(&now, &tm);
    snprintf(srv->date, sizeof srv->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    srv->date_at = now;
    return srv->date;
}

/* Appends s as the inside of a JSON string. */
static void json_escape(struct evbuffer *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            evbuffer_add_printf(b, "\\u%04x", ch);
        else
            evbuffer_add(b, s, 1);
    }
}

static void json_error_body(struct evbuffer *b, const char *code, const char *message)
{
    evbuffer_add_printf(b, "{\"error\":{\"code\":\"");
    json_escape(b, code);
    evbuffer_add_printf(b, "\",\"message\":\"");
    json_escape(b, message);
    evbuffer_add_printf(b, "\"}}");
}

static int no_body_status(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* Status line and the headers every response carries. clen < 0: no Content-Length.
 * connection: value of the Connection header, NULL to omit it. Returns bytes added. */
static size_t emit_head(sv_http_server *srv, struct evbuffer *out, int status,
                        const char *ctype, int64_t clen, int chunked, struct evbuffer *extra,
                        const char *connection)
{
    size_t before = evbuffer_get_length(out);
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: StreamVault\r\n", status,
                        sv_http_status_text(status), http_date(srv));
    if (ctype && !strpbrk(ctype, "\r\n"))
        evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
    if (chunked)
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
    else if (clen >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)clen);
    if (extra)
        evbuffer_add_buffer(out, extra);
    if (connection)
        evbuffer_add_printf(out, "Connection: %s\r\n", connection);
    evbuffer_add(out, "\r\n", 2);
    return evbuffer_get_length(out) - before;
}

/* ---- connection lifecycle ---- */

static void set_timeouts(conn *c, int idle)
{
    struct timeval rd = {IDLE_TIMEOUT_S, 0}, wr = {WRITE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, idle ? &rd : NULL, &wr);
}

/* Read high-water mark: enough for the request being parsed, small while answering. */
static void set_read_wm(conn *c)
{
    size_t high = READ_HIGH_WATER;
    if (!c->req) {
        size_t want = sv_http_parser_want(&c->parser);
        if (want + 1 > high)
            high = want + 1;
    }
    bufferevent_setwatermark(c->bev, EV_READ, 0, high);
}

static void req_free(sv_http_req *r)
{
    if (!r)
        return;
    sv_http_request_free(&r->msg);
    if (r->extra)
        evbuffer_free(r->extra);
    free(r);
}

static void kick(conn *c)
{
    event_active(c->kick, EV_TIMEOUT, 0);
}

/* Frees the connection. A request whose response was not fully handed to the socket
 * gets on_close first (with req->conn already NULL, so API calls from it are no-ops). */
static void conn_free(conn *c)
{
    sv_http_server *srv = c->srv;
    sv_http_req *r = c->req;
    if (r) {
        int complete = r->resp == RESP_DONE &&
                       evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
        r->queued -= evbuffer_get_length(bufferevent_get_output(c->bev));
        c->req = NULL;
        r->conn = NULL;
        if (!complete && r->on_close)
            r->on_close(r, r->close_ctx);
        else if (complete && r->on_done)
            r->on_done(r, r->status, r->head ? 0 : r->body_bytes, r->done_ctx);
        req_free(r);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    bufferevent_free(c->bev);
    event_free(c->kick);
    free(c);
}

/* Output flushed and the connection must close: shut our side, drain the peer briefly. */
static void conn_linger(conn *c)
{
    struct timeval tv = {LINGER_TIMEOUT_S, 0};
    if (c->read_eof) {
        conn_free(c);
        return;
    }
    c->lingering = 1;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

/* Answers a request that never reached the handler and marks the connection closing. */
static void conn_send_error(conn *c, int status, const char *message)
{
    struct evbuffer *out = bufferevent_get_output(c->bev), *body = evbuffer_new();
    if (body) {
        json_error_body(body, status_code_name(status), message);
        emit_head(c->srv, out, status, "application/json",
                  (int64_t)evbuffer_get_length(body), 0, NULL, "close");
        evbuffer_add_buffer(out, body);
        evbuffer_free(body);
    }
    c->closing = 1;
    kick(c);
}

/* Runs after output progress: drain notification, completion, next request. */
static void conn_check(conn *c)
{
    sv_http_req *r = c->req;
    size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    if (r && r->resp == RESP_STREAMING && r->drain_armed && r->on_drain &&
        queued <= DRAIN_LOW_WATER) {
        r->drain_armed = 0;
        r->on_drain(r, r->drain_ctx);
        queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    }
    if (queued)
        return;
    if (r) {
        if (r->resp != RESP_DONE)
            return;
        c->req = NULL;
        if (r->on_done)
            r->on_done(r, r->status, r->head ? 0 : r->body_bytes, r->done_ctx);
        req_free(r);
    }
    if (c->closing) {
        conn_linger(c);
        return;
    }
    set_timeouts(c, 1);
    conn_process(c);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (!c->lingering)
        conn_check(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (!c->lingering)
        conn_check(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->lingering) {
        c->discarded += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->discarded > LINGER_MAX_DISCARD)
            conn_free(c);
        return;
    }
    if (!c->req && !c->closing)
        conn_process(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (!c->lingering && (what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)) {
        /* The peer stopped sending. A response still being produced is abandoned (the
         * client is gone, on_close fires); a complete one is still flushed. */
        c->read_eof = 1;
        if ((!c->req && !c->closing) || (c->req && c->req->resp != RESP_DONE))
            conn_free(c);
        return;
    }
    if (!c->lingering && !(what & BEV_EVENT_EOF))
        sv_debug(NULL, "http: %s: connection %s", c->ip,
                 what & BEV_EVENT_TIMEOUT ? "timed out" : "error");
    conn_free(c);
}

/* Hands a parsed request to the handler. Takes ownership of *msg. */
static void start_request(conn *c, sv_http_request *msg)
{
    sv_http_req *r = calloc(1, sizeof *r);
    if (!r || !(r->extra = evbuffer_new())) {
        free(r);
        sv_http_request_free(msg);
        conn_send_error(c, 503, "out of memory");
        return;
    }
    r->conn = c;
    r->msg = *msg;
    r->id = ++c->srv->next_id;
    r->head = !strcmp(msg->method, "HEAD");
    r->keep_alive = msg->keep_alive;
    r->remaining = -1;
    memcpy(r->ip, c->ip, sizeof r->ip);
    c->req = r;
    c->sent_continue = 0;
    set_timeouts(c, 0);
    set_read_wm(c);
    c->srv->handler(r, c->srv->ctx);
}

/* Parses the next request if the connection is idle. May free c: callers must not touch
 * c afterwards. */
static void conn_process(conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->req && !c->closing) {
        size_t avail = evbuffer_get_length(in), want = sv_http_parser_want(&c->parser);
        if (!avail)
            break;
        if (c->parser.state == SV_HTTP_PS_BODY && avail < want)
            break;
        size_t n = avail < want ? avail : want;
        const uint8_t *buf = evbuffer_pullup(in, (ev_ssize_t)n);
        sv_http_request msg;
        int rc = buf ? sv_http_parse(&c->parser, buf, n, &msg) : SV_ENOMEM;
        if (rc == SV_ENEEDMORE)
            break;
        if (rc < 0) {
            int status = buf ? c->parser.status : 503;
            sv_debug(NULL, "http: %s: %d %s", c->ip, status,
                     buf ? c->parser.reason : "out of memory");
            conn_send_error(c, status, buf ? c->parser.reason : "out of memory");
            break;
        }
        evbuffer_drain(in, (size_t)rc);
        sv_http_parser_init(&c->parser);
        start_request(c, &msg);
    }
    if (!c->req && !c->closing && c->parser.state == SV_HTTP_PS_BODY &&
        c->parser.expect_continue && !c->sent_continue && c->parser.minor == 1) {
        c->sent_continue = 1;
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    if (!c->req && !c->closing && c->read_eof) {
        conn_free(c);
        return;
    }
    set_read_wm(c);
}

/* ---- listener ---- */

static void client_ip(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    }
}

/* Over max_connections: best-effort 503 and close, without allocating a connection. */
static void reject_busy(sv_http_server *srv, evutil_socket_t fd)
{
    static const char body[] =
        "{\"error\":{\"code\":\"service_unavailable\",\"message\":\"too many connections\"}}";
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\nServer: StreamVault\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     http_date(srv), sizeof body - 1, body);
    if (n > 0 && (size_t)n < sizeof msg && send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        sv_debug(NULL, "http: 503 not sent: %s", strerror(errno));
    shutdown(fd, SHUT_WR);
    evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    sv_http_server *srv = arg;
    int one = 1;
    if (srv->nconns >= srv->max_conns) {
        reject_busy(srv, fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->srv = srv;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto fail;
    fd = -1; /* owned by the bufferevent now */
    c->kick = event_new(srv->base, -1, 0, kick_cb, c);
    if (!c->kick)
        goto fail;
    setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    client_ip(sa, c->ip, sizeof c->ip);
    sv_http_parser_init(&c->parser);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, DRAIN_LOW_WATER, 0);
    set_read_wm(c);
    set_timeouts(c, 1);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    return;
fail:
    sv_warn(NULL, "http: cannot accept connection: out of memory");
    if (c && c->bev)
        bufferevent_free(c->bev);
    free(c);
    if (fd >= 0)
        evutil_closesocket(fd);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    sv_http_server *srv = arg;
    evconnlistener_enable(srv->lis);
}

/* accept() failed: on descriptor exhaustion pause accepting for a second instead of
 * spinning on a listener that stays readable. */
static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    sv_http_server *srv = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {1, 0};
    sv_warn(NULL, "http: accept failed: %s", evutil_socket_error_to_string(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(lis);
        evtimer_add(srv->resume, &tv);
    }
}

static int make_sockaddr(const sv_http_config *cfg, struct sockaddr_storage *ss, int *len)
{
    const char *addr = cfg->bind_addr ? cfg->bind_addr : "0.0.0.0";
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
    memset(ss, 0, sizeof *ss);
    if (cfg->port < 0 || cfg->port > 65535)
        return SV_EINVAL;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        *len = (int)sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        *len = (int)sizeof *v6;
        return 0;
    }
    return SV_EINVAL;
}

/* libevent writes with writev(), so a peer reset would raise SIGPIPE: ignore it unless
 * the process installed its own handler. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

sv_http_server *sv_http_server_new(struct event_base *base, const sv_http_config *cfg,
                                   sv_http_handler handler, void *ctx)
{
    struct sockaddr_storage ss;
    int salen = 0;
    sv_http_server *srv = NULL;
    if (!base || !cfg || !handler || make_sockaddr(cfg, &ss, &salen) < 0) {
        sv_error(NULL, "http: invalid listen address %s:%d",
                 cfg && cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", cfg ? cfg->port : -1);
        goto fail;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv)
        goto fail;
    srv->base = base;
    srv->handler = handler;
    srv->ctx = ctx;
    srv->max_conns = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
    srv->resume = evtimer_new(base, resume_cb, srv);
    if (!srv->resume)
        goto fail;
    srv->lis = evconnlistener_new_bind(base, accept_cb, srv,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                           LEV_OPT_CLOSE_ON_EXEC,
                                       511, (struct sockaddr *)&ss, salen);
    if (!srv->lis) {
        sv_error(NULL, "http: cannot listen on %s:%d: %s",
                 cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", cfg->port, strerror(errno));
        goto fail;
    }
    evconnlistener_set_error_cb(srv->lis, accept_error_cb);
    ignore_sigpipe();
    return srv;
fail:
    if (srv && srv->resume)
        event_free(srv->resume);
    free(srv);
    return NULL;
}

void sv_http_server_free(sv_http_server *srv)
{
    if (!srv)
        return;
    evconnlistener_free(srv->lis);
    while (srv->conns)
        conn_free(srv->conns);
    event_free(srv->resume);
    free(srv);
}

int sv_http_server_port(const sv_http_server *srv)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!srv || getsockname(evconnlistener_get_fd(srv->lis), (struct sockaddr *)&ss, &len) < 0)
        return SV_EIO;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
}

size_t sv_http_server_connections(const sv_http_server *srv)
{
    return srv ? srv->nconns : 0;
}

/* ---- request accessors ---- */

const char *sv_http_method(const sv_http_req *req) { return req->msg.method; }
const char *sv_http_path(const sv_http_req *req) { return req->msg.path; }
const char *sv_http_raw_target(const sv_http_req *req) { return req->msg.target; }
const char *sv_http_query(const sv_http_req *req) { return req->msg.query; }
const char *sv_http_client_ip(const sv_http_req *req) { return req->ip; }
uint64_t sv_http_req_id(const sv_http_req *req) { return req->id; }
uint64_t sv_http_req_bytes_sent(const sv_http_req *req)
{
    if (!req->conn)
        return req->queued;
    return req->queued - evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

const char *sv_http_query_param(sv_http_req *req, const char *name)
{
    return sv_http_request_param(&req->msg, name);
}

const char *sv_http_header(const sv_http_req *req, const char *name)
{
    return sv_http_request_header(&req->msg, name);
}

const uint8_t *sv_http_body(const sv_http_req *req, size_t *len)
{
    if (len)
        *len = req->msg.body_len;
    return req->msg.body;
}

void sv_http_req_on_drain(sv_http_req *req, void (*cb)(sv_http_req *req, void *ctx), void *ctx)
{
    req->on_drain = cb;
    req->drain_ctx = ctx;
    if (cb && req->conn && req->resp == RESP_STREAMING) {
        req->drain_armed = 1;
        kick(req->conn);
    }
}

void sv_http_req_on_close(sv_http_req *req, void (*cb)(sv_http_req *req, void *ctx), void *ctx)
{
    req->on_close = cb;
    req->close_ctx = ctx;
}

void sv_http_req_on_done(sv_http_req *req,
                         void (*cb)(sv_http_req *req, int status, uint64_t bytes, void *ctx),
                         void *ctx)
{
    req->on_done = cb;
    req->done_ctx = ctx;
}

/* ---- responses ---- */

static int can_respond(sv_http_req *r)
{
    if (!r || !r->conn)
        return 0;
    if (r->resp != RESP_NONE) {
        sv_warn(NULL, "http: request %llu: response already started", (unsigned long long)r->id);
        return 0;
    }
    return 1;
}

static int is_managed_header(const char *name)
{
    static const char *names[] = {"content-length", "transfer-encoding", "connection",
                                  "date", "server", "content-type"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(name, names[i]))
            return 1;
    return 0;
}

void sv_http_add_header(sv_http_req *req, const char *name, const char *value)
{
    if (!req || !req->conn || req->resp != RESP_NONE || !name || !value)
        return;
    size_t nlen = strlen(name), vlen = strlen(value);
    int ok = nlen > 0 && strcspn(name, " \t\r\n:") == nlen && strcspn(value, "\r\n") == vlen;
    if (!ok || is_managed_header(name) ||
        evbuffer_get_length(req->extra) + nlen + vlen + 4 > MAX_EXTRA_HEADERS) {
        int shown = (int)strcspn(name, "\r\n");
        sv_warn(NULL, "http: request %llu: header '%.*s' dropped",
                (unsigned long long)req->id, shown > 64 ? 64 : shown, name);
        return;
    }
    evbuffer_add_printf(req->extra, "%s: %s\r\n", name, value);
}

static void write_head(sv_http_req *r, int status, const char *ctype, int64_t clen,
                       int chunked)
{
    conn *c = r->conn;
    if (c->closing)
        r->keep_alive = 0;
    const char *connection = !r->keep_alive ? "close" : r->msg.minor == 0 ? "keep-alive" : NULL;
    if (!r->keep_alive)
        c->closing = 1;
    r->status = status;
    r->queued += emit_head(c->srv, bufferevent_get_output(c->bev), status, ctype, clen, chunked,
                           r->extra, connection);
}

static void finish(sv_http_req *r)
{
    r->resp = RESP_DONE;
    kick(r->conn);
}

void sv_http_respond(sv_http_req *req, int status, const char *content_type, const void *body,
                     size_t len)
{
    if (!can_respond(req))
        return;
    int bodyless = no_body_status(status);
    if (bodyless || !body)
        len = 0;
    write_head(req, status, bodyless ? NULL : content_type, bodyless ? -1 : (int64_t)len, 0);
    if (!req->head && len) {
        if (evbuffer_add(bufferevent_get_output(req->conn->bev), body, len) < 0)
            req->conn->closing = 1;
        req->queued += len;
        req->body_bytes = len;
    }
    finish(req);
}

static void unref_buf(const void *data, size_t len, void *arg) { sv_buf_unref(arg); }

void sv_http_respond_buf(sv_http_req *req, int status, const char *content_type, sv_buf *b)
{
    if (!can_respond(req))
        return;
    write_head(req, status, content_type, (int64_t)b->len, 0);
    if (!req->head && b->len) {
        sv_buf_ref(b);
        if (evbuffer_add_reference(bufferevent_get_output(req->conn->bev), b->data, b->len,
                                   unref_buf, b) < 0) {
            sv_buf_unref(b);
            req->conn->closing = 1;
        }
        req->queued += b->len;
        req->body_bytes = b->len;
    }
    finish(req);
}

void sv_http_error(sv_http_req *req, int status, const char *code, const char *message)
{
    if (!can_respond(req))
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        req->conn->closing = 1;
        sv_http_respond(req, status, NULL, NULL, 0);
        return;
    }
    json_error_body(b, code ? code : status_code_name(status),
                    message ? message : sv_http_status_text(status));
    size_t n = evbuffer_get_length(b);
    sv_http_respond(req, status, "application/json", evbuffer_pullup(b, -1), n);
    evbuffer_free(b);
}

void sv_http_stream_begin(sv_http_req *req, int status, const char *content_type,
                          int64_t content_length)
{
    if (!can_respond(req))
        return;
    if (content_length < 0 && req->msg.minor == 0)
        req->keep_alive = 0; /* HTTP/1.0: the body ends when the connection closes */
    req->chunked = content_length < 0 && req->msg.minor == 1;
    write_head(req, status, content_type, content_length, req->chunked);
    req->remaining = content_length;
    req->resp = RESP_STREAMING;
    req->drain_armed = 1;
    kick(req->conn);
}

size_t sv_http_stream_write(sv_http_req *req, const void *p, size_t len)
{
    if (!req || !req->conn || req->resp != RESP_STREAMING)
        return 0;
    struct evbuffer *out = bufferevent_get_output(req->conn->bev);
    req->drain_armed = 1;
    if (req->remaining >= 0 && (uint64_t)len > (uint64_t)req->remaining) {
        sv_warn(NULL, "http: request %llu: stream exceeds its Content-Length, truncated",
                (unsigned long long)req->id);
        len = (size_t)req->remaining;
    }
    if (req->head || !len)
        return evbuffer_get_length(out);
    size_t before = evbuffer_get_length(out);
    if (req->chunked)
        evbuffer_add_printf(out, "%zx\r\n", len);
    evbuffer_add(out, p, len);
    if (req->chunked)
        evbuffer_add(out, "\r\n", 2);
    req->queued += evbuffer_get_length(out) - before;
    req->body_bytes += len;
    if (req->remaining >= 0)
        req->remaining -= (int64_t)len;
    return evbuffer_get_length(out);
}

void sv_http_stream_end(sv_http_req *req)
{
    if (!req || !req->conn || req->resp != RESP_STREAMING)
        return;
    if (req->chunked && !req->head) {
        evbuffer_add(bufferevent_get_output(req->conn->bev), "0\r\n\r\n", 5);
        req->queued += 5;
    }
    if (req->remaining > 0 && !req->head) {
        sv_warn(NULL, "http: request %llu: stream ended %lld bytes short, closing",
                (unsigned long long)req->id, (long long)req->remaining);
        req->conn->closing = 1;
    }
    finish(req);
}

/* Decimal digits at *s, clamped to INT64_MAX; -1 if there are none. */
static int64_t parse_num(const char **s)
{
    int64_t v = 0;
    int any = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++, any = 1)
        v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (**s - '0');
    return any ? v : -1;
}

static void skip_ws(const char **s)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
}

/* One byte range of an entity of `size` bytes: 1 and [*start, *start + *count) when
 * satisfiable, -1 when unsatisfiable (416), 0 when the header must be ignored (invalid
 * or several ranges: the whole entity is sent). */
static int parse_range(const char *h, int64_t size, int64_t *start, int64_t *count)
{
    skip_ws(&h);
    if (strncasecmp(h, "bytes=", 6) || strchr(h, ','))
        return 0;
    h += 6;
    skip_ws(&h);
    int suffix = *h == '-';
    h += suffix;
    int64_t a = parse_num(&h), b = -1;
    if (a < 0 || (!suffix && *h++ != '-'))
        return 0;
    if (!suffix)
        b = parse_num(&h);
    skip_ws(&h);
    if (*h || (b >= 0 && b < a))
        return 0;
    if (suffix) {
        if (a == 0 || size == 0)
            return -1;
        *count = a < size ? a : size;
        *start = size - *count;
        return 1;
    }
    if (a >= size)
        return -1;
    *start = a;
    *count = (b < 0 || b >= size ? size - 1 : b) - a + 1;
    return 1;
}

/* Queues [off, off+len) of fd for sendfile. Takes ownership of fd. */
static int queue_file(struct evbuffer *out, int fd, int64_t off, int64_t len)
{
    struct evbuffer_file_segment *seg =
        evbuffer_file_segment_new(fd, (ev_off_t)off, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE);
    if (!seg) {
        close(fd);
        return SV_EIO;
    }
    int rc = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
    evbuffer_file_segment_free(seg); /* the buffer holds its own reference */
    return rc < 0 ? SV_EIO : 0;
}

void sv_http_respond_file(sv_http_req *req, const char *content_type, int fd, off_t off,
                          off_t len)
{
    struct stat st;
    int64_t size = len, start = 0, count;
    int status = 200, rc = 0;
    const char *range;
    char cr[96];
    if (!can_respond(req) || fd < 0 || off < 0)
        goto fail;
    range = sv_http_header(req, "Range");
    if (size < 0) {
        if (fstat(fd, &st) < 0)
            goto fail;
        size = st.st_size > off ? (int64_t)(st.st_size - off) : 0;
    }
    count = size;
    if (range && !strcmp(req->msg.method, "GET") && !sv_http_header(req, "If-Range"))
        rc = parse_range(range, size, &start, &count);
    if (rc < 0) {
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        sv_http_add_header(req, "Content-Range", cr);
        close(fd);
        sv_http_error(req, 416, "range_not_satisfiable", "requested range not satisfiable");
        return;
    }
    if (rc > 0) {
        status = 206;
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)start,
                 (long long)(start + count - 1), (long long)size);
        sv_http_add_header(req, "Content-Range", cr);
    }
    sv_http_add_header(req, "Accept-Ranges", "bytes");
    write_head(req, status, content_type, count, 0);
    if (!req->head && count > 0) {
        if (queue_file(bufferevent_get_output(req->conn->bev), fd, off + start, count) < 0) {
            sv_error(NULL, "http: request %llu: cannot queue file", (unsigned long long)req->id);
            req->conn->closing = 1; /* headers promised a body we cannot send */
        }
        req->queued += (uint64_t)count;
        req->body_bytes = (uint64_t)count;
    } else {
        close(fd);
    }
    finish(req);
    return;
fail:
    if (fd >= 0)
        close(fd);
    if (req && req->conn && req->resp == RESP_NONE)
        sv_http_error(req, 500, "internal_error", "cannot read file");
}
