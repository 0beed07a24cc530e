/* Recording schedules: weekly time windows in a time zone.
 *
 *   "schedule": {"timezone": "Europe/Berlin",
 *                "windows": [{"days": ["mon","tue","wed","thu","fri"], "from": "08:00",
 *                             "to": "18:00"}, {"days": "sat-sun", "from": "22:00",
 *                             "to": "06:00"}]}
 * days: a list of day names, a "mon-fri" span, or "*"; a window whose `to` is not after
 * `from` runs past midnight into the next day. A schedule with no window never records.
 * Pure apart from loading the zone (core/tz.h). */
#ifndef SV_STREAM_SCHEDULE_H
#define SV_STREAM_SCHEDULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sv_schedule sv_schedule;

/* Validates and compiles a schedule object. On error returns NULL and names the field in
 * err ("schedule.windows[1].from: must be HH:MM"). */
sv_schedule *sv_schedule_new(const json_t *obj, char *err, size_t errlen);
void sv_schedule_free(sv_schedule *s); /* NULL-safe */
/* True when recording is allowed at utc_ms. */
bool sv_schedule_active(const sv_schedule *s, int64_t utc_ms);

#endif
