/* RTMP commands and the publish/play roles of a session (see rtmp.h, rtmp_session.h).
 *
 * Commands are decoded with the AMF0 DOM (at most CMD_MAX_VALUES values) and answered
 * the way FFmpeg, OBS and the Flash clients expect. publish claims "{app}/{stream}" in
 * the registry and feeds media through the sv_rtmp_media assembler into the stream; play
 * subscribes as a consumer and writes FLV tags to the session, skipping to the next video
 * keyframe when the output queue passes SV_RTMP_PLAY_MAX_QUEUED bytes. It does not do
 * AMF3 object encoding, multiple streams per connection, seek/pause, or authentication
 * beyond passing the query to the registry's authorize hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "ingest/rtmp/amf0.h"
#include "ingest/rtmp/rtmp_session.h"

#define CMD_MAX_VALUES 8
#define CSID_CMD 3
#define CSID_AUDIO 4
#define CSID_STATUS 5
#define CSID_VIDEO 6
#define SERVER_WINDOW 2500000u
#define AGG_MAX_TAGS 4096

/* ---- replies ---- */

static void send_amf(sv_rtmp_session *s, uint32_t csid, uint32_t msid, sv_bytes *b)
{
    if (b->failed)
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory");
    else
        sv_rtmp_sess_send(s, csid, SV_RTMP_MSG_COMMAND_AMF0, msid, 0, b->p, b->len);
    sv_bytes_free(b);
}

static void send_status(sv_rtmp_session *s, const char *level, const char *code,
                        const char *desc)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "onStatus");
    sv_amf_put_number(&b, 0);
    sv_amf_put_null(&b);
    sv_amf_put_object_start(&b);
    sv_amf_put_prop_string(&b, "level", level);
    sv_amf_put_prop_string(&b, "code", code);
    sv_amf_put_prop_string(&b, "description", desc);
    sv_amf_put_object_end(&b);
    send_amf(s, CSID_STATUS, SV_RTMP_STREAM_ID, &b);
}

/* "_result"(txn, null, value) with value a number, or null when num < 0. */
static void send_result(sv_rtmp_session *s, double txn, double num)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "_result");
    sv_amf_put_number(&b, txn);
    sv_amf_put_null(&b);
    if (num >= 0)
        sv_amf_put_number(&b, num);
    else
        sv_amf_put_null(&b);
    send_amf(s, CSID_CMD, 0, &b);
}

static void send_u32(sv_rtmp_session *s, uint8_t type, uint32_t v, int extra)
{
    uint8_t b[5];
    sv_wb32(b, v);
    b[4] = (uint8_t)extra;
    sv_rtmp_sess_send(s, 2, type, 0, 0, b, extra >= 0 ? 5 : 4);
}

/* ---- names ---- */

/* Splits "base?query" into owned strings; trailing '/' stripped from base. */
static int split_query(const char *in, char **base, char **query)
{
    const char *q = strchr(in, '?');
    size_t bl = q ? (size_t)(q - in) : strlen(in);
    while (bl > 0 && in[bl - 1] == '/')
        bl--;
    *base = strndup(in, bl);
    *query = q && q[1] ? strdup(q + 1) : NULL;
    if (!*base || (q && q[1] && !*query)) {
        free(*base);
        free(*query);
        return SV_ENOMEM;
    }
    return 0;
}

/* name = "{app}/{stream}"; query = app's and stream's queries joined by '&' (or NULL). */
static int build_name(sv_rtmp_session *s, const char *stream, char **name, char **query)
{
    char *sbase, *squery;
    if (split_query(stream, &sbase, &squery))
        return SV_ENOMEM;
    size_t nl = strlen(s->app) + 1 + strlen(sbase) + 1;
    *name = malloc(nl);
    *query = NULL;
    if (*name)
        snprintf(*name, nl, "%s/%s", s->app, sbase);
    if (s->app_query && squery) {
        size_t ql = strlen(s->app_query) + 1 + strlen(squery) + 1;
        if ((*query = malloc(ql)))
            snprintf(*query, ql, "%s&%s", s->app_query, squery);
    } else if (s->app_query || squery) {
        *query = strdup(s->app_query ? s->app_query : squery);
    }
    bool oom = !*name || ((s->app_query || squery) && !*query);
    free(sbase);
    free(squery);
    if (oom) {
        free(*name);
        free(*query);
        return SV_ENOMEM;
    }
    return 0;
}

