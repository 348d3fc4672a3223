/* io_calendar.c — proleptic Gregorian dates <-> days since 1970-01-01 (GRIB, GrADS). */
#include "io/io_internal.h"

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar */
int64_t io_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t const era = (y >= 0 ? y : y - 399) / 400;
    unsigned const yoe = (unsigned)(y - era * 400);
    unsigned const doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void io_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t const era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned const doe = (unsigned)(z - era * 146097);
    unsigned const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned const mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}
