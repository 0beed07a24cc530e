/* RTSP client media: from SDP media sections to frames in the stream.
 *
 * Tracks: the first supported video and audio media of the SDP become tracks 0 and 1;
 * their codec config comes from the fmtp (sprop-parameter-sets, sprop-vps/sps/pps,
 * config=) or, for video, from in-band parameter sets when the SDP has none. Packets (from
 * '$' frames or the UDP sockets) go through the track's jitter buffer to its depacketizer;
 * each access unit becomes a sv_frame.
 *
 * Time: each track's RTP clock is unwrapped and scaled to 90 kHz; a track starts at the
 * arrival time of its first packet relative to the session's first packet. When RTCP
 * sender reports have arrived for every track, the audio offset is re-derived from the
 * NTP times once so audio and video line up as the camera captured them. Frame dts is
 * the RTP time (cameras send no B-frames; a non-increasing value is bumped to keep dts
 * monotonic). The stream is published once every track has its codec config. */
#include "ingest/rtsp/rtsp_client_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "media/aac.h"
#include "media/h264.h"
#include "media/h265.h"

#define MAX_PS_SDP 8
#define UDP_RCVBUF (1 << 20)

/* Media may arrive before the PLAY answer is read (cameras start sending at once). */
static bool media_ok(const sv_rtsp_client *c)
{
    return c->state == RS_PLAY || c->state == RS_PLAYING;
}

/* ---- codec config ---- */

/* Decodes a comma-separated list of base64 NAL units into out[] (pointers into buf). */
static int b64_list(const char *list, uint8_t *buf, size_t cap, sv_nal *out, int max)
{
    int n = 0;
    size_t used = 0;
    const char *p = list;
    while (*p && n < max) {
        size_t l = strcspn(p, ",");
        if (l && (l + 3) / 4 * 3 <= cap - used) {
            int dl = EVP_DecodeBlock(buf + used, (const unsigned char *)p, (int)l);
            if (dl > 0) {
                for (size_t k = l; k > 0 && p[k - 1] == '='; k--)
                    dl--; /* EVP_DecodeBlock counts padding as bytes */
                out[n++] = (sv_nal){buf + used, (size_t)dl};
                used += (size_t)dl;
            }
        }
        p += l + (p[l] == ',');
    }
    return n;
}

static int config_h264(rs_track *t, const sv_nal *sps, int nsps, const sv_nal *pps, int npps)
{
    sv_bytes b;
    sv_bytes_init(&b);
    int rc = sv_h264_avcc_build(sps, nsps, pps, npps, &b);
    sv_track nt;
    if (!rc)
        rc = b.failed ? SV_ENOMEM : sv_h264_track_from_avcc(b.p, b.len, &nt);
    sv_bytes_free(&b);
    if (rc)
        return rc;
    sv_track_clear(&t->track);
    t->track = nt;
    return 0;
}

static int config_h265(rs_track *t, const sv_nal *vps, int nvps, const sv_nal *sps, int nsps,
                       const sv_nal *pps, int npps)
{
    sv_bytes b;
    sv_bytes_init(&b);
    int rc = sv_h265_hvcc_build(vps, nvps, sps, nsps, pps, npps, &b);
    sv_track nt;
    if (!rc)
        rc = b.failed ? SV_ENOMEM : sv_h265_track_from_hvcc(b.p, b.len, &nt);
    sv_bytes_free(&b);
    if (rc)
        return rc;
    sv_track_clear(&t->track);
    t->track = nt;
    return 0;
}

