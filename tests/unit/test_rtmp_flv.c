/* Unit tests for ingest/rtmp/rtmp_flv: FLV tag bodies -> tracks and frames (AVC with
 * composition time and non-4-byte NAL lengths, AAC, Enhanced RTMP HEVC), timestamp
 * unwrapping, when the track set is published (metadata, 1 s fallback, late config),
 * malformed tags, and the tag headers written for playback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtmp/rtmp_flv.h"
#include "media/h264.h"
#include "media/h265.h"

/* x264 640x360 High SPS/PPS (coded 640x368, cropped) */
static const uint8_t sps360[] = {0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f,
                                 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
                                 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96};
static const uint8_t pps[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
/* libx265 330x250 */
static const uint8_t hvps[] = {0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
                               0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09};
static const uint8_t hsps[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
                               0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x88, 0x04,
                               0x07, 0x24, 0x99, 0x65, 0x66, 0x92, 0x4c, 0xaf, 0x01, 0x68, 0x08,
                               0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x40};
static const uint8_t hpps[] = {0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40};
static const uint8_t asc[] = {0x12, 0x10}; /* AAC LC 44.1 kHz stereo */

/* ---- collector ---- */

typedef struct col {
    int ntracks;
    sv_track last[SV_MAX_TRACKS];
    sv_frame *f[1024];
    int nf;
    int frames_at_tracks; /* frames received when on_tracks was last called */
} col;

static void on_tracks(void *ctx, const sv_track *t)
{
    col *c = ctx;
    for (int i = 0; i < SV_MAX_TRACKS; i++) {
        sv_track_clear(&c->last[i]);
        sv_track_copy(&c->last[i], &t[i]);
    }
    c->ntracks++;
    c->frames_at_tracks = c->nf;
}

static void on_frame(void *ctx, sv_frame *f)
{
    col *c = ctx;
    assert_true(c->nf < 1024);
    c->f[c->nf++] = sv_frame_ref(f);
}

static void col_free(col *c)
{
    for (int i = 0; i < c->nf; i++)
        sv_frame_unref(c->f[i]);
    for (int i = 0; i < SV_MAX_TRACKS; i++)
        sv_track_clear(&c->last[i]);
    memset(c, 0, sizeof *c);
}

static void media_init(sv_rtmp_media *m, col *c)
{
    memset(c, 0, sizeof *c);
    sv_rtmp_media_cb cb = {on_tracks, on_frame, c};
    sv_rtmp_media_init(m, &cb);
}

/* ---- tag builders ---- */

/* avcC with the given NAL length size */
static void avc_seq_tag(sv_bytes *b, int nls)
{
    sv_nal s = {sps360, sizeof sps360}, p = {pps, sizeof pps};
    sv_bytes_put_u8(b, 0x17);
    sv_bytes_put_u8(b, 0);
    sv_bytes_put_be24(b, 0);
    size_t at = b->len;
    assert_int_equal(sv_h264_avcc_build(&s, 1, &p, 1, b), 0);
    b->p[at + 4] = (uint8_t)(0xfc | (nls - 1));
}

static void put_len(sv_bytes *b, int nls, size_t n)
{
    for (int i = nls - 1; i >= 0; i--)
        sv_bytes_put_u8(b, (uint8_t)(n >> (8 * i)));
}

/* AVC NALU tag: two NAL units (IDR slice 3 bytes, SEI 2 bytes) */
static void avc_frame_tag(sv_bytes *b, bool key, int32_t cts, int nls)
{
    sv_bytes_put_u8(b, key ? 0x17 : 0x27);
    sv_bytes_put_u8(b, 1);
    sv_bytes_put_be24(b, (uint32_t)cts & 0xffffff);
    put_len(b, nls, 3);
    sv_bytes_put(b, "\x65\x01\x02", 3);
    put_len(b, nls, 2);
    sv_bytes_put(b, "\x06\x05", 2);
}

static const uint8_t want_payload[] = {0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x06, 5};

static void meta_both(sv_rtmp_media *m, bool video, bool audio)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_ecma_start(&b, 0);
    sv_amf_put_prop_number(&b, "duration", 0);
    if (video)
        sv_amf_put_prop_number(&b, "videocodecid", 7);
    if (audio)
        sv_amf_put_prop_number(&b, "audiocodecid", 10);
    sv_amf_put_prop_number(&b, "framerate", 25);
    sv_amf_put_object_end(&b);
    sv_amf_value v;
    assert_int_equal(sv_amf_decode(b.p, b.len, &v), (int)b.len);
    sv_rtmp_media_metadata(m, &v);
    sv_amf_free(&v);
    sv_bytes_free(&b);
}

