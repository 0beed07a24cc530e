/* RTMP server: listener, sessions, handshake, chunk I/O, timeouts (see rtmp.h).
 *
 * Each accepted socket gets a session with a bufferevent. The read callback runs the
 * handshake states, then feeds the chunk reader from the input evbuffer (the first 64
 * bytes are pulled up so a chunk header is always contiguous; payload is consumed in
 * whatever pieces the evbuffer holds), answers protocol control messages and hands
 * commands and media to rtmp_cmd.c. A 1 s timer per session enforces the handshake and
 * idle timeouts and the deadline of a close-after-flush. Closing is deferred to an event
 * so a session is never freed under a callback that still uses it (registry kick, player
 * callbacks, bufferevent callbacks). It does not implement the digest handshake, RTMPS or
 * tunnelling. */
#include "ingest/rtmp/rtmp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "ingest/rtmp/rtmp_session.h"

#define HS_SIZE 1536
#define FLUSH_DEADLINE_MS 2000
#define WRITE_TIMEOUT_S 30

struct sv_rtmp_server {
    struct event_base *base;
    sv_registry *reg;
    struct evconnlistener *lev;
    sv_rtmp_config cfg;
    sv_rtmp_session *sessions;
    size_t nsessions;
};

static void session_free(sv_rtmp_session *s);

size_t sv_rtmp_server_sessions(const sv_rtmp_server *srv) { return srv ? srv->nsessions : 0; }

/* ---- output ---- */

static void flush_out(sv_rtmp_session *s)
{
    if (s->out.failed) {
        sv_bytes_reset(&s->out);
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory building output");
        return;
    }
    if (s->out.len && bufferevent_write(s->bev, s->out.p, s->out.len) != 0)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory queueing output");
    sv_bytes_reset(&s->out);
    if (s->out.cap > (1u << 20)) /* do not keep a big scratch after a large frame */
        sv_bytes_free(&s->out);
}

void sv_rtmp_sess_send2(sv_rtmp_session *s, uint32_t csid, uint8_t type, uint32_t msid,
                        uint32_t ts, const uint8_t *p1, size_t l1, const uint8_t *p2,
                        size_t l2)
{
    if (s->closing && s->flush_deadline == 0)
        return;
    sv_rtmp_chunk_write2(&s->out, s->out_chunk, csid, type, msid, ts, p1, l1, p2, l2);
    flush_out(s);
}

void sv_rtmp_sess_send(sv_rtmp_session *s, uint32_t csid, uint8_t type, uint32_t msid,
                       uint32_t ts, const uint8_t *p, size_t len)
{
    sv_rtmp_sess_send2(s, csid, type, msid, ts, p, len, NULL, 0);
}

void sv_rtmp_sess_user_control(sv_rtmp_session *s, uint16_t ev, uint32_t v)
{
    uint8_t b[6] = {(uint8_t)(ev >> 8), (uint8_t)ev};
    sv_wb32(b + 2, v);
    sv_rtmp_sess_send(s, 2, SV_RTMP_MSG_USER_CONTROL, 0, 0, b, sizeof b);
}

size_t sv_rtmp_sess_out_queued(const sv_rtmp_session *s)
{
    return evbuffer_get_length(bufferevent_get_output(s->bev));
}

/* ---- closing ---- */

static void free_cb(evutil_socket_t fd, short what, void *arg) { session_free(arg); }

void sv_rtmp_sess_close(sv_rtmp_session *s, bool flush, sv_log_level lvl, const char *fmt,
                        ...)
{
    if (s->closing)
        return;
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    sv_logf(lvl, s->name, "rtmp %s: closing: %s", s->remote, reason);
    if (flush) /* let the role-ending messages below be sent too */
        s->flush_deadline = sv_now_mono_ms() + FLUSH_DEADLINE_MS;
    s->closing = true;
    sv_rtmp_cmd_end_role(s);
    bufferevent_disable(s->bev, EV_READ);
    if (!flush || sv_rtmp_sess_out_queued(s) == 0)
        event_active(s->free_ev, EV_TIMEOUT, 0);
}

