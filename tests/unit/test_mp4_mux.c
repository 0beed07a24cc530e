/* Unit tests for format/mp4_mux.
 *
 * Real files: the ffmpeg-made fixtures (H.264+AAC 1 s, H.265 0.4 s) are demuxed with our
 * ts_demux, muxed to a real .mp4 (header from sv_mp4_finish + the frame payloads) and
 * checked with ffprobe/ffmpeg: codecs, size, packet counts, every packet's pts/dts/key
 * equal to the input (relative to the first video dts), audio and video starting together,
 * `ffmpeg -v error -f null -` silent, metadata tags read back, moov before mdat.
 * Box level: run-length stts (one entry for constant frame rate), ctts only with B-frames,
 * stss absent for audio, a synthetic 5.9 GiB sample table switching to co64 and a 64-bit
 * mdat size with the right offsets (metadata only), sv_mp4_locate on every byte of a
 * sample boundary. Errors: unknown track, dts going backwards, no usable track. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "format/mp4_mux.h"
#include "format/ts_demux.h"
#include "media/aac.h"

#include "fixtures/fix_h264_aac.h"
#include "fixtures/fix_h265.h"

#define MAXF 1024

typedef struct rec {
    sv_frame *f[MAXF];
    int n;
    sv_track tracks[SV_MAX_TRACKS];
} rec;

static void on_tracks(void *ctx, const sv_track *t)
{
    rec *r = ctx;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_track_clear(&r->tracks[i]);
        sv_track_copy(&r->tracks[i], &t[i]);
    }
}

static int on_frame(void *ctx, sv_frame *f)
{
    rec *r = ctx;
    assert_true(r->n < MAXF);
    r->f[r->n++] = sv_frame_ref(f);
    return 0;
}

static rec *demux(const uint8_t *buf, size_t len)
{
    rec *r = calloc(1, sizeof *r);
    sv_ts_demux_cb cb = {on_tracks, on_frame, r};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    assert_int_equal(sv_ts_demux_feed(d, buf, len), 0);
    assert_int_equal(sv_ts_demux_flush(d), 0);
    sv_ts_demux_free(d);
    return r;
}

static void rec_free(rec *r)
{
    for (int i = 0; i < r->n; i++)
        sv_frame_unref(r->f[i]);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&r->tracks[i]);
    free(r);
}

/* Muxes r to path; returns the finished muxer (caller frees) and the header in *hdr. */
static sv_mp4 *mux_to_file(rec *r, const char *path, const sv_mp4_meta *meta, sv_bytes *hdr)
{
    sv_mp4 *m = sv_mp4_new(r->tracks);
    uint64_t total = 0, written = 0;
    assert_non_null(m);
    for (int i = 0; i < r->n; i++)
        assert_int_equal(sv_mp4_add_sample(m, r->f[i]->track, (uint32_t)r->f[i]->len,
                                           r->f[i]->dts, r->f[i]->pts, r->f[i]->key), 0);
    sv_bytes_init(hdr);
    assert_int_equal(sv_mp4_finish(m, meta, hdr, &total), 0);
    assert_int_equal(sv_mp4_data_offset(m), hdr->len);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    written += fwrite(hdr->p, 1, hdr->len, fp);
    for (int i = 0; i < r->n; i++)
        written += fwrite(r->f[i]->data, 1, r->f[i]->len, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(written, total);
    return m;
}

/* Finds the box at path "moov/trak/..." in buf (the nth trak); NULL if absent. */
static const uint8_t *find_box(const uint8_t *p, size_t len, const char *path, int nth,
                               size_t *blen)
{
    for (size_t off = 0; off + 8 <= len;) {
        size_t sz = sv_rb32(p + off);
        if (sz < 8 || off + sz > len)
            return NULL;
        if (memcmp(p + off + 4, path, 4) == 0 &&
            !(memcmp(path, "trak", 4) == 0 && nth-- > 0)) {
            if (!path[4]) {
                *blen = sz;
                return p + off;
            }
            size_t skip = memcmp(path, "meta", 4) == 0 ? 12 : 8;
            return find_box(p + off + skip, sz - skip, path + 5, nth, blen);
        }
        off += sz;
    }
    return NULL;
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += k;
    out[n] = 0;
    pclose(p);
    return out;
}

typedef struct tmpf {
    char dir[64], path[128];
} tmpf;

static void tmp_init(tmpf *t, const char *name)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/test_mp4_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
}

