/* Sample validation and COPY rows (consumer/sample.c), CONTRACT section 1. Expected rows and
 * hashes were computed independently (Python: json, datetime, FNV-1a + murmur3 finaliser). */
#include "check.h"
#include "copy_text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>

#include "regressd/sample.h"

/* [2020-01-01, 2100-01-01] */
static const struct sample_limits limits = {INT64_C(1577836800000000), INT64_C(4102444800000000)};

static const char *const columns[] = {
    "ts",    "service",  "endpoint", "commit", "user_id", "user_hash", "instructions", "latency_us",
    "db_us", "cache_us", "status",   "host",   "region",  "cluster",   "sample_rate",  "flags",
};

#define BASE                                                                                       \
    "{\"ts\":\"2026-11-21T10:00:00.123Z\",\"service\":\"web\",\"endpoint\":\"/api/feed\","         \
    "\"commit\":\"3f2a9c1e\",\"instructions\":981000000}"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j)
        fprintf(stderr, "test json does not parse: %s: %s\n", text, jerr.text);
    return j;
}

/* "@<n><s>": s repeated n times; anything else: itself. Caller frees. */
static char *expand(const char *spec)
{
    if (spec[0] != '@')
        return strdup(spec);
    char *rest;
    long n = strtol(spec + 1, &rest, 10);
    size_t unit = strlen(rest);
    char *s = malloc((size_t)n * unit + 1);
    for (long i = 0; i < n; i++)
        memcpy(s + (size_t)i * unit, rest, unit);
    s[(size_t)n * unit] = '\0';
    return s;
}

/* Column i of a row (without its '\n'), copied into a static buffer. */
static const char *column(const char *row, size_t i)
{
    static char col[8192];
    for (; i > 0 && row; i--) {
        row = strchr(row, '\t');
        row = row ? row + 1 : NULL;
    }
    if (!row)
        return "(no such column)";
    size_t n = strcspn(row, "\t\n");
    memcpy(col, row, n < sizeof(col) ? n : sizeof(col) - 1);
    col[n < sizeof(col) ? n : sizeof(col) - 1] = '\0';
    return col;
}

static size_t column_index(const char *name)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(columns); i++)
        if (strcmp(columns[i], name) == 0)
            return i;
    return 999;
}

