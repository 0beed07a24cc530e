/* Internals shared by rtsp_client.c (connection, requests, session state machine) and
 * rtsp_media.c (tracks: UDP sockets, RTP/RTCP in, depacketizing, timestamps, publishing).
 * Not a public header. */
#ifndef SV_INGEST_RTSP_CLIENT_INT_H
#define SV_INGEST_RTSP_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ingest/rtsp/rtp.h"
#include "ingest/rtsp/rtp_depack.h"
#include "ingest/rtsp/rtsp_client.h"
#include "ingest/rtsp/rtsp_proto.h"
#include "ingest/rtsp/sdp.h"

struct event;
struct bufferevent;

typedef enum {
    RS_RESOLVE = 0, RS_CONNECT, RS_OPTIONS, RS_DESCRIBE, RS_SETUP, RS_PLAY, RS_PLAYING, RS_CLOSED
} rs_state;

typedef struct rs_track {
    sv_rtsp_client *c;
    int idx;                   /* stream track index: 0 video, 1 audio */
    bool used;
    sv_codec codec;
    int clock;                 /* RTP clock rate */
    char fmtp[4096];
    char url[SV_RTSP_URL_MAX]; /* SETUP URL */
    int ch;                    /* interleaved RTP channel (RTCP = ch + 1) */
    int fd[2];                 /* UDP RTP / RTCP sockets, -1 if none */
    struct event *ev[2];
    int local_port, server_port; /* UDP: our RTP port, the camera's RTP port */
    sv_rtp_jb jb;
    sv_rtp_depack dp;
    sv_rtp_unwrap uw;
    sv_track track;            /* config built so far (codec NONE until known) */
    uint32_t ps_seen;          /* depacketizer ps_version last turned into config */
    bool have_first, have_sr;
    int64_t first_ext, off90, last_dts;
    uint64_t sr_ntp;
    int64_t sr_ext;
} rs_track;

struct sv_rtsp_client {
    struct event_base *base;
    sv_registry *reg;
    sv_workq *wq;
    sv_rtsp_client_cbs cbs;
    void *ctx;
    char *stream_name;
    sv_rtsp_client_config cfg;
    sv_rtsp_url url;           /* current URL (after redirects) */
    char req_base[SV_RTSP_URL_MAX]; /* URL without credentials */
    char base_url[SV_RTSP_URL_MAX]; /* Content-Base for controls */
    char play_url[SV_RTSP_URL_MAX];
    int redirects;
    rs_state state;
    struct bufferevent *bev;
    struct event *timer, *closer;
    void *resolve_job;
    struct sockaddr_storage peer; /* the camera (RTSP connection) */
    socklen_t peer_len;
    /* request in flight */
    int cseq;
    char method[16];
    char req_url[SV_RTSP_URL_MAX];
    char req_extra[256];      /* extra header lines of the request (re-sent on a 401) */
    int64_t req_sent_ms;
    bool awaiting;
    int auth_tries;
    sv_rtsp_auth auth;
    bool get_parameter;        /* the camera lists GET_PARAMETER in Public */
    char session[256];
    int session_timeout_s;
    int64_t last_keepalive_ms;
    /* media */
    sv_sdp *sdp;
    rs_track tracks[SV_MAX_TRACKS];
    int setup_next;            /* next track index to SETUP */
    sv_stream *stream;         /* published stream, NULL before publish */
    bool kicked, aligned;
    int64_t play_ms, last_media_ms, t0_ms;
    /* stats */
    uint64_t packets, bytes, frames_video;
    uint64_t win_frames, win_bytes;
    int64_t win_start_ms;
    double fps;
    int64_t kbps;
    /* end */
    sv_rtsp_end end_why;
    char end_reason[256];
};

/* rtsp_client.c */
void rs_fail(sv_rtsp_client *c, sv_rtsp_end why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rtsp_media.c */
int rs_tracks_from_sdp(sv_rtsp_client *c);              /* picks media, builds configs */
int rs_track_open_udp(rs_track *t);                     /* binds the RTP/RTCP pair */
void rs_track_close(rs_track *t);
void rs_on_rtp(rs_track *t, const uint8_t *p, size_t len);
void rs_on_rtcp(rs_track *t, const uint8_t *p, size_t len);
void rs_media_tick(sv_rtsp_client *c, int64_t now_ms);  /* jitter buffer timeouts, stats */
void rs_udp_punch(sv_rtsp_client *c);                   /* RTCP RR to the camera's ports */

#endif
