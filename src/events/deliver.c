/* Delivery: each sink POSTs batches of its outbox to its URL with libcurl multi driven by
 * the libevent loop (curl_multi_socket_action with CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION), so nothing here ever blocks the loop.
 *
 * Per sink, one batch at a time, in id order:
 *   IDLE --kick--> LOADING --rows--> SENDING --2xx--> ack, LOADING again (more may wait)
 *                          --none--> IDLE            --error/non-2xx--> BACKOFF --timer-->
 *   SENDING with the same body.
 * Backoff doubles from 100 ms to 30 s; a success resets it. The body is a JSON array of
 * the events; with a secret it is signed (X-StreamVault-Signature: sha256=<hex HMAC>).
 * An event leaves the outbox only after a 2xx, so a receiver that is down, answers 5xx or
 * is slower than the timeout gets everything later (at-least-once; ids dedupe). */
#include <curl/curl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "events/internal.h"

struct sv_events_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
};

static void send_batch(sv_events_sink *s);

/* ---- libcurl multi on libevent ---- */

static void check_done(sv_events_http *h);

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    sv_events_http *h = arg;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(h->multi, fd, flags, &h->running);
    check_done(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sv_events_http *h = arg;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
    check_done(h);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    sv_events_http *h = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev)
            event_free(ev);
        curl_multi_assign(h->multi, fd, NULL);
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (ev) {
        event_del(ev);
        event_assign(ev, h->base, fd, kind, on_socket, h);
    } else {
        ev = event_new(h->base, fd, kind, on_socket, h);
        if (!ev)
            return -1;
        curl_multi_assign(h->multi, fd, ev);
    }
    event_add(ev, NULL);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    sv_events_http *h = userp;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
    return 0;
}

static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void sv_events_curl_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init);
}

sv_events_http *sv_events_http_new(struct event_base *base)
{
    sv_events_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->base = base;
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, on_timer, h);
    if (!h->multi || !h->timer) {
        sv_events_http_free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    return h;
}

void sv_events_http_free(sv_events_http *h)
{
    if (!h)
        return;
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->timer)
        event_free(h->timer);
    free(h);
}

/* ---- one sink ---- */

static size_t discard(char *p, size_t size, size_t n, void *ctx) { return size * n; }

static void drop_batch(sv_events_sink *s)
{
    sv_events_rows_free(s->rows, s->nrows);
    s->rows = NULL;
    s->nrows = 0;
    free(s->body);
    s->body = NULL;
}

static void end_transfer(sv_events_sink *s)
{
    if (s->easy) {
        curl_multi_remove_handle(s->http->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
}

static void start_load(sv_events_sink *s)
{
    s->state = SV_SINK_LOADING;
    s->dirty = false;
    sv_events_outbox_load(s->ob, s->name, s->acked_id, s->def.batch, s->cookie);
}

void sv_events_sink_kick(sv_events_sink *s)
{
    if (s->state == SV_SINK_IDLE)
        start_load(s);
    else
        s->dirty = true;
}

static void on_success(sv_events_sink *s)
{
    atomic_fetch_add(&s->stats->delivered, s->nrows);
    atomic_fetch_add(&s->stats->posts, 1);
    if (s->attempt)
        sv_info(NULL, "event sink %s: delivering again after %u failed attempts", s->name,
                s->attempt);
    s->acked_id = s->rows[s->nrows - 1].id;
    sv_events_outbox_ack(s->ob, s->name, s->acked_id);
    s->last_ok_utc_ms = sv_now_utc_ms();
    s->attempt = 0;
    drop_batch(s);
    start_load(s);
}

static void on_failure(sv_events_sink *s, const char *why)
{
    atomic_fetch_add(&s->stats->failures, 1);
    s->attempt++;
    snprintf(s->last_error, sizeof s->last_error, "%s", why);
    int64_t delay = sv_events_backoff_ms(s->attempt, SV_EVENTS_BACKOFF_MIN_MS,
                                         SV_EVENTS_BACKOFF_MAX_MS);
    if (!(s->attempt & (s->attempt - 1))) /* 1st, 2nd, 4th, 8th... */
        sv_warn(NULL, "event sink %s: delivery failed (%s), attempt %u, retrying in %lld ms",
                s->name, why, s->attempt, (long long)delay);
    s->state = SV_SINK_BACKOFF;
    s->retry_at_mono = sv_now_mono_ms() + delay;
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(s->retry_ev, &tv);
}

static void transfer_done(sv_events_sink *s, CURLcode res)
{
    long code = 0;
    char why[160];
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    end_transfer(s);
    s->last_status = code;
    if (res == CURLE_OK && code >= 200 && code < 300)
        return on_success(s);
    if (res != CURLE_OK)
        snprintf(why, sizeof why, "%s", curl_easy_strerror(res));
    else
        snprintf(why, sizeof why, "HTTP status %ld", code);
    on_failure(s, why);
}

static void check_done(sv_events_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        sv_events_sink *s = NULL;
        CURLcode res = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s)
            transfer_done(s, res);
    }
}

