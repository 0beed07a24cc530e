/* Unit tests for ingest/rtmp/amf0: decoding the exact connect command ffmpeg sends,
 * round trips of every supported type, truncation, bad markers and the caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtmp/amf0.h"

/* The connect command body ffmpeg 5.1 (Lavf59.27.100) sent for
 * `ffmpeg ... -f flv rtmp://127.0.0.1:19350/live/x`: captured after the handshake, with
 * the 12-byte chunk header and the fmt-3 continuation byte (0xc3) removed. */
static const uint8_t ff_connect[] = {
    0x02, 0x00, 0x07, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x00, 0x3f, 0xf0, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x61, 0x70, 0x70, 0x02, 0x00, 0x04,
    0x6c, 0x69, 0x76, 0x65, 0x00, 0x04, 0x74, 0x79, 0x70, 0x65, 0x02, 0x00, 0x0a, 0x6e,
    0x6f, 0x6e, 0x70, 0x72, 0x69, 0x76, 0x61, 0x74, 0x65, 0x00, 0x08, 0x66, 0x6c, 0x61,
    0x73, 0x68, 0x56, 0x65, 0x72, 0x02, 0x00, 0x24, 0x46, 0x4d, 0x4c, 0x45, 0x2f, 0x33,
    0x2e, 0x30, 0x20, 0x28, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65,
    0x3b, 0x20, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e, 0x31, 0x30,
    0x30, 0x29, 0x00, 0x05, 0x74, 0x63, 0x55, 0x72, 0x6c, 0x02, 0x00, 0x1b, 0x72, 0x74,
    0x6d, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31,
    0x3a, 0x31, 0x39, 0x33, 0x35, 0x30, 0x2f, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x00, 0x09};

static void decode_ffmpeg_connect(void **st)
{
    assert_int_equal(sizeof ff_connect, 140);
    sv_amf_value v[8];
    int n = sv_amf_decode_all(ff_connect, sizeof ff_connect, v, 8);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].type, SV_AMF_STRING);
    assert_string_equal(v[0].str, "connect");
    assert_int_equal(v[1].type, SV_AMF_NUMBER);
    assert_true(v[1].num == 1.0);
    assert_int_equal(v[2].type, SV_AMF_OBJECT);
    assert_int_equal(v[2].len, 4);
    assert_string_equal(sv_amf_get_string(&v[2], "app"), "live");
    assert_string_equal(sv_amf_get_string(&v[2], "type"), "nonprivate");
    assert_string_equal(sv_amf_get_string(&v[2], "flashVer"),
                        "FMLE/3.0 (compatible; Lavf59.27.100)");
    assert_string_equal(sv_amf_get_string(&v[2], "tcUrl"), "rtmp://127.0.0.1:19350/live");
    assert_null(sv_amf_get(&v[2], "nope"));
    double d;
    assert_false(sv_amf_get_number(&v[2], "app", &d));

    /* re-encoding gives back the same bytes */
    sv_bytes b;
    sv_bytes_init(&b);
    for (int i = 0; i < n; i++)
        assert_int_equal(sv_amf_encode(&b, &v[i]), 0);
    assert_int_equal(b.len, sizeof ff_connect);
    assert_memory_equal(b.p, ff_connect, sizeof ff_connect);
    sv_bytes_free(&b);
    sv_amf_free_all(v, n);
}

static void truncated_prefixes_need_more(void **st)
{
    /* the object starts at offset 19; every strict prefix of it is incomplete */
    const uint8_t *obj = ff_connect + 19;
    size_t olen = sizeof ff_connect - 19;
    for (size_t i = 0; i < olen; i++) {
        sv_amf_value v;
        assert_int_equal(sv_amf_decode(obj, i, &v), SV_ENEEDMORE);
        assert_int_equal(v.type, 0); /* zeroed */
    }
    sv_amf_value v;
    assert_int_equal(sv_amf_decode(obj, olen, &v), (int)olen);
    sv_amf_free(&v);
}

