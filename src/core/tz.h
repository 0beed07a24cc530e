/* Time zones for recording schedules: UTC offset of a zone at a UTC instant.
 *
 * Reads the system's compiled zoneinfo (TZif, RFC 8536) from /usr/share/zoneinfo/NAME:
 * the 64-bit transition table and its offsets. Also accepts "UTC" and fixed offsets
 * ("+02:00", "-0530"). Instants past the last transition keep its offset (Debian ships
 * "fat" files with transitions up to 2037). No global TZ, no localtime: thread-safe. */
#ifndef SV_CORE_TZ_H
#define SV_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct sv_tz sv_tz;

/* Loads a zone by IANA name or fixed offset. NULL if unknown or malformed. */
sv_tz *sv_tz_load(const char *name);
void sv_tz_free(sv_tz *tz); /* NULL-safe */
/* Seconds east of UTC at utc_s. */
int32_t sv_tz_offset(const sv_tz *tz, int64_t utc_s);
/* Parses TZif bytes (exposed for tests and fuzzing). NULL if malformed. */
sv_tz *sv_tz_parse(const uint8_t *buf, size_t len);

#endif