static size_t count_char(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

/* A reason is short, has no control characters and is valid UTF-8 (it is stored as text). */
static void check_reason(const char *reason)
{
    size_t len = strlen(reason);
    CHECK_MSG(len > 0 && len < 200, "reason length %zu: %s", len, reason);
    size_t ctrl = 0;
    for (size_t i = 0; i < len; i++)
        ctrl += (unsigned char)reason[i] < 0x20 || reason[i] == 0x7f;
    CHECK_MSG(ctrl == 0, "control byte in %s", reason);
    json_t *s = json_stringn(reason, len); /* NULL unless valid UTF-8 */
    CHECK_MSG(s != NULL, "reason is not UTF-8: %s", reason);
    json_decref(s);
}

struct outcome {
    int rc;
    char err[256];
    struct buf out;
    struct sample_meta meta;
};

/* Formats obj into a buffer that already holds "PREFIX\n"; checks that a failure leaves it as
 * it was and a success appends exactly one binary row of 16 columns of the samples' types. The
 * row, read back as COPY text (copy_text.h), is then in o->out after 7. */
static void run_obj(const json_t *obj, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    buf_append_str(&o->out, "PREFIX\n");
    strcpy(o->err, "(unset)");
    o->rc = sample_format_row(obj, &limits, &o->out, &o->meta, o->err, sizeof(o->err));
    if (o->rc != 0) {
        CHECK_MSG(o->out.len == 7 && memcmp(o->out.data, "PREFIX\n", 7) == 0,
                  "out changed by a failure (%s)", o->err);
        check_reason(o->err);
        return;
    }
    struct buf text = {0};
    CHECK_INT(copy_binary_to_text(o->out.data + 7, o->out.len - 7, COPY_TEXT_SAMPLES, &text), 1);
    o->out.len = 7;
    buf_append(&o->out, text.data, text.len);
    buf_free(&text);
    const char *row = buf_cstr(&o->out) + 7;
    size_t len = o->out.len - 7;
    CHECK(len > 0 && row[len - 1] == '\n');
    CHECK_INT(count_char(row, len, '\n'), 1);
    CHECK_INT(count_char(row, len, '\t'), 15);
}

static void run_text(const char *json, struct outcome *o)
{
    json_t *obj = parse(json);
    run_obj(obj, o);
    json_decref(obj);
}

static const char *row_of(struct outcome *o)
{
    return buf_cstr(&o->out) + 7;
}

static void test_full_rows(void)
{
    static const struct {
        const char *json, *row;
    } cases[] = {
        {"{\"ts\":\"2026-11-21T10:00:00.123Z\",\"service\":\"web\",\"endpoint\":\"/api/feed\","
         "\"commit\":\"3f2a9c1e\",\"instructions\":981000000,\"user_id\":\"u123\","
         "\"latency_us\":12000,\"db_us\":3000,\"cache_us\":150,\"status\":200,\"host\":\"web-01\","
         "\"region\":\"eu-west-1\",\"cluster\":\"c1\",\"sample_rate\":0.01,"
         "\"flags\":{\"new_ranker\":\"on\",\"ratio\":0.5,\"beta\":true}}",
         "2026-11-21T10:00:00.123000Z\tweb\t/api/feed\t3f2a9c1e\tu123\t2014406463\t981000000\t"
         "12000\t3000\t150\t200\tweb-01\teu-west-1\tc1\t0.01\t"
         "{\"new_ranker\":\"on\",\"ratio\":\"0.5\",\"beta\":\"true\"}\n"},
        /* no user: user_hash from host + ts; absent optionals NULL, sample_rate 1, flags {} */
        {"{\"ts\":1795255200123,\"service\":\"web\",\"endpoint\":\"/\",\"commit\":\"c\","
         "\"instructions\":0,\"host\":\"web-01\"}",
         "2026-11-21T10:00:00.123000Z\tweb\t/\tc\t\\N\t-1368131700\t0\t\\N\t\\N\t\\N\t\\N\t"
         "web-01\t\\N\t\\N\t1\t{}\n"},
        /* hostile text in every escaped column */
        {"{\"ts\":1795255200123,\"service\":\"svc\","
         "\"endpoint\":\"/q?x='); DROP TABLE samples;--\",\"commit\":\"c\\\\1\\\"\","
         "\"instructions\":1,\"user_id\":\"a\\tb\\nc\\rd\\\\N\",\"host\":\"h\\u0001\\u007f\","
         "\"region\":\"日本 ✓\",\"flags\":{\"k\\\"\\\\\":\"v\\t\\n\",\"n\":-7,\"off\":false}}",
         "2026-11-21T10:00:00.123000Z\tsvc\t/q?x='); DROP TABLE samples;--\tc\\\\1\"\t"
         "a\\tb\\nc\\rd\\\\N\t-345765124\t1\t\\N\t\\N\t\\N\t\\N\th\\001\\177\t日本 ✓\t\\N\t1\t"
         "{\"k\\\\\"\\\\\\\\\":\"v\\\\t\\\\n\",\"n\":\"-7\",\"off\":\"false\"}\n"},
        /* offset converted to UTC, integer user id, largest instructions, integer sample_rate */
        {"{\"ts\":\"2026-11-21T15:30:00.5+05:30\",\"service\":\"web\",\"endpoint\":\"/\","
         "\"commit\":\"c\",\"instructions\":9007199254740991,\"user_id\":-42,\"sample_rate\":1}",
         "2026-11-21T10:00:00.500000Z\tweb\t/\tc\t-42\t149990947\t9007199254740991\t\\N\t\\N\t"
         "\\N\t\\N\t\\N\t\\N\t\\N\t1\t{}\n"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct outcome o;
        run_text(cases[i].json, &o);
        CHECK_MSG(o.rc == 0, "case %zu: %s", i, o.err);
        if (o.rc == 0)
            CHECK_STR(row_of(&o), cases[i].row);
        buf_free(&o.out);
    }
}

static void test_meta(void)
{
    struct outcome o;
    json_t *sample = parse("{\"ts\":\"2026-11-21T02:00:00-08:00\",\"service\":\"web\","
                           "\"endpoint\":\"/x\",\"commit\":\"abc\",\"instructions\":5}");
    run_obj(sample, &o); /* meta points into sample */
    CHECK_INT(o.rc, 0);
    CHECK_INT(o.meta.ts_us, INT64_C(1795255200000000));
    CHECK(o.meta.service_len == 3 && memcmp(o.meta.service, "web", 3) == 0);
    CHECK(o.meta.endpoint_len == 2 && memcmp(o.meta.endpoint, "/x", 2) == 0);
    CHECK(o.meta.commit_len == 3 && memcmp(o.meta.commit, "abc", 3) == 0);
    CHECK(o.meta.flags == NULL); /* no flags: nothing for the flag rollups to walk */
    json_decref(sample);
    /* meta may be NULL; rows append */
    json_t *obj = parse(BASE);
    char err[256];
    size_t before = o.out.len;
    CHECK(sample_format_row(obj, &limits, &o.out, NULL, err, sizeof(err)) == 0);
    struct buf again = {0};
    CHECK_INT(
        copy_binary_to_text(o.out.data + before, o.out.len - before, COPY_TEXT_SAMPLES, &again), 1);
    CHECK_INT(count_char(o.out.data, before, '\n'), 2);
    buf_free(&again);
    json_decref(obj);
    buf_free(&o.out);
    /* flags: the object itself when it has entries, else NULL */
    static const char *const flag_cases[] = {"{}", "null", "{\"a\":1}"};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(flag_cases); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"ts\":1795255200000,\"service\":\"web\",\"endpoint\":\"/x\","
                 "\"commit\":\"abc\",\"instructions\":5,\"flags\":%s}",
                 flag_cases[i]);
        sample = parse(text);
        run_obj(sample, &o);
        CHECK_INT(o.rc, 0);
        const json_t *want = i == 2 ? json_object_get(sample, "flags") : NULL;
        CHECK_MSG(o.meta.flags == want, "flags %s", flag_cases[i]);
        json_decref(sample);
        buf_free(&o.out);
    }
}

