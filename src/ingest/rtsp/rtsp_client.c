/* RTSP client session: connection, requests and the state machine (see rtsp_client.h).
 *
 * States run RESOLVE -> CONNECT -> OPTIONS -> DESCRIBE -> SETUP (once per track) -> PLAY
 * -> PLAYING; any failure goes to CLOSED through rs_fail(), which releases sockets and
 * the stream at once and reports to the owner from a deferred event. One request is in
 * flight at a time; a 401 re-sends it once with credentials (Digest preferred), a 3xx
 * restarts the session on the Location URL. Input from the camera is a mix of RTSP
 * messages and '$' interleaved frames, parsed from the bufferevent's input with the pure
 * parsers of rtsp_proto.h. A 250 ms timer drives request, media and UDP timeouts,
 * keep-alives and the jitter buffers. */
#include "ingest/rtsp/rtsp_client_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"

#define MAX_REDIRECTS 5
#define TICK_MS 250
#define MAX_INPUT (SV_RTSP_MAX_HEADER + SV_RTSP_MAX_BODY)

static void start_session(sv_rtsp_client *c);

/* ---- ending ---- */

static void send_teardown(sv_rtsp_client *c)
{
    if (!c->bev || !c->session[0] || c->state < RS_PLAY)
        return;
    char req[SV_RTSP_URL_MAX + 512];
    int n = snprintf(req, sizeof req, "TEARDOWN %s RTSP/1.0\r\nCSeq: %d\r\nSession: %s\r\n\r\n",
                     c->play_url, c->cseq + 1, c->session);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && n > 0 && (size_t)n < sizeof req) {
        evbuffer_write(bufferevent_get_output(c->bev), fd); /* what was queued, first */
        if (send(fd, req, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            sv_debug(c->stream_name, "TEARDOWN not sent");
    }
}

static void release_io(sv_rtsp_client *c)
{
    send_teardown(c);
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        rs_track_close(&c->tracks[i]);
    if (c->stream && !c->kicked)
        sv_stream_unpublish(c->stream);
    c->stream = NULL;
}

void rs_fail(sv_rtsp_client *c, sv_rtsp_end why, const char *fmt, ...)
{
    if (c->state == RS_CLOSED)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->end_reason, sizeof c->end_reason, fmt, ap);
    va_end(ap);
    c->end_why = why;
    release_io(c);
    c->state = RS_CLOSED;
    event_active(c->closer, EV_TIMEOUT, 0);
}

static void on_closer(evutil_socket_t fd, short what, void *arg)
{
    sv_rtsp_client *c = arg;
    if (c->cbs.on_closed)
        c->cbs.on_closed(c->ctx, c->end_why, c->end_reason);
}

/* ---- requests ---- */

static void send_request(sv_rtsp_client *c, const char *method, const char *url, const char *extra)
{
    if (c->method != method)
        snprintf(c->method, sizeof c->method, "%s", method);
    if (c->req_url != url)
        snprintf(c->req_url, sizeof c->req_url, "%s", url);
    if (c->req_extra != extra)
        snprintf(c->req_extra, sizeof c->req_extra, "%s", extra ? extra : "");
    struct evbuffer *out = bufferevent_get_output(c->bev);
    c->cseq++;
    evbuffer_add_printf(out, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: StreamVault/%s\r\n",
                        method, url, c->cseq, SV_VERSION);
    char auth[1536];
    if (c->auth.kind != SV_RTSP_AUTH_NONE && c->url.user[0] &&
        !sv_rtsp_auth_header(&c->auth, c->url.user, c->url.pass, method, url, NULL, auth,
                             sizeof auth))
        evbuffer_add_printf(out, "Authorization: %s\r\n", auth);
    if (c->session[0])
        evbuffer_add_printf(out, "Session: %s\r\n", c->session);
    evbuffer_add_printf(out, "%s\r\n", c->req_extra);
    c->awaiting = true;
    c->req_sent_ms = sv_now_mono_ms();
}