static int config_from_sdp_video(rs_track *t)
{
    char v[4096];
    uint8_t buf[3 * 4096];
    sv_nal a[MAX_PS_SDP], b[MAX_PS_SDP], d[MAX_PS_SDP];
    if (t->codec == SV_CODEC_H264) {
        if (sv_sdp_fmtp_get(t->fmtp, "sprop-parameter-sets", v, sizeof v) <= 0)
            return SV_ENOTFOUND;
        int n = b64_list(v, buf, sizeof buf, a, MAX_PS_SDP), ns = 0, np = 0;
        for (int i = 0; i < n; i++) {
            int type = a[i].len ? a[i].p[0] & 0x1f : 0;
            if (type == SV_H264_NAL_SPS)
                b[ns++] = a[i];
            else if (type == SV_H264_NAL_PPS)
                d[np++] = a[i];
        }
        return ns && np ? config_h264(t, b, ns, d, np) : SV_ENOTFOUND;
    }
    size_t used = 0;
    int n[3] = {0};
    sv_nal *lists[3] = {a, b, d};
    static const char *const names[3] = {"sprop-vps", "sprop-sps", "sprop-pps"};
    for (int k = 0; k < 3; k++) {
        if (sv_sdp_fmtp_get(t->fmtp, names[k], v, sizeof v) <= 0)
            return SV_ENOTFOUND;
        n[k] = b64_list(v, buf + used, sizeof buf - used, lists[k], MAX_PS_SDP);
        for (int i = 0; i < n[k]; i++)
            used += lists[k][i].len;
    }
    return n[0] && n[1] && n[2] ? config_h265(t, a, n[0], b, n[1], d, n[2]) : SV_ENOTFOUND;
}

static int config_from_sdp_audio(rs_track *t)
{
    if (t->codec == SV_CODEC_PCMA || t->codec == SV_CODEC_PCMU) {
        memset(&t->track, 0, sizeof t->track);
        t->track.codec = t->codec;
        t->track.type = SV_MEDIA_AUDIO;
        t->track.sample_rate = t->clock;
        t->track.channels = 1;
        return 0;
    }
    char hex[64];
    uint8_t asc[16];
    int hl = sv_sdp_fmtp_get(t->fmtp, "config", hex, sizeof hex);
    if (hl <= 0 || hl % 2 || hl / 2 > (int)sizeof asc)
        return SV_EINVAL;
    for (int i = 0; i < hl / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return SV_EINVAL;
        asc[i] = (uint8_t)v;
    }
    return sv_aac_track_from_asc(asc, (size_t)hl / 2, &t->track);
}

/* Rebuilds the video config from in-band parameter sets. Returns true if it changed. */
static bool config_from_inband(rs_track *t)
{
    const sv_rtp_depack *d = &t->dp;
    sv_nal vps = {d->vps.p, d->vps.len}, sps = {d->sps.p, d->sps.len},
           pps = {d->pps.p, d->pps.len};
    t->ps_seen = d->ps_version;
    if (!sps.len || !pps.len || (t->codec == SV_CODEC_H265 && !vps.len))
        return false;
    sv_buf *old = sv_buf_ref(t->track.config);
    int rc = t->codec == SV_CODEC_H264 ? config_h264(t, &sps, 1, &pps, 1)
                                       : config_h265(t, &vps, 1, &sps, 1, &pps, 1);
    bool changed = !rc && (!old || old->len != t->track.config->len ||
                           memcmp(old->data, t->track.config->data, old->len));
    sv_buf_unref(old);
    return changed;
}

/* ---- publishing ---- */

static void on_kick(void *ctx)
{
    sv_rtsp_client *c = ctx;
    c->kicked = true;
    c->stream = NULL;
    rs_fail(c, SV_RTSP_END_KICKED, "another publisher took the stream name");
}

static const sv_publisher_ops publisher_ops = {on_kick};

static bool tracks_ready(const sv_rtsp_client *c)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (c->tracks[i].used && c->tracks[i].track.codec == SV_CODEC_NONE)
            return false;
    return true;
}

static void set_tracks(sv_rtsp_client *c)
{
    sv_track tr[SV_MAX_TRACKS];
    memset(tr, 0, sizeof tr);
    tr[0].type = SV_MEDIA_VIDEO;
    tr[1].type = SV_MEDIA_AUDIO;
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (c->tracks[i].used)
            tr[i] = c->tracks[i].track; /* borrowed: set_tracks copies */
    sv_stream_set_tracks(c->stream, tr);
}