/* The same fields in another order (and with unknown ones) give the same row. */
static void test_field_order_and_unknown(void)
{
    struct outcome a, b;
    run_text("{\"ts\":1795255200123,\"service\":\"web\",\"endpoint\":\"/\",\"commit\":\"c\","
             "\"instructions\":7,\"host\":\"h\",\"status\":201}",
             &a);
    run_text("{\"status\":201,\"zzz\":[1,{\"a\":null}],\"host\":\"h\",\"instructions\":7,"
             "\"Service\":\"ignored\",\"tss\":\"x\",\"commit\":\"c\",\"endpoint\":\"/\","
             "\"service\":\"web\",\"\":1,\"ts\":1795255200123,\"flagsx\":{\"a\":[]}}",
             &b);
    CHECK(a.rc == 0 && b.rc == 0);
    CHECK_STR(row_of(&b), row_of(&a));
    buf_free(&a.out);
    buf_free(&b.out);
}

static void test_not_object(void)
{
    static const struct {
        const char *json, *reason;
    } cases[] = {
        {"[1]", "sample: must be a JSON object, got array"},
        {"\"x\"", "sample: must be a JSON object, got string"},
        {"1", "sample: must be a JSON object, got integer"},
        {"1.5", "sample: must be a JSON object, got real"},
        {"null", "sample: must be a JSON object, got null"},
        {"true", "sample: must be a JSON object, got boolean"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct outcome o;
        run_text(cases[i].json, &o);
        CHECK_INT(o.rc, -1);
        CHECK_STR(o.err, cases[i].reason);
        buf_free(&o.out);
    }
    struct outcome o;
    run_obj(NULL, &o);
    CHECK_INT(o.rc, -1);
    buf_free(&o.out);
}

static void test_missing_required(void)
{
    static const char *const required[] = {"ts", "service", "endpoint", "commit", "instructions"};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(required); i++) {
        json_t *obj = parse(BASE);
        CHECK(json_object_del(obj, required[i]) == 0);
        struct outcome o;
        run_obj(obj, &o);
        char want[128];
        snprintf(want, sizeof(want), "%s: required field is missing", required[i]);
        CHECK_INT(o.rc, -1);
        CHECK_STR(o.err, want);
        /* null is not absence for a required field */
        buf_free(&o.out);
        json_object_set_new(obj, required[i], json_null());
        run_obj(obj, &o);
        CHECK_INT(o.rc, -1);
        CHECK_MSG(strstr(o.err, "got null") != NULL, "%s", o.err);
        json_decref(obj);
        buf_free(&o.out);
    }
}

/* One field set to a value on top of BASE. value is JSON text ("@<n><s>" makes a JSON string of
 * s repeated n times). OK: want is the column's text ("@..." expanded alike), or NULL to skip.
 * Rejected (want starts with '!'): want + 1 is a prefix of the reason. */
