/* Unit tests of events/outbox.c and the bus against real SQLite files in a temporary
 * directory: appends come back in id order across batches and a reopen, acks delete,
 * max_outbox drops the oldest (counted), the last id survives an empty outbox, API sink
 * definitions persist, prune removes events of unknown sinks; the bus fans events out to
 * the sinks its filters select and keeps a ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "events/internal.h"

typedef struct fixture {
    char dir[64], db[128];
    struct event_base *base;
    sv_events_row *rows;
    size_t n;
    int loads;
} fixture;

static void loaded(void *ctx, const char *sink, uint64_t cookie, sv_events_row *rows, size_t n)
{
    fixture *f = ctx;
    sv_events_rows_free(f->rows, f->n);
    f->rows = rows;
    f->n = n;
    f->loads++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sv-evtest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/events.db", f->dir);
    evthread_use_pthreads();
    f->base = event_base_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    sv_events_rows_free(f->rows, f->n);
    event_base_free(f->base);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static sv_events_outbox *open_ob(fixture *f)
{
    char err[256];
    sv_events_outbox *ob = sv_events_outbox_open(f->base, f->db, 1000, loaded, f, err, sizeof err);
    assert_non_null(ob);
    return ob;
}

/* Loads and runs the loop until the result is in. */
static void load(fixture *f, sv_events_outbox *ob, const char *sink, int64_t after, long limit)
{
    int before = f->loads;
    sv_events_outbox_load(ob, sink, after, limit, 1);
    while (f->loads == before)
        event_base_loop(f->base, EVLOOP_ONCE);
}

static void append_n(sv_events_outbox *ob, const char *sink, int64_t from, int64_t to)
{
    char text[64];
    for (int64_t id = from; id <= to; id++) {
        snprintf(text, sizeof text, "{\"id\":\"%lld\"}", (long long)id);
        sv_events_body *b = sv_events_body_new(text, strlen(text));
        assert_int_equal(sv_events_outbox_append(ob, sink, id, b), 0);
        sv_events_body_unref(b);
    }
}

static void test_order_ack_reopen(void **state)
{
    fixture *f = *state;
    sv_events_outbox *ob = open_ob(f);
    sv_events_sink_stats *st = sv_events_stats_new();
    assert_int_equal(sv_events_outbox_max_id(ob), 0);
    sv_events_outbox_register(ob, "a", 100000, st);
    for (int64_t i = 0; i < 10; i++) /* many small batches on the thread */
        append_n(ob, "a", i * 50 + 1, i * 50 + 50);
    sv_events_outbox_sync(ob);
    assert_int_equal(atomic_load(&st->depth), 500);
    int64_t after = 0, expect = 1;
    for (;;) { /* drain in batches of 60, acking like the deliverer */
        load(f, ob, "a", after, 60);
        if (!f->n)
            break;
        for (size_t i = 0; i < f->n; i++)
            assert_int_equal(f->rows[i].id, expect++);
        after = f->rows[f->n - 1].id;
        if (after == 300)
            break;
        sv_events_outbox_ack(ob, "a", after);
    }
    sv_events_outbox_ack(ob, "a", 300);
    sv_events_outbox_sync(ob);
    assert_int_equal(atomic_load(&st->depth), 200);
    sv_events_outbox_close(ob);
    /* reopen: the rest is still there, in order */
    ob = open_ob(f);
    assert_int_equal(sv_events_outbox_max_id(ob), 500);
    sv_events_outbox_register(ob, "a", 100000, st);
    load(f, ob, "a", 0, 1000);
    assert_int_equal(f->n, 200);
    assert_int_equal(f->rows[0].id, 301);
    assert_int_equal(f->rows[199].id, 500);
    assert_string_equal(f->rows[0].body, "{\"id\":\"301\"}");
    /* everything acked: the last id is still remembered */
    sv_events_outbox_ack(ob, "a", 500);
    sv_events_outbox_close(ob);
    ob = open_ob(f);
    assert_int_equal(sv_events_outbox_max_id(ob), 500);
    sv_events_outbox_close(ob);
    sv_events_stats_unref(st);
}

