/* Live HLS: an in-memory segmenter per stream and the playlist over its sliding window.
 *
 * Each stream gets a consumer that muxes frames with the shared TS muxer into segments
 * cut at the first video keyframe at or after the target duration (audio-only streams cut
 * on time). Closed segments are immutable refcounted sv_bufs in a bounded ring (window + a
 * few extra, so a client holding an older playlist still finds its segments). A publisher
 * that drops and comes back, a codec change or a clock re-anchor continues the same
 * playlist after an EXT-X-DISCONTINUITY. All calls are on the loop thread. */
#ifndef SV_LIVE_HLS_H
#define SV_LIVE_HLS_H

#include <stdint.h>

#include "core/buf.h"
#include "stream/stream.h"

typedef struct sv_live sv_live;

typedef struct sv_live_config {
    int segment_ms; /* target segment duration */
    int window;     /* segments listed in the playlist */
} sv_live_config;

sv_live *sv_live_new(const sv_live_config *cfg);
void sv_live_free(sv_live *live); /* after every stream was detached; NULL-safe */
/* Subscribes the segmenter to s (idempotent). */
int sv_live_attach(sv_live *live, sv_stream *s);
void sv_live_detach(sv_live *live, sv_stream *s);

/* Appends the live playlist of s; uri_suffix (e.g. "?token=...", may be "") follows every
 * segment URI. SV_ENOTFOUND if it has no segment yet. */
int sv_live_playlist(sv_live *live, sv_stream *s, const char *uri_suffix, sv_bytes *out);
/* Segment by media sequence number: a new reference, or NULL if it left the window. */
sv_buf *sv_live_segment(sv_live *live, sv_stream *s, uint64_t seq);
/* Viewer accounting: a client (ip + user agent) fetched something of s just now. */
void sv_live_touch_viewer(sv_live *live, sv_stream *s, const char *ip, const char *agent);
/* Distinct clients seen in the last 30 s. */
uint32_t sv_live_viewers(sv_live *live, sv_stream *s);

typedef struct sv_live_stats {
    uint64_t segments;      /* closed so far */
    uint64_t bytes_muxed;
    size_t bytes_held;      /* in the ring */
} sv_live_stats;
void sv_live_get_stats(sv_live *live, sv_stream *s, sv_live_stats *st);

#endif