static const struct {
    const char *field, *value, *want;
} field_cases[] = {
    /* ts */
    {"ts", "\"2026-11-21T10:00:00Z\"", "2026-11-21T10:00:00.000000Z"},
    {"ts", "\"2026-11-21T15:30:00+05:30\"", "2026-11-21T10:00:00.000000Z"},
    {"ts", "\"2026-11-21T02:00:00.123456789-08:00\"", "2026-11-21T10:00:00.123456Z"},
    {"ts", "\"2026-11-21 10:00:00.1z\"", "2026-11-21T10:00:00.100000Z"},
    {"ts", "1795255200123", "2026-11-21T10:00:00.123000Z"},
    {"ts", "1577836800000", "2020-01-01T00:00:00.000000Z"}, /* limits are inclusive */
    {"ts", "4102444800000", "2100-01-01T00:00:00.000000Z"},
    {"ts", "4102444800001", "!ts: 2100-01-01T00:00:00.001000Z is outside the accepted range"},
    {"ts", "\"2001-01-01T00:00:00Z\"",
     "!ts: 2001-01-01T00:00:00.000000Z is outside the accepted range "
     "[2020-01-01T00:00:00.000000Z, 2100-01-01T00:00:00.000000Z]"},
    {"ts", "0", "!ts: 1970-01-01T00:00:00.000000Z is outside the accepted range"},
    {"ts", "-1", "!ts: epoch milliseconds out of range, got -1"},
    {"ts", "9223372036854775807", "!ts: epoch milliseconds out of range"},
    {"ts", "1.5e12", "!ts: must be an RFC 3339 string or integer epoch milliseconds, got real"},
    {"ts", "1795255200123.0",
     "!ts: must be an RFC 3339 string or integer epoch milliseconds, got real"},
    {"ts", "true", "!ts: must be an RFC 3339 string or integer epoch milliseconds, got boolean"},
    {"ts", "{}", "!ts: must be an RFC 3339 string or integer epoch milliseconds, got object"},
    {"ts", "[]", "!ts: must be an RFC 3339 string or integer epoch milliseconds, got array"},
    {"ts", "\"2026-02-30T00:00:00Z\"",
     "!ts: not a valid RFC 3339 timestamp: \"2026-02-30T00:00:00Z\""},
    {"ts", "\"2026-13-01T00:00:00Z\"", "!ts: not a valid RFC 3339 timestamp"},
    {"ts", "\"2026-11-21T10:00:00Zjunk\"", "!ts: not a valid RFC 3339 timestamp"},
    {"ts", "\"2026-11-21T10:00:00\"", "!ts: not a valid RFC 3339 timestamp"},
    {"ts", "\"1795255200123\"", "!ts: not a valid RFC 3339 timestamp"},
    {"ts", "\"\"", "!ts: not a valid RFC 3339 timestamp: \"\""},
    {"ts", "\"\\n\\t\\u0001\\\"\"", "!ts: not a valid RFC 3339 timestamp: \"\\x0a\\x09\\x01\\\"\""},
    {"ts", "\"2026-11-21T10:00:00Z\\u0000\"", "!ts: not a valid RFC 3339 timestamp"},
    {"ts", "@300x",
     "!ts: not a valid RFC 3339 timestamp: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"..."},
    /* service */
    {"service", "\"a\"", "a"},
    {"service", "@64a", "@64a"},
    {"service", "@65a", "!service: must be 1-64 bytes, got 65"},
    {"service", "\"\"", "!service: must be 1-64 bytes, got 0"},
    {"service", "\"Web.api_v2:eu/1-x\"", "Web.api_v2:eu/1-x"},
    {"service", "\"web api\"", "!service: character ' ' at offset 3 is not in [A-Za-z0-9._:/-]"},
    {"service", "\"web\\tapi\"", "!service: byte 0x09 at offset 3 is not in [A-Za-z0-9._:/-]"},
    {"service", "\"wéb\"", "!service: byte 0xc3 at offset 1"},
    {"service", "\"a\\u0000b\"", "!service: byte 0x00 at offset 1"},
    {"service", "\"web;\"", "!service: character ';' at offset 3"},
    {"service", "1", "!service: must be a string, got integer"},
    {"service", "[\"web\"]", "!service: must be a string, got array"},
    /* endpoint */
    {"endpoint", "@256e", "@256e"},
    {"endpoint", "@257e", "!endpoint: must be 1-256 bytes, got 257"},
    {"endpoint", "@128é", "@128é"}, /* 256 bytes of two-byte characters */
    {"endpoint", "@129é", "!endpoint: must be 1-256 bytes, got 258"},
    {"endpoint", "\"\"", "!endpoint: must be 1-256 bytes, got 0"},
    {"endpoint", "\"/café ✓ 日本 'x' \\\"y\\\" \\\\z\"", "/café ✓ 日本 'x' \"y\" \\\\z"},
    {"endpoint", "\"/a\\nb\"", "!endpoint: control character 0x0a at offset 2"},
    {"endpoint", "\"/a\\tb\"", "!endpoint: control character 0x09 at offset 2"},
    {"endpoint", "\"/a\\u007fb\"", "!endpoint: control character 0x7f at offset 2"},
    {"endpoint", "\"/a\\u0000b\"", "!endpoint: control character 0x00 at offset 2"},
    {"endpoint", "false", "!endpoint: must be a string, got boolean"},
    /* commit */
    {"commit", "@64f", "@64f"},
    {"commit", "@65f", "!commit: must be 1-64 bytes, got 65"},
    {"commit", "\"\"", "!commit: must be 1-64 bytes, got 0"},
    {"commit", "\"abc\\r\"", "!commit: control character 0x0d at offset 3"},
    {"commit", "123", "!commit: must be a string, got integer"},
    /* instructions */
    {"instructions", "0", "0"},
    {"instructions", "9007199254740991", "9007199254740991"},
    {"instructions", "9007199254740992",
     "!instructions: must be <= 9007199254740991, got 9007199254740992"},
    {"instructions", "-1", "!instructions: must be >= 0, got -1"},
    {"instructions", "5.0", "!instructions: must be an integer, got real"},
    {"instructions", "1e3", "!instructions: must be an integer, got real"},
    {"instructions", "\"5\"", "!instructions: must be an integer, got string"},
    {"instructions", "true", "!instructions: must be an integer, got boolean"},
    /* user_id */
    {"user_id", "\"u1\"", "u1"},
    {"user_id", "42", "42"},
    {"user_id", "-9223372036854775808", "-9223372036854775808"},
    {"user_id", "\"\"", ""},
    {"user_id", "null", "\\N"},
    {"user_id", "@128u", "@128u"},
    {"user_id", "@129u", "!user_id: must be at most 128 bytes, got 129"},
    {"user_id", "\"a\\u0000b\"", "!user_id: NUL byte at offset 1"},
    {"user_id", "1.5", "!user_id: must be a string or an integer, got real"},
    {"user_id", "true", "!user_id: must be a string or an integer, got boolean"},
    {"user_id", "{}", "!user_id: must be a string or an integer, got object"},
    /* latency_us, db_us, cache_us */
    {"latency_us", "0", "0"},
    {"latency_us", "9223372036854775807", "9223372036854775807"},
    {"latency_us", "null", "\\N"},
    {"latency_us", "-1", "!latency_us: must be >= 0, got -1"},
    {"latency_us", "1.0", "!latency_us: must be an integer, got real"},
    {"latency_us", "\"1\"", "!latency_us: must be an integer, got string"},
    {"db_us", "17", "17"},
    {"db_us", "null", "\\N"},
    {"db_us", "-5", "!db_us: must be >= 0, got -5"},
    {"db_us", "[]", "!db_us: must be an integer, got array"},
    {"cache_us", "0", "0"},
    {"cache_us", "null", "\\N"},
    {"cache_us", "-1", "!cache_us: must be >= 0"},
    {"cache_us", "2.5", "!cache_us: must be an integer, got real"},
    /* status */
    {"status", "100", "100"},
    {"status", "599", "599"},
    {"status", "null", "\\N"},
    {"status", "99", "!status: must be >= 100, got 99"},
    {"status", "600", "!status: must be <= 599, got 600"},
    {"status", "200.0", "!status: must be an integer, got real"},
    {"status", "\"200\"", "!status: must be an integer, got string"},
    /* host, region, cluster */
    {"host", "@128h", "@128h"},
    {"host", "@129h", "!host: must be at most 128 bytes, got 129"},
    {"host", "\"\"", ""},
    {"host", "null", "\\N"},
    {"host", "\"a\\tb\"", "a\\tb"},
    {"host", "5", "!host: must be a string, got integer"},
    {"region", "@128r", "@128r"},
    {"region", "@129r", "!region: must be at most 128 bytes, got 129"},
    {"region", "null", "\\N"},
    {"region", "{}", "!region: must be a string, got object"},
    {"cluster", "@128c", "@128c"},
    {"cluster", "@129c", "!cluster: must be at most 128 bytes, got 129"},
    {"cluster", "null", "\\N"},
    {"cluster", "true", "!cluster: must be a string, got boolean"},
    /* sample_rate */
    {"sample_rate", "1", "1"},
    {"sample_rate", "1.0", "1"},
    {"sample_rate", "0.5", "0.5"},
    {"sample_rate", "0.1", "0.1"},
    {"sample_rate", "0.3333333333333333", "0.3333333333333333"},
    {"sample_rate", "1e-9", "1e-09"},
    {"sample_rate", "null", "1"},
    {"sample_rate", "0", "!sample_rate: must be > 0 and <= 1, got 0"},
    {"sample_rate", "0.0", "!sample_rate: must be > 0 and <= 1, got 0"},
    {"sample_rate", "-0.5", "!sample_rate: must be > 0 and <= 1, got -0.5"},
    {"sample_rate", "1.0001", "!sample_rate: must be > 0 and <= 1, got 1.0001"},
    {"sample_rate", "2", "!sample_rate: must be > 0 and <= 1, got 2"},
    {"sample_rate", "\"0.5\"", "!sample_rate: must be a number, got string"},
    {"sample_rate", "true", "!sample_rate: must be a number, got boolean"},
    /* flags */
    {"flags", "{}", "{}"},
    {"flags", "null", "{}"},
    {"flags", "{\"a\":\"on\"}", "{\"a\":\"on\"}"},
    {"flags", "{\"i\":42,\"neg\":-1,\"r\":0.1,\"big\":1e300,\"t\":true,\"f\":false,\"s\":\"\"}",
     "{\"i\":\"42\",\"neg\":\"-1\",\"r\":\"0.1\",\"big\":\"1e+300\",\"t\":\"true\",\"f\":"
     "\"false\",\"s\":\"\"}"},
    {"flags", "{\"r\":2.5,\"third\":0.3333333333333333,\"whole\":5.0}",
     "{\"r\":\"2.5\",\"third\":\"0.3333333333333333\",\"whole\":\"5\"}"},
    {"flags", "{\"ü\":\"日本\"}", "{\"ü\":\"日本\"}"},
    {"flags", "{\"del\":\"a\\u007f\",\"q\":\"'\\\"\"}", "{\"del\":\"a\\177\",\"q\":\"'\\\\\"\"}"},
    {"flags", "{\"a\":{}}",
     "!flags: value of \"a\" must be a string, boolean or number, got object"},
    {"flags", "{\"ok\":1,\"list\":[1]}",
     "!flags: value of \"list\" must be a string, boolean or number, got array"},
    {"flags", "{\"n\":null}",
     "!flags: value of \"n\" must be a string, boolean or number, got null"},
    {"flags", "{\"bad\\nkey\\\"\":{}}",
     "!flags: value of \"bad\\x0akey\\\"\" must be a string, boolean or number, got object"},
    {"flags", "{\"\":\"x\"}", "!flags: key \"\" is 0 bytes, must be 1-64"},
    {"flags", "{\"k\":\"a\\u0000b\"}", "!flags: value of \"k\" contains a NUL byte"},
    {"flags", "[]", "!flags: must be an object, got array"},
    {"flags", "\"a=b\"", "!flags: must be an object, got string"},
};

static void check_field_case(size_t i)
{
    const char *field = field_cases[i].field, *want = field_cases[i].want;
    json_t *obj = parse(BASE);
    char *value_text = expand(field_cases[i].value);
    json_t *value =
        field_cases[i].value[0] == '@' ? json_string(value_text) : parse(field_cases[i].value);
    json_object_set_new(obj, field, value);
    struct outcome o;
    run_obj(obj, &o);
    if (want[0] == '!') {
        CHECK_MSG(o.rc == -1, "%s=%s accepted", field, field_cases[i].value);
        CHECK_MSG(strncmp(o.err, want + 1, strlen(want + 1)) == 0, "%s=%s: reason \"%s\"", field,
                  field_cases[i].value, o.err);
    } else {
        CHECK_MSG(o.rc == 0, "%s=%s rejected: %s", field, field_cases[i].value, o.err);
        char *want_col = expand(want);
        if (o.rc == 0)
            CHECK_STR(column(row_of(&o), column_index(field)), want_col);
        free(want_col);
    }
    free(value_text);
    json_decref(obj);
    buf_free(&o.out);
}

static void test_field_rules(void)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(field_cases); i++)
        check_field_case(i);
}

