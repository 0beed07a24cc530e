/* See settings.h. Entries are kept as jansson objects in two maps (templates, streams);
 * the global level is a dvr object from the config file. Validation names the field. */
#include "stream/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "stream/stream.h"

#define DEFAULT_SEGMENT_MS 2000
#define MAX_SEGMENT_MS 600000
#define MAX_EXPIRATION_S (20LL * 365 * 86400)

struct sv_settings {
    char *default_root;
    json_t *global_dvr;
    json_t *templates; /* name -> {"prefixes": [...], "dvr": {...}} */
    json_t *streams;   /* name -> {"dvr": {...}, "inputs": [...], ...} */
    sv_settings_persist_fn persist;
    void *persist_ctx;
};

void sv_dvr_settings_clear(sv_dvr_settings *d)
{
    free(d->root);
    sv_schedule_free(d->schedule);
    memset(d, 0, sizeof *d);
}

sv_settings *sv_settings_new(const char *default_root)
{
    sv_settings *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->default_root = strdup(default_root);
    st->templates = json_object();
    st->streams = json_object();
    return st;
}

void sv_settings_free(sv_settings *st)
{
    if (!st)
        return;
    free(st->default_root);
    json_decref(st->global_dvr);
    json_decref(st->templates);
    json_decref(st->streams);
    free(st);
}

void sv_settings_set_persist(sv_settings *st, sv_settings_persist_fn fn, void *ctx)
{
    st->persist = fn;
    st->persist_ctx = ctx;
}

static int fail(char *err, size_t errlen, const char *field, const char *why)
{
    snprintf(err, errlen, "%s: %s", field, why);
    return SV_EINVAL;
}

static int check_int(const json_t *v, const char *field, long long min, long long max,
                     char *err, size_t errlen)
{
    if (!json_is_integer(v))
        return fail(err, errlen, field, "must be an integer");
    long long x = json_integer_value(v);
    if (x < min || x > max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %lld and %lld", min, max);
        return fail(err, errlen, field, why);
    }
    return 0;
}

/* disk_limit: integer 1..100 = percent of the filesystem, larger = bytes; or "N%". */
static int check_disk_limit(const json_t *v, char *err, size_t errlen)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        long long pct;
        size_t n = strlen(s);
        char num[24];
        if (n < 2 || n > sizeof num || s[n - 1] != '%')
            return fail(err, errlen, "dvr.disk_limit", "must be bytes or a percentage like \"90%\"");
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        if (sv_parse_int(num, 1, 100, &pct))
            return fail(err, errlen, "dvr.disk_limit", "percentage must be 1..100");
        return 0;
    }
    return check_int(v, "dvr.disk_limit", 1, INT64_MAX / 2, err, errlen);
}

int sv_settings_check_dvr(const json_t *dvr, char *err, size_t errlen)
{
    if (!json_is_object(dvr))
        return fail(err, errlen, "dvr", "must be an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)dvr, key, v)
    {
        int rc = 0;
        if (!strcmp(key, "enabled")) {
            if (!json_is_boolean(v))
                rc = fail(err, errlen, "dvr.enabled", "must be true or false");
        } else if (!strcmp(key, "root")) {
            if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 1024)
                rc = fail(err, errlen, "dvr.root", "must be a non-empty path");
        } else if (!strcmp(key, "segment_duration")) {
            rc = check_int(v, "dvr.segment_duration", 500, MAX_SEGMENT_MS, err, errlen);
        } else if (!strcmp(key, "expiration")) {
            rc = check_int(v, "dvr.expiration", 0, MAX_EXPIRATION_S, err, errlen);
        } else if (!strcmp(key, "disk_limit")) {
            rc = check_disk_limit(v, err, errlen);
        } else {
            char field[96];
            snprintf(field, sizeof field, "dvr.%s", key);
            rc = fail(err, errlen, field, "unknown field");
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int check_schedule(const json_t *body, char *err, size_t errlen)
{
    const json_t *v = json_object_get(body, "schedule");
    if (!v || json_is_null(v))
        return 0;
    sv_schedule *s = sv_schedule_new(v, err, errlen);
    sv_schedule_free(s);
    return s ? 0 : SV_EINVAL;
}

static int check_template(const json_t *body, char *err, size_t errlen)
{
    const json_t *p = json_object_get(body, "prefixes");
    if (!json_is_array(p) || json_array_size(p) == 0)
        return fail(err, errlen, "prefixes", "must be a non-empty array of strings");
    size_t i;
    const json_t *v;
    json_array_foreach(p, i, v)
    {
        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 200)
            return fail(err, errlen, "prefixes", "must be a non-empty array of strings");
    }
    const char *key;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "prefixes") && strcmp(key, "dvr") && strcmp(key, "name") &&
            strcmp(key, "schedule"))
            return fail(err, errlen, key, "unknown field");
    }
    return 0;
}