/* ---- tests ---- */

static void avc_aac_with_composition_time(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c);
    meta_both(&m, true, true);
    sv_bytes b;
    sv_bytes_init(&b);
    avc_seq_tag(&b, 2); /* 2-byte NAL lengths, converted to 4 */
    assert_int_equal(sv_rtmp_media_video(&m, 0, b.p, b.len), 0);
    assert_int_equal(c.ntracks, 0); /* waiting for the audio config */
    sv_bytes_reset(&b);
    avc_frame_tag(&b, true, 80, 2);
    assert_int_equal(sv_rtmp_media_video(&m, 1000, b.p, b.len), 0);
    sv_bytes_reset(&b);
    avc_frame_tag(&b, false, -40, 2); /* negative composition offset */
    assert_int_equal(sv_rtmp_media_video(&m, 1040, b.p, b.len), 0);
    assert_int_equal(c.nf, 0); /* held */
    static const uint8_t aseq[] = {0xaf, 0x00, 0x12, 0x10};
    assert_int_equal(sv_rtmp_media_audio(&m, 1000, aseq, sizeof aseq), 0);
    assert_int_equal(c.ntracks, 1);
    assert_int_equal(c.frames_at_tracks, 0); /* tracks before frames */
    assert_int_equal(c.nf, 2);
    static const uint8_t araw[] = {0xaf, 0x01, 0x21, 0x22, 0x23};
    assert_int_equal(sv_rtmp_media_audio(&m, 1023, araw, sizeof araw), 0);
    assert_int_equal(c.nf, 3);

    /* tracks */
    assert_int_equal(c.last[0].codec, SV_CODEC_H264);
    assert_int_equal(c.last[0].type, SV_MEDIA_VIDEO);
    assert_int_equal(c.last[0].width, 640);
    assert_int_equal(c.last[0].height, 360);
    assert_non_null(c.last[0].config);
    assert_int_equal(c.last[0].config->data[4] & 3, 3); /* rewritten to 4-byte lengths */
    assert_int_equal(c.last[1].codec, SV_CODEC_AAC);
    assert_int_equal(c.last[1].sample_rate, 44100);
    assert_int_equal(c.last[1].channels, 2);
    /* frames */
    sv_frame *f = c.f[0];
    assert_int_equal(f->track, 0);
    assert_true(f->key);
    assert_int_equal(f->dts, 1000 * 90);
    assert_int_equal(f->pts, 1080 * 90);
    assert_int_equal(f->len, sizeof want_payload);
    assert_memory_equal(f->data, want_payload, sizeof want_payload);
    f = c.f[1];
    assert_false(f->key);
    assert_int_equal(f->dts, 1040 * 90);
    assert_int_equal(f->pts, 1000 * 90);
    f = c.f[2];
    assert_int_equal(f->track, 1);
    assert_int_equal(f->codec, SV_CODEC_AAC);
    assert_true(f->key);
    assert_int_equal(f->dts, 1023 * 90);
    assert_int_equal(f->pts, 1023 * 90);
    assert_int_equal(f->len, 3);
    assert_memory_equal(f->data, "\x21\x22\x23", 3);

    /* the same sequence header again changes nothing; a new one republishes */
    sv_bytes_reset(&b);
    avc_seq_tag(&b, 2);
    assert_int_equal(sv_rtmp_media_video(&m, 1080, b.p, b.len), 0);
    assert_int_equal(c.ntracks, 1);
    sv_bytes_reset(&b);
    avc_seq_tag(&b, 4);
    b.p[b.len - 1] ^= 1; /* different PPS byte */
    assert_int_equal(sv_rtmp_media_video(&m, 1080, b.p, b.len), 0);
    assert_int_equal(c.ntracks, 2);
    sv_bytes_reset(&b);
    avc_frame_tag(&b, true, 0, 4); /* now 4-byte lengths */
    assert_int_equal(sv_rtmp_media_video(&m, 1120, b.p, b.len), 0);
    assert_int_equal(c.nf, 4);
    assert_memory_equal(c.f[3]->data, want_payload, sizeof want_payload);

    sv_bytes_free(&b);
    sv_rtmp_media_free(&m);
    col_free(&c);
}

