/* FLV tag bodies as carried in RTMP audio/video messages <-> sv_track / sv_frame.
 *
 * Parsing (pure, over (buf, len)): legacy video tags (AVC codec id 7; codec id 12, the
 * common non-standard HEVC extension, with the same layout), Enhanced RTMP video tags
 * (ExVideoTagHeader with FourCC 'hvc1' or 'avc1', packet types SequenceStart,
 * CodedFrames, CodedFramesX, SequenceEnd), audio tags (AAC sound format 10, G.711 A-law 7
 * and mu-law 8).
 *
 * sv_rtmp_media is the per-publisher assembler on top of that: it turns sequence headers
 * into tracks (configs rewritten to 4-byte NAL lengths), NAL payloads into frames with
 * 4-byte length prefixes (converting from 1/2/3-byte lengths), unwraps the 32-bit
 * millisecond timestamps to int64 and converts to 90 kHz (pts = dts + composition time),
 * and decides when the track set is complete: once every track announced by onMetaData
 * (videocodecid/audiocodecid; both when there was no metadata) has its config, or after
 * SV_RTMP_TRACK_WAIT_MS of frames / SV_RTMP_MAX_PENDING frames without it, whichever
 * comes first. Frames that arrive before that are held (bounded) and delivered after
 * on_tracks. A config change later republishes the track set. Output goes through
 * callbacks, so it has no I/O and is unit-testable.
 *
 * Writing (for RTMP playback): FLV tag bodies for sequence headers and frames.
 *
 * Not handled: other codecs (VP6, Sorenson, MP3, Speex, AV1, VP9, Opus: reported as
 * SV_EUNSUPPORTED), multitrack Enhanced RTMP, AMF metadata packets inside video. */
#ifndef SV_INGEST_RTMP_FLV_H
#define SV_INGEST_RTMP_FLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "ingest/rtmp/amf0.h"
#include "media/frame.h"

#define SV_RTMP_TRACK_WAIT_MS 1000 /* wait this long for a missing config */
#define SV_RTMP_MAX_PENDING 512    /* frames held while waiting */

typedef enum {
    SV_RTMP_PKT_SEQ = 0,   /* codec configuration record */
    SV_RTMP_PKT_FRAME,     /* coded frame */
    SV_RTMP_PKT_EOS,       /* end of sequence */
    SV_RTMP_PKT_IGNORE,    /* command frame, metadata, ...: nothing to do */
} sv_rtmp_pkt;

typedef struct sv_rtmp_flv_tag {
    sv_codec codec;
    sv_rtmp_pkt pkt;
    bool key;            /* video frame type 1; audio: always */
    int32_t cts;         /* composition time offset, ms (video) */
    int channels;        /* G.711: from the sound type bit */
    const uint8_t *data; /* config record or frame payload, borrowed from the input */
    size_t len;
} sv_rtmp_flv_tag;

/* Parse a video / audio message body. Return 0, SV_EINVAL (truncated or malformed) or
 * SV_EUNSUPPORTED (codec we do not handle; out->codec is SV_CODEC_NONE). */
int sv_rtmp_flv_parse_video(const uint8_t *p, size_t len, sv_rtmp_flv_tag *out);
int sv_rtmp_flv_parse_audio(const uint8_t *p, size_t len, sv_rtmp_flv_tag *out);

/* NAL units with nls-byte (1..4) big-endian lengths -> a new frame (refs = 1, owned by
 * the caller) whose payload uses 4-byte lengths. Empty NAL units are dropped. Returns 0
 * (*out NULL if there was no NAL unit), SV_EINVAL if a length runs past the end,
 * SV_ENOMEM. */
int sv_rtmp_flv_nalus_to_frame(const uint8_t *p, size_t len, int nls, sv_frame **out);

typedef struct sv_rtmp_media_cb {
    /* New/changed track set (array of SV_MAX_TRACKS, borrowed). */
    void (*on_tracks)(void *ctx, const sv_track *tracks);
    /* A frame, borrowed (take a reference to keep it). */
    void (*on_frame)(void *ctx, sv_frame *f);
    void *ctx;
} sv_rtmp_media_cb;

typedef struct sv_rtmp_media {
    sv_rtmp_media_cb cb;
    sv_track tracks[SV_MAX_TRACKS]; /* configs known so far (owned) */
    int nal_len_size;               /* of the video config */
    bool expect[SV_MAX_TRACKS];     /* tracks we wait for before publishing */
    bool have_meta;
    bool published;                 /* on_tracks was called */
    sv_frame **pending;             /* frames held until published (owned refs) */
    size_t npending;
    bool ts_init;                   /* timestamp unwrap */
    uint32_t ts_last;
    int64_t ts_ext;
    int meta_width, meta_height;    /* onMetaData fallbacks (0: unknown) */
    double meta_fps;
    uint64_t dropped;               /* frames dropped (no config yet, or queue full) */
} sv_rtmp_media;

void sv_rtmp_media_init(sv_rtmp_media *m, const sv_rtmp_media_cb *cb);
void sv_rtmp_media_free(sv_rtmp_media *m); /* drops held frames and tracks */
/* One RTMP video/audio message body with its 32-bit millisecond timestamp. Returns 0,
 * SV_EINVAL (malformed tag/config), SV_EUNSUPPORTED (codec not handled; the message is
 * ignored), SV_ENOMEM. */
int sv_rtmp_media_video(sv_rtmp_media *m, uint32_t ts, const uint8_t *p, size_t len);
int sv_rtmp_media_audio(sv_rtmp_media *m, uint32_t ts, const uint8_t *p, size_t len);
/* onMetaData object (OBJECT or ECMA_ARRAY, borrowed): which tracks to expect, and
 * width/height/framerate fallbacks. */
void sv_rtmp_media_metadata(sv_rtmp_media *m, const sv_amf_value *meta);
/* Publishes whatever tracks are known (end of publishing, or a caller's timeout). */
void sv_rtmp_media_flush(sv_rtmp_media *m);
/* Milliseconds -> int64, unwrapping 32-bit wrap (and small backward steps) relative to
 * the previous timestamp. */
int64_t sv_rtmp_media_unwrap(sv_rtmp_media *m, uint32_t ts);

/* ---- writing tag bodies (playback) ---- */

/* Sequence header tag body for a track (AVC/HEVC config record, AAC ASC) appended to out.
 * Returns 0, SV_EUNSUPPORTED (codec or no config), SV_ENOMEM. */
int sv_rtmp_flv_seq_header(const sv_track *t, sv_bytes *out);
/* Tag body header for frame f (the payload follows unchanged). Returns its length
 * (<= 16) or SV_EUNSUPPORTED. */
int sv_rtmp_flv_frame_header(const sv_frame *f, int channels, uint8_t hdr[16]);

#endif
