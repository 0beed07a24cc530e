/* Unit tests of dvr/catalog against real SQLite files in a temporary directory: adding and
 * listing segments, ranges (gaps, tolerance, 43,200 segments of a day), stats, range
 * deletion, locks (merge/split), retention queries skipping locked segments, corrupt file
 * detection and quarantine, rebuild from a real directory tree, settings CRUD, reopen
 * persistence, the locks/settings sidecar after losing the database, and a reader running
 * while a writer thread adds segments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/error.h"
#include "dvr/catalog.h"
#include "dvr/layout.h"

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */

typedef struct fixture {
    char dir[64];
    char db[128];
    sv_catalog *cat;
} fixture;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_rf(const char *path) { nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sv_catalog_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/catalog.db", f->dir);
    if (sv_catalog_open(f->db, &f->cat) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sv_catalog_close(f->cat);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Adds n segments of dur ms back to back from start (gap_every > 0: a gap of gap ms
 * before every gap_every-th segment). Returns the end of the last one. */
static int64_t add_run(sv_catalog *cat, const char *stream, const char *root, int64_t start,
                       size_t n, int64_t dur, size_t gap_every, int64_t gap)
{
    sv_catalog_newseg *v = calloc(n, sizeof *v);
    int64_t t = start;
    for (size_t i = 0; i < n; i++) {
        if (gap_every && i && i % gap_every == 0)
            t += gap;
        v[i] = (sv_catalog_newseg){stream, root, t, dur, 1000 + (int64_t)i};
        t += dur;
    }
    assert_int_equal(sv_catalog_add(cat, v, n, NULL), 0);
    free(v);
    return t;
}

static void test_add_list(void **state)
{
    fixture *f = *state;
    int64_t ids[10];
    sv_catalog_newseg v[10];
    for (int i = 0; i < 10; i++)
        v[i] = (sv_catalog_newseg){"live/cam1", "/srv/dvr", T0 + i * 2000, 2000, 100 + i};
    assert_int_equal(sv_catalog_add(f->cat, v, 10, ids), 0);
    add_run(f->cat, "live/cam2", "/srv/dvr", T0, 5, 2000, 0, 0);
    for (int i = 1; i < 10; i++)
        assert_true(ids[i] > ids[i - 1]);

    sv_catalog_seglist l = {0};
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", T0 + 3000, T0 + 7000, &l), 0);
    assert_int_equal(l.n, 3); /* [2000,4000) [4000,6000) [6000,8000) */
    char want[SV_DVR_LAYOUT_PATH_MAX];
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].start_ms, T0 + 2000 + (int64_t)i * 2000);
        assert_int_equal(l.v[i].duration_ms, 2000);
        assert_int_equal(l.v[i].bytes, 101 + (int64_t)i);
        assert_int_equal(l.v[i].id, ids[1 + i]);
        assert_string_equal(l.v[i].stream, "live/cam1");
        assert_string_equal(l.v[i].root, "/srv/dvr");
        sv_dvr_layout_segment_path(want, sizeof want, "live/cam1", l.v[i].start_ms, 2000);
        assert_string_equal(l.v[i].path, want);
    }
    /* boundaries are half-open: [T0+4000, T0+6000) is exactly one segment */
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", T0 + 4000, T0 + 6000, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", T0 - 5000, T0, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", T0 - 5000, T0 + 100000, &l), 0);
    assert_int_equal(l.n, 10);
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", 5, 5, &l), SV_EINVAL);
    assert_int_equal(sv_catalog_list(f->cat, "../x", 0, 5, &l), SV_EINVAL);

    /* same (stream, start) again replaces the row; totals follow */
    sv_catalog_newseg again = {"live/cam1", "/srv/dvr", T0, 2000, 5000};
    assert_int_equal(sv_catalog_add(f->cat, &again, 1, NULL), 0);
    sv_catalog_stats st;
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/cam1", &st), 0);
    assert_int_equal(st.count, 10);
    assert_int_equal(st.bytes, 5000 + (101 + 109) * 9 / 2);
    assert_int_equal(st.first_ms, T0);
    assert_int_equal(st.last_end_ms, T0 + 20000);

    /* a batch with one invalid segment adds nothing */
    sv_catalog_newseg bad[2] = {{"live/cam1", "/srv/dvr", T0 + 100000, 2000, 1},
                                {"live/../x", "/srv/dvr", T0 + 102000, 2000, 1}};
    assert_int_equal(sv_catalog_add(f->cat, bad, 2, NULL), SV_EINVAL);
    bad[1] = (sv_catalog_newseg){"live/cam1", "/srv/dvr", T0 + 102000, 0, 1};
    assert_int_equal(sv_catalog_add(f->cat, bad, 2, NULL), SV_EINVAL);
    bad[1] = (sv_catalog_newseg){"live/cam1", "", T0 + 102000, 10, 1};
    assert_int_equal(sv_catalog_add(f->cat, bad, 2, NULL), SV_EINVAL);
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/cam1", &st), 0);
    assert_int_equal(st.count, 10);

    char **names = NULL;
    size_t n = 0;
    assert_int_equal(sv_catalog_streams(f->cat, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "live/cam1");
    assert_string_equal(names[1], "live/cam2");
    sv_catalog_strv_free(names, n);
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/none", &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.bytes, 0);
    sv_catalog_seglist_free(&l);
}

