/* Private interface between the files of events/: sink definitions and filters (sinks.c),
 * delivery over libcurl multi (deliver.c), the durable outbox thread (outbox.c) and the
 * bus itself (events.c). Not for other subsystems: they use events.h and metrics.h.
 *
 * Threads: everything here runs on the loop thread except the outbox thread's own code,
 * the refcounts of sv_events_body / sv_events_sink_stats and the stats atomics, which
 * both sides touch. */
#ifndef SV_EVENTS_INTERNAL_H
#define SV_EVENTS_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/events.h"

struct event_base;
struct event;

#define SV_EVENTS_MAX_SINKS 64
#define SV_EVENTS_NAME_MAX 64   /* sink name length */
#define SV_EVENTS_FILTER_MAX 64 /* values per filter key */
#define SV_EVENTS_BACKOFF_MIN_MS 100
#define SV_EVENTS_BACKOFF_MAX_MS 30000
#define SV_EVENTS_DEF_TIMEOUT_MS 10000
#define SV_EVENTS_DEF_MAX_OUTBOX 100000
#define SV_EVENTS_DEF_BATCH 100

/* ---- filters (sinks.c) ---- */

/* One `only` or `except` clause: an event matches when every non-empty list contains its
 * value (event name; media, where a trailing '*' matches by prefix). Empty: matches all. */
typedef struct sv_events_filter {
    char **event;
    size_t nevent;
    char **media;
    size_t nmedia;
} sv_events_filter;

void sv_events_filter_free(sv_events_filter *f);
bool sv_events_filter_empty(const sv_events_filter *f);
bool sv_events_filter_match(const sv_events_filter *f, const char *event, const char *media);
/* Adds the values of a config argument "event=a,b" or "media=live/cam1". 0 or SV_EINVAL. */
int sv_events_filter_add_arg(sv_events_filter *f, const char *arg);
/* From JSON {"event": [...], "media": [...]} (j NULL: empty). 0 or SV_EINVAL, *why set. */
int sv_events_filter_from_json(sv_events_filter *f, const json_t *j, const char **why);
json_t *sv_events_filter_to_json(const sv_events_filter *f); /* new reference */
/* Selected by `only` (empty: everything) and not matched by a non-empty `except`. */
bool sv_events_filter_selects(const sv_events_filter *only, const sv_events_filter *except,
                              const char *event, const char *media);

/* ---- sink definitions (sinks.c) ---- */

typedef struct sv_events_sink_def {
    char *url;
    char *secret;    /* NULL: bodies are not signed */
    long timeout_ms; /* per POST */
    long max_outbox; /* events kept per sink, oldest dropped past it */
    long batch;      /* events per POST */
    sv_events_filter only, except;
} sv_events_sink_def;

void sv_events_def_init(sv_events_sink_def *d);
void sv_events_def_free(sv_events_sink_def *d);
bool sv_events_sink_name_valid(const char *name);
/* From an `event_sink NAME { ... }` block. Errors "FILE:LINE: reason". */
struct sv_conf_node;
int sv_events_def_from_conf(sv_events_sink_def *d, const struct sv_conf_node *n,
                            const char *file, char *err, size_t errlen);
/* From the API/persisted JSON. Errors: reason in err. */
int sv_events_def_from_json(sv_events_sink_def *d, const json_t *j, char *err, size_t errlen);
/* The definition as JSON; with_secret: include the secret (for persistence) instead of
 * "signed": true. New reference. */
json_t *sv_events_def_to_json(const sv_events_sink_def *d, bool with_secret);

/* HMAC-SHA256 of body with secret as lowercase hex into out (>= 65 bytes). 0 or SV_EIO. */
int sv_events_sign(const char *secret, const void *body, size_t len, char *out, size_t size);
/* Delay before retry number `attempt` (1-based): min * 2^(attempt-1), capped at max. */
int64_t sv_events_backoff_ms(unsigned attempt, int64_t min_ms, int64_t max_ms);

/* ---- shared bodies and stats ---- */

