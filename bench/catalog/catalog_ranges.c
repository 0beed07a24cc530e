/* Benchmark of the DVR catalog's hot queries on a realistic day of recording.
 *
 * Fills a fresh catalog in a temp dir with `days` days of 2-second segments for one
 * stream (43,200 a day, a 10 s gap every 1,000 segments) plus `others` other streams of
 * the same size, then times: the batch add, ranges (best and median of 50), list of one
 * hour and of the whole stream, stats, and a retention query. Prints one line per
 * measurement. Not run in CI; numbers go to docs/benchmarks.md.
 *
 * It also times the archive playlist of a 24 h window (catalog list + m3u8 text), the
 * work behind GET /{name}/index-{from}-86400.m3u8.
 *
 * Run: bench/catalog/run.sh (builds it against build/libsv.a). */
#include "archive/playlist.h"
#include "core/error.h"
#include "dvr/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000)
#define PER_DAY 43200

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this thread: immune to preemption on a busy machine. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Adds days of segments for stream in batches of one hour (1,800 segments). */
static double fill(sv_catalog *cat, const char *stream, int days)
{
    sv_catalog_newseg *v = calloc(1800, sizeof *v);
    int64_t t = T0;
    double total = 0;
    for (long i = 0; i < (long)days * PER_DAY;) {
        int n = 0;
        for (; n < 1800; n++, i++) {
            if (i && i % 1000 == 0)
                t += 10000;
            v[n] = (sv_catalog_newseg){stream, "/srv/dvr", t, 2000, 750000};
            t += 2000;
        }
        double s = now_ms();
        if (sv_catalog_add(cat, v, (size_t)n, NULL) != 0) {
            fprintf(stderr, "add failed\n");
            exit(1);
        }
        total += now_ms() - s;
    }
    free(v);
    return total;
}

static void bench_ranges(sv_catalog *cat, const char *stream)
{
    double t[50], cpu[50];
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        sv_catalog_range *r = NULL;
        double s = now_ms(), c = cpu_ms();
        if (sv_catalog_ranges(cat, stream, 1500, &r, &n) != 0)
            exit(1);
        t[i] = now_ms() - s;
        cpu[i] = cpu_ms() - c;
        free(r);
    }
    qsort(cpu, 50, sizeof *cpu, cmp_double);
    if (getenv("BENCH_VERBOSE"))
        for (int i = 0; i < 50; i++)
            printf("%.2f ", t[i]);
    qsort(t, 50, sizeof *t, cmp_double);
    printf("ranges: %zu ranges, wall best %.2f ms, median %.2f ms; cpu median %.2f ms\n", n,
           t[0], t[25], cpu[25]);
}

static void bench_list(sv_catalog *cat, const char *stream, int64_t span, const char *what)
{
    sv_catalog_seglist l = {0};
    double best = 1e9, best_cpu = 1e9;
    for (int i = 0; i < 10; i++) {
        double s = now_ms(), c = cpu_ms();
        if (sv_catalog_list(cat, stream, T0 + 3600000, T0 + 3600000 + span, &l) != 0)
            exit(1);
        double d = now_ms() - s, dc = cpu_ms() - c;
        best = d < best ? d : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    printf("list %s: %zu segments, wall best %.2f ms, cpu best %.2f ms\n", what, l.n, best,
           best_cpu);
    sv_catalog_seglist_free(&l);
}

/* The archive playlist of a 24 h window: catalog list + m3u8, as the HTTP route does. */
static void bench_playlist(sv_catalog *cat, const char *stream)
{
    double best = 1e9;
    size_t bytes = 0, n = 0;
    for (int i = 0; i < 10; i++) {
        double s = now_ms();
        sv_catalog_range *spans = NULL;
        sv_bytes out;
        sv_bytes_init(&out);
        if (sv_catalog_spans(cat, stream, T0, T0 + 86400000, &spans, &n) ||
            sv_archive_playlist(spans, n, true, true, "", &out))
            exit(1);
        double d = now_ms() - s;
        best = d < best ? d : best;
        bytes = out.len;
        free(spans);
        sv_bytes_free(&out);
    }
    printf("playlist 24 h: %zu segments, %zu bytes, wall best %.2f ms\n", n, bytes, best);
}

int main(int argc, char **argv)
{
    int days = argc > 1 ? atoi(argv[1]) : 1, others = argc > 2 ? atoi(argv[2]) : 0;
    char dir[] = "/tmp/sv_bench_XXXXXX", db[64], cmd[128];
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/catalog.db", dir);
    sv_catalog *cat = NULL;
    if (sv_catalog_open(db, &cat) != 0)
        return 1;
    char name[32];
    for (int i = 0; i < others; i++) {
        snprintf(name, sizeof name, "live/other%d", i);
        fill(cat, name, days);
    }
    double add = fill(cat, "live/cam1", days);
    printf("add: %d segments in %.1f ms (%.2f us/segment, 1-hour batches)\n", days * PER_DAY,
           add, add * 1000 / (days * PER_DAY));
    bench_ranges(cat, "live/cam1");
    bench_list(cat, "live/cam1", 3600000, "1 hour");
    bench_list(cat, "live/cam1", (int64_t)days * 86400000, "all");
    bench_playlist(cat, "live/cam1");
    sv_catalog_stats st;
    double s = now_ms();
    sv_catalog_stream_stats(cat, "live/cam1", &st);
    printf("stats: %.3f ms (%lld segments)\n", now_ms() - s, (long long)st.count);
    sv_catalog_seglist l = {0};
    s = now_ms();
    sv_catalog_oldest_in_root(cat, "/srv/dvr", 100, &l);
    printf("oldest 100 in root: %.3f ms\n", now_ms() - s);
    sv_catalog_seglist_free(&l);
    sv_catalog_close(cat);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
