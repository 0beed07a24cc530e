/* Stream registry and fan-out (see stream.h).
 *
 * The registry is a sorted array of stream pointers (binary search by name; streams are
 * few enough that insertion cost does not matter and iteration comes out in name order).
 * Fan-out is a singly linked consumer list walked synchronously; a consumer removed while
 * frames are being dispatched is only marked and reaped after the walk. The GOP cache
 * holds references to the frames since the last video keyframe, bounded by frame count
 * and bytes; past either bound it is dropped until the next keyframe (a late consumer
 * then waits for that keyframe). Audio-only streams cache nothing. */
#include "stream/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"

#define GOP_MAX_FRAMES 4096
#define GOP_MAX_BYTES (64u << 20)
#define RATE_BUCKETS 5 /* one-second buckets for the input bitrate */

struct sv_consumer {
    const sv_consumer_ops *ops;
    void *ctx;
    sv_consumer *next;
    bool removed;
};

struct sv_stream {
    sv_registry *reg;
    char *name;
    bool alive;
    const sv_publisher_ops *pub_ops;
    void *pub_ctx;
    char protocol[16];
    char remote[64];
    int64_t since_ms;
    int64_t last_push_mono;
    sv_track tracks[SV_MAX_TRACKS];
    sv_consumer *consumers;
    int dispatching;       /* > 0 while walking consumers */
    bool need_reap;
    sv_frame **gop;        /* GOP cache */
    size_t gop_len, gop_bytes;
    bool gop_valid;        /* cache starts on a keyframe */
    uint64_t bytes_in, frames_in;
    uint32_t publishes;
    uint64_t rate_bytes[RATE_BUCKETS];
    int64_t rate_sec;      /* monotonic second of rate_bytes[rate_sec % N] */
    void *slots[SV_SLOT_COUNT];
    /* media-to-wall-clock anchor */
    bool anchored;
    uint32_t epoch;
    int64_t anchor_dts, anchor_utc, anchor_mono;
    int64_t last_dts[SV_MAX_TRACKS];
    int64_t max_utc; /* latest utc handed out in this publish: re-anchors never go back */
    bool external_clock; /* the input pinned the anchor (camera time): no drift checks */
};

struct sv_registry {
    struct event_base *base;
    sv_stream **v;
    size_t n, cap;
    sv_registry_hooks hooks;
};

sv_registry *sv_registry_new(struct event_base *base)
{
    sv_registry *reg = calloc(1, sizeof *reg);
    if (reg)
        reg->base = base;
    return reg;
}

static void gop_clear(sv_stream *s)
{
    for (size_t i = 0; i < s->gop_len; i++)
        sv_frame_unref(s->gop[i]);
    s->gop_len = 0;
    s->gop_bytes = 0;
    s->gop_valid = false;
}

static void stream_free(sv_stream *s)
{
    gop_clear(s);
    free(s->gop);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&s->tracks[i]);
    sv_consumer *c = s->consumers;
    while (c) {
        sv_consumer *n = c->next;
        free(c);
        c = n;
    }
    free(s->name);
    free(s);
}

void sv_registry_free(sv_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n; i++) {
        sv_stream *s = reg->v[i];
        if (s->alive) {
            if (s->pub_ops && s->pub_ops->kick)
                s->pub_ops->kick(s->pub_ctx);
            sv_stream_unpublish(s);
        }
        if (reg->hooks.on_stream_destroy)
            reg->hooks.on_stream_destroy(reg->hooks.ctx, s);
    }
    for (size_t i = 0; i < reg->n; i++)
        stream_free(reg->v[i]);
    free(reg->v);
    free(reg);
}

void sv_registry_set_hooks(sv_registry *reg, const sv_registry_hooks *hooks)
{
    reg->hooks = *hooks;
}

struct event_base *sv_registry_base(sv_registry *reg) { return reg->base; }

