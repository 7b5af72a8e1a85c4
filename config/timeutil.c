/* Time parsing and formatting without libc's calendar functions: timegm/gmtime go through the
 * time zone machinery and locks, and the ingest path formats one timestamp per sample. Dates are
 * converted with Howard Hinnant's days-from-civil algorithms
 * (https://howardhinnant.github.io/date_algorithms.html), exact for the proleptic Gregorian
 * calendar over the whole int64 range used here. */
#include "regressd/util.h"

#include <stdio.h>
#include <string.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void util_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

int64_t util_day_of(int64_t us)
{
    return floor_div(us, US_PER_DAY);
}

static bool is_leap(unsigned y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Exactly n ASCII digits at s. */
static bool parse_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return false;
        v = v * 10 + c;
    }
    *out = v;
    return true;
}

struct rfc3339 {
    unsigned year, mon, day, hour, min, sec;
    int64_t frac_us;
    int64_t offset_sec; /* local time minus UTC */
};

/* "YYYY-MM-DD?HH:MM:SS" (19 bytes), ranges checked. */
static bool parse_date_time(const char *s, struct rfc3339 *t)
{
    if (!parse_digits(s, 4, &t->year) || s[4] != '-' || !parse_digits(s + 5, 2, &t->mon) ||
        s[7] != '-' || !parse_digits(s + 8, 2, &t->day))
        return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return false;
    if (!parse_digits(s + 11, 2, &t->hour) || s[13] != ':' || !parse_digits(s + 14, 2, &t->min) ||
        s[16] != ':' || !parse_digits(s + 17, 2, &t->sec))
        return false;
    if (t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > days_in_month(t->year, t->mon))
        return false;
    return t->hour <= 23 && t->min <= 59 && t->sec <= 60;
}

/* ".d{1,9}" at s[*pos], optional; truncated to microseconds. */
static bool parse_fraction(const char *s, size_t len, size_t *pos, int64_t *frac_us)
{
    *frac_us = 0;
    if (*pos >= len || s[*pos] != '.')
        return true;
    size_t start = ++*pos;
    while (*pos < len && (unsigned)((unsigned char)s[*pos] - '0') <= 9) {
        if (*pos - start < 6)
            *frac_us = *frac_us * 10 + (s[*pos] - '0');
        ++*pos;
    }
    size_t n = *pos - start;
    if (n < 1 || n > 9)
        return false;
    for (size_t i = n; i < 6; i++)
        *frac_us *= 10;
    return true;
}

/* "Z", "z" or "±HH:MM", then the end of the string. */
static bool parse_offset(const char *s, size_t len, size_t pos, int64_t *offset_sec)
{
    if (pos + 1 == len && (s[pos] == 'Z' || s[pos] == 'z')) {
        *offset_sec = 0;
        return true;
    }
    unsigned oh, om;
    if (pos + 6 != len || (s[pos] != '+' && s[pos] != '-') || !parse_digits(s + pos + 1, 2, &oh) ||
        s[pos + 3] != ':' || !parse_digits(s + pos + 4, 2, &om) || oh > 23 || om > 59)
        return false;
    *offset_sec = (int64_t)(oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    return true;
}

int util_parse_rfc3339(const char *s, size_t len, int64_t *out_us)
{
    struct rfc3339 t;
    size_t pos = 19;
    if (len < 20 || !parse_date_time(s, &t) || !parse_fraction(s, len, &pos, &t.frac_us) ||
        !parse_offset(s, len, pos, &t.offset_sec))
        return -1;
    if (t.sec == 60) { /* leap second: the last representable instant of the minute */
        t.sec = 59;
        t.frac_us = 999999;
    }
    int64_t days = days_from_civil(t.year, t.mon, t.day);
    int64_t secs = days * 86400 + t.hour * 3600 + t.min * 60 + t.sec - t.offset_sec;
    *out_us = secs * US_PER_SEC + t.frac_us;
    return 0;
}

/* Non-empty run of ASCII digits at s, stopping at the first non-digit; -1 on overflow. */
static int parse_uint(const char *s, int64_t *out, size_t *ndigits)
{
    int64_t v = 0;
    size_t i = 0;
    for (; (unsigned)((unsigned char)s[i] - '0') <= 9; i++) {
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    *ndigits = i;
    return i ? 0 : -1;
}

int util_parse_time(const char *s, int64_t *out_us)
{
    int64_t ms;
    size_t n;
    if (parse_uint(s, &ms, &n) == 0 && s[n] == '\0') {
        if (ms > INT64_MAX / 1000)
            return -1;
        *out_us = ms * 1000;
        return 0;
    }
    return util_parse_rfc3339(s, strlen(s), out_us);
}

int util_parse_duration(const char *s, int64_t *out_us)
{
    static const struct {
        const char *name;
        int64_t us;
    } units[] = {
        {"ms", 1000},      {"s", US_PER_SEC},     {"m", 60 * US_PER_SEC}, {"h", 3600 * US_PER_SEC},
        {"d", US_PER_DAY}, {"w", 7 * US_PER_DAY},
    };
    int64_t v;
    size_t n;
    if (parse_uint(s, &v, &n) != 0 || v == 0)
        return -1;
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(units); i++) {
        if (strcmp(s + n, units[i].name) != 0)
            continue;
        if (v > INT64_MAX / units[i].us)
            return -1;
        *out_us = v * units[i].us;
        return 0;
    }
    return -1;
}

/* Writes v as exactly n decimal digits (zero padded), v < 10^n. */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void util_format_ts(int64_t us, char out[UTIL_TS_BUFLEN])
{
    int64_t days = util_day_of(us);
    int64_t in_day =
        us % US_PER_DAY; /* not us - days * US_PER_DAY: that overflows near INT64_MIN */
    if (in_day < 0)
        in_day += US_PER_DAY;
    unsigned secs = (unsigned)(in_day / US_PER_SEC);
    unsigned frac = (unsigned)(in_day % US_PER_SEC);
    int y;
    unsigned m, d;
    util_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) { /* outside RFC 3339; readable anyway, never on the ingest path */
        snprintf(out, UTIL_TS_BUFLEN, "%d-%02u-%02uT%02u:%02u:%02u.%06uZ", y, m, d, secs / 3600,
                 secs / 60 % 60, secs % 60, frac);
        return;
    }
    memcpy(out, "0000-00-00T00:00:00.000000Z", 28);
    put_digits(out, (unsigned)y, 4);
    put_digits(out + 5, m, 2);
    put_digits(out + 8, d, 2);
    put_digits(out + 11, secs / 3600, 2);
    put_digits(out + 14, secs / 60 % 60, 2);
    put_digits(out + 17, secs % 60, 2);
    put_digits(out + 20, frac, 6);
}

void util_format_duration(int64_t seconds, char *out, size_t outlen)
{
    static const struct {
        int64_t s;
        const char *unit;
    } units[] = {{604800, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(units); i++) {
        if (seconds > 0 && seconds % units[i].s == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(seconds / units[i].s), units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%llds", (long long)seconds);
}
