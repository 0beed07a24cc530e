/* See recovery.h. */
#include "dvr/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "dvr/dvr.h"
#include "dvr/layout.h"
#include "dvr/writer.h"
#include "format/ts_demux.h"
#include "format/ts_mux.h"

#define CHUNK (1 << 20)

static void clean_marker_path(const char *catalog_path, char *out, size_t size)
{
    snprintf(out, size, "%s.clean", catalog_path);
}

void sv_dvr_recovery_mark_clean(const char *catalog_path)
{
    char path[4096];
    clean_marker_path(catalog_path, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

/* Offset just past the last complete PES: the start of the last PES that began, since our
 * muxer writes each PES contiguously. Stops at the first packet without sync. */
static int64_t find_cut(int fd, int64_t size)
{
    uint8_t *buf = malloc(CHUNK);
    int64_t off = 0, cut = 0;
    if (!buf)
        return 0;
    while (off + SV_TS_PACKET <= size) {
        ssize_t n = pread(fd, buf, CHUNK, off);
        if (n < SV_TS_PACKET)
            break;
        for (ssize_t i = 0; i + SV_TS_PACKET <= n; i += SV_TS_PACKET, off += SV_TS_PACKET) {
            const uint8_t *p = buf + i;
            if (p[0] != 0x47)
                goto done;
            int pid = (p[1] & 0x1f) << 8 | p[2];
            if ((p[1] & 0x40) && (pid == SV_TS_PID_VIDEO || pid == SV_TS_PID_AUDIO))
                cut = off;
        }
    }
done:
    free(buf);
    return cut;
}

typedef struct measure {
    int64_t first, last, gap;
    uint64_t frames;
    int track; /* -1 until known: video if the file has it, else audio */
} measure;

static int on_frame(void *ctx, sv_frame *f)
{
    measure *m = ctx;
    if (m->track < 0)
        m->track = f->track;
    if (f->track == 0 && m->track != 0) { /* video showed up: measure on video */
        m->track = 0;
        m->frames = 0;
    }
    if (f->track != m->track)
        return 0;
    if (m->frames++ == 0)
        m->first = f->dts;
    else if (f->dts > m->last)
        m->gap = f->dts - m->last;
    m->last = f->dts;
    return 0;
}

static int measure_file(int fd, int64_t len, measure *m)
{
    sv_ts_demux_cb cb = {NULL, on_frame, m};
    sv_ts_demux *d = sv_ts_demux_new(&cb);
    uint8_t *buf = malloc(CHUNK);
    int rc = (d && buf) ? 0 : SV_ENOMEM;
    for (int64_t off = 0; !rc && off < len;) {
        size_t want = (size_t)(len - off < CHUNK ? len - off : CHUNK);
        ssize_t n = pread(fd, buf, want, off);
        if (n <= 0) {
            rc = SV_EIO;
            break;
        }
        rc = sv_ts_demux_feed(d, buf, (size_t)n);
        off += n;
    }
    if (!rc)
        rc = sv_ts_demux_flush(d);
    sv_ts_demux_free(d);
    free(buf);
    return rc;
}

int sv_dvr_repair_part(const char *root, const char *relpath, int64_t *duration_ms,
                       int64_t *bytes)
{
    char path[4096], final_rel[SV_DVR_LAYOUT_PATH_MAX], final[4096];
    sv_dvr_layout_info info;
    if (sv_dvr_layout_parse(relpath, strlen(relpath), &info) || !info.is_part)
        return SV_EINVAL;
    snprintf(path, sizeof path, "%s/%s", root, relpath);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return SV_EIO;
    struct stat st;
    int64_t cut = fstat(fd, &st) ? 0 : find_cut(fd, st.st_size);
    measure m = {0, 0, 0, 0, -1};
    int rc = cut > 0 ? measure_file(fd, cut, &m) : 0;
    if (rc || m.frames < 2 || ftruncate(fd, cut) || fdatasync(fd)) {
        close(fd);
        sv_dvr_remove_file(root, relpath);
        return SV_ENOTFOUND;
    }
    close(fd);
    int64_t dur = (m.last - m.first + m.gap) / 90;
    if (dur < 1)
        dur = 1;
    char stream[SV_DVR_STREAM_NAME_MAX + 1];
    memcpy(stream, relpath, info.stream_len);
    stream[info.stream_len] = '\0';
    sv_dvr_layout_segment_path(final_rel, sizeof final_rel, stream, info.start_ms, dur);
    snprintf(final, sizeof final, "%s/%s", root, final_rel);
    if (rename(path, final))
        return SV_EIO;
    *duration_ms = dur;
    *bytes = cut;
    return 0;
}

typedef struct part_list {
    char **v;
    size_t n, cap;
} part_list;

static int collect_part(const sv_dvr_layout_entry *e, void *ud)
{
    part_list *l = ud;
    if (!e->is_part)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return SV_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(e->relpath);
    return l->v[l->n++] ? 0 : SV_ENOMEM;
}

static void repair_root(const char *root)
{
    part_list l = {0};
    sv_dvr_layout_walk(root, collect_part, &l);
    for (size_t i = 0; i < l.n; i++) {
        int64_t dur, bytes;
        if (sv_dvr_repair_part(root, l.v[i], &dur, &bytes) == 0)
            sv_info(NULL, "dvr: repaired %s/%s (%lld ms, %lld bytes kept)", root, l.v[i],
                    (long long)dur, (long long)bytes);
        else
            sv_warn(NULL, "dvr: removed unusable %s/%s", root, l.v[i]);
        free(l.v[i]);
    }
    free(l.v);
}

static int add_root(char ***v, size_t *n, const char *root)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i], root))
            return 0;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return SV_ENOMEM;
    *v = nv;
    nv[*n] = strdup(root);
    return nv[(*n)++] ? 0 : SV_ENOMEM;
}

