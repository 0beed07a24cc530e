/* Logging to stderr: one line per call with UTC time, level and, where there is one, the
 * stream name: "2026-11-22T07:11:48.123Z INFO  [live/cam1] publish started".
 * Thread-safe (one write(2) per line). Not a log shipper: rotation belongs to the host. */
#ifndef SV_CORE_LOG_H
#define SV_CORE_LOG_H

typedef enum { SV_LOG_DEBUG = 0, SV_LOG_INFO, SV_LOG_WARN, SV_LOG_ERROR } sv_log_level;

void sv_log_set_level(sv_log_level min);
/* stream may be NULL. */
void sv_logf(sv_log_level lvl, const char *stream, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sv_debug(stream, ...) sv_logf(SV_LOG_DEBUG, stream, __VA_ARGS__)
#define sv_info(stream, ...) sv_logf(SV_LOG_INFO, stream, __VA_ARGS__)
#define sv_warn(stream, ...) sv_logf(SV_LOG_WARN, stream, __VA_ARGS__)
#define sv_error(stream, ...) sv_logf(SV_LOG_ERROR, stream, __VA_ARGS__)

#endif