/* Index of name, or -(insertion point) - 1. */
static long reg_search(const sv_registry *reg, const char *name)
{
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(reg->v[mid]->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

sv_stream *sv_registry_find(sv_registry *reg, const char *name)
{
    long i = reg_search(reg, name);
    return i >= 0 ? reg->v[i] : NULL;
}

bool sv_stream_name_valid(const char *name)
{
    size_t len = strlen(name), seg = 0;
    if (len == 0 || len > 200)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '/' || c == '\0') {
            if (seg == 0)
                return false;
            if ((seg == 1 && name[i - 1] == '.') ||
                (seg == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
                return false;
            seg = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
        seg++;
    }
    return true;
}

sv_stream *sv_registry_get(sv_registry *reg, const char *name)
{
    long i = reg_search(reg, name);
    if (i >= 0)
        return reg->v[i];
    if (!sv_stream_name_valid(name))
        return NULL;
    size_t at = (size_t)(-i - 1);
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        sv_stream **v = realloc(reg->v, cap * sizeof *v);
        if (!v)
            return NULL;
        reg->v = v;
        reg->cap = cap;
    }
    sv_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->reg = reg;
    s->tracks[0].type = SV_MEDIA_VIDEO;
    s->tracks[1].type = SV_MEDIA_AUDIO;
    memmove(reg->v + at + 1, reg->v + at, (reg->n - at) * sizeof *reg->v);
    reg->v[at] = s;
    reg->n++;
    if (reg->hooks.on_stream_created)
        reg->hooks.on_stream_created(reg->hooks.ctx, s);
    return s;
}

sv_stream *sv_registry_first(sv_registry *reg) { return reg->n ? reg->v[0] : NULL; }

sv_stream *sv_registry_next(sv_registry *reg, sv_stream *s)
{
    long i = reg_search(reg, s->name);
    return (i >= 0 && (size_t)i + 1 < reg->n) ? reg->v[i + 1] : NULL;
}

size_t sv_registry_count(sv_registry *reg) { return reg->n; }

int sv_stream_publish(sv_registry *reg, const char *name, const char *query,
                      const char *protocol, const char *remote,
                      const sv_publisher_ops *ops, void *ops_ctx, sv_stream **out)
{
    if (!sv_stream_name_valid(name))
        return SV_EINVAL;
    if (reg->hooks.authorize_publish &&
        !reg->hooks.authorize_publish(reg->hooks.ctx, name, query, protocol))
        return SV_EUNSUPPORTED;
    sv_stream *s = sv_registry_get(reg, name);
    if (!s)
        return SV_ENOMEM;
    if (s->alive) {
        if (sv_now_mono_ms() - s->last_push_mono < SV_PUBLISHER_STALE_MS)
            return SV_EEXIST;
        sv_warn(name, "publisher %s silent for %d ms, handing the name to %s", s->remote,
                (int)(sv_now_mono_ms() - s->last_push_mono), remote);
        if (s->pub_ops && s->pub_ops->kick)
            s->pub_ops->kick(s->pub_ctx);
        sv_stream_unpublish(s);
    }
    s->alive = true;
    s->pub_ops = ops;
    s->pub_ctx = ops_ctx;
    snprintf(s->protocol, sizeof s->protocol, "%s", protocol ? protocol : "");
    snprintf(s->remote, sizeof s->remote, "%s", remote ? remote : "");
    s->since_ms = sv_now_utc_ms();
    s->last_push_mono = sv_now_mono_ms();
    s->publishes++;
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&s->tracks[i]);
    s->tracks[0].type = SV_MEDIA_VIDEO;
    s->tracks[1].type = SV_MEDIA_AUDIO;
    sv_info(name, "publish started (%s from %s)", s->protocol, s->remote);
    *out = s;
    if (reg->hooks.on_publish)
        reg->hooks.on_publish(reg->hooks.ctx, s);
    return 0;
}

static void reap(sv_stream *s)
{
    sv_consumer **pp = &s->consumers;
    while (*pp) {
        sv_consumer *c = *pp;
        if (c->removed) {
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
    s->need_reap = false;
}

/* Calls fn for every live consumer; consumers may unsubscribe from inside. */
#define FOR_EACH_CONSUMER(s, c)                                                          \
    for (sv_consumer *c = (s)->consumers; c; c = c->next)                                \
        if (!c->removed)

static void dispatch_end(sv_stream *s)
{
    if (--s->dispatching == 0 && s->need_reap)
        reap(s);
}

void sv_stream_set_tracks(sv_stream *s, const sv_track tracks[SV_MAX_TRACKS])
{
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_track_clear(&s->tracks[i]);
        sv_track_copy(&s->tracks[i], &tracks[i]);
    }
    gop_clear(s);
    s->dispatching++;
    FOR_EACH_CONSUMER(s, c)
    {
        if (c->ops->on_tracks)
            c->ops->on_tracks(c->ctx, s, s->tracks);
    }
    dispatch_end(s);
}

static void gop_add(sv_stream *s, sv_frame *f)
{
    bool has_video = s->tracks[0].codec != SV_CODEC_NONE;
    if (!has_video)
        return;
    if (f->track == 0 && f->key) {
        gop_clear(s);
        s->gop_valid = true;
    }
    if (!s->gop_valid)
        return;
    if (s->gop_len == GOP_MAX_FRAMES || s->gop_bytes + f->len > GOP_MAX_BYTES) {
        gop_clear(s); /* too long a GOP to cache: late consumers wait for a keyframe */
        return;
    }
    if (!s->gop) {
        s->gop = malloc(GOP_MAX_FRAMES * sizeof *s->gop);
        if (!s->gop)
            return;
    }
    s->gop[s->gop_len++] = sv_frame_ref(f);
    s->gop_bytes += f->len;
}

static void anchor(sv_stream *s, int64_t dts, const char *why)
{
    int64_t now = sv_now_utc_ms();
    if (now <= s->max_utc)
        now = s->max_utc + 1;
    if (s->anchored)
        sv_info(s->name, "re-anchoring media clock (%s)", why);
    s->anchored = true;
    s->epoch++;
    s->anchor_dts = dts;
    s->anchor_utc = now;
    s->anchor_mono = sv_now_mono_ms();
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        s->last_dts[i] = INT64_MIN;
}

/* Keeps the anchor honest: timestamp jumps and clock drift start a new epoch. */
static void check_anchor(sv_stream *s, const sv_frame *f)
{
    if (!s->anchored) {
        anchor(s, f->dts, "first frame");
        s->last_dts[f->track % SV_MAX_TRACKS] = f->dts;
        return;
    }
    int64_t last = s->last_dts[f->track % SV_MAX_TRACKS];
    int64_t step_ms = last == INT64_MIN ? 0 : (f->dts - last) / 90;
    int64_t media_ms = (f->dts - s->anchor_dts) / 90;
    int64_t wall_ms = sv_now_mono_ms() - s->anchor_mono;
    if (step_ms < -1000 || step_ms > SV_STREAM_JUMP_MS || media_ms < -1000)
        anchor(s, f->dts, "timestamp jump");
    else if (!s->external_clock &&
             (media_ms - wall_ms > SV_STREAM_DRIFT_MS || wall_ms - media_ms > SV_STREAM_DRIFT_MS))
        anchor(s, f->dts, "drift from the wall clock");
    s->last_dts[f->track % SV_MAX_TRACKS] = f->dts;
    int64_t utc = sv_stream_utc_ms(s, f->dts);
    if (utc > s->max_utc)
        s->max_utc = utc;
}

int64_t sv_stream_utc_ms(const sv_stream *s, int64_t dts)
{
    return s->anchor_utc + (dts - s->anchor_dts) / 90;
}

uint32_t sv_stream_epoch(const sv_stream *s) { return s->epoch; }

void sv_stream_set_clock(sv_stream *s, int64_t dts_ref, int64_t utc_ms)
{
    if (!s->alive)
        return;
    int64_t want = utc_ms - dts_ref / 90; /* utc of dts 0 under the new mapping */
    int64_t have = s->anchor_utc - s->anchor_dts / 90;
    if (s->anchored && s->external_clock && llabs(want - have) <= 1000)
        return; /* the same clock within a second: keep the mapping steady */
    if (s->anchored && llabs(want - have) > 1000) {
        s->epoch++;
        sv_info(s->name, "media clock follows the input's clock (%+lld ms)",
                (long long)(want - have));
    }
    s->anchored = true;
    s->external_clock = true;
    s->anchor_dts = dts_ref;
    s->anchor_utc = utc_ms;
    s->anchor_mono = sv_now_mono_ms();
}

void sv_stream_push(sv_stream *s, sv_frame *f)
{
    if (!s->alive)
        return;
    check_anchor(s, f);
    s->frames_in++;
    s->last_push_mono = sv_now_mono_ms();
    gop_add(s, f);
    s->dispatching++;
    FOR_EACH_CONSUMER(s, c) c->ops->on_frame(c->ctx, s, f);
    dispatch_end(s);
}

void sv_stream_count_in(sv_stream *s, size_t n)
{
    int64_t sec = sv_now_mono_ms() / 1000;
    if (sec != s->rate_sec) {
        int64_t gap = sec - s->rate_sec;
        for (int64_t k = 1; k <= gap && k <= RATE_BUCKETS; k++)
            s->rate_bytes[(s->rate_sec + k) % RATE_BUCKETS] = 0;
        s->rate_sec = sec;
    }
    s->rate_bytes[sec % RATE_BUCKETS] += n;
    s->bytes_in += n;
}

void sv_stream_unpublish(sv_stream *s)
{
    if (!s->alive)
        return;
    s->alive = false;
    s->pub_ops = NULL;
    s->pub_ctx = NULL;
    s->since_ms = 0;
    s->anchored = false; /* the next publish anchors anew (and starts a new epoch) */
    s->external_clock = false;
    gop_clear(s);
    sv_info(s->name, "publish stopped");
    s->dispatching++;
    FOR_EACH_CONSUMER(s, c)
    {
        if (c->ops->on_unpublish)
            c->ops->on_unpublish(c->ctx, s);
    }
    dispatch_end(s);
    if (s->reg->hooks.on_unpublish)
        s->reg->hooks.on_unpublish(s->reg->hooks.ctx, s);
}

sv_consumer *sv_stream_subscribe(sv_stream *s, const sv_consumer_ops *ops, void *ctx)
{
    sv_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ops = ops;
    c->ctx = ctx;
    c->next = s->consumers;
    s->consumers = c;
    if (!s->alive)
        return c;
    s->dispatching++;
    if (ops->on_tracks)
        ops->on_tracks(ctx, s, s->tracks);
    for (size_t i = 0; i < s->gop_len && !c->removed; i++)
        ops->on_frame(ctx, s, s->gop[i]);
    dispatch_end(s);
    return c;
}

void sv_stream_unsubscribe(sv_stream *s, sv_consumer *c)
{
    if (!c)
        return;
    c->removed = true;
    if (s->dispatching)
        s->need_reap = true;
    else
        reap(s);
}

const char *sv_stream_name(const sv_stream *s) { return s->name; }
bool sv_stream_alive(const sv_stream *s) { return s->alive; }
const sv_track *sv_stream_tracks(const sv_stream *s) { return s->tracks; }

void sv_stream_get_stats(const sv_stream *s, sv_stream_stats *st)
{
    memset(st, 0, sizeof *st);
    st->alive = s->alive;
    st->protocol = s->protocol;
    st->remote = s->remote;
    st->since_ms = s->since_ms;
    st->bytes_in = s->bytes_in;
    st->frames_in = s->frames_in;
    st->publishes = s->publishes;
    for (sv_consumer *c = s->consumers; c; c = c->next)
        st->consumers += !c->removed;
    /* average over the complete buckets before the current second */
    int64_t now = sv_now_mono_ms() / 1000;
    uint64_t sum = 0;
    int n = 0;
    for (int k = 1; k < RATE_BUCKETS; k++) {
        int64_t sec = now - k;
        if (sec <= s->rate_sec) /* later seconds saw no bytes at all */
            sum += s->rate_bytes[sec % RATE_BUCKETS];
        n++;
    }
    st->bitrate_bps = (s->alive && n) ? sum * 8 / (uint64_t)n : 0;
}

void *sv_stream_slot(const sv_stream *s, int slot) { return s->slots[slot]; }
void sv_stream_set_slot(sv_stream *s, int slot, void *p) { s->slots[slot] = p; }
