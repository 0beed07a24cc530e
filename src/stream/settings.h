/* Stream settings: global defaults, templates (per-application settings matched by name
 * prefix) and per-stream settings, as JSON objects validated on the way in.
 *
 * The effective settings of a stream are its own over its template's over the global
 * ones, merged field by field (DESIGN.md section 1). Only the `dvr` object is interpreted
 * here; other stream fields (inputs, ...) are validated by their subsystems and kept
 * as they are. Sources: the config file (`dvr {}`, `template NAME {}`, `stream NAME {}`
 * blocks) and the API; a persist hook lets the owner store API changes (the catalog), and
 * stored API changes are applied over the config file at start-up.
 * Loop thread only. */
#ifndef SV_STREAM_SETTINGS_H
#define SV_STREAM_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/conf.h"
#include "stream/schedule.h"

typedef struct sv_dvr_settings {
    bool enabled;
    char *root;                  /* storage root (malloc'd) */
    int64_t segment_duration_ms; /* cut at the first keyframe at or after this */
    int64_t expiration_s;        /* keep this many seconds; 0 = forever */
    int64_t disk_limit_bytes;    /* archive bytes in this root; 0 = none */
    int disk_limit_percent;      /* filesystem usage percent; 0 = none */
    sv_schedule *schedule;       /* weekly recording windows; NULL = always */
} sv_dvr_settings;

void sv_dvr_settings_clear(sv_dvr_settings *d);

typedef struct sv_settings sv_settings;

typedef void (*sv_settings_persist_fn)(void *ctx, const char *kind, const char *name,
                                       const json_t *body /* NULL: deleted */);

/* default_root: the DVR root when no level sets one (e.g. {data_dir}/dvr). */
sv_settings *sv_settings_new(const char *default_root);
void sv_settings_free(sv_settings *st);
void sv_settings_set_persist(sv_settings *st, sv_settings_persist_fn fn, void *ctx);

/* Reads `dvr`, `template` and `stream` blocks of a parsed config file. On error returns
 * SV_EINVAL with "FILE:LINE: reason" in err. */
int sv_settings_load_config(sv_settings *st, const sv_conf_node *tree, const char *file,
                            char *err, size_t errlen);

/* Validates and stores (replacing) a template or stream. On a validation error returns
 * SV_EINVAL with the offending field named in err ("dvr.expiration: must be ..."). The
 * body reference is not taken (it is copied). persist = false when loading stored data. */
int sv_settings_put(sv_settings *st, const char *kind, const char *name, const json_t *body,
                    bool persist, char *err, size_t errlen);
int sv_settings_delete(sv_settings *st, const char *kind, const char *name);
/* Borrowed JSON of one entry or NULL. kind: "template" / "stream". */
const json_t *sv_settings_get(const sv_settings *st, const char *kind, const char *name);
/* Borrowed object name -> body of every entry of a kind. */
const json_t *sv_settings_all(const sv_settings *st, const char *kind);
/* Name of the template that applies to a stream (longest matching prefix), or NULL. */
const char *sv_settings_template_for(const sv_settings *st, const char *stream);

/* Effective DVR settings of a stream. Caller clears *out. */
void sv_settings_dvr(const sv_settings *st, const char *stream, sv_dvr_settings *out);
/* Effective merged JSON of a stream (new reference). */
json_t *sv_settings_effective(const sv_settings *st, const char *stream);

/* Validates a dvr object alone (shared by every level). */
int sv_settings_check_dvr(const json_t *dvr, char *err, size_t errlen);

#endif