static void build_and_round_trip(void **st)
{
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string(&b, "@setDataFrame");
    sv_amf_put_number(&b, -2.5);
    sv_amf_put_bool(&b, true);
    sv_amf_put_null(&b);
    sv_amf_put_undefined(&b);
    sv_amf_put_ecma_start(&b, 2);
    sv_amf_put_prop_number(&b, "width", 640);
    sv_amf_put_key(&b, "nested");
    sv_amf_put_object_start(&b);
    sv_amf_put_prop_bool(&b, "ok", false);
    sv_amf_put_prop_string(&b, "s", "x\0y"); /* only "x" */
    sv_amf_put_object_end(&b);
    sv_amf_put_object_end(&b);
    /* strict array [1, "two", date] */
    sv_bytes_put_u8(&b, SV_AMF_STRICT_ARRAY);
    sv_bytes_put_be32(&b, 3);
    sv_amf_put_number(&b, 1);
    sv_amf_put_string(&b, "two");
    static const uint8_t date[] = {0x0b, 0x42, 0x78, 0xd5, 0x14, 0x2e, 0x88, 0x00, 0x00,
                                   0xff, 0xc4};
    sv_bytes_put(&b, date, sizeof date);
    assert_false(b.failed);

    sv_amf_value v[10];
    int n = sv_amf_decode_all(b.p, b.len, v, 10);
    assert_int_equal(n, 7);
    assert_string_equal(v[0].str, "@setDataFrame");
    assert_true(v[1].type == SV_AMF_NUMBER && v[1].num == -2.5);
    assert_true(v[2].type == SV_AMF_BOOLEAN && v[2].boolean);
    assert_int_equal(v[3].type, SV_AMF_NULL);
    assert_int_equal(v[4].type, SV_AMF_UNDEFINED);
    assert_int_equal(v[5].type, SV_AMF_ECMA_ARRAY);
    double w = 0;
    assert_true(sv_amf_get_number(&v[5], "width", &w) && w == 640);
    const sv_amf_value *nested = sv_amf_get(&v[5], "nested");
    assert_non_null(nested);
    assert_int_equal(nested->type, SV_AMF_OBJECT);
    assert_false(sv_amf_get(nested, "ok")->boolean);
    assert_string_equal(sv_amf_get_string(nested, "s"), "x");
    assert_int_equal(v[6].type, SV_AMF_STRICT_ARRAY);
    assert_int_equal(v[6].len, 3);
    assert_string_equal(v[6].items[1].str, "two");
    assert_int_equal(v[6].items[2].type, SV_AMF_DATE);
    assert_int_equal(v[6].items[2].tz, -60);
    assert_true(v[6].items[2].num > 1.6e12);

    sv_bytes again;
    sv_bytes_init(&again);
    for (int i = 0; i < n; i++)
        assert_int_equal(sv_amf_encode(&again, &v[i]), 0);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.p, b.p, b.len);
    sv_amf_free_all(v, n);
    sv_bytes_free(&again);
    sv_bytes_free(&b);
}

static void long_string(void **st)
{
    size_t n = 70000;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = 0;
    s[n / 2] = 0; /* embedded NUL is kept by length */
    sv_bytes b;
    sv_bytes_init(&b);
    sv_amf_put_string_len(&b, s, n);
    assert_int_equal(b.p[0], SV_AMF_LONG_STRING);
    assert_int_equal(b.len, 5 + n);
    sv_amf_value v;
    assert_int_equal(sv_amf_decode(b.p, b.len, &v), (int)b.len);
    assert_int_equal(v.type, SV_AMF_STRING);
    assert_int_equal(v.len, n);
    assert_memory_equal(v.str, s, n);
    assert_int_equal(v.str[n], 0);
    sv_amf_free(&v);
    sv_bytes_free(&b);
    free(s);
}