static int publish(sv_rtsp_client *c)
{
    char remote[300];
    snprintf(remote, sizeof remote, "%s:%d", c->url.host, c->url.port);
    int rc = sv_stream_publish(c->reg, c->stream_name, NULL, "rtsp", remote, &publisher_ops, c,
                               &c->stream);
    if (rc) {
        c->stream = NULL;
        rs_fail(c, SV_RTSP_END_ERROR, "cannot publish: %s",
                rc == SV_EEXIST ? "the stream has another live input" : sv_strerror(rc));
        return rc;
    }
    set_tracks(c);
    if (c->cbs.on_playing)
        c->cbs.on_playing(c->ctx);
    return 0;
}

/* ---- frames ---- */

static int64_t to_90k(rs_track *t, uint32_t rtp_ts)
{
    sv_rtsp_client *c = t->c;
    int64_t ext = sv_rtp_unwrap_ts(&t->uw, rtp_ts);
    if (!t->have_first) {
        int64_t now = sv_now_mono_ms();
        if (!c->t0_ms)
            c->t0_ms = now;
        t->have_first = true;
        t->first_ext = ext;
        t->off90 = (now - c->t0_ms) * 90;
        t->last_dts = INT64_MIN;
    }
    return t->off90 + (ext - t->first_ext) * SV_TIMEBASE / t->clock;
}

static void on_au(void *ctx, const uint8_t *data, size_t len, uint32_t rtp_ts, bool key)
{
    rs_track *t = ctx;
    sv_rtsp_client *c = t->c;
    if (!media_ok(c))
        return;
    if (t->idx == 0 && t->dp.ps_version != t->ps_seen && config_from_inband(t) && c->stream) {
        sv_info(c->stream_name, "rtsp: video parameters changed in-band");
        set_tracks(c);
    }
    int64_t pts = to_90k(t, rtp_ts), dts = pts;
    if (t->last_dts != INT64_MIN && dts <= t->last_dts)
        dts = t->last_dts + 1;
    if (!c->stream && (!tracks_ready(c) || publish(c)))
        return;
    t->last_dts = dts;
    sv_frame *f = sv_frame_new(len);
    if (!f)
        return;
    memcpy(f->data, data, len);
    f->track = (uint8_t)t->idx;
    f->codec = t->codec;
    f->key = key;
    f->dts = dts;
    f->pts = pts > dts ? pts : dts;
    if (t->idx == 0) {
        c->frames_video++;
        c->win_frames++;
    }
    sv_stream_push(c->stream, f);
    sv_frame_unref(f);
}

/* ---- tracks ---- */

static int track_init(sv_rtsp_client *c, const sv_sdp_media *m, rs_track *t)
{
    t->codec = sv_sdp_codec(m);
    t->clock = m->clock_rate;
    snprintf(t->fmtp, sizeof t->fmtp, "%s", m->fmtp);
    if (t->codec == SV_CODEC_NONE || t->clock <= 0)
        return SV_EUNSUPPORTED;
    const char *ctl = m->control[0] ? m->control : "";
    if (sv_rtsp_url_join(c->base_url, ctl, t->url, sizeof t->url))
        return SV_ETOOBIG;
    int rc = sv_rtp_depack_init(&t->dp, t->codec, t->fmtp, on_au, t);
    if (rc)
        return rc;
    sv_rtp_jb_init(&t->jb, c->cfg.udp ? 32 : 0, 300);
    if (t->idx == 0)
        config_from_sdp_video(t); /* else: from in-band parameter sets */
    else if (config_from_sdp_audio(t))
        return SV_EINVAL;
    t->used = true;
    return 0;
}

int rs_tracks_from_sdp(sv_rtsp_client *c)
{
    for (int i = 0; i < c->sdp->nmedia; i++) {
        const sv_sdp_media *m = &c->sdp->media[i];
        sv_codec codec = sv_sdp_codec(m);
        int idx = codec == SV_CODEC_H264 || codec == SV_CODEC_H265 ? 0
                  : codec != SV_CODEC_NONE                         ? 1
                                                                   : -1;
        if (idx < 0 || c->tracks[idx].used)
            continue;
        int rc = track_init(c, m, &c->tracks[idx]);
        if (rc) {
            sv_warn(c->stream_name, "rtsp: skipping %s media %s: %s", m->type, m->encoding,
                    sv_strerror(rc));
            sv_rtp_depack_free(&c->tracks[idx].dp);
            sv_track_clear(&c->tracks[idx].track);
        }
    }
    return c->tracks[0].used || c->tracks[1].used ? 0 : SV_EUNSUPPORTED;
}

