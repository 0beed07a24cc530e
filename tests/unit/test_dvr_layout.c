/* Unit tests of dvr/layout: path building and strict parsing (round trips across hour,
 * day, month and leap boundaries; refusal of traversal, wrong digits, junk names) and the
 * directory walker over a real temporary tree with junk files and symlinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "dvr/layout.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* UTC milliseconds of a civil time (libc's timegm as an independent reference). */
static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void expect_path(const char *stream, int64_t start, int64_t dur, const char *want)
{
    char buf[SV_DVR_LAYOUT_PATH_MAX];
    int n = sv_dvr_layout_segment_path(buf, sizeof buf, stream, start, dur);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
    sv_dvr_layout_info info;
    assert_int_equal(sv_dvr_layout_parse(buf, (size_t)n, &info), 0);
    assert_int_equal(info.stream_len, strlen(stream));
    assert_memory_equal(buf, stream, strlen(stream));
    assert_int_equal(info.start_ms, start);
    assert_int_equal(info.duration_ms, dur);
    assert_int_equal(info.is_part, 0);
}

static void test_build_known(void **state)
{
    (void)state;
    expect_path("live/cam1", utc_ms(2024, 3, 5, 7, 8, 9, 10), 2000,
                "live/cam1/2024/03/05/07/08-09-010_2000.ts");
    expect_path("ort", 0, 1, "ort/1970/01/01/00/00-00-000_1.ts");
    expect_path("t/live/cam-1.hd_x", utc_ms(2031, 12, 31, 23, 59, 59, 999), 3600000,
                "t/live/cam-1.hd_x/2031/12/31/23/59-59-999_3600000.ts");
    /* hour, day, month and year boundaries: the folder is the hour the segment starts in */
    expect_path("live/a", utc_ms(2024, 1, 31, 23, 59, 59, 999), 2000,
                "live/a/2024/01/31/23/59-59-999_2000.ts");
    expect_path("live/a", utc_ms(2024, 1, 31, 23, 59, 59, 999) + 1, 2000,
                "live/a/2024/02/01/00/00-00-000_2000.ts");
    expect_path("live/a", utc_ms(2024, 2, 29, 12, 0, 0, 0), 1000,
                "live/a/2024/02/29/12/00-00-000_1000.ts");
    expect_path("live/a", utc_ms(2100, 2, 28, 23, 59, 59, 999) + 1, 1000,
                "live/a/2100/03/01/00/00-00-000_1000.ts");
    expect_path("live/a", utc_ms(2023, 12, 31, 23, 59, 59, 999) + 1, 1000,
                "live/a/2024/01/01/00/00-00-000_1000.ts");
    expect_path("live/a", SV_DVR_TIME_MAX_MS, 5, "live/a/9999/12/31/23/59-59-999_5.ts");

    char buf[SV_DVR_LAYOUT_PATH_MAX];
    int n = sv_dvr_layout_part_path(buf, sizeof buf, "live/cam1", utc_ms(2024, 3, 5, 7, 0, 0, 5));
    assert_true(n > 0);
    assert_string_equal(buf, "live/cam1/2024/03/05/07/00-00-005.ts.part");
    sv_dvr_layout_info info;
    assert_int_equal(sv_dvr_layout_parse(buf, (size_t)n, &info), 0);
    assert_int_equal(info.is_part, 1);
    assert_int_equal(info.duration_ms, 0);
    assert_int_equal(info.start_ms, utc_ms(2024, 3, 5, 7, 0, 0, 5));
}

