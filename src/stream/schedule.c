/* See schedule.h. Windows are compiled to (day mask, from minute, to minute). */
#include "stream/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tz.h"

#define MAX_WINDOWS 64

typedef struct window {
    uint8_t days; /* bit 0 = Monday ... bit 6 = Sunday */
    int from, to; /* minutes of the day */
} window;

struct sv_schedule {
    sv_tz *tz;
    window w[MAX_WINDOWS];
    int n;
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s, size_t len)
{
    for (int i = 0; i < 7; i++)
        if (len == 3 && !strncmp(s, day_names[i], 3))
            return i;
    return -1;
}

/* "mon", "mon-fri", "*" -> mask; 0 on error */
static uint8_t day_span(const char *s)
{
    if (!strcmp(s, "*"))
        return 0x7f;
    const char *dash = strchr(s, '-');
    int a = day_index(s, dash ? (size_t)(dash - s) : strlen(s));
    int b = dash ? day_index(dash + 1, strlen(dash + 1)) : a;
    if (a < 0 || b < 0)
        return 0;
    uint8_t m = 0;
    for (int d = a;; d = (d + 1) % 7) {
        m |= 1u << d;
        if (d == b)
            break;
    }
    return m;
}

static uint8_t parse_days(const json_t *v)
{
    if (json_is_string(v))
        return day_span(json_string_value(v));
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    uint8_t m = 0;
    size_t i;
    const json_t *d;
    json_array_foreach(v, i, d)
    {
        uint8_t one = json_is_string(d) ? day_span(json_string_value(d)) : 0;
        if (!one)
            return 0;
        m |= one;
    }
    return m;
}

static int parse_hhmm(const json_t *v)
{
    int h, m;
    char tail;
    if (!json_is_string(v) || sscanf(json_string_value(v), "%2d:%2d%c", &h, &m, &tail) != 2)
        return -1;
    if (h == 24 && m == 0)
        return 1440;
    return (h < 0 || h > 23 || m < 0 || m > 59) ? -1 : h * 60 + m;
}

static sv_schedule *fail(sv_schedule *s, char *err, size_t errlen, const char *field, int i,
                         const char *why)
{
    if (i >= 0)
        snprintf(err, errlen, "schedule.windows[%d].%s: %s", i, field, why);
    else
        snprintf(err, errlen, "schedule.%s: %s", field, why);
    sv_schedule_free(s);
    return NULL;
}

sv_schedule *sv_schedule_new(const json_t *obj, char *err, size_t errlen)
{
    sv_schedule *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!json_is_object(obj))
        return fail(s, err, errlen, "", -1, "must be an object");
    const json_t *tzv = json_object_get(obj, "timezone");
    if (tzv && !json_is_string(tzv))
        return fail(s, err, errlen, "timezone", -1, "must be a string");
    s->tz = sv_tz_load(tzv ? json_string_value(tzv) : "UTC");
    if (!s->tz)
        return fail(s, err, errlen, "timezone", -1, "unknown time zone");
    const json_t *ws = json_object_get(obj, "windows");
    if (!json_is_array(ws) || json_array_size(ws) > MAX_WINDOWS)
        return fail(s, err, errlen, "windows", -1, "must be an array of at most 64 windows");
    size_t i;
    const json_t *w;
    json_array_foreach(ws, i, w)
    {
        window win = {parse_days(json_object_get(w, "days")),
                      parse_hhmm(json_object_get(w, "from")), parse_hhmm(json_object_get(w, "to"))};
        if (!win.days)
            return fail(s, err, errlen, "days", (int)i, "must be day names like \"mon\", \"mon-fri\" or \"*\"");
        if (win.from < 0 || win.from >= 1440)
            return fail(s, err, errlen, "from", (int)i, "must be HH:MM");
        if (win.to < 0)
            return fail(s, err, errlen, "to", (int)i, "must be HH:MM");
        s->w[s->n++] = win;
    }
    return s;
}

void sv_schedule_free(sv_schedule *s)
{
    if (!s)
        return;
    sv_tz_free(s->tz);
    free(s);
}

bool sv_schedule_active(const sv_schedule *s, int64_t utc_ms)
{
    int64_t local = utc_ms / 1000 + sv_tz_offset(s->tz, utc_ms / 1000);
    int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int minute = (int)((local - days * 86400) / 60);
    int dow = (int)(((days + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday: Monday = 0 */
    int prev = (dow + 6) % 7;
    for (int i = 0; i < s->n; i++) {
        const window *w = &s->w[i];
        if (w->to > w->from) {
            if ((w->days >> dow & 1) && minute >= w->from && minute < w->to)
                return true;
        } else { /* past midnight */
            if (((w->days >> dow & 1) && minute >= w->from) ||
                ((w->days >> prev & 1) && minute < w->to))
                return true;
        }
    }
    return false;
}
