/* Unit tests for ingest/rtsp/rtp and rtp_depack with real packets from GStreamer's
 * payloaders (test_rtsp_fixtures.h): RTP header parsing, H.264 single NAL / FU-A access
 * units, H.265 FU, AAC-hbr, G.711, the jitter buffer (reordering, loss, duplicates, late
 * packets, sequence restarts), loss handling in the depacketizer (frame dropped, wait for
 * the next keyframe), timestamp unwrapping and RTCP sender reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtsp/rtp.h"
#include "ingest/rtsp/rtp_depack.h"
#include "media/h264.h"
#include "test_rtsp_fixtures.h"

#define MAXAU 32

typedef struct got {
    int n;
    uint8_t *data[MAXAU];
    size_t len[MAXAU];
    uint32_t ts[MAXAU];
    bool key[MAXAU];
} got;

static void on_au(void *ctx, const uint8_t *data, size_t len, uint32_t ts, bool key)
{
    got *g = ctx;
    assert_true(g->n < MAXAU);
    g->data[g->n] = malloc(len);
    memcpy(g->data[g->n], data, len);
    g->len[g->n] = len;
    g->ts[g->n] = ts;
    g->key[g->n] = key;
    g->n++;
}

static void got_free(got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    memset(g, 0, sizeof *g);
}

/* Feeds packets through the RTP parser into d; lost: packets to report missing before
 * packet index `at` (-1: none). */
static void feed(sv_rtp_depack *d, const uint8_t *const *pk, const size_t *len, int n, int skip)
{
    uint32_t lost = 0;
    for (int i = 0; i < n; i++) {
        if (i == skip) {
            lost = 1;
            continue;
        }
        sv_rtp_hdr h;
        assert_int_equal(sv_rtp_parse(pk[i], len[i], &h), 0);
        sv_rtp_depack_push(d, h.payload, h.payload_len, h.ts, h.marker, lost);
        lost = 0;
    }
}

/* NAL unit types of a length-prefixed AU (H.264). */
static int nal_types(const uint8_t *p, size_t len, int *types, int max, bool h265)
{
    size_t pos = 0;
    sv_nal nal;
    int n = 0;
    while (n < max && sv_h264_len4_next(p, len, &pos, &nal) == 1)
        types[n++] = h265 ? (nal.p[0] >> 1) & 0x3f : nal.p[0] & 0x1f;
    return n;
}

static void test_rtp_header(void **state)
{
    sv_rtp_hdr h;
    assert_int_equal(sv_rtp_parse(h264_a[0], h264_a_len[0], &h), 0);
    assert_int_equal(h.pt, 96);
    assert_false(h.marker);
    assert_int_equal(h.payload_len, h264_a_len[0] - 12);
    assert_int_equal(h.payload[0] & 0x1f, 9); /* AUD */
    assert_int_equal(sv_rtp_parse(h264_a[9], h264_a_len[9], &h), 0);
    assert_true(h.marker);
    uint8_t p[32] = {0xb0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}; /* padding + extension */
    p[12] = 0xbe, p[13] = 0xde, p[14] = 0, p[15] = 1;          /* 1 word of extension */
    p[31] = 4;                                                 /* 4 bytes of padding */
    assert_int_equal(sv_rtp_parse(p, 32, &h), 0);
    assert_int_equal(h.payload_len, 32 - 16 - 4 - 4);
    p[31] = 40;
    assert_int_equal(sv_rtp_parse(p, 32, &h), SV_EINVAL);
    p[0] = 0x40;
    assert_int_equal(sv_rtp_parse(p, 32, &h), SV_EINVAL);
    assert_int_equal(sv_rtp_parse(p, 11, &h), SV_EINVAL);
    uint8_t cc[16] = {0x8f, 0x60};                           /* 15 CSRCs, too short */
    assert_int_equal(sv_rtp_parse(cc, 16, &h), SV_EINVAL);
}

