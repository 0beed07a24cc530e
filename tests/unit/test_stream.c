/* Unit tests: stream registry, fan-out, GOP cache replay, media clock anchor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "stream/stream.h"

typedef struct sink {
    int frames, tracks, unpublished;
    int64_t first_dts;
    bool first_key;
} sink;

static void on_tracks(void *ctx, sv_stream *s, const sv_track *t) { ((sink *)ctx)->tracks++; }
static void on_frame(void *ctx, sv_stream *s, sv_frame *f)
{
    sink *k = ctx;
    if (k->frames++ == 0) {
        k->first_dts = f->dts;
        k->first_key = f->key;
    }
}
static void on_unpublish(void *ctx, sv_stream *s) { ((sink *)ctx)->unpublished++; }
static const sv_consumer_ops ops = {on_tracks, on_frame, on_unpublish};

static void push(sv_stream *s, int track, int64_t dts, bool key)
{
    sv_frame *f = sv_frame_new(16);
    memset(f->data, 0, 16);
    f->track = (uint8_t)track;
    f->codec = track ? SV_CODEC_AAC : SV_CODEC_H264;
    f->dts = f->pts = dts;
    f->key = key;
    sv_stream_push(s, f);
    sv_frame_unref(f);
}

static sv_stream *live_stream(sv_registry *reg, const char *name)
{
    sv_stream *s = NULL;
    assert_int_equal(sv_stream_publish(reg, name, NULL, "rtmp", "127.0.0.1:1", NULL, NULL, &s), 0);
    sv_track t[SV_MAX_TRACKS] = {{.codec = SV_CODEC_H264, .type = SV_MEDIA_VIDEO},
                                 {.codec = SV_CODEC_AAC, .type = SV_MEDIA_AUDIO}};
    sv_stream_set_tracks(s, t);
    return s;
}

static void test_names(void **state)
{
    assert_true(sv_stream_name_valid("live/cam1"));
    assert_true(sv_stream_name_valid("a/b/c-d_e.f"));
    assert_false(sv_stream_name_valid(""));
    assert_false(sv_stream_name_valid("live//x"));
    assert_false(sv_stream_name_valid("live/../etc"));
    assert_false(sv_stream_name_valid("/live/x"));
    assert_false(sv_stream_name_valid("live/x?key=1"));
    assert_false(sv_stream_name_valid("live/ x"));
}

static void test_busy_name_and_fanout(void **state)
{
    sv_registry *reg = sv_registry_new(NULL);
    sv_stream *s = live_stream(reg, "live/a"), *other = NULL;
    assert_int_equal(sv_stream_publish(reg, "live/a", NULL, "rtmp", "x", NULL, NULL, &other),
                     SV_EEXIST);
    sink a = {0}, b = {0};
    sv_consumer *ca = sv_stream_subscribe(s, &ops, &a);
    push(s, 1, 0, true);        /* audio before the first keyframe: not cached */
    push(s, 0, 3600, true);     /* GOP starts */
    push(s, 1, 4000, true);
    push(s, 0, 7200, false);
    sv_consumer *cb = sv_stream_subscribe(s, &ops, &b); /* late: replayed from the keyframe */
    assert_int_equal(a.frames, 4);
    assert_int_equal(b.frames, 3);
    assert_true(b.first_key);
    assert_int_equal(b.first_dts, 3600);
    assert_int_equal(b.tracks, 1);
    push(s, 0, 10800, false);
    assert_int_equal(a.frames, 5);
    assert_int_equal(b.frames, 4);
    sv_stream_unsubscribe(s, ca);
    sv_stream_unpublish(s);
    assert_int_equal(a.unpublished, 0);
    assert_int_equal(b.unpublished, 1);
    sv_stream_stats st;
    sv_stream_get_stats(s, &st);
    assert_false(st.alive);
    assert_int_equal(st.frames_in, 5);
    /* a new publisher gets the name back; consumers stay attached */
    s = live_stream(reg, "live/a");
    push(s, 0, 0, true);
    assert_int_equal(b.frames, 5);
    sv_stream_unsubscribe(s, cb);
    sv_registry_free(reg);
}

static void test_anchor_and_epochs(void **state)
{
    sv_registry *reg = sv_registry_new(NULL);
    sv_stream *s = live_stream(reg, "live/clock");
    int64_t before = sv_now_utc_ms();
    push(s, 0, 900000, true);
    uint32_t e0 = sv_stream_epoch(s);
    int64_t u0 = sv_stream_utc_ms(s, 900000);
    assert_true(u0 >= before && u0 <= sv_now_utc_ms());
    assert_int_equal(sv_stream_utc_ms(s, 900000 + 90000), u0 + 1000); /* 1 s later */
    push(s, 0, 900000 + 3600, false);
    assert_int_equal(sv_stream_epoch(s), e0);
    /* a jump of an hour in the publisher's timestamps: new epoch, no going back */
    push(s, 0, 900000 + 3600 * 90000LL, true);
    assert_int_equal(sv_stream_epoch(s), e0 + 1);
    assert_true(sv_stream_utc_ms(s, 900000 + 3600 * 90000LL) > u0);
    /* an input's clock pins the mapping; a move of > 1 s is a new epoch */
    sv_stream_set_clock(s, 0, 1700000000000);
    assert_int_equal(sv_stream_utc_ms(s, 90000), 1700000001000);
    uint32_t e1 = sv_stream_epoch(s);
    sv_stream_set_clock(s, 90000, 1700000001400); /* 400 ms off: same clock, kept steady */
    assert_int_equal(sv_stream_epoch(s), e1);
    assert_int_equal(sv_stream_utc_ms(s, 90000), 1700000001000);
    sv_stream_set_clock(s, 90000, 1700000009000); /* 8 s off: follows, new epoch */
    assert_int_equal(sv_stream_epoch(s), e1 + 1);
    assert_int_equal(sv_stream_utc_ms(s, 180000), 1700000010000);
    sv_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_busy_name_and_fanout),
        cmocka_unit_test(test_anchor_and_epochs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
