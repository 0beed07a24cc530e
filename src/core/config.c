/* See config.h. */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"

#define MAX_CONFIG_BYTES (1 << 20)

void sv_config_init(sv_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data_dir = strdup("./data");
    cfg->bind_addr = strdup("0.0.0.0");
    cfg->http_port = 8080;
    cfg->rtmp_port = 1935;
    cfg->live_segment_ms = 2000;
    cfg->live_window = 6;
    cfg->log_level = SV_LOG_INFO;
    cfg->archive_max_window_s = 7 * 86400;
}

void sv_config_free(sv_config *cfg)
{
    free(cfg->file);
    free(cfg->data_dir);
    free(cfg->bind_addr);
    free(cfg->admin_user);
    free(cfg->admin_pass);
    free(cfg->viewer_secret);
    for (int i = 0; i < cfg->nexport_roots; i++)
        free(cfg->export_roots[i]);
    free(cfg->export_roots);
    sv_conf_free(cfg->tree);
    memset(cfg, 0, sizeof *cfg);
}

int sv_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return SV_EINVAL;
    *out = v;
    return 0;
}

static int split_credentials(const char *s, char **user, char **pass)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return SV_EINVAL;
    free(*user);
    free(*pass);
    *user = strndup(s, (size_t)(colon - s));
    *pass = strdup(colon + 1);
    return (*user && *pass) ? 0 : SV_ENOMEM;
}

static int int_arg(const sv_conf_node *n, long long min, long long max, int *out,
                   char *err, size_t errlen, const char *file)
{
    long long v;
    if (n->nargs != 1 || sv_parse_int(n->args[0], min, max, &v)) {
        snprintf(err, errlen, "%s:%d: %s needs one integer in %lld..%lld", file, n->line,
                 n->name, min, max);
        return SV_EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int one_arg(const sv_conf_node *n, char **out, char *err, size_t errlen, const char *file)
{
    if (n->nargs != 1 || n->has_block) {
        snprintf(err, errlen, "%s:%d: %s needs exactly one argument", file, n->line, n->name);
        return SV_EINVAL;
    }
    free(*out);
    *out = strdup(n->args[0]);
    return *out ? 0 : SV_ENOMEM;
}

static int apply_directive(sv_config *cfg, const sv_conf_node *n, char *err, size_t errlen)
{
    const char *f = cfg->file;
    static const char *const blocks[] = {"stream", "template", "dvr", "event_sink", NULL};
    if (!strcmp(n->name, "http_port"))
        return int_arg(n, 1, 65535, &cfg->http_port, err, errlen, f);
    if (!strcmp(n->name, "rtmp_port"))
        return int_arg(n, 1, 65535, &cfg->rtmp_port, err, errlen, f);
    if (!strcmp(n->name, "live_segment_duration"))
        return int_arg(n, 500, 60000, &cfg->live_segment_ms, err, errlen, f);
    if (!strcmp(n->name, "live_window"))
        return int_arg(n, 2, 100, &cfg->live_window, err, errlen, f);
    if (!strcmp(n->name, "archive_max_window"))
        return int_arg(n, 1, 366 * 86400, &cfg->archive_max_window_s, err, errlen, f);
    if (!strcmp(n->name, "export_root")) {
        if (n->nargs != 1 || n->has_block || n->args[0][0] != '/') {
            snprintf(err, errlen, "%s:%d: export_root needs one absolute path", f, n->line);
            return SV_EINVAL;
        }
        char **v = realloc(cfg->export_roots, (cfg->nexport_roots + 1) * sizeof *v);
        if (!v)
            return SV_ENOMEM;
        cfg->export_roots = v;
        v[cfg->nexport_roots] = strdup(n->args[0]);
        return v[cfg->nexport_roots++] ? 0 : SV_ENOMEM;
    }
    if (!strcmp(n->name, "viewer_secret"))
        return one_arg(n, &cfg->viewer_secret, err, errlen, f);
    if (!strcmp(n->name, "listen"))
        return one_arg(n, &cfg->bind_addr, err, errlen, f);
    if (!strcmp(n->name, "data_dir"))
        return one_arg(n, &cfg->data_dir, err, errlen, f);
    if (!strcmp(n->name, "log_level")) {
        static const char *const lv[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++)
            if (n->nargs == 1 && !strcmp(n->args[0], lv[i])) {
                cfg->log_level = i;
                return 0;
            }
        snprintf(err, errlen, "%s:%d: log_level must be debug, info, warn or error", f, n->line);
        return SV_EINVAL;
    }
    if (!strcmp(n->name, "admin")) {
        if (n->nargs != 1 || split_credentials(n->args[0], &cfg->admin_user, &cfg->admin_pass)) {
            snprintf(err, errlen, "%s:%d: admin needs USER:PASSWORD", f, n->line);
            return SV_EINVAL;
        }
        return 0;
    }
    for (int i = 0; blocks[i]; i++)
        if (!strcmp(n->name, blocks[i]))
            return 0; /* validated by its subsystem */
    snprintf(err, errlen, "%s:%d: unknown directive '%s'", f, n->line, n->name);
    return SV_EINVAL;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, fp) : 0;
    fclose(fp);
    if (!buf || n > MAX_CONFIG_BYTES) {
        snprintf(err, errlen, "%s: %s", path, buf ? "file larger than 1 MiB" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int sv_config_load(sv_config *cfg, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text)
        return SV_EINVAL;
    free(cfg->file);
    cfg->file = strdup(path);
    char perr[256];
    int rc = sv_conf_parse(text, len, &cfg->tree, perr, sizeof perr);
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s:%s", path, perr + (strncmp(perr, "line ", 5) ? 0 : 5));
        return SV_EINVAL;
    }
    for (const sv_conf_node *n = cfg->tree; n; n = n->next)
        if ((rc = apply_directive(cfg, n, err, errlen)))
            return SV_EINVAL;
    return 0;
}

static int random_password(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char raw[64];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || n > sizeof raw || read(fd, raw, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return SV_EIO;
    }
    close(fd);
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    out[n - 1] = '\0';
    return 0;
}

static int load_or_create_secret(sv_config *cfg)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/admin.secret", cfg->data_dir);
    FILE *fp = fopen(path, "r");
    if (fp) {
        char *ok = fgets(line, sizeof line, fp);
        fclose(fp);
        if (ok) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!split_credentials(line, &cfg->admin_user, &cfg->admin_pass))
                return 0;
        }
        sv_error(NULL, "%s is malformed; delete it to generate new credentials", path);
        return SV_EIO;
    }
    char pw[25];
    if (random_password(pw, sizeof pw))
        return SV_EIO;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int n = snprintf(line, sizeof line, "admin:%s\n", pw);
    if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd)) {
        sv_error(NULL, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return SV_EIO;
    }
    close(fd);
    line[strcspn(line, "\n")] = '\0';
    fprintf(stderr, "\n  Generated admin credentials (kept in %s):\n    user: admin\n"
                    "    password: %s\n\n", path, pw);
    return split_credentials(line, &cfg->admin_user, &cfg->admin_pass) ? SV_EIO : 0;
}

int sv_config_resolve_admin(sv_config *cfg)
{
    const char *env = getenv("STREAMVAULT_ADMIN");
    if (env && *env) {
        if (split_credentials(env, &cfg->admin_user, &cfg->admin_pass)) {
            sv_error(NULL, "STREAMVAULT_ADMIN must be user:password");
            return SV_EIO;
        }
        return 0;
    }
    if (cfg->admin_user)
        return 0;
    return load_or_create_secret(cfg);
}