static int check_stream(const json_t *body, char *err, size_t errlen)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!strcmp(key, "inputs")) {
            if (!json_is_array(v))
                return fail(err, errlen, "inputs", "must be an array");
        } else if (strcmp(key, "dvr") && strcmp(key, "name") && strcmp(key, "schedule") &&
                   strcmp(key, "title")) {
            return fail(err, errlen, key, "unknown field");
        }
    }
    return 0;
}

static json_t *map_of(const sv_settings *st, const char *kind)
{
    if (!strcmp(kind, "template"))
        return st->templates;
    if (!strcmp(kind, "stream"))
        return st->streams;
    return NULL;
}

int sv_settings_put(sv_settings *st, const char *kind, const char *name, const json_t *body,
                    bool persist, char *err, size_t errlen)
{
    json_t *map = map_of(st, kind);
    if (!map || !json_is_object(body))
        return fail(err, errlen, "body", "must be a JSON object");
    bool is_template = map == st->templates;
    if (!is_template && !sv_stream_name_valid(name))
        return fail(err, errlen, "name", "invalid stream name");
    if (is_template && (!*name || strlen(name) > 100 || strchr(name, '/')))
        return fail(err, errlen, "name", "invalid template name");
    int rc = is_template ? check_template(body, err, errlen) : check_stream(body, err, errlen);
    if (!rc)
        rc = check_schedule(body, err, errlen);
    const json_t *dvr = json_object_get(body, "dvr");
    if (!rc && dvr)
        rc = sv_settings_check_dvr(dvr, err, errlen);
    if (rc)
        return rc;
    json_t *copy = json_deep_copy(body);
    json_object_del(copy, "name");
    json_object_set_new(map, name, copy);
    if (persist && st->persist)
        st->persist(st->persist_ctx, kind, name, copy);
    return 0;
}

int sv_settings_delete(sv_settings *st, const char *kind, const char *name)
{
    json_t *map = map_of(st, kind);
    if (!map || json_object_del(map, name))
        return SV_ENOTFOUND;
    if (st->persist)
        st->persist(st->persist_ctx, kind, name, NULL);
    return 0;
}

const json_t *sv_settings_get(const sv_settings *st, const char *kind, const char *name)
{
    json_t *map = map_of(st, kind);
    return map ? json_object_get(map, name) : NULL;
}

const json_t *sv_settings_all(const sv_settings *st, const char *kind) { return map_of(st, kind); }

const char *sv_settings_template_for(const sv_settings *st, const char *stream)
{
    const char *best = NULL, *key;
    size_t best_len = 0;
    json_t *t;
    json_object_foreach(st->templates, key, t)
    {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(t, "prefixes"), i, p)
        {
            size_t n = json_string_length(p);
            if (n > best_len && !strncmp(stream, json_string_value(p), n)) {
                best = key;
                best_len = n;
            }
        }
    }
    return best;
}

json_t *sv_settings_effective(const sv_settings *st, const char *stream)
{
    json_t *eff = json_object();
    json_t *dvr = st->global_dvr ? json_deep_copy(st->global_dvr) : NULL;
    const char *tname = sv_settings_template_for(st, stream);
    const json_t *levels[2] = {tname ? json_object_get(st->templates, tname) : NULL,
                               json_object_get(st->streams, stream)};
    for (int i = 0; i < 2; i++) {
        if (!levels[i])
            continue;
        json_object_update(eff, (json_t *)levels[i]); /* later levels win */
        const json_t *d = json_object_get(levels[i], "dvr");
        if (!d)
            continue;
        if (!dvr)
            dvr = json_object();
        if (!json_object_get(d, "enabled")) /* a dvr object enables unless it says not */
            json_object_set_new(dvr, "enabled", json_true());
        json_object_update(dvr, (json_t *)d);
    }
    json_object_del(eff, "prefixes");
    if (dvr)
        json_object_set_new(eff, "dvr", dvr);
    if (tname)
        json_object_set_new(eff, "template", json_string(tname));
    return eff;
}

/* ---- config file ---- */

static json_t *scalar(const char *s)
{
    long long v;
    if (!sv_parse_int(s, INT64_MIN / 2, INT64_MAX / 2, &v))
        return json_integer(v);
    if (!strcmp(s, "true") || !strcmp(s, "on"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "off"))
        return json_false();
    return json_string(s);
}

/* A block of `key value;` lines as a JSON object. */
static json_t *block_json(const sv_conf_node *block, int *bad_line)
{
    json_t *o = json_object();
    for (const sv_conf_node *c = block->children; c; c = c->next) {
        if (c->nargs != 1 || c->has_block) {
            *bad_line = c->line;
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, c->name, scalar(c->args[0]));
    }
    return o;
}

static int conf_line_of(const sv_conf_node *n, const char *field)
{
    const char *dot = strchr(field, '.');
    for (const sv_conf_node *c = n->children; c; c = c->next) {
        if (dot && !strncmp(c->name, field, (size_t)(dot - field)) && !c->name[dot - field])
            return conf_line_of(c, dot + 1) ? conf_line_of(c, dot + 1) : c->line;
        if (!dot && !strcmp(c->name, field))
            return c->line;
    }
    return 0;
}

