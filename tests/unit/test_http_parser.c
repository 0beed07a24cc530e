/* Unit tests of the pure HTTP request parser: real requests (curl's shape), pipelining,
 * byte-at-a-time feeding, decoding, keep-alive rules, and every error status with its
 * cap. Each test checks the outcome a client would see: consumed length, fields, status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "http/http_parser.h"

/* Parses a whole string; returns rc and keeps the parser for status checks. */
static int parse_str(sv_http_parser *p, const char *s, sv_http_request *r)
{
    sv_http_parser_init(p);
    memset(r, 0, sizeof *r);
    return sv_http_parse(p, (const uint8_t *)s, strlen(s), r);
}

/* Expects an error with the given HTTP status. */
static void expect_status(const char *s, int status)
{
    sv_http_parser p;
    sv_http_request r;
    int rc = parse_str(&p, s, &r);
    assert_true(rc < 0);
    assert_int_not_equal(rc, SV_ENEEDMORE);
    assert_int_equal(p.status, status);
    assert_non_null(p.reason);
    /* the error is sticky */
    assert_int_equal(sv_http_parse(&p, (const uint8_t *)s, strlen(s), &r), rc);
}

static void test_curl_request(void **state)
{
    const char *s = "GET /live/cam1/index.m3u8 HTTP/1.1\r\n"
                    "Host: localhost:8080\r\n"
                    "User-Agent: curl/7.88.1\r\n"
                    "Accept: */*\r\n"
                    "\r\n";
    sv_http_parser p;
    sv_http_request r;
    assert_int_equal(parse_str(&p, s, &r), (int)strlen(s));
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.target, "/live/cam1/index.m3u8");
    assert_string_equal(r.path, "/live/cam1/index.m3u8");
    assert_string_equal(r.query, "");
    assert_int_equal(r.minor, 1);
    assert_true(r.keep_alive);
    assert_int_equal(r.nheaders, 3);
    assert_string_equal(sv_http_request_header(&r, "host"), "localhost:8080");
    assert_string_equal(sv_http_request_header(&r, "USER-AGENT"), "curl/7.88.1");
    assert_null(sv_http_request_header(&r, "Range"));
    assert_null(r.body);
    assert_int_equal(r.body_len, 0);
    sv_http_request_free(&r);
    sv_http_request_free(NULL);
}

static void test_post_body_and_trim(void **state)
{
    const char *s = "POST /v1/nvr/convert2mp4 HTTP/1.1\r\nHost: h\r\n"
                    "Content-Type:  application/json \t\r\nContent-Length: 7\r\n"
                    "X-Empty:\r\n\r\n{\"a\":1}GET";
    sv_http_parser p;
    sv_http_request r;
    assert_int_equal(parse_str(&p, s, &r), (int)strlen(s) - 3);
    assert_string_equal(sv_http_request_header(&r, "content-type"), "application/json");
    assert_string_equal(sv_http_request_header(&r, "x-empty"), "");
    assert_int_equal(r.body_len, 7);
    assert_memory_equal(r.body, "{\"a\":1}", 7);
    sv_http_request_free(&r);
}

static void test_pipelined(void **state)
{
    const char *s = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                    "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                    "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    const char *paths[] = {"/a", "/b", "/c"};
    size_t off = 0, len = strlen(s);
    for (int i = 0; i < 3; i++) {
        sv_http_parser p;
        sv_http_request r;
        sv_http_parser_init(&p);
        int rc = sv_http_parse(&p, (const uint8_t *)s + off, len - off, &r);
        assert_true(rc > 0);
        assert_string_equal(r.path, paths[i]);
        assert_int_equal(r.keep_alive, i < 2);
        if (i == 1)
            assert_memory_equal(r.body, "xyz", 3);
        off += (size_t)rc;
        sv_http_request_free(&r);
    }
    assert_int_equal(off, len);
}

