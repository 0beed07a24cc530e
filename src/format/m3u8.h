/* HLS media playlist writer (RFC 8216), shared by live HLS and archive playback.
 * Pure: appends text to a sv_bytes. Durations in milliseconds, times in UTC ms. */
#ifndef SV_FORMAT_M3U8_H
#define SV_FORMAT_M3U8_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum { SV_M3U8_LIVE, SV_M3U8_EVENT, SV_M3U8_VOD } sv_m3u8_type;

/* Header. target_ms: the longest segment duration (rounded up to whole seconds as
 * EXT-X-TARGETDURATION requires). */
void sv_m3u8_begin(sv_bytes *out, sv_m3u8_type type, int64_t target_ms, uint64_t media_seq);
/* One segment: optional EXT-X-DISCONTINUITY, EXT-X-PROGRAM-DATE-TIME, EXTINF, URI. */
void sv_m3u8_segment(sv_bytes *out, int64_t duration_ms, int64_t pdt_utc_ms,
                     bool discontinuity, const char *uri);
/* EXT-X-ENDLIST. */
void sv_m3u8_end(sv_bytes *out);

#endif
