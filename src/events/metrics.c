/* The metrics registry, the exposition-format helpers, GET /metrics and the traffic
 * counters (see metrics.h). Text is built in one growable buffer per scrape; nothing is
 * cached between scrapes. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "events/metrics.h"

#define MAX_COLLECTORS 64
#define MAX_KINDS 16 /* the last slot is "other" */
#define KIND_LEN 32

static const char *const sources[] = {"ram", "disk", "cache", "remote", "other"};
#define NSOURCES (sizeof sources / sizeof sources[0])
static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

struct sv_metrics_out {
    sv_bytes b;
};

struct sv_metrics {
    struct {
        sv_metrics_collector fn;
        void *ctx;
    } c[MAX_COLLECTORS];
    size_t n;
    void *owned[MAX_COLLECTORS];
    size_t nowned;
    pthread_mutex_t kind_mu;     /* serializes adding a kind */
    atomic_size_t nkinds;        /* published kinds (names written before the store) */
    char kinds[MAX_KINDS][KIND_LEN];
    atomic_uint_fast64_t bytes[MAX_KINDS][NSOURCES];
    atomic_uint_fast64_t requests[MAX_KINDS][5];
};

static void traffic_collector(sv_metrics_out *o, void *ctx);

/* The traffic counters of m are always its first collector. */
sv_metrics *sv_metrics_new(void)
{
    sv_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->kind_mu, NULL);
    sv_metrics_add_collector(m, traffic_collector, m);
    return m;
}

void sv_metrics_free(sv_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    pthread_mutex_destroy(&m->kind_mu);
    free(m);
}

int sv_metrics_own(sv_metrics *m, void *p)
{
    if (m->nowned == MAX_COLLECTORS)
        return SV_ENOMEM;
    m->owned[m->nowned++] = p;
    return 0;
}

int sv_metrics_add_collector(sv_metrics *m, sv_metrics_collector fn, void *ctx)
{
    if (m->n == MAX_COLLECTORS)
        return SV_ENOMEM;
    m->c[m->n].fn = fn;
    m->c[m->n++].ctx = ctx;
    return 0;
}

void sv_metrics_remove_collector(sv_metrics *m, sv_metrics_collector fn, void *ctx)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->c[i].fn == fn && m->c[i].ctx == ctx) {
            memmove(&m->c[i], &m->c[i + 1], (m->n - i - 1) * sizeof m->c[0]);
            m->n--;
            return;
        }
}

/* ---- text helpers ---- */

static void puts_(sv_metrics_out *o, const char *s) { sv_bytes_put(&o->b, s, strlen(s)); }

static void put_escaped(sv_metrics_out *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '\n')
            puts_(o, "\\n");
        else if (*s == '"' && quote)
            puts_(o, "\\\"");
        else
            sv_bytes_put_u8(&o->b, (uint8_t)*s);
    }
}

void sv_metrics_family(sv_metrics_out *o, const char *name, const char *type, const char *help)
{
    puts_(o, "# HELP ");
    puts_(o, name);
    sv_bytes_put_u8(&o->b, ' ');
    put_escaped(o, help, false);
    puts_(o, "\n# TYPE ");
    puts_(o, name);
    sv_bytes_put_u8(&o->b, ' ');
    puts_(o, type);
    sv_bytes_put_u8(&o->b, '\n');
}

static void put_value(sv_metrics_out *o, double v)
{
    char num[40];
    if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.17g", v);
    puts_(o, num);
}

void sv_metrics_sample(sv_metrics_out *o, const char *name, double value, ...)
{
    va_list ap;
    const char *k;
    bool first = true;
    puts_(o, name);
    va_start(ap, value);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        puts_(o, first ? "{" : ",");
        puts_(o, k);
        puts_(o, "=\"");
        put_escaped(o, v ? v : "", true);
        sv_bytes_put_u8(&o->b, '"');
        first = false;
    }
    va_end(ap);
    puts_(o, first ? " " : "} ");
    put_value(o, value);
    sv_bytes_put_u8(&o->b, '\n');
}

void sv_metrics_single(sv_metrics_out *o, const char *name, const char *type, const char *help,
                       double value)
{
    sv_metrics_family(o, name, type, help);
    sv_metrics_sample(o, name, value, NULL);
}

/* ---- traffic counters ---- */