/* One serialized event, shared by the outbox ops of every sink that selected it. */
typedef struct sv_events_body {
    atomic_uint refs;
    size_t len;
    char data[]; /* NUL-terminated JSON object */
} sv_events_body;

sv_events_body *sv_events_body_new(const char *s, size_t len); /* refs = 1 */
void sv_events_body_ref(sv_events_body *b);
void sv_events_body_unref(sv_events_body *b); /* NULL-safe */

/* Counters of one sink. The loop side updates delivered/failures/posts, the outbox thread
 * depth/dropped. Refcounted: the sink holds one reference, the outbox thread one while
 * the sink is registered with it. */
typedef struct sv_events_sink_stats {
    atomic_uint refs;
    atomic_uint_fast64_t depth;     /* events in the outbox */
    atomic_uint_fast64_t dropped;   /* dropped past max_outbox or on a full queue */
    atomic_uint_fast64_t delivered; /* events acknowledged by a 2xx */
    atomic_uint_fast64_t failures;  /* failed POST attempts */
    atomic_uint_fast64_t posts;     /* successful POSTs */
} sv_events_sink_stats;

sv_events_sink_stats *sv_events_stats_new(void); /* refs = 1 */
void sv_events_stats_ref(sv_events_sink_stats *st);
void sv_events_stats_unref(sv_events_sink_stats *st); /* NULL-safe */

/* ---- outbox (outbox.c) ---- */

typedef struct sv_events_row {
    int64_t id;
    char *body; /* malloc'd JSON object */
    size_t len;
} sv_events_row;

void sv_events_rows_free(sv_events_row *rows, size_t n);

typedef struct sv_events_outbox sv_events_outbox;
/* A load finished: rows (owned by the callee, may be NULL with n 0) of `sink`, in id
 * order. Called on the loop thread. */
typedef void (*sv_events_loaded_fn)(void *ctx, const char *sink, uint64_t cookie,
                                    sv_events_row *rows, size_t n);

/* Opens (creating) the database, reads the highest event id and the sinks saved by the
 * API, then starts the thread. max_queue bounds queued appends. NULL, reason in err. */
sv_events_outbox *sv_events_outbox_open(struct event_base *base, const char *path,
                                        size_t max_queue, sv_events_loaded_fn fn, void *ctx,
                                        char *err, size_t errlen);
/* Commits every queued op, stops the thread, closes the database. Pending load results
 * are discarded. NULL-safe. */
void sv_events_outbox_close(sv_events_outbox *ob);
int64_t sv_events_outbox_max_id(const sv_events_outbox *ob);
/* Sinks saved by the API at open time: {name: definition JSON}. Borrowed. */
const json_t *sv_events_outbox_saved(const sv_events_outbox *ob);

/* The ops below are queued and applied in order by the thread. */
void sv_events_outbox_register(sv_events_outbox *ob, const char *sink, long max_outbox,
                               sv_events_sink_stats *st);
/* Appends body (a reference is taken) as event `id`. On a full queue nothing is queued
 * and SV_ETOOBIG is returned (the caller counts the drop). */
int sv_events_outbox_append(sv_events_outbox *ob, const char *sink, int64_t id,
                            sv_events_body *body);
void sv_events_outbox_ack(sv_events_outbox *ob, const char *sink, int64_t upto_id);
void sv_events_outbox_load(sv_events_outbox *ob, const char *sink, int64_t after_id,
                           long limit, uint64_t cookie);
/* Unregisters the sink, deletes its queued events and its saved definition. */
void sv_events_outbox_remove(sv_events_outbox *ob, const char *sink);
/* Saves an API sink definition (takes the reference). */
void sv_events_outbox_save(sv_events_outbox *ob, const char *sink, json_t *def);
/* Deletes queued events of every sink not registered (sinks gone from the config). */
void sv_events_outbox_prune(sv_events_outbox *ob);
/* Blocks until every op queued so far is committed (tests, benchmarks). */
void sv_events_outbox_sync(sv_events_outbox *ob);

/* ---- delivery (deliver.c) ---- */

