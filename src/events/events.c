/* The event bus: stamping, the ring of recent events, fan-out to the sinks' outboxes, the
 * hand-over from other threads, and the sink set (config file + API).
 *
 * sv_events_emit runs on the loop and stays cheap: it builds the event object, keeps a
 * reference in a bounded ring (GET /events), and only if some sink selects the event
 * serializes it once and queues one outbox append per selecting sink (a malloc and a
 * mutex each; the SQLite work happens on the outbox thread, batched per transaction).
 * Ids are decimal strings of max(previous + 1, utc_ms * 1000): increasing, unique across
 * restarts (the outbox remembers the last one), readable as a time, and distinct from a
 * UTC ms value (1000x larger), so GET /events?since= accepts either.
 * Not here: delivery (deliver.c), SQLite (outbox.c), HTTP handlers (events_api.c). */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "events/internal.h"

/* ---- sinks ---- */

sv_events_sink *sv_events_find_sink(sv_events *bus, const char *name)
{
    for (sv_events_sink *s = bus->sinks; s; s = s->next)
        if (!strcmp(s->name, name))
            return s;
    return NULL;
}

int sv_events_add_sink(sv_events *bus, const char *name, sv_events_sink_def *def,
                       bool from_config)
{
    if (bus->nsinks >= SV_EVENTS_MAX_SINKS)
        return SV_ETOOBIG;
    sv_events_sink *s = sv_events_sink_new(name, def, from_config, ++bus->next_cookie,
                                           bus->ob, bus->http, bus->base);
    if (!s)
        return SV_ENOMEM;
    sv_events_sink **pp = &bus->sinks;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    bus->nsinks++;
    sv_events_sink_kick(s); /* deliver what a previous run left */
    return 0;
}

void sv_events_remove_sink(sv_events *bus, const char *name)
{
    for (sv_events_sink **pp = &bus->sinks; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name))
            continue;
        sv_events_sink *s = *pp;
        *pp = s->next;
        bus->nsinks--;
        sv_events_sink_free(s);
        sv_events_outbox_remove(bus->ob, name);
        return;
    }
}

static void on_loaded(void *ctx, const char *sink, uint64_t cookie, sv_events_row *rows,
                      size_t n)
{
    sv_events_sink *s = sv_events_find_sink(ctx, sink);
    if (s && s->cookie == cookie)
        sv_events_sink_loaded(s, rows, n);
    else
        sv_events_rows_free(rows, n);
}

/* ---- emit ---- */

static int64_t next_id(sv_events *bus, int64_t now)
{
    int64_t id = now * 1000;
    if (id <= bus->last_id)
        id = bus->last_id + 1;
    return bus->last_id = id;
}

static void count_name(sv_events *bus, const char *name)
{
    bus->emitted++;
    for (size_t i = 0; i < bus->nnames; i++)
        if (!strcmp(bus->names[i].name, name)) {
            bus->names[i].n++;
            return;
        }
    if (bus->nnames < SV_EVENTS_NAMES && strlen(name) < sizeof bus->names[0].name) {
        snprintf(bus->names[bus->nnames].name, sizeof bus->names[0].name, "%s", name);
        bus->names[bus->nnames++].n = 1;
        return;
    }
    bus->other_names++;
}

static void ring_push(sv_events *bus, json_t *ev)
{
    if (bus->ring_len == SV_EVENTS_RING) {
        json_decref(bus->ring[bus->ring_start]);
        bus->ring[bus->ring_start] = ev;
        bus->ring_start = (bus->ring_start + 1) % SV_EVENTS_RING;
        return;
    }
    bus->ring[(bus->ring_start + bus->ring_len++) % SV_EVENTS_RING] = ev;
}

static json_t *build(sv_events *bus, const char *name, const char *media, json_t *fields)
{
    char id[24];
    int64_t now = sv_now_utc_ms();
    snprintf(id, sizeof id, "%" PRId64, next_id(bus, now));
    json_t *ev = json_object();
    if (!ev)
        return NULL;
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "event", json_string(name));
    json_object_set_new(ev, "utc_ms", json_integer(now));
    if (media)
        json_object_set_new(ev, "media", json_string(media));
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v) {
        if (strcmp(k, "id") && strcmp(k, "event") && strcmp(k, "utc_ms") && strcmp(k, "media"))
            json_object_set(ev, k, v);
    }
    return ev;
}

static void append(sv_events *bus, sv_events_sink *s, int64_t id, sv_events_body *body)
{
    if (!body || sv_events_outbox_append(bus->ob, s->name, id, body)) {
        atomic_fetch_add(&s->stats->dropped, 1);
        int64_t now = sv_now_mono_ms();
        if (now - bus->last_drop_log_mono >= 10000) {
            sv_warn(NULL, "event sink %s: outbox queue full or out of memory, event dropped "
                    "(dropped so far %llu)", s->name,
                    (unsigned long long)atomic_load(&s->stats->dropped));
            bus->last_drop_log_mono = now;
        }
        return;
    }
    sv_events_sink_kick(s);
}

void sv_events_emit(sv_events *bus, const char *name, const char *media, json_t *fields)
{
    if (!bus || !name || !*name) {
        json_decref(fields);
        return;
    }
    json_t *ev = build(bus, name, media, fields);
    json_decref(fields);
    if (!ev)
        return;
    count_name(bus, name);
    sv_events_body *body = NULL;
    bool serialized = false;
    for (sv_events_sink *s = bus->sinks; s; s = s->next) {
        if (!sv_events_filter_selects(&s->def.only, &s->def.except, name, media))
            continue;
        if (!serialized) {
            char *text = json_dumps(ev, JSON_COMPACT);
            body = text ? sv_events_body_new(text, strlen(text)) : NULL;
            free(text);
            serialized = true;
        }
        append(bus, s, bus->last_id, body);
    }
    sv_events_body_unref(body);
    ring_push(bus, ev);
}

