/* Unit tests for ingest/rtmp/rtmp_chunk: the connect chunks ffmpeg sends, header formats
 * 0-3 and their timestamp rules, extended timestamps (also on fmt 3), chunk size changes,
 * Abort, acknowledgement windows, 1-byte feeds, writer round trips and the caps, and a
 * replay of a whole real ffmpeg publish session (tests/fuzz/corpus/rtmp_chunk/
 * ffmpeg_publish.bin: x264 160x120 10 fps + AAC, 1.5 s, captured after the handshake). */
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtmp/amf0.h"
#include "ingest/rtmp/rtmp_chunk.h"
#include "ingest/rtmp/rtmp_flv.h"

/* What ffmpeg sent after the handshake for rtmp://127.0.0.1:19350/live/x: the connect
 * command (140 bytes) as a fmt 0 chunk of 128 bytes and a fmt 3 continuation (0xc3). */
static const uint8_t ff_connect_chunks[] = {
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8c, 0x14, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x07, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x61, 0x70, 0x70, 0x02, 0x00, 0x04, 0x6c, 0x69,
    0x76, 0x65, 0x00, 0x04, 0x74, 0x79, 0x70, 0x65, 0x02, 0x00, 0x0a, 0x6e, 0x6f, 0x6e,
    0x70, 0x72, 0x69, 0x76, 0x61, 0x74, 0x65, 0x00, 0x08, 0x66, 0x6c, 0x61, 0x73, 0x68,
    0x56, 0x65, 0x72, 0x02, 0x00, 0x24, 0x46, 0x4d, 0x4c, 0x45, 0x2f, 0x33, 0x2e, 0x30,
    0x20, 0x28, 0x63, 0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65, 0x3b, 0x20,
    0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x29,
    0x00, 0x05, 0x74, 0x63, 0x55, 0x72, 0x6c, 0x02, 0x00, 0x1b, 0x72, 0x74, 0x6d, 0x70,
    0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x31,
    0xc3, 0x39, 0x33, 0x35, 0x30, 0x2f, 0x6c, 0x69, 0x76, 0x65, 0x00, 0x00, 0x09};

#define MAXM 64

typedef struct got {
    sv_rtmp_msg m[MAXM];
    uint8_t *data[MAXM];
    int n;
} got;

static void got_free(got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    g->n = 0;
}

/* Feeds `len` bytes `step` at a time the way the server does: unconsumed bytes stay in
 * a pending window that grows with each feed. Returns 0, or the first error. */
static int feed(sv_rtmp_reader *r, const uint8_t *p, size_t len, size_t step, got *g)
{
    size_t start = 0, end = 0; /* pending window p[start..end) */
    while (start < len) {
        end = end + step < len ? end + step : len;
        for (;;) {
            sv_rtmp_msg m;
            bool have;
            int rc = sv_rtmp_reader_parse(r, p + start, end - start, &m, &have);
            if (rc == SV_ENEEDMORE)
                break;
            if (rc < 0)
                return rc;
            assert_true(rc > 0 || (have && m.len == 0));
            start += (size_t)rc;
            if (have) {
                assert_true(g->n < MAXM);
                g->m[g->n] = m;
                g->data[g->n] = malloc(m.len + 1);
                if (m.len)
                    memcpy(g->data[g->n], m.data, m.len);
                g->m[g->n].data = g->data[g->n];
                g->n++;
            }
            if (start == end)
                break;
        }
        if (end == len && start < len)
            return SV_ENEEDMORE;
    }
    return 0;
}

static void ffmpeg_connect_any_feed_size(void **st)
{
    size_t steps[] = {1, 2, 7, 12, 13, 128, 140, 1000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sv_rtmp_reader r;
        assert_int_equal(sv_rtmp_reader_init(&r), 0);
        got g = {0};
        assert_int_equal(feed(&r, ff_connect_chunks, sizeof ff_connect_chunks, steps[i], &g), 0);
        assert_int_equal(g.n, 1);
        assert_int_equal(g.m[0].csid, 3);
        assert_int_equal(g.m[0].type, SV_RTMP_MSG_COMMAND_AMF0);
        assert_int_equal(g.m[0].stream_id, 0);
        assert_int_equal(g.m[0].timestamp, 0);
        assert_int_equal(g.m[0].len, 140);
        assert_memory_equal(g.m[0].data, ff_connect_chunks + 12, 128);
        assert_memory_equal(g.m[0].data + 128, ff_connect_chunks + 141, 12);
        assert_int_equal(r.bytes_in, sizeof ff_connect_chunks);
        got_free(&g);
        sv_rtmp_reader_free(&r);
    }
}

