/* Internal to ingest/rtmp: the session object shared by rtmp.c (connection, handshake,
 * chunk I/O, timers, closing) and rtmp_cmd.c (AMF commands, publish and play roles).
 * Not a public header. */
#ifndef SV_INGEST_RTMP_SESSION_H
#define SV_INGEST_RTMP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/log.h"
#include "ingest/rtmp/rtmp.h"
#include "ingest/rtmp/rtmp_chunk.h"
#include "ingest/rtmp/rtmp_flv.h"

struct bufferevent;
struct event;

typedef enum {
    SV_RTMP_SESS_C0C1 = 0, /* waiting for C0+C1 (1537 bytes) */
    SV_RTMP_SESS_C2,       /* waiting for C2 (1536 bytes) */
    SV_RTMP_SESS_CHUNKS,   /* chunk stream */
} sv_rtmp_sess_state;

typedef enum { SV_RTMP_ROLE_NONE = 0, SV_RTMP_ROLE_PUBLISH, SV_RTMP_ROLE_PLAY } sv_rtmp_role;

#define SV_RTMP_OUT_CHUNK 4096 /* the chunk size we announce on connect */
#define SV_RTMP_STREAM_ID 1    /* the only message stream id createStream hands out */

typedef struct sv_rtmp_session sv_rtmp_session;

struct sv_rtmp_session {
    sv_rtmp_server *srv;
    sv_registry *reg;
    sv_rtmp_session *prev, *next; /* server's list */
    struct bufferevent *bev;
    struct event *tick;     /* 1 s timer: timeouts, flush deadline */
    struct event *free_ev;  /* deferred free after close */
    char remote[64];        /* "ip:port" */
    sv_rtmp_sess_state state;
    sv_rtmp_role role;
    sv_rtmp_reader rd;
    sv_bytes out;           /* scratch for outgoing chunks */
    uint32_t out_chunk;     /* our outgoing chunk size */
    int64_t accepted_ms, last_rx_ms; /* monotonic */
    bool connected;         /* connect command seen */
    bool closing;
    int64_t flush_deadline; /* closing with output pending: free at this time */
    char *app;              /* from connect, query and trailing '/' stripped */
    char *app_query;        /* query of the app, or NULL */
    char *name;             /* stream name once publishing/playing */
    /* publish */
    sv_stream *stream;      /* claimed stream (NULL once unpublished or kicked) */
    sv_rtmp_media media;
    bool media_init;
    bool warned_codec;
    /* play */
    sv_stream *play_stream;
    sv_consumer *consumer;
    bool wait_key;          /* skipping until the next video keyframe */
    bool have_video;        /* the played track set has video */
    int audio_channels;
    bool play_base_set;
    int64_t play_base;      /* dts of the first frame sent */
    uint64_t gops_dropped, frames_dropped;
};

/* rtmp.c */
/* Sends a message as chunks on the session. */
void sv_rtmp_sess_send(sv_rtmp_session *s, uint32_t csid, uint8_t type, uint32_t msid,
                       uint32_t ts, const uint8_t *p, size_t len);
void sv_rtmp_sess_send2(sv_rtmp_session *s, uint32_t csid, uint8_t type, uint32_t msid,
                        uint32_t ts, const uint8_t *p1, size_t l1, const uint8_t *p2,
                        size_t l2);
/* Sends a User Control event with a 4-byte value. */
void sv_rtmp_sess_user_control(sv_rtmp_session *s, uint16_t ev, uint32_t v);
/* Closes the session with one log line (lvl, reason). flush: send pending output first
 * (bounded by a deadline). Ends the publish/play role. Idempotent. */
void sv_rtmp_sess_close(sv_rtmp_session *s, bool flush, sv_log_level lvl, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
size_t sv_rtmp_sess_out_queued(const sv_rtmp_session *s);

/* rtmp_cmd.c */
/* A command message body (AMF0). Closes the session on error. */
void sv_rtmp_cmd_command(sv_rtmp_session *s, const sv_rtmp_msg *m, const uint8_t *p,
                         size_t len);
/* A data message body (AMF0): @setDataFrame / onMetaData. */
void sv_rtmp_cmd_data(sv_rtmp_session *s, const uint8_t *p, size_t len);
/* An audio/video message. */
void sv_rtmp_cmd_media(sv_rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *p,
                       size_t len);
/* An aggregate message (FLV tags). */
void sv_rtmp_cmd_aggregate(sv_rtmp_session *s, uint32_t ts, const uint8_t *p, size_t len);
/* Ends publishing (unpublish unless kicked) or playing. */
void sv_rtmp_cmd_end_role(sv_rtmp_session *s);
/* Frees role state (media assembler, names). */
void sv_rtmp_cmd_free(sv_rtmp_session *s);

#endif
