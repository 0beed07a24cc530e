/* StreamVault process: flags, config, start/stop order, signals.
 *
 * Start order: config -> data dir -> admin credentials -> event loop -> stream registry
 * -> live HLS -> RTMP ingest -> HTTP. Stop order is the reverse, triggered by SIGTERM or
 * SIGINT: inputs close first (publishers unpublish, so segmenters and recorders flush),
 * then HTTP, then the registry. A watchdog makes sure the process is gone within 5 s. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/workq.h"
#include "dvr/dvr.h"
#include "events/events.h"   /* events wiring */
#include "events/metrics.h"  /* events wiring */
#include "stream/settings.h"
#include "http/http.h"
#include "ingest/rtmp/rtmp.h"
#include "ingest/rtsp/inputs.h" /* rtsp wiring */
#include "live/hls.h"
#include "stream/stream.h"

typedef struct app {
    sv_config cfg;
    struct event_base *base;
    sv_settings *settings;
    sv_workq *wq;
    sv_dvr *dvr;
    char *catalog_path;
    sv_registry *reg;
    sv_live *live;
    sv_rtmp_server *rtmp;
    sv_inputs *inputs; /* rtsp wiring: RTSP camera pulls */
    sv_http_server *http;
    sv_api api;
    sv_events *events;   /* events wiring: bus + sinks */
    sv_metrics *metrics; /* events wiring: /metrics */
    sv_jobs *jobs;       /* background exports */
    char **export_roots; /* absolute */
    int nexport_roots;
} app;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: streamvault [options]\n"
            "  -c, --config FILE     config file (default: embedded defaults)\n"
            "  -d, --data-dir DIR    data directory (default ./data)\n"
            "      --http-port N     HTTP port (default 8080)\n"
            "      --rtmp-port N     RTMP port (default 1935)\n"
            "  -h, --help            this help\n"
            "  -v, --version         print the version\n"
            "      --rebuild-index   rebuild the DVR catalog from the files and exit\n"
            "Admin credentials: 'admin USER:PASS;' in the config, or STREAMVAULT_ADMIN=user:pass,\n"
            "else generated on first start into DATA_DIR/admin.secret.\n");
}

typedef struct flags {
    const char *config, *data_dir;
    long http_port, rtmp_port;
    int rebuild_index;
} flags;

static int parse_port(const char *s, long *out)
{
    long long v;
    if (sv_parse_int(s, 1, 65535, &v))
        return -1;
    *out = (long)v;
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), -1 to exit 2. */
static int parse_flags(int argc, char **argv, flags *f)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"http-port", required_argument, NULL, 'H'}, {"rtmp-port", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'v'},
        {"rebuild-index", no_argument, NULL, 'I'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:d:hv", opts, NULL)) != -1) {
        switch (c) {
        case 'c': f->config = optarg; break;
        case 'd': f->data_dir = optarg; break;
        case 'H':
        case 'R':
            if (parse_port(optarg, c == 'H' ? &f->http_port : &f->rtmp_port)) {
                fprintf(stderr, "streamvault: invalid port '%s'\n", optarg);
                return -1;
            }
            break;
        case 'I': f->rebuild_index = 1; break;
        case 'h': usage(stdout); return 1;
        case 'v': printf("streamvault %s\n", SV_VERSION); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "streamvault: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int load_settings(app *a)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/dvr", a->cfg.data_dir);
    a->settings = sv_settings_new(path);
    snprintf(path, sizeof path, "%s/catalog.db", a->cfg.data_dir);
    a->catalog_path = strdup(path);
    if (!a->settings || !a->catalog_path)
        return -1;
    if (sv_settings_load_config(a->settings, a->cfg.tree, a->cfg.file, err, sizeof err)) {
        fprintf(stderr, "streamvault: config error: %s\n", err);
        return -1;
    }
    return 0;
}