/* ---- emit from other threads ---- */

static void on_async(evutil_socket_t fd, short what, void *arg)
{
    sv_events *bus = arg;
    pthread_mutex_lock(&bus->amu);
    sv_events_async *a = bus->ahead;
    bus->ahead = bus->atail = NULL;
    bus->alen = 0;
    pthread_mutex_unlock(&bus->amu);
    while (a) {
        sv_events_async *next = a->next;
        sv_events_emit(bus, a->name, a->media, a->fields);
        free(a->name);
        free(a->media);
        free(a);
        a = next;
    }
}

void sv_events_emit_async(sv_events *bus, const char *name, const char *media, json_t *fields)
{
    sv_events_async *a = bus && name ? calloc(1, sizeof *a) : NULL;
    if (!a || !(a->name = strdup(name)) || (media && !(a->media = strdup(media))))
        goto fail;
    a->fields = fields;
    pthread_mutex_lock(&bus->amu);
    if (bus->alen >= SV_EVENTS_ASYNC_MAX) {
        pthread_mutex_unlock(&bus->amu);
        a->fields = NULL;
        goto fail;
    }
    if (bus->atail)
        bus->atail->next = a;
    else
        bus->ahead = a;
    bus->atail = a;
    if (bus->alen++ == 0)
        event_active(bus->async_ev, EV_READ, 0);
    pthread_mutex_unlock(&bus->amu);
    return;
fail:
    if (bus)
        atomic_fetch_add(&bus->async_dropped, 1);
    if (a) {
        free(a->name);
        free(a->media);
        free(a);
    }
    json_decref(fields);
}

/* ---- lifecycle ---- */

static int load_config(sv_events *bus, const sv_conf_node *tree, const char *file, char *err,
                       size_t errlen)
{
    for (const sv_conf_node *n = tree; n; n = n->next) {
        if (strcmp(n->name, "event_sink"))
            continue;
        sv_events_sink_def def;
        int rc = sv_events_def_from_conf(&def, n, file, err, errlen);
        if (!rc && sv_events_find_sink(bus, n->args[0])) {
            snprintf(err, errlen, "%s:%d: event_sink %s is defined twice", file, n->line,
                     n->args[0]);
            rc = SV_EEXIST;
        }
        if (!rc && (rc = sv_events_add_sink(bus, n->args[0], &def, true)))
            snprintf(err, errlen, "%s:%d: cannot create event_sink %s: %s", file, n->line,
                     n->args[0], sv_strerror(rc));
        sv_events_def_free(&def);
        if (rc)
            return rc;
    }
    return 0;
}

static void load_saved(sv_events *bus)
{
    const char *name;
    json_t *j;
    char err[256];
    json_object_foreach((json_t *)sv_events_outbox_saved(bus->ob), name, j) {
        sv_events_sink_def def;
        sv_events_def_init(&def);
        if (sv_events_find_sink(bus, name)) {
            sv_warn(NULL, "event sink %s: defined in the config file, the API copy is ignored",
                    name);
        } else if (sv_events_def_from_json(&def, j, err, sizeof err) ||
                   sv_events_add_sink(bus, name, &def, false)) {
            sv_error(NULL, "event sink %s: saved definition not usable: %s", name, err);
        }
        sv_events_def_free(&def);
    }
}

sv_events *sv_events_new(struct event_base *base, const char *data_dir,
                         const sv_conf_node *tree, const char *config_file, char *err,
                         size_t errlen)
{
    char path[4096];
    sv_events *bus = calloc(1, sizeof *bus);
    if (!bus || !(bus->ring = calloc(SV_EVENTS_RING, sizeof *bus->ring))) {
        free(bus);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&bus->amu, NULL);
    bus->base = base;
    sv_events_curl_init();
    snprintf(path, sizeof path, "%s/events.db", data_dir);
    bus->ob = sv_events_outbox_open(base, path, SV_EVENTS_QUEUE_MAX, on_loaded, bus, err, errlen);
    bus->http = sv_events_http_new(base);
    bus->async_ev = event_new(base, -1, 0, on_async, bus);
    if (!bus->ob)
        goto fail;
    if (!bus->http || !bus->async_ev) {
        snprintf(err, errlen, "cannot start event delivery");
        goto fail;
    }
    bus->last_id = sv_events_outbox_max_id(bus->ob);
    if (load_config(bus, tree, config_file ? config_file : "(config)", err, errlen))
        goto fail;
    load_saved(bus);
    sv_events_outbox_prune(bus->ob);
    sv_info(NULL, "events: %zu sink(s), outbox %s", bus->nsinks, path);
    return bus;
fail:
    sv_events_free(bus);
    return NULL;
}

void sv_events_flush(sv_events *bus)
{
    if (!bus)
        return;
    on_async(-1, 0, bus);
    sv_events_outbox_sync(bus->ob);
}

void sv_events_free(sv_events *bus)
{
    if (!bus)
        return;
    if (bus->async_ev) {
        on_async(-1, 0, bus); /* events handed over before shutdown still reach the outbox */
        event_free(bus->async_ev);
    }
    while (bus->sinks) {
        sv_events_sink *s = bus->sinks;
        bus->sinks = s->next;
        sv_events_sink_free(s);
    }
    sv_events_http_free(bus->http);
    sv_events_outbox_close(bus->ob);
    for (size_t i = 0; i < bus->ring_len; i++)
        json_decref(bus->ring[(bus->ring_start + i) % SV_EVENTS_RING]);
    free(bus->ring);
    pthread_mutex_destroy(&bus->amu);
    free(bus);
}