static void test_ranges_gaps(void **state)
{
    fixture *f = *state;
    /* [0,6000) contiguous, then +1000 gap, [7000,9000), +5000 gap, [14000,16000),
     * then one segment overlapping the previous one [15000,17000) */
    sv_catalog_newseg v[] = {
        {"live/r", "/d", T0, 2000, 1},         {"live/r", "/d", T0 + 2000, 2000, 1},
        {"live/r", "/d", T0 + 4000, 2000, 1},  {"live/r", "/d", T0 + 7000, 2000, 1},
        {"live/r", "/d", T0 + 14000, 2000, 1}, {"live/r", "/d", T0 + 15000, 2000, 1},
    };
    assert_int_equal(sv_catalog_add(f->cat, v, 6, NULL), 0);
    sv_catalog_range *r = NULL;
    size_t n = 0;
    assert_int_equal(sv_catalog_ranges(f->cat, "live/r", 1500, &r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].from_ms, T0);
    assert_int_equal(r[0].duration_ms, 9000);
    assert_int_equal(r[1].from_ms, T0 + 14000);
    assert_int_equal(r[1].duration_ms, 3000);
    free(r);
    assert_int_equal(sv_catalog_ranges(f->cat, "live/r", 0, &r, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].duration_ms, 6000);
    assert_int_equal(r[1].from_ms, T0 + 7000);
    assert_int_equal(r[1].duration_ms, 2000);
    free(r);
    assert_int_equal(sv_catalog_ranges(f->cat, "live/r", 5000, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].duration_ms, 17000);
    free(r);
    /* a window only looks at the segments overlapping it; ranges are not clipped */
    assert_int_equal(sv_catalog_ranges_window(f->cat, "live/r", T0 + 7500, T0 + 8000, 1500, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].from_ms, T0 + 7000);
    assert_int_equal(r[0].duration_ms, 2000);
    free(r);
    assert_int_equal(sv_catalog_ranges_window(f->cat, "live/r", T0 + 5000, T0 + 7500, 1500, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].from_ms, T0 + 4000);
    assert_int_equal(r[0].duration_ms, 5000);
    free(r);
    assert_int_equal(sv_catalog_ranges_window(f->cat, "live/r", T0 + 5, T0 + 5, 1500, &r, &n), SV_EINVAL);
    assert_int_equal(sv_catalog_ranges_window(f->cat, "live/r", 0, 1, -1, &r, &n), SV_EINVAL);
    r = (sv_catalog_range *)1;
    assert_int_equal(sv_catalog_ranges(f->cat, "live/empty", 1500, &r, &n), 0);
    assert_int_equal(n, 0);
    assert_null(r);
}

