/* RTP and RTCP (RFC 3550) for a receiver: pure header parsers, a small reordering
 * (jitter) buffer and 32-bit timestamp unwrapping.
 *
 * - sv_rtp_parse: fixed header, CSRCs, header extension and padding -> payload bounds.
 * - sv_rtcp_find_sr: walks a compound RTCP packet for a sender report (NTP <-> RTP time).
 * - sv_rtp_jb: packets go in by sequence number (copied), come out in order. A hole is
 *   waited for until `depth` packets are held behind it or the oldest held packet is
 *   `max_wait_ms` old; then the hole is declared lost and reported with the next packet.
 *   Duplicates and packets older than the output point are dropped and counted; a jump
 *   of more than SV_RTP_JB_SLOTS restarts the sequence (a camera restarting its stream).
 *   depth 0 (TCP) hands packets out at once and reports gaps.
 * - sv_rtp_unwrap: extends a 32-bit RTP timestamp to 64 bits across wrap-around.
 * Packet sizes are capped at SV_RTP_MAX_PACKET. */
#ifndef SV_INGEST_RTSP_RTP_H
#define SV_INGEST_RTSP_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_RTP_MAX_PACKET 65536
#define SV_RTP_JB_SLOTS 128 /* power of two */

typedef struct sv_rtp_hdr {
    int pt;
    bool marker;
    uint16_t seq;
    uint32_t ts, ssrc;
    const uint8_t *payload; /* borrowed from the packet */
    size_t payload_len;
} sv_rtp_hdr;

/* Parses an RTP packet. Returns 0 or SV_EINVAL (not version 2, truncated, bad padding). */
int sv_rtp_parse(const uint8_t *pkt, size_t len, sv_rtp_hdr *out);

typedef struct sv_rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp;    /* 32.32 fixed point seconds since 1900 */
    uint32_t rtp_ts;
} sv_rtcp_sr;

/* Finds the first sender report in a compound RTCP packet. Returns 1 (out set), 0 (none),
 * or SV_EINVAL (malformed). */
int sv_rtcp_find_sr(const uint8_t *pkt, size_t len, sv_rtcp_sr *out);
/* Writes a receiver report (no report blocks) for ssrc into out (8 bytes). */
void sv_rtcp_rr_build(uint32_t ssrc, uint8_t out[8]);

typedef struct sv_rtp_jb_slot {
    bool used;
    uint16_t seq;
    int64_t arrival_ms;
    uint8_t *data; /* owned, capacity cap */
    size_t len, cap;
} sv_rtp_jb_slot;

typedef struct sv_rtp_jb {
    int depth;          /* packets held behind a hole before giving up on it */
    int max_wait_ms;    /* age of the oldest held packet before giving up on a hole */
    bool started;
    uint16_t next_seq;  /* next sequence number to hand out */
    int held;
    uint64_t lost, late, dups, resets;
    uint8_t *out;       /* the packet last returned (owned) */
    size_t out_cap;
    sv_rtp_jb_slot slot[SV_RTP_JB_SLOTS];
} sv_rtp_jb;

void sv_rtp_jb_init(sv_rtp_jb *jb, int depth, int max_wait_ms);
void sv_rtp_jb_free(sv_rtp_jb *jb);
/* Queues a copy of pkt with sequence number seq. Returns 0, SV_ETOOBIG or SV_ENOMEM
 * (the packet is dropped; the buffer stays consistent). Late/duplicate: 0, counted. */
int sv_rtp_jb_push(sv_rtp_jb *jb, uint16_t seq, const uint8_t *pkt, size_t len, int64_t now_ms);
/* True when a packet with sequence number seq may skip the buffer: nothing is held and
 * it is the next one expected (or the first). The buffer then expects seq + 1. */
bool sv_rtp_jb_bypass(sv_rtp_jb *jb, uint16_t seq);
/* Next packet in order: returns 1 with *pkt (valid until the next call) and *lost (packets
 * skipped just before it), or 0 when nothing is ready. flush: give up on every hole. */
int sv_rtp_jb_pop(sv_rtp_jb *jb, int64_t now_ms, bool flush, const uint8_t **pkt, size_t *len,
                  uint32_t *lost);

typedef struct sv_rtp_unwrap {
    bool started;
    uint32_t last;
    int64_t ext;
} sv_rtp_unwrap;

/* Extended timestamp of ts (the first value maps to itself). */
int64_t sv_rtp_unwrap_ts(sv_rtp_unwrap *u, uint32_t ts);

#endif
