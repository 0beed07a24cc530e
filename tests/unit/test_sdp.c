/* Unit tests for ingest/rtsp/sdp: GStreamer's H.264+AAC and H.265+AAC descriptions, a
 * typical camera SDP with G.711 by static payload type, fmtp lookup and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtsp/sdp.h"
#include "test_rtsp_fixtures.h"

static sv_sdp sdp;

static void test_gstreamer_h264_aac(void **state)
{
    assert_int_equal(sv_sdp_parse(h264_sdp, strlen(h264_sdp), &sdp), 0);
    assert_string_equal(sdp.control, "*");
    assert_int_equal(sdp.nmedia, 2);
    sv_sdp_media *v = &sdp.media[0], *a = &sdp.media[1];
    assert_string_equal(v->type, "video");
    assert_int_equal(v->pt, 96);
    assert_string_equal(v->encoding, "H264");
    assert_int_equal(v->clock_rate, 90000);
    assert_string_equal(v->control, "stream=0");
    assert_int_equal(sv_sdp_codec(v), SV_CODEC_H264);
    char val[256];
    assert_int_equal(sv_sdp_fmtp_get(v->fmtp, "packetization-mode", val, sizeof val), 1);
    assert_string_equal(val, "1");
    assert_true(sv_sdp_fmtp_get(v->fmtp, "sprop-parameter-sets", val, sizeof val) > 10);
    assert_non_null(strchr(val, ','));
    assert_int_equal(sv_sdp_fmtp_get(v->fmtp, "missing", val, sizeof val), -1);
    assert_string_equal(a->encoding, "MPEG4-GENERIC");
    assert_int_equal(a->clock_rate, 48000);
    assert_int_equal(a->channels, 2);
    assert_int_equal(sv_sdp_codec(a), SV_CODEC_AAC);
    assert_int_equal(sv_sdp_fmtp_get(a->fmtp, "CONFIG", val, sizeof val), 4);
    assert_string_equal(val, "1190");
    assert_int_equal(sv_sdp_fmtp_get(a->fmtp, "sizelength", val, sizeof val), 2);
}

static void test_gstreamer_h265(void **state)
{
    assert_int_equal(sv_sdp_parse(h265_sdp, strlen(h265_sdp), &sdp), 0);
    assert_int_equal(sv_sdp_codec(&sdp.media[0]), SV_CODEC_H265);
    char val[256];
    assert_true(sv_sdp_fmtp_get(sdp.media[0].fmtp, "sprop-vps", val, sizeof val) > 0);
    assert_true(sv_sdp_fmtp_get(sdp.media[0].fmtp, "sprop-sps", val, sizeof val) > 0);
    assert_true(sv_sdp_fmtp_get(sdp.media[0].fmtp, "sprop-pps", val, sizeof val) > 0);
}

static void test_camera_g711_static_pt(void **state)
{
    const char *s = "v=0\n"
                    "o=- 1 1 IN IP4 10.0.0.2\n"
                    "s=Media Presentation\n"
                    "a=control:rtsp://10.0.0.2/Streaming/Channels/101/\n"
                    "m=video 0 RTP/AVP 96\n"
                    "a=rtpmap:96 H264/90000\n"
                    "a=fmtp:96 profile-level-id=420029; packetization-mode=1; "
                    "sprop-parameter-sets=Z00AKp2oHgCJ+WbgICAgQA==,aO48gA==\n"
                    "a=control:trackID=1\n"
                    "m=audio 0 RTP/AVP 8\n"
                    "a=control:trackID=2\n"
                    "m=application 0 RTP/AVP 107\n"
                    "a=rtpmap:107 vnd.onvif.metadata/90000\n";
    assert_int_equal(sv_sdp_parse(s, strlen(s), &sdp), 0);
    assert_string_equal(sdp.control, "rtsp://10.0.0.2/Streaming/Channels/101/");
    assert_int_equal(sdp.nmedia, 3);
    char val[64];
    assert_int_equal(sv_sdp_fmtp_get(sdp.media[0].fmtp, "packetization-mode", val, sizeof val),
                     1);
    assert_int_equal(sv_sdp_codec(&sdp.media[1]), SV_CODEC_PCMA);
    assert_int_equal(sdp.media[1].clock_rate, 8000);
    assert_string_equal(sdp.media[1].control, "trackID=2");
    assert_int_equal(sv_sdp_codec(&sdp.media[2]), SV_CODEC_NONE);
}

static void test_malformed(void **state)
{
    assert_int_equal(sv_sdp_parse("", 0, &sdp), SV_EINVAL);
    assert_int_equal(sv_sdp_parse("s=x\nv=0\n", 8, &sdp), SV_EINVAL);
    const char *badm = "v=0\nm=video\n";
    assert_int_equal(sv_sdp_parse(badm, strlen(badm), &sdp), SV_EINVAL);
    const char *badport = "v=0\nm=video 99999 RTP/AVP 96\n";
    assert_int_equal(sv_sdp_parse(badport, strlen(badport), &sdp), SV_EINVAL);
    /* attributes for another payload type are ignored; too many sections are capped */
    char many[2048];
    size_t o = (size_t)snprintf(many, sizeof many, "v=0\r\n");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(many + o, sizeof many - o,
                              "m=audio 0 RTP/AVP 0\r\na=rtpmap:5 X/1\r\n");
    assert_int_equal(sv_sdp_parse(many, o, &sdp), 0);
    assert_int_equal(sdp.nmedia, SV_SDP_MAX_MEDIA);
    assert_int_equal(sv_sdp_codec(&sdp.media[7]), SV_CODEC_PCMU);
    assert_int_equal(sv_sdp_parse(many, SV_SDP_MAX_SIZE + 1, &sdp), SV_ETOOBIG);
    /* mpeg4-generic in a mode we do not handle */
    const char *celp = "v=0\nm=audio 0 RTP/AVP 97\na=rtpmap:97 mpeg4-generic/8000\n"
                       "a=fmtp:97 mode=CELP-cbr\n";
    assert_int_equal(sv_sdp_parse(celp, strlen(celp), &sdp), 0);
    assert_int_equal(sv_sdp_codec(&sdp.media[0]), SV_CODEC_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gstreamer_h264_aac),
        cmocka_unit_test(test_gstreamer_h265),
        cmocka_unit_test(test_camera_g711_static_pt),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
