/* Admin routes of the event bus (below /streamer/api/v3/, auth checked by the caller):
 *
 *   GET    /event_sinks            {"event_sinks": [sink, ...]}
 *   GET    /event_sinks/{name}     sink: definition (secret hidden: "signed": true),
 *                                  "source": "config"|"api", "stats": delivery state
 *   PUT    /event_sinks/{name}     create or replace an API sink from {"url": ..., "only":
 *                                  {"event": [...], "media": [...]}, "except": {...},
 *                                  "secret": ..., "timeout": ms, "max_outbox": N, "batch": N}
 *   DELETE /event_sinks/{name}     remove an API sink and its queued events
 *   GET    /events?since=&limit=   recent events from the in-memory ring
 *   POST   /events                 {"event": "test_...", "media": ..., "fields": {...}}:
 *                                  emits a test event (names must start with "test_", so
 *                                  the API cannot forge server events) to check webhooks
 * Sinks from the config file are read-only here (409): the file is their source of truth.
 * API sinks are saved in events.db and come back after a restart. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_util.h"
#include "core/config.h"
#include "core/error.h"
#include "events/internal.h"

static json_t *sink_full(const sv_events_sink *s)
{
    json_t *j = json_object();
    json_t *def = sv_events_def_to_json(&s->def, false);
    json_object_set_new(j, "name", json_string(s->name));
    json_object_update(j, def);
    json_decref(def);
    json_object_set_new(j, "source", json_string(s->from_config ? "config" : "api"));
    json_object_set_new(j, "stats", sv_events_sink_status(s));
    return j;
}

static void list_sinks(sv_events *bus, sv_http_req *req)
{
    json_t *a = json_array();
    for (sv_events_sink *s = bus->sinks; s; s = s->next)
        json_array_append_new(a, sink_full(s));
    json_t *j = json_object();
    json_object_set_new(j, "event_sinks", a);
    sv_api_reply_json(req, 200, j);
}

/* Replaces an API sink's definition in place: its outbox and position are kept. */
static void update_sink(sv_events *bus, sv_events_sink *s, sv_events_sink_def *def)
{
    sv_events_def_free(&s->def);
    s->def = *def;
    memset(def, 0, sizeof *def);
    sv_events_outbox_register(bus->ob, s->name, s->def.max_outbox, s->stats);
}

static void put_sink(sv_events *bus, sv_http_req *req, const char *name)
{
    size_t len;
    char err[256];
    const uint8_t *body = sv_http_body(req, &len);
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    sv_events_sink_def def;
    sv_events_def_init(&def);
    sv_events_sink *s = sv_events_find_sink(bus, name);
    int rc;
    if (s && s->from_config) {
        sv_http_error(req, 409, "conflict", "sink is defined in the config file");
        goto out;
    }
    if (!j || sv_events_def_from_json(&def, j, err, sizeof err)) {
        sv_http_error(req, 400, "bad_request", j ? err : "body must be JSON");
        goto out;
    }
    json_t *saved = sv_events_def_to_json(&def, true);
    if (s) {
        update_sink(bus, s, &def);
    } else if ((rc = sv_events_add_sink(bus, name, &def, false))) {
        json_decref(saved);
        sv_http_error(req, rc == SV_ETOOBIG ? 409 : 500, "cannot_create",
                      rc == SV_ETOOBIG ? "too many event sinks" : sv_strerror(rc));
        goto out;
    }
    sv_events_outbox_save(bus->ob, name, saved);
    sv_api_reply_json(req, s ? 200 : 201, sink_full(sv_events_find_sink(bus, name)));
out:
    sv_events_def_free(&def);
    json_decref(j);
}

