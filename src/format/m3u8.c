/* See m3u8.h. Version 3 playlists (decimal EXTINF), which every player reads. */
#include "format/m3u8.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"

static void put_str(sv_bytes *out, const char *s) { sv_bytes_put(out, s, strlen(s)); }

void sv_m3u8_begin(sv_bytes *out, sv_m3u8_type type, int64_t target_ms, uint64_t media_seq)
{
    char line[160];
    int64_t target = (target_ms + 999) / 1000;
    if (target < 1)
        target = 1;
    snprintf(line, sizeof line,
             "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%lld\n"
             "#EXT-X-MEDIA-SEQUENCE:%llu\n",
             (long long)target, (unsigned long long)media_seq);
    put_str(out, line);
    if (type == SV_M3U8_EVENT)
        put_str(out, "#EXT-X-PLAYLIST-TYPE:EVENT\n");
    else if (type == SV_M3U8_VOD)
        put_str(out, "#EXT-X-PLAYLIST-TYPE:VOD\n");
}

void sv_m3u8_segment(sv_bytes *out, int64_t duration_ms, int64_t pdt_utc_ms,
                     bool discontinuity, const char *uri)
{
    char date[40], line[128];
    if (discontinuity)
        put_str(out, "#EXT-X-DISCONTINUITY\n");
    sv_format_iso8601(pdt_utc_ms, date, sizeof date);
    snprintf(line, sizeof line, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%lld.%03lld,\n", date,
             (long long)(duration_ms / 1000), (long long)(duration_ms % 1000));
    put_str(out, line);
    put_str(out, uri);
    sv_bytes_put_u8(out, '\n');
}

void sv_m3u8_end(sv_bytes *out) { put_str(out, "#EXT-X-ENDLIST\n"); }
