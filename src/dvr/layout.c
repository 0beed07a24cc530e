/* DVR on-disk layout (see layout.h): building and parsing segment paths, and a walker.
 *
 * Dates are converted with the proleptic Gregorian day-number formulas (H. Hinnant's
 * days_from_civil / civil_from_days), so there is no dependence on TZ, locale or
 * gmtime_r. Parsing is strict by construction: the path is split from the right, the
 * fixed-width numbers are read, the path is built again from the result and must compare
 * byte for byte. The walker descends with openat(O_NOFOLLOW) from one directory fd to
 * the next and lstat-s entries, so symlinks (and anything swapped for one during the
 * walk) are never followed. It does not sort, repair or delete anything. */
#include "dvr/layout.h"

#include "core/clock.h"

#include "core/error.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_PER_DAY INT64_C(86400000)
/* Directories below a root: name parts plus YYYY/MM/DD/HH. */
#define WALK_MAX_DEPTH (SV_DVR_STREAM_PARTS_MAX + 4)

static int part_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* One name part s[0..len): non-empty, allowed characters, not "." or "..". */
static int part_ok(const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!part_char_ok((unsigned char)s[i]))
            return 0;
    return 1;
}

static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len > SV_DVR_STREAM_NAME_MAX)
        return 0;
    size_t start = 0, parts = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '/')
            continue;
        if (!part_ok(s + start, i - start) || ++parts > SV_DVR_STREAM_PARTS_MAX)
            return 0;
        start = i + 1;
    }
    return 1;
}

int sv_dvr_layout_name_valid(const char *name)
{
    return name && name_ok(name, strnlen(name, SV_DVR_STREAM_NAME_MAX + 1));
}

/* Shared builder: duration_ms < 0 means the .part name. */
static int build(char *out, size_t size, const char *stream, size_t slen, int64_t start_ms,
                 int64_t duration_ms)
{
    if (!out || !name_ok(stream, slen) || start_ms < 0 || start_ms > SV_DVR_TIME_MAX_MS ||
        duration_ms == 0 || duration_ms > SV_DVR_SEG_MAX_MS)
        return SV_EINVAL;
    int y, mo, d;
    int64_t days = start_ms / MS_PER_DAY, in_day = start_ms % MS_PER_DAY;
    sv_civil_from_days(days, &y, &mo, &d);
    int h = (int)(in_day / 3600000), mi = (int)(in_day / 60000 % 60);
    int s = (int)(in_day / 1000 % 60), ms = (int)(in_day % 1000);
    int n;
    if (duration_ms > 0)
        n = snprintf(out, size, "%.*s/%04d/%02d/%02d/%02d/%02d-%02d-%03d_%" PRId64 ".ts",
                     (int)slen, stream, y, mo, d, h, mi, s, ms, duration_ms);
    else
        n = snprintf(out, size, "%.*s/%04d/%02d/%02d/%02d/%02d-%02d-%03d.ts.part", (int)slen,
                     stream, y, mo, d, h, mi, s, ms);
    if (n < 0)
        return SV_EINVAL;
    if ((size_t)n >= size)
        return SV_ETOOBIG;
    return n;
}

int sv_dvr_layout_segment_path(char *out, size_t size, const char *stream, int64_t start_ms,
                               int64_t duration_ms)
{
    if (!stream || duration_ms < 1)
        return SV_EINVAL;
    return build(out, size, stream, strnlen(stream, SV_DVR_STREAM_NAME_MAX + 1), start_ms,
                 duration_ms);
}

int sv_dvr_layout_part_path(char *out, size_t size, const char *stream, int64_t start_ms)
{
    if (!stream)
        return SV_EINVAL;
    return build(out, size, stream, strnlen(stream, SV_DVR_STREAM_NAME_MAX + 1), start_ms, -1);
}