static void sink_route(sv_events *bus, sv_http_req *req, const char *m, const char *name)
{
    if (!sv_events_sink_name_valid(name))
        return sv_http_error(req, 400, "bad_request", "sink names are 1..64 of [A-Za-z0-9_.-]");
    sv_events_sink *s = sv_events_find_sink(bus, name);
    if (!strcmp(m, "PUT"))
        return put_sink(bus, req, name);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "DELETE")) {
        if (!s)
            return sv_http_error(req, 404, "not_found", "no such event sink");
        if (m[0] != 'D')
            return sv_api_reply_json(req, 200, sink_full(s));
        if (s->from_config)
            return sv_http_error(req, 409, "conflict", "sink is defined in the config file");
        sv_events_remove_sink(bus, name);
        return sv_http_respond(req, 204, NULL, NULL, 0);
    }
    sv_http_error(req, 405, "method_not_allowed", "use GET, PUT or DELETE");
}

/* since: an event id (>= 1e14) or UTC ms; 0 or absent: everything in the ring. */
static bool after_since(const json_t *ev, long long since)
{
    if (since >= 100000000000000LL)
        return strtoll(json_string_value(json_object_get(ev, "id")), NULL, 10) > since;
    return json_integer_value(json_object_get(ev, "utc_ms")) >= since;
}

static void list_events(sv_events *bus, sv_http_req *req)
{
    long long since = 0, limit = 1000;
    const char *ps = sv_http_query_param(req, "since");
    const char *pl = sv_http_query_param(req, "limit");
    if ((ps && sv_parse_int(ps, 0, INT64_MAX, &since)) ||
        (pl && sv_parse_int(pl, 1, SV_EVENTS_RING, &limit)))
        return sv_http_error(req, 400, "bad_request",
                             "since is an event id or UTC ms, limit is 1..4096");
    json_t *a = json_array();
    for (size_t i = 0; i < bus->ring_len && (long long)json_array_size(a) < limit; i++) {
        json_t *ev = bus->ring[(bus->ring_start + i) % SV_EVENTS_RING];
        if (after_since(ev, since))
            json_array_append(a, ev);
    }
    json_t *j = json_object();
    json_object_set_new(j, "events", a);
    char last[24];
    snprintf(last, sizeof last, "%lld", (long long)bus->last_id);
    json_object_set_new(j, "last_id", json_string(last));
    sv_api_reply_json(req, 200, j);
}

static void post_event(sv_events *bus, sv_http_req *req)
{
    size_t len;
    const uint8_t *body = sv_http_body(req, &len);
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "event"));
    json_t *media = json_object_get(j, "media"), *fields = json_object_get(j, "fields");
    if (!name || strncmp(name, "test_", 5) || strlen(name) > 64 ||
        (media && !json_is_string(media)) || (fields && !json_is_object(fields))) {
        json_decref(j);
        return sv_http_error(req, 400, "bad_request",
                             "body: {\"event\": \"test_...\", \"media\": \"...\", "
                             "\"fields\": {...}}");
    }
    sv_events_emit(bus, name, json_string_value(media), json_incref(fields));
    json_decref(j);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)bus->last_id);
    sv_api_reply_json(req, 201, json_pack("{s:s}", "id", id));
}

bool sv_events_api_route(const char *rest)
{
    return !strcmp(rest, "events") || !strcmp(rest, "event_sinks") ||
           !strncmp(rest, "event_sinks/", 12);
}

void sv_events_api(sv_events *bus, sv_http_req *req, const char *rest)
{
    const char *m = sv_http_method(req);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (!bus)
        return sv_http_error(req, 503, "unavailable", "the event bus is not running");
    if (!strcmp(rest, "events") && !strcmp(m, "POST"))
        return post_event(bus, req);
    if (!strcmp(rest, "events"))
        return get ? list_events(bus, req)
                   : sv_http_error(req, 405, "method_not_allowed", "use GET or POST");
    if (!strcmp(rest, "event_sinks"))
        return get ? list_sinks(bus, req)
                   : sv_http_error(req, 405, "method_not_allowed", "use GET");
    if (!strncmp(rest, "event_sinks/", 12) && rest[12])
        return sink_route(bus, req, m, rest + 12);
    sv_http_error(req, 404, "not_found", "no such API route");
}