static void session_free(sv_rtmp_session *s)
{
    sv_rtmp_server *srv = s->srv;
    if (!s->closing) {
        s->closing = true;
        sv_rtmp_cmd_end_role(s);
    }
    sv_rtmp_cmd_free(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    bufferevent_free(s->bev);
    event_free(s->tick);
    event_free(s->free_ev);
    sv_rtmp_reader_free(&s->rd);
    sv_bytes_free(&s->out);
    free(s);
}

/* ---- handshake ---- */

static int handshake_c0c1(sv_rtmp_session *s, struct evbuffer *in)
{
    if (evbuffer_get_length(in) < 1 + HS_SIZE)
        return SV_ENEEDMORE;
    const uint8_t *c = evbuffer_pullup(in, 1 + HS_SIZE);
    if (!c)
        return SV_ENOMEM;
    if (c[0] != 3) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "bad handshake version %u", c[0]);
        return SV_EINVAL;
    }
    uint8_t *h = malloc(1 + 2 * HS_SIZE);
    if (!h)
        return SV_ENOMEM;
    h[0] = 3;
    sv_wb32(h + 1, (uint32_t)(sv_now_mono_ms() - s->accepted_ms));
    memset(h + 5, 0, 4); /* zero version: simple handshake, no digest */
    evutil_secure_rng_get_bytes(h + 9, HS_SIZE - 8);
    memcpy(h + 1 + HS_SIZE, c + 1, HS_SIZE); /* S2 echoes C1 */
    int rc = bufferevent_write(s->bev, h, 1 + 2 * HS_SIZE);
    free(h);
    evbuffer_drain(in, 1 + HS_SIZE);
    sv_rtmp_reader_count(&s->rd, 1 + HS_SIZE);
    s->state = SV_RTMP_SESS_C2;
    return rc ? SV_ENOMEM : 0;
}

static int handshake_c2(sv_rtmp_session *s, struct evbuffer *in)
{
    if (evbuffer_get_length(in) < HS_SIZE)
        return SV_ENEEDMORE;
    evbuffer_drain(in, HS_SIZE); /* content not checked: clients vary */
    sv_rtmp_reader_count(&s->rd, HS_SIZE);
    s->state = SV_RTMP_SESS_CHUNKS;
    return 0;
}

/* ---- messages ---- */

static void on_user_control(sv_rtmp_session *s, const sv_rtmp_msg *m)
{
    if (m->len < 2)
        return;
    uint16_t ev = sv_rb16(m->data);
    if (ev == SV_RTMP_UC_PING_REQUEST && m->len >= 6)
        sv_rtmp_sess_user_control(s, SV_RTMP_UC_PING_RESPONSE, sv_rb32(m->data + 2));
}

static void on_message(sv_rtmp_session *s, const sv_rtmp_msg *m)
{
    switch (m->type) {
    case SV_RTMP_MSG_USER_CONTROL: on_user_control(s, m); break;
    case SV_RTMP_MSG_AUDIO:
    case SV_RTMP_MSG_VIDEO:
        sv_rtmp_cmd_media(s, m->type, m->timestamp, m->data, m->len);
        break;
    case SV_RTMP_MSG_DATA_AMF0: sv_rtmp_cmd_data(s, m->data, m->len); break;
    case SV_RTMP_MSG_DATA_AMF3:
        if (m->len > 0)
            sv_rtmp_cmd_data(s, m->data + 1, m->len - 1);
        break;
    case SV_RTMP_MSG_COMMAND_AMF0: sv_rtmp_cmd_command(s, m, m->data, m->len); break;
    case SV_RTMP_MSG_COMMAND_AMF3:
        if (m->len > 0)
            sv_rtmp_cmd_command(s, m, m->data + 1, m->len - 1);
        break;
    case SV_RTMP_MSG_AGGREGATE: sv_rtmp_cmd_aggregate(s, m->timestamp, m->data, m->len); break;
    default: break; /* set chunk size, abort, window: applied by the reader; ack, bw */
    }
}

