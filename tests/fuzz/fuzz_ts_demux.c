/* libFuzzer target for format/ts_demux: the input is fed in pieces whose sizes come from
 * the first byte (so both the direct and the carry-buffer paths are exercised), then
 * flushed. Frames are checked to be well-formed length-prefixed payloads (video) and
 * non-empty (audio). Seeds: tests/fuzz/corpus/ts_demux/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "format/ts_demux.h"
#include "media/h264.h"

static void on_tracks(void *ctx, const sv_track *t)
{
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        if (t[i].codec != SV_CODEC_NONE && !t[i].config)
            abort();
}

static int on_frame(void *ctx, sv_frame *f)
{
    if (f->track == 0) {
        size_t pos = 0;
        sv_nal n;
        int rc;
        while ((rc = sv_h264_len4_next(f->data, f->len, &pos, &n)) == 1)
            ;
        if (rc < 0)
            abort();
    } else if (f->len == 0) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] * 3 + 1;
    sv_ts_demux_cb cb = {on_tracks, on_frame, NULL};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    if (!d)
        return 0;
    for (size_t off = 1; off < size; off += chunk)
        sv_ts_demux_feed(d, data + off, size - off < chunk ? size - off : chunk);
    sv_ts_demux_flush(d);
    sv_ts_demux_free(d);
    return 0;
}