static int build_body(sv_events_sink *s)
{
    size_t len = 2;
    for (size_t i = 0; i < s->nrows; i++)
        len += s->rows[i].len + 1;
    char *p = s->body = malloc(len + 1);
    if (!p)
        return SV_ENOMEM;
    *p++ = '[';
    for (size_t i = 0; i < s->nrows; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, s->rows[i].body, s->rows[i].len);
        p += s->rows[i].len;
    }
    *p++ = ']';
    *p = '\0';
    s->body_len = (size_t)(p - s->body);
    return 0;
}

static struct curl_slist *headers(sv_events_sink *s)
{
    char line[256];
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    l = l ? curl_slist_append(l, "Expect:") : NULL;
    snprintf(line, sizeof line, "X-StreamVault-Sink: %s", s->name);
    l = l ? curl_slist_append(l, line) : NULL;
    if (l && s->def.secret) {
        char hex[2 * 64 + 1];
        if (sv_events_sign(s->def.secret, s->body, s->body_len, hex, sizeof hex))
            return curl_slist_free_all(l), NULL;
        snprintf(line, sizeof line, "X-StreamVault-Signature: sha256=%s", hex);
        l = curl_slist_append(l, line);
    }
    return l;
}

static void send_batch(sv_events_sink *s)
{
    CURL *e = curl_easy_init();
    s->hdrs = headers(s);
    if (!e || !s->hdrs)
        goto fail;
    curl_easy_setopt(e, CURLOPT_URL, s->def.url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "StreamVault/" SV_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(s->http->multi, e) != CURLM_OK)
        goto fail;
    s->easy = e;
    s->state = SV_SINK_SENDING;
    return;
fail:
    if (e)
        curl_easy_cleanup(e);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    on_failure(s, "cannot start the request");
}

void sv_events_sink_loaded(sv_events_sink *s, sv_events_row *rows, size_t n)
{
    if (s->state != SV_SINK_LOADING) {
        sv_events_rows_free(rows, n);
        return;
    }
    if (!n) {
        free(rows);
        s->state = SV_SINK_IDLE;
        if (s->dirty)
            start_load(s);
        return;
    }
    s->rows = rows;
    s->nrows = n;
    s->attempt = 0;
    if (build_body(s)) {
        drop_batch(s);
        s->state = SV_SINK_IDLE;
        return;
    }
    send_batch(s);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    sv_events_sink *s = arg;
    if (s->state == SV_SINK_BACKOFF)
        send_batch(s);
}

sv_events_sink *sv_events_sink_new(const char *name, sv_events_sink_def *def, bool from_config,
                                   uint64_t cookie, sv_events_outbox *ob, sv_events_http *h,
                                   struct event_base *base)
{
    sv_events_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name);
    s->stats = sv_events_stats_new();
    s->retry_ev = evtimer_new(base, on_retry, s);
    if (!s->name || !s->stats || !s->retry_ev) {
        sv_events_sink_free(s);
        return NULL;
    }
    s->def = *def;
    memset(def, 0, sizeof *def);
    s->from_config = from_config;
    s->cookie = cookie;
    s->ob = ob;
    s->http = h;
    sv_events_outbox_register(ob, name, s->def.max_outbox, s->stats);
    return s;
}

void sv_events_sink_free(sv_events_sink *s)
{
    if (!s)
        return;
    end_transfer(s);
    drop_batch(s);
    if (s->retry_ev)
        event_free(s->retry_ev);
    sv_events_def_free(&s->def);
    sv_events_stats_unref(s->stats);
    free(s->name);
    free(s);
}

json_t *sv_events_sink_status(const sv_events_sink *s)
{
    static const char *const states[] = {"idle", "loading", "sending", "retrying"};
    json_t *j = json_object();
    json_object_set_new(j, "state", json_string(states[s->state]));
    json_object_set_new(j, "depth", json_integer((json_int_t)atomic_load(&s->stats->depth)));
    json_object_set_new(j, "delivered",
                        json_integer((json_int_t)atomic_load(&s->stats->delivered)));
    json_object_set_new(j, "failures", json_integer((json_int_t)atomic_load(&s->stats->failures)));
    json_object_set_new(j, "dropped", json_integer((json_int_t)atomic_load(&s->stats->dropped)));
    json_object_set_new(j, "attempt", json_integer(s->attempt));
    json_object_set_new(j, "retry_in_ms", s->state == SV_SINK_BACKOFF
                        ? json_integer(s->retry_at_mono - sv_now_mono_ms()) : json_null());
    json_object_set_new(j, "last_error", s->last_error[0] ? json_string(s->last_error)
                                                          : json_null());
    json_object_set_new(j, "last_status", s->last_status ? json_integer(s->last_status)
                                                         : json_null());
    json_object_set_new(j, "last_delivery_utc_ms",
                        s->last_ok_utc_ms ? json_integer(s->last_ok_utc_ms) : json_null());
    json_object_set_new(j, "acked_id", json_integer(s->acked_id));
    return j;
}
