/* Unit tests for archive/export.
 *
 * Setup makes a real 10 s archive once: ffmpeg encodes testsrc2 + sine (x264, GOP 2 s,
 * 3 B-frames, AAC) into 2 s MPEG-TS segments, which are remuxed through our ts_demux +
 * ts_mux into the recorder's layout (PIDs 0x100/0x101, PAT/PMT + keyframe first), with
 * UTC start times from ffmpeg's segment list. Checks, with ffprobe/ffmpeg on the output:
 * window selection (starts on a video keyframe at or before `from`, duration within one
 * GOP of the request), audio and video starting within 100 ms, clean decode, sample
 * count = packet count, original spacing kept across contiguous segments, a gap collapsed
 * (output ~2 s shorter, no timestamp jump), byte ranges (many offsets and piece sizes)
 * equal to the same bytes of the whole file, TS export = the segment files concatenated,
 * cancel (preset and mid-write) leaves no file behind, no overwrite without the flag, a
 * segment changed after planning is detected, and the argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive/export.h"
#include "core/error.h"
#include "format/ts_demux.h"
#include "format/ts_mux.h"

#define BASE 1700000000000LL
#define NSEG 5

static char dir[64];
static char paths[NSEG][128];
static sv_export_seg segs[NSEG];

/* ---- fixture: a real archive ---- */

typedef struct remux {
    sv_ts_mux *mux;
    sv_bytes out;
    int tables;
} remux;

static void rm_tracks(void *ctx, const sv_track *t)
{
    remux *r = ctx;
    assert_int_equal(sv_ts_mux_set_tracks(r->mux, t), 0);
    if (!r->tables++)
        sv_ts_mux_write_tables(r->mux, &r->out);
}

static int rm_frame(void *ctx, sv_frame *f)
{
    remux *r = ctx;
    assert_int_equal(sv_ts_mux_write_frame(r->mux, f, &r->out), 0);
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(*len + 1);
    assert_int_equal(fread(p, 1, *len, fp), *len);
    fclose(fp);
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, len, fp), len);
    fclose(fp);
}

static void remux_file(const char *in, const char *out)
{
    remux r = {sv_ts_mux_new(), {0}, 0};
    sv_ts_demux_cb cb = {rm_tracks, rm_frame, &r};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    size_t len;
    uint8_t *p = slurp(in, &len);
    assert_int_equal(sv_ts_demux_feed(d, p, len), 0);
    assert_int_equal(sv_ts_demux_flush(d), 0);
    spit(out, r.out.p, r.out.len);
    free(p);
    sv_ts_demux_free(d);
    sv_ts_mux_free(r.mux);
    sv_bytes_free(&r.out);
}

static int setup(void **st)
{
    char cmd[1024], line[256];
    snprintf(dir, sizeof dir, "/tmp/test_export_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cd %s && ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 "
             "-f lavfi -i sine -t 10 -c:v libx264 -g 50 -bf 3 -c:a aac -f segment "
             "-segment_time 2 -segment_format mpegts -segment_list segs.csv "
             "-segment_list_type csv ff%%03d.ts", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/segs.csv", dir);
    FILE *fp = fopen(cmd, "r");
    assert_non_null(fp);
    for (int i = 0; i < NSEG; i++) {
        char name[64];
        double s, e;
        assert_non_null(fgets(line, sizeof line, fp));
        assert_int_equal(sscanf(line, "%63[^,],%lf,%lf", name, &s, &e), 3);
        snprintf(cmd, sizeof cmd, "%s/%s", dir, name);
        snprintf(paths[i], sizeof paths[i], "%s/seg%d.ts", dir, i);
        remux_file(cmd, paths[i]);
        unlink(cmd);
        segs[i] = (sv_export_seg){paths[i], BASE + (int64_t)(s * 1000 + 0.5),
                                  (int64_t)((e - s) * 1000 + 0.5)};
    }
    fclose(fp);
    return 0;
}

static int teardown(void **st)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* ---- helpers ---- */

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4 << 20, n = 0, k;
    char *out = malloc(cap);
    while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += k;
    out[n] = 0;
    pclose(p);
    return out;
}

static void out_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    unlink(buf);
}

