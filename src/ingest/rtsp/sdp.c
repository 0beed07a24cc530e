/* SDP parser (see sdp.h): line by line over (buf, len), "type=value" lines with CRLF or
 * LF ends; attributes before the first m= line are session-level, later ones belong to
 * the current media section. Unknown lines are ignored, as RFC 4566 asks. */
#include "ingest/rtsp/sdp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static void copy_field(char *dst, size_t size, const char *p, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Reads a decimal number at *p (bounded by end); -1 if none. */
static long read_num(const char **p, const char *end)
{
    long v = -1;
    while (*p < end && isdigit((unsigned char)**p)) {
        v = (v < 0 ? 0 : v) * 10 + (**p - '0');
        if (v > 100000000)
            return -1;
        (*p)++;
    }
    return v;
}

static int media_line(const char *p, const char *end, sv_sdp_media *m)
{
    memset(m, 0, sizeof *m);
    m->pt = -1;
    m->channels = 1;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
        return SV_EINVAL;
    copy_field(m->type, sizeof m->type, p, (size_t)(sp - p));
    p = sp + 1;
    long port = read_num(&p, end);
    if (port < 0 || port > 65535)
        return SV_EINVAL;
    m->port = (int)port;
    if (p < end && *p == '/') { /* port/count */
        p++;
        read_num(&p, end);
    }
    if (p >= end || *p != ' ')
        return SV_EINVAL;
    p++;
    sp = memchr(p, ' ', (size_t)(end - p)); /* skip the protocol ("RTP/AVP") */
    if (!sp)
        return SV_EINVAL;
    p = sp + 1;
    long pt = read_num(&p, end);
    m->pt = pt >= 0 && pt < 128 ? (int)pt : -1;
    return 0;
}

static void rtpmap(const char *p, const char *end, sv_sdp_media *m)
{
    long pt = read_num(&p, end);
    if (pt != m->pt || p >= end || *p != ' ')
        return;
    p++;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    copy_field(m->encoding, sizeof m->encoding, p, (size_t)((slash ? slash : end) - p));
    if (!slash)
        return;
    p = slash + 1;
    long rate = read_num(&p, end);
    m->clock_rate = rate > 0 ? (int)rate : 0;
    if (p < end && *p == '/') {
        p++;
        long ch = read_num(&p, end);
        m->channels = ch > 0 && ch <= 64 ? (int)ch : 1;
    }
}

static void attribute(const char *p, const char *end, sv_sdp *s, sv_sdp_media *m)
{
    size_t len = (size_t)(end - p);
    if (len >= 8 && !strncasecmp(p, "control:", 8)) {
        if (m)
            copy_field(m->control, sizeof m->control, p + 8, len - 8);
        else
            copy_field(s->control, sizeof s->control, p + 8, len - 8);
    } else if (m && len >= 7 && !strncasecmp(p, "rtpmap:", 7)) {
        rtpmap(p + 7, end, m);
    } else if (m && len >= 5 && !strncasecmp(p, "fmtp:", 5)) {
        const char *q = p + 5;
        long pt = read_num(&q, end);
        if (pt == m->pt && q < end && *q == ' ')
            copy_field(m->fmtp, sizeof m->fmtp, q + 1, (size_t)(end - q - 1));
    }
}

static void static_defaults(sv_sdp_media *m)
{
    if (m->encoding[0] || (m->pt != 0 && m->pt != 8))
        return;
    snprintf(m->encoding, sizeof m->encoding, "%s", m->pt == 0 ? "PCMU" : "PCMA");
    m->clock_rate = 8000;
}

int sv_sdp_parse(const char *buf, size_t len, sv_sdp *out)
{
    memset(out, 0, sizeof *out);
    if (len > SV_SDP_MAX_SIZE)
        return SV_ETOOBIG;
    const char *p = buf, *end = buf + len;
    sv_sdp_media *m = NULL;
    bool skip = false, first = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ve = le > p && le[-1] == '\r' ? le - 1 : le;
        if (ve - p >= 2 && p[1] == '=') {
            if (first && p[0] != 'v')
                return SV_EINVAL;
            first = false;
            if (p[0] == 'm') {
                if (m)
                    static_defaults(m);
                skip = out->nmedia >= SV_SDP_MAX_MEDIA;
                m = skip ? NULL : &out->media[out->nmedia];
                if (m && media_line(p + 2, ve, m))
                    return SV_EINVAL;
                out->nmedia += !skip;
            } else if (p[0] == 'a' && !skip) {
                attribute(p + 2, ve, out, m);
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (first)
        return SV_EINVAL;
    if (m)
        static_defaults(m);
    return 0;
}

int sv_sdp_fmtp_get(const char *fmtp, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *p = fmtp;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t kl = strcspn(p, "=;");
        size_t vl = p[kl] == '=' ? strcspn(p + kl + 1, ";") : 0;
        const char *k = p;
        size_t ktrim = kl;
        while (ktrim && k[ktrim - 1] == ' ')
            ktrim--;
        if (ktrim == nl && !strncasecmp(k, name, nl) && p[kl] == '=') {
            const char *v = p + kl + 1;
            while (vl && *v == ' ')
                v++, vl--;
            while (vl && v[vl - 1] == ' ')
                vl--;
            if (size)
                copy_field(out, size, v, vl);
            return (int)vl;
        }
        p += kl + (p[kl] == '=' ? 1 + vl : 0);
    }
    return -1;
}

sv_codec sv_sdp_codec(const sv_sdp_media *m)
{
    if (!strcasecmp(m->encoding, "H264"))
        return SV_CODEC_H264;
    if (!strcasecmp(m->encoding, "H265") || !strcasecmp(m->encoding, "HEVC"))
        return SV_CODEC_H265;
    if (!strcasecmp(m->encoding, "MPEG4-GENERIC")) {
        char mode[32];
        if (sv_sdp_fmtp_get(m->fmtp, "mode", mode, sizeof mode) < 0 ||
            !strcasecmp(mode, "AAC-hbr") || !strcasecmp(mode, "AAC-lbr"))
            return SV_CODEC_AAC;
        return SV_CODEC_NONE;
    }
    if (!strcasecmp(m->encoding, "PCMA"))
        return SV_CODEC_PCMA;
    if (!strcasecmp(m->encoding, "PCMU"))
        return SV_CODEC_PCMU;
    return SV_CODEC_NONE;
}
