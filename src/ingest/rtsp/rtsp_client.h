/* RTSP client: pulls one camera into one stream.
 *
 * A client runs one session: resolve the host (worker pool), connect, OPTIONS, DESCRIBE
 * (Basic/Digest authentication on a 401, up to 5 redirects on a 3xx with Location), SETUP
 * of the first supported video and audio media (RTP over TCP interleaved, or over UDP),
 * PLAY, then keep-alive (GET_PARAMETER when the camera lists it, else OPTIONS) at half
 * the session timeout. RTP goes through a jitter buffer, a depacketizer and timestamp
 * mapping (rtsp_media.c) and is published into the registry as protocol "rtsp" once the
 * codec config of every track is known (from the SDP or in-band).
 *
 * The session ends on any error, on no media for media_timeout_ms, or, over UDP, on no
 * packet within udp_timeout_ms of PLAY; the owner then gets on_closed (from a deferred
 * event, so it may free the client inside) with the reason, and decides about
 * reconnecting. A client never reconnects by itself. Closing costs only this session.
 * Loop thread only. */
#ifndef SV_INGEST_RTSP_CLIENT_H
#define SV_INGEST_RTSP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/workq.h"
#include "media/frame.h"
#include "stream/stream.h"

struct event_base;
typedef struct sv_rtsp_client sv_rtsp_client;

typedef struct sv_rtsp_client_config {
    const char *url;        /* rtsp://[user:pass@]host[:port]/path (copied) */
    const char *stream;     /* stream name to publish (copied) */
    bool udp;               /* RTP over UDP instead of TCP interleaved */
    int media_timeout_ms;   /* <= 0: 5000 */
    int udp_timeout_ms;     /* <= 0: 3000 */
    int request_timeout_ms; /* <= 0: 10000 */
    bool camera_time;       /* archive time from the camera's RTCP sender reports */
} sv_rtsp_client_config;

/* Why a session ended (the reason text says more). */
typedef enum {
    SV_RTSP_END_ERROR = 0,  /* connection, protocol or camera error */
    SV_RTSP_END_AUTH,       /* 401 with our credentials, or no credentials */
    SV_RTSP_END_NO_MEDIA,   /* media timeout */
    SV_RTSP_END_UDP,        /* UDP did not work: retry over TCP */
    SV_RTSP_END_KICKED,     /* another publisher took the stream name */
} sv_rtsp_end;

typedef struct sv_rtsp_client_cbs {
    void (*on_playing)(void *ctx);                 /* published: media is flowing */
    void (*on_closed)(void *ctx, sv_rtsp_end why, const char *reason);
} sv_rtsp_client_cbs;

typedef struct sv_rtsp_client_stats {
    bool playing, udp;
    uint64_t packets_lost, frames_lost, packets, bytes;
    double fps;          /* video frames per second over the last second */
    int64_t kbps;        /* received bits over the last second / 1000 */
    int width, height;
    sv_codec codecs[SV_MAX_TRACKS];
} sv_rtsp_client_stats;

/* Starts a session at once. reg and wq are borrowed and must outlive the client. NULL on
 * OOM or an invalid URL (reason logged). */
sv_rtsp_client *sv_rtsp_client_new(struct event_base *base, sv_registry *reg, sv_workq *wq,
                                   const sv_rtsp_client_config *cfg,
                                   const sv_rtsp_client_cbs *cbs, void *ctx);
/* Sends TEARDOWN (best effort), unpublishes and frees. No callback afterwards. NULL-safe. */
void sv_rtsp_client_free(sv_rtsp_client *c);
void sv_rtsp_client_get_stats(const sv_rtsp_client *c, sv_rtsp_client_stats *st);

#endif