static void formats_0_to_3_timestamps(void **st)
{
    static const uint8_t in[] = {
        /* fmt 0, csid 4, ts 1000, len 3, video, stream 1 */
        0x04, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x03, 0x09, 0x01, 0x00, 0x00, 0x00, 'a', 'b', 'c',
        /* fmt 1: delta 40, len 2, audio */
        0x44, 0x00, 0x00, 0x28, 0x00, 0x00, 0x02, 0x08, 'd', 'e',
        /* fmt 2: delta 20 (same length and type) */
        0x84, 0x00, 0x00, 0x14, 'f', 'g',
        /* fmt 3 starting a new message: delta 20 again */
        0xc4, 'h', 'i',
        /* csid 64 (2-byte basic header) and 400 (3-byte) */
        0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x01, 0x12, 0x00, 0x00, 0x00, 0x00, 'j',
        0x01, 0x50, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x01, 0x12, 0x00, 0x00, 0x00, 0x00,
        'k',
        /* zero-length message on csid 5 */
        0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00,
    };
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    got g = {0};
    assert_int_equal(feed(&r, in, sizeof in, 1, &g), 0);
    assert_int_equal(g.n, 7);
    uint32_t ts[] = {1000, 1040, 1060, 1080, 5, 7, 1};
    uint8_t type[] = {9, 8, 8, 8, 18, 18, 18};
    uint32_t csid[] = {4, 4, 4, 4, 64, 400, 5};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(g.m[i].timestamp, ts[i]);
        assert_int_equal(g.m[i].type, type[i]);
        assert_int_equal(g.m[i].csid, csid[i]);
    }
    assert_int_equal(g.m[0].stream_id, 1);
    assert_int_equal(g.m[3].stream_id, 1);
    assert_memory_equal(g.m[3].data, "hi", 2);
    assert_int_equal(g.m[6].len, 0);
    got_free(&g);
    sv_rtmp_reader_free(&r);
}