/* ---- connect ---- */

static void cmd_connect(sv_rtmp_session *s, double txn, const sv_amf_value *obj)
{
    const char *app = sv_amf_get_string(obj, "app");
    free(s->app);
    free(s->app_query);
    s->app = s->app_query = NULL;
    if (split_query(app ? app : "", &s->app, &s->app_query)) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory");
        return;
    }
    s->connected = true;
    send_u32(s, SV_RTMP_MSG_WINDOW_ACK_SIZE, SERVER_WINDOW, -1);
    send_u32(s, SV_RTMP_MSG_SET_PEER_BW, SERVER_WINDOW, 2);
    send_u32(s, SV_RTMP_MSG_SET_CHUNK_SIZE, SV_RTMP_OUT_CHUNK, -1);
    s->out_chunk = SV_RTMP_OUT_CHUNK;
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "_result");
    sv_amf_put_number(&b, txn);
    sv_amf_put_object_start(&b);
    sv_amf_put_prop_string(&b, "fmsVer", "FMS/3,0,1,123");
    sv_amf_put_prop_number(&b, "capabilities", 31);
    sv_amf_put_object_end(&b);
    sv_amf_put_object_start(&b);
    sv_amf_put_prop_string(&b, "level", "status");
    sv_amf_put_prop_string(&b, "code", "NetConnection.Connect.Success");
    sv_amf_put_prop_string(&b, "description", "Connection succeeded.");
    sv_amf_put_prop_number(&b, "objectEncoding", 0);
    sv_amf_put_object_end(&b);
    send_amf(s, CSID_CMD, 0, &b);
}

static void cmd_fcpublish(sv_rtmp_session *s, const char *name)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "onFCPublish");
    sv_amf_put_number(&b, 0);
    sv_amf_put_null(&b);
    sv_amf_put_object_start(&b);
    sv_amf_put_prop_string(&b, "code", "NetStream.Publish.Start");
    sv_amf_put_prop_string(&b, "description", name ? name : "");
    sv_amf_put_object_end(&b);
    send_amf(s, CSID_CMD, 0, &b);
}

/* ---- publish ---- */

static void on_media_tracks(void *ctx, const sv_track *t)
{
    sv_rtmp_session *s = ctx;
    if (!s->stream)
        return;
    sv_stream_set_tracks(s->stream, t);
    char v[64] = "none", a[64] = "none";
    if (t[0].codec)
        snprintf(v, sizeof v, "%s %dx%d", sv_codec_name(t[0].codec), t[0].width, t[0].height);
    if (t[1].codec)
        snprintf(a, sizeof a, "%s %d Hz %d ch", sv_codec_name(t[1].codec), t[1].sample_rate,
                 t[1].channels);
    sv_info(s->name, "rtmp %s: tracks: video %s, audio %s", s->remote, v, a);
}

static void on_media_frame(void *ctx, sv_frame *f)
{
    sv_rtmp_session *s = ctx;
    if (s->stream)
        sv_stream_push(s->stream, f);
}

static void kick_cb(void *ctx)
{
    sv_rtmp_session *s = ctx;
    s->stream = NULL; /* the registry took the name back: no unpublish */
    sv_rtmp_sess_close(s, false, SV_LOG_INFO, "kicked: the stream name was taken over");
}

static const sv_publisher_ops publisher_ops = {.kick = kick_cb};

static void publish_refused(sv_rtmp_session *s, int rc)
{
    const char *code = rc == SV_EUNSUPPORTED ? "NetStream.Publish.Rejected"
                                            : "NetStream.Publish.BadName";
    send_status(s, "error", code, rc == SV_EEXIST ? "stream is already being published"
                                                  : "publish refused");
    sv_rtmp_sess_close(s, true, SV_LOG_WARN, "publish refused (%s): %s", code,
                       sv_strerror(rc));
}