/* BASE plus flags built by the caller; returns the outcome's rc (and frees it). */
static int run_flags(json_t *flags, char *reason, size_t reason_len)
{
    json_t *obj = parse(BASE);
    json_object_set_new(obj, "flags", flags);
    struct outcome o;
    run_obj(obj, &o);
    snprintf(reason, reason_len, "%s", o.rc == 0 ? column(row_of(&o), 15) : o.err);
    json_decref(obj);
    buf_free(&o.out);
    return o.rc;
}

static void test_flag_limits(void)
{
    char reason[8192], key[128];
    json_t *flags = json_object();
    for (int i = 0; i < SAMPLE_FLAGS_MAX; i++) {
        snprintf(key, sizeof(key), "f%02d", i);
        json_object_set_new(flags, key, json_string("on"));
    }
    CHECK(run_flags(json_deep_copy(flags), reason, sizeof(reason)) == 0);
    CHECK(strncmp(reason, "{\"f00\":\"on\",\"f01\":\"on\"", 22) == 0);
    CHECK(strstr(reason, "\"f63\":\"on\"}") != NULL);
    json_object_set_new(flags, "f64", json_string("on"));
    CHECK(run_flags(flags, reason, sizeof(reason)) == -1);
    CHECK_STR(reason, "flags: 65 entries, at most 64 allowed");

    char *k64 = expand("@64k"), *k65 = expand("@65k"), *v64 = expand("@64v"), *v65 = expand("@65v");
    CHECK(run_flags(json_pack("{s:s}", k64, "x"), reason, sizeof(reason)) == 0);
    CHECK(run_flags(json_pack("{s:s}", k65, "x"), reason, sizeof(reason)) == -1);
    CHECK(strncmp(reason, "flags: key \"kkkkkkkkkk", 22) == 0);
    CHECK(strstr(reason, "\"... is 65 bytes, must be 1-64") != NULL);
    CHECK(run_flags(json_pack("{s:s}", "k", v64), reason, sizeof(reason)) == 0);
    CHECK(run_flags(json_pack("{s:s}", "k", v65), reason, sizeof(reason)) == -1);
    CHECK_STR(reason, "flags: value of \"k\" is 65 bytes, at most 64 allowed");
    /* numbers are limited by their text, which always fits */
    CHECK(run_flags(json_pack("{s:f}", "k", -1.2345678901234567e-300), reason, sizeof(reason)) ==
          0);
    CHECK_STR(reason, "{\"k\":\"-1.2345678901234568e-300\"}");
    free(k64);
    free(k65);
    free(v64);
    free(v65);
}

