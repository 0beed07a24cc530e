/* SDP (RFC 4566) as an RTSP DESCRIBE answer: the parts a camera client needs.
 *
 * sv_sdp_parse reads the session-level a=control and every m= section: media type, the
 * first payload type, its a=rtpmap (encoding name, clock rate, channels), a=fmtp
 * parameters and a=control. Static payload types 0 (PCMU) and 8 (PCMA) work without an
 * rtpmap. Strings are copied into the fixed fields of the result (truncated at their
 * size; the whole description is capped at SV_SDP_MAX_SIZE and SV_SDP_MAX_MEDIA sections).
 * sv_sdp_fmtp_get reads one parameter of an fmtp line; sv_sdp_codec maps an rtpmap to
 * our codec. Connection data, bandwidth, timing and attributes we do not use are skipped.
 * Pure: no I/O, no allocation. */
#ifndef SV_INGEST_RTSP_SDP_H
#define SV_INGEST_RTSP_SDP_H

#include <stddef.h>

#include "media/frame.h"

#define SV_SDP_MAX_SIZE 65536
#define SV_SDP_MAX_MEDIA 8

typedef struct sv_sdp_media {
    char type[16];      /* "video", "audio", ... */
    int port;
    int pt;             /* first payload type of the m= line */
    char encoding[32];  /* rtpmap encoding name ("H264", "MPEG4-GENERIC", ...) */
    int clock_rate;     /* 0 if unknown */
    int channels;       /* 1 unless the rtpmap says otherwise */
    char fmtp[4096];    /* fmtp parameters of pt (after "a=fmtp:PT ") */
    char control[512];  /* a=control value, "" if none */
} sv_sdp_media;

typedef struct sv_sdp {
    char control[512];  /* session-level a=control, "" if none */
    int nmedia;
    sv_sdp_media media[SV_SDP_MAX_MEDIA];
} sv_sdp;

/* Parses an SDP body. Returns 0, SV_EINVAL (no v= line first, a malformed m= line) or
 * SV_ETOOBIG (over SV_SDP_MAX_SIZE). Extra m= sections beyond the cap are ignored. */
int sv_sdp_parse(const char *buf, size_t len, sv_sdp *out);
/* Copies the value of parameter `name` (case-insensitive) of an fmtp string into out.
 * Returns the value length or -1 when absent. */
int sv_sdp_fmtp_get(const char *fmtp, const char *name, char *out, size_t size);
/* Our codec for a media section (SV_CODEC_NONE if unsupported). */
sv_codec sv_sdp_codec(const sv_sdp_media *m);

#endif
