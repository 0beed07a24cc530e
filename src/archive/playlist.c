/* See playlist.h. */
#include "archive/playlist.h"

#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "dvr/dvr.h"
#include "format/m3u8.h"

static char *digits(char *p, int64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

typedef struct parts {
    int y, mo, d, h, mi, s, ms;
} parts;

static parts split(int64_t utc_ms)
{
    parts t;
    int64_t sec = utc_ms / 1000, days = sec / 86400, rem = sec % 86400;
    sv_civil_from_days(days, &t.y, &t.mo, &t.d);
    t.h = (int)(rem / 3600);
    t.mi = (int)(rem / 60 % 60);
    t.s = (int)(rem % 60);
    t.ms = (int)(utc_ms % 1000);
    return t;
}

/* One entry: [DISCONTINUITY] PROGRAM-DATE-TIME, EXTINF, URI. Returns the end pointer. */
static char *entry(char *p, int64_t start, int64_t dur, bool gap)
{
    parts t = split(start);
    if (gap) {
        memcpy(p, "#EXT-X-DISCONTINUITY\n", 21);
        p += 21;
    }
    memcpy(p, "#EXT-X-PROGRAM-DATE-TIME:", 25);
    p = digits(p + 25, t.y, 4);
    *p++ = '-';
    p = digits(p, t.mo, 2);
    *p++ = '-';
    p = digits(p, t.d, 2);
    *p++ = 'T';
    p = digits(p, t.h, 2);
    *p++ = ':';
    p = digits(p, t.mi, 2);
    *p++ = ':';
    p = digits(p, t.s, 2);
    *p++ = '.';
    p = digits(p, t.ms, 3);
    memcpy(p, "Z\n#EXTINF:", 10);
    p = digits(p + 10, dur / 1000, 1);
    *p++ = '.';
    p = digits(p, dur % 1000, 3);
    memcpy(p, ",\n", 2);
    p += 2;
    /* URI: YYYY/MM/DD/HH/MM-SS-mmm_DUR.ts (dvr/layout.h) */
    p = digits(p, t.y, 4);
    *p++ = '/';
    p = digits(p, t.mo, 2);
    *p++ = '/';
    p = digits(p, t.d, 2);
    *p++ = '/';
    p = digits(p, t.h, 2);
    *p++ = '/';
    p = digits(p, t.mi, 2);
    *p++ = '-';
    p = digits(p, t.s, 2);
    *p++ = '-';
    p = digits(p, t.ms, 3);
    *p++ = '_';
    p = digits(p, dur, 1);
    memcpy(p, ".ts\n", 4);
    return p + 4;
}

#define ENTRY_MAX 160 /* bytes one entry can take */

int sv_archive_playlist(const sv_catalog_range *spans, size_t n, bool vod, bool ended,
                        sv_bytes *out)
{
    int64_t target = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].duration_ms > target)
            target = spans[i].duration_ms;
    sv_m3u8_begin(out, vod ? SV_M3U8_VOD : SV_M3U8_EVENT, target, 0);
    if (sv_bytes_reserve(out, n * ENTRY_MAX + 32))
        return SV_ENOMEM;
    char *p = (char *)out->p + out->len;
    int64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t start = spans[i].from_ms, dur = spans[i].duration_ms;
        bool gap = i > 0 && start > prev_end + SV_DVR_RANGE_TOLERANCE_MS;
        p = entry(p, start, dur, gap);
        prev_end = start + dur;
    }
    out->len = (size_t)(p - (char *)out->p);
    if (vod || ended)
        sv_m3u8_end(out);
    return out->failed ? SV_ENOMEM : 0;
}
