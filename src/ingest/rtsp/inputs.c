/* Input manager (see inputs.h). Pulls live in a small array; each has at most one client
 * and a retry timer. A client that ended is freed from the retry timer (never inside its
 * own callback). The identity of a pull is its stream name plus the canonical JSON of its
 * rtsp inputs, so any change to them restarts it and anything else leaves it running. */
#include "ingest/rtsp/inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "ingest/rtsp/rtsp_client.h"
#include "ingest/rtsp/rtsp_proto.h"

#define BACKOFF_MIN_MS 1000
#define UDP_FALLBACK_DELAY_MS 100
#define START_STAGGER_MS 10
#define START_STAGGER_MAX_MS 2000

typedef struct input {
    char *url;
    char masked[SV_RTSP_URL_MAX];
    bool udp, camera_time;
    int reconnect_max_ms, media_timeout_ms;
} input;

typedef enum { PULL_CONNECTING = 0, PULL_ONLINE, PULL_LOST } pull_state;

typedef struct pull {
    sv_inputs *m;
    char *name, *key;
    input *in;
    int nin, cur;
    bool tcp_fallback;          /* UDP failed on the current input: use TCP */
    sv_rtsp_client *client, *dead;
    struct event *retry;
    int backoff_ms;
    pull_state state;
    int64_t since;
    uint64_t reconnects, frames_lost, packets_lost; /* totals of ended sessions */
    bool used_udp;
    char last_error[256];
    int width, height;
    sv_codec codecs[SV_MAX_TRACKS];
} pull;

struct sv_inputs {
    sv_inputs_config cfg;
    pull **v;
    size_t n, cap;
};

static struct {
    const sv_registry *reg;
    sv_inputs *m;
} by_reg[4];

static void pull_start(pull *p);

/* ---- settings ---- */

static int input_from_json(const json_t *j, input *out)
{
    const char *url = json_is_string(j) ? json_string_value(j)
                                        : json_string_value(json_object_get(j, "url"));
    if (!url || strncasecmp(url, "rtsp://", 7))
        return SV_ENOTFOUND;
    const char *tr = json_string_value(json_object_get(j, "transport"));
    json_int_t rmax = json_integer_value(json_object_get(j, "reconnect_max"));
    json_int_t mto = json_integer_value(json_object_get(j, "media_timeout"));
    out->url = strdup(url);
    out->udp = tr && !strcasecmp(tr, "udp");
    out->camera_time = json_is_true(json_object_get(j, "camera_time"));
    out->reconnect_max_ms = rmax >= BACKOFF_MIN_MS && rmax <= 3600000 ? (int)rmax
                                                                      : SV_INPUTS_RECONNECT_MAX_MS;
    out->media_timeout_ms = mto >= 1000 && mto <= 600000 ? (int)mto : SV_INPUTS_MEDIA_TIMEOUT_MS;
    sv_rtsp_url_mask(url, out->masked, sizeof out->masked);
    return out->url ? 0 : SV_ENOMEM;
}

/* The rtsp inputs of a stream body as a JSON array (new reference), NULL if none. */
static json_t *rtsp_inputs(const json_t *body)
{
    const json_t *arr = json_object_get(body, "inputs");
    json_t *out = NULL, *v;
    size_t i;
    json_array_foreach((json_t *)arr, i, v)
    {
        const char *url = json_is_string(v) ? json_string_value(v)
                                            : json_string_value(json_object_get(v, "url"));
        if (!url || strncasecmp(url, "rtsp://", 7))
            continue;
        if (!out)
            out = json_array();
        json_array_append(out, v);
    }
    return out;
}

/* ---- pulls ---- */

static void pull_free(pull *p)
{
    if (!p)
        return;
    sv_rtsp_client_free(p->client);
    sv_rtsp_client_free(p->dead);
    if (p->retry)
        event_free(p->retry);
    for (int i = 0; i < p->nin; i++)
        free(p->in[i].url);
    free(p->in);
    free(p->name);
    free(p->key);
    free(p);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    pull *p = arg;
    sv_rtsp_client_free(p->dead);
    p->dead = NULL;
    pull_start(p);
}

static void emit(pull *p, const char *event, const char *reason)
{
    input *in = &p->in[p->cur];
    json_t *f = json_pack("{s:s,s:s,s:s}", "url", in->masked, "protocol", "rtsp", "transport",
                          p->used_udp ? "udp" : "tcp");
    if (f && reason)
        json_object_set_new(f, "reason", json_string(reason));
    sv_events_emit(p->m->cfg.events, event, p->name, f);
}

