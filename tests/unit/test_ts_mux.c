/* Unit tests for format/ts_mux.
 *
 * Golden bytes: PAT, PMT, an H.264 keyframe (AUD + SPS/PPS from the config + IDR), an AAC
 * frame and a P frame must come out exactly as below. The expected packets were derived
 * from H.222.0 by an independent model (CRC, PES/PTS/PCR bit layout, stuffing) and the
 * resulting stream was checked with `ffprobe -f mpegts -show_packets`: h264 + aac,
 * pts/dts 903600/900000 (K), 901000 (audio), 910800/903600. Set SV_TS_MUX_DUMP=path to
 * write the muxer's output for such a check. Also: 188-byte packets with 0x47, continuity
 * counters per PID across segments, PCR cadence, large PES with length 0, in-band
 * parameter sets not duplicated, malformed input rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "format/ts_mux.h"
#include "media/aac.h"
#include "media/h264.h"

static const uint8_t sps720[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60};
static const uint8_t pps720[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
static const uint8_t idr[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xfe, 0xf6, 0xf0, 0xfe,
                              0x05, 0x36, 0x56, 0x04, 0x50, 0x96, 0x7b, 0x3f, 0x53, 0xe1};
static const uint8_t pslice[] = {0x41, 0x9a, 0x21, 0x6c, 0x41, 0x3f, 0xfe, 0xd6, 0xa4, 0x80};
static const uint8_t aac_au[] = {0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c, 0x01, 0x02, 0x03, 0x04};
static const uint8_t asc_lc_44k_stereo[] = {0x12, 0x10};

static const char *const golden[] = {
    /* PAT */
    "474000100000b00d0001c100000001f0002ab104b2ffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    /* PMT */
    "475000100002b0170001c10000e100f0001be100f0000fe101f0002f44b99bff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    /* video keyframe: RAI+PCR(896400), PES pts 903600 dts 900000, AUD+SPS+PPS+IDR */
    "474100305e500006d6c87e00ffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffff000001e0005384c00a310037936111003777410000000109f000000001"
    "6764001facd9405005bb011000000300100000030320f18319600000000168eb"
    "e3cb22c0000000016588840033fffef6f0fe0536560450967b3f53e1",
    /* audio: PES pts 901000, ADTS + 10 bytes */
    "474101309800ffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff000001"
    "c000198480052100377f11fff15080023ffc211004608c1c01020304",
    /* video P frame: PCR(900000) since 40 ms passed, pts 910800 dts 903600 */
    "4741003190100006ddd07e00ffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffffff000001e0002184c00a3100"
    "37cba111003793610000000109f000000001419a216c413ffed6a480",
};

static void make_tracks(sv_track *t)
{
    sv_nal s = {sps720, sizeof sps720}, p = {pps720, sizeof pps720};
    sv_bytes b;
    sv_bytes_init(&b);
    assert_int_equal(sv_h264_avcc_build(&s, 1, &p, 1, &b), 0);
    assert_int_equal(sv_h264_track_from_avcc(b.p, b.len, &t[0]), 0);
    assert_int_equal(sv_aac_track_from_asc(asc_lc_44k_stereo, 2, &t[1]), 0);
    sv_bytes_free(&b);
}

static void clear_tracks(sv_track *t)
{
    sv_track_clear(&t[0]);
    sv_track_clear(&t[1]);
}

/* A frame from NAL units (video, 4-byte lengths) or raw bytes (audio). */
static sv_frame *vframe(const uint8_t *const *nals, const size_t *lens, int n, int key,
                        int64_t dts, int64_t pts)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += 4 + lens[i];
    sv_frame *f = sv_frame_new(len);
    uint8_t *w = f->data;
    for (int i = 0; i < n; i++) {
        sv_wb32(w, (uint32_t)lens[i]);
        memcpy(w + 4, nals[i], lens[i]);
        w += 4 + lens[i];
    }
    f->track = 0;
    f->codec = SV_CODEC_H264;
    f->key = key;
    f->dts = dts;
    f->pts = pts;
    return f;
}

static sv_frame *aframe(const uint8_t *p, size_t len, int64_t ts)
{
    sv_frame *f = sv_frame_new(len);
    memcpy(f->data, p, len);
    f->track = 1;
    f->codec = SV_CODEC_AAC;
    f->key = true;
    f->dts = f->pts = ts;
    return f;
}

static void write_v(sv_ts_mux *m, const uint8_t *nal, size_t len, int key, int64_t dts,
                    int64_t pts, sv_bytes *out)
{
    const uint8_t *nals[1] = {nal};
    size_t lens[1] = {len};
    sv_frame *f = vframe(nals, lens, 1, key, dts, pts);
    assert_int_equal(sv_ts_mux_write_frame(m, f, out), 0);
    sv_frame_unref(f);
}

