/* RTMP server: publish (ingest) and play over plain RTMP.
 *
 * One evconnlistener accepts connections; each becomes a session driven by a bufferevent
 * on the registry's loop thread: simple handshake (C0/C1/C2, S0/S1/S2; any C1 digest is
 * accepted, S1 announces no digest), the chunk stream (rtmp_chunk.h), AMF0 commands
 * (connect, releaseStream, FCPublish, createStream, publish, play, FCUnpublish,
 * deleteStream, closeStream), and FLV media (rtmp_flv.h) pushed into the stream registry.
 * The stream name is "{app}/{stream}"; a "?query" on either is stripped from the name and
 * passed to sv_stream_publish for authorisation.
 *
 * Players subscribe to a live stream and receive sequence headers then frames (starting
 * from the GOP cache's keyframe). The output queue is bounded: past
 * SV_RTMP_PLAY_MAX_QUEUED bytes the player skips frames until the next video keyframe
 * (whole GOPs are dropped and counted).
 *
 * Every failure costs only its connection, which is closed with one log line naming the
 * reason: protocol errors, caps (message size, chunk streams, max_connections), the
 * handshake timeout, and the idle timeout (no bytes received) for sessions that are not
 * playing. Not supported: RTMPS/RTMPE/RTMPT, AMF3 object encoding, the complex (digest)
 * handshake for Flash players, multiple streams per connection.
 *
 * All calls on the loop thread. Free the RTMP server before the registry. */
#ifndef SV_INGEST_RTMP_H
#define SV_INGEST_RTMP_H

#include <stddef.h>

#include "stream/stream.h"

struct event_base;

#define SV_RTMP_PLAY_MAX_QUEUED (4u << 20) /* bytes queued to a player before dropping */

typedef struct sv_rtmp_config {
    const char *bind_addr;    /* NULL or "" : all interfaces (0.0.0.0) */
    int port;                 /* 1935 by convention */
    size_t max_connections;   /* 0: 1000 */
    int handshake_timeout_ms; /* accept -> handshake complete; <= 0: 5000 */
    int idle_timeout_ms;      /* no bytes received (not for players); <= 0: 10000 */
} sv_rtmp_config;

typedef struct sv_rtmp_server sv_rtmp_server;

/* Listens on cfg->bind_addr:cfg->port. reg is borrowed and must outlive the server.
 * Returns NULL (reason logged) if it cannot listen or on OOM. */
sv_rtmp_server *sv_rtmp_server_new(struct event_base *base, sv_registry *reg,
                                   const sv_rtmp_config *cfg);
/* Stops listening and closes every session (publishers unpublish, players unsubscribe).
 * NULL-safe. */
void sv_rtmp_server_free(sv_rtmp_server *srv);
/* Current number of sessions. */
size_t sv_rtmp_server_sessions(const sv_rtmp_server *srv);

#endif