static void video_only_waits_at_most_one_second(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c); /* no metadata: expects video and audio */
    sv_bytes b;
    sv_bytes_init(&b);
    avc_seq_tag(&b, 4);
    assert_int_equal(sv_rtmp_media_video(&m, 0, b.p, b.len), 0);
    int i;
    for (i = 0; c.ntracks == 0 && i < 100; i++) {
        sv_bytes_reset(&b);
        avc_frame_tag(&b, i % 25 == 0, 0, 4);
        assert_int_equal(sv_rtmp_media_video(&m, (uint32_t)(i * 40), b.p, b.len), 0);
    }
    assert_int_equal(i, 26); /* frame at 1000 ms releases the track set */
    assert_int_equal(c.ntracks, 1);
    assert_int_equal(c.last[0].codec, SV_CODEC_H264);
    assert_int_equal(c.last[1].codec, SV_CODEC_NONE);
    assert_int_equal(c.nf, 26);
    for (int k = 0; k < c.nf; k++)
        assert_int_equal(c.f[k]->dts, k * 40 * 90);
    /* audio config arriving late republishes with both tracks */
    static const uint8_t aseq[] = {0xaf, 0x00, 0x12, 0x10};
    assert_int_equal(sv_rtmp_media_audio(&m, 1040, aseq, sizeof aseq), 0);
    assert_int_equal(c.ntracks, 2);
    assert_int_equal(c.last[1].codec, SV_CODEC_AAC);
    sv_bytes_free(&b);
    sv_rtmp_media_free(&m);
    col_free(&c);
}

static void metadata_video_only_publishes_at_once(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c);
    meta_both(&m, true, false);
    sv_bytes b;
    sv_bytes_init(&b);
    avc_seq_tag(&b, 4);
    assert_int_equal(sv_rtmp_media_video(&m, 0, b.p, b.len), 0);
    assert_int_equal(c.ntracks, 1);
    assert_int_equal(c.last[0].fps_num > 0, 1); /* from the SPS or metadata */
    /* audio frame before any audio config is dropped */
    static const uint8_t araw[] = {0xaf, 0x01, 0x21};
    assert_int_equal(sv_rtmp_media_audio(&m, 0, araw, sizeof araw), 0);
    assert_int_equal(c.nf, 0);
    assert_int_equal(m.dropped, 1);
    sv_bytes_free(&b);
    sv_rtmp_media_free(&m);
    col_free(&c);
}

static void timestamp_wrap(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c);
    assert_int_equal(sv_rtmp_media_unwrap(&m, 0xfffffff0u), 0xfffffff0ll);
    assert_int_equal(sv_rtmp_media_unwrap(&m, 0x10), 0x100000010ll);
    assert_int_equal(sv_rtmp_media_unwrap(&m, 0x08), 0x100000008ll); /* small step back */
    assert_int_equal(sv_rtmp_media_unwrap(&m, 0x7fffffff), 0x17fffffffll);
    sv_rtmp_media_free(&m);
}

