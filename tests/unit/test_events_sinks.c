/* Unit tests of events/sinks.c: filters (config arguments, JSON, only/except, media
 * prefixes), sink definitions from the config file (errors name FILE:LINE) and from JSON,
 * HMAC-SHA256 signing against RFC 4231 vectors, and the retry backoff sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/conf.h"
#include "core/error.h"
#include "events/internal.h"

static void test_filter_args(void **state)
{
    sv_events_filter f = {0}, none = {0};
    assert_int_equal(sv_events_filter_add_arg(&f, "event=web_request"), 0);
    assert_int_equal(sv_events_filter_add_arg(&f, "event=a,b"), 0);
    assert_int_equal(f.nevent, 3);
    assert_true(sv_events_filter_match(&f, "web_request", NULL));
    assert_true(sv_events_filter_match(&f, "b", "live/x"));
    assert_false(sv_events_filter_match(&f, "c", NULL));
    assert_true(sv_events_filter_match(&none, "anything", NULL));
    assert_int_equal(sv_events_filter_add_arg(&f, "media=live/*"), 0);
    assert_true(sv_events_filter_match(&f, "a", "live/cam1"));
    assert_false(sv_events_filter_match(&f, "a", "cams/cam1"));
    assert_false(sv_events_filter_match(&f, "a", NULL)); /* media required, event has none */
    assert_int_equal(sv_events_filter_add_arg(&f, "stream=x"), SV_EINVAL);
    assert_int_equal(sv_events_filter_add_arg(&f, "event="), SV_EINVAL);
    assert_int_equal(sv_events_filter_add_arg(&f, "event=a,,b"), SV_EINVAL);
    assert_int_equal(sv_events_filter_add_arg(&f, "noequals"), SV_EINVAL);
    sv_events_filter_free(&f);
}

static void test_only_except(void **state)
{
    sv_events_filter only = {0}, except = {0};
    assert_true(sv_events_filter_selects(&only, &except, "x", NULL));
    sv_events_filter_add_arg(&except, "event=web_request");
    assert_false(sv_events_filter_selects(&only, &except, "web_request", "live/a"));
    assert_true(sv_events_filter_selects(&only, &except, "publish_started", "live/a"));
    sv_events_filter_add_arg(&only, "media=live/a");
    assert_true(sv_events_filter_selects(&only, &except, "publish_started", "live/a"));
    assert_false(sv_events_filter_selects(&only, &except, "publish_started", "live/b"));
    /* except with both keys excludes only events matching both */
    sv_events_filter_add_arg(&except, "media=live/a");
    assert_true(sv_events_filter_selects(&only, &except, "stream_started", "live/a"));
    sv_events_filter_free(&only);
    sv_events_filter_free(&except);
}

static void test_filter_json(void **state)
{
    sv_events_filter f = {0};
    const char *why = NULL;
    json_t *j = json_pack("{s:[s,s], s:s}", "event", "a", "b", "media", "live/x");
    assert_int_equal(sv_events_filter_from_json(&f, j, &why), 0);
    assert_int_equal(f.nevent, 2);
    assert_int_equal(f.nmedia, 1);
    json_t *back = sv_events_filter_to_json(&f);
    assert_int_equal(json_array_size(json_object_get(back, "event")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(back, "media"), 0)),
                        "live/x");
    json_decref(back);
    json_decref(j);
    sv_events_filter_free(&f);
    j = json_pack("{s:[i]}", "event", 3);
    assert_int_equal(sv_events_filter_from_json(&f, j, &why), SV_EINVAL);
    assert_non_null(why);
    json_decref(j);
    sv_events_filter_free(&f);
    j = json_pack("{s:[s]}", "color", "red");
    assert_int_equal(sv_events_filter_from_json(&f, j, &why), SV_EINVAL);
    json_decref(j);
    sv_events_filter_free(&f);
}

static int parse_sink(const char *text, sv_events_sink_def *d, char *err, size_t errlen)
{
    sv_conf_node *tree = NULL;
    char perr[128];
    assert_int_equal(sv_conf_parse(text, strlen(text), &tree, perr, sizeof perr), 0);
    int rc = sv_events_def_from_conf(d, tree, "/etc/sv.conf", err, errlen);
    sv_conf_free(tree);
    return rc;
}