/* A failure in the third flag, after the row and two flags were written, restores out. */
static void test_late_failure_restores_out(void)
{
    struct outcome o;
    run_text("{\"ts\":1795255200123,\"service\":\"web\",\"endpoint\":\"/\",\"commit\":\"c\","
             "\"instructions\":1,\"user_id\":\"u\",\"flags\":{\"a\":\"x\\\\y\",\"b\":1,\"c\":[]}}",
             &o);
    CHECK_INT(o.rc, -1);
    CHECK_STR(o.err, "flags: value of \"c\" must be a string, boolean or number, got array");
    CHECK_INT(o.out.len, 7);
    buf_free(&o.out);
}

/* Long keys in reasons are cut on a UTF-8 boundary and escaped. */
static void test_reason_excerpts(void)
{
    char reason[256];
    char *key = expand("@40é"); /* 80 bytes */
    CHECK(run_flags(json_pack("{s:s}", key, "x"), reason, sizeof(reason)) == -1);
    check_reason(reason);
    CHECK(strstr(reason, "\"...") != NULL);
    free(key);
    key = expand("@70\x01"); /* control bytes: 4 bytes each in the reason */
    CHECK(run_flags(json_pack("{s:[]}", key), reason, sizeof(reason)) == -1);
    check_reason(reason);
    CHECK(strncmp(reason, "flags: key \"\\x01\\x01", 20) == 0);
    free(key);
    for (int shift = 0; shift < 4; shift++) { /* every cut position inside 3-byte characters */
        char k[200] = "";
        for (int i = 0; i < shift; i++)
            strcat(k, "a");
        for (int i = 0; i < 30; i++)
            strcat(k, "✓");
        CHECK(run_flags(json_pack("{s:{}}", k), reason, sizeof(reason)) == -1);
        check_reason(reason);
    }
}

