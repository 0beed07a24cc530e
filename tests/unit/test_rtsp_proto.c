/* Unit tests for ingest/rtsp/rtsp_proto: the DESCRIBE answer GStreamer's RTSP server sends
 * (whole, byte by byte, with interleaved data behind it), server requests, caps and
 * malformed input, interleaved frames, URLs (credentials, IPv6, masking, joining), and
 * authentication: the RFC 2617 Digest example, Digest without qop, Basic, challenges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ingest/rtsp/rtsp_proto.h"

static const char describe_resp[] =
    "RTSP/1.0 200 OK\r\n"
    "CSeq: 2\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Base: rtsp://127.0.0.1:18554/cam/\r\n"
    "Server: GStreamer RTSP server\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "v=0\r\ns=x\r\n";

static void test_describe_response(void **state)
{
    sv_rtsp_msg m;
    size_t len = strlen(describe_resp);
    int rc = sv_rtsp_parse((const uint8_t *)describe_resp, len, &m);
    assert_int_equal(rc, (int)len);
    assert_false(m.is_request);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.cseq, 2);
    assert_int_equal(m.reason.len, 2);
    assert_memory_equal(m.reason.p, "OK", 2);
    char v[128];
    assert_string_equal(sv_rtsp_str_copy(sv_rtsp_header_get(&m, "content-base"), v, sizeof v),
                        "rtsp://127.0.0.1:18554/cam/");
    assert_int_equal(m.body_len, 10);
    assert_memory_equal(m.body, "v=0\r\ns=x\r\n", 10);
    assert_null(sv_rtsp_header_get(&m, "Session").p);
    /* every proper prefix needs more */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(sv_rtsp_parse((const uint8_t *)describe_resp, i, &m), SV_ENEEDMORE);
}

static void test_response_then_interleaved(void **state)
{
    uint8_t buf[256];
    const char *r = "RTSP/1.0 200 OK\nCSeq: 5\nSession: 1234;timeout=60\n\n";
    size_t rl = strlen(r);
    memcpy(buf, r, rl);
    const uint8_t frame[] = {'$', 1, 0, 3, 0xaa, 0xbb, 0xcc};
    memcpy(buf + rl, frame, sizeof frame);
    sv_rtsp_msg m;
    assert_int_equal(sv_rtsp_parse(buf, rl + sizeof frame, &m), (int)rl); /* bare LF ends */
    assert_int_equal(m.cseq, 5);
    char v[64];
    assert_string_equal(sv_rtsp_str_copy(sv_rtsp_header_get(&m, "Session"), v, sizeof v),
                        "1234;timeout=60");
    int ch;
    const uint8_t *p;
    size_t pl;
    assert_int_equal(sv_rtsp_interleaved(buf + rl, sizeof frame, &ch, &p, &pl), 7);
    assert_int_equal(ch, 1);
    assert_int_equal(pl, 3);
    assert_int_equal(p[2], 0xcc);
    assert_int_equal(sv_rtsp_interleaved(buf + rl, 6, &ch, &p, &pl), SV_ENEEDMORE);
    assert_int_equal(sv_rtsp_interleaved(buf + rl, 2, &ch, &p, &pl), SV_ENEEDMORE);
    assert_int_equal(sv_rtsp_interleaved(buf, 4, &ch, &p, &pl), SV_EINVAL);
}

static void test_server_request(void **state)
{
    const char *r = "GET_PARAMETER rtsp://10.0.0.1/ RTSP/1.0\r\nCSeq: 9\r\n\r\n";
    sv_rtsp_msg m;
    assert_int_equal(sv_rtsp_parse((const uint8_t *)r, strlen(r), &m), (int)strlen(r));
    assert_true(m.is_request);
    assert_int_equal(m.method.len, 13);
    assert_memory_equal(m.uri.p, "rtsp://10.0.0.1/", m.uri.len);
    assert_int_equal(m.cseq, 9);
}

