/* See log.h. Formats into a stack buffer (lines are truncated at 2 KiB) and writes it
 * with a single write(2) so lines from different threads never interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static sv_log_level min_level = SV_LOG_INFO;

void sv_log_set_level(sv_log_level min) { min_level = min; }

void sv_logf(sv_log_level lvl, const char *stream, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (lvl < min_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), names[lvl]);
    if (stream && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - n, "[%s] ", stream);
    if (n < (int)sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
    }
    if (n >= (int)sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
