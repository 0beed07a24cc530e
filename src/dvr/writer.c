/* See writer.h. One thread, one FIFO of operations, one mutex. File descriptors and
 * catalog writes belong to the writer thread only; sv_dvr_wfile.failed is the one field
 * both threads read (atomic). */
#include "dvr/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "dvr/layout.h"

#define ROOT_RETRY_MS 5000
#define BATCH_MAX 64

struct sv_dvr_wfile {
    char *root, *stream;
    int64_t start_ms;
    char part[SV_DVR_LAYOUT_PATH_MAX];
    int fd;
    int64_t bytes;
    atomic_bool failed;
};

typedef enum { OP_APPEND, OP_CLOSE, OP_ABORT, OP_UNLINK, OP_SETTING } op_type;

typedef struct op {
    op_type type;
    sv_dvr_wfile *f;
    sv_buf *buf;
    int64_t duration_ms;
    char *root, *relpath; /* OP_UNLINK; OP_SETTING: kind, name */
    char *json;           /* OP_SETTING; NULL deletes */
    struct op *next;
} op;

typedef struct root_state {
    char *root;
    int64_t paused_until; /* monotonic ms; 0 = not paused */
    struct root_state *next;
} root_state;

struct sv_dvr_writer {
    sv_catalog *cat;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    op *head, *tail;
    bool stopping;
    size_t max_bytes;
    atomic_size_t queued_bytes;
    root_state *roots;
    sv_dvr_write_error_fn on_error;
    void *ctx;
    sv_dvr_writer_stats st; /* guarded by mu */
    /* writer-thread only: catalog rows waiting for a commit */
    sv_catalog_newseg batch[BATCH_MAX];
    sv_dvr_wfile *batch_files[BATCH_MAX];
    size_t nbatch;
};

int sv_dvr_mkdirs_for(const char *root, const char *relpath)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", root, relpath);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST) {
            int e = errno;
            *p = '/';
            return -e;
        }
        *p = '/';
    }
    return 0;
}

void sv_dvr_remove_file(const char *root, const char *relpath)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", root, relpath);
    if (n < 0 || (size_t)n >= sizeof path)
        return;
    if (unlink(path) && errno != ENOENT)
        sv_warn(NULL, "dvr: cannot remove %s: %s", path, strerror(errno));
    size_t rootlen = strlen(root);
    for (char *slash; (slash = strrchr(path, '/')) && (size_t)(slash - path) > rootlen;) {
        *slash = '\0';
        if (rmdir(path))
            break; /* not empty (or gone): stop climbing */
    }
}

static void free_wfile(sv_dvr_wfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->root);
    free(f->stream);
    free(f);
}

static root_state *find_root(sv_dvr_writer *w, const char *root, bool create)
{
    for (root_state *r = w->roots; r; r = r->next)
        if (!strcmp(r->root, root))
            return r;
    if (!create)
        return NULL;
    root_state *r = calloc(1, sizeof *r);
    if (r && !(r->root = strdup(root))) {
        free(r);
        return NULL;
    }
    if (r) {
        r->next = w->roots;
        w->roots = r;
    }
    return r;
}

/* A write failed: drop the segment, pause the root, ask for retention. Writer thread. */
static void fail_file(sv_dvr_writer *w, sv_dvr_wfile *f, int err)
{
    sv_error(f->stream, "dvr: write to %s/%s failed: %s; recording into %s pauses", f->root,
             f->part, strerror(err), f->root);
    atomic_store(&f->failed, true);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    sv_dvr_remove_file(f->root, f->part);
    pthread_mutex_lock(&w->mu);
    w->st.write_errors++;
    root_state *r = find_root(w, f->root, true);
    if (r)
        r->paused_until = sv_now_mono_ms() + ROOT_RETRY_MS;
    pthread_mutex_unlock(&w->mu);
    if (w->on_error)
        w->on_error(w->ctx, f->root, f->stream, f->part, err);
}

static void do_append(sv_dvr_writer *w, sv_dvr_wfile *f, sv_buf *b)
{
    if (atomic_load(&f->failed))
        return;
    if (f->fd < 0) {
        int rc = sv_dvr_mkdirs_for(f->root, f->part);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", f->root, f->part);
        f->fd = rc ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (f->fd < 0) {
            fail_file(w, f, rc ? -rc : errno);
            return;
        }
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(f->fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fail_file(w, f, n < 0 ? errno : EIO);
            return;
        }
        off += (size_t)n;
    }
    f->bytes += (int64_t)b->len;
}