static void test_h264_access_units(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    assert_int_equal(sv_rtp_depack_init(&d, SV_CODEC_H264, "packetization-mode=1", on_au, &g), 0);
    feed(&d, h264_a, h264_a_len, H264_A_N, -1);
    sv_rtp_depack_flush(&d);
    assert_int_equal(g.n, 2);
    assert_true(g.key[0]);
    assert_false(g.key[1]);
    assert_int_equal(g.ts[1] - g.ts[0], 3600);
    int t[16];
    /* AUD SPS PPS SEI SPS PPS IDR [SPS PPS dropped] IDR */
    int n = nal_types(g.data[0], g.len[0], t, 16, false);
    int want[] = {9, 7, 8, 6, 7, 8, 5, 5};
    assert_int_equal(n, 8);
    assert_memory_equal(t, want, sizeof want);
    assert_int_equal(nal_types(g.data[1], g.len[1], t, 16, false), 3);
    assert_int_equal(d.ps_version, 2); /* one SPS, one PPS remembered */
    assert_true(d.sps.len > 4 && (d.sps.p[0] & 0x1f) == 7);
    assert_int_equal(d.frames, 2);
    assert_int_equal(d.frames_dropped, 0);
    sv_rtp_depack_free(&d);
    got_free(&g);
}

static void test_h264_fu_a(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    sv_rtp_depack_init(&d, SV_CODEC_H264, "", on_au, &g);
    d.need_key = false; /* start mid-stream */
    feed(&d, h264_b, h264_b_len, H264_B_N, -1);
    int idr = -1;
    for (int i = 0; i < g.n; i++)
        if (g.key[i])
            idr = i;
    assert_true(idr >= 0);
    /* the FU-A of packets 6 and 7 (1400 + 22 bytes) became one NAL unit */
    size_t pos = 0, biggest = 0;
    sv_nal nal;
    while (sv_h264_len4_next(g.data[idr], g.len[idr], &pos, &nal) == 1)
        if (nal.len > biggest)
            biggest = nal.len;
    assert_int_equal(biggest, 1 + (h264_b_len[6] - 14) + (h264_b_len[7] - 14));
    got_free(&g);
    /* lose the FU-A end: the IDR is dropped, P frames after it too (no keyframe) */
    d.need_key = false;
    d.frames_dropped = 0;
    feed(&d, h264_b, h264_b_len, H264_B_N, 7);
    for (int i = 0; i < g.n; i++)
        assert_false(g.key[i]);
    assert_true(d.frames_dropped >= 1);
    int before = g.n;
    assert_true(d.need_key);
    got_free(&g);
    (void)before;
    /* a keyframe ends the wait */
    feed(&d, h264_a, h264_a_len, H264_A_N, -1);
    assert_true(g.n >= 1 && g.key[0]);
    sv_rtp_depack_free(&d);
    got_free(&g);
}

static void test_h264_start_waits_for_keyframe(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    sv_rtp_depack_init(&d, SV_CODEC_H264, "", on_au, &g);
    feed(&d, h264_a + 10, h264_a_len + 10, 3, -1); /* a P frame first: skipped, not lost */
    assert_int_equal(g.n, 0);
    assert_int_equal(d.frames_dropped, 0);
    sv_rtp_depack_free(&d);
    assert_int_equal(sv_rtp_depack_init(&d, SV_CODEC_H264, "packetization-mode=2", on_au, &g),
                     SV_EUNSUPPORTED);
    sv_rtp_depack_free(&d);
}

static void test_h265_fu(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    assert_int_equal(sv_rtp_depack_init(&d, SV_CODEC_H265, "", on_au, &g), 0);
    feed(&d, h265_a, h265_a_len, H265_A_N, -1);
    assert_true(g.n >= 2);
    assert_true(g.key[0]);
    int t[8];
    int n = nal_types(g.data[0], g.len[0], t, 8, true);
    assert_true(n >= 4);
    assert_int_equal(t[0], 32);
    assert_int_equal(t[1], 33);
    assert_int_equal(t[2], 34);
    bool irap = false;
    for (int i = 3; i < n; i++)
        irap |= t[i] >= 16 && t[i] <= 21;
    assert_true(irap); /* the IDR was reassembled from its FU packets */
    assert_true(d.vps.len && d.sps.len && d.pps.len);
    sv_rtp_depack_free(&d);
    got_free(&g);
}

