/* Clocks: UTC wall clock in ms (archive time) and a monotonic clock in ms (intervals,
 * timeouts, drift checks). */
#ifndef SV_CORE_CLOCK_H
#define SV_CORE_CLOCK_H

#include <stdint.h>

int64_t sv_now_utc_ms(void);
int64_t sv_now_mono_ms(void);
/* Formats UTC ms as ISO 8601 with milliseconds ("2026-11-22T07:11:48.123Z"). out >= 32. */
void sv_format_iso8601(int64_t utc_ms, char *out, unsigned size);

/* Proleptic Gregorian calendar <-> days since 1970-01-01 (no time zone, no libc). */
int64_t sv_days_from_civil(int64_t y, int m, int d);
void sv_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