static void test_malformed_and_caps(void **state)
{
    sv_rtsp_msg m;
    const char *bad[] = {"HTTP/1.1 200 OK\r\n\r\n", "RTSP/1.0 abc OK\r\n\r\n",
                         "RTSP/1.0 200 OK\r\nNoColon\r\n\r\n",
                         "RTSP/1.0 200 OK\r\nA: b\r\n folded\r\n\r\n",
                         "RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", "\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(sv_rtsp_parse((const uint8_t *)bad[i], strlen(bad[i]), &m) < 0 &&
                    sv_rtsp_parse((const uint8_t *)bad[i], strlen(bad[i]), &m) != SV_ENEEDMORE);
    const char *big = "RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n";
    assert_int_equal(sv_rtsp_parse((const uint8_t *)big, strlen(big), &m), SV_ETOOBIG);
    /* a header block that never ends is cut at the cap */
    size_t n = SV_RTSP_MAX_HEADER + 10;
    uint8_t *huge = malloc(n);
    memcpy(huge, "RTSP/1.0 200 OK\r\nX: ", 20);
    memset(huge + 20, 'a', n - 20);
    assert_int_equal(sv_rtsp_parse(huge, n, &m), SV_ETOOBIG);
    assert_int_equal(sv_rtsp_parse(huge, 1000, &m), SV_ENEEDMORE);
    free(huge);
    /* more headers than the cap: the rest are dropped, CSeq found if early */
    char many[4096];
    size_t o = (size_t)snprintf(many, sizeof many, "RTSP/1.0 200 OK\r\nCSeq: 3\r\n");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "X%d: y\r\n", i);
    o += (size_t)snprintf(many + o, sizeof many - o, "\r\n");
    assert_int_equal(sv_rtsp_parse((const uint8_t *)many, o, &m), (int)o);
    assert_int_equal(m.nheaders, SV_RTSP_MAX_HEADERS);
    assert_int_equal(m.cseq, 3);
}

