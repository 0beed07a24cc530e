/* Admin authentication for /streamer/api/: HTTP Basic (user:password) or Bearer (the
 * admin password as token). Constant-time comparison. */
#ifndef SV_HTTP_AUTH_H
#define SV_HTTP_AUTH_H

#include <stdbool.h>

/* True when the Authorization header value grants admin access. header may be NULL. */
bool sv_auth_check_admin(const char *header, const char *user, const char *pass);

#endif
