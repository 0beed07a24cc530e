/* Streams: named publishing points and their fan-out.
 *
 * A sv_stream is `app/stream` (e.g. "live/cam1"). It has at most one input (publisher) at
 * a time and any number of consumers (live HLS segmenter, DVR recorder, RTMP players).
 * Ingest pushes frames with sv_stream_push(); the stream hands each frame, borrowed, to
 * every consumer synchronously on the network loop thread. A consumer that keeps a frame
 * takes its own reference (sv_frame_ref). A GOP cache (the frames since the last video
 * keyframe, bounded) is replayed to a consumer that subscribes mid-stream, so it starts on
 * a keyframe.
 *
 * Everything here runs on the network loop thread; nothing is thread-safe unless noted.
 * Streams live in a sv_registry; a stream object outlives its publishers (so its counters
 * and consumers survive a reconnect) and is freed with the registry. */
#ifndef SV_STREAM_STREAM_H
#define SV_STREAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/frame.h"

struct event_base;
typedef struct sv_registry sv_registry;
typedef struct sv_stream sv_stream;
typedef struct sv_consumer sv_consumer;

/* ---- registry ---- */

typedef struct sv_registry_hooks {
    /* A stream object was created (first publish or configured). Subsystems attach their
     * consumers here. */
    void (*on_stream_created)(void *ctx, sv_stream *s);
    /* About to free a stream (registry shutdown). */
    void (*on_stream_destroy)(void *ctx, sv_stream *s);
    /* Publish authorisation: name without query, query string (may be NULL), protocol
     * ("rtmp", "rtsp"). Return true to allow. NULL hook: allow everything. */
    bool (*authorize_publish)(void *ctx, const char *name, const char *query, const char *protocol);
    /* A publisher took the name / left it (after consumers were told). May be NULL. */
    void (*on_publish)(void *ctx, sv_stream *s);
    void (*on_unpublish)(void *ctx, sv_stream *s);
    void *ctx;
} sv_registry_hooks;

sv_registry *sv_registry_new(struct event_base *base);
void sv_registry_free(sv_registry *reg); /* NULL-safe; unpublishes and frees every stream */
void sv_registry_set_hooks(sv_registry *reg, const sv_registry_hooks *hooks);
struct event_base *sv_registry_base(sv_registry *reg);

/* Existing stream by name, or NULL. Borrowed. */
sv_stream *sv_registry_find(sv_registry *reg, const char *name);
/* Stream by name, created (offline) if missing. Borrowed. NULL on OOM or invalid name. */
sv_stream *sv_registry_get(sv_registry *reg, const char *name);
/* Iteration in name order: first/next return borrowed pointers, NULL at the end. */
sv_stream *sv_registry_first(sv_registry *reg);
sv_stream *sv_registry_next(sv_registry *reg, sv_stream *s);
size_t sv_registry_count(sv_registry *reg);

/* True if name is a valid stream name: 1..200 chars of [A-Za-z0-9_.-] segments joined by
 * '/', no empty segment, no "." or ".." segment. */
bool sv_stream_name_valid(const char *name);

/* ---- publishing (ingest side) ---- */

typedef struct sv_publisher_ops {
    /* The registry takes the name away from this publisher (a reconnecting publisher
     * took it over, or shutdown). The input must stop pushing and close itself; it must
     * not call sv_stream_unpublish after this. Called on the loop thread. */
    void (*kick)(void *ctx);
} sv_publisher_ops;

/* Claims `name` for a new input. query: the URL query string (kept for auth), may be
 * NULL. protocol: "rtmp" / "rtsp". remote: "ip:port" of the peer.
 * Returns 0 and *out, SV_EEXIST if another live publisher holds the name (BadName),
 * SV_EINVAL for an invalid name, SV_EUNSUPPORTED if authorize_publish refused.
 * A publisher that has pushed nothing for SV_PUBLISHER_STALE_MS is considered dropped
 * and is kicked in favour of the new one. */
#define SV_PUBLISHER_STALE_MS 3000
int sv_stream_publish(sv_registry *reg, const char *name, const char *query,
                      const char *protocol, const char *remote,
                      const sv_publisher_ops *ops, void *ops_ctx, sv_stream **out);
