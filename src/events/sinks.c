/* Sink definitions: parsing from the config file (`event_sink NAME { url ...; only
 * event=web_request; }`) and from the API's JSON, filters (`only` / `except` by event name
 * and stream), HMAC-SHA256 signing of bodies, the retry backoff, and the small refcounted
 * objects shared with the outbox thread. Pure code: no I/O, no delivery (deliver.c). */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/config.h"
#include "core/error.h"
#include "events/internal.h"

/* ---- filters ---- */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void sv_events_filter_free(sv_events_filter *f)
{
    if (!f)
        return;
    strv_free(f->event, f->nevent);
    strv_free(f->media, f->nmedia);
    memset(f, 0, sizeof *f);
}

bool sv_events_filter_empty(const sv_events_filter *f) { return !f->nevent && !f->nmedia; }

static bool media_match(const char *pat, const char *media)
{
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*')
        return !strncmp(pat, media, n - 1);
    return !strcmp(pat, media);
}

static bool list_match(char **v, size_t n, const char *value, bool prefix)
{
    if (!n)
        return true;
    if (!value)
        return false;
    for (size_t i = 0; i < n; i++)
        if (prefix ? media_match(v[i], value) : !strcmp(v[i], value))
            return true;
    return false;
}

bool sv_events_filter_match(const sv_events_filter *f, const char *event, const char *media)
{
    return list_match(f->event, f->nevent, event, false) &&
           list_match(f->media, f->nmedia, media, true);
}

bool sv_events_filter_selects(const sv_events_filter *only, const sv_events_filter *except,
                              const char *event, const char *media)
{
    if (!sv_events_filter_match(only, event, media))
        return false;
    return sv_events_filter_empty(except) || !sv_events_filter_match(except, event, media);
}

static int list_add(char ***v, size_t *n, const char *s, size_t len)
{
    if (!len || len > 256 || *n >= SV_EVENTS_FILTER_MAX)
        return SV_EINVAL;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return SV_ENOMEM;
    *v = nv;
    if (!(nv[*n] = strndup(s, len)))
        return SV_ENOMEM;
    (*n)++;
    return 0;
}

int sv_events_filter_add_arg(sv_events_filter *f, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return SV_EINVAL;
    char ***v;
    size_t *n;
    size_t klen = (size_t)(eq - arg);
    if (klen == 5 && !strncmp(arg, "event", 5)) {
        v = &f->event;
        n = &f->nevent;
    } else if (klen == 5 && !strncmp(arg, "media", 5)) {
        v = &f->media;
        n = &f->nmedia;
    } else {
        return SV_EINVAL;
    }
    for (const char *p = eq + 1;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (list_add(v, n, p, len))
            return SV_EINVAL;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int list_from_json(char ***v, size_t *n, const json_t *a)
{
    size_t i;
    const json_t *s;
    if (json_is_string(a))
        return list_add(v, n, json_string_value(a), json_string_length(a));
    if (!json_is_array(a))
        return SV_EINVAL;
    json_array_foreach(a, i, s) {
        if (!json_is_string(s) || list_add(v, n, json_string_value(s), json_string_length(s)))
            return SV_EINVAL;
    }
    return 0;
}

int sv_events_filter_from_json(sv_events_filter *f, const json_t *j, const char **why)
{
    const char *key;
    const json_t *val;
    if (!j || json_is_null(j))
        return 0;
    *why = "a filter must be an object {\"event\": [...], \"media\": [...]}";
    if (!json_is_object(j))
        return SV_EINVAL;
    json_object_foreach((json_t *)j, key, val) {
        int rc = SV_EINVAL;
        if (!strcmp(key, "event"))
            rc = list_from_json(&f->event, &f->nevent, val);
        else if (!strcmp(key, "media"))
            rc = list_from_json(&f->media, &f->nmedia, val);
        if (rc) {
            *why = "filter keys are \"event\" and \"media\": lists of 1..64 non-empty strings";
            return SV_EINVAL;
        }
    }
    return 0;
}

static json_t *strv_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *sv_events_filter_to_json(const sv_events_filter *f)
{
    json_t *j = json_object();
    if (f->nevent)
        json_object_set_new(j, "event", strv_json(f->event, f->nevent));
    if (f->nmedia)
        json_object_set_new(j, "media", strv_json(f->media, f->nmedia));
    return j;
}

/* ---- definitions ---- */

void sv_events_def_init(sv_events_sink_def *d)
{
    memset(d, 0, sizeof *d);
    d->timeout_ms = SV_EVENTS_DEF_TIMEOUT_MS;
    d->max_outbox = SV_EVENTS_DEF_MAX_OUTBOX;
    d->batch = SV_EVENTS_DEF_BATCH;
}

void sv_events_def_free(sv_events_sink_def *d)
{
    if (!d)
        return;
    free(d->url);
    free(d->secret);
    sv_events_filter_free(&d->only);
    sv_events_filter_free(&d->except);
    memset(d, 0, sizeof *d);
}

bool sv_events_sink_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > SV_EVENTS_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *p))
            return false;
    return name[0] != '.';
}

