/* libFuzzer target: the TZif (zoneinfo) reader behind recording schedules (core/tz.c). */
#include <stddef.h>
#include <stdint.h>

#include "core/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sv_tz *tz = sv_tz_parse(data, size);
    if (tz) {
        (void)sv_tz_offset(tz, 0);
        (void)sv_tz_offset(tz, 1800000000);
        sv_tz_free(tz);
    }
    return 0;
}