static void send_setup(sv_rtsp_client *c)
{
    rs_track *t = &c->tracks[c->setup_next];
    char tr[160];
    if (c->cfg.udp) {
        if (rs_track_open_udp(t))
            return rs_fail(c, SV_RTSP_END_UDP, "cannot open UDP ports");
        snprintf(tr, sizeof tr, "Transport: RTP/AVP;unicast;client_port=%d-%d\r\n",
                 t->local_port, t->local_port + 1);
    } else {
        t->ch = 2 * c->setup_next;
        snprintf(tr, sizeof tr, "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", t->ch,
                 t->ch + 1);
    }
    c->state = RS_SETUP;
    send_request(c, "SETUP", t->url, tr);
}

static void send_play(sv_rtsp_client *c)
{
    c->state = RS_PLAY;
    send_request(c, "PLAY", c->play_url, "Range: npt=0.000-\r\n");
}

static void next_setup_or_play(sv_rtsp_client *c, int from)
{
    for (int i = from; i < SV_MAX_TRACKS; i++) {
        if (c->tracks[i].used) {
            c->setup_next = i;
            return send_setup(c);
        }
    }
    send_play(c);
}

/* ---- responses ---- */

static void on_options(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    char pub[512];
    sv_rtsp_str_copy(sv_rtsp_header_get(m, "Public"), pub, sizeof pub);
    c->get_parameter = strstr(pub, "GET_PARAMETER") != NULL;
    c->state = RS_DESCRIBE;
    send_request(c, "DESCRIBE", c->req_base, "Accept: application/sdp\r\n");
}

static void set_base_url(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    char v[SV_RTSP_URL_MAX];
    sv_rtsp_str s = sv_rtsp_header_get(m, "Content-Base");
    if (!s.p)
        s = sv_rtsp_header_get(m, "Content-Location");
    sv_rtsp_str_copy(s, v, sizeof v);
    if (!v[0] || sv_rtsp_url_join(c->req_base, v, c->base_url, sizeof c->base_url))
        snprintf(c->base_url, sizeof c->base_url, "%s", c->req_base);
    const char *ctl = c->sdp->control;
    if (!ctl[0] || !strcmp(ctl, "*") ||
        sv_rtsp_url_join(c->base_url, ctl, c->play_url, sizeof c->play_url))
        snprintf(c->play_url, sizeof c->play_url, "%s", c->base_url);
}

static void on_describe(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    if (m->status != 200)
        return rs_fail(c, SV_RTSP_END_ERROR, "DESCRIBE failed: %d %.*s", m->status,
                       (int)m->reason.len, m->reason.p);
    if (!c->sdp && !(c->sdp = malloc(sizeof *c->sdp)))
        return rs_fail(c, SV_RTSP_END_ERROR, "out of memory");
    int rc = sv_sdp_parse((const char *)m->body, m->body_len, c->sdp);
    if (rc)
        return rs_fail(c, SV_RTSP_END_ERROR, "bad SDP: %s", sv_strerror(rc));
    set_base_url(c, m);
    if (rs_tracks_from_sdp(c))
        return rs_fail(c, SV_RTSP_END_ERROR, "no supported media in the SDP (H.264, H.265, "
                                             "AAC, G.711)");
    next_setup_or_play(c, 0);
}

/* Reads "key=a-b" of a Transport header; returns a or -1. */
static int transport_param(const char *tr, const char *key)
{
    const char *p = strstr(tr, key);
    return p ? atoi(p + strlen(key)) : -1;
}