static void test_aac_hbr(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    const char *fmtp = "streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1190;sizelength=13;"
                       "indexlength=3;indexdeltalength=3";
    assert_int_equal(sv_rtp_depack_init(&d, SV_CODEC_AAC, fmtp, on_au, &g), 0);
    feed(&d, aac_a, aac_a_len, AAC_A_N, -1);
    assert_int_equal(g.n, AAC_A_N);
    for (int i = 0; i < g.n; i++) {
        assert_int_equal(g.len[i], aac_a_len[i] - 12 - 4); /* AU-headers-length + 1 header */
        if (i)
            assert_int_equal(g.ts[i] - g.ts[i - 1], 1024);
    }
    got_free(&g);
    /* two AUs in one packet, then one AU fragmented over two packets */
    uint8_t two[] = {0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5};
    sv_rtp_depack_push(&d, two, sizeof two, 1000, true, 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.ts[1], 1000 + 1024);
    assert_int_equal(g.len[1], 2);
    uint8_t f1[] = {0, 16, 0, 6 << 3, 'a', 'b', 'c'}, f2[] = {0, 16, 0, 6 << 3, 'd', 'e', 'f'};
    sv_rtp_depack_push(&d, f1, sizeof f1, 3000, false, 0);
    sv_rtp_depack_push(&d, f2, sizeof f2, 3000, true, 0);
    assert_int_equal(g.n, 3);
    assert_memory_equal(g.data[2], "abcdef", 6);
    /* a lost middle fragment drops the AU */
    sv_rtp_depack_push(&d, f1, sizeof f1, 4000, false, 0);
    sv_rtp_depack_push(&d, f2, sizeof f2, 4000, true, 1);
    assert_int_equal(g.n, 3);
    uint8_t bad[] = {0, 200, 0};
    assert_true(sv_rtp_depack_push(&d, bad, sizeof bad, 1, true, 0) < 0);
    sv_rtp_depack_free(&d);
    assert_int_equal(sv_rtp_depack_init(&d, SV_CODEC_AAC, "mode=AAC-hbr", on_au, &g),
                     SV_EUNSUPPORTED);
    sv_rtp_depack_free(&d);
    got_free(&g);
}

static void test_g711(void **state)
{
    got g = {0};
    sv_rtp_depack d;
    sv_rtp_depack_init(&d, SV_CODEC_PCMA, "", on_au, &g);
    uint8_t s[160];
    memset(s, 0xd5, sizeof s);
    sv_rtp_depack_push(&d, s, sizeof s, 160, false, 0);
    sv_rtp_depack_push(&d, s, sizeof s, 320, false, 3);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.len[0], 160);
    assert_true(g.key[1]);
    sv_rtp_depack_free(&d);
    got_free(&g);
}

static int pop_seq(sv_rtp_jb *jb, int64_t now, bool flush, uint32_t *lost)
{
    const uint8_t *p;
    size_t len;
    if (!sv_rtp_jb_pop(jb, now, flush, &p, &len, lost))
        return -1;
    return p[0] << 8 | p[1];
}

static void push_seq(sv_rtp_jb *jb, uint16_t seq, int64_t now)
{
    uint8_t b[2] = {(uint8_t)(seq >> 8), (uint8_t)seq};
    assert_int_equal(sv_rtp_jb_push(jb, seq, b, 2, now), 0);
}

