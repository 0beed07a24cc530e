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

/* Y M D h m s ms with the six separators given (no NUL). */
static char *put_time(char *p, const parts *t, const char seps[6])
{
    const int v[7] = {t->y, t->mo, t->d, t->h, t->mi, t->s, t->ms};
    static const int width[7] = {4, 2, 2, 2, 2, 2, 3};
    for (int i = 0; i < 7; i++) {
        p = digits(p, v[i], width[i]);
        if (i < 6)
            *p++ = seps[i];
    }
    return p;
}

/* One entry: [DISCONTINUITY] PROGRAM-DATE-TIME, EXTINF, URI. Returns the end pointer. */
static char *entry(char *p, int64_t start, int64_t dur, bool gap, const char *sfx, size_t slen)
{
    parts t = split(start);
    if (gap) {
        memcpy(p, "#EXT-X-DISCONTINUITY\n", 21);
        p += 21;
    }
    memcpy(p, "#EXT-X-PROGRAM-DATE-TIME:", 25);
    p = put_time(p + 25, &t, "--T::."); /* 2026-11-22T07:11:48.123 */
    memcpy(p, "Z\n#EXTINF:", 10);
    p = digits(p + 10, dur / 1000, 1);
    *p++ = '.';
    p = digits(p, dur % 1000, 3);
    memcpy(p, ",\n", 2);
    p = put_time(p + 2, &t, "////--"); /* URI: 2026/11/22/07/11-48-123_DUR.ts (dvr/layout.h) */
    *p++ = '_';
    p = digits(p, dur, 1);
    memcpy(p, ".ts", 3);
    memcpy(p + 3, sfx, slen);
    p[3 + slen] = '\n';
    return p + 4 + slen;
}

#define ENTRY_MAX 160 /* bytes one entry can take */

int sv_archive_playlist(const sv_catalog_range *spans, size_t n, bool vod, bool ended,
                        const char *uri_suffix, sv_bytes *out)
{
    const char *sfx = uri_suffix ? uri_suffix : "";
    size_t slen = strlen(sfx);
    if (slen > 96)
        return SV_EINVAL;
    int64_t target = 0;
    for (size_t i = 0; i < n; i++)
        if (spans[i].duration_ms > target)
            target = spans[i].duration_ms;
    sv_m3u8_begin(out, vod ? SV_M3U8_VOD : SV_M3U8_EVENT, target, 0);
    if (sv_bytes_reserve(out, n * (ENTRY_MAX + slen) + 32))
        return SV_ENOMEM;
    char *p = (char *)out->p + out->len;
    int64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t start = spans[i].from_ms, dur = spans[i].duration_ms;
        bool gap = i > 0 && start > prev_end + SV_DVR_RANGE_TOLERANCE_MS;
        p = entry(p, start, dur, gap, sfx, slen);
        prev_end = start + dur;
    }
    out->len = (size_t)(p - (char *)out->p);
    if (vod || ended)
        sv_m3u8_end(out);
    return out->failed ? SV_ENOMEM : 0;
}
