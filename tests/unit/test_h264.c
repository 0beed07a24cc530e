/* Unit tests for media/h264 and media/h265: real SPS/VPS/PPS bytes emitted by libx264 and
 * libx265 (via ffmpeg), parsed for size, profile, level and frame rate; avcC/hvcC round
 * trips; Annex B and length-prefixed NAL iteration; malformed input rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "media/h264.h"
#include "media/h265.h"

/* ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=25 -c:v libx264 (High, 3.1) */
static const uint8_t sps720[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60};
static const uint8_t pps720[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
/* Same at 640x360: coded 640x368 with frame cropping (bottom 8 rows). */
static const uint8_t sps360[] = {0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f,
                                 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
                                 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96};
/* libx265 at 330x250 (Main, level 2 = 60): coded 336x256 with a conformance window. */
static const uint8_t hvps[] = {0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
                               0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09};
static const uint8_t hsps[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                               0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x88, 0x04,
                               0x07, 0x24, 0x99, 0x65, 0x66, 0x92, 0x4c, 0xaf, 0x01, 0x68, 0x08,
                               0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x40};
static const uint8_t hpps[] = {0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40};

static void sps_720p_high(void **st)
{
    sv_h264_sps s;
    assert_int_equal(sv_h264_sps_parse(sps720, sizeof sps720, &s), 0);
    assert_int_equal(s.profile_idc, 100);
    assert_int_equal(s.level_idc, 31);
    assert_int_equal(s.chroma_format_idc, 1);
    assert_int_equal(s.width, 1280);
    assert_int_equal(s.height, 720);
    assert_int_equal(s.fps_num, 25);
    assert_int_equal(s.fps_den, 1);
}

static void sps_360p_cropped(void **st)
{
    sv_h264_sps s;
    assert_int_equal(sv_h264_sps_parse(sps360, sizeof sps360, &s), 0);
    assert_int_equal(s.width, 640);
    assert_int_equal(s.height, 360);
    assert_int_equal(s.level_idc, 30);
    assert_int_equal(s.fps_num, 25);
    assert_int_equal(s.fps_den, 1);
}

static void sps_rejects_garbage(void **st)
{
    sv_h264_sps s;
    /* Every truncation either fails cleanly or (past the geometry) keeps the size. */
    for (size_t n = 0; n < sizeof sps720; n++) {
        int rc = sv_h264_sps_parse(sps720, n, &s);
        assert_true(rc == SV_EINVAL || (rc == 0 && s.width == 1280 && s.height == 720));
    }
    assert_int_equal(sv_h264_sps_parse(pps720, sizeof pps720, &s), SV_EUNSUPPORTED);
    static const uint8_t ones[40] = {0x67, 0x64, 0x00, 0x1f, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(sv_h264_sps_parse(ones, sizeof ones, &s), SV_EINVAL);
}

static void avcc_round_trip(void **st)
{
    sv_nal sps = {sps720, sizeof sps720}, pps = {pps720, sizeof pps720};
    sv_bytes b;
    sv_bytes_init(&b);
    assert_int_equal(sv_h264_avcc_build(&sps, 1, &pps, 1, &b), 0);
    assert_int_equal(b.len, 7 + 2 + sizeof sps720 + 2 + sizeof pps720);
    static const uint8_t head[] = {0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 26};
    assert_memory_equal(b.p, head, sizeof head);
    sv_h264_avcc a;
    assert_int_equal(sv_h264_avcc_parse(b.p, b.len, &a), 0);
    assert_int_equal(a.nal_length_size, 4);
    assert_int_equal(a.nb_sps, 1);
    assert_int_equal(a.nb_pps, 1);
    assert_int_equal(a.sps[0].len, sizeof sps720);
    assert_memory_equal(a.sps[0].p, sps720, sizeof sps720);
    assert_memory_equal(a.pps[0].p, pps720, sizeof pps720);
    for (size_t n = 0; n < b.len; n++) /* every truncation is rejected */
        assert_int_equal(sv_h264_avcc_parse(b.p, n, &a), SV_EINVAL);

    sv_track t;
    assert_int_equal(sv_h264_track_from_avcc(b.p, b.len, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_H264);
    assert_int_equal(t.type, SV_MEDIA_VIDEO);
    assert_int_equal(t.width, 1280);
    assert_int_equal(t.height, 720);
    assert_int_equal(t.profile, 100);
    assert_int_equal(t.level, 31);
    assert_int_equal(t.fps_num, 25);
    assert_int_equal(t.fps_den, 1);
    assert_int_equal(t.config->len, b.len);
    assert_memory_equal(t.config->data, b.p, b.len);
    sv_track_clear(&t);
    sv_bytes_free(&b);
}

static void annexb_iteration(void **st)
{
    static const uint8_t es[] = {0, 0, 0, 1, 0x09, 0xf0,       /* AUD, 4-byte start */
                                 0, 0, 1, 0x67, 0x42, 0, 0,    /* trailing zeros trimmed */
                                 0, 0, 0, 1, 0x65, 0x88, 0x00, 0x03, 0x01};
    size_t pos = 0;
    sv_nal n;
    assert_int_equal(sv_h264_annexb_next(es, sizeof es, &pos, &n), 1);
    assert_int_equal(n.len, 2);
    assert_int_equal(n.p[0], 0x09);
    assert_int_equal(sv_h264_annexb_next(es, sizeof es, &pos, &n), 1);
    assert_int_equal(n.len, 2);
    assert_int_equal(n.p[0], 0x67);
    assert_int_equal(sv_h264_annexb_next(es, sizeof es, &pos, &n), 1);
    assert_int_equal(n.len, 5);
    assert_int_equal(n.p[4], 0x01);
    assert_int_equal(sv_h264_annexb_next(es, sizeof es, &pos, &n), 0);
    static const uint8_t none[] = {1, 2, 3, 0, 0};
    pos = 0;
    assert_int_equal(sv_h264_annexb_next(none, sizeof none, &pos, &n), 0);
}

static void len4_iteration(void **st)
{
    static const uint8_t au[] = {0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 9, 1};
    size_t pos = 0;
    sv_nal n;
    assert_int_equal(sv_h264_len4_next(au, sizeof au, &pos, &n), 1);
    assert_int_equal(n.len, 2);
    assert_int_equal(sv_h264_len4_next(au, sizeof au, &pos, &n), 1);
    assert_int_equal(n.len, 3);
    assert_int_equal(n.p[0], 0x65);
    assert_int_equal(sv_h264_len4_next(au, sizeof au, &pos, &n), SV_EINVAL); /* 9 > 1 */
    pos = 0;
    assert_int_equal(sv_h264_len4_next(au, 6, &pos, &n), 1);
    assert_int_equal(sv_h264_len4_next(au, 6, &pos, &n), 0);
}

static void bit_reader(void **st)
{
    /* 1 | 010 | 011 | 00100 | 00101 -> ue 0,1,2,3,4 ; then se of 00110 = 5 -> +3 */
    static const uint8_t b[] = {0xa6, 0x42, 0x98};
    sv_h264_br br;
    sv_h264_br_init(&br, b, sizeof b);
    assert_int_equal(sv_h264_br_ue(&br), 0);
    assert_int_equal(sv_h264_br_ue(&br), 1);
    assert_int_equal(sv_h264_br_ue(&br), 2);
    assert_int_equal(sv_h264_br_ue(&br), 3);
    assert_int_equal(sv_h264_br_ue(&br), 4);
    assert_int_equal(sv_h264_br_se(&br), 3);
    assert_int_equal(br.err, 0);
    sv_h264_br_u(&br, 8);
    assert_int_equal(br.err, 1);
    uint8_t esc[] = {0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03}, out[7];
    assert_int_equal(sv_h264_unescape(esc, sizeof esc, out), 5);
    static const uint8_t want[] = {0, 0, 1, 0, 0};
    assert_memory_equal(out, want, 5);
}

static void h265_sps_and_hvcc(void **st)
{
    sv_h265_sps s;
    assert_int_equal(sv_h265_sps_parse(hsps, sizeof hsps, &s), 0);
    assert_int_equal(s.width, 330);
    assert_int_equal(s.height, 250);
    assert_int_equal(s.profile_idc, 1); /* Main */
    assert_int_equal(s.level_idc, 60);
    assert_int_equal(s.chroma_format_idc, 1);
    assert_int_equal(sv_h265_sps_parse(hvps, sizeof hvps, &s), SV_EUNSUPPORTED);

    sv_nal v = {hvps, sizeof hvps}, sp = {hsps, sizeof hsps}, p = {hpps, sizeof hpps};
    sv_bytes b;
    sv_bytes_init(&b);
    assert_int_equal(sv_h265_hvcc_build(&v, 1, &sp, 1, &p, 1, &b), 0);
    assert_int_equal(b.len, 23 + 3 * 5 + sizeof hvps + sizeof hsps + sizeof hpps);
    assert_int_equal(b.p[0], 1);
    assert_int_equal(b.p[1], 0x01);  /* space 0, tier 0, profile 1 */
    assert_int_equal(b.p[12], 60);   /* level */
    assert_int_equal(b.p[16], 0xfd); /* chroma 4:2:0 */
    assert_int_equal(b.p[21] & 3, 3);
    assert_int_equal(b.p[22], 3);
    sv_h265_hvcc h;
    assert_int_equal(sv_h265_hvcc_parse(b.p, b.len, &h), 0);
    assert_int_equal(h.nb_vps, 1);
    assert_int_equal(h.nb_sps, 1);
    assert_int_equal(h.nb_pps, 1);
    assert_int_equal(h.nal_length_size, 4);
    assert_memory_equal(h.sps[0].p, hsps, sizeof hsps);
    assert_memory_equal(h.pps[0].p, hpps, sizeof hpps);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(sv_h265_hvcc_parse(b.p, n, &h), SV_EINVAL);
    sv_track t;
    assert_int_equal(sv_h265_track_from_hvcc(b.p, b.len, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_H265);
    assert_int_equal(t.width, 330);
    assert_int_equal(t.height, 250);
    assert_int_equal(t.level, 60);
    sv_track_clear(&t);
    sv_bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sps_720p_high),     cmocka_unit_test(sps_360p_cropped),
        cmocka_unit_test(sps_rejects_garbage), cmocka_unit_test(avcc_round_trip),
        cmocka_unit_test(annexb_iteration),  cmocka_unit_test(len4_iteration),
        cmocka_unit_test(bit_reader),        cmocka_unit_test(h265_sps_and_hvcc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