static void test_def_conf(void **state)
{
    sv_events_sink_def d;
    char err[256];
    assert_int_equal(parse_sink("event_sink logger {\n url http://examplehost:5000/events;\n"
                                " only event=web_request;\n secret abc;\n timeout 2500;\n"
                                " max_outbox 10;\n batch 7;\n except media=live/x;\n}\n",
                                &d, err, sizeof err), 0);
    assert_string_equal(d.url, "http://examplehost:5000/events");
    assert_string_equal(d.secret, "abc");
    assert_int_equal(d.timeout_ms, 2500);
    assert_int_equal(d.max_outbox, 10);
    assert_int_equal(d.batch, 7);
    assert_true(sv_events_filter_selects(&d.only, &d.except, "web_request", "live/y"));
    assert_false(sv_events_filter_selects(&d.only, &d.except, "web_request", "live/x"));
    sv_events_def_free(&d);
    /* defaults */
    assert_int_equal(parse_sink("event_sink a { url https://h/x; }", &d, err, sizeof err), 0);
    assert_int_equal(d.max_outbox, SV_EVENTS_DEF_MAX_OUTBOX);
    assert_null(d.secret);
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink a {\n url ftp://h/x;\n}", &d, err, sizeof err),
                     SV_EINVAL);
    assert_string_equal(err, "/etc/sv.conf:2: url needs one http:// or https:// URL");
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink a {\n url http://h/;\n\n max_outbox 0;\n}", &d, err,
                                sizeof err), SV_EINVAL);
    assert_non_null(strstr(err, "/etc/sv.conf:4: max_outbox"));
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink a {\n colour red;\n}", &d, err, sizeof err),
                     SV_EINVAL);
    assert_non_null(strstr(err, "/etc/sv.conf:2: unknown event_sink directive"));
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink a {\n only stream=x;\n}", &d, err, sizeof err),
                     SV_EINVAL);
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink a { only event=x; }", &d, err, sizeof err),
                     SV_EINVAL);
    assert_non_null(strstr(err, "needs a url"));
    sv_events_def_free(&d);
    assert_int_equal(parse_sink("event_sink { url http://h/; }", &d, err, sizeof err),
                     SV_EINVAL);
    sv_events_def_free(&d);
}

static void test_def_json(void **state)
{
    sv_events_sink_def d;
    char err[256];
    json_t *j = json_loads("{\"url\": \"http://127.0.0.1:9/x\", \"only\": {\"event\": "
                           "[\"a\"]}, \"secret\": \"s\", \"timeout\": 500, \"batch\": 3}",
                           0, NULL);
    assert_int_equal(sv_events_def_from_json(&d, j, err, sizeof err), 0);
    assert_int_equal(d.batch, 3);
    json_t *pub = sv_events_def_to_json(&d, false);
    assert_null(json_object_get(pub, "secret"));
    assert_true(json_is_true(json_object_get(pub, "signed")));
    json_t *priv = sv_events_def_to_json(&d, true);
    assert_string_equal(json_string_value(json_object_get(priv, "secret")), "s");
    sv_events_sink_def d2;
    assert_int_equal(sv_events_def_from_json(&d2, priv, err, sizeof err), 0); /* round trip */
    assert_string_equal(d2.secret, "s");
    assert_int_equal(d2.only.nevent, 1);
    sv_events_def_free(&d2);
    json_decref(pub);
    json_decref(priv);
    json_decref(j);
    sv_events_def_free(&d);
    j = json_loads("{\"url\": \"http://h/\", \"batch\": 0}", 0, NULL);
    assert_int_equal(sv_events_def_from_json(&d, j, err, sizeof err), SV_EINVAL);
    assert_non_null(strstr(err, "batch"));
    json_decref(j);
    sv_events_def_free(&d);
    j = json_loads("{\"only\": {}}", 0, NULL);
    assert_int_equal(sv_events_def_from_json(&d, j, err, sizeof err), SV_EINVAL);
    json_decref(j);
    sv_events_def_free(&d);
    assert_true(sv_events_sink_name_valid("hook-1.a_b"));
    assert_false(sv_events_sink_name_valid("a/b"));
    assert_false(sv_events_sink_name_valid(""));
}

static void test_sign(void **state)
{
    char hex[65];
    /* RFC 4231 test case 2 */
    const char *data = "what do ya want for nothing?";
    assert_int_equal(sv_events_sign("Jefe", data, strlen(data), hex, sizeof hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(sv_events_sign("Jefe", data, strlen(data), hex, 10), SV_EIO);
    /* a different body gives a different signature */
    char hex2[65];
    assert_int_equal(sv_events_sign("Jefe", "[]", 2, hex2, sizeof hex2), 0);
    assert_string_not_equal(hex, hex2);
}

static void test_backoff(void **state)
{
    static const int64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000,
                                   30000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(sv_events_backoff_ms(i + 1, 100, 30000), want[i]);
    assert_int_equal(sv_events_backoff_ms(1000000, 100, 30000), 30000);
    assert_int_equal(sv_events_backoff_ms(0, 100, 30000), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_args), cmocka_unit_test(test_only_except),
        cmocka_unit_test(test_filter_json), cmocka_unit_test(test_def_conf),
        cmocka_unit_test(test_def_json),    cmocka_unit_test(test_sign),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