int sv_dvr_roots(sv_settings *settings, sv_catalog *cat, char ***roots, size_t *n)
{
    *roots = NULL;
    *n = 0;
    sv_dvr_settings d;
    sv_settings_dvr(settings, "", &d); /* matches no template: the global/default root */
    int rc = add_root(roots, n, d.root);
    sv_dvr_settings_clear(&d);
    const char *kinds[] = {"template", "stream"};
    for (int k = 0; k < 2 && !rc; k++) {
        const char *name;
        json_t *body;
        json_object_foreach((json_t *)sv_settings_all(settings, kinds[k]), name, body)
        {
            const json_t *root = json_object_get(json_object_get(body, "dvr"), "root");
            if (json_is_string(root) && (rc = add_root(roots, n, json_string_value(root))))
                break;
        }
    }
    return rc;
}

int sv_dvr_recover(sv_settings *settings, sv_catalog *cat, const char *catalog_path, bool force)
{
    char marker[4096];
    clean_marker_path(catalog_path, marker, sizeof marker);
    bool clean = access(marker, F_OK) == 0;
    unlink(marker); /* from now on a crash leaves no marker */
    if (clean && !force)
        return 0;
    char **roots;
    size_t n, segs = 0;
    int rc = sv_dvr_roots(settings, cat, &roots, &n);
    for (size_t i = 0; !rc && i < n; i++)
        repair_root(roots[i]);
    if (!rc)
        rc = sv_catalog_rebuild(cat, (const char *const *)roots, n, &segs);
    if (!rc)
        sv_info(NULL, "dvr: %s: %zu segments indexed from %zu root(s)",
                force ? "index rebuilt" : "recovered after an unclean stop", segs, n);
    else
        sv_error(NULL, "dvr: recovery failed: %s", sv_strerror(rc));
    sv_catalog_strv_free(roots, n);
    return rc;
}

int sv_dvr_rebuild_index(sv_settings *settings, const char *catalog_path)
{
    sv_catalog *cat;
    int rc = sv_catalog_open(catalog_path, &cat);
    if (rc == SV_EINVAL) {
        sv_catalog_quarantine(catalog_path, NULL);
        rc = sv_catalog_open(catalog_path, &cat);
    }
    if (rc)
        return rc;
    rc = sv_dvr_recover(settings, cat, catalog_path, true);
    sv_catalog_close(cat);
    if (!rc)
        sv_dvr_recovery_mark_clean(catalog_path);
    return rc;
}
