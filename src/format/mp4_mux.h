/* Progressive MP4 writer (ISO/IEC 14496-12/-14/-15): `ftyp`, `moov`, then `mdat`.
 *
 * Built for archive export, where the whole sample table is known before any media byte
 * is sent: the caller first adds every sample's metadata (track, size, dts, pts, key) —
 * no payload — then asks for the header (ftyp + moov + mdat box header) and the exact
 * total size, then writes the payloads itself in the same order. So the Content-Length
 * is known before the first byte, memory is proportional to the sample count (not the
 * media bytes), and any byte range of the file can be produced: header bytes from the
 * built header, payload bytes by locating the sample (sv_mp4_locate).
 *
 * Chunks: each run of consecutive samples of one track is one chunk (stco/co64 offsets,
 * stsc runs), so interleaving follows the caller's order. 64-bit chunk offsets (co64) and
 * a 64-bit mdat size are used when the file exceeds 4 GiB. Timescales: video 90 kHz,
 * audio its sample rate. Composition offsets (ctts, version 1 signed when needed), sync
 * samples (stss, absent when every sample is a sync sample), edit lists so both tracks
 * start together at the earliest presentation time. Optional metadata in
 * `moov/udta/meta/ilst` (title, comment, creation time). Pure: no I/O. */
#ifndef SV_FORMAT_MP4_MUX_H
#define SV_FORMAT_MP4_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "media/frame.h"

typedef struct sv_mp4 sv_mp4;

/* tracks: SV_MAX_TRACKS entries (H.264/H.265 video, AAC audio; absent = SV_CODEC_NONE).
 * Copied. NULL on OOM or if no track is usable. */
sv_mp4 *sv_mp4_new(const sv_track *tracks);
void sv_mp4_free(sv_mp4 *m); /* NULL-safe */

/* Appends one sample's metadata in file order (dts and pts in 90 kHz, as sv_frame). The
 * payload bytes the caller will write later are exactly `size` bytes (for video: the
 * 4-byte-length-prefixed NAL units of frame.h). Returns 0, SV_ENOMEM, SV_EINVAL (unknown
 * track, dts going backwards within a track). */
int sv_mp4_add_sample(sv_mp4 *m, int track, uint32_t size, int64_t dts, int64_t pts, bool key);

typedef struct sv_mp4_meta {
    const char *title;   /* NULL: none */
    const char *comment;
    int64_t creation_utc_ms; /* 0: none */
} sv_mp4_meta;

/* Builds ftyp + moov (+ udta/meta/ilst when meta is not NULL) + the mdat header into out
 * and returns the total file size in *total. Call once, after the last sample. */
int sv_mp4_finish(sv_mp4 *m, const sv_mp4_meta *meta, sv_bytes *out, uint64_t *total);

/* After finish: the index of the sample whose payload contains file offset off (off at or
 * past the header), and the offset of that sample's first byte. SV_EINVAL if off is out
 * of the mdat payload. */
int sv_mp4_locate(const sv_mp4 *m, uint64_t off, size_t *sample, uint64_t *sample_off);
size_t sv_mp4_sample_count(const sv_mp4 *m);
/* Media duration in ms (the longest track, from the edit list start). */
int64_t sv_mp4_duration_ms(const sv_mp4 *m);
/* Track (0 video, 1 audio) and payload size of sample i (file order). 0 or SV_EINVAL. */
int sv_mp4_sample(const sv_mp4 *m, size_t i, int *track, uint32_t *size);
/* After finish: file offset of the first payload byte (= the header's length). */
uint64_t sv_mp4_data_offset(const sv_mp4 *m);

#endif