static void test_ranges_day(void **state)
{
    fixture *f = *state;
    /* a day of 2 s segments: 43,200 of them, a 10 s gap before every 1000th */
    double t = now_ms();
    int64_t end = add_run(f->cat, "live/day", "/d", T0, 43200, 2000, 1000, 10000);
    double add_ms = now_ms() - t;
    add_run(f->cat, "live/other", "/d", T0, 100, 2000, 0, 0);

    sv_catalog_range *r = NULL;
    size_t n = 0;
    double best = 1e9, best_cpu = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        free(r);
        double c = cpu_ms();
        t = now_ms();
        assert_int_equal(sv_catalog_ranges(f->cat, "live/day", 1500, &r, &n), 0);
        double dt = now_ms() - t, dc = cpu_ms() - c;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    assert_int_equal(n, 44);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t want_from = T0 + (int64_t)i * (1000 * 2000 + 10000);
        assert_int_equal(r[i].from_ms, want_from);
        assert_int_equal(r[i].duration_ms, i < 43 ? 1000 * 2000 : 200 * 2000);
        total += r[i].duration_ms;
    }
    assert_int_equal(total, 43200 * INT64_C(2000));
    assert_int_equal(r[n - 1].from_ms + r[n - 1].duration_ms, end);
    free(r);
    /* a larger tolerance bridges the gaps */
    assert_int_equal(sv_catalog_ranges(f->cat, "live/day", 10000, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].duration_ms, end - T0);
    free(r);

    sv_catalog_seglist l = {0};
    t = now_ms();
    assert_int_equal(sv_catalog_list(f->cat, "live/day", T0, end, &l), 0);
    double list_ms = now_ms() - t;
    assert_int_equal(l.n, 43200);
    for (size_t i = 1; i < l.n; i++)
        assert_true(l.v[i].start_ms > l.v[i - 1].start_ms);
    sv_catalog_seglist_free(&l);

    sv_catalog_stats st;
    t = now_ms();
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/day", &st), 0);
    double stats_ms = now_ms() - t;
    assert_int_equal(st.count, 43200);
    assert_int_equal(st.first_ms, T0);
    assert_int_equal(st.last_end_ms, end);
    assert_int_equal(st.bytes, 43200 * INT64_C(1000) + INT64_C(43199) * 43200 / 2);
    print_message("43,200 segments: add (1 txn) %.1f ms, ranges %.2f ms wall / %.2f ms cpu "
                  "(best of 5), list %.1f ms, stats %.3f ms\n", add_ms, best, best_cpu, list_ms,
                  stats_ms);
}