static int load_config(app *a, const flags *f)
{
    char err[512];
    sv_config_init(&a->cfg);
    if (f->config && sv_config_load(&a->cfg, f->config, err, sizeof err)) {
        fprintf(stderr, "streamvault: config error: %s\n", err);
        return -1;
    }
    if (f->data_dir) {
        free(a->cfg.data_dir);
        a->cfg.data_dir = strdup(f->data_dir);
    }
    if (f->http_port)
        a->cfg.http_port = (int)f->http_port;
    if (f->rtmp_port)
        a->cfg.rtmp_port = (int)f->rtmp_port;
    sv_log_set_level(a->cfg.log_level);
    if (mkdir(a->cfg.data_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "streamvault: cannot create data dir %s: %s\n", a->cfg.data_dir,
                strerror(errno));
        return -1;
    }
    if (sv_config_resolve_admin(&a->cfg))
        return -1;
    return load_settings(a) ? -1 : 0;
}

static void on_stream_created(void *ctx, sv_stream *s)
{
    app *a = ctx;
    if (sv_live_attach(a->live, s))
        sv_error(sv_stream_name(s), "cannot attach live HLS");
    if (sv_dvr_attach(a->dvr, s))
        sv_error(sv_stream_name(s), "cannot attach the DVR recorder");
}

static void on_stream_destroy(void *ctx, sv_stream *s)
{
    app *a = ctx;
    sv_dvr_detach(a->dvr, s);
    sv_live_detach(a->live, s);
}

/* Stream lifecycle events: stream_started/stream_stopped for every input, and
 * publish_started/publish_stopped for pushed ones (RTMP; pulled RTSP cameras report
 * source_connected/source_lost from ingest/rtsp instead). */
static void emit_lifecycle(app *a, sv_stream *s, bool up)
{
    sv_stream_stats st;
    sv_stream_get_stats(s, &st);
    const char *name = sv_stream_name(s);
    json_t *f = json_pack("{s:s, s:s}", "protocol", st.protocol, "remote", st.remote);
    if (!up)
        json_object_set_new(f, "bytes_in", json_integer((json_int_t)st.bytes_in));
    if (strcmp(st.protocol, "rtsp"))
        sv_events_emit(a->events, up ? "publish_started" : "publish_stopped", name,
                       json_deep_copy(f));
    sv_events_emit(a->events, up ? "stream_started" : "stream_stopped", name, f);
}

static void on_publish_event(void *ctx, sv_stream *s) { emit_lifecycle(ctx, s, true); }
static void on_unpublish_event(void *ctx, sv_stream *s) { emit_lifecycle(ctx, s, false); }

static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
    app *a = ctx;
    sv_info(NULL, "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    alarm(5); /* watchdog: never hang on the way out */
    event_base_loopexit(a->base, NULL);
}

/* Configured streams exist (offline) from the start, so the API lists them. */
static void create_configured_streams(app *a)
{
    const char *name;
    json_t *body;
    json_object_foreach((json_t *)sv_settings_all(a->settings, "stream"), name, body)
        sv_registry_get(a->reg, name);
}

/* Export roots as absolute paths: the config's, else {data_dir}/exports. */
static int export_roots(app *a)
{
    int n = a->cfg.nexport_roots ? a->cfg.nexport_roots : 1;
    a->export_roots = calloc((size_t)n, sizeof *a->export_roots);
    if (!a->export_roots)
        return -1;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 16];
        if (a->cfg.nexport_roots) {
            snprintf(path, sizeof path, "%s", a->cfg.export_roots[i]);
        } else {
            char data[PATH_MAX];
            if (!realpath(a->cfg.data_dir, data))
                return -1;
            snprintf(path, sizeof path, "%s/exports", data);
        }
        if (!(a->export_roots[i] = strdup(path)))
            return -1;
        a->nexport_roots++;
    }
    return 0;
}