static void test_byte_at_a_time(void **state)
{
    const char *s = "\r\nPUT /x%20y?a=1&b=two+words HTTP/1.1\r\nHost: h\r\n"
                    "Content-Length: 5\r\n\r\nhello";
    size_t len = strlen(s);
    sv_http_parser p;
    sv_http_request r;
    sv_http_parser_init(&p);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(sv_http_parse(&p, (const uint8_t *)s, n, &r), SV_ENEEDMORE);
    assert_int_equal(p.state, SV_HTTP_PS_BODY);
    assert_int_equal(sv_http_parser_want(&p), len);
    assert_int_equal(sv_http_parse(&p, (const uint8_t *)s, len, &r), (int)len);
    assert_string_equal(r.method, "PUT");
    assert_string_equal(r.path, "/x y");
    assert_string_equal(sv_http_request_param(&r, "b"), "two words");
    assert_memory_equal(r.body, "hello", 5);
    sv_http_request_free(&r);
}

static void test_percent_decoding(void **state)
{
    sv_http_parser p;
    sv_http_request r;
    const char *s = "GET /a%2Fb/%C3%A9t%c3%a9+x?start_time=1700000000000&name=%41%20b%2B"
                    "&flag&=v&&dup=1&dup=2&e= HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_true(parse_str(&p, s, &r) > 0);
    assert_string_equal(r.path, "/a/b/\xc3\xa9t\xc3\xa9+x");
    assert_string_equal(r.query, "start_time=1700000000000&name=%41%20b%2B&flag&=v&&dup=1&"
                                 "dup=2&e=");
    assert_string_equal(sv_http_request_param(&r, "start_time"), "1700000000000");
    assert_string_equal(sv_http_request_param(&r, "name"), "A b+");
    assert_string_equal(sv_http_request_param(&r, "flag"), "");
    assert_string_equal(sv_http_request_param(&r, ""), "v");
    assert_string_equal(sv_http_request_param(&r, "dup"), "1");
    assert_string_equal(sv_http_request_param(&r, "e"), "");
    assert_null(sv_http_request_param(&r, "missing"));
    assert_int_equal(r.nparams, 7);
    sv_http_request_free(&r);

    char out[16];
    assert_int_equal(sv_http_pct_decode("a%41+", 5, 1, out), 3);
    assert_string_equal(out, "aA ");
    assert_int_equal(sv_http_pct_decode("%4", 2, 0, out), SV_EINVAL);
    assert_int_equal(sv_http_pct_decode("%", 1, 0, out), SV_EINVAL);
    assert_int_equal(sv_http_pct_decode("%g0", 3, 0, out), SV_EINVAL);
    assert_int_equal(sv_http_pct_decode("%00", 3, 0, out), SV_EINVAL);
    expect_status("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /a?x=%0 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_target_forms(void **state)
{
    sv_http_parser p;
    sv_http_request r;
    assert_true(parse_str(&p, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
    assert_string_equal(r.path, "*");
    sv_http_request_free(&r);
    assert_true(parse_str(&p, "GET http://example.com:80/x/y?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
                          &r) > 0);
    assert_string_equal(r.path, "/x/y");
    assert_string_equal(sv_http_request_param(&r, "q"), "1");
    sv_http_request_free(&r);
    assert_true(parse_str(&p, "GET http://example.com HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
    assert_string_equal(r.path, "/");
    sv_http_request_free(&r);
    expect_status("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET x/y HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_keep_alive_rules(void **state)
{
    static const struct {
        const char *req;
        int keep;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 1},
        {"GET / HTTP/1.1\nHost: h\n\n", 1}, /* bare LF line ends */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sv_http_parser p;
        sv_http_request r;
        assert_int_equal(parse_str(&p, cases[i].req, &r), (int)strlen(cases[i].req));
        assert_int_equal(r.keep_alive, cases[i].keep);
        sv_http_request_free(&r);
    }
}

static void test_errors_400(void **state)
{
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\n folded\r\nHost: h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\x01x\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\n\r\n", 400);                        /* no Host */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);  /* two Hosts */
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n"
                  "\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n", 400);
    expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
    expect_status("GET / HTTP/x.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_status("GET /\r\n\r\n", 400); /* HTTP/0.9 */
    /* equal duplicate Content-Length is fine */
    sv_http_parser p;
    sv_http_request r;
    assert_true(parse_str(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n"
                              "Content-Length: 2\r\n\r\nok", &r) > 0);
    assert_int_equal(r.body_len, 2);
    sv_http_request_free(&r);
}

static void test_errors_501_505(void **state)
{
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    expect_status("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    expect_status("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
    char m[64];
    memset(m, 'A', 33);
    m[33] = '\0';
    char req[128];
    snprintf(req, sizeof req, "%s / HTTP/1.1\r\nHost: h\r\n\r\n", m);
    expect_status(req, 501);
    m[32] = '\0'; /* 32 is the cap: accepted */
    snprintf(req, sizeof req, "%s / HTTP/1.1\r\nHost: h\r\n\r\n", m);
    sv_http_parser p;
    sv_http_request r;
    assert_true(parse_str(&p, req, &r) > 0);
    sv_http_request_free(&r);
}

/* Builds "GET /<target_len x 'a'> HTTP/1.1\r\nHost: h\r\n" + nheaders + extra value bytes. */
static char *build_request(size_t target_len, size_t nheaders, size_t value_len)
{
    size_t cap = target_len + nheaders * 32 + value_len + 128;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "GET /");
    memset(s + n, 'a', target_len);
    n += target_len;
    n += (size_t)snprintf(s + n, cap - n, " HTTP/1.1\r\nHost: h\r\n");
    for (size_t i = 0; i < nheaders; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-H%zu: v\r\n", i);
    if (value_len) {
        n += (size_t)snprintf(s + n, cap - n, "X-Big: ");
        memset(s + n, 'v', value_len);
        n += value_len;
        n += (size_t)snprintf(s + n, cap - n, "\r\n");
    }
    snprintf(s + n, cap - n, "\r\n");
    return s;
}

static void test_caps(void **state)
{
    sv_http_parser p;
    sv_http_request r;
    char *s = build_request(SV_HTTP_MAX_TARGET - 1, 0, 0); /* target "/" + 8191 = 8192 */
    assert_true(parse_str(&p, s, &r) > 0);
    sv_http_request_free(&r);
    free(s);
    s = build_request(SV_HTTP_MAX_TARGET, 0, 0);
    expect_status(s, 414);
    free(s);
    s = build_request(1, SV_HTTP_MAX_HEADERS - 1, 0); /* + Host = 100 */
    assert_true(parse_str(&p, s, &r) > 0);
    assert_int_equal(r.nheaders, SV_HTTP_MAX_HEADERS);
    sv_http_request_free(&r);
    free(s);
    s = build_request(1, SV_HTTP_MAX_HEADERS, 0);
    expect_status(s, 431);
    free(s);
    s = build_request(1, 0, SV_HTTP_MAX_HEAD);
    expect_status(s, 431);
    /* a caller that only hands over the head cap still gets the verdict, not NEEDMORE */
    sv_http_parser_init(&p);
    assert_int_equal(sv_http_parse(&p, (const uint8_t *)s, SV_HTTP_MAX_HEAD, &r), SV_ETOOBIG);
    assert_int_equal(p.status, 431);
    free(s);
    s = build_request(1, 0, SV_HTTP_MAX_HEAD - 100); /* just under the cap */
    assert_true(parse_str(&p, s, &r) > 0);
    sv_http_request_free(&r);
    free(s);
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413);
    expect_status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n"
                  "\r\n", 413);
    assert_int_equal(parse_str(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n"
                                   "\r\n", &r), SV_ENEEDMORE);
    assert_int_equal(sv_http_parser_want(&p), p.head_len + SV_HTTP_MAX_BODY);
}

static void test_expect_continue(void **state)
{
    sv_http_parser p;
    sv_http_request r;
    assert_int_equal(parse_str(&p, "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                   "Content-Length: 10\r\n\r\n", &r), SV_ENEEDMORE);
    assert_true(p.expect_continue);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl_request),     cmocka_unit_test(test_post_body_and_trim),
        cmocka_unit_test(test_pipelined),        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_percent_decoding), cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_keep_alive_rules), cmocka_unit_test(test_errors_400),
        cmocka_unit_test(test_errors_501_505),   cmocka_unit_test(test_caps),
        cmocka_unit_test(test_expect_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