static void extended_timestamps(void **st)
{
    /* fmt 0 with an extended timestamp, 200 bytes in chunks of 128: the fmt 3
     * continuation repeats the extended timestamp; then a fmt 3 new message adds the
     * extended value again as its delta. */
    uint8_t in[512];
    size_t n = 0;
    static const uint8_t h0[] = {0x06, 0xff, 0xff, 0xff, 0x00, 0x00, 0xc8, 0x09,
                                 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
    memcpy(in + n, h0, sizeof h0), n += sizeof h0;
    memset(in + n, 0xaa, 128), n += 128;
    static const uint8_t h3[] = {0xc6, 0x01, 0x00, 0x00, 0x00};
    memcpy(in + n, h3, sizeof h3), n += sizeof h3;
    memset(in + n, 0xbb, 72), n += 72;
    memcpy(in + n, h3, sizeof h3), n += sizeof h3; /* new message, fmt 3 */
    memset(in + n, 0xcc, 128), n += 128;
    memcpy(in + n, h3, sizeof h3), n += sizeof h3;
    memset(in + n, 0xdd, 72), n += 72;
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    got g = {0};
    assert_int_equal(feed(&r, in, n, 1, &g), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.m[0].timestamp, 0x01000000);
    assert_int_equal(g.m[0].len, 200);
    assert_int_equal(g.m[0].data[127], 0xaa);
    assert_int_equal(g.m[0].data[128], 0xbb);
    assert_int_equal(g.m[1].timestamp, 0x02000000);
    assert_int_equal(g.m[1].data[199], 0xdd);
    got_free(&g);
    sv_rtmp_reader_free(&r);
}

static void chunk_size_change_and_writer(void **st)
{
    sv_bytes b;
    sv_bytes_init(&b);
    uint8_t cs[4];
    sv_wb32(cs, 4096);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, cs, 4);
    uint8_t *big = malloc(10000);
    for (int i = 0; i < 10000; i++)
        big[i] = (uint8_t)(i * 7);
    sv_rtmp_chunk_write(&b, 4096, 6, SV_RTMP_MSG_VIDEO, 1, 33, big, 10000);
    sv_rtmp_chunk_write2(&b, 4096, 400, SV_RTMP_MSG_AUDIO, 1, 0x12345678, big, 5, big + 5, 5000);
    sv_rtmp_chunk_write(&b, 4096, 70, SV_RTMP_MSG_DATA_AMF0, 1, 0, NULL, 0);
    assert_false(b.failed);
    /* 12 + 4 | 12 + 10000 + 2 fmt3 | 3+11+4 + 5005 + 1 fmt3 (3+4) | 2+11 */
    assert_int_equal(b.len, 16 + 12 + 10000 + 2 + 18 + 5005 + 7 + 13);
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    got g = {0};
    assert_int_equal(feed(&r, b.p, b.len, 1000, &g), 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(r.chunk_size, 4096);
    assert_int_equal(g.m[1].len, 10000);
    assert_memory_equal(g.m[1].data, big, 10000);
    assert_int_equal(g.m[1].timestamp, 33);
    assert_int_equal(g.m[2].csid, 400);
    assert_int_equal(g.m[2].timestamp, 0x12345678);
    assert_int_equal(g.m[2].len, 5005);
    assert_memory_equal(g.m[2].data, big, 5005);
    assert_int_equal(g.m[3].csid, 70);
    assert_int_equal(g.m[3].len, 0);
    got_free(&g);
    sv_rtmp_reader_free(&r);
    free(big);
    sv_bytes_free(&b);
}

static void abort_drops_partial(void **st)
{
    static const uint8_t in[] = {
        /* csid 4: 200-byte message, only the first 128-byte chunk arrives */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc8, 0x09, 0x01, 0x00, 0x00, 0x00,
    };
    sv_bytes b;
    sv_bytes_init(&b);
    sv_bytes_put(&b, in, sizeof in);
    sv_bytes_fill(&b, 0x11, 128);
    uint8_t ab[4];
    sv_wb32(ab, 4);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_ABORT, 0, 0, ab, 4);
    uint8_t msg[3] = {1, 2, 3};
    sv_rtmp_chunk_write(&b, 128, 4, SV_RTMP_MSG_VIDEO, 1, 9, msg, 3);
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    got g = {0};
    assert_int_equal(feed(&r, b.p, b.len, 3, &g), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.m[0].type, SV_RTMP_MSG_ABORT);
    assert_int_equal(g.m[1].len, 3);
    assert_int_equal(g.m[1].timestamp, 9);
    got_free(&g);
    sv_rtmp_reader_free(&r);
    sv_bytes_free(&b);
}

static void ack_window(void **st)
{
    sv_bytes b;
    sv_bytes_init(&b);
    uint8_t w[4];
    sv_wb32(w, 100);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_WINDOW_ACK_SIZE, 0, 0, w, 4);
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    sv_rtmp_reader_count(&r, 3073); /* handshake */
    got g = {0};
    assert_int_equal(feed(&r, b.p, b.len, 100, &g), 0);
    uint32_t seq = 0;
    assert_true(sv_rtmp_reader_ack_due(&r, &seq));
    assert_int_equal(seq, 3073 + 16);
    assert_false(sv_rtmp_reader_ack_due(&r, &seq));
    sv_bytes_reset(&b);
    uint8_t pl[90] = {0};
    sv_rtmp_chunk_write(&b, 128, 3, SV_RTMP_MSG_VIDEO, 1, 0, pl, sizeof pl);
    assert_int_equal(feed(&r, b.p, b.len, 200, &g), 0);
    assert_true(sv_rtmp_reader_ack_due(&r, &seq)); /* 102 bytes more */
    assert_int_equal(seq, 3073 + 16 + 102);
    got_free(&g);
    sv_rtmp_reader_free(&r);
    sv_bytes_free(&b);
}

static int parse_all(const uint8_t *p, size_t len, uint32_t max_msg)
{
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    if (max_msg)
        r.max_msg = max_msg;
    got g = {0};
    int rc = feed(&r, p, len, 4096, &g);
    got_free(&g);
    sv_rtmp_reader_free(&r);
    return rc;
}

