/* MPEG-TS demuxer: 188-byte packets in, sv_frames out (the inverse of ts_mux.h).
 *
 * Pure and incremental: feed any number of bytes; callbacks fire as PAT/PMT and complete
 * PES packets are parsed. Reads what ts_mux writes and what common encoders write
 * (H.264, H.265, AAC in ADTS). Output frames follow frame.h conventions: video payload
 * converted from Annex B to 4-byte length prefixes with AUDs dropped; AAC with ADTS
 * headers stripped (one frame per AAC access unit, pts interpolated for several per PES).
 * Track config is built from the stream itself: avcC/hvcC from in-band parameter sets,
 * AudioSpecificConfig from the ADTS header; on_tracks fires once both are known (or once
 * the first video keyframe with parameter sets / first audio frame has been seen) and
 * again if they change. Timestamps are unwrapped to monotonic int64 90 kHz.
 * Garbage between packets is skipped by resyncing on 0x47. */
#ifndef SV_FORMAT_TS_DEMUX_H
#define SV_FORMAT_TS_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#include "media/frame.h"

typedef struct sv_ts_demux sv_ts_demux;

typedef struct sv_ts_demux_cb {
    /* tracks: array of SV_MAX_TRACKS, borrowed. */
    void (*on_tracks)(void *ctx, const sv_track *tracks);
    /* f is borrowed; take a reference to keep it. Return non-zero to stop the demuxer
     * (sv_ts_demux_feed then returns that value). */
    int (*on_frame)(void *ctx, sv_frame *f);
    void *ctx;
} sv_ts_demux_cb;

sv_ts_demux *sv_ts_demux_new(const sv_ts_demux_cb *cb);
void sv_ts_demux_free(sv_ts_demux *d); /* NULL-safe */
/* Feeds bytes. Returns 0, a callback's non-zero stop value, or SV_ENOMEM. Malformed
 * packets are skipped and counted, never fatal. */
int sv_ts_demux_feed(sv_ts_demux *d, const uint8_t *buf, size_t len);
/* Flushes the last pending PES (end of file). */
int sv_ts_demux_flush(sv_ts_demux *d);
/* Packets skipped as malformed so far. */
uint64_t sv_ts_demux_errors(const sv_ts_demux *d);

#endif