static sv_export_plan *plan(const sv_export_seg *s, size_t n, int64_t from, int64_t to,
                            sv_export_format fmt)
{
    sv_export_plan *p = NULL;
    assert_int_equal(sv_export_plan_new(s, n, from, to, 3600000, fmt, NULL, NULL, &p), 0);
    return p;
}

static double probe_double(const char *path, const char *sel, const char *entry)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -select_streams %s -show_entries %s "
             "-of csv=p=0 %s", sel, entry, path);
    char *s = run(cmd);
    double v = atof(s);
    free(s);
    return v;
}

static void assert_decodes_cleanly(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i %s -f null - 2>&1", path);
    char *out = run(cmd);
    assert_string_equal(out, "");
    free(out);
}

/* Video packets of path in file order: dts (90 kHz) and key flags; returns the count. */
static int video_packets(const char *path, long long *dts, int *key, int max)
{
    char cmd[512], *save = NULL;
    snprintf(cmd, sizeof cmd, "ffprobe -v error -select_streams v:0 -show_entries "
             "packet=dts,flags -of csv=p=0 %s", path);
    char *s = run(cmd);
    int n = 0;
    for (char *l = strtok_r(s, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
        char fl[8] = "";
        if (sscanf(l, "%lld,%7s", &dts[n], fl) == 2)
            key[n++] = fl[0] == 'K';
    }
    free(s);
    return n;
}

/* ---- tests ---- */

static void window_selection_and_av_start(void **st)
{
    char out[128];
    int64_t from = BASE + 3000, to = BASE + 7500;
    sv_export_plan *p = plan(segs, NSEG, from, to, SV_EXPORT_MP4);
    out_path(out, sizeof out, "win.mp4");
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), 0);
    /* first sample: the keyframe at or before from, at most one GOP (2 s) earlier */
    assert_true(sv_export_first_utc_ms(p) <= from);
    assert_true(sv_export_first_utc_ms(p) > from - 2100);
    /* ends before to: duration within one GOP of the request */
    int64_t want = to - sv_export_first_utc_ms(p), dur = sv_export_duration_ms(p);
    assert_true(dur <= want + 100 && dur >= want - 200);
    assert_true(dur >= (to - from) - 200 && dur <= (to - from) + 2100);
    assert_string_equal(sv_export_content_type(p), "video/mp4");
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, sv_export_size(p));

    static long long dts[1024];
    static int key[1024];
    int nv = video_packets(out, dts, key, 1024);
    assert_true(nv > 100);
    assert_true(key[0]);
    for (int i = 1; i < nv; i++) /* contiguous run: original 40 ms spacing everywhere */
        assert_int_equal(dts[i] - dts[i - 1], 3600);
    double v0 = probe_double(out, "v:0", "stream=start_time");
    double a0 = probe_double(out, "a:0", "stream=start_time");
    assert_true(v0 - a0 < 0.1 && a0 - v0 < 0.1);
    double na = probe_double(out, "a:0", "stream=nb_frames");
    assert_int_equal((size_t)nv + (size_t)na, sv_export_sample_count(p));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 %s", out);
    char *codecs = run(cmd);
    assert_string_equal(codecs, "h264\naac\n");
    free(codecs);
    assert_decodes_cleanly(out);
    unlink(out);
    sv_export_plan_free(p);
}

static void range_reads_equal_whole_file(void **st)
{
    char out[128];
    sv_export_plan *p = plan(segs, NSEG, BASE + 1000, BASE + 9000, SV_EXPORT_MP4);
    out_path(out, sizeof out, "whole.mp4");
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), 0);
    size_t len;
    uint8_t *whole = slurp(out, &len);
    assert_int_equal(len, sv_export_size(p));
    uint64_t hdr = 0;
    while (memcmp(whole + hdr + 4, "mdat", 4) != 0) /* ftyp, moov, then mdat */
        hdr += sv_rb32(whole + hdr);
    hdr += 8;
    uint64_t offs[] = {0, 1, hdr - 3, hdr, hdr + 1, hdr + 4097, len / 3, len / 2 + 7,
                       len - 5000, len - 1};
    size_t pieces[] = {1, 7, 188, 4096, 65536, 1 << 20};
    uint8_t *buf = malloc(len);
    srand(7);
    for (int i = 0; i < 40; i++) {
        uint64_t off = i < 10 ? offs[i] : (uint64_t)rand() % len;
        uint64_t want = i % 3 == 0 ? len : (uint64_t)(rand() % 20000) + 1;
        size_t piece = pieces[i % 6], got = 0;
        sv_export_reader *r;
        assert_int_equal(sv_export_reader_new(p, off, want, NULL, &r), 0);
        ssize_t k;
        while ((k = sv_export_read(r, buf + got, piece)) > 0)
            got += (size_t)k;
        assert_int_equal(k, 0);
        size_t expect = want > len - off ? len - off : want;
        assert_int_equal(got, expect);
        assert_memory_equal(buf, whole + off, expect);
        sv_export_reader_free(r);
    }
    sv_export_reader *r;
    assert_int_equal(sv_export_reader_new(p, len, 1, NULL, &r), SV_EINVAL);
    free(buf);
    free(whole);
    unlink(out);
    sv_export_plan_free(p);
}