/* Line of the directive a validation message ("dvr.expiration: ...") names, or 0. */
static int field_line(const sv_conf_node *n, const char *why)
{
    char field[128];
    size_t len = strcspn(why, ":");
    if (len >= sizeof field)
        return 0;
    memcpy(field, why, len);
    field[len] = '\0';
    return conf_line_of(n, field);
}

/* template/stream block -> the JSON body the API would take. */
static json_t *entry_json(const sv_conf_node *n, int *bad_line)
{
    json_t *body = json_object();
    for (const sv_conf_node *c = n->children; c; c = c->next) {
        if (!strcmp(c->name, "dvr") && c->has_block) {
            json_t *d = block_json(c, bad_line);
            if (!d)
                goto fail;
            json_object_set_new(body, "dvr", d);
        } else if ((!strcmp(c->name, "prefix") || !strcmp(c->name, "prefixes")) && c->nargs) {
            json_t *arr = json_object_get(body, "prefixes");
            if (!arr)
                json_object_set_new(body, "prefixes", arr = json_array());
            for (int i = 0; i < c->nargs; i++)
                json_array_append_new(arr, json_string(c->args[i]));
        } else if (!strcmp(c->name, "input") && c->nargs == 1) {
            json_t *arr = json_object_get(body, "inputs");
            if (!arr)
                json_object_set_new(body, "inputs", arr = json_array());
            json_array_append_new(arr, json_pack("{s:s}", "url", c->args[0]));
        } else if (c->nargs == 1 && !c->has_block) {
            json_object_set_new(body, c->name, scalar(c->args[0]));
        } else {
            *bad_line = c->line;
            goto fail;
        }
    }
    return body;
fail:
    json_decref(body);
    return NULL;
}

static int load_entry(sv_settings *st, const sv_conf_node *n, const char *file, char *err,
                      size_t errlen)
{
    int bad = n->line;
    char why[256];
    if (n->nargs != 1 || !n->has_block) {
        snprintf(err, errlen, "%s:%d: %s needs a name and a { } block", file, n->line, n->name);
        return SV_EINVAL;
    }
    json_t *body = entry_json(n, &bad);
    if (!body) {
        snprintf(err, errlen, "%s:%d: malformed directive in %s %s", file, bad, n->name,
                 n->args[0]);
        return SV_EINVAL;
    }
    int rc = sv_settings_put(st, n->name, n->args[0], body, false, why, sizeof why);
    json_decref(body);
    if (rc) {
        int line = field_line(n, why);
        snprintf(err, errlen, "%s:%d: %s %s: %s", file, line ? line : n->line, n->name,
                 n->args[0], why);
    }
    return rc;
}

int sv_settings_load_config(sv_settings *st, const sv_conf_node *tree, const char *file,
                            char *err, size_t errlen)
{
    for (const sv_conf_node *n = tree; n; n = n->next) {
        int rc = 0, bad = n->line;
        char why[256];
        if (!strcmp(n->name, "dvr")) {
            json_t *d = n->has_block ? block_json(n, &bad) : NULL;
            if (!d) {
                snprintf(err, errlen, "%s:%d: dvr needs a { key value; } block", file, bad);
                return SV_EINVAL;
            }
            if (sv_settings_check_dvr(d, why, sizeof why)) {
                int line = field_line(n, why + 4);
                snprintf(err, errlen, "%s:%d: %s", file, line ? line : n->line, why);
                json_decref(d);
                return SV_EINVAL;
            }
            json_decref(st->global_dvr);
            st->global_dvr = d;
        } else if (!strcmp(n->name, "template") || !strcmp(n->name, "stream")) {
            rc = load_entry(st, n, file, err, errlen);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int64_t int_field(const json_t *o, const char *k, int64_t def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

void sv_settings_dvr(const sv_settings *st, const char *stream, sv_dvr_settings *out)
{
    memset(out, 0, sizeof *out);
    json_t *eff = sv_settings_effective(st, stream);
    const json_t *dvr = json_object_get(eff, "dvr");
    const json_t *root = json_object_get(dvr, "root");
    const json_t *en = json_object_get(dvr, "enabled");
    out->enabled = dvr && (en ? json_is_true(en) : true);
    out->root = strdup(json_is_string(root) ? json_string_value(root) : st->default_root);
    out->segment_duration_ms = int_field(dvr, "segment_duration", DEFAULT_SEGMENT_MS);
    out->expiration_s = int_field(dvr, "expiration", 0);
    const json_t *lim = json_object_get(dvr, "disk_limit");
    if (json_is_string(lim))
        out->disk_limit_percent = atoi(json_string_value(lim));
    else if (json_is_integer(lim) && json_integer_value(lim) <= 100)
        out->disk_limit_percent = (int)json_integer_value(lim);
    else if (json_is_integer(lim))
        out->disk_limit_bytes = json_integer_value(lim);
    const json_t *sched = json_object_get(eff, "schedule");
    if (json_is_object(sched)) {
        char err[128];
        out->schedule = sv_schedule_new(sched, err, sizeof err); /* validated on the way in */
    }
    json_decref(eff);
}