static void commit_batch(sv_dvr_writer *w)
{
    if (!w->nbatch)
        return;
    int rc = sv_catalog_add(w->cat, w->batch, w->nbatch, NULL);
    if (rc)
        sv_error(NULL, "dvr: catalog insert of %zu segments failed (%s); "
                       "they will be indexed at the next start", w->nbatch, sv_strerror(rc));
    pthread_mutex_lock(&w->mu);
    w->st.segments_written += rc ? 0 : w->nbatch;
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->nbatch; i++)
        free_wfile(w->batch_files[i]);
    w->nbatch = 0;
}

static void do_close(sv_dvr_writer *w, sv_dvr_wfile *f, int64_t duration_ms)
{
    char final[SV_DVR_LAYOUT_PATH_MAX], from[4096], to[4096];
    if (atomic_load(&f->failed) || f->fd < 0 || f->bytes == 0 || duration_ms < 1) {
        if (f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
            sv_dvr_remove_file(f->root, f->part);
        }
        free_wfile(f);
        return;
    }
    if (duration_ms > SV_DVR_SEG_MAX_MS)
        duration_ms = SV_DVR_SEG_MAX_MS;
    sv_dvr_layout_segment_path(final, sizeof final, f->stream, f->start_ms, duration_ms);
    snprintf(from, sizeof from, "%s/%s", f->root, f->part);
    snprintf(to, sizeof to, "%s/%s", f->root, final);
    if (fdatasync(f->fd) || rename(from, to)) {
        fail_file(w, f, errno);
        free_wfile(f);
        return;
    }
    close(f->fd);
    f->fd = -1;
    w->batch[w->nbatch] = (sv_catalog_newseg){f->stream, f->root, f->start_ms, duration_ms,
                                              f->bytes};
    w->batch_files[w->nbatch++] = f;
    if (w->nbatch == BATCH_MAX)
        commit_batch(w);
}

static void run_op(sv_dvr_writer *w, op *o)
{
    switch (o->type) {
    case OP_APPEND:
        do_append(w, o->f, o->buf);
        atomic_fetch_sub(&w->queued_bytes, o->buf->len);
        pthread_mutex_lock(&w->mu);
        w->st.bytes_written += o->buf->len;
        pthread_mutex_unlock(&w->mu);
        sv_buf_unref(o->buf);
        break;
    case OP_CLOSE: do_close(w, o->f, o->duration_ms); break;
    case OP_ABORT:
        if (o->f->fd >= 0) {
            close(o->f->fd);
            o->f->fd = -1;
            sv_dvr_remove_file(o->f->root, o->f->part);
        }
        free_wfile(o->f);
        break;
    case OP_SETTING: {
        int rc = o->json ? sv_catalog_setting_put(w->cat, o->root, o->relpath, o->json)
                         : sv_catalog_setting_delete(w->cat, o->root, o->relpath);
        if (rc && rc != SV_ENOTFOUND)
            sv_error(NULL, "dvr: cannot store %s %s: %s", o->root, o->relpath, sv_strerror(rc));
        free(o->json);
        free(o->root);
        free(o->relpath);
        break;
    }
    case OP_UNLINK:
        sv_dvr_remove_file(o->root, o->relpath);
        free(o->root);
        free(o->relpath);
        break;
    }
    free(o);
}

static void *writer_main(void *arg)
{
    sv_dvr_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping) {
            pthread_mutex_unlock(&w->mu);
            commit_batch(w); /* queue idle: publish what closed */
            pthread_mutex_lock(&w->mu);
            if (!w->head && !w->stopping)
                pthread_cond_wait(&w->cv, &w->mu);
        }
        if (!w->head && w->stopping)
            break;
        op *o = w->head;
        w->head = o->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        run_op(w, o);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    commit_batch(w);
    return NULL;
}

sv_dvr_writer *sv_dvr_writer_new(sv_catalog *cat, size_t max_queued_bytes,
                                 sv_dvr_write_error_fn on_error, void *ctx)
{
    sv_dvr_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cat = cat;
    w->max_bytes = max_queued_bytes;
    w->on_error = on_error;
    w->ctx = ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        free(w);
        return NULL;
    }
    return w;
}

