/* Admin authentication for /streamer/api/: HTTP Basic (user:password) or Bearer (the
 * admin password as token). Constant-time comparison. */
#ifndef SV_HTTP_AUTH_H
#define SV_HTTP_AUTH_H

#include <stdbool.h>
#include <stdint.h>

/* True when the Authorization header value grants admin access. header may be NULL. */
bool sv_auth_check_admin(const char *header, const char *user, const char *pass);

/* Viewer tokens for media routes (when a viewer secret is configured):
 *   token = EXPIRES "." hex(HMAC-SHA256(secret, NAME ":" EXPIRES))[0..32)
 * EXPIRES in UTC seconds. Platforms mint them with the same formula or with
 * POST /streamer/api/v3/streams/{name}/token. */
#define SV_VIEWER_TOKEN_MAX 64
/* Writes a token for name valid until expires into out (>= SV_VIEWER_TOKEN_MAX). */
void sv_auth_viewer_token(const char *secret, const char *name, int64_t expires, char *out);
/* True when token is a valid, unexpired token of name at now_s. token may be NULL. */
bool sv_auth_viewer_check(const char *secret, const char *name, const char *token, int64_t now_s);

#endif