static size_t kind_index(sv_metrics *m, const char *kind)
{
    size_t n = atomic_load_explicit(&m->nkinds, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m->kinds[i], kind))
            return i;
    if (!kind[0] || strlen(kind) >= KIND_LEN || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
                                                     strlen(kind))
        return MAX_KINDS - 1;
    pthread_mutex_lock(&m->kind_mu);
    n = atomic_load(&m->nkinds);
    size_t i = 0;
    while (i < n && strcmp(m->kinds[i], kind))
        i++;
    if (i == n && n < MAX_KINDS - 1) {
        snprintf(m->kinds[n], KIND_LEN, "%s", kind);
        atomic_store_explicit(&m->nkinds, n + 1, memory_order_release);
    } else if (i == n) {
        i = MAX_KINDS - 1;
    }
    pthread_mutex_unlock(&m->kind_mu);
    return i;
}

void sv_metrics_count_bytes_out(sv_metrics *m, const char *kind, const char *source, uint64_t n)
{
    if (!m || !kind || !source)
        return;
    size_t s = 0;
    while (s < NSOURCES - 1 && strcmp(sources[s], source))
        s++;
    atomic_fetch_add_explicit(&m->bytes[kind_index(m, kind)][s], n, memory_order_relaxed);
}

void sv_metrics_count_request(sv_metrics *m, const char *kind, int status)
{
    if (!m || !kind || status < 100 || status > 599)
        return;
    atomic_fetch_add_explicit(&m->requests[kind_index(m, kind)][status / 100 - 1], 1,
                              memory_order_relaxed);
}

static const char *kind_name(sv_metrics *m, size_t i)
{
    return i == MAX_KINDS - 1 ? "other" : m->kinds[i];
}

static void traffic_collector(sv_metrics_out *o, void *ctx)
{
    sv_metrics *m = ctx;
    size_t n = atomic_load_explicit(&m->nkinds, memory_order_acquire);
    sv_metrics_family(o, "sv_http_response_bytes_total", "counter",
                      "HTTP response bytes sent, by kind of content and where it was read from");
    for (size_t i = 0; i < MAX_KINDS; i++)
        for (size_t s = 0; (i < n || i == MAX_KINDS - 1) && s < NSOURCES; s++) {
            uint64_t v = atomic_load_explicit(&m->bytes[i][s], memory_order_relaxed);
            if (v || (i < n && s < 2))
                sv_metrics_sample(o, "sv_http_response_bytes_total", (double)v, "kind",
                                  kind_name(m, i), "source", sources[s], NULL);
        }
    sv_metrics_family(o, "sv_http_requests_total", "counter",
                      "Finished HTTP requests by kind and status class");
    for (size_t i = 0; i < MAX_KINDS; i++)
        for (size_t c = 0; (i < n || i == MAX_KINDS - 1) && c < 5; c++) {
            uint64_t v = atomic_load_explicit(&m->requests[i][c], memory_order_relaxed);
            if (v)
                sv_metrics_sample(o, "sv_http_requests_total", (double)v, "kind",
                                  kind_name(m, i), "code", classes[c], NULL);
        }
}


/* ---- rendering ---- */

char *sv_metrics_render(sv_metrics *m, size_t *len)
{
    sv_metrics_out o;
    sv_bytes_init(&o.b);
    for (size_t i = 0; i < m->n; i++)
        m->c[i].fn(&o, m->c[i].ctx);
    sv_bytes_put_u8(&o.b, 0);
    if (o.b.failed || !o.b.p) {
        sv_bytes_free(&o.b);
        return NULL;
    }
    *len = o.b.len - 1;
    return (char *)o.b.p; /* the builder's buffer is ours now */
}

void sv_metrics_handle(sv_metrics *m, sv_http_req *req)
{
    const char *meth = sv_http_method(req);
    if (strcmp(meth, "GET") && strcmp(meth, "HEAD"))
        return sv_http_error(req, 405, "method_not_allowed", "use GET");
    if (!m)
        return sv_http_error(req, 503, "unavailable", "metrics are not enabled");
    size_t len = 0;
    char *text = sv_metrics_render(m, &len);
    if (!text)
        return sv_http_error(req, 500, "internal", "out of memory");
    sv_http_add_header(req, "Cache-Control", "no-cache");
    sv_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