void sv_dvr_writer_free(sv_dvr_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    while (w->roots) {
        root_state *r = w->roots;
        w->roots = r->next;
        free(r->root);
        free(r);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

static void enqueue(sv_dvr_writer *w, op *o)
{
    pthread_mutex_lock(&w->mu);
    o->next = NULL;
    if (w->tail)
        w->tail->next = o;
    else
        w->head = o;
    w->tail = o;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool sv_dvr_writer_root_paused(sv_dvr_writer *w, const char *root)
{
    pthread_mutex_lock(&w->mu);
    root_state *r = find_root(w, root, false);
    bool paused = r && r->paused_until > sv_now_mono_ms();
    pthread_mutex_unlock(&w->mu);
    return paused;
}

void sv_dvr_writer_resume(sv_dvr_writer *w, const char *root)
{
    pthread_mutex_lock(&w->mu);
    root_state *r = find_root(w, root, false);
    if (r)
        r->paused_until = 0;
    pthread_mutex_unlock(&w->mu);
}

sv_dvr_wfile *sv_dvr_writer_open(sv_dvr_writer *w, const char *root, const char *stream,
                                 int64_t start_ms)
{
    if (sv_dvr_writer_root_paused(w, root))
        return NULL;
    sv_dvr_wfile *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->fd = -1;
    f->start_ms = start_ms;
    f->root = strdup(root);
    f->stream = strdup(stream);
    if (!f->root || !f->stream ||
        sv_dvr_layout_part_path(f->part, sizeof f->part, stream, start_ms) < 0) {
        free_wfile(f);
        return NULL;
    }
    return f;
}

int sv_dvr_writer_append(sv_dvr_writer *w, sv_dvr_wfile *f, sv_buf *b)
{
    if (atomic_load(&w->queued_bytes) + b->len > w->max_bytes) {
        pthread_mutex_lock(&w->mu);
        w->st.queue_full_drops++;
        pthread_mutex_unlock(&w->mu);
        return SV_ETOOBIG;
    }
    op *o = calloc(1, sizeof *o);
    if (!o)
        return SV_ENOMEM;
    atomic_fetch_add(&w->queued_bytes, b->len);
    *o = (op){.type = OP_APPEND, .f = f, .buf = sv_buf_ref(b)};
    enqueue(w, o);
    return 0;
}

void sv_dvr_writer_close(sv_dvr_writer *w, sv_dvr_wfile *f, int64_t duration_ms)
{
    op *o = calloc(1, sizeof *o);
    if (!o) {
        sv_error(f->stream, "dvr: out of memory closing a segment");
        return; /* leaks the part file; recovery indexes it at the next start */
    }
    *o = (op){.type = OP_CLOSE, .f = f, .duration_ms = duration_ms};
    enqueue(w, o);
}

void sv_dvr_writer_abort(sv_dvr_writer *w, sv_dvr_wfile *f)
{
    op *o = calloc(1, sizeof *o);
    if (!o)
        return;
    *o = (op){.type = OP_ABORT, .f = f};
    enqueue(w, o);
}

void sv_dvr_writer_unlink(sv_dvr_writer *w, const char *root, const char *relpath)
{
    op *o = calloc(1, sizeof *o);
    if (!o)
        return;
    *o = (op){.type = OP_UNLINK, .root = strdup(root), .relpath = strdup(relpath)};
    if (!o->root || !o->relpath) {
        free(o->root);
        free(o->relpath);
        free(o);
        return;
    }
    enqueue(w, o);
}

void sv_dvr_writer_setting(sv_dvr_writer *w, const char *kind, const char *name,
                           const char *json)
{
    op *o = calloc(1, sizeof *o);
    if (!o)
        return;
    *o = (op){.type = OP_SETTING, .root = strdup(kind), .relpath = strdup(name),
              .json = json ? strdup(json) : NULL};
    if (!o->root || !o->relpath || (json && !o->json)) {
        free(o->root);
        free(o->relpath);
        free(o->json);
        free(o);
        return;
    }
    enqueue(w, o);
}

bool sv_dvr_wfile_failed(const sv_dvr_wfile *f) { return atomic_load(&f->failed); }

void sv_dvr_writer_get_stats(sv_dvr_writer *w, sv_dvr_writer_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    pthread_mutex_unlock(&w->mu);
    st->queued_bytes = atomic_load(&w->queued_bytes);
}
