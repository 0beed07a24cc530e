/* Codec-agnostic media: tracks and frames.
 *
 * A sv_frame is one access unit of one track: dts/pts on a 90 kHz clock, a keyframe flag,
 * and a payload that is never written after creation. It is refcounted so every consumer
 * (live HLS, DVR recorder, players) shares the one copy ingest made.
 *
 * Payload conventions (fixed, whatever the ingest protocol):
 *   H.264/H.265: NAL units each prefixed by a 4-byte big-endian length ("AVCC" style).
 *                Parameter sets may appear in-band; the track's config always has them.
 *   AAC:         one raw access unit (no ADTS header).
 *   G.711:       raw samples.
 *
 * A sv_track describes a track: codec, codec config (avcC / hvcC record or
 * AudioSpecificConfig) and the parameters parsed from it. Tracks are immutable once
 * published to a stream: a codec change publishes a new track set. */
#ifndef SV_MEDIA_FRAME_H
#define SV_MEDIA_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SV_TIMEBASE 90000 /* media clock, ticks per second */

typedef enum {
    SV_CODEC_NONE = 0,
    SV_CODEC_H264,
    SV_CODEC_H265,
    SV_CODEC_AAC,
    SV_CODEC_PCMA,
    SV_CODEC_PCMU,
} sv_codec;

typedef enum { SV_MEDIA_VIDEO = 0, SV_MEDIA_AUDIO = 1 } sv_media_type;

#define SV_MAX_TRACKS 2 /* index 0: video, index 1: audio (either may be absent) */

typedef struct sv_track {
    sv_codec codec;    /* SV_CODEC_NONE: track absent */
    sv_media_type type;
    sv_buf *config;    /* avcC / hvcC record, or AudioSpecificConfig; may be NULL */
    /* video */
    int width, height;
    int profile, level;
    int fps_num, fps_den; /* 0/0 when the stream does not signal it */
    /* audio */
    int sample_rate, channels;
    int aac_object_type;
} sv_track;

/* Copies src into dst taking a new reference on config. */
void sv_track_copy(sv_track *dst, const sv_track *src);
/* Drops the config reference and zeroes the track. */
void sv_track_clear(sv_track *t);
/* Short codec name: "h264", "hevc", "aac", "pcma", "pcmu", "none". */
const char *sv_codec_name(sv_codec c);

typedef struct sv_frame {
    atomic_int refs;
    uint8_t track;   /* 0 video, 1 audio */
    sv_codec codec;
    bool key;        /* video: IDR/IRAP; audio: always true */
    int64_t dts, pts; /* 90 kHz */
    size_t len;
    uint8_t data[];
} sv_frame;

/* New frame with room for len payload bytes (caller fills data before sharing), refs = 1. */
sv_frame *sv_frame_new(size_t len);
sv_frame *sv_frame_ref(sv_frame *f);   /* NULL-safe */
void sv_frame_unref(sv_frame *f);      /* NULL-safe */

#endif