static void hevc_enhanced_rtmp(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c);
    meta_both(&m, true, false);
    sv_bytes b;
    sv_bytes_init(&b);
    sv_nal v = {hvps, sizeof hvps}, s = {hsps, sizeof hsps}, p = {hpps, sizeof hpps};
    sv_bytes_put_u8(&b, 0x90); /* ex header, key frame, SequenceStart */
    sv_bytes_put(&b, "hvc1", 4);
    assert_int_equal(sv_h265_hvcc_build(&v, 1, &s, 1, &p, 1, &b), 0);
    assert_int_equal(sv_rtmp_media_video(&m, 0, b.p, b.len), 0);
    assert_int_equal(c.ntracks, 1);
    assert_int_equal(c.last[0].codec, SV_CODEC_H265);
    assert_int_equal(c.last[0].width, 330);
    assert_int_equal(c.last[0].height, 250);
    static const uint8_t nal[] = {0, 0, 0, 3, 0x26, 0x01, 0xaf};
    sv_bytes_reset(&b);
    sv_bytes_put_u8(&b, 0x91); /* CodedFrames with composition time */
    sv_bytes_put(&b, "hvc1", 4);
    sv_bytes_put_be24(&b, 40);
    sv_bytes_put(&b, nal, sizeof nal);
    assert_int_equal(sv_rtmp_media_video(&m, 100, b.p, b.len), 0);
    sv_bytes_reset(&b);
    sv_bytes_put_u8(&b, 0xa3); /* inter frame, CodedFramesX: no composition time */
    sv_bytes_put(&b, "hvc1", 4);
    sv_bytes_put(&b, nal, sizeof nal);
    assert_int_equal(sv_rtmp_media_video(&m, 140, b.p, b.len), 0);
    assert_int_equal(c.nf, 2);
    assert_true(c.f[0]->key);
    assert_int_equal(c.f[0]->codec, SV_CODEC_H265);
    assert_int_equal(c.f[0]->pts - c.f[0]->dts, 40 * 90);
    assert_false(c.f[1]->key);
    assert_int_equal(c.f[1]->pts, c.f[1]->dts);
    assert_memory_equal(c.f[1]->data, nal, sizeof nal);
    /* an AV1 FourCC is not ours */
    static const uint8_t av1[] = {0x90, 'a', 'v', '0', '1', 0};
    assert_int_equal(sv_rtmp_media_video(&m, 0, av1, sizeof av1), SV_EUNSUPPORTED);
    sv_bytes_free(&b);
    sv_rtmp_media_free(&m);
    col_free(&c);
}

static void malformed_tags(void **st)
{
    sv_rtmp_media m;
    col c;
    media_init(&m, &c);
    static const uint8_t shortavc[] = {0x17, 0x01, 0x00};
    assert_int_equal(sv_rtmp_media_video(&m, 0, shortavc, sizeof shortavc), SV_EINVAL);
    static const uint8_t badcfg[] = {0x17, 0x00, 0, 0, 0, 0x01, 0x64};
    assert_int_equal(sv_rtmp_media_video(&m, 0, badcfg, sizeof badcfg), SV_EINVAL);
    static const uint8_t vp6[] = {0x14, 0x00};
    assert_int_equal(sv_rtmp_media_video(&m, 0, vp6, sizeof vp6), SV_EUNSUPPORTED);
    static const uint8_t mp3[] = {0x2f, 0xff};
    assert_int_equal(sv_rtmp_media_audio(&m, 0, mp3, sizeof mp3), SV_EUNSUPPORTED);
    assert_int_equal(sv_rtmp_media_video(&m, 0, NULL, 0), SV_EINVAL);
    static const uint8_t badasc[] = {0xaf, 0x00};
    assert_int_equal(sv_rtmp_media_audio(&m, 0, badasc, sizeof badasc), SV_EINVAL);
    /* NAL length running past the end */
    sv_bytes b;
    sv_bytes_init(&b);
    avc_seq_tag(&b, 4);
    assert_int_equal(sv_rtmp_media_video(&m, 0, b.p, b.len), 0);
    static const uint8_t overrun[] = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 9, 0x65};
    assert_int_equal(sv_rtmp_media_video(&m, 0, overrun, sizeof overrun), SV_EINVAL);
    assert_int_equal(c.nf, 0);
    sv_bytes_free(&b);
    sv_rtmp_media_free(&m);
    col_free(&c);
}