static int dup_path(char **out, const char *stream, int64_t start_ms, int64_t duration_ms)
{
    char tmp[SV_DVR_LAYOUT_PATH_MAX];
    int n = duration_ms < 0 ? sv_dvr_layout_part_path(tmp, sizeof tmp, stream, start_ms)
                            : sv_dvr_layout_segment_path(tmp, sizeof tmp, stream, start_ms,
                                                         duration_ms);
    if (n < 0)
        return n;
    char *p = malloc((size_t)n + 1);
    if (!p)
        return SV_ENOMEM;
    memcpy(p, tmp, (size_t)n + 1);
    *out = p;
    return 0;
}

int sv_dvr_layout_segment_path_dup(char **out, const char *stream, int64_t start_ms,
                                   int64_t duration_ms)
{
    if (!out || duration_ms < 1)
        return SV_EINVAL;
    return dup_path(out, stream, start_ms, duration_ms);
}

int sv_dvr_layout_part_path_dup(char **out, const char *stream, int64_t start_ms)
{
    return out ? dup_path(out, stream, start_ms, -1) : SV_EINVAL;
}

/* Reads exactly n decimal digits. -1 if any is not a digit. */
static int64_t digits(const char *p, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Reads the file name "MM-SS-mmm_DUR.ts" or "MM-SS-mmm.ts.part" into a millisecond offset
 * within the hour and a duration (-1 for part). Loose about the duration's form; the
 * caller's re-build check makes it exact. */
static int parse_file(const char *f, size_t len, int64_t *off_ms, int64_t *dur)
{
    if (len < 12 || f[2] != '-' || f[5] != '-')
        return SV_EINVAL;
    int64_t mi = digits(f, 2), s = digits(f + 3, 2), ms = digits(f + 6, 3);
    if (mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0)
        return SV_EINVAL;
    *off_ms = mi * 60000 + s * 1000 + ms;
    const char *rest = f + 9;
    size_t rlen = len - 9;
    if (rlen == 8 && memcmp(rest, ".ts.part", 8) == 0) {
        *dur = -1;
        return 0;
    }
    /* "_" + 1..7 digits + ".ts" */
    if (rlen < 5 || rlen > 11 || rest[0] != '_' || memcmp(rest + rlen - 3, ".ts", 3) != 0)
        return SV_EINVAL;
    *dur = digits(rest + 1, rlen - 4);
    return *dur < 1 ? SV_EINVAL : 0;
}

int sv_dvr_layout_parse(const char *rel, size_t len, sv_dvr_layout_info *info)
{
    if (!rel || !info || len == 0 || len >= SV_DVR_LAYOUT_PATH_MAX)
        return SV_EINVAL;
    size_t slash[5]; /* positions of the last five '/', right to left */
    size_t found = 0;
    for (size_t i = len; i-- > 0 && found < 5;)
        if (rel[i] == '/')
            slash[found++] = i;
    if (found < 5 || slash[4] == 0)
        return SV_EINVAL;
    const char *y = rel + slash[4] + 1, *mo = rel + slash[3] + 1;
    const char *d = rel + slash[2] + 1, *h = rel + slash[1] + 1;
    if (slash[3] - slash[4] != 5 || slash[2] - slash[3] != 3 || slash[1] - slash[2] != 3 ||
        slash[0] - slash[1] != 3)
        return SV_EINVAL;
    int64_t yy = digits(y, 4), mm = digits(mo, 2), dd = digits(d, 2), hh = digits(h, 2);
    if (yy < 1970 || mm < 1 || mm > 12 || dd < 1 || dd > 31 || hh < 0 || hh > 23)
        return SV_EINVAL;
    int64_t off, dur;
    if (parse_file(rel + slash[0] + 1, len - slash[0] - 1, &off, &dur) < 0)
        return SV_EINVAL;
    int64_t start = sv_days_from_civil(yy, (int)mm, (int)dd) * MS_PER_DAY + hh * 3600000 + off;
    char again[SV_DVR_LAYOUT_PATH_MAX];
    int n = build(again, sizeof again, rel, slash[4], start, dur);
    if (n < 0 || (size_t)n != len || memcmp(again, rel, len) != 0)
        return SV_EINVAL; /* bad name, Feb 30, leading zeros, ... */
    info->stream_len = slash[4];
    info->start_ms = start;
    info->duration_ms = dur < 0 ? 0 : dur;
    info->is_part = dur < 0;
    return 0;
}

/* ---- walker ---- */

typedef struct walk_state {
    sv_dvr_layout_walk_cb cb;
    void *ud;
    const char *root;
    char rel[SV_DVR_LAYOUT_PATH_MAX];  /* path of the current directory, relative */
    size_t len;
    char stream[SV_DVR_LAYOUT_PATH_MAX];
} walk_state;

static int walk_dir(walk_state *st, int fd, int depth);

/* Appends "/name" (or "name" at the top) to st->rel. 0 if it does not fit. */
static int push(walk_state *st, const char *name, size_t *saved)
{
    size_t nlen = strlen(name), sep = st->len ? 1 : 0;
    if (st->len + sep + nlen >= sizeof st->rel)
        return 0;
    *saved = st->len;
    if (sep)
        st->rel[st->len++] = '/';
    memcpy(st->rel + st->len, name, nlen + 1);
    st->len += nlen;
    return 1;
}

static int visit_file(walk_state *st, int dfd, const char *name)
{
    sv_dvr_layout_info info;
    if (sv_dvr_layout_parse(st->rel, st->len, &info) < 0)
        return 0; /* unrelated file */
    struct stat sb;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
        return 0; /* vanished or swapped for something else */
    memcpy(st->stream, st->rel, info.stream_len);
    st->stream[info.stream_len] = '\0';
    sv_dvr_layout_entry e = {
        .relpath = st->rel, .stream = st->stream, .start_ms = info.start_ms,
        .duration_ms = info.duration_ms, .is_part = info.is_part, .bytes = sb.st_size,
    };
    return st->cb(&e, st->ud);
}

static int visit_subdir(walk_state *st, int dfd, const char *name, int depth)
{
    if (depth >= WALK_MAX_DEPTH)
        return 0;
    int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) {
        int e = errno;
        if (e != ELOOP && e != ENOTDIR && e != ENOENT) /* a symlink, or gone: quietly */
            sv_warn(NULL, "dvr walk: skipping %s/%s: %s", st->root, st->rel, strerror(e));
        return 0;
    }
    return walk_dir(st, cfd, depth + 1);
}