static void test_round_trip_random(void **state)
{
    (void)state;
    static const char *names[] = {"a", "live/cam1", "x/y/z", "A-1/b_2/c.3/d"};
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char buf[SV_DVR_LAYOUT_PATH_MAX];
    for (int i = 0; i < 100000; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        int64_t start = (int64_t)((seed >> 11) % (uint64_t)(SV_DVR_TIME_MAX_MS + 1));
        int64_t dur = 1 + (int64_t)((seed >> 3) % (uint64_t)SV_DVR_SEG_MAX_MS);
        const char *name = names[i % 4];
        int part = (i % 7) == 0;
        int n = part ? sv_dvr_layout_part_path(buf, sizeof buf, name, start)
                     : sv_dvr_layout_segment_path(buf, sizeof buf, name, start, dur);
        assert_true(n > 0);
        sv_dvr_layout_info info;
        assert_int_equal(sv_dvr_layout_parse(buf, (size_t)n, &info), 0);
        assert_int_equal(info.stream_len, strlen(name));
        assert_int_equal(info.start_ms, start);
        assert_int_equal(info.is_part, part);
        assert_int_equal(info.duration_ms, part ? 0 : dur);
        /* and against libc: the date folders are gmtime's */
        time_t t = (time_t)(start / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64];
        snprintf(want, sizeof want, "/%04d/%02d/%02d/%02d/%02d-%02d-%03d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(start % 1000));
        assert_memory_equal(buf + strlen(name), want, strlen(want));
    }
}

static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "2024/03/05/07/08-09-010_2000.ts",            /* no stream name */
        "/live/cam1/2024/03/05/07/08-09-010_2000.ts", /* absolute */
        "../live/2024/03/05/07/08-09-010_2000.ts",
        "live/../cam1/2024/03/05/07/08-09-010_2000.ts",
        "live/./cam1/2024/03/05/07/08-09-010_2000.ts",
        "live//cam1/2024/03/05/07/08-09-010_2000.ts",
        "live/ca m1/2024/03/05/07/08-09-010_2000.ts",
        "live/cam1/2024/3/05/07/08-09-010_2000.ts",    /* one-digit month */
        "live/cam1/24/03/05/07/08-09-010_2000.ts",     /* two-digit year */
        "live/cam1/2024/13/05/07/08-09-010_2000.ts",   /* month 13 */
        "live/cam1/2023/02/29/07/08-09-010_2000.ts",   /* not a leap year */
        "live/cam1/2024/04/31/07/08-09-010_2000.ts",   /* April 31 */
        "live/cam1/2024/03/05/24/08-09-010_2000.ts",   /* hour 24 */
        "live/cam1/2024/03/05/07/60-09-010_2000.ts",   /* minute 60 */
        "live/cam1/2024/03/05/07/08-60-010_2000.ts",   /* second 60 */
        "live/cam1/2024/03/05/07/08-09-10_2000.ts",    /* two-digit ms */
        "live/cam1/2024/03/05/07/08-09-0100_2000.ts",
        "live/cam1/2024/03/05/07/08-09-010_02000.ts",  /* leading zero */
        "live/cam1/2024/03/05/07/08-09-010_0.ts",      /* zero duration */
        "live/cam1/2024/03/05/07/08-09-010_3600001.ts", /* longer than the cap */
        "live/cam1/2024/03/05/07/08-09-010_-5.ts",
        "live/cam1/2024/03/05/07/08-09-010_2000.mp4",
        "live/cam1/2024/03/05/07/08-09-010_2000.ts.part",
        "live/cam1/2024/03/05/07/08-09-010.ts",
        "live/cam1/2024/03/05/07/08-09-010.part",
        "live/cam1/2024/03/05/07/08-09-010_2000.ts/",
        "live/cam1/2024/03/05/07/08_09_010_2000.ts",
        "live/cam1/2024/03/05/07/README.txt",
        "live/cam1/2024/03/05/07/",
        "live/cam1/1969/12/31/23/59-59-999_1.ts",
        "live/cam1/2024/03/05/07/08-09-0a0_2000.ts",
        "live/cam1/2024/03/05/0x/08-09-010_2000.ts",
    };
    sv_dvr_layout_info info;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = sv_dvr_layout_parse(bad[i], strlen(bad[i]), &info);
        if (rc != SV_EINVAL)
            fail_msg("accepted: %s", bad[i]);
    }
    /* length is honoured: a valid prefix of a longer buffer parses, a cut one does not */
    const char *p = "live/cam1/2024/03/05/07/08-09-010_2000.tsJUNK";
    assert_int_equal(sv_dvr_layout_parse(p, strlen(p) - 4, &info), 0);
    assert_int_equal(sv_dvr_layout_parse(p, strlen(p) - 5, &info), SV_EINVAL);
    assert_int_equal(sv_dvr_layout_parse(NULL, 3, &info), SV_EINVAL);
}