/* Runs the chunk reader over the input. Returns 0 when the input is exhausted. */
static int read_chunks(sv_rtmp_session *s, struct evbuffer *in)
{
    size_t avail;
    while (!s->closing && (avail = evbuffer_get_length(in)) > 0) {
        const uint8_t *p = evbuffer_pullup(in, avail < 64 ? (ssize_t)avail : 64);
        size_t clen = evbuffer_get_contiguous_space(in);
        sv_rtmp_msg m;
        bool have;
        int rc = sv_rtmp_reader_parse(&s->rd, p, clen, &m, &have);
        if (rc == SV_ENEEDMORE)
            return 0;
        if (rc < 0)
            return rc;
        evbuffer_drain(in, (size_t)rc);
        if (s->stream)
            sv_stream_count_in(s->stream, (size_t)rc);
        if (have)
            on_message(s, &m);
        uint32_t seq;
        if (!s->closing && sv_rtmp_reader_ack_due(&s->rd, &seq)) {
            uint8_t b[4];
            sv_wb32(b, seq);
            sv_rtmp_sess_send(s, 2, SV_RTMP_MSG_ACK, 0, 0, b, 4);
        }
    }
    return 0;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    sv_rtmp_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    s->last_rx_ms = sv_now_mono_ms();
    int rc = 0;
    while (!s->closing && rc == 0 && s->state != SV_RTMP_SESS_CHUNKS)
        rc = s->state == SV_RTMP_SESS_C0C1 ? handshake_c0c1(s, in) : handshake_c2(s, in);
    if (rc == SV_ENEEDMORE || s->closing)
        return;
    if (rc < 0) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "handshake failed: %s", sv_strerror(rc));
        return;
    }
    rc = read_chunks(s, in);
    if (rc < 0 && !s->closing)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "bad chunk stream (%s): %s",
                           rc == SV_ETOOBIG ? "message or chunk streams over the cap"
                                            : "malformed header or control message",
                           sv_strerror(rc));
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    sv_rtmp_session *s = arg;
    if (s->closing && sv_rtmp_sess_out_queued(s) == 0)
        event_active(s->free_ev, EV_TIMEOUT, 0);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    sv_rtmp_session *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (s->closing) {
        event_active(s->free_ev, EV_TIMEOUT, 0);
        return;
    }
    if (what & BEV_EVENT_EOF)
        sv_rtmp_sess_close(s, false, s->role == SV_RTMP_ROLE_PUBLISH && s->stream
                           ? SV_LOG_INFO : SV_LOG_DEBUG, "peer closed the connection");
    else if (what & BEV_EVENT_TIMEOUT)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "write timeout (peer not reading)");
    else
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "socket error: %s",
                           evutil_socket_error_to_string(err));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sv_rtmp_session *s = arg;
    int64_t now = sv_now_mono_ms();
    if (s->closing) {
        if (now >= s->flush_deadline)
            event_active(s->free_ev, EV_TIMEOUT, 0);
        return;
    }
    const sv_rtmp_config *cfg = &s->srv->cfg;
    if (s->state != SV_RTMP_SESS_CHUNKS && now - s->accepted_ms > cfg->handshake_timeout_ms)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "handshake timeout (%d ms)",
                           cfg->handshake_timeout_ms);
    else if (s->role != SV_RTMP_ROLE_PLAY && now - s->last_rx_ms > cfg->idle_timeout_ms)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "idle timeout (no data for %d ms)",
                           cfg->idle_timeout_ms);
}

/* ---- accept ---- */

static void format_remote(const struct sockaddr *sa, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        evutil_inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, size, "%s:%u", ip, ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        evutil_inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, size, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        snprintf(out, size, "unknown");
    }
}