static void test_delete_range(void **state)
{
    fixture *f = *state;
    add_run(f->cat, "live/del", "/d", T0, 10, 2000, 0, 0); /* [T0, T0+20000) */
    sv_catalog_seglist d = {0};
    /* only [4000,6000) and [6000,8000) lie fully inside [3000, 9000) */
    assert_int_equal(sv_catalog_delete_range(f->cat, "live/del", T0 + 3000, T0 + 9000, 0, &d),
                     0);
    assert_int_equal(d.n, 2);
    int64_t a = d.v[0].start_ms < d.v[1].start_ms ? d.v[0].start_ms : d.v[1].start_ms;
    assert_int_equal(a, T0 + 4000);
    char want[SV_DVR_LAYOUT_PATH_MAX];
    sv_dvr_layout_segment_path(want, sizeof want, "live/del", d.v[0].start_ms, 2000);
    assert_string_equal(d.v[0].path, want);
    assert_string_equal(d.v[0].root, "/d");
    sv_catalog_seglist l = {0};
    assert_int_equal(sv_catalog_list(f->cat, "live/del", T0, T0 + 20000, &l), 0);
    assert_int_equal(l.n, 8);
    assert_int_equal(l.v[1].start_ms, T0 + 2000); /* partial overlaps kept */
    assert_int_equal(l.v[2].start_ms, T0 + 8000);

    /* locked segments survive with SV_CATALOG_KEEP_LOCKED, not without */
    assert_int_equal(sv_catalog_lock_add(f->cat, "live/del", T0 + 10500, T0 + 11000), 0);
    assert_int_equal(sv_catalog_delete_range(f->cat, "live/del", T0 + 10000, T0 + 14000,
                                             SV_CATALOG_KEEP_LOCKED, &d), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].start_ms, T0 + 12000);
    assert_int_equal(sv_catalog_delete_range(f->cat, "live/del", T0 + 10000, T0 + 14000, 0, &d),
                     0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].start_ms, T0 + 10000);

    sv_catalog_stats st;
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/del", &st), 0);
    assert_int_equal(st.count, 6);
    assert_int_equal(sv_catalog_delete_range(f->cat, "live/del", 0, T0 * 2, 0, &d), 0);
    assert_int_equal(d.n, 6);
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/del", &st), 0);
    assert_int_equal(st.count, 0);
    char **names = NULL;
    size_t n = 9;
    assert_int_equal(sv_catalog_streams(f->cat, &names, &n), 0);
    assert_int_equal(n, 0);
    sv_catalog_strv_free(names, n);

    /* delete by ids */
    int64_t ids[3];
    sv_catalog_newseg v[3] = {{"live/del", "/d", T0, 1000, 1}, {"live/del", "/d", T0 + 1000, 1000, 1},
                              {"live/del", "/d", T0 + 2000, 1000, 1}};
    assert_int_equal(sv_catalog_add(f->cat, v, 3, ids), 0);
    int64_t del[3] = {ids[0], ids[2], 999999};
    size_t nd = 0;
    assert_int_equal(sv_catalog_delete_ids(f->cat, del, 3, &nd), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(sv_catalog_list(f->cat, "live/del", 0, T0 * 2, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].id, ids[1]);
    sv_catalog_seglist_free(&l);
    sv_catalog_seglist_free(&d);
}

static void expect_locks(sv_catalog *cat, const char *stream, const int64_t *want, size_t nwant)
{
    sv_catalog_lock *v = NULL;
    size_t n = 0;
    assert_int_equal(sv_catalog_locks(cat, stream, &v, &n), 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].from_ms, want[2 * i]);
        assert_int_equal(v[i].to_ms, want[2 * i + 1]);
    }
    free(v);
}

static void test_locks(void **state)
{
    fixture *f = *state;
    sv_catalog *c = f->cat;
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 100, 200), 0);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 300, 400), 0);
    assert_int_equal(sv_catalog_lock_add(c, "live/other", 0, 1000), 0);
    expect_locks(c, "live/l", (int64_t[]){100, 200, 300, 400}, 2);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 200, 300), 0); /* touches both */
    expect_locks(c, "live/l", (int64_t[]){100, 400}, 1);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 50, 150), 0);
    expect_locks(c, "live/l", (int64_t[]){50, 400}, 1);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 500, 600), 0);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 120, 130), 0); /* inside */
    expect_locks(c, "live/l", (int64_t[]){50, 400, 500, 600}, 2);
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 150, 250), 0); /* split */
    expect_locks(c, "live/l", (int64_t[]){50, 150, 250, 400, 500, 600}, 3);
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 0, 60), 0); /* trim left */
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 390, 510), 0); /* across two */
    expect_locks(c, "live/l", (int64_t[]){60, 150, 250, 390, 510, 600}, 3);
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 700, 800), 0); /* nothing there */
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 0, 1000), 0);
    expect_locks(c, "live/l", NULL, 0);
    expect_locks(c, "live/other", (int64_t[]){0, 1000}, 1);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 10, 10), SV_EINVAL);
    assert_int_equal(sv_catalog_lock_add(c, "live/l", 10, 5), SV_EINVAL);
    assert_int_equal(sv_catalog_lock_add(c, "/etc", 1, 5), SV_EINVAL);
    assert_int_equal(sv_catalog_lock_remove(c, "live/l", 5, 5), SV_EINVAL);
}