static void bad_inputs(void **st)
{
    /* fmt 1 on a csid never seen */
    static const uint8_t fmt1[] = {0x44, 0, 0, 0, 0, 0, 1, 9, 'x'};
    assert_int_equal(parse_all(fmt1, sizeof fmt1, 0), SV_EINVAL);
    /* set chunk size 0, and 2^31 */
    sv_bytes b;
    sv_bytes_init(&b);
    uint8_t v[4] = {0, 0, 0, 0};
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, v, 4);
    assert_int_equal(parse_all(b.p, b.len, 0), SV_EINVAL);
    sv_bytes_reset(&b);
    sv_wb32(v, 0x80000000u);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, v, 4);
    assert_int_equal(parse_all(b.p, b.len, 0), SV_EINVAL);
    sv_bytes_reset(&b);
    sv_wb32(v, SV_RTMP_MAX_CHUNK_SIZE + 1);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, v, 4);
    assert_int_equal(parse_all(b.p, b.len, 0), SV_EINVAL);
    /* short control message */
    sv_bytes_reset(&b);
    sv_rtmp_chunk_write(&b, 128, 2, SV_RTMP_MSG_SET_CHUNK_SIZE, 0, 0, v, 2);
    assert_int_equal(parse_all(b.p, b.len, 0), SV_EINVAL);
    /* message length over the pre-publish cap (header alone is enough to refuse) */
    static const uint8_t big[] = {0x03, 0, 0, 0, 0x01, 0x00, 0x01, 0x14, 0, 0, 0, 0};
    assert_int_equal(parse_all(big, sizeof big, 0), SV_ETOOBIG);
    /* over 8 MiB once raised */
    static const uint8_t huge[] = {0x03, 0, 0, 0, 0x80, 0x00, 0x01, 0x09, 0, 0, 0, 0};
    assert_int_equal(parse_all(huge, sizeof huge, SV_RTMP_MAX_MSG), SV_ETOOBIG);
    /* 1 MiB is fine once raised (header consumed, waiting for the payload) */
    static const uint8_t mib[] = {0x03, 0, 0, 0, 0x10, 0x00, 0x00, 0x09, 0, 0, 0, 0};
    assert_int_equal(parse_all(mib, sizeof mib, SV_RTMP_MAX_MSG), 0);
    assert_int_equal(parse_all(mib, sizeof mib, 0), SV_ETOOBIG);
    /* too many chunk streams */
    sv_bytes_reset(&b);
    for (uint32_t c = 3; c < 3 + SV_RTMP_MAX_CSIDS + 1; c++)
        sv_rtmp_chunk_write(&b, 128, c, SV_RTMP_MSG_VIDEO, 1, 0, v, 1);
    assert_int_equal(parse_all(b.p, b.len, 0), SV_ETOOBIG);
    sv_bytes_free(&b);
}

static void buffered_cap(void **st)
{
    /* 4 csids each starting an 8 MiB message: the sum of buffers is capped */
    sv_bytes b;
    sv_bytes_init(&b);
    for (uint8_t c = 3; c < 7; c++) {
        uint8_t h[12] = {c, 0, 0, 0, 0x7f, 0xff, 0xff, 0x09, 0, 0, 0, 0};
        sv_bytes_put(&b, h, 12);
        sv_bytes_fill(&b, 0, 128);
    }
    assert_int_equal(parse_all(b.p, b.len, SV_RTMP_MAX_MSG), SV_ETOOBIG);
    sv_bytes_free(&b);
}

static void garbage_never_crashes(void **st)
{
    uint32_t x = 12345;
    uint8_t buf[4096];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        int rc = parse_all(buf, sizeof buf, (round & 1) ? SV_RTMP_MAX_MSG : 0);
        assert_true(rc == 0 || rc == SV_ENEEDMORE || rc == SV_EINVAL || rc == SV_ETOOBIG);
    }
}

typedef struct replay {
    int tracks, vframes, aframes, keys, cmds, bframes;
    int64_t last_dts[2];
    bool nonmono;
    sv_codec vcodec, acodec;
    int width;
} replay;

static void rp_tracks(void *ctx, const sv_track *t)
{
    replay *r = ctx;
    r->tracks++;
    r->vcodec = t[0].codec;
    r->acodec = t[1].codec;
    r->width = t[0].width;
}

