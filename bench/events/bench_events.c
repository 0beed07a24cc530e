/* Event bus benchmark: emits N web_request-like events through one sink whose receiver is
 * a local HTTP server, and reports (1) the cost of sv_events_emit on the loop thread and
 * (2) end-to-end throughput: events per second from the first emit until the receiver
 * acknowledged the last one (through the SQLite outbox and libcurl). Not run in CI.
 * Usage: bench_events URL N BATCH DATA_DIR */
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/conf.h"
#include "events/internal.h"

typedef struct bench {
    sv_events *bus;
    sv_events_sink *sink;
    uint64_t n;
    struct event *tick;
} bench;

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    bench *b = arg;
    if (atomic_load(&b->sink->stats->delivered) >= b->n)
        event_base_loopbreak(event_get_base(b->tick));
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_events URL N BATCH DATA_DIR\n");
        return 2;
    }
    char conf[1024], err[512];
    snprintf(conf, sizeof conf, "event_sink bench { url %s; batch %s; max_outbox 10000000; }",
             argv[1], argv[3]);
    sv_conf_node *tree = NULL;
    if (sv_conf_parse(conf, strlen(conf), &tree, err, sizeof err))
        return fprintf(stderr, "%s\n", err), 1;
    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    bench b = {0};
    b.n = strtoull(argv[2], NULL, 10);
    b.bus = sv_events_new(base, argv[4], tree, "bench", err, sizeof err);
    if (!b.bus)
        return fprintf(stderr, "%s\n", err), 1;
    b.sink = sv_events_find_sink(b.bus, "bench");
    int64_t t0 = sv_now_mono_ms();
    for (uint64_t i = 0; i < b.n; i++) {
        json_t *f = json_pack("{s:s, s:s, s:i, s:I, s:I, s:i, s:i, s:n}", "path",
                              "/live/cam1/index.m3u8", "ip", "127.0.0.1", "status", 200,
                              "bytes_from_ram", (json_int_t)1234, "bytes_from_dvr_disk",
                              (json_int_t)0, "bytes_from_dvr_cache", 0,
                              "bytes_from_dvr_remote", 0, "dvr_utc_ms");
        sv_events_emit(b.bus, "web_request", "live/cam1", f);
        if ((i & 1023) == 1023)
            event_base_loop(base, EVLOOP_NONBLOCK); /* let delivery run meanwhile */
    }
    int64_t t1 = sv_now_mono_ms();
    b.tick = event_new(base, -1, EV_PERSIST, on_tick, &b);
    struct timeval tv = {0, 2000};
    event_add(b.tick, &tv);
    event_base_dispatch(base);
    int64_t t2 = sv_now_mono_ms();
    printf("events=%llu batch=%s emit: %.0f events/s (%.2f us each) end-to-end: %.0f events/s "
           "(%.2f s) posts=%llu failures=%llu\n",
           (unsigned long long)b.n, argv[3], b.n * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1),
           (double)(t1 - t0) * 1000.0 / (double)b.n, b.n * 1000.0 / (double)(t2 - t0),
           (double)(t2 - t0) / 1000.0, (unsigned long long)atomic_load(&b.sink->stats->posts),
           (unsigned long long)atomic_load(&b.sink->stats->failures));
    event_free(b.tick);
    sv_events_free(b.bus);
    sv_conf_free(tree);
    event_base_free(base);
    return 0;
}