/* Walks the directory open at fd (takes ownership of fd). */
static int walk_dir(walk_state *st, int fd, int depth)
{
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int e = errno;
        close(fd);
        sv_warn(NULL, "dvr walk: cannot read %s/%s: %s", st->root, st->rel, strerror(e));
        return 0;
    }
    int rc = 0, dfd = dirfd(dir);
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir))) {
        const char *name = de->d_name;
        size_t saved;
        if (!part_ok(name, strlen(name)) || !push(st, name, &saved))
            continue;
        unsigned type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat sb;
            type = fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? DT_UNKNOWN
                   : S_ISDIR(sb.st_mode)                            ? DT_DIR
                   : S_ISREG(sb.st_mode)                            ? DT_REG
                                                                    : DT_UNKNOWN;
        }
        if (type == DT_DIR)
            rc = visit_subdir(st, dfd, name, depth);
        else if (type == DT_REG)
            rc = visit_file(st, dfd, name);
        st->len = saved;
        st->rel[saved] = '\0';
    }
    closedir(dir);
    return rc;
}

int sv_dvr_layout_walk(const char *root, sv_dvr_layout_walk_cb cb, void *ud)
{
    if (!root || !cb)
        return SV_EINVAL;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return SV_ENOTFOUND;
        sv_error(NULL, "dvr walk: cannot open root %s: %s", root, strerror(e));
        return SV_EIO;
    }
    walk_state *st = calloc(1, sizeof *st);
    if (!st) {
        close(fd);
        return SV_ENOMEM;
    }
    st->cb = cb;
    st->ud = ud;
    st->root = root;
    int rc = walk_dir(st, fd, 0);
    free(st);
    return rc;
}
