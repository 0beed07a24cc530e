/* Driver for bench/export/run.sh: exports a window of an archive with the engine, or
 * remuxes an ffmpeg-made segment into our own TS layout (ts_demux -> ts_mux).
 *
 *   export_bench remux IN.ts OUT.ts
 *   export_bench export LIST.csv FROM_MS TO_MS OUT.{mp4,ts}   (sv_export_to_file: fsync)
 *   export_bench stream LIST.csv FROM_MS TO_MS OUT.{mp4,ts}   (reader -> fd, as an HTTP
 *                                                              download would; no fsync)
 * LIST.csv lines: path,start_ms,duration_ms (segments in start order). Prints the plan
 * and write times. Not a test: no checks beyond return codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/export.h"
#include "core/error.h"
#include "format/ts_demux.h"
#include "format/ts_mux.h"

typedef struct remux {
    sv_ts_mux *mux;
    sv_bytes out;
    int have_tracks;
} remux;

static void rm_tracks(void *ctx, const sv_track *t)
{
    remux *r = ctx;
    if (sv_ts_mux_set_tracks(r->mux, t) == 0 && !r->have_tracks) {
        sv_ts_mux_write_tables(r->mux, &r->out);
        r->have_tracks = 1;
    }
}

static int rm_frame(void *ctx, sv_frame *f)
{
    remux *r = ctx;
    return sv_ts_mux_write_frame(r->mux, f, &r->out) < 0 ? 1 : 0;
}

static int do_remux(const char *in, const char *out)
{
    remux r = {sv_ts_mux_new(), {0}, 0};
    sv_ts_demux_cb cb = {rm_tracks, rm_frame, &r};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
    static uint8_t buf[1 << 16];
    size_t k;
    if (!fi || !fo || !d || !r.mux)
        return 1;
    while ((k = fread(buf, 1, sizeof buf, fi)) > 0)
        if (sv_ts_demux_feed(d, buf, k))
            return 1;
    sv_ts_demux_flush(d);
    fwrite(r.out.p, 1, r.out.len, fo);
    fclose(fi);
    fclose(fo);
    sv_ts_demux_free(d);
    sv_ts_mux_free(r.mux);
    sv_bytes_free(&r.out);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int stream_to(const sv_export_plan *p, const char *out)
{
    static uint8_t buf[1 << 20];
    sv_export_reader *r;
    FILE *fo = fopen(out, "wb");
    ssize_t k = SV_EIO;
    if (!fo || sv_export_reader_new(p, 0, sv_export_size(p), NULL, &r) < 0)
        return SV_EIO;
    while ((k = sv_export_read(r, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)k, fo);
    sv_export_reader_free(r);
    fclose(fo);
    return (int)k;
}

static int do_export(const char *list, long long from, long long to, const char *out,
                     int stream)
{
    FILE *fl = fopen(list, "r");
    sv_export_seg segs[20000];
    size_t n = 0;
    char line[1024];
    while (fl && n < 20000 && fgets(line, sizeof line, fl)) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2)
            continue;
        *c1 = 0;
        segs[n++] = (sv_export_seg){strdup(line), atoll(c1 + 1), atoll(c2 + 1)};
    }
    if (fl)
        fclose(fl);
    sv_export_format fmt = strstr(out, ".ts") ? SV_EXPORT_TS : SV_EXPORT_MP4;
    sv_export_plan *p;
    double t0 = now();
    int rc = sv_export_plan_new(segs, n, from, to, 0, fmt, NULL, NULL, &p);
    double t1 = now();
    if (rc < 0) {
        fprintf(stderr, "plan: %s\n", sv_strerror(rc));
        return 1;
    }
    rc = stream ? stream_to(p, out) : sv_export_to_file(p, out, NULL, NULL, NULL, SV_EXPORT_OVERWRITE);
    double t2 = now();
    printf("plan %.3f s, write %.3f s, %llu bytes, %zu samples, %lld ms, first utc %lld: %s\n",
           t1 - t0, t2 - t1, (unsigned long long)sv_export_size(p), sv_export_sample_count(p),
           (long long)sv_export_duration_ms(p), (long long)sv_export_first_utc_ms(p),
           sv_strerror(rc));
    sv_export_plan_free(p);
    for (size_t i = 0; i < n; i++)
        free((char *)segs[i].path);
    return rc < 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "remux") == 0)
        return do_remux(argv[2], argv[3]);
    if (argc == 6 && (strcmp(argv[1], "export") == 0 || strcmp(argv[1], "stream") == 0))
        return do_export(argv[2], atoll(argv[3]), atoll(argv[4]), argv[5],
                         strcmp(argv[1], "stream") == 0);
    fprintf(stderr, "usage: export_bench remux IN OUT | export|stream LIST FROM_MS TO_MS OUT\n");
    return 2;
}