typedef struct sv_events_http sv_events_http;
void sv_events_curl_init(void); /* curl_global_init, once per process */
sv_events_http *sv_events_http_new(struct event_base *base);
void sv_events_http_free(sv_events_http *h); /* sinks must be stopped first; NULL-safe */

enum { SV_SINK_IDLE = 0, SV_SINK_LOADING, SV_SINK_SENDING, SV_SINK_BACKOFF };

typedef struct sv_events_sink {
    char *name;
    sv_events_sink_def def;
    bool from_config;
    uint64_t cookie; /* this instance, to recognise its outbox loads */
    sv_events_sink_stats *stats;
    sv_events_outbox *ob; /* borrowed */
    sv_events_http *http; /* borrowed */
    /* delivery state */
    int state;
    bool dirty;         /* appended since the last load was queued */
    int64_t acked_id;   /* highest id acknowledged */
    sv_events_row *rows; /* the batch being sent */
    size_t nrows;
    char *body;          /* JSON array of rows */
    size_t body_len;
    void *easy;          /* CURL * while SENDING */
    void *hdrs;          /* struct curl_slist * */
    unsigned attempt;    /* failed attempts of the current batch */
    struct event *retry_ev;
    int64_t retry_at_mono;
    int64_t last_ok_utc_ms;
    long last_status;
    char last_error[160];
    struct sv_events_sink *next;
} sv_events_sink;

/* Creates a sink (takes def), registers it with the outbox. NULL on OOM. */
sv_events_sink *sv_events_sink_new(const char *name, sv_events_sink_def *def, bool from_config,
                                   uint64_t cookie, sv_events_outbox *ob, sv_events_http *h,
                                   struct event_base *base);
/* Aborts delivery and frees (the outbox keeps its events unless removed). NULL-safe. */
void sv_events_sink_free(sv_events_sink *s);
/* Something was appended for the sink: start a load unless one is under way. */
void sv_events_sink_kick(sv_events_sink *s);
/* An outbox load finished (takes rows). */
void sv_events_sink_loaded(sv_events_sink *s, sv_events_row *rows, size_t n);
/* Delivery state as JSON (state, last error, retry, counters). New reference. */
json_t *sv_events_sink_status(const sv_events_sink *s);

/* ---- the bus (events.c), shared with the API handlers and collectors ---- */

#include <pthread.h>

#define SV_EVENTS_RING 4096        /* recent events kept for GET /events */
#define SV_EVENTS_ASYNC_MAX 65536  /* events queued by other threads */
#define SV_EVENTS_QUEUE_MAX 100000 /* appends queued for the outbox thread */
#define SV_EVENTS_NAMES 64         /* distinct event names counted for metrics */

typedef struct sv_events_async {
    char *name, *media;
    json_t *fields;
    struct sv_events_async *next;
} sv_events_async;

struct sv_events {
    struct event_base *base;
    sv_events_outbox *ob;
    sv_events_http *http;
    sv_events_sink *sinks; /* in creation order */
    size_t nsinks;
    uint64_t next_cookie;
    int64_t last_id;
    /* ring of recent events (json_t references), oldest at ring_start */
    json_t **ring;
    size_t ring_start, ring_len;
    /* sv_events_emit_async hand-over */
    pthread_mutex_t amu;
    sv_events_async *ahead, *atail;
    size_t alen;
    struct event *async_ev;
    /* counters */
    uint64_t emitted;
    atomic_uint_fast64_t async_dropped;
    int64_t last_drop_log_mono;
    struct {
        char name[48];
        uint64_t n;
    } names[SV_EVENTS_NAMES];
    size_t nnames;
    uint64_t other_names;
};

sv_events_sink *sv_events_find_sink(sv_events *bus, const char *name);
/* Adds a sink (takes def) and starts delivering what its outbox holds. */
int sv_events_add_sink(sv_events *bus, const char *name, sv_events_sink_def *def,
                       bool from_config);
/* Removes an API sink and its queued events. */
void sv_events_remove_sink(sv_events *bus, const char *name);

#endif