static int start(app *a)
{
    char everr[512]; /* events wiring: bus, sinks, metrics registry */
    a->events = sv_events_new(a->base, a->cfg.data_dir, a->cfg.tree, a->cfg.file, everr,
                              sizeof everr);
    a->metrics = sv_metrics_new();
    if (!a->events || !a->metrics) {
        fprintf(stderr, "streamvault: %s\n", a->events ? "out of memory" : everr);
        return -1;
    }
    a->wq = sv_workq_new(a->base, 2, 1024);
    sv_dvr_config dc = {a->catalog_path, 5000, 0, a->events};
    a->dvr = a->wq ? sv_dvr_new(a->base, a->wq, a->settings, &dc) : NULL;
    if (!a->dvr)
        return -1;
    sv_live_config lc = {a->cfg.live_segment_ms, a->cfg.live_window};
    a->live = sv_live_new(&lc);
    a->reg = sv_registry_new(a->base);
    if (!a->live || !a->reg)
        return -1;
    sv_registry_hooks hooks = {on_stream_created, on_stream_destroy, NULL,
                               on_publish_event, on_unpublish_event, a}; /* events wiring */
    sv_registry_set_hooks(a->reg, &hooks);
    create_configured_streams(a);
    sv_inputs_config ic = {a->base, a->reg, a->settings, a->wq, a->events}; /* rtsp wiring */
    a->inputs = sv_inputs_new(&ic);                                        /* rtsp wiring */
    sv_inputs_sync(a->inputs);                                             /* rtsp wiring */
    sv_rtmp_config rc = {a->cfg.bind_addr, a->cfg.rtmp_port, 1024, 5000, 10000};
    a->rtmp = sv_rtmp_server_new(a->base, a->reg, &rc);
    a->jobs = sv_jobs_new(a->wq, a->dvr, a->events, (int64_t)a->cfg.archive_max_window_s * 1000);
    if (!a->jobs || export_roots(a))
        return -1;
    a->api = (sv_api){&a->cfg,     a->reg,    a->live,         a->settings,
                      a->dvr,      a->wq,     a->events,       a->metrics,
                      a->jobs,     a->export_roots, a->nexport_roots};
    sv_http_config hc = {a->cfg.bind_addr, a->cfg.http_port, 0};
    a->http = sv_http_server_new(a->base, &hc, sv_api_handle, &a->api);
    sv_metrics_sources ms = {a->reg, a->live, a->dvr, a->settings, a->http, a->events};
    if (a->http && (sv_metrics_add_server_collectors(a->metrics, &ms) ||
                    sv_metrics_add_collector(a->metrics, sv_jobs_collect_metrics, a->jobs)))
        return -1;
    if (!a->rtmp || !a->http)
        return -1;
    sv_info(NULL, "StreamVault %s: RTMP on %d, HTTP on %d, data in %s", SV_VERSION,
            a->cfg.rtmp_port, a->cfg.http_port, a->cfg.data_dir);
    return 0;
}

static void stop(app *a)
{
    sv_inputs_free(a->inputs);      /* rtsp wiring: camera pulls TEARDOWN and unpublish */
    sv_rtmp_server_free(a->rtmp);   /* publishers unpublish: segments close */
    sv_http_server_free(a->http);
    sv_jobs_shutdown(a->jobs);      /* running exports stop; they end as interrupted */
    sv_workq_free(a->wq);           /* running jobs finish, queued ones are cancelled */
    sv_jobs_free(a->jobs);
    sv_registry_free(a->reg);       /* detaches recorders: last segments queued */
    sv_dvr_free(a->dvr);            /* writer drains, catalog closes cleanly */
    sv_events_free(a->events);      /* events wiring: outbox commits what is queued */
    sv_metrics_free(a->metrics);    /* events wiring */
    sv_live_free(a->live);
    sv_settings_free(a->settings);
    free(a->catalog_path);
    for (int i = 0; i < a->nexport_roots; i++)
        free(a->export_roots[i]);
    free(a->export_roots);
}

int main(int argc, char **argv)
{
    flags f = {0};
    int rc = parse_flags(argc, argv, &f);
    if (rc)
        return rc > 0 ? 0 : 2;
    app a;
    memset(&a, 0, sizeof a);
    if (load_config(&a, &f)) {
        sv_config_free(&a.cfg);
        return 1;
    }
    if (f.rebuild_index) {
        rc = sv_dvr_rebuild_index(a.settings, a.catalog_path);
        if (rc < 0)
            fprintf(stderr, "streamvault: rebuild failed: %s\n", sv_strerror(rc));
        sv_settings_free(a.settings);
        free(a.catalog_path);
        sv_config_free(&a.cfg);
        return rc < 0 ? 1 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    a.base = event_base_new();
    struct event *sigint = evsignal_new(a.base, SIGINT, on_signal, &a);
    struct event *sigterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    int status = 1;
    if (start(&a) == 0) {
        event_base_dispatch(a.base);
        status = 0;
    }
    stop(&a);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(a.base);
    sv_info(NULL, "stopped");
    sv_config_free(&a.cfg);
    return status;
}