static void on_playing(void *ctx)
{
    pull *p = ctx;
    p->state = PULL_ONLINE;
    p->since = sv_now_utc_ms();
    p->backoff_ms = BACKOFF_MIN_MS;
    p->last_error[0] = '\0';
    sv_info(p->name, "rtsp: source connected %s (%s)", p->in[p->cur].masked,
            p->used_udp ? "udp" : "tcp");
    emit(p, "source_connected", NULL);
}

static void schedule(pull *p, int delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    event_add(p->retry, &tv);
}

static void keep_stats(pull *p, const sv_rtsp_client *c)
{
    sv_rtsp_client_stats st;
    sv_rtsp_client_get_stats(c, &st);
    p->frames_lost += st.frames_lost;
    p->packets_lost += st.packets_lost;
    if (st.width) {
        p->width = st.width;
        p->height = st.height;
    }
    if (st.codecs[0] || st.codecs[1])
        memcpy(p->codecs, st.codecs, sizeof p->codecs);
}

static void on_closed(void *ctx, sv_rtsp_end why, const char *reason)
{
    pull *p = ctx;
    input *in = &p->in[p->cur];
    keep_stats(p, p->client);
    p->dead = p->client;
    p->client = NULL;
    snprintf(p->last_error, sizeof p->last_error, "%s", reason);
    p->reconnects++;
    int delay = p->backoff_ms;
    if (why == SV_RTSP_END_UDP && p->used_udp) {
        p->tcp_fallback = true;
        delay = UDP_FALLBACK_DELAY_MS;
        sv_warn(p->name, "rtsp: %s: %s, falling back to TCP", in->masked, reason);
        if (p->state != PULL_ONLINE)
            return schedule(p, delay);
    } else {
        p->backoff_ms = p->backoff_ms * 2 > in->reconnect_max_ms ? in->reconnect_max_ms
                                                                 : p->backoff_ms * 2;
        if (p->nin > 1) { /* try the next input */
            p->cur = (p->cur + 1) % p->nin;
            p->tcp_fallback = false;
        }
    }
    sv_warn(p->name, "rtsp: source %s: %s; retrying in %d ms", in->masked, reason, delay);
    if (p->state != PULL_LOST) {
        emit(p, "source_lost", reason);
        p->state = PULL_LOST;
        p->since = sv_now_utc_ms();
    }
    schedule(p, delay);
}

static void pull_start(pull *p)
{
    input *in = &p->in[p->cur];
    p->used_udp = in->udp && !p->tcp_fallback;
    sv_rtsp_client_config cfg = {in->url, p->name, p->used_udp, in->media_timeout_ms, 0, 0,
                                 in->camera_time};
    sv_rtsp_client_cbs cbs = {on_playing, on_closed};
    sv_inputs_config *mc = &p->m->cfg;
    p->client = sv_rtsp_client_new(mc->base, mc->reg, mc->wq, &cfg, &cbs, p);
    if (!p->client) {
        snprintf(p->last_error, sizeof p->last_error, "cannot start a session (bad URL?)");
        schedule(p, in->reconnect_max_ms);
    }
}

static pull *pull_new(sv_inputs *m, const char *name, const json_t *inputs, char *key)
{
    pull *p = calloc(1, sizeof *p);
    size_t n = json_array_size(inputs);
    if (!p || !(p->in = calloc(n, sizeof *p->in)) || !(p->name = strdup(name)))
        goto fail;
    p->m = m;
    p->key = key;
    key = NULL;
    for (size_t i = 0; i < n; i++)
        if (input_from_json(json_array_get(inputs, i), &p->in[p->nin]) == 0)
            p->nin++;
    p->retry = event_new(m->cfg.base, -1, 0, on_retry, p);
    if (!p->nin || !p->retry)
        goto fail;
    p->backoff_ms = BACKOFF_MIN_MS;
    p->since = sv_now_utc_ms();
    sv_info(name, "rtsp: pulling %s", p->in[0].masked);
    /* stagger the first connects (10 ms apart, within 2 s): a start-up with hundreds of
     * cameras should not hit a shared NVR/camera server all at the same instant */
    schedule(p, (int)(m->n * START_STAGGER_MS % START_STAGGER_MAX_MS));
    return p;
fail:
    free(key);
    pull_free(p);
    return NULL;
}

/* ---- manager ---- */

sv_inputs *sv_inputs_new(const sv_inputs_config *cfg)
{
    sv_inputs *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    for (size_t i = 0; i < sizeof by_reg / sizeof by_reg[0]; i++) {
        if (!by_reg[i].reg) {
            by_reg[i].reg = cfg->reg;
            by_reg[i].m = m;
            break;
        }
    }
    return m;
}

void sv_inputs_free(sv_inputs *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        pull_free(m->v[i]);
    free(m->v);
    for (size_t i = 0; i < sizeof by_reg / sizeof by_reg[0]; i++)
        if (by_reg[i].m == m)
            by_reg[i].reg = NULL, by_reg[i].m = NULL;
    free(m);
}

