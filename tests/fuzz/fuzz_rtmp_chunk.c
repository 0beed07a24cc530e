/* libFuzzer target: the RTMP chunk reader fed in pieces whose size comes from the first
 * input byte (as a socket would deliver them), with the completed audio/video messages
 * passed through the FLV media assembler. Checks that the parser's three outcomes are
 * respected (consumed bytes never exceed the input) and that nothing leaks or crashes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "ingest/rtmp/rtmp_chunk.h"
#include "ingest/rtmp/rtmp_flv.h"

static void on_tracks(void *ctx, const sv_track *t) { (void)ctx, (void)t; }
static void on_frame(void *ctx, sv_frame *f) { (void)ctx, (void)f; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] & 0x7f) + 1;
    bool raised = data[0] & 0x80;
    data++, size--;
    sv_rtmp_reader r;
    if (sv_rtmp_reader_init(&r))
        return 0;
    if (raised)
        r.max_msg = SV_RTMP_MAX_MSG;
    sv_rtmp_media m;
    sv_rtmp_media_cb cb = {on_tracks, on_frame, NULL};
    sv_rtmp_media_init(&m, &cb);
    size_t start = 0, end = 0;
    bool dead = false;
    while (start < size && !dead) {
        end = end + step < size ? end + step : size;
        while (start < end) {
            sv_rtmp_msg msg;
            bool have;
            int rc = sv_rtmp_reader_parse(&r, data + start, end - start, &msg, &have);
            if (rc == SV_ENEEDMORE)
                break;
            if (rc < 0) {
                dead = true;
                break;
            }
            if ((size_t)rc > end - start)
                abort();
            start += (size_t)rc;
            if (have && msg.type == SV_RTMP_MSG_VIDEO)
                sv_rtmp_media_video(&m, msg.timestamp, msg.data, msg.len);
            else if (have && msg.type == SV_RTMP_MSG_AUDIO)
                sv_rtmp_media_audio(&m, msg.timestamp, msg.data, msg.len);
            uint32_t seq;
            sv_rtmp_reader_ack_due(&r, &seq);
        }
        if (end == size)
            break;
    }
    sv_rtmp_media_flush(&m);
    sv_rtmp_media_free(&m);
    sv_rtmp_reader_free(&r);
    return 0;
}