static void cmd_publish(sv_rtmp_session *s, const char *stream)
{
    char *name = NULL, *query = NULL;
    if (s->role != SV_RTMP_ROLE_NONE || !s->connected || !stream) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "publish out of sequence or without name");
        return;
    }
    if (build_name(s, stream, &name, &query)) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory");
        return;
    }
    free(s->name);
    s->name = name;
    if (s->media_init)
        sv_rtmp_media_free(&s->media);
    s->media_init = false;
    int rc = sv_stream_name_valid(name) ? 0 : SV_EINVAL;
    if (!rc)
        rc = sv_stream_publish(s->reg, name, query, "rtmp", s->remote, &publisher_ops, s,
                               &s->stream);
    free(query);
    if (rc) {
        s->stream = NULL;
        publish_refused(s, rc);
        return;
    }
    s->role = SV_RTMP_ROLE_PUBLISH;
    s->rd.max_msg = SV_RTMP_MAX_MSG;
    sv_rtmp_media_cb cb = {on_media_tracks, on_media_frame, s};
    sv_rtmp_media_init(&s->media, &cb);
    s->media_init = true;
    sv_rtmp_sess_user_control(s, SV_RTMP_UC_STREAM_BEGIN, SV_RTMP_STREAM_ID);
    send_status(s, "status", "NetStream.Publish.Start", "publishing");
    sv_debug(name, "rtmp %s: publish started", s->remote);
}

/* ---- play ---- */

static void play_send_meta(sv_rtmp_session *s, const sv_track *t)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "onMetaData");
    sv_amf_put_ecma_start(&b, 0);
    if (t[0].codec) {
        sv_amf_put_prop_number(&b, "width", t[0].width);
        sv_amf_put_prop_number(&b, "height", t[0].height);
        sv_amf_put_prop_number(&b, "videocodecid", t[0].codec == SV_CODEC_H264 ? 7 : 12);
        if (t[0].fps_num > 0 && t[0].fps_den > 0)
            sv_amf_put_prop_number(&b, "framerate", (double)t[0].fps_num / t[0].fps_den);
    }
    if (t[1].codec) {
        sv_amf_put_prop_number(&b, "audiocodecid", t[1].codec == SV_CODEC_AAC ? 10 : 7);
        sv_amf_put_prop_number(&b, "audiosamplerate", t[1].sample_rate);
        sv_amf_put_prop_number(&b, "audiochannels", t[1].channels);
    }
    sv_amf_put_object_end(&b);
    if (!b.failed)
        sv_rtmp_sess_send(s, CSID_STATUS, SV_RTMP_MSG_DATA_AMF0, SV_RTMP_STREAM_ID, 0, b.p,
                          b.len);
    sv_bytes_free(&b);
}

static void play_on_tracks(void *ctx, sv_stream *st, const sv_track *t)
{
    sv_rtmp_session *s = ctx;
    if (s->closing)
        return;
    play_send_meta(s, t);
    s->have_video = t[0].codec != SV_CODEC_NONE;
    s->audio_channels = t[1].channels;
    s->wait_key = s->have_video;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_bytes b;
        sv_bytes_init(&b);
        if (t[i].codec && sv_rtmp_flv_seq_header(&t[i], &b) == 0)
            sv_rtmp_sess_send(s, i == 0 ? CSID_VIDEO : CSID_AUDIO,
                              i == 0 ? SV_RTMP_MSG_VIDEO : SV_RTMP_MSG_AUDIO,
                              SV_RTMP_STREAM_ID, 0, b.p, b.len);
        sv_bytes_free(&b);
    }
}

/* Output-queue policy: true if f must be skipped. */
static bool play_skip(sv_rtmp_session *s, const sv_frame *f)
{
    bool key = f->track == 0 && f->key;
    if (s->wait_key && key)
        s->wait_key = false;
    if (sv_rtmp_sess_out_queued(s) > SV_RTMP_PLAY_MAX_QUEUED) {
        if (s->have_video && !s->wait_key) {
            s->wait_key = true;
            s->gops_dropped++;
            if ((s->gops_dropped & (s->gops_dropped - 1)) == 0) /* 1, 2, 4, 8 ... */
                sv_warn(s->name, "rtmp %s: slow player, %llu GOPs dropped so far",
                        s->remote, (unsigned long long)s->gops_dropped);
        }
        if (!s->have_video) {
            s->frames_dropped++;
            return true;
        }
    }
    if (s->wait_key) {
        s->frames_dropped++;
        return true;
    }
    return false;
}