static void test_build_rejects(void **state)
{
    (void)state;
    static const char *bad_names[] = {"", "/a", "a/", "a//b", "..", "a/../b", "a/./b", ".",
                                      "a b", "a\\b", "caf\xc3\xa9", "a/b:c",
                                      "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17"};
    char buf[SV_DVR_LAYOUT_PATH_MAX];
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        assert_false(sv_dvr_layout_name_valid(bad_names[i]));
        assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, bad_names[i], 0, 1),
                         SV_EINVAL);
    }
    char longname[SV_DVR_STREAM_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(sv_dvr_layout_name_valid(longname));
    longname[SV_DVR_STREAM_NAME_MAX] = '\0';
    assert_true(sv_dvr_layout_name_valid(longname));
    /* the longest name with the longest duration fits SV_DVR_LAYOUT_PATH_MAX */
    assert_true(sv_dvr_layout_segment_path(buf, sizeof buf, longname, SV_DVR_TIME_MAX_MS,
                                           SV_DVR_SEG_MAX_MS) > 0);
    assert_true(sv_dvr_layout_name_valid("1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16"));
    assert_true(sv_dvr_layout_name_valid("...a/.b/-"));
    assert_false(sv_dvr_layout_name_valid(NULL));

    assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, "a/b", -1, 1), SV_EINVAL);
    assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, "a/b", 0, 0), SV_EINVAL);
    assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, "a/b", 0, -1), SV_EINVAL);
    assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, "a/b", SV_DVR_TIME_MAX_MS + 1,
                                                1), SV_EINVAL);
    assert_int_equal(sv_dvr_layout_segment_path(buf, sizeof buf, "a/b", 0,
                                                SV_DVR_SEG_MAX_MS + 1), SV_EINVAL);
    /* "a/b/1970/01/01/00/00-00-000_1.ts" is 32 bytes: needs 33 with the NUL */
    assert_int_equal(sv_dvr_layout_segment_path(buf, 32, "a/b", 0, 1), SV_ETOOBIG);
    assert_int_equal(sv_dvr_layout_segment_path(buf, 33, "a/b", 0, 1), 32);

    char *p = NULL;
    assert_int_equal(sv_dvr_layout_segment_path_dup(&p, "a/b", 1000, 2000), 0);
    assert_string_equal(p, "a/b/1970/01/01/00/00-01-000_2000.ts");
    free(p);
    assert_int_equal(sv_dvr_layout_part_path_dup(&p, "a/b", 1000), 0);
    assert_string_equal(p, "a/b/1970/01/01/00/00-01-000.ts.part");
    free(p);
    p = NULL;
    assert_int_equal(sv_dvr_layout_segment_path_dup(&p, "../b", 1000, 2000), SV_EINVAL);
    assert_null(p);
}

/* ---- walker ---- */

static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    }
    mkdir(tmp, 0755);
}

/* Creates root/rel with `bytes` bytes, making directories as needed. */
static void put_file(const char *root, const char *rel, size_t bytes)
{
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc('x', f);
    fclose(f);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_rf(const char *path) { nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

typedef struct seen {
    char rel[64][SV_DVR_LAYOUT_PATH_MAX];
    char stream[64][SV_DVR_LAYOUT_PATH_MAX];
    int64_t bytes[64], start[64], dur[64];
    int part[64];
    int n;
} seen;

static int collect_cb(const sv_dvr_layout_entry *e, void *ud)
{
    seen *s = ud;
    assert_true(s->n < 64);
    snprintf(s->rel[s->n], SV_DVR_LAYOUT_PATH_MAX, "%s", e->relpath);
    snprintf(s->stream[s->n], SV_DVR_LAYOUT_PATH_MAX, "%s", e->stream);
    s->bytes[s->n] = e->bytes;
    s->start[s->n] = e->start_ms;
    s->dur[s->n] = e->duration_ms;
    s->part[s->n] = e->is_part;
    s->n++;
    return 0;
}

static int find(const seen *s, const char *rel)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->rel[i], rel) == 0)
            return i;
    return -1;
}

static int stop_cb(const sv_dvr_layout_entry *e, void *ud)
{
    (void)e;
    ++*(int *)ud;
    return 7;
}