static bool url_valid(const char *u)
{
    return strlen(u) < 2048 && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
           !strpbrk(u, " \r\n\t");
}

typedef struct limits {
    const char *key;
    long min, max;
    size_t off;
} limits;

static const limits num_keys[] = {
    {"timeout", 100, 600000, offsetof(sv_events_sink_def, timeout_ms)},
    {"max_outbox", 1, 10000000, offsetof(sv_events_sink_def, max_outbox)},
    {"batch", 1, 10000, offsetof(sv_events_sink_def, batch)},
};

static const limits *num_key(const char *key)
{
    for (size_t i = 0; i < sizeof num_keys / sizeof num_keys[0]; i++)
        if (!strcmp(num_keys[i].key, key))
            return &num_keys[i];
    return NULL;
}

static int conf_child(sv_events_sink_def *d, const sv_conf_node *c, const char *file, char *err,
                      size_t errlen)
{
    const limits *lim = num_key(c->name);
    bool one = c->nargs == 1 && !c->has_block;
    if (lim) {
        long long v;
        if (!one || sv_parse_int(c->args[0], lim->min, lim->max, &v))
            goto bad;
        *(long *)((char *)d + lim->off) = (long)v;
        return 0;
    }
    if (!strcmp(c->name, "url") && one && url_valid(c->args[0]))
        return (free(d->url), d->url = strdup(c->args[0])) ? 0 : SV_ENOMEM;
    if (!strcmp(c->name, "secret") && one && c->args[0][0])
        return (free(d->secret), d->secret = strdup(c->args[0])) ? 0 : SV_ENOMEM;
    if ((!strcmp(c->name, "only") || !strcmp(c->name, "except")) && c->nargs >= 1 &&
        !c->has_block) {
        sv_events_filter *f = c->name[0] == 'o' ? &d->only : &d->except;
        for (int i = 0; i < c->nargs; i++)
            if (sv_events_filter_add_arg(f, c->args[i]))
                goto bad;
        return 0;
    }
    if (strcmp(c->name, "url") && strcmp(c->name, "secret") && strcmp(c->name, "only") &&
        strcmp(c->name, "except")) {
        snprintf(err, errlen, "%s:%d: unknown event_sink directive '%s'", file, c->line, c->name);
        return SV_EINVAL;
    }
bad:
    if (lim)
        snprintf(err, errlen, "%s:%d: %s needs one integer in %ld..%ld", file, c->line, c->name,
                 lim->min, lim->max);
    else if (!strcmp(c->name, "url"))
        snprintf(err, errlen, "%s:%d: url needs one http:// or https:// URL", file, c->line);
    else if (!strcmp(c->name, "secret"))
        snprintf(err, errlen, "%s:%d: secret needs one non-empty argument", file, c->line);
    else
        snprintf(err, errlen, "%s:%d: %s takes event=NAME[,NAME...] or media=STREAM[,...]",
                 file, c->line, c->name);
    return SV_EINVAL;
}

int sv_events_def_from_conf(sv_events_sink_def *d, const sv_conf_node *n, const char *file,
                            char *err, size_t errlen)
{
    sv_events_def_init(d);
    if (n->nargs != 1 || !n->has_block || !sv_events_sink_name_valid(n->args[0])) {
        snprintf(err, errlen, "%s:%d: event_sink needs a name ([A-Za-z0-9_.-], <= 64) and a "
                 "{ ... } block", file, n->line);
        return SV_EINVAL;
    }
    for (const sv_conf_node *c = n->children; c; c = c->next) {
        int rc = conf_child(d, c, file, err, errlen);
        if (rc)
            return rc;
    }
    if (!d->url) {
        snprintf(err, errlen, "%s:%d: event_sink %s needs a url", file, n->line, n->args[0]);
        return SV_EINVAL;
    }
    return 0;
}

static int json_num(sv_events_sink_def *d, const char *key, const json_t *v, char *err,
                    size_t errlen)
{
    const limits *lim = num_key(key);
    if (!json_is_integer(v) || json_integer_value(v) < lim->min ||
        json_integer_value(v) > lim->max) {
        snprintf(err, errlen, "%s must be an integer in %ld..%ld", key, lim->min, lim->max);
        return SV_EINVAL;
    }
    *(long *)((char *)d + lim->off) = (long)json_integer_value(v);
    return 0;
}