static void write_a(sv_ts_mux *m, int64_t ts, sv_bytes *out)
{
    sv_frame *f = aframe(aac_au, sizeof aac_au, ts);
    assert_int_equal(sv_ts_mux_write_frame(m, f, out), 0);
    sv_frame_unref(f);
}

static void unhex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static void golden_bytes(void **st)
{
    sv_track t[SV_MAX_TRACKS];
    make_tracks(t);
    sv_ts_mux *m = sv_ts_mux_new();
    assert_int_equal(sv_ts_mux_set_tracks(m, t), 0);
    sv_bytes out;
    sv_bytes_init(&out);
    sv_ts_mux_write_tables(m, &out);
    write_v(m, idr, sizeof idr, 1, 900000, 903600, &out);
    write_a(m, 901000, &out);
    write_v(m, pslice, sizeof pslice, 0, 903600, 910800, &out);
    const char *dump = getenv("SV_TS_MUX_DUMP");
    if (dump) {
        FILE *fp = fopen(dump, "wb");
        if (fp) {
            fwrite(out.p, 1, out.len, fp);
            fclose(fp);
        }
    }
    size_t n = sizeof golden / sizeof golden[0];
    assert_int_equal(out.len, n * SV_TS_PACKET);
    for (size_t i = 0; i < n; i++) {
        uint8_t want[SV_TS_PACKET];
        assert_int_equal(strlen(golden[i]), 2 * SV_TS_PACKET);
        unhex(golden[i], want);
        assert_memory_equal(out.p + i * SV_TS_PACKET, want, SV_TS_PACKET);
    }
    sv_ts_mux_free(m);
    clear_tracks(t);
    sv_bytes_free(&out);
}

static void crc32_known_values(void **st)
{
    static const uint8_t pat[] = {0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00,
                                  0x00, 0x00, 0x01, 0xf0, 0x00};
    assert_int_equal(sv_ts_crc32(pat, sizeof pat), 0x2ab104b2); /* ffmpeg's PAT CRC */
    assert_int_equal(sv_ts_crc32((const uint8_t *)"123456789", 9), 0x0376e6e7);
}

/* Walks packets: 188 bytes, 0x47, CC +1 per PID for payload packets; PCR checks. */
typedef struct walk {
    int cc[0x2000];
    int64_t last_pcr, max_pcr_gap;
    int pcrs, packets, keys_with_pcr;
} walk;

static void walk_packets(walk *w, const uint8_t *p, size_t len)
{
    assert_int_equal(len % SV_TS_PACKET, 0);
    for (size_t off = 0; off < len; off += SV_TS_PACKET) {
        const uint8_t *k = p + off;
        assert_int_equal(k[0], 0x47);
        int pid = (k[1] & 0x1f) << 8 | k[2], afc = k[3] >> 4 & 3;
        assert_true(afc != 0);
        if (afc & 1) {
            if (w->cc[pid] >= 0)
                assert_int_equal(k[3] & 15, (w->cc[pid] + 1) & 15);
            w->cc[pid] = k[3] & 15;
        }
        if ((afc & 2) && k[4] && (k[5] & 0x10)) {
            assert_int_equal(pid, SV_TS_PID_VIDEO);
            int64_t b = (int64_t)k[6] << 25 | k[7] << 17 | k[8] << 9 | k[9] << 1 | k[10] >> 7;
            if (w->pcrs)
                assert_true(b >= w->last_pcr);
            if (w->pcrs && b - w->last_pcr > w->max_pcr_gap)
                w->max_pcr_gap = b - w->last_pcr;
            w->last_pcr = b;
            w->pcrs++;
            w->keys_with_pcr += (k[5] & 0x40) != 0;
        }
        w->packets++;
    }
}

