/* libFuzzer target: RTP packets through the jitter buffer into every depacketizer.
 * The input is a sequence of [len16][packet] records; the first byte picks the codec and
 * the jitter-buffer depth. Each access unit handed out must be a well-formed
 * length-prefixed NAL sequence (video) within SV_RTP_MAX_AU. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "ingest/rtsp/rtp.h"
#include "ingest/rtsp/rtp_depack.h"
#include "media/h264.h"

static void on_au(void *ctx, const uint8_t *d, size_t l, uint32_t ts, bool key)
{
    const sv_rtp_depack *dp = ctx;
    if (l == 0 || l > SV_RTP_MAX_AU)
        abort();
    if (dp->codec == SV_CODEC_H264 || dp->codec == SV_CODEC_H265) {
        size_t pos = 0;
        sv_nal nal;
        int rc;
        while ((rc = sv_h264_len4_next(d, l, &pos, &nal)) == 1)
            if (!nal.len)
                abort();
        if (rc < 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sv_codec codecs[] = {SV_CODEC_H264, SV_CODEC_H265, SV_CODEC_AAC,
                                      SV_CODEC_PCMA};
    static const char *const fmtps[] = {"packetization-mode=1", "sprop-max-don-diff=1",
                                        ("mode=AAC-hbr;sizelength=13;indexlength=3;"
                                         "indexdeltalength=3"),
                                        ""};
    if (size < 1)
        return 0;
    int which = data[0] & 3;
    sv_rtp_depack d;
    if (sv_rtp_depack_init(&d, codecs[which], fmtps[which], on_au, &d))
        abort();
    sv_rtp_jb jb;
    sv_rtp_jb_init(&jb, (data[0] >> 2) & 15, 300);
    size_t off = 1;
    int64_t now = 0;
    while (off + 2 <= size) {
        size_t n = sv_rb16(data + off);
        off += 2;
        if (n > size - off)
            n = size - off;
        sv_rtp_hdr h;
        if (sv_rtp_parse(data + off, n, &h) == 0)
            sv_rtp_jb_push(&jb, h.seq, data + off, n, now);
        off += n;
        now += 20;
        const uint8_t *p;
        size_t len;
        uint32_t lost;
        while (sv_rtp_jb_pop(&jb, now, off >= size, &p, &len, &lost))
            if (sv_rtp_parse(p, len, &h) == 0)
                sv_rtp_depack_push(&d, h.payload, h.payload_len, h.ts, h.marker, lost);
    }
    sv_rtp_depack_flush(&d);
    sv_rtp_jb_free(&jb);
    sv_rtp_depack_free(&d);
    return 0;
}