static void play_on_frame(void *ctx, sv_stream *st, sv_frame *f)
{
    sv_rtmp_session *s = ctx;
    if (s->closing || play_skip(s, f))
        return;
    uint8_t hdr[16];
    int hl = sv_rtmp_flv_frame_header(f, s->audio_channels, hdr);
    if (hl < 0)
        return;
    if (!s->play_base_set) {
        s->play_base_set = true;
        s->play_base = f->dts;
    }
    int64_t ms = (f->dts - s->play_base) / 90;
    uint32_t ts = ms < 0 ? 0 : (uint32_t)ms;
    bool v = f->track == 0;
    sv_rtmp_sess_send2(s, v ? CSID_VIDEO : CSID_AUDIO, v ? SV_RTMP_MSG_VIDEO : SV_RTMP_MSG_AUDIO,
                       SV_RTMP_STREAM_ID, ts, hdr, (size_t)hl, f->data, f->len);
}

static void play_on_unpublish(void *ctx, sv_stream *st)
{
    sv_rtmp_session *s = ctx;
    if (s->closing)
        return;
    sv_rtmp_sess_user_control(s, SV_RTMP_UC_STREAM_EOF, SV_RTMP_STREAM_ID);
    send_status(s, "status", "NetStream.Play.UnpublishNotify", "publisher went away");
    s->wait_key = s->have_video;
}

static const sv_consumer_ops player_ops = {play_on_tracks, play_on_frame, play_on_unpublish};

static void cmd_play(sv_rtmp_session *s, const char *stream)
{
    char *name = NULL, *query = NULL;
    if (s->role != SV_RTMP_ROLE_NONE || !s->connected || !stream) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "play out of sequence or without name");
        return;
    }
    if (build_name(s, stream, &name, &query)) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory");
        return;
    }
    free(query);
    free(s->name);
    s->name = name;
    sv_stream *st = sv_stream_name_valid(name) ? sv_registry_find(s->reg, name) : NULL;
    if (!st) {
        send_status(s, "error", "NetStream.Play.StreamNotFound", "no such stream");
        sv_rtmp_sess_close(s, true, SV_LOG_WARN, "play: no such stream");
        return;
    }
    s->role = SV_RTMP_ROLE_PLAY;
    s->play_stream = st;
    sv_rtmp_sess_user_control(s, SV_RTMP_UC_STREAM_BEGIN, SV_RTMP_STREAM_ID);
    send_status(s, "status", "NetStream.Play.Reset", "resetting");
    send_status(s, "status", "NetStream.Play.Start", "playing");
    s->consumer = sv_stream_subscribe(st, &player_ops, s);
    if (!s->consumer) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "out of memory subscribing");
        return;
    }
    sv_info(name, "rtmp %s: play started", s->remote);
}

/* ---- role end / free ---- */

void sv_rtmp_cmd_end_role(sv_rtmp_session *s)
{
    if (s->role == SV_RTMP_ROLE_PUBLISH) {
        if (s->stream) {
            sv_stream_unpublish(s->stream);
            sv_debug(s->name, "rtmp %s: publish ended", s->remote);
        }
        s->stream = NULL;
    } else if (s->role == SV_RTMP_ROLE_PLAY) {
        if (s->consumer)
            sv_stream_unsubscribe(s->play_stream, s->consumer);
        if (s->gops_dropped)
            sv_info(s->name, "rtmp %s: play ended, %llu GOPs (%llu frames) dropped", s->remote,
                    (unsigned long long)s->gops_dropped, (unsigned long long)s->frames_dropped);
        s->consumer = NULL;
        s->play_stream = NULL;
    }
    s->role = SV_RTMP_ROLE_NONE;
}

void sv_rtmp_cmd_free(sv_rtmp_session *s)
{
    if (s->media_init)
        sv_rtmp_media_free(&s->media);
    s->media_init = false;
    free(s->app);
    free(s->app_query);
    free(s->name);
    s->app = s->app_query = s->name = NULL;
}

/* ---- dispatch ---- */

static const char *arg_string(const sv_amf_value *v, int n, int i)
{
    return i < n && v[i].type == SV_AMF_STRING ? v[i].str : NULL;
}