static void packets_cc_and_pcr(void **st)
{
    sv_track t[SV_MAX_TRACKS];
    make_tracks(t);
    sv_ts_mux *m = sv_ts_mux_new();
    assert_int_equal(sv_ts_mux_set_tracks(m, t), 0);
    walk *w = calloc(1, sizeof *w);
    memset(w->cc, 0xff, sizeof w->cc);
    sv_bytes out;
    sv_bytes_init(&out);
    uint8_t *big = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        big[i] = (uint8_t)(i * 7 + 1);
    int64_t vdts = 90000, adts = 90000; /* no 33-bit wrap of PCR here */
    for (int seg = 0; seg < 4; seg++) { /* continuity counters run across segments */
        sv_bytes_reset(&out);
        sv_ts_mux_write_tables(m, &out);
        for (int i = 0; i < 50; i++) {
            big[0] = i % 25 == 0 ? 0x65 : 0x41;
            write_v(m, big, (size_t)(1 + (i * 997) % 5000), i % 25 == 0, vdts, vdts + 7200,
                    &out);
            vdts += 3600;
            while (adts < vdts) {
                write_a(m, adts, &out);
                adts += 2090;
            }
        }
        walk_packets(w, out.p, out.len);
    }
    assert_true(w->pcrs >= 200);
    assert_int_equal(w->keys_with_pcr, 8);
    assert_true(w->max_pcr_gap <= 3600);
    /* A 70000-byte access unit: PES_packet_length 0, spans many packets. */
    sv_bytes_reset(&out);
    big[0] = 0x65;
    write_v(m, big, 70000, 1, vdts, vdts, &out);
    walk_packets(w, out.p, out.len);
    assert_int_equal(out.len / SV_TS_PACKET, (70000 + 4 + 6 + 40 + 14 + 8 + 183) / 184);
    assert_int_equal(out.p[4], 7); /* AF: flags + PCR */
    assert_int_equal(out.p[5], 0x50);
    assert_int_equal(out.p[12 + 4], 0);
    assert_int_equal(out.p[12 + 5], 0); /* PES_packet_length 0 */
    free(big);
    free(w);
    sv_bytes_free(&out);
    sv_ts_mux_free(m);
    clear_tracks(t);
}

static void inband_params_and_errors(void **st)
{
    sv_track t[SV_MAX_TRACKS];
    make_tracks(t);
    sv_ts_mux *m = sv_ts_mux_new();
    assert_int_equal(sv_ts_mux_set_tracks(m, t), 0);
    sv_bytes out;
    sv_bytes_init(&out);
    static const uint8_t aud[] = {0x09, 0xf0};
    const uint8_t *nals[4] = {aud, sps720, pps720, idr};
    size_t lens[4] = {2, sizeof sps720, sizeof pps720, sizeof idr};
    sv_frame *f = vframe(nals, lens, 4, 1, 0, 0);
    assert_int_equal(sv_ts_mux_write_frame(m, f, &out), 0);
    /* PES payload is exactly the frame with lengths turned into start codes. */
    const uint8_t *es = out.p + 4 + 1 + out.p[4] + 14;
    size_t es_len = f->len;
    uint8_t want[128];
    memcpy(want, f->data, f->len);
    for (size_t pos = 0; pos < f->len; pos += 4 + sv_rb32(f->data + pos))
        sv_wb32(want + pos, 1);
    assert_memory_equal(es, want, es_len);
    assert_int_equal(out.len, SV_TS_PACKET);
    sv_frame_unref(f);

    /* truncated length prefix, zero-length NAL, empty audio */
    f = vframe(nals, lens, 2, 0, 0, 0);
    f->len -= 1;
    assert_int_equal(sv_ts_mux_write_frame(m, f, &out), SV_EINVAL);
    memset(f->data, 0, 4);
    f->len = 4;
    assert_int_equal(sv_ts_mux_write_frame(m, f, &out), SV_EINVAL);
    sv_frame_unref(f);
    f = aframe(aac_au, 0, 0);
    assert_int_equal(sv_ts_mux_write_frame(m, f, &out), SV_EINVAL);
    sv_frame_unref(f);

    /* audio-only mux: video frames ignored, PCR on the audio PID in the PMT */
    sv_track a[SV_MAX_TRACKS] = {{0}};
    sv_track_copy(&a[1], &t[1]);
    assert_int_equal(sv_ts_mux_set_tracks(m, a), 0);
    sv_bytes_reset(&out);
    f = vframe(nals, lens, 4, 1, 0, 0);
    assert_int_equal(sv_ts_mux_write_frame(m, f, &out), 0);
    assert_int_equal(out.len, 0);
    sv_frame_unref(f);
    sv_ts_mux_write_tables(m, &out);
    const uint8_t *pmt = out.p + SV_TS_PACKET + 5;
    assert_int_equal(pmt[2], 9 + 5 + 4);    /* one stream */
    assert_int_equal(pmt[5], 0xc3);         /* version 1 after the second set_tracks */
    assert_int_equal(pmt[8] & 0x1f, 0x01);  /* PCR PID 0x101 */
    assert_int_equal(pmt[9], 0x01);
    assert_int_equal(pmt[12], 0x0f);
    assert_int_equal(sv_ts_crc32(pmt, 3 + pmt[2]), 0);

    sv_track none[SV_MAX_TRACKS] = {{0}};
    none[0].codec = SV_CODEC_PCMA;
    assert_int_equal(sv_ts_mux_set_tracks(m, none), SV_EUNSUPPORTED);
    sv_track_clear(&a[1]);
    sv_bytes_free(&out);
    sv_ts_mux_free(m);
    sv_ts_mux_free(NULL);
    clear_tracks(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_known_values),
        cmocka_unit_test(golden_bytes),
        cmocka_unit_test(packets_cc_and_pcr),
        cmocka_unit_test(inband_params_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
