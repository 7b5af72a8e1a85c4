/* Time parsing and formatting (config/timeutil.c). Expected instants were computed independently
 * with Python's datetime and GNU date. */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

#include "regressd/util.h"

#define BAD INT64_MIN /* marks an input that must be rejected */

static const struct {
    const char *in;
    int64_t want;
} rfc3339_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-11-21T10:00:00Z", INT64_C(1795255200000000)},
    {"2026-11-21T10:00:00.123Z", INT64_C(1795255200123000)},
    {"2026-11-21t10:00:00z", INT64_C(1795255200000000)},
    {"2026-11-21 10:00:00Z", INT64_C(1795255200000000)},
    {"2026-11-21T10:00:00+00:00", INT64_C(1795255200000000)},
    {"2026-11-21T10:00:00-00:00", INT64_C(1795255200000000)},
    {"2026-11-21T15:30:00+05:30", INT64_C(1795255200000000)},
    {"2026-11-21T02:00:00-08:00", INT64_C(1795255200000000)},
    {"2026-11-22T09:59:00+23:59", INT64_C(1795255200000000)},
    {"2026-01-01T00:30:00+01:00", INT64_C(1767223800000000)}, /* 2025-12-31T23:30Z */
    {"1969-12-31T23:59:59.999999Z", -1},
    {"1969-12-31T16:00:00-08:00", 0},
    {"0000-01-01T00:00:00Z", INT64_C(-62167219200000000)},
    {"0001-01-01T00:00:00Z", INT64_C(-62135596800000000)},
    {"9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999)},
    {"2024-02-29T12:34:56.789012Z", INT64_C(1709210096789012)},
    {"2000-02-29T00:00:00Z", INT64_C(951782400000000)},
    /* fractions of 1..9 digits, truncated (not rounded) to microseconds */
    {"1970-01-01T00:00:00.1Z", 100000},
    {"1970-01-01T00:00:00.12Z", 120000},
    {"1970-01-01T00:00:00.123Z", 123000},
    {"1970-01-01T00:00:00.1234Z", 123400},
    {"1970-01-01T00:00:00.12345Z", 123450},
    {"1970-01-01T00:00:00.123456Z", 123456},
    {"1970-01-01T00:00:00.1234567Z", 123456},
    {"1970-01-01T00:00:00.12345678Z", 123456},
    {"1970-01-01T00:00:00.999999999Z", 999999},
    {"1970-01-01T00:00:00.5+01:00", -3599500000},
    /* leap second: clamped to the last microsecond of the minute */
    {"2016-12-31T23:59:60Z", INT64_C(1483228799999999)},
    {"2016-12-31T23:59:60.5Z", INT64_C(1483228799999999)},
    /* rejected */
    {"1970-01-01T00:00:00.1234567890Z", BAD},
    {"1970-01-01T00:00:00.Z", BAD},
    {"1970-01-01T00:00:00", BAD},
    {"1970-01-01T00:00:00.123", BAD},
    {"1970-01-01", BAD},
    {"", BAD},
    {"2026-02-30T00:00:00Z", BAD},
    {"2023-02-29T00:00:00Z", BAD},
    {"2100-02-29T00:00:00Z", BAD},
    {"2026-04-31T00:00:00Z", BAD},
    {"2026-13-01T00:00:00Z", BAD},
    {"2026-00-01T00:00:00Z", BAD},
    {"2026-01-00T00:00:00Z", BAD},
    {"2026-01-32T00:00:00Z", BAD},
    {"2026-01-01T24:00:00Z", BAD},
    {"2026-01-01T23:60:00Z", BAD},
    {"2026-01-01T23:59:61Z", BAD},
    {"2026-01-01T00:00:00+24:00", BAD},
    {"2026-01-01T00:00:00+05:60", BAD},
    {"2026-01-01T00:00:00+0530", BAD},
    {"2026-01-01T00:00:00+05", BAD},
    {"2026-01-01T00:00:00+05:30x", BAD},
    {"2026-01-01T00:00:00Zjunk", BAD},
    {"2026-01-01T00:00:00Z ", BAD},
    {" 2026-01-01T00:00:00Z", BAD},
    {"2026-01-01x00:00:00Z", BAD},
    {"2026-1-01T00:00:00Z", BAD},
    {"+026-01-01T00:00:00Z", BAD},
    {"2026-01-01T0a:00:00Z", BAD},
    {"2026/01/01T00:00:00Z", BAD},
    {"2026-01-01T00:00:00UTC", BAD},
};