static void bad_markers(void **st)
{
    sv_amf_value v;
    static const uint8_t bad[] = {0x42};
    assert_int_equal(sv_amf_decode(bad, 1, &v), SV_EINVAL);
    static const uint8_t amf3[] = {0x11, 0x02};
    assert_int_equal(sv_amf_decode(amf3, 2, &v), SV_EUNSUPPORTED);
    static const uint8_t ref[] = {0x07, 0x00, 0x01};
    assert_int_equal(sv_amf_decode(ref, 3, &v), SV_EUNSUPPORTED);
    /* empty key not followed by the end marker */
    static const uint8_t badend[] = {0x03, 0x00, 0x00, 0x05};
    assert_int_equal(sv_amf_decode(badend, sizeof badend, &v), SV_EINVAL);
    /* object-end marker as a value */
    static const uint8_t lone_end[] = {0x09};
    assert_int_equal(sv_amf_decode(lone_end, 1, &v), SV_EINVAL);
    /* failure in the middle of an object frees what was built (ASan checks) */
    static const uint8_t mid[] = {0x03, 0x00, 0x01, 'a', 0x02, 0x00, 0x01, 'b',
                                  0x00, 0x01, 'c', 0x42};
    assert_int_equal(sv_amf_decode(mid, sizeof mid, &v), SV_EINVAL);
    assert_int_equal(sv_amf_decode(NULL, 0, &v), SV_ENEEDMORE);
}

static void depth_cap(void **st)
{
    sv_amf_value v;
    /* exactly SV_AMF_MAX_DEPTH levels decode */
    sv_bytes b;
    sv_bytes_init(&b);
    for (int i = 0; i < SV_AMF_MAX_DEPTH; i++) {
        sv_bytes_put_u8(&b, SV_AMF_STRICT_ARRAY);
        sv_bytes_put_be32(&b, 1);
    }
    sv_amf_put_null(&b);
    assert_int_equal(sv_amf_decode(b.p, b.len, &v), (int)b.len);
    sv_amf_free(&v);
    sv_bytes_free(&b);
    /* and one more is refused */
    sv_bytes_init(&b);
    for (int i = 0; i <= SV_AMF_MAX_DEPTH; i++) {
        sv_amf_put_object_start(&b);
        sv_amf_put_key(&b, "k");
    }
    sv_amf_put_null(&b);
    assert_int_equal(sv_amf_decode(b.p, b.len, &v), SV_ETOOBIG);
    sv_bytes_free(&b);
}

static void huge_counts_are_not_trusted(void **st)
{
    /* strict array claiming 4 billion items but holding 2: needs more, no huge alloc */
    static const uint8_t arr[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05};
    sv_amf_value v;
    assert_int_equal(sv_amf_decode(arr, sizeof arr, &v), SV_ENEEDMORE);
    /* ECMA array count is advisory: 1000 announced, 1 present, terminated */
    static const uint8_t ecma[] = {0x08, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x01, 'a',
                                   0x05, 0x00, 0x00, 0x09};
    assert_int_equal(sv_amf_decode(ecma, sizeof ecma, &v), (int)sizeof ecma);
    assert_int_equal(v.len, 1);
    sv_amf_free(&v);
    /* more values than the node budget */
    size_t count = SV_AMF_MAX_NODES + 10;
    uint8_t *big = malloc(5 + count);
    big[0] = SV_AMF_STRICT_ARRAY;
    sv_wb32(big + 1, (uint32_t)count);
    memset(big + 5, SV_AMF_NULL, count);
    assert_int_equal(sv_amf_decode(big, 5 + count, &v), SV_ETOOBIG);
    free(big);
    /* long string longer than the input */
    static const uint8_t ls[] = {0x0c, 0x7f, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(sv_amf_decode(ls, sizeof ls, &v), SV_ENEEDMORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_ffmpeg_connect),
        cmocka_unit_test(truncated_prefixes_need_more),
        cmocka_unit_test(build_and_round_trip),
        cmocka_unit_test(long_string),
        cmocka_unit_test(bad_markers),
        cmocka_unit_test(depth_cap),
        cmocka_unit_test(huge_counts_are_not_trusted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