/* ---- RTP / RTCP ---- */

static void depack(rs_track *t, const uint8_t *pkt, size_t len, uint32_t lost)
{
    sv_rtp_hdr h;
    if (sv_rtp_parse(pkt, len, &h))
        return;
    sv_rtp_depack_push(&t->dp, h.payload, h.payload_len, h.ts, h.marker, lost);
}

static void drain(rs_track *t, int64_t now, bool flush)
{
    const uint8_t *pkt;
    size_t len;
    uint32_t lost;
    while (media_ok(t->c) && sv_rtp_jb_pop(&t->jb, now, flush, &pkt, &len, &lost))
        depack(t, pkt, len, lost);
}

void rs_on_rtp(rs_track *t, const uint8_t *p, size_t len)
{
    sv_rtsp_client *c = t->c;
    sv_rtp_hdr h;
    if (!media_ok(c) || sv_rtp_parse(p, len, &h))
        return;
    int64_t now = sv_now_mono_ms();
    c->packets++;
    c->last_media_ms = now;
    if (sv_rtp_jb_bypass(&t->jb, h.seq)) {
        sv_rtp_depack_push(&t->dp, h.payload, h.payload_len, h.ts, h.marker, 0);
        return;
    }
    if (sv_rtp_jb_push(&t->jb, h.seq, p, len, now) == 0)
        drain(t, now, false);
}

static double ntp_seconds(uint64_t ntp)
{
    return (double)(ntp >> 32) + (double)(ntp & 0xffffffffu) / 4294967296.0;
}

/* Once every track has a sender report, lines audio up with video on the NTP clock. */
static void try_align(sv_rtsp_client *c)
{
    rs_track *v = &c->tracks[0], *a = &c->tracks[1];
    if (c->aligned || !v->used || !a->used || !v->have_sr || !a->have_sr || !v->have_first ||
        !a->have_first)
        return;
    c->aligned = true;
    double fv = ntp_seconds(v->sr_ntp) + (double)(v->first_ext - v->sr_ext) / v->clock;
    double fa = ntp_seconds(a->sr_ntp) + (double)(a->first_ext - a->sr_ext) / a->clock;
    int64_t off = v->off90 + (int64_t)((fa - fv) * SV_TIMEBASE);
    if (off - a->off90 > 10 * SV_TIMEBASE || a->off90 - off > 10 * SV_TIMEBASE) {
        sv_warn(c->stream_name, "rtsp: sender reports disagree by %.1f s, not used",
                (double)(off - a->off90) / SV_TIMEBASE);
        return;
    }
    sv_info(c->stream_name, "rtsp: audio aligned to video by RTCP (%+d ms)",
            (int)((off - a->off90) / 90));
    a->off90 = off;
}

#define NTP_UNIX_OFFSET 2208988800.0 /* seconds from 1900 to 1970 */

/* camera_time: the stream's archive clock follows the camera's RTCP NTP time, taken from
 * the video track (audio when there is no video). */
static void follow_camera_clock(sv_rtsp_client *c, rs_track *t)
{
    rs_track *ref = c->tracks[0].used ? &c->tracks[0] : &c->tracks[1];
    if (!c->cfg.camera_time || t != ref || !t->have_first || !c->stream)
        return;
    int64_t dts = t->off90 + (t->sr_ext - t->first_ext) * SV_TIMEBASE / t->clock;
    double unix_s = ntp_seconds(t->sr_ntp) - NTP_UNIX_OFFSET;
    if (unix_s < 946684800.0) /* before 2000: the camera's clock is not set */
        return;
    sv_stream_set_clock(c->stream, dts, (int64_t)(unix_s * 1000.0));
}