static void test_rfc3339(void)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(rfc3339_cases); i++) {
        const char *in = rfc3339_cases[i].in;
        int64_t want = rfc3339_cases[i].want, got = 0;
        int rc = util_parse_rfc3339(in, strlen(in), &got);
        CHECK_MSG(rc == (want == BAD ? -1 : 0), "%s: rc %d", in, rc);
        if (want != BAD)
            CHECK_MSG(got == want, "%s: got %lld, want %lld", in, (long long)got, (long long)want);
    }
    /* the length bounds the parse: a valid prefix followed by more bytes is garbage */
    int64_t got;
    const char *s = "2026-01-01T00:00:00Z2026";
    CHECK(util_parse_rfc3339(s, 20, &got) == 0 && got == INT64_C(1767225600000000));
    CHECK(util_parse_rfc3339(s, 21, &got) == -1);
    CHECK(util_parse_rfc3339(s, 19, &got) == -1);
}

static void test_parse_time(void)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"0", 0},
        {"1795255200123", INT64_C(1795255200123000)},
        {"2026-11-21T10:00:00.123Z", INT64_C(1795255200123000)},
        {"2026-11-21T11:00:00.123+01:00", INT64_C(1795255200123000)},
        {"9223372036854775", INT64_C(9223372036854775000)},
        {"9223372036854776", BAD}, /* * 1000 overflows */
        {"99999999999999999999", BAD},
        {"-1", BAD},
        {"+1", BAD},
        {"", BAD},
        {" 1", BAD},
        {"1 ", BAD},
        {"12a", BAD},
        {"1.5", BAD},
        {"1e3", BAD},
        {"2026-11-21", BAD},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        int64_t got = 0;
        int rc = util_parse_time(cases[i].in, &got);
        CHECK_MSG(rc == (cases[i].want == BAD ? -1 : 0), "\"%s\": rc %d", cases[i].in, rc);
        if (cases[i].want != BAD)
            CHECK_MSG(got == cases[i].want, "\"%s\": got %lld", cases[i].in, (long long)got);
    }
}

static void test_parse_duration(void)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"250ms", 250000},
        {"1ms", 1000},
        {"90s", INT64_C(90000000)},
        {"30m", INT64_C(1800000000)},
        {"1h", INT64_C(3600000000)},
        {"01h", INT64_C(3600000000)},
        {"1d", INT64_C(86400000000)},
        {"1w", INT64_C(604800000000)},
        {"15250284w", INT64_C(15250284) * INT64_C(604800000000)},
        {"9223372036854775ms", INT64_C(9223372036854775000)},
        {"15250285w", BAD}, /* overflows int64 microseconds */
        {"9223372036854776ms", BAD},
        {"9223372036854775808s", BAD},
        {"0s", BAD},
        {"0ms", BAD},
        {"00h", BAD},
        {"10", BAD},
        {"s", BAD},
        {"ms", BAD},
        {"", BAD},
        {"1x", BAD},
        {"1H", BAD},
        {"1 h", BAD},
        {" 1h", BAD},
        {"1h ", BAD},
        {"1hh", BAD},
        {"1h30m", BAD},
        {"-1h", BAD},
        {"+1h", BAD},
        {"1.5h", BAD},
        {"1msx", BAD},
        {"1mss", BAD},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        int64_t got = 0;
        int rc = util_parse_duration(cases[i].in, &got);
        CHECK_MSG(rc == (cases[i].want == BAD ? -1 : 0), "\"%s\": rc %d", cases[i].in, rc);
        if (cases[i].want != BAD)
            CHECK_MSG(got == cases[i].want, "\"%s\": got %lld", cases[i].in, (long long)got);
    }
}