static void on_setup(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    rs_track *t = &c->tracks[c->setup_next];
    if (m->status == 461 && c->cfg.udp)
        return rs_fail(c, SV_RTSP_END_UDP, "camera refused UDP (461)");
    if (m->status != 200)
        return rs_fail(c, SV_RTSP_END_ERROR, "SETUP failed: %d %.*s", m->status,
                       (int)m->reason.len, m->reason.p);
    char v[512];
    sv_rtsp_str_copy(sv_rtsp_header_get(m, "Session"), v, sizeof v);
    char *semi = strchr(v, ';');
    if (semi) {
        const char *to = strstr(semi, "timeout=");
        c->session_timeout_s = to ? atoi(to + 8) : 60;
        *semi = '\0';
    }
    if (!v[0] && !c->session[0])
        return rs_fail(c, SV_RTSP_END_ERROR, "SETUP answer without a Session");
    if (v[0])
        sv_rtsp_str_copy((sv_rtsp_str){v, strlen(v)}, c->session, sizeof c->session);
    sv_rtsp_str_copy(sv_rtsp_header_get(m, "Transport"), v, sizeof v);
    if (c->cfg.udp) {
        if (strstr(v, "/TCP"))
            return rs_fail(c, SV_RTSP_END_UDP, "camera answered UDP with TCP");
        t->server_port = transport_param(v, "server_port=");
    } else if (transport_param(v, "interleaved=") >= 0) {
        t->ch = transport_param(v, "interleaved=");
    }
    next_setup_or_play(c, c->setup_next + 1);
}

static void on_play(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    if (m->status != 200)
        return rs_fail(c, SV_RTSP_END_ERROR, "PLAY failed: %d %.*s", m->status,
                       (int)m->reason.len, m->reason.p);
    c->state = RS_PLAYING;
    c->play_ms = c->last_media_ms = c->last_keepalive_ms = sv_now_mono_ms();
    if (c->cfg.udp)
        rs_udp_punch(c);
    sv_info(c->stream_name, "rtsp: playing %s over %s", c->play_url, c->cfg.udp ? "UDP" : "TCP");
}

static void on_unauthorized(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    if (!c->url.user[0])
        return rs_fail(c, SV_RTSP_END_AUTH, "401 Unauthorized: the camera needs credentials");
    sv_rtsp_auth a = {0};
    for (int i = 0; i < m->nheaders; i++) {
        const sv_rtsp_header *h = &m->headers[i];
        if (h->name.len == 16 && !strncasecmp(h->name.p, "WWW-Authenticate", 16))
            sv_rtsp_auth_challenge(&a, h->value.p, h->value.len);
    }
    if (a.kind == SV_RTSP_AUTH_NONE)
        return rs_fail(c, SV_RTSP_END_AUTH, "401 Unauthorized: no supported auth scheme");
    if (c->auth_tries++ > 0 && !a.stale)
        return rs_fail(c, SV_RTSP_END_AUTH, "401 Unauthorized: wrong credentials (%s)",
                       a.kind == SV_RTSP_AUTH_DIGEST ? "Digest" : "Basic");
    c->auth = a;
    send_request(c, c->method, c->req_url, c->req_extra);
}

static void on_redirect(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    char loc[SV_RTSP_URL_MAX], url[SV_RTSP_URL_MAX];
    sv_rtsp_str_copy(sv_rtsp_header_get(m, "Location"), loc, sizeof loc);
    sv_rtsp_url nu;
    if (!loc[0] || ++c->redirects > MAX_REDIRECTS ||
        sv_rtsp_url_join(c->req_base, loc, url, sizeof url) || sv_rtsp_url_parse(url, &nu))
        return rs_fail(c, SV_RTSP_END_ERROR, "bad redirect (%d) to '%s'", m->status, loc);
    if (!nu.user[0]) { /* keep our credentials across the redirect */
        memcpy(nu.user, c->url.user, sizeof nu.user);
        memcpy(nu.pass, c->url.pass, sizeof nu.pass);
    }
    sv_info(c->stream_name, "rtsp: redirected (%d) to %s", m->status, loc);
    c->url = nu;
    send_teardown(c);
    bufferevent_free(c->bev);
    c->bev = NULL;
    start_session(c);
}

static void on_server_request(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "RTSP/1.0 200 OK\r\nCSeq: %d\r\n\r\n", m->cseq < 0 ? 0 : m->cseq);
}

