/* Segment timing shared by the live HLS segmenter and the DVR recorder.
 *
 * Both cut a stream into segments that start at a video keyframe (any frame for an
 * audio-only stream) and need the same bookkeeping: where the segment started, the last
 * frame of the timing track (video, else audio), the frame interval to close a segment
 * whose successor never comes, and the clock epoch it belongs to. Pure, loop thread. */
#ifndef SV_STREAM_CUT_H
#define SV_STREAM_CUT_H

#include <stdbool.h>
#include <stdint.h>

#include "media/frame.h"

#define SV_CUT_DEFAULT_GAP 3600 /* 40 ms at 90 kHz, when no interval was seen */

typedef struct sv_cut {
    bool has_video;   /* the timing track is video */
    int64_t start_dts; /* first frame of the current segment */
    int64_t last_dts;  /* latest frame of the timing track */
    int64_t gap;       /* latest interval between timing-track frames, 0 if unknown */
    uint32_t epoch;    /* the stream's clock epoch at the segment start */
} sv_cut;

/* True when f may start a segment. */
static inline bool sv_cut_boundary(const sv_cut *c, const sv_frame *f)
{
    return c->has_video ? (f->track == 0 && f->key) : true;
}

/* A segment starts at f. */
static inline void sv_cut_begin(sv_cut *c, const sv_frame *f, uint32_t epoch)
{
    c->start_dts = f->dts;
    c->gap = 0;
    c->epoch = epoch;
}

/* Accounts f (after it was written to the segment). */
static inline void sv_cut_track(sv_cut *c, const sv_frame *f)
{
    if (c->has_video && f->track != 0)
        return;
    if (f->dts > c->last_dts && c->last_dts >= c->start_dts)
        c->gap = f->dts - c->last_dts;
    c->last_dts = f->dts;
}

/* Media time just past the last frame: where a segment ends when nothing follows. */
static inline int64_t sv_cut_end(const sv_cut *c)
{
    return c->last_dts + (c->gap ? c->gap : SV_CUT_DEFAULT_GAP);
}

/* Segment length so far at frame time dts (90 kHz). */
static inline int64_t sv_cut_elapsed(const sv_cut *c, int64_t dts) { return dts - c->start_dts; }

#endif
