/* See frame.h. */
#include "media/frame.h"

#include <stdlib.h>
#include <string.h>

void sv_track_copy(sv_track *dst, const sv_track *src)
{
    *dst = *src;
    sv_buf_ref(dst->config);
}

void sv_track_clear(sv_track *t)
{
    sv_buf_unref(t->config);
    memset(t, 0, sizeof *t);
}

const char *sv_codec_name(sv_codec c)
{
    switch (c) {
    case SV_CODEC_H264: return "h264";
    case SV_CODEC_H265: return "hevc";
    case SV_CODEC_AAC: return "aac";
    case SV_CODEC_PCMA: return "pcma";
    case SV_CODEC_PCMU: return "pcmu";
    default: return "none";
    }
}

sv_frame *sv_frame_new(size_t len)
{
    sv_frame *f = malloc(sizeof *f + len);
    if (!f)
        return NULL;
    memset(f, 0, sizeof *f);
    atomic_init(&f->refs, 1);
    f->len = len;
    return f;
}

sv_frame *sv_frame_ref(sv_frame *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void sv_frame_unref(sv_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}
