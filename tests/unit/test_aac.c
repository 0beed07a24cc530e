/* Unit tests for media/aac: AudioSpecificConfig parse/build (LC 44.1k stereo as emitted
 * by ffmpeg's aac encoder, escape object types, explicit 24-bit rates) and ADTS
 * header build/parse round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "media/aac.h"

static void asc_lc_44100_stereo(void **st)
{
    static const uint8_t asc[] = {0x12, 0x10}; /* what ffmpeg writes for LC 44.1k 2ch */
    sv_aac_asc a;
    assert_int_equal(sv_aac_asc_parse(asc, sizeof asc, &a), 0);
    assert_int_equal(a.object_type, 2);
    assert_int_equal(a.freq_index, 4);
    assert_int_equal(a.sample_rate, 44100);
    assert_int_equal(a.channel_config, 2);
    uint8_t out[SV_AAC_ASC_MAX];
    assert_int_equal(sv_aac_asc_build(&a, out, sizeof out), 2);
    assert_memory_equal(out, asc, 2);
    sv_track t;
    assert_int_equal(sv_aac_track_from_asc(asc, sizeof asc, &t), 0);
    assert_int_equal(t.codec, SV_CODEC_AAC);
    assert_int_equal(t.type, SV_MEDIA_AUDIO);
    assert_int_equal(t.sample_rate, 44100);
    assert_int_equal(t.channels, 2);
    assert_int_equal(t.aac_object_type, 2);
    assert_int_equal(t.config->len, 2);
    sv_track_clear(&t);
}

static void asc_escape_and_explicit_rate(void **st)
{
    sv_aac_asc a = {.object_type = 42, .freq_index = 15, .sample_rate = 12345,
                    .channel_config = 1};
    uint8_t out[SV_AAC_ASC_MAX];
    int n = sv_aac_asc_build(&a, out, sizeof out);
    assert_int_equal(n, 6); /* 5+6+4+24+4+3 = 46 bits */
    sv_aac_asc b;
    assert_int_equal(sv_aac_asc_parse(out, (size_t)n, &b), 0);
    assert_int_equal(b.object_type, 42);
    assert_int_equal(b.freq_index, 15);
    assert_int_equal(b.sample_rate, 12345);
    assert_int_equal(b.channel_config, 1);
    assert_int_equal(sv_aac_asc_build(&a, out, 5), SV_EINVAL); /* no room */
    assert_int_equal(sv_aac_asc_parse(out, 3, &b), SV_EINVAL);  /* truncated */
    static const uint8_t zero[] = {0x00, 0x00};
    assert_int_equal(sv_aac_asc_parse(zero, 2, &b), SV_EINVAL); /* object type 0 */
    /* rate with a table entry is written as an index */
    sv_aac_asc c = {.object_type = 2, .freq_index = -1, .sample_rate = 48000,
                    .channel_config = 2};
    assert_int_equal(sv_aac_asc_build(&c, out, sizeof out), 2);
    assert_int_equal(out[0], 0x11);
    assert_int_equal(out[1], 0x90);
}

static void adts_round_trip(void **st)
{
    sv_aac_asc a = {.object_type = 2, .freq_index = 3, .sample_rate = 48000,
                    .channel_config = 2};
    uint8_t h[7];
    assert_int_equal(sv_aac_adts_build(&a, 371, h), 0);
    /* 378 = 0x17a: FF F1 | 01 0011 0 0 | 10 0 0 00 | 0x17a<<5 ... */
    static const uint8_t want[7] = {0xff, 0xf1, 0x4c, 0x80, 0x2f, 0x5f, 0xfc};
    assert_memory_equal(h, want, 7);
    sv_aac_adts p;
    assert_int_equal(sv_aac_adts_parse(h, 7, &p), 7);
    assert_int_equal(p.asc.object_type, 2);
    assert_int_equal(p.asc.sample_rate, 48000);
    assert_int_equal(p.asc.channel_config, 2);
    assert_int_equal(p.frame_len, 378);
    assert_int_equal(p.nb_blocks, 1);
    assert_int_equal(sv_aac_adts_parse(h, 6, &p), SV_ENEEDMORE);
    uint8_t bad[7];
    memcpy(bad, h, 7);
    bad[1] = 0xf7; /* layer != 0 */
    assert_int_equal(sv_aac_adts_parse(bad, 7, &p), SV_EINVAL);
    assert_int_equal(sv_aac_adts_build(&a, 8192, h), SV_EINVAL); /* 13-bit length */
    sv_aac_asc he = {.object_type = 5, .freq_index = 3, .channel_config = 2};
    assert_int_equal(sv_aac_adts_build(&he, 10, h), SV_EINVAL); /* ADTS profile is 2 bits */
    uint8_t crc[9] = {0xff, 0xf0, 0x50, 0x80, 0x01, 0x3f, 0xfc, 0, 0};
    assert_int_equal(sv_aac_adts_parse(crc, 9, &p), 9);
    assert_int_equal(p.asc.sample_rate, 44100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(asc_lc_44100_stereo),
        cmocka_unit_test(asc_escape_and_explicit_rate),
        cmocka_unit_test(adts_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