static sv_rtmp_session *session_new(sv_rtmp_server *srv, evutil_socket_t fd)
{
    sv_rtmp_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->srv = srv;
    s->reg = srv->reg;
    s->out_chunk = SV_RTMP_DEFAULT_CHUNK_SIZE;
    s->accepted_ms = s->last_rx_ms = sv_now_mono_ms();
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->tick = event_new(srv->base, -1, EV_PERSIST, tick_cb, s);
    s->free_ev = event_new(srv->base, -1, 0, free_cb, s);
    if (!s->bev || !s->tick || !s->free_ev || sv_rtmp_reader_init(&s->rd) != 0) {
        if (s->bev)
            bufferevent_free(s->bev);
        else
            evutil_closesocket(fd);
        event_free(s->tick);
        event_free(s->free_ev);
        sv_rtmp_reader_free(&s->rd);
        free(s);
        return NULL;
    }
    return s;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    sv_rtmp_server *srv = arg;
    char remote[64];
    format_remote(sa, remote, sizeof remote);
    if (srv->nsessions >= srv->cfg.max_connections) {
        sv_warn(NULL, "rtmp %s: closing: max_connections (%zu) reached", remote,
                srv->cfg.max_connections);
        evutil_closesocket(fd);
        return;
    }
    sv_rtmp_session *s = session_new(srv, fd);
    if (!s) {
        sv_warn(NULL, "rtmp %s: closing: out of memory", remote);
        return;
    }
    snprintf(s->remote, sizeof s->remote, "%s", remote);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    struct timeval one = {1, 0}, wto = {WRITE_TIMEOUT_S, 0};
    event_add(s->tick, &one);
    bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
    bufferevent_set_timeouts(s->bev, NULL, &wto);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    sv_debug(NULL, "rtmp %s: connected", remote);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    sv_warn(NULL, "rtmp: accept failed: %s", evutil_socket_error_to_string(err));
}

static int make_addr(const sv_rtmp_config *cfg, struct sockaddr_storage *ss, int *len)
{
    const char *a = cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "0.0.0.0";
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (evutil_inet_pton(AF_INET, a, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        *len = sizeof *a4;
        return 0;
    }
    if (evutil_inet_pton(AF_INET6, a, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        *len = sizeof *a6;
        return 0;
    }
    return SV_EINVAL;
}

sv_rtmp_server *sv_rtmp_server_new(struct event_base *base, sv_registry *reg,
                                   const sv_rtmp_config *cfg)
{
    struct sockaddr_storage ss;
    int slen;
    if (!base || !reg || !cfg || cfg->port <= 0 || cfg->port > 65535 ||
        make_addr(cfg, &ss, &slen) != 0) {
        sv_error(NULL, "rtmp: invalid listen address %s:%d",
                 cfg && cfg->bind_addr ? cfg->bind_addr : "*", cfg ? cfg->port : 0);
        return NULL;
    }
    sv_rtmp_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        sv_error(NULL, "rtmp: out of memory");
        return NULL;
    }
    srv->base = base;
    srv->reg = reg;
    srv->cfg = *cfg;
    srv->cfg.bind_addr = NULL; /* not kept: borrowed string */
    if (!srv->cfg.max_connections)
        srv->cfg.max_connections = 1000;
    if (srv->cfg.handshake_timeout_ms <= 0)
        srv->cfg.handshake_timeout_ms = 5000;
    if (srv->cfg.idle_timeout_ms <= 0)
        srv->cfg.idle_timeout_ms = 10000;
    srv->lev = evconnlistener_new_bind(base, accept_cb, srv,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                           LEV_OPT_CLOSE_ON_EXEC,
                                       128, (struct sockaddr *)&ss, slen);
    if (!srv->lev) {
        int err = EVUTIL_SOCKET_ERROR();
        sv_error(NULL, "rtmp: cannot listen on %s:%d: %s",
                 cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", cfg->port,
                 evutil_socket_error_to_string(err));
        free(srv);
        return NULL;
    }
    evconnlistener_set_error_cb(srv->lev, accept_error_cb);
    sv_info(NULL, "rtmp: listening on %s:%d",
            cfg->bind_addr && *cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", cfg->port);
    return srv;
}

void sv_rtmp_server_free(sv_rtmp_server *srv)
{
    if (!srv)
        return;
    if (srv->lev)
        evconnlistener_free(srv->lev);
    while (srv->sessions)
        session_free(srv->sessions);
    free(srv);
}