static void tmp_done(tmpf *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

static void assert_decodes_cleanly(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
    char *out = run(cmd);
    assert_string_equal(out, "");
    free(out);
}

typedef struct pkt {
    int stream;
    long long pts, dts;
    int key;
} pkt;

/* ffprobe's packets of path, in file order; returns the count. */
static int probe_packets(const char *path, pkt *out, int max)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -show_entries packet=stream_index,pts,dts,flags -of csv=p=0 %s",
             path);
    char *txt = run(cmd), *save = NULL;
    int n = 0;
    for (char *l = strtok_r(txt, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
        char flags[8] = "";
        if (sscanf(l, "%d,%lld,%lld,%7s", &out[n].stream, &out[n].pts, &out[n].dts, flags) == 4) {
            out[n].key = flags[0] == 'K';
            n++;
        }
    }
    free(txt);
    return n;
}

static void h264_aac_probe_matches_input(void **st)
{
    tmpf t;
    sv_bytes hdr;
    sv_mp4_meta meta = {"Gate 4", "exported by test", 1700000000000};
    rec *r = demux(fix_h264_aac_ts, sizeof fix_h264_aac_ts);
    tmp_init(&t, "a.mp4");
    sv_mp4 *m = mux_to_file(r, t.path, &meta, &hdr);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -show_entries stream=codec_name,codec_tag_string,"
             "width,height,nb_frames,sample_rate:format_tags=title,comment,date -of compact %s",
             t.path);
    char *s = run(cmd);
    assert_non_null(strstr(s, "stream|codec_name=h264|codec_tag_string=avc1|width=320|height=240|nb_frames=25"));
    assert_non_null(strstr(s, "stream|codec_name=aac|codec_tag_string=mp4a|sample_rate=44100|nb_frames=45"));
    assert_non_null(strstr(s, "tag:title=Gate 4"));
    assert_non_null(strstr(s, "tag:comment=exported by test"));
    assert_non_null(strstr(s, "tag:date=2023-11-14T22:13:20Z"));
    free(s);

    static pkt p[256];
    int n = probe_packets(t.path, p, 256), nv = 0, na = 0;
    assert_int_equal(n, FIX_H264_AAC_NB_VIDEO + FIX_H264_AAC_NB_AUDIO);
    long long v0 = 0;
    for (int i = 0; i < n; i++)
        if (p[i].stream == 0) {
            v0 = p[i].dts;
            break;
        }
    for (int i = 0; i < n; i++) {
        if (p[i].stream == 0) { /* exact, 90 kHz, relative to the first dts */
            assert_int_equal(p[i].pts - v0, fix_h264_aac_video[nv][0] - fix_h264_aac_video[0][1]);
            assert_int_equal(p[i].dts - v0, fix_h264_aac_video[nv][1] - fix_h264_aac_video[0][1]);
            assert_int_equal(p[i].key, fix_h264_aac_video[nv][2]);
            nv++;
        } else { /* audio in 1/44100: within 1 ms of the input, A/V offset kept */
            long long a90 = p[i].pts * 90000 / 44100 - v0;
            long long want = fix_h264_aac_audio_pts[na] - fix_h264_aac_video[0][1];
            assert_true(llabs(a90 - want) <= 90);
            na++;
        }
    }
    assert_int_equal(nv, FIX_H264_AAC_NB_VIDEO);
    assert_int_equal(na, FIX_H264_AAC_NB_AUDIO);
    assert_decodes_cleanly(t.path);

    /* layout: ftyp, moov, mdat in that order; mdat right after the header */
    size_t fl, ml;
    assert_memory_equal(hdr.p + 4, "ftyp", 4);
    const uint8_t *moov = find_box(hdr.p, hdr.len, "moov", 0, &ml);
    assert_ptr_equal(moov, hdr.p + sv_rb32(hdr.p));
    assert_memory_equal(hdr.p + hdr.len - 4, "mdat", 4);
    /* constant frame rate: one stts run; B-frames: ctts; audio: one run, no stss */
    const uint8_t *b = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stts", 0, &fl);
    assert_non_null(b);
    assert_int_equal(sv_rb32(b + 12), 1);
    assert_int_equal(sv_rb32(b + 20), 3600);
    assert_non_null(find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/ctts", 0, &fl));
    assert_non_null(find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stss", 0, &fl));
    b = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stts", 1, &fl);
    assert_non_null(b);
    assert_int_equal(sv_rb32(b + 12), 1);
    assert_int_equal(sv_rb32(b + 20), 1024);
    assert_null(find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stss", 1, &fl));
    assert_null(find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/co64", 0, &fl));
    /* duration: audio 45 frames of 1024 at 44.1 kHz is the longest track */
    assert_int_equal(sv_mp4_duration_ms(m), 1045);

    sv_bytes_free(&hdr);
    sv_mp4_free(m);
    rec_free(r);
    tmp_done(&t);
}

static void h265_probe(void **st)
{
    tmpf t;
    sv_bytes hdr;
    rec *r = demux(fix_h265_ts, sizeof fix_h265_ts);
    tmp_init(&t, "b.mp4");
    sv_mp4 *m = mux_to_file(r, t.path, NULL, &hdr);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -show_entries stream=codec_name,codec_tag_string,"
             "width,height,nb_frames -of compact %s", t.path);
    char *s = run(cmd);
    assert_non_null(strstr(s, "stream|codec_name=hevc|codec_tag_string=hvc1|width=320|height=240|nb_frames=10"));
    assert_null(strstr(s, "aac"));
    free(s);
    static pkt p[64];
    int n = probe_packets(t.path, p, 64);
    assert_int_equal(n, FIX_H265_NB_VIDEO);
    for (int i = 0; i < n; i++) {
        assert_int_equal(p[i].pts - p[0].dts, fix_h265_video[i][0] - fix_h265_video[0][1]);
        assert_int_equal(p[i].key, fix_h265_video[i][2]);
    }
    assert_decodes_cleanly(t.path);
    size_t fl;
    const uint8_t *ft = find_box(hdr.p, hdr.len, "ftyp", 0, &fl);
    assert_non_null(ft);
    assert_non_null(memmem(ft, fl, "hvc1", 4));
    assert_null(find_box(hdr.p, hdr.len, "moov/udta", 0, &fl));
    sv_bytes_free(&hdr);
    sv_mp4_free(m);
    rec_free(r);
    tmp_done(&t);
}

static sv_mp4 *synthetic(void)
{
    static const uint8_t avcc[] = {1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f,
                                   1, 0, 2, 0x68, 0xeb};
    static const uint8_t asc[] = {0x12, 0x10};
    sv_track tr[SV_MAX_TRACKS];
    memset(tr, 0, sizeof tr);
    tr[0] = (sv_track){.codec = SV_CODEC_H264, .type = SV_MEDIA_VIDEO, .width = 1920, .height = 1080};
    tr[0].config = sv_buf_from(avcc, sizeof avcc);
    assert_int_equal(sv_aac_track_from_asc(asc, sizeof asc, &tr[1]), 0);
    sv_mp4 *m = sv_mp4_new(tr);
    sv_track_clear(&tr[0]);
    sv_track_clear(&tr[1]);
    return m;
}

/* 3000 video samples of 2 MiB (5.9 GiB) interleaved with audio: co64 and a 64-bit mdat. */
static void large_file_uses_co64(void **st)
{
    sv_mp4 *m = synthetic();
    sv_bytes hdr;
    uint64_t total = 0, payload = 0;
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(sv_mp4_add_sample(m, 0, 2u << 20, i * 3600LL, i * 3600LL, i % 50 == 0), 0);
        assert_int_equal(sv_mp4_add_sample(m, 1, 300, i * 3600LL, i * 3600LL, true), 0);
        payload += (2u << 20) + 300;
    }
    sv_bytes_init(&hdr);
    assert_int_equal(sv_mp4_finish(m, NULL, &hdr, &total), 0);
    assert_true(total > (5ULL << 30));
    assert_int_equal(total, hdr.len + payload);
    size_t fl;
    assert_null(find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stco", 0, &fl));
    const uint8_t *co = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/co64", 0, &fl);
    assert_non_null(co);
    assert_int_equal(sv_rb32(co + 12), 3000);
    uint64_t last = (uint64_t)sv_rb32(co + 16 + 8 * 2999) << 32 | sv_rb32(co + 20 + 8 * 2999);
    assert_int_equal(last, hdr.len + 2999ULL * ((2u << 20) + 300));
    co = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/co64", 1, &fl);
    assert_non_null(co);
    uint64_t a1 = (uint64_t)sv_rb32(co + 16 + 8) << 32 | sv_rb32(co + 20 + 8);
    assert_int_equal(a1, hdr.len + (2u << 20) + 300 + (2u << 20));
    /* mdat: size 1 + largesize covering the payload */
    const uint8_t *md = hdr.p + hdr.len - 16;
    assert_int_equal(sv_rb32(md), 1);
    assert_memory_equal(md + 4, "mdat", 4);
    assert_int_equal((uint64_t)sv_rb32(md + 8) << 32 | sv_rb32(md + 12), payload + 16);
    /* stss: 60 keyframes; stsc: every chunk holds one sample */
    const uint8_t *ss = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stss", 0, &fl);
    assert_non_null(ss);
    assert_int_equal(sv_rb32(ss + 12), 60);
    assert_int_equal(sv_rb32(ss + 16 + 4), 51);
    const uint8_t *sc = find_box(hdr.p, hdr.len, "moov/trak/mdia/minf/stbl/stsc", 0, &fl);
    assert_int_equal(sv_rb32(sc + 12), 1);
    /* locate a byte past 4 GiB */
    size_t s;
    uint64_t so;
    uint64_t want = hdr.len + 2500ULL * ((2u << 20) + 300);
    assert_int_equal(sv_mp4_locate(m, want + 10, &s, &so), 0);
    assert_int_equal(s, 5000);
    assert_int_equal(so, want);
    assert_int_equal(sv_mp4_duration_ms(m), 120000);
    sv_bytes_free(&hdr);
    sv_mp4_free(m);
}

static void locate_every_boundary(void **st)
{
    sv_mp4 *m = synthetic();
    sv_bytes hdr;
    uint64_t total, off[300];
    uint32_t sz[300];
    for (int i = 0; i < 300; i++) {
        sz[i] = (uint32_t)(i % 7 == 3 ? 0 : 100 + i * 13 % 511);
        assert_int_equal(sv_mp4_add_sample(m, i % 3 == 0 ? 1 : 0, sz[i], i * 1800LL, i * 1800LL, i % 30 == 1), 0);
    }
    sv_bytes_init(&hdr);
    assert_int_equal(sv_mp4_finish(m, NULL, &hdr, &total), 0);
    off[0] = hdr.len;
    for (int i = 1; i < 300; i++)
        off[i] = off[i - 1] + sz[i - 1];
    size_t s;
    uint64_t so;
    for (int i = 0; i < 300; i++) {
        if (!sz[i])
            continue;
        assert_int_equal(sv_mp4_locate(m, off[i], &s, &so), 0);
        assert_int_equal(s, i);
        assert_int_equal(so, off[i]);
        assert_int_equal(sv_mp4_locate(m, off[i] + sz[i] - 1, &s, &so), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(sv_mp4_locate(m, hdr.len - 1, &s, &so), SV_EINVAL);
    assert_int_equal(sv_mp4_locate(m, total, &s, &so), SV_EINVAL);
    int tr;
    uint32_t size;
    assert_int_equal(sv_mp4_sample(m, 3, &tr, &size), 0);
    assert_int_equal(tr, 1);
    assert_int_equal(size, 0);
    sv_bytes_free(&hdr);
    sv_mp4_free(m);
}

static void errors(void **st)
{
    sv_track none[SV_MAX_TRACKS];
    memset(none, 0, sizeof none);
    assert_null(sv_mp4_new(none));
    none[0].codec = SV_CODEC_H264; /* no config: unusable */
    assert_null(sv_mp4_new(none));
    sv_mp4 *m = synthetic();
    sv_bytes hdr;
    uint64_t total;
    sv_bytes_init(&hdr);
    assert_int_equal(sv_mp4_finish(m, NULL, &hdr, &total), SV_EINVAL); /* no samples */
    assert_int_equal(sv_mp4_add_sample(m, 2, 10, 0, 0, true), SV_EINVAL);
    assert_int_equal(sv_mp4_add_sample(m, 0, 10, 9000, 9000, true), 0);
    assert_int_equal(sv_mp4_add_sample(m, 0, 10, 8999, 9000, false), SV_EINVAL);
    assert_int_equal(sv_mp4_add_sample(m, 1, 10, 100, 100, true), 0); /* other track: ok */
    assert_int_equal(sv_mp4_finish(m, NULL, &hdr, &total), 0);
    assert_int_equal(sv_mp4_finish(m, NULL, &hdr, &total), SV_EINVAL);
    assert_int_equal(sv_mp4_add_sample(m, 0, 10, 99000, 99000, true), SV_EINVAL);
    sv_bytes_free(&hdr);
    sv_mp4_free(m);
    sv_mp4_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(h264_aac_probe_matches_input),
        cmocka_unit_test(h265_probe),
        cmocka_unit_test(large_file_uses_co64),
        cmocka_unit_test(locate_every_boundary),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
