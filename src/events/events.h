/* Event bus: every subsystem emits typed events here; sinks deliver them.
 *
 * An event is a JSON object: {"id": "<unique>", "event": NAME, "utc_ms": N, "media":
 * STREAM (when it has one), ...its own fields}. sv_events_emit() is cheap and never
 * blocks: it stamps id and time, keeps the event in a bounded in-memory ring of recent
 * events (GET /streamer/api/v3/events?since=...), and appends it to the durable outbox of
 * every sink whose filters select it. Delivery happens elsewhere (see sinks in events.c).
 *
 * Loop thread only, except sv_events_emit_async, which other threads use to hand an event
 * over to the loop. */
#ifndef SV_EVENTS_EVENTS_H
#define SV_EVENTS_EVENTS_H

#include <jansson.h>
#include <stdint.h>

struct event_base;
typedef struct sv_events sv_events;

/* Emits an event. name: e.g. "publish_started"; media: stream name or NULL; fields: an
 * object of extra fields or NULL (the reference is taken). NULL bus: no-op (frees fields). */
void sv_events_emit(sv_events *bus, const char *name, const char *media, json_t *fields);
/* Same, callable from any thread. */
void sv_events_emit_async(sv_events *bus, const char *name, const char *media, json_t *fields);

/* ---- lifecycle and HTTP entry points (events.c, events_api.c) ---- */

#include <stdbool.h>
#include <stddef.h>

#include "core/conf.h"
#include "http/http.h"

/* Opens {data_dir}/events.db (the durable outbox), creates the sinks of every
 * `event_sink NAME { url URL; only event=a,b media=x; except ...; secret S; timeout MS;
 * max_outbox N; batch N; }` block of tree (borrowed) and those saved by the API, and starts
 * delivering what the outbox still holds. Call before the loop runs (opening is blocking).
 * NULL on failure with "FILE:LINE: reason" (config) or the reason in err. */
sv_events *sv_events_new(struct event_base *base, const char *data_dir,
                         const sv_conf_node *tree, const char *config_file, char *err,
                         size_t errlen);
/* Stops delivery (undelivered events stay in the outbox for the next start), commits the
 * outbox and frees. Loop thread, after every emitter is gone. NULL-safe. */
void sv_events_free(sv_events *bus);

/* True if `rest` (the path after /streamer/api/v3/) is a route of sv_events_api:
 * "events", "event_sinks", "event_sinks/{name}". */
bool sv_events_api_route(const char *rest);
/* Admin routes (auth already checked by the caller):
 *   GET /event_sinks, GET|PUT|DELETE /event_sinks/{name}, GET /events?since=ID|UTC_MS&limit=N */
void sv_events_api(sv_events *bus, sv_http_req *req, const char *rest);

/* Blocks until every event emitted so far is committed to the outbox (tests, bench). */
void sv_events_flush(sv_events *bus);

#endif