static void test_jitter_buffer(void **state)
{
    sv_rtp_jb jb;
    uint32_t lost;
    sv_rtp_jb_init(&jb, 4, 300);
    /* reordering across the 16-bit wrap: 65534 65535 1 0 2 */
    push_seq(&jb, 65534, 0);
    assert_int_equal(pop_seq(&jb, 0, false, &lost), 65534);
    push_seq(&jb, 65535, 0);
    push_seq(&jb, 1, 0);
    push_seq(&jb, 0, 1);
    push_seq(&jb, 2, 1);
    assert_int_equal(pop_seq(&jb, 1, false, &lost), 65535);
    assert_int_equal(pop_seq(&jb, 1, false, &lost), 0);
    assert_int_equal(pop_seq(&jb, 1, false, &lost), 1);
    assert_int_equal(pop_seq(&jb, 1, false, &lost), 2);
    assert_int_equal(lost, 0);
    assert_int_equal(pop_seq(&jb, 1, false, &lost), -1);
    /* a hole waits, then is given up after max_wait */
    push_seq(&jb, 5, 10);
    assert_int_equal(pop_seq(&jb, 100, false, &lost), -1);
    assert_int_equal(pop_seq(&jb, 400, false, &lost), 5);
    assert_int_equal(lost, 2);
    assert_int_equal(jb.lost, 2);
    /* ... or once more than `depth` packets sit behind it */
    for (uint16_t s = 7; s <= 11; s++)
        push_seq(&jb, s, 500);
    assert_int_equal(pop_seq(&jb, 500, false, &lost), 7);
    assert_int_equal(lost, 1);
    /* late (already skipped) and duplicate packets are dropped */
    push_seq(&jb, 6, 500);
    push_seq(&jb, 9, 500);
    assert_int_equal(jb.late, 1);
    assert_int_equal(jb.dups, 1);
    for (int s = 8; s <= 11; s++)
        assert_int_equal(pop_seq(&jb, 500, false, &lost), s);
    /* a far jump restarts the sequence */
    push_seq(&jb, 30000, 600);
    assert_int_equal(jb.resets, 1);
    assert_int_equal(pop_seq(&jb, 600, false, &lost), 30000);
    assert_int_equal(lost, 0);
    /* flush hands out everything */
    push_seq(&jb, 30003, 600);
    assert_int_equal(pop_seq(&jb, 600, true, &lost), 30003);
    assert_int_equal(lost, 2);
    /* bypass only when in order and empty */
    assert_true(sv_rtp_jb_bypass(&jb, 30004));
    assert_false(sv_rtp_jb_bypass(&jb, 30006));
    uint8_t big[1];
    assert_int_equal(sv_rtp_jb_push(&jb, 1, big, SV_RTP_MAX_PACKET + 1, 0), SV_ETOOBIG);
    sv_rtp_jb_free(&jb);
    /* depth 0 (TCP): gaps are reported at once */
    sv_rtp_jb_init(&jb, 0, 300);
    push_seq(&jb, 10, 0);
    assert_int_equal(pop_seq(&jb, 0, false, &lost), 10);
    push_seq(&jb, 13, 0);
    assert_int_equal(pop_seq(&jb, 0, false, &lost), 13);
    assert_int_equal(lost, 2);
    sv_rtp_jb_free(&jb);
}

static void test_unwrap_and_rtcp(void **state)
{
    sv_rtp_unwrap u = {0};
    assert_int_equal(sv_rtp_unwrap_ts(&u, 0xfffff000u), 0xfffff000LL);
    assert_int_equal(sv_rtp_unwrap_ts(&u, 0x00000e00u), 0x100000e00LL);
    assert_int_equal(sv_rtp_unwrap_ts(&u, 0xffffff00u), 0xffffff00LL); /* back across */
    assert_int_equal(sv_rtp_unwrap_ts(&u, 0x10u), 0x100000010LL);
    /* RR + SR compound */
    uint8_t c[8 + 28] = {0x80, 201, 0, 1, 1, 2, 3, 4, 0x80, 200, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd,
                         0xe6, 0x5e, 0x9b, 0x00, 0x80, 0, 0, 0, 0x12, 0x34, 0x56, 0x78};
    sv_rtcp_sr sr;
    assert_int_equal(sv_rtcp_find_sr(c, sizeof c, &sr), 1);
    assert_int_equal(sr.ssrc, 0xaabbccdd);
    assert_int_equal(sr.ntp >> 32, 0xe65e9b00u);
    assert_int_equal((uint32_t)sr.ntp, 0x80000000u);
    assert_int_equal(sr.rtp_ts, 0x12345678);
    assert_int_equal(sv_rtcp_find_sr(c, 8, &sr), 0);
    assert_int_equal(sv_rtcp_find_sr(c, 20, &sr), SV_EINVAL);
    uint8_t rr[8];
    sv_rtcp_rr_build(7, rr);
    assert_int_equal(rr[1], 201);
    assert_int_equal(sv_rtcp_find_sr(rr, 8, &sr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtp_header),
        cmocka_unit_test(test_h264_access_units),
        cmocka_unit_test(test_h264_fu_a),
        cmocka_unit_test(test_h264_start_waits_for_keyframe),
        cmocka_unit_test(test_h265_fu),
        cmocka_unit_test(test_aac_hbr),
        cmocka_unit_test(test_g711),
        cmocka_unit_test(test_jitter_buffer),
        cmocka_unit_test(test_unwrap_and_rtcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