static void test_urls(void **state)
{
    sv_rtsp_url u;
    assert_int_equal(sv_rtsp_url_parse("rtsp://admin:p%40ss:w@cam.local:8554/live/ch1?x=1", &u), 0);
    assert_string_equal(u.user, "admin");
    assert_string_equal(u.pass, "p@ss:w");
    assert_string_equal(u.host, "cam.local");
    assert_int_equal(u.port, 8554);
    assert_string_equal(u.path, "/live/ch1?x=1");
    char out[256];
    assert_int_equal(sv_rtsp_url_plain(&u, out, sizeof out), 0);
    assert_string_equal(out, "rtsp://cam.local:8554/live/ch1?x=1");
    assert_int_equal(sv_rtsp_url_parse("RTSP://[::1]/", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 554);
    sv_rtsp_url_plain(&u, out, sizeof out);
    assert_string_equal(out, "rtsp://[::1]:554/");
    assert_int_equal(sv_rtsp_url_parse("rtsp://host", &u), 0);
    assert_string_equal(u.path, "/");
    assert_int_equal(sv_rtsp_url_parse("http://host/", &u), SV_EINVAL);
    assert_int_equal(sv_rtsp_url_parse("rtsp://host:0/", &u), SV_EINVAL);
    assert_int_equal(sv_rtsp_url_parse("rtsp://host:99999/", &u), SV_EINVAL);
    assert_int_equal(sv_rtsp_url_parse("rtsp:///x", &u), SV_EINVAL);
    assert_int_equal(sv_rtsp_url_parse("rtsp://h/a b", &u), SV_EINVAL);
}

static void test_mask_and_join(void **state)
{
    char out[256];
    sv_rtsp_url_mask("rtsp://user:secret@10.0.0.5:554/h264", out, sizeof out);
    assert_string_equal(out, "rtsp://user:***@10.0.0.5:554/h264");
    sv_rtsp_url_mask("rtsp://user@10.0.0.5/h264", out, sizeof out);
    assert_string_equal(out, "rtsp://user@10.0.0.5/h264");
    sv_rtsp_url_mask("rtsp://10.0.0.5/a:b@c", out, sizeof out); /* '@' in the path only */
    assert_string_equal(out, "rtsp://10.0.0.5/a:b@c");
    sv_rtsp_url_mask("rtsp://u:p@ss@h/x", out, sizeof out);
    assert_string_equal(out, "rtsp://u:***@h/x");
    assert_int_equal(sv_rtsp_url_join("rtsp://h:554/cam/", "stream=0", out, sizeof out), 0);
    assert_string_equal(out, "rtsp://h:554/cam/stream=0");
    sv_rtsp_url_join("rtsp://h:554/cam", "trackID=1", out, sizeof out);
    assert_string_equal(out, "rtsp://h:554/cam/trackID=1");
    sv_rtsp_url_join("rtsp://h:554/cam/", "rtsp://o/x", out, sizeof out);
    assert_string_equal(out, "rtsp://o/x");
    sv_rtsp_url_join("rtsp://h:554/cam/", "/other", out, sizeof out);
    assert_string_equal(out, "rtsp://h:554/other");
    sv_rtsp_url_join("rtsp://h:554/cam/", "", out, sizeof out);
    assert_string_equal(out, "rtsp://h:554/cam/");
    assert_int_equal(sv_rtsp_url_join("rtsp://h/", "x", out, 5), SV_ETOOBIG);
}

static void test_digest_rfc2617(void **state)
{
    char resp[33];
    /* RFC 2617 section 3.5 */
    sv_rtsp_digest("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                   "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", resp);
    assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");
    /* RFC 2069 form (no qop): MD5(HA1:nonce:HA2) */
    sv_rtsp_digest("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                   "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL, NULL, resp);
    assert_string_equal(resp, "670fd8c2df070c60b045671b8b24ff02");
}

static void test_auth_headers(void **state)
{
    sv_rtsp_auth a = {0};
    const char *ch = "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                     "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                     "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    assert_int_equal(sv_rtsp_auth_challenge(&a, ch, strlen(ch)), 0);
    assert_int_equal(a.kind, SV_RTSP_AUTH_DIGEST);
    assert_true(a.qop_auth);
    assert_string_equal(a.realm, "testrealm@host.com");
    /* Basic after Digest keeps Digest */
    assert_int_equal(sv_rtsp_auth_challenge(&a, "Basic realm=\"x\"", 15), 0);
    assert_int_equal(a.kind, SV_RTSP_AUTH_DIGEST);
    char out[1024];
    assert_int_equal(sv_rtsp_auth_header(&a, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                                         "0a4f113b", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "response=\"6629fae49393a05397450978507c4ef1\""));
    assert_non_null(strstr(out, "nc=00000001"));
    assert_non_null(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    sv_rtsp_auth_header(&a, "Mufasa", "Circle Of Life", "GET", "/", "0a4f113b", out, sizeof out);
    assert_non_null(strstr(out, "nc=00000002"));
    /* GStreamer's challenge: no qop */
    sv_rtsp_auth g = {0};
    const char *gch = "Digest realm=\"GStreamer RTSP Server\", nonce=\"ba08ac824d2a9caf\"";
    assert_int_equal(sv_rtsp_auth_challenge(&g, gch, strlen(gch)), 0);
    assert_false(g.qop_auth);
    sv_rtsp_auth_header(&g, "admin", "secret", "DESCRIBE", "rtsp://127.0.0.1:8554/cam", NULL, out,
                        sizeof out);
    assert_null(strstr(out, "qop="));
    char exp[33];
    sv_rtsp_digest("admin", "GStreamer RTSP Server", "secret", "DESCRIBE",
                   "rtsp://127.0.0.1:8554/cam", "ba08ac824d2a9caf", NULL, NULL, NULL, exp);
    assert_non_null(strstr(out, exp));
    /* Basic */
    sv_rtsp_auth b = {0};
    assert_int_equal(sv_rtsp_auth_challenge(&b, "Basic realm=\"cam\"", 17), 0);
    assert_int_equal(b.kind, SV_RTSP_AUTH_BASIC);
    sv_rtsp_auth_header(&b, "Aladdin", "open sesame", "DESCRIBE", "/", NULL, out, sizeof out);
    assert_string_equal(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    /* unsupported */
    sv_rtsp_auth u = {0};
    assert_int_equal(sv_rtsp_auth_challenge(&u, "Bearer x", 8), SV_EUNSUPPORTED);
    const char *sha = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256";
    assert_int_equal(sv_rtsp_auth_challenge(&u, sha, strlen(sha)), SV_EUNSUPPORTED);
    assert_int_equal(sv_rtsp_auth_challenge(&u, "Digest realm=\"r\"", 16), SV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_response), cmocka_unit_test(test_response_then_interleaved),
        cmocka_unit_test(test_server_request),    cmocka_unit_test(test_malformed_and_caps),
        cmocka_unit_test(test_urls),              cmocka_unit_test(test_mask_and_join),
        cmocka_unit_test(test_digest_rfc2617),    cmocka_unit_test(test_auth_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