static void test_retention(void **state)
{
    fixture *f = *state;
    sv_catalog *c = f->cat;
    add_run(c, "live/a", "/r1", T0, 20, 1000, 0, 0);
    add_run(c, "live/b", "/r1", T0 + 500, 20, 1000, 0, 0);
    add_run(c, "live/c", "/r2", T0 - 100000, 20, 1000, 0, 0);
    /* locks segments 5 and 6 of live/a, and the first of live/b */
    assert_int_equal(sv_catalog_lock_add(c, "live/a", T0 + 5500, T0 + 6500), 0);
    assert_int_equal(sv_catalog_lock_add(c, "live/b", T0, T0 + 600), 0);

    sv_catalog_seglist l = {0};
    assert_int_equal(sv_catalog_expired(c, "live/a", T0 + 10500, 100, &l), 0);
    assert_int_equal(l.n, 8); /* 0..9 except 5 and 6; segment 10 ends after the cutoff */
    static const int want[] = {0, 1, 2, 3, 4, 7, 8, 9};
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].start_ms, T0 + want[i] * 1000);
        assert_string_equal(l.v[i].stream, "live/a");
    }
    assert_int_equal(sv_catalog_expired(c, "live/a", T0 + 10500, 3, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[2].start_ms, T0 + 2000);
    assert_int_equal(sv_catalog_expired(c, "live/a", T0, 100, &l), 0);
    assert_int_equal(l.n, 0);

    /* quota: oldest across the streams of /r1, never locked ones, never /r2's */
    assert_int_equal(sv_catalog_oldest_in_root(c, "/r1", 6, &l), 0);
    assert_int_equal(l.n, 6);
    static const int64_t want_start[] = {0, 1000, 1500, 2000, 2500, 3000};
    static const char *want_stream[] = {"live/a", "live/a", "live/b", "live/a", "live/b",
                                        "live/a"};
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].start_ms, T0 + want_start[i]);
        assert_string_equal(l.v[i].stream, want_stream[i]);
        assert_string_equal(l.v[i].root, "/r1");
    }
    int64_t bytes = 0;
    assert_int_equal(sv_catalog_root_bytes(c, "/r1", &bytes), 0);
    assert_int_equal(bytes, 2 * (20 * 1000 + 19 * 20 / 2));
    assert_int_equal(sv_catalog_root_bytes(c, "/r2", &bytes), 0);
    assert_int_equal(bytes, 20 * 1000 + 19 * 20 / 2);
    assert_int_equal(sv_catalog_root_bytes(c, "/nope", &bytes), 0);
    assert_int_equal(bytes, 0);

    /* a lock added between the query and the delete protects its segment */
    assert_int_equal(sv_catalog_expired(c, "live/a", T0 + 10500, 100, &l), 0);
    assert_int_equal(sv_catalog_lock_add(c, "live/a", T0 + 8200, T0 + 8300), 0);
    assert_int_equal(sv_catalog_delete_segs(c, &l, SV_CATALOG_KEEP_LOCKED), 0);
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < l.n; i++)
        assert_int_not_equal(l.v[i].start_ms, T0 + 8000);
    assert_int_equal(sv_catalog_expired(c, "live/a", T0 + 10500, 100, &l), 0);
    assert_int_equal(l.n, 0);
    sv_catalog_stats st;
    assert_int_equal(sv_catalog_stream_stats(c, "live/a", &st), 0);
    assert_int_equal(st.count, 13);
    assert_int_equal(st.first_ms, T0 + 5000);
    assert_int_equal(sv_catalog_root_bytes(c, "/r1", &bytes), 0);
    assert_int_equal(bytes, 2 * (20 * 1000 + 19 * 20 / 2) - (7 * 1000 + 0 + 1 + 2 + 3 + 4 + 7 + 9));
    sv_catalog_seglist_free(&l);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void test_corrupt(void **state)
{
    fixture *f = *state;
    char path[256];
    sv_catalog *c = NULL;
    /* garbage */
    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7 + 3);
    write_file(path, junk, sizeof junk);
    assert_int_equal(sv_catalog_open(path, &c), SV_EINVAL);
    assert_null(c);
    char *moved = NULL;
    assert_int_equal(sv_catalog_quarantine(path, &moved), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(moved, F_OK), 0);
    free(moved);
    assert_int_equal(sv_catalog_open(path, &c), 0); /* a fresh catalog in its place */
    sv_catalog_close(c);
    c = NULL;
    assert_int_equal(sv_catalog_quarantine("/tmp/sv_no_such_catalog.db", NULL), SV_ENOTFOUND);

    /* a real catalog with damaged pages */
    snprintf(path, sizeof path, "%s/damaged.db", f->dir);
    assert_int_equal(sv_catalog_open(path, &c), 0);
    add_run(c, "live/x", "/d", T0, 3000, 2000, 0, 0);
    sv_catalog_close(c);
    c = NULL;
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    assert_true(size > 16 * 4096);
    fseek(fp, size / 2, SEEK_SET);
    fwrite(junk, 1, 4096, fp);
    fclose(fp);
    assert_int_equal(sv_catalog_open(path, &c), SV_EINVAL);
    assert_null(c);

    /* someone else's SQLite database */
    snprintf(path, sizeof path, "%s/foreign.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE segments(x); INSERT INTO segments VALUES(1)",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sv_catalog_open(path, &c), SV_EINVAL);
    /* and one from the future */
    snprintf(path, sizeof path, "%s/future.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sv_catalog_open(path, &c), SV_EUNSUPPORTED);
    /* a directory that does not exist */
    assert_int_equal(sv_catalog_open("/nonexistent/dir/catalog.db", &c), SV_EIO);
}