static void on_message(sv_rtsp_client *c, const sv_rtsp_msg *m)
{
    if (m->is_request)
        return on_server_request(c, m);
    if (!c->awaiting || m->cseq != c->cseq)
        return; /* a late answer (keep-alive) */
    c->awaiting = false;
    if (m->status == 401)
        return on_unauthorized(c, m);
    c->auth_tries = 0;
    if (m->status >= 300 && m->status < 400 && c->state <= RS_DESCRIBE)
        return on_redirect(c, m);
    switch (c->state) {
    case RS_OPTIONS: return on_options(c, m);
    case RS_DESCRIBE: return on_describe(c, m);
    case RS_SETUP: return on_setup(c, m);
    case RS_PLAY: return on_play(c, m);
    case RS_PLAYING:
        if (m->status == 454)
            rs_fail(c, SV_RTSP_END_ERROR, "session lost (454 on keep-alive)");
        return;
    default: return;
    }
}

/* ---- input ---- */

static void on_interleaved(sv_rtsp_client *c, int ch, const uint8_t *p, size_t len)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        rs_track *t = &c->tracks[i];
        if (!t->used || c->cfg.udp)
            continue;
        if (ch == t->ch)
            return rs_on_rtp(t, p, len);
        if (ch == t->ch + 1)
            return rs_on_rtcp(t, p, len);
    }
}

/* Handles one unit at the head of the input: returns bytes used, 0 when more input is
 * needed, or -1 when the session has failed. */
static int read_one(sv_rtsp_client *c, struct evbuffer *in, size_t avail)
{
    uint8_t head[4];
    evbuffer_copyout(in, head, avail < 4 ? avail : 4);
    if (head[0] == '$') {
        if (avail < 4 || avail < 4 + (size_t)sv_rb16(head + 2))
            return 0;
        size_t n = 4 + (size_t)sv_rb16(head + 2);
        int ch;
        const uint8_t *payload;
        size_t plen;
        sv_rtsp_interleaved(evbuffer_pullup(in, (ev_ssize_t)n), n, &ch, &payload, &plen);
        on_interleaved(c, ch, payload, plen);
        return (int)n;
    }
    size_t look = avail < MAX_INPUT ? avail : MAX_INPUT;
    sv_rtsp_msg m;
    int rc = sv_rtsp_parse(evbuffer_pullup(in, (ev_ssize_t)look), look, &m);
    if (rc == SV_ENEEDMORE && avail < MAX_INPUT)
        return 0;
    if (rc < 0) {
        rs_fail(c, SV_RTSP_END_ERROR, "malformed RTSP from the camera: %s",
                rc == SV_ENEEDMORE ? "message too big" : sv_strerror(rc));
        return -1;
    }
    on_message(c, &m);
    return rc;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    sv_rtsp_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t avail;
    while (c->state != RS_CLOSED && c->bev == bev && (avail = evbuffer_get_length(in)) > 0) {
        int n = read_one(c, in, avail);
        if (n <= 0 || c->state == RS_CLOSED || c->bev != bev)
            return;
        if (c->stream)
            sv_stream_count_in(c->stream, (size_t)n);
        c->bytes += (size_t)n;
        c->win_bytes += (size_t)n;
        evbuffer_drain(in, (size_t)n);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    sv_rtsp_client *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = RS_OPTIONS;
        send_request(c, "OPTIONS", c->req_base, NULL);
        return;
    }
    if (what & BEV_EVENT_EOF)
        return rs_fail(c, SV_RTSP_END_ERROR, "camera closed the connection");
    if (what & BEV_EVENT_ERROR)
        return rs_fail(c, SV_RTSP_END_ERROR, "%s: %s",
                       c->state == RS_CONNECT ? "cannot connect" : "connection error",
                       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- connecting ---- */

static void do_connect(sv_rtsp_client *c)
{
    c->state = RS_CONNECT;
    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        return rs_fail(c, SV_RTSP_END_ERROR, "out of memory");
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->req_sent_ms = sv_now_mono_ms();
    c->awaiting = true; /* the connect counts as a request for the timeout */
    c->cseq = 0;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->peer, (int)c->peer_len))
        rs_fail(c, SV_RTSP_END_ERROR, "cannot connect to %s:%d", c->url.host, c->url.port);
}

