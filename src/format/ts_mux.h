/* MPEG-TS muxer (ITU-T H.222.0): frames in, 188-byte packets out.
 *
 * Pure: writes into a caller-owned sv_bytes, no I/O. One muxer per output (a live HLS
 * rendition or a DVR recording); continuity counters run on across segments.
 * PIDs: PMT 0x1000, video 0x100, audio 0x101; program number 1. PCR rides on the video
 * PID (audio when there is no video) and is sent on every keyframe and at least every
 * 40 ms of media time. Video: each access unit gets an AUD; keyframes get the parameter
 * sets from the track config (SPS/PPS, plus VPS for H.265) unless already in-band;
 * payload converted from 4-byte length prefixes to Annex B start codes. AAC: each frame
 * gets an ADTS header built from the track's AudioSpecificConfig. DTS is written only when
 * it differs from PTS. Timestamps are 90 kHz (sv_frame), wrapped to 33 bits. */
#ifndef SV_FORMAT_TS_MUX_H
#define SV_FORMAT_TS_MUX_H

#include "core/buf.h"
#include "media/frame.h"

#define SV_TS_PACKET 188
#define SV_TS_PID_PMT 0x1000
#define SV_TS_PID_VIDEO 0x100
#define SV_TS_PID_AUDIO 0x101

typedef struct sv_ts_mux sv_ts_mux;

sv_ts_mux *sv_ts_mux_new(void);
void sv_ts_mux_free(sv_ts_mux *m); /* NULL-safe */
/* Sets the track set (array of SV_MAX_TRACKS; copied, config refs taken). Tracks with an
 * unsupported codec are left out of the PMT. Returns SV_EUNSUPPORTED if none is usable. */
int sv_ts_mux_set_tracks(sv_ts_mux *m, const sv_track *tracks);
/* Appends PAT + PMT. Call at the start of every segment. */
void sv_ts_mux_write_tables(sv_ts_mux *m, sv_bytes *out);
/* Appends one frame as a PES. Frames of tracks not in the PMT are ignored (return 0).
 * Returns 0, SV_EINVAL on a malformed payload, SV_ENOMEM. */
int sv_ts_mux_write_frame(sv_ts_mux *m, const sv_frame *f, sv_bytes *out);

/* PCR is written as DTS minus this many 90 kHz ticks (40 ms), never going backwards, so
 * a decoder has a little time to receive a frame before it is due. A PCR-only packet is
 * also sent on the video PID when audio runs 100 ms (the H.222.0 limit) past the last
 * PCR because video is sparse. */
#define SV_TS_PCR_DELAY 3600
/* MPEG-2 CRC-32 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor) as used
 * in PSI sections; a section including its CRC checks to 0. */
uint32_t sv_ts_crc32(const uint8_t *p, size_t len);

#endif
