/* See playlist.h. */
#include "archive/playlist.h"

#include <string.h>

#include "core/error.h"
#include "dvr/dvr.h"
#include "format/m3u8.h"

int sv_archive_playlist(const sv_catalog_seglist *segs, bool vod, bool ended, sv_bytes *out)
{
    int64_t target = 0;
    for (size_t i = 0; i < segs->n; i++)
        if (segs->v[i].duration_ms > target)
            target = segs->v[i].duration_ms;
    sv_m3u8_begin(out, vod ? SV_M3U8_VOD : SV_M3U8_EVENT, target, 0);
    int64_t prev_end = 0;
    for (size_t i = 0; i < segs->n; i++) {
        const sv_catalog_seg *s = &segs->v[i];
        size_t slen = strlen(s->stream);
        /* the path below the stream: "{stream}/YYYY/..." minus "{stream}/" */
        const char *uri = strncmp(s->path, s->stream, slen) == 0 && s->path[slen] == '/'
                              ? s->path + slen + 1
                              : s->path;
        bool gap = i > 0 && s->start_ms > prev_end + SV_DVR_RANGE_TOLERANCE_MS;
        sv_m3u8_segment(out, s->duration_ms, s->start_ms, gap, uri);
        prev_end = s->start_ms + s->duration_ms;
    }
    if (vod || ended)
        sv_m3u8_end(out);
    return out->failed ? SV_ENOMEM : 0;
}
