/* See clock.h. */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

int64_t sv_now_utc_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sv_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sv_format_iso8601(int64_t utc_ms, char *out, unsigned size)
{
    time_t sec = (time_t)(utc_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(utc_ms % 1000));
}
