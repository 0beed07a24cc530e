/* Unit tests for format/ts_demux.
 *
 * Real files: a 1 s H.264+AAC and a 0.4 s H.265 MPEG-TS made by ffmpeg (fixtures/fix_*.ts,
 * embedded as C arrays by fixtures/gen_fixtures.py together with what ffprobe reads from
 * them): same frame counts, video pts/dts/keyframes in order, first audio pts, track
 * parameters, every audio pts (several AAC frames per PES, interpolated); byte-at-a-time feeding gives the same frames. Round trip: frames muxed by
 * ts_mux (B-frame style pts != dts, large and tiny frames, a 33-bit timestamp wrap) come
 * back with the same timestamps, flags and payloads. Robustness: garbage resync,
 * continuity loss, PES over the 16 MiB cap, stop from a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "format/ts_demux.h"
#include "format/ts_mux.h"
#include "media/aac.h"
#include "media/h264.h"

#include "fixtures/fix_h264_aac.h"
#include "fixtures/fix_h265.h"

#define MAXF 4096

typedef struct rec {
    sv_frame *f[MAXF];
    int n, ntracks, frames_before_tracks, stop_after;
    sv_track tracks[SV_MAX_TRACKS];
} rec;

static void on_tracks(void *ctx, const sv_track *t)
{
    rec *r = ctx;
    r->ntracks++;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_track_clear(&r->tracks[i]);
        sv_track_copy(&r->tracks[i], &t[i]);
    }
}

static int on_frame(void *ctx, sv_frame *f)
{
    rec *r = ctx;
    if (!r->ntracks)
        r->frames_before_tracks++;
    assert_true(r->n < MAXF);
    r->f[r->n++] = sv_frame_ref(f);
    return r->stop_after && r->n == r->stop_after ? 7 : 0;
}

static void rec_free(rec *r)
{
    for (int i = 0; i < r->n; i++)
        sv_frame_unref(r->f[i]);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&r->tracks[i]);
    free(r);
}

/* Demuxes buf fed in chunks of `chunk` bytes (0: all at once). */
static rec *demux(const uint8_t *buf, size_t len, size_t chunk, uint64_t *errors)
{
    rec *r = calloc(1, sizeof *r);
    sv_ts_demux_cb cb = {on_tracks, on_frame, r};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    if (!chunk)
        chunk = len;
    for (size_t off = 0; off < len; off += chunk)
        assert_int_equal(sv_ts_demux_feed(d, buf + off, len - off < chunk ? len - off : chunk), 0);
    assert_int_equal(sv_ts_demux_flush(d), 0);
    if (errors)
        *errors = sv_ts_demux_errors(d);
    sv_ts_demux_free(d);
    return r;
}

static int count_track(const rec *r, int t)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->f[i]->track == t;
    return n;
}

