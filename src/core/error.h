/* One error convention for the whole server.
 *
 * Functions return 0 (or a byte count) on success and a negative SV_E* code on failure.
 * Pure parsers over (buf, len) return bytes consumed (>= 0), SV_ENEEDMORE when the input
 * is a valid prefix, or another negative code when it can never become valid. */
#ifndef SV_CORE_ERROR_H
#define SV_CORE_ERROR_H

enum {
    SV_OK = 0,
    SV_ENOMEM = -1,      /* allocation failed */
    SV_EINVAL = -2,      /* malformed input or bad argument */
    SV_ENEEDMORE = -3,   /* valid so far, feed more bytes */
    SV_ETOOBIG = -4,     /* a length field exceeds its cap */
    SV_EIO = -5,         /* system call failed; errno was logged where it happened */
    SV_ENOTFOUND = -6,   /* no such object */
    SV_EEXIST = -7,      /* object already exists / name busy */
    SV_EUNSUPPORTED = -8,/* well-formed but not something we handle */
    SV_ENOSPC = -9,      /* disk full */
    SV_ECLOSED = -10,    /* peer or object went away */
};

/* Static text for an error code ("invalid input", ...). Never NULL. */
const char *sv_strerror(int err);

#endif
