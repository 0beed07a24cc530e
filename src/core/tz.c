/* See tz.h. TZif layout: a 44-byte header (magic "TZif", version, six counts), the v1
 * data block, then for version >= 2 a second header and a data block with 64-bit
 * transition times, which is the one we read. */
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"

#define MAX_TZIF (1 << 20)
#define MAX_TRANSITIONS 4096

struct sv_tz {
    size_t n;          /* transitions */
    int64_t *at;       /* UTC seconds, ascending */
    int32_t *off;      /* offset in force from at[i] */
    int32_t first_off; /* before the first transition (or fixed zone) */
};

static int64_t rb64(const uint8_t *p) { return (int64_t)((uint64_t)sv_rb32(p) << 32 | sv_rb32(p + 4)); }

typedef struct counts {
    uint32_t isut, isstd, leap, time, type, chars;
} counts;

static int read_header(const uint8_t *p, size_t len, counts *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4))
        return -1;
    *version = p[4] ? p[4] - '0' : 1;
    c->isut = sv_rb32(p + 20);
    c->isstd = sv_rb32(p + 24);
    c->leap = sv_rb32(p + 28);
    c->time = sv_rb32(p + 32);
    c->type = sv_rb32(p + 36);
    c->chars = sv_rb32(p + 40);
    if (c->time > MAX_TRANSITIONS || c->type == 0 || c->type > 256 || c->chars > 4096 ||
        c->leap > 1000 || c->isut > 256 || c->isstd > 256)
        return -1;
    return 0;
}

static size_t block_size(const counts *c, int tsize)
{
    return (size_t)c->time * tsize + c->time + c->type * 6u + c->chars +
           c->leap * (size_t)(tsize + 4) + c->isstd + c->isut;
}

sv_tz *sv_tz_parse(const uint8_t *buf, size_t len)
{
    counts c;
    int version;
    if (read_header(buf, len, &c, &version))
        return NULL;
    size_t off = 44;
    int tsize = 4;
    if (version >= 2) { /* skip the v1 block, read the 64-bit one */
        off += block_size(&c, 4);
        if (off > len || read_header(buf + off, len - off, &c, &version))
            return NULL;
        off += 44;
        tsize = 8;
    }
    if (off + block_size(&c, tsize) > len)
        return NULL;
    const uint8_t *times = buf + off, *idx = times + (size_t)c.time * tsize;
    const uint8_t *types = idx + c.time;
    sv_tz *tz = calloc(1, sizeof *tz);
    if (!tz)
        return NULL;
    tz->at = calloc(c.time ? c.time : 1, sizeof *tz->at);
    tz->off = calloc(c.time ? c.time : 1, sizeof *tz->off);
    if (!tz->at || !tz->off) {
        sv_tz_free(tz);
        return NULL;
    }
    tz->first_off = (int32_t)sv_rb32(types);
    for (uint32_t i = 0; i < c.time; i++) {
        tz->at[i] = tsize == 8 ? rb64(times + 8 * i) : (int32_t)sv_rb32(times + 4 * i);
        uint8_t t = idx[i] < c.type ? idx[i] : 0;
        tz->off[i] = (int32_t)sv_rb32(types + 6 * t);
        if (i && tz->at[i] < tz->at[i - 1]) {
            sv_tz_free(tz);
            return NULL;
        }
    }
    tz->n = c.time;
    return tz;
}

static sv_tz *fixed(int32_t off)
{
    sv_tz *tz = calloc(1, sizeof *tz);
    if (tz)
        tz->first_off = off;
    return tz;
}

/* "+02:00", "-0530", "+3" */
static sv_tz *parse_fixed(const char *s)
{
    int sign = s[0] == '-' ? -1 : 1, h = 0, m = 0;
    const char *p = s + 1;
    if (sscanf(p, "%2d:%2d", &h, &m) < 1 && sscanf(p, "%2d%2d", &h, &m) < 1)
        return NULL;
    if (h > 14 || m > 59 || strspn(p, "0123456789:") != strlen(p))
        return NULL;
    return fixed(sign * (h * 3600 + m * 60));
}

static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (!len || len > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/") == len;
}

sv_tz *sv_tz_load(const char *name)
{
    if (!name || !strcmp(name, "UTC") || !strcmp(name, "Z"))
        return fixed(0);
    if (name[0] == '+' || name[0] == '-')
        return parse_fixed(name);
    if (!name_ok(name))
        return NULL;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    uint8_t *buf = malloc(MAX_TZIF);
    size_t n = buf ? fread(buf, 1, MAX_TZIF, fp) : 0;
    fclose(fp);
    sv_tz *tz = buf ? sv_tz_parse(buf, n) : NULL;
    free(buf);
    return tz;
}

void sv_tz_free(sv_tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off);
    free(tz);
}

int32_t sv_tz_offset(const sv_tz *tz, int64_t utc_s)
{
    if (tz->n == 0 || utc_s < tz->at[0])
        return tz->first_off;
    size_t lo = 0, hi = tz->n; /* last transition <= utc_s */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tz->at[mid] <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}