/* Every video frame is 4-byte length prefixed NALs with no AUD. */
static void check_len4(const sv_frame *f, int h265)
{
    size_t pos = 0;
    sv_nal nal;
    int rc, n = 0;
    while ((rc = sv_h264_len4_next(f->data, f->len, &pos, &nal)) == 1) {
        int ty = h265 ? (nal.p[0] >> 1) & 0x3f : nal.p[0] & 0x1f;
        assert_int_not_equal(ty, h265 ? 35 : 9);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_true(n > 0);
}

static void real_h264_aac_file(void **st)
{
    uint64_t errs;
    rec *r = demux(fix_h264_aac_ts, sizeof fix_h264_aac_ts, 0, &errs);
    assert_int_equal(errs, 0);
    assert_int_equal(r->ntracks, 1);
    assert_int_equal(r->frames_before_tracks, 0);
    assert_int_equal(r->tracks[0].codec, SV_CODEC_H264);
    assert_int_equal(r->tracks[0].width, 320);
    assert_int_equal(r->tracks[0].height, 240);
    assert_int_equal(r->tracks[0].profile, 100);
    assert_int_equal(r->tracks[0].level, 13);
    assert_int_equal(r->tracks[0].fps_num, 25);
    assert_int_equal(r->tracks[0].fps_den, 1);
    assert_int_equal(r->tracks[1].codec, SV_CODEC_AAC);
    assert_int_equal(r->tracks[1].sample_rate, 44100);
    assert_int_equal(r->tracks[1].channels, 1);
    assert_int_equal(r->tracks[1].aac_object_type, 2);
    assert_int_equal(count_track(r, 0), FIX_H264_AAC_NB_VIDEO);
    assert_int_equal(count_track(r, 1), FIX_H264_AAC_NB_AUDIO);
    int v = 0, a = 0;
    int64_t last_audio = -1;
    for (int i = 0; i < r->n; i++) {
        sv_frame *f = r->f[i];
        if (f->track == 0) {
            assert_int_equal(f->pts, fix_h264_aac_video[v][0]);
            assert_int_equal(f->dts, fix_h264_aac_video[v][1]);
            assert_int_equal(f->key, fix_h264_aac_video[v][2]);
            check_len4(f, 0);
            v++;
        } else {
            if (a == 0)
                assert_int_equal(f->pts, FIX_H264_AAC_AUDIO_PTS0);
            /* frames after the first of a PES are interpolated: exact from the PES pts
             * here, ffmpeg adds a rounded 2090 per frame, so allow one tick */
            assert_true(llabs(f->pts - fix_h264_aac_audio_pts[a++]) <= 1);
            assert_int_equal(f->dts, f->pts);
            assert_true(f->pts > last_audio);
            assert_true(f->len > 0 && f->data[0] != 0xff); /* ADTS header stripped */
            last_audio = f->pts;
        }
    }
    /* Fed one byte at a time: the same frames. */
    rec *r1 = demux(fix_h264_aac_ts, sizeof fix_h264_aac_ts, 1, NULL);
    assert_int_equal(r1->n, r->n);
    for (int i = 0; i < r->n; i++) {
        assert_int_equal(r1->f[i]->dts, r->f[i]->dts);
        assert_int_equal(r1->f[i]->len, r->f[i]->len);
        assert_memory_equal(r1->f[i]->data, r->f[i]->data, r->f[i]->len);
    }
    rec_free(r1);
    rec_free(r);
}

static void real_h265_file(void **st)
{
    uint64_t errs;
    rec *r = demux(fix_h265_ts, sizeof fix_h265_ts, 7, &errs);
    assert_int_equal(errs, 0);
    assert_int_equal(r->ntracks, 1);
    assert_int_equal(r->tracks[0].codec, SV_CODEC_H265);
    assert_int_equal(r->tracks[0].width, 320);
    assert_int_equal(r->tracks[0].height, 240);
    assert_int_equal(r->tracks[0].profile, 1);
    assert_int_equal(r->tracks[0].level, 60);
    assert_int_equal(r->tracks[1].codec, SV_CODEC_NONE);
    assert_int_equal(r->n, FIX_H265_NB_VIDEO);
    for (int i = 0; i < r->n; i++) {
        assert_int_equal(r->f[i]->pts, fix_h265_video[i][0]);
        assert_int_equal(r->f[i]->dts, fix_h265_video[i][1]);
        assert_int_equal(r->f[i]->key, fix_h265_video[i][2]);
        check_len4(r->f[i], 1);
    }
    rec_free(r);
}

/* ---- round trip ---- */

static const uint8_t sps720[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60};
static const uint8_t pps720[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};

static void put_nal(uint8_t **w, const uint8_t *p, size_t n)
{
    sv_wb32(*w, (uint32_t)n);
    memcpy(*w + 4, p, n);
    *w += 4 + n;
}

/* Video frame i: keyframes every 30 carry SPS+PPS in-band; sizes vary 1..~90 KB;
 * no byte pattern that could form a start code (payloads avoid 0x00). */
static sv_frame *make_video(int i, int64_t dts, int64_t pts)
{
    size_t body = i % 30 == 0 ? 90000 : (size_t)(1 + (i * 7919) % 3000);
    sv_frame *f = sv_frame_new(2 * 4 + sizeof sps720 + sizeof pps720 + 4 + body);
    uint8_t *w = f->data;
    if (i % 30 == 0) {
        put_nal(&w, sps720, sizeof sps720);
        put_nal(&w, pps720, sizeof pps720);
    }
    sv_wb32(w, (uint32_t)body);
    w[4] = i % 30 == 0 ? 0x65 : 0x41;
    for (size_t k = 1; k < body; k++)
        w[4 + k] = (uint8_t)(1 + (k + (size_t)i) % 250);
    w += 4 + body;
    f->len = (size_t)(w - f->data);
    f->track = 0;
    f->codec = SV_CODEC_H264;
    f->key = i % 30 == 0;
    f->dts = dts;
    f->pts = pts;
    return f;
}

static sv_frame *make_audio(int i, int64_t ts)
{
    size_t n = (size_t)(50 + i % 300);
    sv_frame *f = sv_frame_new(n);
    for (size_t k = 0; k < n; k++)
        f->data[k] = (uint8_t)(k * 31 + (size_t)i);
    f->track = 1;
    f->codec = SV_CODEC_AAC;
    f->key = true;
    f->dts = f->pts = ts;
    return f;
}

static void make_tracks(sv_track *t)
{
    sv_nal s = {sps720, sizeof sps720}, p = {pps720, sizeof pps720};
    static const uint8_t asc[] = {0x11, 0x90}; /* LC 48 kHz stereo */
    sv_bytes b;
    sv_bytes_init(&b);
    assert_int_equal(sv_h264_avcc_build(&s, 1, &p, 1, &b), 0);
    assert_int_equal(sv_h264_track_from_avcc(b.p, b.len, &t[0]), 0);
    assert_int_equal(sv_aac_track_from_asc(asc, sizeof asc, &t[1]), 0);
    sv_bytes_free(&b);
}

#define NV 300
#define NA 469 /* audio frames that fit in the video's 10 s */

typedef struct src {
    sv_frame *f[NV + NA];
    int n;
} src;

/* Interleaves NV video frames (IBBP-like: pts = dts + {2,0,0,...} frames) and audio
 * (1024 samples at 48 kHz = 1920 ticks) starting 3 s before the 33-bit wrap. */
static void make_source(src *s)
{
    int64_t start = ((int64_t)1 << 33) - 3 * 90000;
    int a = 0;
    for (int i = 0; i < NV; i++) {
        int64_t dts = start + (int64_t)i * 3000;
        int64_t pts = dts + (i % 3 == 0 ? 9000 : i % 3 == 1 ? 3000 : 0);
        s->f[s->n++] = make_video(i, dts, pts);
        while (a < NA && start + (int64_t)a * 1920 < dts + 3000)
            s->f[s->n++] = make_audio(a, start + (int64_t)a * 1920), a++;
    }
}

static void mux_source(const src *s, sv_bytes *out)
{
    sv_track t[SV_MAX_TRACKS] = {{0}};
    make_tracks(t);
    sv_ts_mux *m = sv_ts_mux_new();
    assert_int_equal(sv_ts_mux_set_tracks(m, t), 0);
    for (int i = 0; i < s->n; i++) {
        if (s->f[i]->track == 0 && s->f[i]->key)
            sv_ts_mux_write_tables(m, out);
        assert_int_equal(sv_ts_mux_write_frame(m, s->f[i], out), 0);
    }
    sv_ts_mux_free(m);
    sv_track_clear(&t[0]);
    sv_track_clear(&t[1]);
}

static void expect_same(const rec *r, const src *s, int track)
{
    int j = 0;
    for (int i = 0; i < s->n; i++) {
        const sv_frame *a = s->f[i];
        if (a->track != track)
            continue;
        while (j < r->n && r->f[j]->track != track)
            j++;
        assert_true(j < r->n);
        const sv_frame *b = r->f[j++];
        assert_int_equal(b->dts, a->dts);
        assert_int_equal(b->pts, a->pts);
        assert_int_equal(b->key, a->key);
        assert_int_equal(b->len, a->len);
        assert_memory_equal(b->data, a->data, a->len);
    }
    while (j < r->n && r->f[j]->track != track)
        j++;
    assert_int_equal(j, r->n);
}

static void free_source(src *s)
{
    for (int i = 0; i < s->n; i++)
        sv_frame_unref(s->f[i]);
}

static void mux_demux_round_trip(void **st)
{
    static src s;
    make_source(&s);
    sv_bytes ts;
    sv_bytes_init(&ts);
    mux_source(&s, &ts);
    uint64_t errs;
    rec *r = demux(ts.p, ts.len, 0, &errs);
    assert_int_equal(errs, 0);
    assert_int_equal(r->ntracks, 1);
    assert_int_equal(r->tracks[0].width, 1280);
    assert_int_equal(r->tracks[1].sample_rate, 48000);
    assert_int_equal(r->tracks[1].channels, 2);
    assert_int_equal(count_track(r, 0), NV);
    assert_int_equal(count_track(r, 1), NA);
    expect_same(r, &s, 0);
    expect_same(r, &s, 1);
    assert_true(s.f[s.n - 1]->dts > ((int64_t)1 << 33)); /* really crossed the wrap */
    rec_free(r);
    /* Odd chunk sizes give the same result. */
    r = demux(ts.p, ts.len, 1000, &errs);
    assert_int_equal(r->n, NV + NA);
    expect_same(r, &s, 0);
    rec_free(r);
    sv_bytes_free(&ts);
    free_source(&s);
    s.n = 0;
}

static void garbage_and_loss(void **st)
{
    static src s;
    make_source(&s);
    sv_bytes ts, bad;
    sv_bytes_init(&ts);
    sv_bytes_init(&bad);
    mux_source(&s, &ts);
    size_t npk = ts.len / SV_TS_PACKET;
    /* leading garbage, garbage between packets, and a lost packet inside a keyframe PES */
    sv_bytes_put(&bad, "\x01\x02\x03garbage", 10);
    size_t lost = 0;
    for (size_t i = 0; i < npk; i++) {
        const uint8_t *p = ts.p + i * SV_TS_PACKET;
        int pid = (p[1] & 0x1f) << 8 | p[2];
        if (!lost && i > npk / 2 && pid == SV_TS_PID_VIDEO && !(p[1] & 0x40)) {
            lost = i;
            continue;
        }
        if (i == 100)
            sv_bytes_put(&bad, "\x00\x11\x22", 3);
        sv_bytes_put(&bad, p, SV_TS_PACKET);
    }
    uint64_t errs;
    rec *r = demux(bad.p, bad.len, 0, &errs);
    assert_true(errs >= 3);
    assert_int_equal(count_track(r, 0), NV - 1);
    assert_int_equal(count_track(r, 1), NA);
    for (int i = 1; i < r->n; i++)
        if (r->f[i]->track == 0)
            check_len4(r->f[i], 0);
    rec_free(r);
    sv_bytes_free(&ts);
    sv_bytes_free(&bad);
    free_source(&s);
    s.n = 0;
}

static void oversize_pes_dropped(void **st)
{
    sv_track t[SV_MAX_TRACKS] = {{0}};
    make_tracks(t);
    sv_ts_mux *m = sv_ts_mux_new();
    assert_int_equal(sv_ts_mux_set_tracks(m, t), 0);
    sv_bytes out;
    sv_bytes_init(&out);
    sv_ts_mux_write_tables(m, &out);
    sv_frame *k = make_video(0, 0, 0);
    assert_int_equal(sv_ts_mux_write_frame(m, k, &out), 0);
    sv_frame *big = sv_frame_new((17u << 20) + 4);
    sv_wb32(big->data, 17u << 20);
    memset(big->data + 4, 0x41, 17u << 20);
    big->dts = big->pts = 3000;
    assert_int_equal(sv_ts_mux_write_frame(m, big, &out), 0);
    sv_frame *after = make_video(1, 6000, 6000);
    assert_int_equal(sv_ts_mux_write_frame(m, after, &out), 0);
    uint64_t errs;
    rec *r = demux(out.p, out.len, 0, &errs);
    assert_int_equal(errs, 1);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->f[0]->dts, 0);
    assert_int_equal(r->f[1]->dts, 6000);
    assert_memory_equal(r->f[1]->data, after->data, after->len);
    rec_free(r);
    sv_frame_unref(k);
    sv_frame_unref(big);
    sv_frame_unref(after);
    sv_bytes_free(&out);
    sv_ts_mux_free(m);
    sv_track_clear(&t[0]);
    sv_track_clear(&t[1]);
}

static void callback_stop(void **st)
{
    rec *r = calloc(1, sizeof *r);
    r->stop_after = 3;
    sv_ts_demux_cb cb = {on_tracks, on_frame, r};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    assert_int_equal(sv_ts_demux_feed(d, fix_h264_aac_ts, sizeof fix_h264_aac_ts), 7);
    assert_int_equal(r->n, 3);
    sv_ts_demux_free(d);
    sv_ts_demux_free(NULL);
    rec_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_h264_aac_file),   cmocka_unit_test(real_h265_file),
        cmocka_unit_test(mux_demux_round_trip), cmocka_unit_test(garbage_and_loss),
        cmocka_unit_test(oversize_pes_dropped), cmocka_unit_test(callback_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
