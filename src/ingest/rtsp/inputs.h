/* Input manager: keeps an RTSP pull running for every stream whose settings list
 * rtsp:// inputs.
 *
 * Stream settings carry {"inputs": [{"url": "rtsp://user:pass@cam/...", "transport":
 * "tcp"|"udp", "reconnect_max": MS, "media_timeout": MS}, ...]} (a bare URL string is
 * accepted too; inputs of other schemes are ignored here). sv_inputs_sync() diffs the
 * settings against the running pulls and starts, stops or restarts them; call it after
 * the settings are loaded and after every PUT/DELETE of a stream.
 *
 * A pull never gives up: when a session ends (connection loss, camera reboot, no media
 * for media_timeout, default 5 s) it reconnects after a backoff that doubles from 1 s up
 * to reconnect_max (default 10 s), rotating over the stream's rtsp inputs. An input with
 * transport "udp" falls back to TCP when no UDP arrives. Events: source_connected
 * {url, transport} when media flows, source_lost {url, reason} when it stops (once per
 * outage); URLs are always shown with the password masked, in events, logs and status.
 * Loop thread only. */
#ifndef SV_INGEST_RTSP_INPUTS_H
#define SV_INGEST_RTSP_INPUTS_H

#include <jansson.h>

#include "core/workq.h"
#include "events/events.h"
#include "stream/settings.h"
#include "stream/stream.h"

struct event_base;
typedef struct sv_inputs sv_inputs;

typedef struct sv_inputs_config {
    struct event_base *base;
    sv_registry *reg;       /* borrowed; outlives the manager */
    sv_settings *settings;  /* borrowed */
    sv_workq *wq;           /* borrowed, for DNS; NULL: only numeric hosts work */
    sv_events *events;      /* borrowed, may be NULL */
} sv_inputs_config;

#define SV_INPUTS_RECONNECT_MAX_MS 10000
#define SV_INPUTS_MEDIA_TIMEOUT_MS 5000

/* NULL on OOM. Starts nothing until sv_inputs_sync. Free it before the registry. */
sv_inputs *sv_inputs_new(const sv_inputs_config *cfg);
/* Stops every pull (TEARDOWN, unpublish). NULL-safe. */
void sv_inputs_free(sv_inputs *m);
/* Starts/stops/restarts pulls to match the stream settings. NULL-safe. Returns the number
 * of pulls running. */
int sv_inputs_sync(sv_inputs *m);
/* Health of the pull of a stream (new reference), NULL if the stream has none:
 * {"state": "connecting|online|lost", "since": utc_ms, "url": masked, "transport":
 *  "tcp|udp", "reconnects": N, "last_error": "...", "bitrate": kbps, "fps": measured,
 *  "frames_lost": N, "packets_lost": N, "width": W, "height": H, "codecs": [...]} */
json_t *sv_inputs_status(sv_inputs *m, const char *name);
/* Masks the password of every inputs[].url (string or {"url": ...}) of a stream settings
 * object in place, for showing it (API). NULL-safe. */
void sv_inputs_mask_settings(json_t *settings);
/* The manager created for reg, or NULL (lets API handlers reach it without new plumbing). */
sv_inputs *sv_inputs_of(const sv_registry *reg);

#endif