static void gap_is_collapsed(void **st)
{
    char out[128];
    sv_export_seg g[NSEG - 1] = {segs[0], segs[1], segs[3], segs[4]}; /* seg 2 missing */
    sv_export_plan *p = plan(g, NSEG - 1, BASE, BASE + 10080, SV_EXPORT_MP4);
    out_path(out, sizeof out, "gap.mp4");
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), 0);
    int64_t dur = sv_export_duration_ms(p), rec = 10080 - segs[2].duration_ms;
    assert_true(dur > rec - 150 && dur < rec + 150);
    static long long dts[1024];
    static int key[1024];
    int nv = video_packets(out, dts, key, 1024);
    assert_int_equal(nv, 200); /* 8 s of 25 fps */
    for (int i = 1; i < nv; i++)
        assert_int_equal(dts[i] - dts[i - 1], 3600); /* plays on without a jump */
    assert_true(probe_double(out, "a:0", "stream=duration") > (rec - 150) / 1000.0);
    assert_decodes_cleanly(out);
    unlink(out);
    sv_export_plan_free(p);
}

static void ts_export_is_the_segments(void **st)
{
    char out[128];
    sv_export_plan *p = plan(segs, NSEG, BASE + 2500, BASE + 4500, SV_EXPORT_TS);
    out_path(out, sizeof out, "x.ts");
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), 0);
    assert_string_equal(sv_export_content_type(p), "video/mp2t");
    assert_int_equal(sv_export_first_utc_ms(p), segs[1].start_ms);
    size_t l1, l2, lo;
    uint8_t *a = slurp(paths[1], &l1), *b = slurp(paths[2], &l2), *o = slurp(out, &lo);
    assert_int_equal(lo, l1 + l2);
    assert_int_equal(sv_export_size(p), lo);
    assert_memory_equal(o, a, l1);
    assert_memory_equal(o + l1, b, l2);
    sv_export_reader *r; /* a range across the file boundary */
    uint8_t buf[1000];
    assert_int_equal(sv_export_reader_new(p, l1 - 500, 1000, NULL, &r), 0);
    assert_int_equal(sv_export_read(r, buf, sizeof buf), 1000);
    assert_memory_equal(buf, o + l1 - 500, 1000);
    assert_int_equal(sv_export_read(r, buf, sizeof buf), 0);
    sv_export_reader_free(r);
    free(a);
    free(b);
    free(o);
    unlink(out);
    sv_export_plan_free(p);
}

typedef struct prog {
    int calls, last, cancel_at;
    atomic_int *flag;
} prog;

static void on_progress(void *ctx, int pct)
{
    prog *g = ctx;
    assert_true(pct >= g->last && pct <= 100);
    g->last = pct;
    g->calls++;
    if (g->flag && pct >= g->cancel_at)
        atomic_store(g->flag, 1);
}