typedef struct resolve_job {
    sv_rtsp_client *c; /* NULL once the client is gone */
    char host[256], port[8];
    struct sockaddr_storage addr;
    socklen_t len;
    int rc;
} resolve_job;

static void resolve_work(void *arg)
{
    resolve_job *j = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    j->rc = getaddrinfo(j->host, j->port, &hints, &res);
    if (j->rc == 0 && res && res->ai_addrlen <= sizeof j->addr) {
        memcpy(&j->addr, res->ai_addr, res->ai_addrlen);
        j->len = res->ai_addrlen;
    } else if (j->rc == 0) {
        j->rc = EAI_FAIL;
    }
    if (res)
        freeaddrinfo(res);
}

static void resolve_done(void *arg, bool cancelled)
{
    resolve_job *j = arg;
    sv_rtsp_client *c = j->c;
    if (c) {
        c->resolve_job = NULL;
        if (cancelled || j->rc) {
            rs_fail(c, SV_RTSP_END_ERROR, "cannot resolve %s: %s", j->host,
                    cancelled ? "shutting down" : gai_strerror(j->rc));
        } else {
            memcpy(&c->peer, &j->addr, j->len);
            c->peer_len = j->len;
            do_connect(c);
        }
    }
    free(j);
}

/* Numeric hosts connect at once; names are resolved on the worker pool. */
static void resolve(sv_rtsp_client *c)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&c->peer;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&c->peer;
    memset(&c->peer, 0, sizeof c->peer);
    if (inet_pton(AF_INET, c->url.host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->url.port);
        c->peer_len = sizeof *v4;
        return do_connect(c);
    }
    if (inet_pton(AF_INET6, c->url.host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)c->url.port);
        c->peer_len = sizeof *v6;
        return do_connect(c);
    }
    resolve_job *j = calloc(1, sizeof *j);
    if (!j)
        return rs_fail(c, SV_RTSP_END_ERROR, "out of memory");
    j->c = c;
    snprintf(j->host, sizeof j->host, "%s", c->url.host);
    snprintf(j->port, sizeof j->port, "%d", c->url.port);
    if (!c->wq || sv_workq_submit(c->wq, resolve_work, resolve_done, j)) {
        free(j);
        return rs_fail(c, SV_RTSP_END_ERROR, "cannot resolve %s: no worker", c->url.host);
    }
    c->resolve_job = j;
}

static void start_session(sv_rtsp_client *c)
{
    c->state = RS_RESOLVE;
    c->session[0] = '\0';
    c->auth_tries = 0;
    memset(&c->auth, 0, sizeof c->auth);
    if (sv_rtsp_url_plain(&c->url, c->req_base, sizeof c->req_base))
        return rs_fail(c, SV_RTSP_END_ERROR, "URL too long");
    resolve(c);
}

/* ---- timer ---- */

static void keepalive(sv_rtsp_client *c, int64_t now)
{
    int64_t every = (int64_t)(c->session_timeout_s > 10 ? c->session_timeout_s / 2 : 5) * 1000;
    if (now - c->last_keepalive_ms < every || c->awaiting)
        return;
    c->last_keepalive_ms = now;
    send_request(c, c->get_parameter ? "GET_PARAMETER" : "OPTIONS",
                 c->get_parameter ? c->play_url : c->req_base, NULL);
    if (c->cfg.udp)
        rs_udp_punch(c);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sv_rtsp_client *c = arg;
    int64_t now = sv_now_mono_ms();
    if (c->state == RS_CLOSED || c->state == RS_RESOLVE)
        return;
    if (c->state != RS_PLAYING) {
        if (c->awaiting && now - c->req_sent_ms > c->cfg.request_timeout_ms)
            rs_fail(c, SV_RTSP_END_ERROR, "no answer to %s within %d ms",
                    c->state == RS_CONNECT ? "connect" : c->method, c->cfg.request_timeout_ms);
        return;
    }
    rs_media_tick(c, now);
    if (c->state != RS_PLAYING)
        return;
    if (c->cfg.udp && c->packets == 0 && now - c->play_ms > c->cfg.udp_timeout_ms)
        return rs_fail(c, SV_RTSP_END_UDP, "no UDP packets within %d ms of PLAY",
                       c->cfg.udp_timeout_ms);
    if (now - c->last_media_ms > c->cfg.media_timeout_ms)
        return rs_fail(c, SV_RTSP_END_NO_MEDIA, "no media for %d ms", c->cfg.media_timeout_ms);
    keepalive(c, now);
}