sv_inputs *sv_inputs_of(const sv_registry *reg)
{
    for (size_t i = 0; reg && i < sizeof by_reg / sizeof by_reg[0]; i++)
        if (by_reg[i].reg == reg)
            return by_reg[i].m;
    return NULL;
}

static pull *find(const sv_inputs *m, const char *name, size_t *idx)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i]->name, name)) {
            if (idx)
                *idx = i;
            return m->v[i];
        }
    return NULL;
}

static void remove_at(sv_inputs *m, size_t i)
{
    sv_info(m->v[i]->name, "rtsp: pull stopped");
    pull_free(m->v[i]);
    m->v[i] = m->v[--m->n];
}

static int add(sv_inputs *m, pull *p)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        pull **v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return SV_ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = p;
    return 0;
}

/* Starts or restarts the pull of one stream; marks it seen. */
static void sync_one(sv_inputs *m, const char *name, const json_t *inputs, bool *seen)
{
    char *key = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS);
    size_t i;
    pull *p = find(m, name, &i);
    if (p && key && !strcmp(p->key, key)) {
        seen[i] = true;
        free(key);
        return;
    }
    if (p) {
        remove_at(m, i);
        seen[i] = seen[m->n]; /* the last pull moved into slot i */
    }
    if (!key || !sv_registry_get(m->cfg.reg, name)) {
        free(key);
        return;
    }
    pull *np = pull_new(m, name, inputs, key);
    if (np && add(m, np))
        pull_free(np);
    else if (np)
        seen[m->n - 1] = true;
}

int sv_inputs_sync(sv_inputs *m)
{
    if (!m)
        return 0;
    const json_t *all = sv_settings_all(m->cfg.settings, "stream");
    size_t cap = m->n + json_object_size(all) + 1;
    bool *seen = calloc(cap, sizeof *seen);
    if (!seen)
        return (int)m->n;
    const char *name;
    json_t *body;
    json_object_foreach((json_t *)all, name, body)
    {
        json_t *inputs = rtsp_inputs(body);
        if (inputs && sv_stream_name_valid(name))
            sync_one(m, name, inputs, seen);
        json_decref(inputs);
    }
    for (size_t i = m->n; i-- > 0;) {
        if (!seen[i]) {
            remove_at(m, i);
            seen[i] = seen[m->n];
        }
    }
    free(seen);
    return (int)m->n;
}

static const char *state_name(pull_state s)
{
    return s == PULL_ONLINE ? "online" : s == PULL_LOST ? "lost" : "connecting";
}

json_t *sv_inputs_status(sv_inputs *m, const char *name)
{
    pull *p = m && name ? find(m, name, NULL) : NULL;
    if (!p)
        return NULL;
    sv_rtsp_client_stats st;
    memset(&st, 0, sizeof st);
    if (p->client)
        sv_rtsp_client_get_stats(p->client, &st);
    int w = st.width ? st.width : p->width, h = st.width ? st.height : p->height;
    const sv_codec *codecs = st.codecs[0] || st.codecs[1] ? st.codecs : p->codecs;
    json_t *cs = json_array();
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (codecs[i] != SV_CODEC_NONE)
            json_array_append_new(cs, json_string(sv_codec_name(codecs[i])));
    bool online = p->state == PULL_ONLINE;
    return json_pack("{s:s,s:I,s:s,s:s,s:I,s:s,s:I,s:f,s:I,s:I,s:i,s:i,s:o}", "state",
                     state_name(p->state), "since", (json_int_t)p->since, "url",
                     p->in[p->cur].masked, "transport", p->used_udp ? "udp" : "tcp",
                     "reconnects", (json_int_t)p->reconnects, "last_error", p->last_error,
                     "bitrate", (json_int_t)(online ? st.kbps : 0), "fps",
                     online ? st.fps : 0.0, "frames_lost",
                     (json_int_t)(p->frames_lost + st.frames_lost), "packets_lost",
                     (json_int_t)(p->packets_lost + st.packets_lost), "width", w, "height", h,
                     "codecs", cs);
}

void sv_inputs_mask_settings(json_t *settings)
{
    json_t *arr = json_object_get(settings, "inputs"), *v;
    size_t i;
    char masked[SV_RTSP_URL_MAX];
    json_array_foreach(arr, i, v)
    {
        json_t *u = json_is_string(v) ? v : json_object_get(v, "url");
        if (!json_is_string(u))
            continue;
        sv_rtsp_url_mask(json_string_value(u), masked, sizeof masked);
        if (json_is_string(v))
            json_array_set_new(arr, i, json_string(masked));
        else
            json_object_set_new(v, "url", json_string(masked));
    }
}
