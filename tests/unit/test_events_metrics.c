/* Unit tests of events/metrics.c: exposition text of families and samples, label value
 * escaping, number formatting, collector order and removal, and the traffic counters
 * (bounded kinds, unknown sources counted as "other"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/metrics.h"

static void collect_a(sv_metrics_out *o, void *ctx)
{
    sv_metrics_family(o, "t_things_total", "counter", "Things\\done\nnow");
    sv_metrics_sample(o, "t_things_total", 42, "stream", "live/\"q\"\\x\ny", "k", "v", NULL);
    sv_metrics_sample(o, "t_things_total", 1.5, NULL);
    sv_metrics_single(o, "t_big", "gauge", "Big", 1e20);
    sv_metrics_single(o, "t_nan", "gauge", "NaN", NAN);
}

static void collect_b(sv_metrics_out *o, void *ctx) { sv_metrics_single(o, "t_b", "gauge", "B", 7); }

static char *render(sv_metrics *m)
{
    size_t len = 0;
    char *t = sv_metrics_render(m, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

static void test_format(void **state)
{
    sv_metrics *m = sv_metrics_new();
    assert_int_equal(sv_metrics_add_collector(m, collect_a, NULL), 0);
    assert_int_equal(sv_metrics_add_collector(m, collect_b, NULL), 0);
    char *t = render(m);
    assert_non_null(strstr(t, "# HELP t_things_total Things\\\\done\\nnow\n"
                              "# TYPE t_things_total counter\n"
                              "t_things_total{stream=\"live/\\\"q\\\"\\\\x\\ny\",k=\"v\"} 42\n"
                              "t_things_total 1.5\n"));
    assert_non_null(strstr(t, "t_big 1e+20\n"));
    assert_non_null(strstr(t, "t_nan NaN\n"));
    assert_true(strstr(t, "t_b 7\n") > strstr(t, "t_things_total"));
    free(t);
    sv_metrics_remove_collector(m, collect_a, NULL);
    t = render(m);
    assert_null(strstr(t, "t_things_total"));
    assert_non_null(strstr(t, "t_b 7\n"));
    free(t);
    sv_metrics_free(m);
}

static void test_traffic(void **state)
{
    sv_metrics *m = sv_metrics_new();
    sv_metrics_count_bytes_out(m, "hls", "ram", 100);
    sv_metrics_count_bytes_out(m, "hls", "ram", 23);
    sv_metrics_count_bytes_out(m, "archive", "disk", 5000);
    sv_metrics_count_bytes_out(m, "archive", "tape", 1); /* unknown source */
    sv_metrics_count_bytes_out(NULL, "hls", "ram", 1);    /* no-op */
    sv_metrics_count_request(m, "hls", 200);
    sv_metrics_count_request(m, "hls", 404);
    char kind[16];
    for (int i = 0; i < 30; i++) { /* kinds are bounded */
        snprintf(kind, sizeof kind, "k%d", i);
        sv_metrics_count_bytes_out(m, kind, "ram", 1);
    }
    sv_metrics_count_bytes_out(m, "Bad Kind!", "ram", 1);
    char *t = render(m);
    assert_non_null(strstr(t, "sv_http_response_bytes_total{kind=\"hls\",source=\"ram\"} 123\n"));
    assert_non_null(strstr(t, "sv_http_response_bytes_total{kind=\"archive\",source=\"disk\"} 5000\n"));
    assert_non_null(strstr(t, "sv_http_response_bytes_total{kind=\"archive\",source=\"other\"} 1\n"));
    assert_non_null(strstr(t, "sv_http_requests_total{kind=\"hls\",code=\"2xx\"} 1\n"));
    assert_non_null(strstr(t, "sv_http_requests_total{kind=\"hls\",code=\"4xx\"} 1\n"));
    /* 15 named kinds: hls, archive, k0..k12; k13..k29 and the bad one go to "other" */
    assert_non_null(strstr(t, "{kind=\"k12\",source=\"ram\"} 1\n"));
    assert_null(strstr(t, "kind=\"k13\""));
    assert_non_null(strstr(t, "{kind=\"other\",source=\"ram\"} 18\n"));
    free(t);
    sv_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_format),
                                       cmocka_unit_test(test_traffic)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
