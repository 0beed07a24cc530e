/* Archive playlists: an HLS media playlist for a window of recorded segments.
 *
 * Pure: (start, duration) spans from the catalog in, m3u8 text out. Each segment carries
 * EXT-X-PROGRAM-DATE-TIME (its UTC start); a gap between segments larger than the range
 * tolerance is an EXT-X-DISCONTINUITY. Segment URIs are the segment's path below its
 * stream, relative to the playlist ("2026/11/22/07/11-48-123_2000.ts", dvr/layout's
 * naming), so the same URIs work for the Flussonic (/{name}/index-...) and Ti Top
 * (/{app}/{stream}/playlist.m3u8) routes. Formatting is hand-rolled (a 24 h window of
 * 2 s segments is 43,200 entries; see docs/benchmarks.md). */
#ifndef SV_ARCHIVE_PLAYLIST_H
#define SV_ARCHIVE_PLAYLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "dvr/catalog.h"

/* Appends the playlist of spans (start order) to out. vod: EXT-X-PLAYLIST-TYPE:VOD and
 * EXT-X-ENDLIST; otherwise an EVENT playlist, ended only when `ended`. uri_suffix (e.g.
 * "?token=...", at most 96 bytes, may be "") follows every segment URI. */
int sv_archive_playlist(const sv_catalog_range *spans, size_t n, bool vod, bool ended,
                        const char *uri_suffix, sv_bytes *out);

#endif