static void test_format_ts(void)
{
    static const struct {
        int64_t us;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {INT64_C(-86400000000), "1969-12-31T00:00:00.000000Z"},
        {INT64_C(1795255200123000), "2026-11-21T10:00:00.123000Z"},
        {INT64_C(1709210096789012), "2024-02-29T12:34:56.789012Z"},
        {INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z"},
        {INT64_C(-62167219200000000), "0000-01-01T00:00:00.000000Z"},
        {INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
        /* outside RFC 3339's years: still readable, still in the buffer */
        {INT64_C(253402300800000000), "10000-01-01T00:00:00.000000Z"},
        {INT64_MAX, "294247-01-10T04:00:54.775807Z"},
        {INT64_MIN, "-290308-12-21T19:59:05.224192Z"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        char out[UTIL_TS_BUFLEN];
        util_format_ts(cases[i].us, out);
        CHECK_STR(out, cases[i].want);
    }
}

/* format(parse(x)) gives x back in canonical form. */
static void test_format_parse_round_trip(void)
{
    static const struct {
        const char *in, *canonical;
    } cases[] = {
        {"2026-11-21T10:00:00Z", "2026-11-21T10:00:00.000000Z"},
        {"2026-11-21T10:00:00.1Z", "2026-11-21T10:00:00.100000Z"},
        {"2026-11-21T10:00:00.123456789Z", "2026-11-21T10:00:00.123456Z"},
        {"2026-11-21T15:30:00.5+05:30", "2026-11-21T10:00:00.500000Z"},
        {"2026-11-21T02:00:00-08:00", "2026-11-21T10:00:00.000000Z"},
        {"2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000000Z"},
        {"2025-12-31T23:30:00-01:00", "2026-01-01T00:30:00.000000Z"},
        {"2024-03-01T00:00:00+00:01", "2024-02-29T23:59:00.000000Z"},
        {"1969-07-20T20:17:40Z", "1969-07-20T20:17:40.000000Z"},
        {"1600-02-29T00:00:00Z", "1600-02-29T00:00:00.000000Z"},
        {"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        int64_t us;
        char out[UTIL_TS_BUFLEN];
        CHECK(util_parse_rfc3339(cases[i].in, strlen(cases[i].in), &us) == 0);
        util_format_ts(us, out);
        CHECK_STR(out, cases[i].canonical);
    }
    /* parse(format(us)) == us over years 0000..9999 (pseudo-random instants) */
    uint64_t x = 88172645463325252u;
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t us = INT64_C(-62167219200000000) + (int64_t)(x % UINT64_C(315569519999999999));
        char out[UTIL_TS_BUFLEN];
        int64_t back;
        util_format_ts(us, out);
        if (util_parse_rfc3339(out, strlen(out), &back) != 0 || back != us)
            bad++;
    }
    CHECK_INT(bad, 0);
}

static void test_day_of(void)
{
    const int64_t day = INT64_C(86400000000);
    CHECK_INT(util_day_of(0), 0);
    CHECK_INT(util_day_of(day - 1), 0);
    CHECK_INT(util_day_of(day), 1);
    CHECK_INT(util_day_of(-1), -1);
    CHECK_INT(util_day_of(-day), -1);
    CHECK_INT(util_day_of(-day - 1), -2);
    CHECK_INT(util_day_of(INT64_C(1795255200123000)), 20778);
    CHECK_INT(util_day_of(INT64_C(-62167219200000000)), -719528);
    CHECK_INT(util_day_of(INT64_MIN), -106751992);
    CHECK_INT(util_day_of(INT64_MAX), 106751991);
}

static bool naive_leap(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* util_civil_from_days against a day-by-day walk of the calendar from 0000-01-01 to 9999-12-31. */
static void test_civil_from_days(void)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 0;
    unsigned m = 1, d = 1;
    int bad = 0;
    for (int64_t days = -719528; y <= 9999; days++) {
        int gy;
        unsigned gm, gd;
        util_civil_from_days(days, &gy, &gm, &gd);
        if (gy != y || gm != m || gd != d)
            bad++;
        if (++d > mdays[m - 1] + (m == 2 && naive_leap(y))) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    CHECK_INT(bad, 0);
    int gy;
    unsigned gm, gd;
    util_civil_from_days(-1, &gy, &gm, &gd);
    CHECK(gy == 1969 && gm == 12 && gd == 31);
    util_civil_from_days(-719529, &gy, &gm, &gd);
    CHECK(gy == -1 && gm == 12 && gd == 31);
}

/* The in-memory tables' hash: the same bytes give the same hash, a change in any byte or in the
 * length (tails of 0-7 bytes included) gives another, and keys that differ little (rollup keys
 * differ in a bucket byte or a minute) spread evenly over a power-of-two table's slots. */
static void test_hash_mem(void)
{
    unsigned char key[40];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 7 + 1);
    for (size_t len = 0; len <= sizeof(key); len++) {
        uint32_t h = util_hash_mem(key, len);
        CHECK(h == util_hash_mem(key, len));
        if (len > 0)
            CHECK_MSG(h != util_hash_mem(key, len - 1), "length %zu", len);
        for (size_t i = 0; i < len; i++) {
            key[i] ^= 1;
            CHECK_MSG(util_hash_mem(key, len) != h, "byte %zu of %zu", i, len);
            key[i] ^= 1;
        }
    }
    enum { SLOTS = 1024, KEYS = 64 * SLOTS };
    static int count[SLOTS];
    char k[64];
    for (int i = 0; i < KEYS; i++) {
        /* service, endpoint, commit, then a minute and a bucket byte, as rollup keys are */
        int n = snprintf(k, sizeof(k), "web%c/api/v%d%cabc123%c", 0, i / 4096, 0, 0);
        int64_t minute = (int64_t)(i / 64 % 64) * 60000000;
        memcpy(k + n, &minute, 8);
        k[n + 8] = (char)(i % 64);
        count[util_hash_mem(k, (size_t)n + 9) & (SLOTS - 1)]++;
    }
    int lo = KEYS, hi = 0;
    for (int i = 0; i < SLOTS; i++) {
        lo = count[i] < lo ? count[i] : lo;
        hi = count[i] > hi ? count[i] : hi;
    }
    /* 64 expected per slot; a Poisson(64) count leaves [30, 105] about once in 10^5 tables */
    CHECK_MSG(lo >= 30 && hi <= 105, "slot counts %d-%d", lo, hi);
}

int main(void)
{
    test_hash_mem();
    test_rfc3339();
    test_parse_time();
    test_parse_duration();
    test_format_ts();
    test_format_parse_round_trip();
    test_day_of();
    test_civil_from_days();
    return check_summary();
}