static void test_user_hash(void)
{
    CHECK_INT(sample_user_hash("u123", 4, "h", 1, 5), 2014406463u);
    CHECK_INT(sample_user_hash("u123", 4, NULL, 0, 0), util_hash32("u123", 4));
    CHECK_INT(sample_user_hash("", 0, "h", 1, 5), 2872998923u);
    /* no user: host bytes then ts as 8 little-endian bytes */
    unsigned char bytes[14] = {'w', 'e', 'b', '-', '0', '1'};
    int64_t ts = INT64_C(1795255200123000);
    for (int i = 0; i < 8; i++)
        bytes[6 + i] = (unsigned char)((uint64_t)ts >> (8 * i));
    CHECK_INT(sample_user_hash(NULL, 0, "web-01", 6, ts), util_hash32(bytes, 14));
    CHECK_INT(sample_user_hash(NULL, 0, "web-01", 6, ts), 2926835596u); /* -1368131700 */
    CHECK(sample_user_hash(NULL, 0, "web-01", 6, ts) != sample_user_hash(NULL, 0, "web-01", 6, 1));
    CHECK_INT(sample_user_hash(NULL, 0, NULL, 0, INT64_C(1795000000000000)), 2097137194u);
    char *long_host = expand("@300h");
    CHECK(sample_user_hash(NULL, 0, long_host, 300, 1) !=
          sample_user_hash(NULL, 0, long_host, 299, 1));
    free(long_host);
    /* a hash above INT32_MAX is stored as the negative int4 with the same bits */
    struct outcome o;
    run_text("{\"ts\":1795255200123,\"service\":\"web\",\"endpoint\":\"/\",\"commit\":\"c\","
             "\"instructions\":1,\"user_id\":\"user-7\"}",
             &o);
    CHECK_STR(column(row_of(&o), 5), "-5125978"); /* 4289841318 */
    buf_free(&o.out);
}

