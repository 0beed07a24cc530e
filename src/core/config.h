/* Process configuration: embedded defaults, then the config file, then command-line flags
 * (applied by main.c), then the environment for credentials.
 *
 * Top-level directives handled here:
 *   listen ADDR;  http_port N;  rtmp_port N;  data_dir PATH;  log_level debug|info|warn|error;
 *   admin USER:PASSWORD;  live_segment_duration MS;  live_window N;
 *   archive_max_window SECONDS;  viewer_secret SECRET;  export_root PATH; (repeatable; default DATA_DIR/exports)
 * Blocks interpreted by other subsystems are kept in `tree` and validated by them with
 * their line numbers: stream NAME {...}, template NAME {...}, dvr {...},
 * event_sink NAME {...}, export_root PATH. Any other directive is an error naming
 * file:line. */
#ifndef SV_CORE_CONFIG_H
#define SV_CORE_CONFIG_H

#include "core/conf.h"

typedef struct sv_config {
    char *file;            /* config file path, NULL when running on embedded defaults */
    char *data_dir;
    char *bind_addr;
    int http_port, rtmp_port;
    char *admin_user, *admin_pass; /* NULL until resolved */
    int live_segment_ms;   /* live HLS target segment duration */
    int live_window;       /* segments in the live playlist */
    int log_level;         /* sv_log_level */
    int archive_max_window_s; /* longest archive window a playlist/export may ask for */
    char *viewer_secret;   /* when set, media routes need a viewer token (http/auth.h) */
    char **export_roots;   /* directories background exports may write into */
    int nexport_roots;
    sv_conf_node *tree;    /* whole parsed file; subsystems read their blocks from it */
} sv_config;

void sv_config_init(sv_config *cfg); /* embedded defaults */
/* Loads and validates `path` over the defaults. On error returns SV_EINVAL with
 * "FILE:LINE: reason" in err. */
int sv_config_load(sv_config *cfg, const char *path, char *err, size_t errlen);
void sv_config_free(sv_config *cfg);

/* Resolves admin credentials: STREAMVAULT_ADMIN=user:password from the environment wins,
 * then the file's `admin`, else {data_dir}/admin.secret (created with a random password on
 * first start, mode 0600, and printed once to stderr). Returns 0 or SV_EIO. */
int sv_config_resolve_admin(sv_config *cfg);

/* Parses a decimal integer in [min, max]; returns 0 or SV_EINVAL. */
int sv_parse_int(const char *s, long long min, long long max, long long *out);

#endif
