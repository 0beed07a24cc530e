/* Unit tests: time zones (TZif) and weekly recording schedules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/tz.h"
#include "stream/schedule.h"

/* 2026-07-15 12:00:00 UTC (a Wednesday), 2026-01-14 12:00:00 UTC (a Wednesday) */
#define SUMMER 1784116800LL
#define WINTER 1768392000LL

static void test_zone_offsets(void **state)
{
    sv_tz *tz = sv_tz_load("Europe/Berlin");
    assert_non_null(tz);
    assert_int_equal(sv_tz_offset(tz, SUMMER), 7200);
    assert_int_equal(sv_tz_offset(tz, WINTER), 3600);
    sv_tz_free(tz);
    tz = sv_tz_load("America/New_York");
    assert_non_null(tz);
    assert_int_equal(sv_tz_offset(tz, SUMMER), -4 * 3600);
    assert_int_equal(sv_tz_offset(tz, WINTER), -5 * 3600);
    sv_tz_free(tz);
    tz = sv_tz_load("+05:30");
    assert_int_equal(sv_tz_offset(tz, SUMMER), 19800);
    sv_tz_free(tz);
    assert_null(sv_tz_load("Nowhere/Atlantis"));
    assert_null(sv_tz_load("../../etc/passwd"));
    assert_null(sv_tz_load("/etc/localtime"));
    uint8_t junk[100] = "TZif2";
    assert_null(sv_tz_parse(junk, sizeof junk));
}

static sv_schedule *compile(const char *text, char *err)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    sv_schedule *s = sv_schedule_new(j, err, 200);
    json_decref(j);
    return s;
}

static void test_office_hours_in_berlin(void **state)
{
    char err[200];
    sv_schedule *s = compile("{\"timezone\":\"Europe/Berlin\",\"windows\":[{\"days\":\"mon-fri\","
                             "\"from\":\"08:00\",\"to\":\"18:00\"}]}", err);
    assert_non_null(s);
    /* Wed 12:00 UTC = 14:00 CEST: inside; 16:30 UTC = 18:30: outside; 05:59 UTC = 07:59 */
    assert_true(sv_schedule_active(s, SUMMER * 1000));
    assert_false(sv_schedule_active(s, (SUMMER + 4 * 3600 + 1800) * 1000));
    assert_false(sv_schedule_active(s, (SUMMER - 6 * 3600 - 60) * 1000));
    assert_true(sv_schedule_active(s, (SUMMER - 6 * 3600) * 1000)); /* 08:00 exactly */
    /* Saturday 2026-07-18 12:00 UTC: weekend */
    assert_false(sv_schedule_active(s, (SUMMER + 3 * 86400) * 1000));
    sv_schedule_free(s);
}

static void test_window_past_midnight(void **state)
{
    char err[200];
    sv_schedule *s = compile("{\"windows\":[{\"days\":[\"fri\"],\"from\":\"22:00\",\"to\":\"06:00\"}]}",
                             err);
    assert_non_null(s);
    int64_t fri = SUMMER + 2 * 86400; /* Friday 12:00 UTC */
    assert_false(sv_schedule_active(s, fri * 1000));
    assert_true(sv_schedule_active(s, (fri + 11 * 3600) * 1000));  /* Fri 23:00 */
    assert_true(sv_schedule_active(s, (fri + 17 * 3600) * 1000));  /* Sat 05:00 */
    assert_false(sv_schedule_active(s, (fri + 19 * 3600) * 1000)); /* Sat 07:00 */
    assert_false(sv_schedule_active(s, (fri - 86400 + 17 * 3600) * 1000)); /* Fri 05:00 */
    sv_schedule_free(s);
}

static void test_validation_names_the_field(void **state)
{
    char err[200];
    assert_null(compile("{\"windows\":[{\"days\":\"mon\",\"from\":\"8h\",\"to\":\"18:00\"}]}", err));
    assert_string_equal(err, "schedule.windows[0].from: must be HH:MM");
    assert_null(compile("{\"windows\":[{\"days\":\"someday\",\"from\":\"08:00\",\"to\":\"18:00\"}]}", err));
    assert_non_null(strstr(err, "windows[0].days"));
    assert_null(compile("{\"timezone\":\"Mars/Olympus\",\"windows\":[]}", err));
    assert_non_null(strstr(err, "schedule.timezone"));
    assert_null(compile("{\"windows\":5}", err));
    sv_schedule *s = compile("{\"windows\":[]}", err); /* valid: never records */
    assert_non_null(s);
    assert_false(sv_schedule_active(s, SUMMER * 1000));
    sv_schedule_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_offsets),
        cmocka_unit_test(test_office_hours_in_berlin),
        cmocka_unit_test(test_window_past_midnight),
        cmocka_unit_test(test_validation_names_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