static void put_seg(const char *root, const char *stream, int64_t start, int64_t dur,
                    size_t bytes, int part)
{
    char rel[SV_DVR_LAYOUT_PATH_MAX], path[512], cmd[600];
    if (part)
        sv_dvr_layout_part_path(rel, sizeof rel, stream, start);
    else
        sv_dvr_layout_segment_path(rel, sizeof rel, stream, start, dur);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    char *buf = calloc(1, bytes + 1);
    write_file(path, buf, bytes);
    free(buf);
}

static void test_rebuild(void **state)
{
    fixture *f = *state;
    char r1[128], r2[128], missing[128], junk[256];
    snprintf(r1, sizeof r1, "%s/disk1", f->dir);
    snprintf(r2, sizeof r2, "%s/disk2", f->dir);
    snprintf(missing, sizeof missing, "%s/disk3", f->dir);
    /* 30 segments of live/cam1 across an hour boundary on disk1, 5 of a/b/c on disk2 */
    int64_t h = INT64_C(1700002800000); /* 23:00:00Z */
    for (int i = 0; i < 30; i++)
        put_seg(r1, "live/cam1", h - 30000 + i * 2000, 2000, 188 * (size_t)(i + 1), 0);
    put_seg(r1, "live/cam1", h + 30000, 0, 188, 1); /* .part: ignored */
    for (int i = 0; i < 5; i++)
        put_seg(r2, "a/b/c", h + i * 4000, 4000, 1000, 0);
    snprintf(junk, sizeof junk, "%s/live/cam1/notes.txt", r1);
    write_file(junk, "hi", 2);

    /* stale rows that must disappear, and a lock and a setting that must stay */
    add_run(f->cat, "old/gone", r1, T0, 10, 2000, 0, 0);
    add_run(f->cat, "live/cam1", r1, h - 30000, 3, 2000, 0, 0); /* wrong sizes */
    assert_int_equal(sv_catalog_lock_add(f->cat, "live/cam1", h, h + 1000), 0);
    assert_int_equal(sv_catalog_setting_put(f->cat, "stream", "live/cam1", "{\"dvr\":{}}"), 0);

    const char *roots[] = {r1, r2, missing};
    size_t n = 0;
    assert_int_equal(sv_catalog_rebuild(f->cat, roots, 3, &n), 0);
    assert_int_equal(n, 35);
    char **names = NULL;
    size_t nn = 0;
    assert_int_equal(sv_catalog_streams(f->cat, &names, &nn), 0);
    assert_int_equal(nn, 2);
    assert_string_equal(names[0], "a/b/c");
    assert_string_equal(names[1], "live/cam1");
    sv_catalog_strv_free(names, nn);
    sv_catalog_seglist l = {0};
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", 0, h * 2, &l), 0);
    assert_int_equal(l.n, 30);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].start_ms, h - 30000 + (int64_t)i * 2000);
        assert_int_equal(l.v[i].bytes, 188 * (int64_t)(i + 1));
        assert_string_equal(l.v[i].root, r1);
    }
    sv_catalog_range *r = NULL;
    size_t nr = 0;
    assert_int_equal(sv_catalog_ranges(f->cat, "live/cam1", 1500, &r, &nr), 0);
    assert_int_equal(nr, 1);
    assert_int_equal(r[0].from_ms, h - 30000);
    assert_int_equal(r[0].duration_ms, 60000);
    free(r);
    int64_t bytes = 0;
    assert_int_equal(sv_catalog_root_bytes(f->cat, r2, &bytes), 0);
    assert_int_equal(bytes, 5000);
    expect_locks(f->cat, "live/cam1", (int64_t[]){h, h + 1000}, 1);
    char *json = NULL;
    assert_int_equal(sv_catalog_setting_get(f->cat, "stream", "live/cam1", &json), 0);
    free(json);
    /* rebuild with no roots empties the segments */
    assert_int_equal(sv_catalog_rebuild(f->cat, NULL, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sv_catalog_list(f->cat, "live/cam1", 0, h * 2, &l), 0);
    assert_int_equal(l.n, 0);
    sv_catalog_seglist_free(&l);
}