static int json_key(sv_events_sink_def *d, const char *key, const json_t *v, char *err,
                    size_t errlen)
{
    const char *why = NULL;
    if (num_key(key))
        return json_num(d, key, v, err, errlen);
    if (!strcmp(key, "url")) {
        if (!json_is_string(v) || !url_valid(json_string_value(v))) {
            snprintf(err, errlen, "url must be an http:// or https:// URL");
            return SV_EINVAL;
        }
        free(d->url);
        return (d->url = strdup(json_string_value(v))) ? 0 : SV_ENOMEM;
    }
    if (!strcmp(key, "secret")) {
        free(d->secret);
        d->secret = NULL;
        if (json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
            return 0;
        if (!json_is_string(v) || json_string_length(v) > 1024) {
            snprintf(err, errlen, "secret must be a string");
            return SV_EINVAL;
        }
        return (d->secret = strdup(json_string_value(v))) ? 0 : SV_ENOMEM;
    }
    if (!strcmp(key, "only") || !strcmp(key, "except")) {
        sv_events_filter *f = key[0] == 'o' ? &d->only : &d->except;
        if (sv_events_filter_from_json(f, v, &why)) {
            snprintf(err, errlen, "%s: %s", key, why);
            return SV_EINVAL;
        }
        return 0;
    }
    if (!strcmp(key, "name") || !strcmp(key, "source") || !strcmp(key, "stats") ||
        !strcmp(key, "signed"))
        return 0; /* read-only fields of GET, tolerated so a GET body can be PUT back */
    snprintf(err, errlen, "unknown field '%.64s'", key);
    return SV_EINVAL;
}

int sv_events_def_from_json(sv_events_sink_def *d, const json_t *j, char *err, size_t errlen)
{
    const char *key;
    const json_t *v;
    sv_events_def_init(d);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "body must be a JSON object");
        return SV_EINVAL;
    }
    json_object_foreach((json_t *)j, key, v) {
        int rc = json_key(d, key, v, err, errlen);
        if (rc)
            return rc;
    }
    if (!d->url) {
        snprintf(err, errlen, "url is required");
        return SV_EINVAL;
    }
    return 0;
}

json_t *sv_events_def_to_json(const sv_events_sink_def *d, bool with_secret)
{
    json_t *j = json_object();
    json_object_set_new(j, "url", json_string(d->url));
    json_object_set_new(j, "only", sv_events_filter_to_json(&d->only));
    json_object_set_new(j, "except", sv_events_filter_to_json(&d->except));
    if (with_secret && d->secret)
        json_object_set_new(j, "secret", json_string(d->secret));
    if (!with_secret)
        json_object_set_new(j, "signed", json_boolean(d->secret != NULL));
    json_object_set_new(j, "timeout", json_integer(d->timeout_ms));
    json_object_set_new(j, "max_outbox", json_integer(d->max_outbox));
    json_object_set_new(j, "batch", json_integer(d->batch));
    return j;
}

/* ---- signing, backoff ---- */

int sv_events_sign(const char *secret, const void *body, size_t len, char *out, size_t size)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &mlen) ||
        size < (size_t)mlen * 2 + 1)
        return SV_EIO;
    for (unsigned i = 0; i < mlen; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[2 * mlen] = '\0';
    return 0;
}

int64_t sv_events_backoff_ms(unsigned attempt, int64_t min_ms, int64_t max_ms)
{
    int64_t d = min_ms;
    for (unsigned i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

/* ---- shared objects ---- */

sv_events_body *sv_events_body_new(const char *s, size_t len)
{
    sv_events_body *b = malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, s, len);
    b->data[len] = '\0';
    return b;
}

void sv_events_body_ref(sv_events_body *b) { atomic_fetch_add(&b->refs, 1); }

void sv_events_body_unref(sv_events_body *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

sv_events_sink_stats *sv_events_stats_new(void)
{
    sv_events_sink_stats *st = calloc(1, sizeof *st);
    if (st)
        atomic_init(&st->refs, 1);
    return st;
}

void sv_events_stats_ref(sv_events_sink_stats *st) { atomic_fetch_add(&st->refs, 1); }

void sv_events_stats_unref(sv_events_sink_stats *st)
{
    if (st && atomic_fetch_sub(&st->refs, 1) == 1)
        free(st);
}

void sv_events_rows_free(sv_events_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].body);
    free(rows);
}