static void test_bound_drops_oldest(void **state)
{
    fixture *f = *state;
    sv_events_outbox *ob = open_ob(f);
    sv_events_sink_stats *st = sv_events_stats_new(), *st2 = sv_events_stats_new();
    sv_events_outbox_register(ob, "small", 5, st);
    sv_events_outbox_register(ob, "big", 100, st2);
    append_n(ob, "small", 1, 12);
    append_n(ob, "big", 1, 12);
    sv_events_outbox_sync(ob);
    assert_int_equal(atomic_load(&st->depth), 5);
    assert_int_equal(atomic_load(&st->dropped), 7);
    assert_int_equal(atomic_load(&st2->dropped), 0);
    load(f, ob, "small", 0, 100);
    assert_int_equal(f->n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(f->rows[i].id, 8 + (int64_t)i); /* newest kept, in order */
    /* a queue bound: appends past max_queue are refused, not blocking */
    sv_events_outbox_close(ob);
    sv_events_stats_unref(st);
    sv_events_stats_unref(st2);
}

static void test_saved_and_prune(void **state)
{
    fixture *f = *state;
    sv_events_outbox *ob = open_ob(f);
    sv_events_sink_stats *st = sv_events_stats_new();
    sv_events_outbox_register(ob, "keep", 100, st);
    sv_events_outbox_register(ob, "gone", 100, st);
    append_n(ob, "keep", 1, 3);
    append_n(ob, "gone", 1, 3);
    sv_events_outbox_save(ob, "keep", json_pack("{s:s}", "url", "http://h/"));
    sv_events_outbox_close(ob);
    ob = open_ob(f);
    const json_t *saved = sv_events_outbox_saved(ob);
    assert_int_equal(json_object_size(saved), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(saved, "keep"), "url")),
                        "http://h/");
    sv_events_outbox_register(ob, "keep", 100, st);
    sv_events_outbox_prune(ob);
    load(f, ob, "gone", 0, 10);
    assert_int_equal(f->n, 0);
    load(f, ob, "keep", 0, 10);
    assert_int_equal(f->n, 3);
    sv_events_outbox_remove(ob, "keep");
    sv_events_outbox_close(ob);
    ob = open_ob(f);
    assert_int_equal(json_object_size(sv_events_outbox_saved(ob)), 0);
    sv_events_outbox_close(ob);
    sv_events_stats_unref(st);
}

static void test_bus_fanout(void **state)
{
    fixture *f = *state;
    const char *text = "event_sink pubs { url http://127.0.0.1:1/x; only event=publish_started; }\n"
                       "event_sink all { url http://127.0.0.1:1/y; except media=live/skip; }\n";
    sv_conf_node *tree = NULL;
    char err[256];
    assert_int_equal(sv_conf_parse(text, strlen(text), &tree, err, sizeof err), 0);
    sv_events *bus = sv_events_new(f->base, f->dir, tree, "t.conf", err, sizeof err);
    assert_non_null(bus);
    sv_events_emit(bus, "publish_started", "live/a", json_pack("{s:s}", "protocol", "rtmp"));
    sv_events_emit(bus, "publish_started", "live/skip", NULL);
    sv_events_emit(bus, "web_request", NULL, json_pack("{s:i}", "status", 200));
    sv_events_emit(NULL, "x", NULL, json_object()); /* no-op, no leak */
    sv_events_emit_async(bus, "dvr_record_error", "live/a", NULL);
    sv_events_flush(bus);
    assert_int_equal(atomic_load(&sv_events_find_sink(bus, "pubs")->stats->depth), 2);
    assert_int_equal(atomic_load(&sv_events_find_sink(bus, "all")->stats->depth), 3);
    assert_int_equal(bus->ring_len, 4);
    json_t *ev = bus->ring[0];
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "publish_started");
    assert_string_equal(json_string_value(json_object_get(ev, "media")), "live/a");
    assert_string_equal(json_string_value(json_object_get(ev, "protocol")), "rtmp");
    assert_true(json_integer_value(json_object_get(ev, "utc_ms")) > 1600000000000LL);
    int64_t id0 = strtoll(json_string_value(json_object_get(ev, "id")), NULL, 10);
    int64_t id1 = strtoll(json_string_value(json_object_get(bus->ring[1], "id")), NULL, 10);
    assert_true(id1 > id0);
    assert_null(json_object_get(bus->ring[2], "media"));
    sv_events_free(bus);
    /* duplicate sink names are a config error naming the line */
    sv_conf_free(tree);
    text = "event_sink a { url http://h/; }\nevent_sink a { url http://h/; }\n";
    assert_int_equal(sv_conf_parse(text, strlen(text), &tree, err, sizeof err), 0);
    assert_null(sv_events_new(f->base, f->dir, tree, "t.conf", err, sizeof err));
    assert_string_equal(err, "t.conf:2: event_sink a is defined twice");
    sv_conf_free(tree);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_ack_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saved_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_fanout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