static void rp_frame(void *ctx, sv_frame *f)
{
    replay *r = ctx;
    int *n = f->track == 0 ? &r->vframes : &r->aframes;
    if (*n && f->dts < r->last_dts[f->track])
        r->nonmono = true;
    r->last_dts[f->track] = f->dts;
    (*n)++;
    if (f->track == 0 && f->key)
        r->keys++;
    if (f->pts != f->dts)
        r->bframes++;
}

static uint8_t *load_capture(size_t *len)
{
    /* relative to this source file, as the compiler saw it (meson runs from the build
     * dir, which is where the relative __FILE__ path starts) */
    char path[1024];
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    snprintf(path, sizeof path, "%.*s/../fuzz/corpus/rtmp_chunk/ffmpeg_publish.bin",
             slash ? (int)(slash - f) : 1, slash ? f : ".");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    return buf;
}

static void ffmpeg_publish_capture(void **st)
{
    size_t len = 0;
    uint8_t *buf = load_capture(&len);
    if (!buf)
        skip();
    sv_rtmp_reader r;
    assert_int_equal(sv_rtmp_reader_init(&r), 0);
    replay rp = {0};
    sv_rtmp_media m;
    sv_rtmp_media_cb cb = {rp_tracks, rp_frame, &rp};
    sv_rtmp_media_init(&m, &cb);
    size_t pos = 1; /* the fuzzer's control byte */
    while (pos < len) {
        sv_rtmp_msg msg;
        bool have;
        size_t n = len - pos < 1000 ? len - pos : 1000;
        int rc = sv_rtmp_reader_parse(&r, buf + pos, n, &msg, &have);
        assert_true(rc > 0);
        pos += (size_t)rc;
        if (!have)
            continue;
        if (msg.type == SV_RTMP_MSG_COMMAND_AMF0) {
            sv_amf_value v[8];
            int nv = sv_amf_decode_all(msg.data, msg.len, v, 8);
            assert_true(nv >= 2);
            assert_int_equal(v[0].type, SV_AMF_STRING);
            if (!strcmp(v[0].str, "publish")) {
                assert_string_equal(v[3].str, "cap");
                r.max_msg = SV_RTMP_MAX_MSG;
            }
            rp.cmds++;
            sv_amf_free_all(v, nv);
        } else if (msg.type == SV_RTMP_MSG_DATA_AMF0) {
            sv_amf_value v[4];
            int nv = sv_amf_decode_all(msg.data, msg.len, v, 4);
            assert_int_equal(nv, 3);
            assert_string_equal(v[1].str, "onMetaData");
            sv_rtmp_media_metadata(&m, &v[2]);
            sv_amf_free_all(v, nv);
        } else if (msg.type == SV_RTMP_MSG_VIDEO) {
            assert_int_equal(sv_rtmp_media_video(&m, msg.timestamp, msg.data, msg.len), 0);
        } else if (msg.type == SV_RTMP_MSG_AUDIO) {
            assert_int_equal(sv_rtmp_media_audio(&m, msg.timestamp, msg.data, msg.len), 0);
        }
    }
    /* connect, releaseStream, FCPublish, createStream, publish, FCUnpublish, deleteStream */
    assert_int_equal(rp.cmds, 7);
    assert_int_equal(rp.tracks, 1);
    assert_int_equal(rp.vcodec, SV_CODEC_H264);
    assert_int_equal(rp.acodec, SV_CODEC_AAC);
    assert_int_equal(rp.width, 160);
    assert_int_equal(rp.vframes, 15);
    assert_int_equal(rp.keys, 2);
    assert_true(rp.bframes > 0);
    assert_true(rp.aframes >= 60);
    assert_false(rp.nonmono);
    sv_rtmp_media_free(&m);
    sv_rtmp_reader_free(&r);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ffmpeg_connect_any_feed_size),
        cmocka_unit_test(formats_0_to_3_timestamps),
        cmocka_unit_test(extended_timestamps),
        cmocka_unit_test(chunk_size_change_and_writer),
        cmocka_unit_test(abort_drops_partial),
        cmocka_unit_test(ack_window),
        cmocka_unit_test(bad_inputs),
        cmocka_unit_test(buffered_cap),
        cmocka_unit_test(garbage_never_crashes),
        cmocka_unit_test(ffmpeg_publish_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
