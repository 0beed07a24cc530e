/* RTP depacketizers: RTP payloads in, access units out, in the payload conventions of
 * media/frame.h (video: 4-byte length prefixed NAL units; AAC: raw access units; G.711:
 * raw samples).
 *
 * - H.264 (RFC 6184): single NAL units, STAP-A, FU-A (non-interleaved mode only).
 * - H.265 (RFC 7798): single NAL units, aggregation packets, fragmentation units, with
 *   DONL/DOND fields when sprop-max-don-diff > 0. PACI packets are skipped.
 * - AAC (RFC 3640 mpeg4-generic, AAC-hbr/lbr): AU headers (sizeLength/indexLength/
 *   indexDeltaLength from the fmtp), several AUs per packet and fragmented AUs.
 * - G.711 PCMA/PCMU: one frame per packet.
 * A video access unit ends at the marker bit or when the timestamp changes. The caller
 * reports packet loss with each payload (`lost` from the jitter buffer): the access unit
 * being built is dropped and counted, and video then waits for the next keyframe (the
 * depacketizer also starts on a keyframe; frames skipped before the first one are not
 * counted as lost). In-band SPS/PPS/VPS are kept in the access
 * unit and remembered; `ps_version` changes when they differ from the last ones seen, so
 * the caller can rebuild the track config. Access units are capped at SV_RTP_MAX_AU.
 * No I/O; the output goes to a callback. */
#ifndef SV_INGEST_RTSP_RTP_DEPACK_H
#define SV_INGEST_RTSP_RTP_DEPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "media/frame.h"

#define SV_RTP_MAX_AU (8u << 20)  /* bytes of one access unit */
#define SV_RTP_MAX_PS 512         /* bytes of one remembered parameter set */

/* One access unit: data borrowed for the call; rtp_ts is the RTP timestamp of the AU. */
typedef void (*sv_rtp_au_fn)(void *ctx, const uint8_t *data, size_t len, uint32_t rtp_ts,
                             bool key);

typedef struct sv_rtp_depack {
    sv_codec codec;
    sv_rtp_au_fn emit;
    void *ctx;
    /* access unit being assembled */
    sv_bytes au;
    bool au_open, au_broken, au_key;
    bool au_vcl;       /* a slice is in the AU: later parameter sets are dropped */
    uint32_t au_ts;
    /* fragmented NAL unit (FU-A / FU) or AAC AU being assembled */
    sv_bytes frag;
    bool frag_open;
    bool need_key;     /* video: drop until the next keyframe */
    bool donl;         /* H.265 sprop-max-don-diff > 0 */
    /* AAC fmtp */
    int size_len, index_len, index_delta_len, frame_len;
    /* latest in-band parameter sets */
    sv_bytes vps, sps, pps;
    uint32_t ps_version;
    /* counters */
    uint64_t frames, frames_dropped, packets_bad;
} sv_rtp_depack;

/* fmtp: the SDP fmtp parameters (may be ""). Returns 0, SV_EUNSUPPORTED (codec, or an
 * AAC mode/packetization-mode we do not handle) or SV_EINVAL. */
int sv_rtp_depack_init(sv_rtp_depack *d, sv_codec codec, const char *fmtp, sv_rtp_au_fn emit,
                       void *ctx);
void sv_rtp_depack_free(sv_rtp_depack *d); /* NULL-safe */
/* One RTP payload. lost: packets missing just before this one. Returns 0 or a negative
 * code for a malformed payload (counted in packets_bad; the depacketizer recovers). */
int sv_rtp_depack_push(sv_rtp_depack *d, const uint8_t *payload, size_t len, uint32_t ts,
                       bool marker, uint32_t lost);
/* Emits the access unit in progress, if complete (end of stream). */
void sv_rtp_depack_flush(sv_rtp_depack *d);

#endif