void rs_on_rtcp(rs_track *t, const uint8_t *p, size_t len)
{
    sv_rtcp_sr sr;
    if (!media_ok(t->c) || sv_rtcp_find_sr(p, len, &sr) != 1 || !t->uw.started)
        return;
    t->have_sr = true;
    t->sr_ntp = sr.ntp;
    t->sr_ext = t->uw.ext + (int32_t)(sr.rtp_ts - t->uw.last);
    try_align(t->c);
    follow_camera_clock(t->c, t);
}

void rs_media_tick(sv_rtsp_client *c, int64_t now)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (c->tracks[i].used && c->tracks[i].jb.held)
            drain(&c->tracks[i], now, false);
    if (!c->win_start_ms)
        c->win_start_ms = now;
    int64_t span = now - c->win_start_ms;
    if (span >= 1000) {
        c->fps = (double)c->win_frames * 1000.0 / (double)span;
        c->kbps = (int64_t)(c->win_bytes * 8 / (uint64_t)span);
        c->win_frames = c->win_bytes = 0;
        c->win_start_ms = now;
    }
}

/* ---- UDP ---- */

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                   &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
    rs_track *t = arg;
    sv_rtsp_client *c = t->c;
    static uint8_t buf[SV_RTP_MAX_PACKET]; /* loop thread only */
    for (int i = 0; i < 64 && media_ok(c); i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        if (!same_host(&from, &c->peer))
            continue; /* not from the camera */
        c->bytes += (size_t)n;
        c->win_bytes += (size_t)n;
        if (c->stream)
            sv_stream_count_in(c->stream, (size_t)n);
        if (fd == t->fd[0])
            rs_on_rtp(t, buf, (size_t)n);
        else
            rs_on_rtcp(t, buf, (size_t)n);
    }
}

static int bind_udp(int family, int port)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        len = sizeof *a;
    }
    int sz = UDP_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    if (bind(fd, (struct sockaddr *)&ss, len)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* Binds an even RTP port and the odd RTCP port above it (RFC 3550 11). */
int rs_track_open_udp(rs_track *t)
{
    int family = t->c->peer.ss_family == AF_INET6 ? AF_INET6 : AF_INET;
    rs_track_close(t);
    for (int tries = 0; tries < 32; tries++) {
        int fd0 = bind_udp(family, 0), port = fd0 >= 0 ? local_port(fd0) : -1;
        int fd1 = port > 0 && port % 2 == 0 && port < 65535 ? bind_udp(family, port + 1) : -1;
        if (fd1 < 0) {
            if (fd0 >= 0)
                close(fd0);
            continue;
        }
        t->fd[0] = fd0;
        t->fd[1] = fd1;
        t->local_port = port;
        for (int k = 0; k < 2; k++) {
            t->ev[k] = event_new(t->c->base, t->fd[k], EV_READ | EV_PERSIST, on_udp, t);
            if (!t->ev[k] || event_add(t->ev[k], NULL)) {
                rs_track_close(t);
                return SV_ENOMEM;
            }
        }
        return 0;
    }
    return SV_EIO;
}

void rs_track_close(rs_track *t)
{
    for (int k = 0; k < 2; k++) {
        if (t->ev[k])
            event_free(t->ev[k]);
        t->ev[k] = NULL;
        if (t->fd[k] >= 0)
            close(t->fd[k]);
        t->fd[k] = -1;
    }
}

/* Receiver reports to the camera's RTCP ports: keeps NAT bindings and UDP sessions open. */
void rs_udp_punch(sv_rtsp_client *c)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        rs_track *t = &c->tracks[i];
        if (!t->used || t->fd[1] < 0 || t->server_port <= 0)
            continue;
        struct sockaddr_storage to = c->peer;
        uint16_t port = htons((uint16_t)(t->server_port + 1));
        if (to.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&to)->sin6_port = port;
        else
            ((struct sockaddr_in *)&to)->sin_port = port;
        uint8_t rr[8];
        sv_rtcp_rr_build(0x53565254u + (uint32_t)i, rr);
        if (sendto(t->fd[1], rr, sizeof rr, MSG_DONTWAIT, (struct sockaddr *)&to, c->peer_len) < 0)
            sv_debug(c->stream_name, "rtsp: RTCP RR not sent: %s", strerror(errno));
    }
}