typedef struct kv {
    char names[8][32];
    int n;
} kv;

static int list_cb(const char *name, const char *json, void *ud)
{
    kv *k = ud;
    assert_non_null(json);
    snprintf(k->names[k->n++], 32, "%s", name);
    return 0;
}

static int stop_cb(const char *name, const char *json, void *ud)
{
    (void)name; (void)json; (void)ud;
    return 42;
}

static void test_settings(void **state)
{
    fixture *f = *state;
    sv_catalog *c = f->cat;
    char *json = NULL;
    assert_int_equal(sv_catalog_setting_get(c, "stream", "live/a", &json), SV_ENOTFOUND);
    assert_int_equal(sv_catalog_setting_put(c, "stream", "live/a", "{\"dvr\":{\"expiration\":3600}}"), 0);
    assert_int_equal(sv_catalog_setting_put(c, "stream", "live/b", "{}"), 0);
    assert_int_equal(sv_catalog_setting_put(c, "template", "cams", "{\"prefixes\":[\"cam/\"]}"), 0);
    assert_int_equal(sv_catalog_setting_get(c, "stream", "live/a", &json), 0);
    assert_string_equal(json, "{\"dvr\":{\"expiration\":3600}}");
    free(json);
    assert_int_equal(sv_catalog_setting_put(c, "stream", "live/a", "{\"dvr\":null}"), 0);
    assert_int_equal(sv_catalog_setting_get(c, "stream", "live/a", &json), 0);
    assert_string_equal(json, "{\"dvr\":null}");
    free(json);
    assert_int_equal(sv_catalog_setting_put(c, "stream", "live/a", "{not json"), SV_EINVAL);
    assert_int_equal(sv_catalog_setting_put(c, "", "x", "{}"), SV_EINVAL);

    kv k = {0};
    assert_int_equal(sv_catalog_settings_list(c, "stream", list_cb, &k), 0);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.names[0], "live/a");
    assert_string_equal(k.names[1], "live/b");
    memset(&k, 0, sizeof k);
    assert_int_equal(sv_catalog_settings_list(c, "template", list_cb, &k), 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(sv_catalog_settings_list(c, "stream", stop_cb, NULL), 42);

    assert_int_equal(sv_catalog_setting_delete(c, "stream", "live/a"), 0);
    assert_int_equal(sv_catalog_setting_delete(c, "stream", "live/a"), SV_ENOTFOUND);
    assert_int_equal(sv_catalog_setting_get(c, "stream", "live/a", &json), SV_ENOTFOUND);
    memset(&k, 0, sizeof k);
    assert_int_equal(sv_catalog_settings_list(c, "stream", list_cb, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.names[0], "live/b");
}

static void test_reopen_and_sidecar(void **state)
{
    fixture *f = *state;
    add_run(f->cat, "live/p", "/d", T0, 50, 2000, 0, 0);
    assert_int_equal(sv_catalog_lock_add(f->cat, "live/p", T0, T0 + 5000), 0);
    assert_int_equal(sv_catalog_lock_add(f->cat, "live/q", T0, T0 + 1), 0);
    assert_int_equal(sv_catalog_setting_put(f->cat, "sink", "hook", "{\"url\":\"http://x/\"}"), 0);
    sv_catalog_close(f->cat);
    f->cat = NULL;

    assert_int_equal(sv_catalog_open(f->db, &f->cat), 0);
    sv_catalog_stats st;
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/p", &st), 0);
    assert_int_equal(st.count, 50);
    expect_locks(f->cat, "live/p", (int64_t[]){T0, T0 + 5000}, 1);
    char *json = NULL;
    assert_int_equal(sv_catalog_setting_get(f->cat, "sink", "hook", &json), 0);
    assert_string_equal(json, "{\"url\":\"http://x/\"}");
    free(json);
    sv_catalog_close(f->cat);
    f->cat = NULL;

    /* lose the database: locks and settings come back from the sidecar, segments do not */
    char moved[256];
    snprintf(moved, sizeof moved, "%s.lost", f->db);
    assert_int_equal(rename(f->db, moved), 0);
    assert_int_equal(sv_catalog_open(f->db, &f->cat), 0);
    assert_int_equal(sv_catalog_stream_stats(f->cat, "live/p", &st), 0);
    assert_int_equal(st.count, 0);
    expect_locks(f->cat, "live/p", (int64_t[]){T0, T0 + 5000}, 1);
    expect_locks(f->cat, "live/q", (int64_t[]){T0, T0 + 1}, 1);
    assert_int_equal(sv_catalog_setting_get(f->cat, "sink", "hook", &json), 0);
    assert_string_equal(json, "{\"url\":\"http://x/\"}");
    free(json);
}

/* ---- a reader on one thread while a writer thread adds ---- */

typedef struct writer_arg {
    sv_catalog *cat;
    int batches;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    for (int b = 0; b < a->batches; b++) {
        sv_catalog_newseg v[50];
        for (int i = 0; i < 50; i++)
            v[i] = (sv_catalog_newseg){"live/mt", "/d", T0 + (b * 50 + i) * INT64_C(1000), 1000, 1};
        if (sv_catalog_add(a->cat, v, 50, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    fixture *f = *state;
    writer_arg a = {f->cat, 100};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, &a), 0);
    int reads = 0;
    size_t last = 0;
    for (;;) {
        sv_catalog_range *r = NULL;
        size_t n = 0;
        sv_catalog_stats st;
        assert_int_equal(sv_catalog_ranges(f->cat, "live/mt", 1500, &r, &n), 0);
        assert_true(n <= 1);
        free(r);
        assert_int_equal(sv_catalog_stream_stats(f->cat, "live/mt", &st), 0);
        assert_true((size_t)st.count >= last); /* never goes back */
        assert_int_equal(st.count % 50, 0);    /* batches are atomic */
        last = (size_t)st.count;
        reads++;
        if (st.count == 5000)
            break;
    }
    void *ret = NULL;
    pthread_join(t, &ret);
    assert_null(ret);
    print_message("concurrent: %d consistent reads while writing 100 batches\n", reads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_sidecar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