/* ---- life cycle ---- */

static int copy_config(sv_rtsp_client *c, const sv_rtsp_client_config *cfg)
{
    c->cfg = *cfg;
    c->cfg.url = NULL;
    c->cfg.stream = NULL;
    if (c->cfg.media_timeout_ms <= 0)
        c->cfg.media_timeout_ms = 5000;
    if (c->cfg.udp_timeout_ms <= 0)
        c->cfg.udp_timeout_ms = 3000;
    if (c->cfg.request_timeout_ms <= 0)
        c->cfg.request_timeout_ms = 10000;
    c->stream_name = strdup(cfg->stream);
    return c->stream_name ? 0 : SV_ENOMEM;
}

sv_rtsp_client *sv_rtsp_client_new(struct event_base *base, sv_registry *reg, sv_workq *wq,
                                   const sv_rtsp_client_config *cfg,
                                   const sv_rtsp_client_cbs *cbs, void *ctx)
{
    sv_rtsp_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    c->reg = reg;
    c->wq = wq;
    c->cbs = *cbs;
    c->ctx = ctx;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        c->tracks[i].fd[0] = c->tracks[i].fd[1] = -1;
        c->tracks[i].c = c;
        c->tracks[i].idx = i;
    }
    int rc = sv_rtsp_url_parse(cfg->url, &c->url);
    if (rc) {
        char masked[SV_RTSP_URL_MAX];
        sv_rtsp_url_mask(cfg->url, masked, sizeof masked);
        sv_error(cfg->stream, "rtsp: invalid URL %s: %s", masked, sv_strerror(rc));
        goto fail;
    }
    if (copy_config(c, cfg))
        goto fail;
    c->timer = event_new(base, -1, EV_PERSIST, on_tick, c);
    c->closer = event_new(base, -1, 0, on_closer, c);
    if (!c->timer || !c->closer)
        goto fail;
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(c->timer, &tv);
    start_session(c);
    return c;
fail:
    sv_rtsp_client_free(c);
    return NULL;
}

void sv_rtsp_client_free(sv_rtsp_client *c)
{
    if (!c)
        return;
    if (c->resolve_job)
        ((resolve_job *)c->resolve_job)->c = NULL;
    release_io(c);
    if (c->timer)
        event_free(c->timer);
    if (c->closer)
        event_free(c->closer);
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_rtp_jb_free(&c->tracks[i].jb);
        sv_rtp_depack_free(&c->tracks[i].dp);
        sv_track_clear(&c->tracks[i].track);
    }
    free(c->sdp);
    free(c->stream_name);
    free(c);
}

void sv_rtsp_client_get_stats(const sv_rtsp_client *c, sv_rtsp_client_stats *st)
{
    memset(st, 0, sizeof *st);
    st->playing = c->stream != NULL;
    st->udp = c->cfg.udp;
    st->packets = c->packets;
    st->bytes = c->bytes;
    st->fps = c->fps;
    st->kbps = c->kbps;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        const rs_track *t = &c->tracks[i];
        st->packets_lost += t->jb.lost;
        st->frames_lost += t->dp.frames_dropped;
        st->codecs[i] = t->used ? t->codec : SV_CODEC_NONE;
        if (i == 0 && t->used) {
            st->width = t->track.width;
            st->height = t->track.height;
        }
    }
}