static void nal_length_conversion(void **st)
{
    static const uint8_t one[] = {3, 0x65, 1, 2, 0, 2, 0x06, 5}; /* empty NAL dropped */
    sv_frame *f;
    assert_int_equal(sv_rtmp_flv_nalus_to_frame(one, sizeof one, 1, &f), 0);
    assert_int_equal(f->len, sizeof want_payload);
    assert_memory_equal(f->data, want_payload, sizeof want_payload);
    sv_frame_unref(f);
    static const uint8_t three[] = {0, 0, 3, 0x65, 1, 2, 0, 0, 2, 0x06, 5};
    assert_int_equal(sv_rtmp_flv_nalus_to_frame(three, sizeof three, 3, &f), 0);
    assert_memory_equal(f->data, want_payload, sizeof want_payload);
    sv_frame_unref(f);
    assert_int_equal(sv_rtmp_flv_nalus_to_frame(three, 2, 3, &f), SV_EINVAL);
    assert_int_equal(sv_rtmp_flv_nalus_to_frame(three, 0, 4, &f), 0);
    assert_null(f);
}

static void playback_headers_round_trip(void **st)
{
    sv_frame *f = sv_frame_new(4);
    f->track = 0;
    f->codec = SV_CODEC_H264;
    f->key = true;
    f->dts = 9000;
    f->pts = 9000 + 80 * 90;
    uint8_t hdr[16];
    int hl = sv_rtmp_flv_frame_header(f, 0, hdr);
    assert_int_equal(hl, 5);
    sv_rtmp_flv_tag t;
    assert_int_equal(sv_rtmp_flv_parse_video(hdr, (size_t)hl, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_H264);
    assert_int_equal(t.pkt, SV_RTMP_PKT_FRAME);
    assert_true(t.key);
    assert_int_equal(t.cts, 80);
    f->codec = SV_CODEC_H265;
    f->key = false;
    f->pts = f->dts - 40 * 90;
    hl = sv_rtmp_flv_frame_header(f, 0, hdr);
    assert_int_equal(hl, 8);
    assert_int_equal(sv_rtmp_flv_parse_video(hdr, (size_t)hl, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_H265);
    assert_false(t.key);
    assert_int_equal(t.cts, -40);
    f->codec = SV_CODEC_AAC;
    f->track = 1;
    hl = sv_rtmp_flv_frame_header(f, 2, hdr);
    assert_int_equal(hl, 2);
    assert_int_equal(sv_rtmp_flv_parse_audio(hdr, (size_t)hl, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_AAC);
    assert_int_equal(t.pkt, SV_RTMP_PKT_FRAME);
    sv_frame_unref(f);

    /* sequence header of an AAC track parses back as a config */
    sv_track tr = {.codec = SV_CODEC_AAC, .type = SV_MEDIA_AUDIO};
    tr.config = sv_buf_from(asc, sizeof asc);
    sv_bytes b;
    sv_bytes_init(&b);
    assert_int_equal(sv_rtmp_flv_seq_header(&tr, &b), 0);
    assert_int_equal(sv_rtmp_flv_parse_audio(b.p, b.len, &t), 0);
    assert_int_equal(t.pkt, SV_RTMP_PKT_SEQ);
    assert_int_equal(t.len, 2);
    assert_memory_equal(t.data, asc, 2);
    sv_track_clear(&tr);
    sv_bytes_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(avc_aac_with_composition_time),
        cmocka_unit_test(video_only_waits_at_most_one_second),
        cmocka_unit_test(metadata_video_only_publishes_at_once),
        cmocka_unit_test(timestamp_wrap),
        cmocka_unit_test(hevc_enhanced_rtmp),
        cmocka_unit_test(malformed_tags),
        cmocka_unit_test(nal_length_conversion),
        cmocka_unit_test(playback_headers_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