static void dispatch(sv_rtmp_session *s, const sv_amf_value *v, int n)
{
    const char *cmd = v[0].str;
    double txn = v[1].type == SV_AMF_NUMBER ? v[1].num : 0;
    if (!strcmp(cmd, "connect")) {
        cmd_connect(s, txn, n > 2 ? &v[2] : NULL);
    } else if (!strcmp(cmd, "createStream")) {
        send_result(s, txn, SV_RTMP_STREAM_ID);
    } else if (!strcmp(cmd, "releaseStream")) {
        if (txn > 0)
            send_result(s, txn, -1);
    } else if (!strcmp(cmd, "FCPublish")) {
        cmd_fcpublish(s, arg_string(v, n, 3));
    } else if (!strcmp(cmd, "publish")) {
        cmd_publish(s, arg_string(v, n, 3));
    } else if (!strcmp(cmd, "play")) {
        cmd_play(s, arg_string(v, n, 3));
    } else if (!strcmp(cmd, "FCUnpublish") || !strcmp(cmd, "deleteStream") ||
               !strcmp(cmd, "closeStream")) {
        sv_rtmp_cmd_end_role(s);
    } else {
        sv_debug(s->name, "rtmp %s: ignoring command %s", s->remote, cmd);
    }
}

void sv_rtmp_cmd_command(sv_rtmp_session *s, const sv_rtmp_msg *m, const uint8_t *p,
                         size_t len)
{
    sv_amf_value v[CMD_MAX_VALUES];
    int n = sv_amf_decode_all(p, len, v, CMD_MAX_VALUES);
    if (n < 0) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "bad AMF0 command: %s", sv_strerror(n));
        return;
    }
    if (n < 2 || v[0].type != SV_AMF_STRING) {
        sv_amf_free_all(v, n);
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "malformed command");
        return;
    }
    dispatch(s, v, n);
    sv_amf_free_all(v, n);
}

void sv_rtmp_cmd_data(sv_rtmp_session *s, const uint8_t *p, size_t len)
{
    if (s->role != SV_RTMP_ROLE_PUBLISH || !s->media_init)
        return;
    sv_amf_value v[4];
    int n = sv_amf_decode_all(p, len, v, 4);
    if (n < 0) {
        sv_debug(s->name, "rtmp %s: ignoring bad data message: %s", s->remote, sv_strerror(n));
        return;
    }
    int i = 0;
    if (n > 0 && v[0].type == SV_AMF_STRING && !strcmp(v[0].str, "@setDataFrame"))
        i = 1;
    if (i + 1 < n && v[i].type == SV_AMF_STRING && !strcmp(v[i].str, "onMetaData"))
        sv_rtmp_media_metadata(&s->media, &v[i + 1]);
    sv_amf_free_all(v, n);
}

void sv_rtmp_cmd_media(sv_rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *p,
                       size_t len)
{
    if (s->role != SV_RTMP_ROLE_PUBLISH || !s->stream || !s->media_init)
        return;
    int rc = type == SV_RTMP_MSG_VIDEO ? sv_rtmp_media_video(&s->media, ts, p, len)
                                       : sv_rtmp_media_audio(&s->media, ts, p, len);
    if (rc == SV_EUNSUPPORTED) {
        if (!s->warned_codec)
            sv_warn(s->name, "rtmp %s: ignoring unsupported %s codec (tag byte 0x%02x)",
                    s->remote, type == SV_RTMP_MSG_VIDEO ? "video" : "audio", len ? p[0] : 0);
        s->warned_codec = true;
    } else if (rc < 0) {
        sv_rtmp_sess_close(s, false, SV_LOG_WARN, "bad %s data: %s",
                           type == SV_RTMP_MSG_VIDEO ? "video" : "audio", sv_strerror(rc));
    }
}

/* Aggregate: FLV tags (11-byte header, body, 4-byte previous size); tag timestamps are
 * shifted so the first one equals the message timestamp. */
void sv_rtmp_cmd_aggregate(sv_rtmp_session *s, uint32_t ts, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    bool first = true;
    uint32_t base = 0;
    for (int n = 0; n < AGG_MAX_TAGS && len - pos >= 11 && !s->closing; n++) {
        uint8_t type = p[pos] & 0x1f;
        size_t dl = sv_rb24(p + pos + 1);
        uint32_t tts = sv_rb24(p + pos + 4) | (uint32_t)p[pos + 7] << 24;
        if (dl > len - pos - 11)
            break;
        if (first)
            base = tts;
        first = false;
        if (type == SV_RTMP_MSG_AUDIO || type == SV_RTMP_MSG_VIDEO)
            sv_rtmp_cmd_media(s, type, ts + (tts - base), p + pos + 11, dl);
        pos += 11 + dl;
        pos += len - pos >= 4 ? 4 : len - pos;
    }
}