static void test_copy_escape(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, ""},
        {"plain text", 10, "plain text"},
        {"a\tb", 3, "a\\tb"},
        {"a\nb\rc", 5, "a\\nb\\rc"},
        {"\r\n", 2, "\\r\\n"},
        {"back\\slash", 10, "back\\\\slash"},
        {"\\N", 2, "\\\\N"}, /* a literal \N must not read as NULL */
        {"\\", 1, "\\\\"},
        {"\\.", 2, "\\\\."}, /* nor end the data */
        {"quote\"s'", 8, "quote\"s'"},
        {"'); DROP TABLE samples;--", 25, "'); DROP TABLE samples;--"},
        {"\b\f\v", 3, "\\b\\f\\v"},
        {"\x01\x1f\x7f", 3, "\\001\\037\\177"},
        {"\x01"
         "7",
         2, "\\0017"}, /* three octal digits: the '7' stays a '7' */
        {"\x1b[31m", 5, "\\033[31m"},
        {"héllo ✓ 日本 \xf0\x9f\x98\x80", 22, "héllo ✓ 日本 \xf0\x9f\x98\x80"},
        {"tab\tat\tend\t", 11, "tab\\tat\\tend\\t"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct buf b = {0};
        buf_append_str(&b, "pre|");
        copy_escape_append(&b, cases[i].in, cases[i].len);
        CHECK(strncmp(buf_cstr(&b), "pre|", 4) == 0);
        CHECK_STR(buf_cstr(&b) + 4, cases[i].want);
        buf_free(&b);
    }
}

/* Decodes COPY text (the escapes PostgreSQL documents) — an independent inverse. */
static size_t copy_unescape(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        char c = s[++i];
        const char *from = "btnvfr\\", *to = "\b\t\n\v\f\r\\";
        if (c >= '0' && c <= '7') {
            int v = 0;
            for (int k = 0; k < 3 && i < len && s[i] >= '0' && s[i] <= '7'; k++, i++)
                v = v * 8 + (s[i] - '0');
            i--;
            out[n++] = (char)v;
        } else {
            out[n++] = strchr(from, c) ? to[strchr(from, c) - from] : c;
        }
    }
    return n;
}

/* Every byte 1..255, and random strings of them, survive escape + unescape; the escaped text
 * never holds a raw tab, newline or carriage return. */
static void test_copy_round_trip(void)
{
    char in[512], dec[512];
    uint32_t x = 2463534242u;
    int bad = 0;
    for (int round = 0; round < 2000; round++) {
        size_t len = round == 0 ? 255 : (x % 300);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            in[i] = (char)(round == 0 ? i + 1 : (x % 255) + 1);
        }
        struct buf b = {0};
        copy_escape_append(&b, in, len);
        if (memchr(b.data, '\t', b.len) || memchr(b.data, '\n', b.len) ||
            memchr(b.data, '\r', b.len))
            bad++;
        size_t n = copy_unescape(b.data, b.len, dec);
        if (n != len || memcmp(dec, in, len) != 0)
            bad++;
        buf_free(&b);
    }
    CHECK_INT(bad, 0);
}

static void test_json_escape(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"a\"b", 3, "\"a\\\"b\""},
        {"a\\b", 3, "\"a\\\\b\""},
        {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x0b", 3, "\"\\u0001\\u001f\\u000b\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x7f", 1, "\"\x7f\""},
        {"'); DROP TABLE samples;--", 25, "\"'); DROP TABLE samples;--\""},
        {"</script>", 9, "\"</script>\""},
        {"héllo ✓ 日本 \xf0\x9f\x98\x80", 22, "\"héllo ✓ 日本 \xf0\x9f\x98\x80\""},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct buf b = {0};
        json_escape_append(&b, cases[i].in, cases[i].len);
        CHECK_STR(buf_cstr(&b), cases[i].want);
        /* jansson reads it back as the same string */
        json_error_t jerr;
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        CHECK_MSG(j && json_is_string(j) && json_string_length(j) == cases[i].len &&
                      memcmp(json_string_value(j), cases[i].in, cases[i].len) == 0,
                  "case %zu does not read back: %s", i, jerr.text);
        json_decref(j);
        buf_free(&b);
    }
}

int main(void)
{
    test_full_rows();
    test_meta();
    test_field_order_and_unknown();
    test_not_object();
    test_missing_required();
    test_field_rules();
    test_flag_limits();
    test_late_failure_restores_out();
    test_reason_excerpts();
    test_user_hash();
    test_copy_escape();
    test_copy_round_trip();
    test_json_escape();
    return check_summary();
}