static void test_walk(void **state)
{
    (void)state;
    char root[] = "/tmp/sv_layout_XXXXXX", outside[] = "/tmp/sv_layout_out_XXXXXX";
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(outside));
    /* real segments */
    put_file(root, "live/cam1/2024/03/05/07/08-09-010_2000.ts", 100);
    put_file(root, "live/cam1/2024/03/05/07/08-11-010_2000.ts", 200);
    put_file(root, "live/cam1/2024/03/05/07/08-13-010.ts.part", 50);
    put_file(root, "a/b/c/2023/12/31/23/59-58-000_4000.ts", 10);
    put_file(root, "ort/1970/01/01/00/00-00-000_1.ts", 0);
    /* junk that must be skipped */
    put_file(root, "live/cam1/README.txt", 5);
    put_file(root, "live/cam1/2024/03/05/07/notes.ts", 5);
    put_file(root, "live/cam1/2024/03/05/07/08-09-010_02000.ts", 5);
    put_file(root, "live/cam1/2024/03/05/07/08-09-010_2000.ts.tmp", 5);
    put_file(root, "live/cam1/2024/02/30/07/08-09-010_2000.ts", 5);
    put_file(root, "2024/03/05/07/00-00-000_1000.ts", 5);
    put_file(root, "bad name/2024/03/05/07/00-00-000_1000.ts", 5);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/live/cam1/2024/03/05/07/09-00-000_1000.ts", root);
    mkdirs(dir); /* a directory with a segment's name */
    /* symlinks: a directory and a file pointing outside the root */
    put_file(outside, "ev/2024/01/01/00/00-00-000_1000.ts", 7);
    char target[1024], link[1024];
    snprintf(target, sizeof target, "%s/ev", outside);
    snprintf(link, sizeof link, "%s/live/ev", root);
    assert_int_equal(symlink(target, link), 0);
    snprintf(target, sizeof target, "%s/ev/2024/01/01/00/00-00-000_1000.ts", outside);
    snprintf(link, sizeof link, "%s/live/cam1/2024/03/05/07/08-15-010_2000.ts", root);
    assert_int_equal(symlink(target, link), 0);

    seen *s = calloc(1, sizeof *s);
    assert_int_equal(sv_dvr_layout_walk(root, collect_cb, s), 0);
    assert_int_equal(s->n, 5);
    int i = find(s, "live/cam1/2024/03/05/07/08-09-010_2000.ts");
    assert_true(i >= 0);
    assert_string_equal(s->stream[i], "live/cam1");
    assert_int_equal(s->bytes[i], 100);
    assert_int_equal(s->start[i], utc_ms(2024, 3, 5, 7, 8, 9, 10));
    assert_int_equal(s->dur[i], 2000);
    assert_int_equal(s->part[i], 0);
    i = find(s, "live/cam1/2024/03/05/07/08-11-010_2000.ts");
    assert_true(i >= 0);
    assert_int_equal(s->bytes[i], 200);
    i = find(s, "live/cam1/2024/03/05/07/08-13-010.ts.part");
    assert_true(i >= 0);
    assert_int_equal(s->part[i], 1);
    assert_int_equal(s->bytes[i], 50);
    assert_int_equal(s->start[i], utc_ms(2024, 3, 5, 7, 8, 13, 10));
    i = find(s, "a/b/c/2023/12/31/23/59-58-000_4000.ts");
    assert_true(i >= 0);
    assert_string_equal(s->stream[i], "a/b/c");
    i = find(s, "ort/1970/01/01/00/00-00-000_1.ts");
    assert_true(i >= 0);
    assert_int_equal(s->bytes[i], 0);

    /* the callback can stop the walk; its value comes back */
    int calls = 0;
    assert_int_equal(sv_dvr_layout_walk(root, stop_cb, &calls), 7);
    assert_int_equal(calls, 1);

    /* the root itself may be a symlink */
    snprintf(link, sizeof link, "%s-link", root);
    assert_int_equal(symlink(root, link), 0);
    memset(s, 0, sizeof *s);
    assert_int_equal(sv_dvr_layout_walk(link, collect_cb, s), 0);
    assert_int_equal(s->n, 5);
    unlink(link);

    char missing[1100];
    snprintf(missing, sizeof missing, "%s/nope", root);
    assert_int_equal(sv_dvr_layout_walk(missing, collect_cb, s), SV_ENOTFOUND);
    free(s);
    rm_rf(root);
    rm_rf(outside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_known),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_build_rejects),
        cmocka_unit_test(test_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