/* Sets the track set (codec config). Copies the tracks (takes config references).
 * Consumers get on_tracks. Call again when the codec config changes. */
void sv_stream_set_tracks(sv_stream *s, const sv_track tracks[SV_MAX_TRACKS]);
/* Delivers a frame to all consumers. Borrowed: the caller keeps its reference. Frames
 * must be in dts order per track. */
void sv_stream_push(sv_stream *s, sv_frame *f);
/* Accounts n bytes received from the network by the input (for bitrate/bytes_in). */
void sv_stream_count_in(sv_stream *s, size_t n);
/* The input ended. Consumers get on_unpublish. */
void sv_stream_unpublish(sv_stream *s);

/* ---- consuming ---- */

typedef struct sv_consumer_ops {
    /* New track set (borrowed array of SV_MAX_TRACKS; copy what you keep). */
    void (*on_tracks)(void *ctx, sv_stream *s, const sv_track *tracks);
    /* One frame, borrowed. */
    void (*on_frame)(void *ctx, sv_stream *s, sv_frame *f);
    /* The publisher went away (the stream object stays). */
    void (*on_unpublish)(void *ctx, sv_stream *s);
} sv_consumer_ops;

/* Adds a consumer. If the stream is live, on_tracks is called at once and the GOP cache
 * replayed. Returns a handle for unsubscribe, NULL on OOM. */
sv_consumer *sv_stream_subscribe(sv_stream *s, const sv_consumer_ops *ops, void *ctx);
/* Removes a consumer. Safe to call from inside its own callbacks. NULL-safe. */
void sv_stream_unsubscribe(sv_stream *s, sv_consumer *c);

/* ---- state ---- */

const char *sv_stream_name(const sv_stream *s);
bool sv_stream_alive(const sv_stream *s);
/* Current tracks (array of SV_MAX_TRACKS, borrowed). */
const sv_track *sv_stream_tracks(const sv_stream *s);

typedef struct sv_stream_stats {
    bool alive;
    const char *protocol; /* of the current/last input, "" if never published */
    const char *remote;
    int64_t since_ms;      /* UTC ms the current input started, 0 if offline */
    uint64_t bytes_in;     /* total over the stream object's life */
    uint64_t frames_in;
    uint64_t bitrate_bps;  /* input bitrate averaged over the last few seconds */
    uint32_t consumers;
    uint32_t publishes;    /* number of publish sessions so far */
} sv_stream_stats;
void sv_stream_get_stats(const sv_stream *s, sv_stream_stats *st);

/* Media-to-wall-clock anchor (DESIGN.md section 5). The stream anchors media time to the
 * server's UTC clock at the first frame of a publish and re-anchors when the publisher's
 * timestamps jump (more than SV_STREAM_JUMP_MS between consecutive frames of a track, or
 * backwards) or drift from the monotonic clock by more than SV_STREAM_DRIFT_MS. Each
 * (re-)anchor increments the epoch: consumers that see a new epoch start a new segment,
 * and the archive a new range, so durations are never negative and never overlap. */
#define SV_STREAM_JUMP_MS 10000
#define SV_STREAM_DRIFT_MS 30000
int64_t sv_stream_utc_ms(const sv_stream *s, int64_t dts);
/* An input with an authoritative clock (an RTSP camera's time from RTCP sender reports,
 * when the operator asks for it) pins the anchor: utc(dts) = utc_ms + (dts - dts_ref)/90.
 * Drift checks stop for the rest of the publish; a move of more than 1 s from the current
 * mapping starts a new epoch (a new archive range). Ignored while not publishing. */
void sv_stream_set_clock(sv_stream *s, int64_t dts_ref, int64_t utc_ms);
uint32_t sv_stream_epoch(const sv_stream *s);

/* Per-subsystem attachment slots so live/, dvr/ ... can hang state on a stream without
 * the stream knowing them. */
enum { SV_SLOT_LIVE = 0, SV_SLOT_DVR, SV_SLOT_CONF, SV_SLOT_RTSP, SV_SLOT_COUNT };
void *sv_stream_slot(const sv_stream *s, int slot);
void sv_stream_set_slot(sv_stream *s, int slot, void *p);

#endif