static void cancel_and_no_overwrite(void **st)
{
    char out[128], part[160];
    atomic_int flag = 1;
    sv_export_plan *p = plan(segs, NSEG, BASE, BASE + 10000, SV_EXPORT_MP4);
    out_path(out, sizeof out, "c.mp4");
    snprintf(part, sizeof part, "%s.part", out);
    /* cancelled before and during the write: nothing left behind */
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, &flag, 0), SV_ECLOSED);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(access(part, F_OK), -1);
    atomic_store(&flag, 0);
    prog g = {0, 0, 0, &flag};
    assert_int_equal(sv_export_to_file(p, out, on_progress, &g, &flag, 0), SV_ECLOSED);
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(access(part, F_OK), -1);
    /* a reader stops too */
    sv_export_reader *r;
    uint8_t buf[64];
    assert_int_equal(sv_export_reader_new(p, 0, 100, &flag, &r), 0);
    assert_int_equal(sv_export_read(r, buf, sizeof buf), SV_ECLOSED);
    sv_export_reader_free(r);
    /* complete, with progress up to 100 */
    atomic_store(&flag, 0);
    prog ok = {0, 0, 0, NULL};
    assert_int_equal(sv_export_to_file(p, out, on_progress, &ok, &flag, 0), 0);
    assert_int_equal(ok.last, 100);
    assert_int_equal(access(part, F_OK), -1);
    /* no overwrite unless asked; the existing file is left untouched */
    spit(out, (const uint8_t *)"keep", 4);
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), SV_EEXIST);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_size, 4);
    assert_int_equal(access(part, F_OK), -1);
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, SV_EXPORT_OVERWRITE), 0);
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, sv_export_size(p));
    unlink(out);
    sv_export_plan_free(p);
}

static void changed_segment_is_detected(void **st)
{
    char copy[128], out[128];
    size_t len;
    snprintf(copy, sizeof copy, "%s/copy.ts", dir);
    uint8_t *a = slurp(paths[1], &len);
    spit(copy, a, len);
    free(a);
    sv_export_seg s = {copy, segs[1].start_ms, segs[1].duration_ms};
    sv_export_plan *p = plan(&s, 1, s.start_ms, s.start_ms + 2000, SV_EXPORT_MP4);
    a = slurp(paths[3], &len); /* replaced by other media after planning */
    spit(copy, a, len);
    free(a);
    out_path(out, sizeof out, "changed.mp4");
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), SV_EIO);
    assert_int_equal(access(out, F_OK), -1);
    unlink(copy);
    assert_int_equal(sv_export_to_file(p, out, NULL, NULL, NULL, 0), SV_ENOTFOUND);
    sv_export_plan_free(p);
}

static void errors(void **st)
{
    sv_export_plan *p = NULL;
    sv_export_seg missing = {"/nonexistent/x.ts", BASE, 2000};
    assert_int_equal(sv_export_plan_new(segs, NSEG, BASE + 10, BASE + 10, 0, SV_EXPORT_MP4,
                                        NULL, NULL, &p), SV_EINVAL);
    assert_int_equal(sv_export_plan_new(segs, NSEG, BASE, BASE + 10, 0, 7, NULL, NULL, &p),
                     SV_EINVAL);
    assert_int_equal(sv_export_plan_new(segs, NSEG, BASE, BASE + 7200001, 7200000,
                                        SV_EXPORT_MP4, NULL, NULL, &p), SV_ETOOBIG);
    assert_int_equal(sv_export_plan_new(NULL, 0, BASE, BASE + 1000, 0, SV_EXPORT_MP4, NULL,
                                        NULL, &p), SV_ENOTFOUND);
    assert_int_equal(sv_export_plan_new(segs, NSEG, BASE + 60000, BASE + 70000, 0,
                                        SV_EXPORT_MP4, NULL, NULL, &p), SV_ENOTFOUND);
    assert_int_equal(sv_export_plan_new(segs, NSEG, BASE - 9000, BASE - 1000, 0, SV_EXPORT_TS,
                                        NULL, NULL, &p), SV_ENOTFOUND);
    assert_int_equal(sv_export_plan_new(&missing, 1, BASE, BASE + 1000, 0, SV_EXPORT_MP4,
                                        NULL, NULL, &p), SV_ENOTFOUND);
    assert_null(p);
    sv_export_plan_free(NULL);
    sv_export_reader_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_selection_and_av_start),
        cmocka_unit_test(range_reads_equal_whole_file),
        cmocka_unit_test(gap_is_collapsed),
        cmocka_unit_test(ts_export_is_the_segments),
        cmocka_unit_test(cancel_and_no_overwrite),
        cmocka_unit_test(changed_segment_is_detected),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
