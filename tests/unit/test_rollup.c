/* Rollup aggregation: rendered rows against sums computed directly, sealing twice, keys with
 * hostile characters, and the user sets; the flag rollups likewise, and their (flag, value)
 * pairs against the flags column of the samples' own COPY rows. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumer/rollup.h"
#include "check.h"
#include "copy_text.h"

#define T0 INT64_C(1763719200000000) /* 2025-11-21T10:00:00Z, a 10-minute boundary */

static struct sample_meta meta(const char *service, const char *endpoint, const char *commit,
                               int64_t ts_us, uint32_t user_hash, int64_t instr, int64_t lat)
{
    return (struct sample_meta){.ts_us = ts_us,
                                .service = service,
                                .service_len = strlen(service),
                                .endpoint = endpoint,
                                .endpoint_len = strlen(endpoint),
                                .commit = commit,
                                .commit_len = strlen(commit),
                                .user_hash = user_hash,
                                .instructions = instr,
                                .latency_us = lat,
                                .db_us = -1,
                                .cache_us = 5};
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    CHECK_MSG(v != NULL, "bad test JSON %s: %s", text, e.text);
    return v;
}

static int count_lines(const struct buf *b)
{
    int n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

/* rollup_render, with the rows read back as COPY text (copy_text.h) and appended to bt, so
 * that the checks read them column by column. */
static void render_text(struct rollup *r, struct batch *bt)
{
    struct batch bin = {0};
    rollup_render(r, &bin);
    CHECK(copy_text_rollups(bt, &bin) == 0);
    batch_free(&bin);
}

static void test_sums(void)
{
    struct rollup *r = rollup_new();
    /* Two samples share (endpoint, minute, bucket 1): hashes 1 and 65 both have h & 63 = 1.
     * Bucket 0 of the same minute comes after them and is rendered first: one row per key, its
     * buckets ascending and every sum an array aligned with them. */
    struct sample_meta a = meta("web", "feed", "c1", T0 + 1000, 1, 100, 10);
    struct sample_meta b = meta("web", "feed", "c1", T0 + 59000000, 65, 300, -1);
    struct sample_meta c = meta("web", "feed", "c1", T0 + 60000000, 1, 7, 1); /* next minute */
    struct sample_meta d = meta("web", "feed", "c1", T0 + 5000, 128, 11, -1); /* bucket 0 */
    rollup_add(r, &a);
    rollup_add(r, &b);
    rollup_add(r, &c);
    rollup_add(r, &d);
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_INT(bt.n_rollups, 2);
    CHECK_INT(bt.n_users, 2);
    CHECK_INT(count_lines(&bt.rollups), 2);
    CHECK_STR(buf_cstr(&bt.rollups),
              "web\tfeed\tc1\t2025-11-21T10:00:00.000000Z\t{0,1}\t{1,2}\t{11,400}"
              "\t{121,100000}\t{0,1}\t{0,10}\t{0,100}\t{0,0}\t{5,10}\n"
              "web\tfeed\tc1\t2025-11-21T10:01:00.000000Z\t{1}\t{1}\t{7}\t{49}\t{1}\t{1}"
              "\t{1}\t{0}\t{5}\n");
    CHECK_STR(buf_cstr(&bt.users), "web\tc1\t2025-11-21T10:00:00.000000Z\t{1,65,128}\n"
                                   "web\tc1\t2025-11-21T10:01:00.000000Z\t{1}\n");
    /* No flags, no flag rows. */
    CHECK_INT(bt.n_flags, 0);
    CHECK_INT(bt.n_flag_users, 0);
    CHECK_INT(bt.flags.len, 0);
    CHECK_INT(bt.flag_users.len, 0);
    /* After rendering, the aggregator is empty; counts accumulate across seals. */
    rollup_add(r, &a);
    rollup_add(r, &a);
    render_text(r, &bt);
    CHECK_INT(bt.n_rollups, 3);
    CHECK_INT(bt.n_users, 3);
    CHECK(strstr(bt.rollups.data, "\t{1}\t{2}\t{200}\t{20000}\t{2}\t{20}\t{200}\t{0}\t{10}\n") !=
          NULL);
    /* duplicates of one user in a minute are rendered once */
    CHECK(strstr(bt.users.data, "{1}\n") != NULL);
    batch_free(&bt);
    rollup_free(r);
}

static void test_hostile_keys_and_negative_hashes(void)
{
    struct rollup *r = rollup_new();
    /* A tab and backslash in the endpoint are COPY-escaped; a hash above INT32_MAX is
     * rendered as the int4 with the same bits; event times before 1970 floor to the minute. */
    struct sample_meta m = meta("svc", "a\tb\\c", "c", -1, 0xffffffffu, 1, -1);
    rollup_add(r, &m);
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_STR(buf_cstr(&bt.rollups),
              "svc\ta\\tb\\\\c\tc\t1969-12-31T23:59:00.000000Z\t{63}\t{1}\t{1}\t{1}\t{0}\t{0}"
              "\t{0}\t{0}\t{5}\n");
    CHECK_STR(buf_cstr(&bt.users), "svc\tc\t1969-12-31T23:59:00.000000Z\t{-1}\n");
    batch_free(&bt);
    rollup_free(r);
}

/* Sums at and past 2^53 (the largest instructions value, its square, twice it) read back as the
 * same doubles; below 2^53 they are plain integers. */
static void test_large_sums(void)
{
    struct rollup *r = rollup_new();
    json_t *flags = parse("{\"f\":\"x\"}");
    struct sample_meta m = meta("s", "e", "c", T0, 3, INT64_C(9007199254740991), 0);
    m.flags = flags;
    rollup_add(r, &m);
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_STR(buf_cstr(&bt.rollups), "s\te\tc\t2025-11-21T10:00:00.000000Z\t{3}\t{1}"
                                     "\t{9007199254740991}\t{8.1129638414606664e+31}\t{1}\t{0}"
                                     "\t{0}\t{0}\t{5}\n");
    CHECK_STR(buf_cstr(&bt.flags), "s\te\tf\tx\t2025-11-21T10:00:00.000000Z\t{3}\t{1}"
                                   "\t{9007199254740991}\t{1}\t{0}\n");
    batch_reset(&bt);
    rollup_add(r, &m);
    rollup_add(r, &m);
    render_text(r, &bt);
    CHECK_STR(buf_cstr(&bt.rollups), "s\te\tc\t2025-11-21T10:00:00.000000Z\t{3}\t{2}"
                                     "\t{18014398509481982}\t{1.6225927682921333e+32}\t{2}\t{0}"
                                     "\t{0}\t{0}\t{10}\n");
    CHECK_STR(buf_cstr(&bt.flags), "s\te\tf\tx\t2025-11-21T10:00:00.000000Z\t{3}\t{2}"
                                   "\t{18014398509481982}\t{2}\t{0}\n");
    batch_free(&bt);
    rollup_free(r);
    json_decref(flags);
}

/* Column col of every row, an array ({1,2}), summed over all its elements and rows; *elements
 * (when not NULL) gets the number of elements. */
static long sum_column(const struct buf *rows, int col, long *elements)
{
    long total = 0, n = 0;
    for (char *line = rows->data; line && line < rows->data + rows->len;) {
        char *nl = memchr(line, '\n', (size_t)(rows->data + rows->len - line));
        char *p = line;
        for (int c = 0; c < col; c++)
            p = strchr(p, '\t') + 1;
        CHECK(*p == '{');
        for (p++; *p != '}';) {
            char *end;
            total += strtol(p, &end, 10);
            n++;
            p = *end == ',' ? end + 1 : end;
        }
        line = nl + 1;
    }
    if (elements)
        *elements = n;
    return total;
}

static void test_many_keys(void)
{
    /* Enough keys to rehash several times; every sample must land in exactly one row, every
     * (sample, flag) pair in exactly one flag row. */
    struct rollup *r = rollup_new();
    char ep[32], flags[128];
    json_t *objs[50];
    for (int i = 0; i < 50; i++) {
        snprintf(flags, sizeof(flags), "{\"v\":%d,\"on\":%s}", i, i % 2 ? "true" : "false");
        objs[i] = parse(flags);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(ep, sizeof(ep), "e%d", i % 500);
        struct sample_meta m = meta("web", ep, "c", (int64_t)(i % 7) * 60000000, (uint32_t)i, 2, 1);
        m.flags = i % 4 ? objs[i % 50] : NULL; /* a quarter without flags */
        rollup_add(r, &m);
    }
    struct batch bt = {0};
    render_text(r, &bt);
    /* One row per (endpoint, minute), each bucket that occurred in it once, the bucket numbers
     * summing to those of the distinct (endpoint, minute, bucket) cells. */
    static bool cell[500][7][64], flag_cell[500][64];
    long cells = 0, bucket_sum = 0, flag_cells = 0, flag_bucket_sum = 0;
    for (int i = 0; i < 20000; i++) {
        int e = i % 500, m = i % 7, b = i & 63;
        if (!cell[e][m][b]) {
            cell[e][m][b] = true;
            cells++;
            bucket_sum += b;
        }
        /* An endpoint (i % 500) fixes both its flag values (i % 50, i % 2): two flag rows, the
         * same cells (the minutes are all in one block). */
        if (i % 4 && !flag_cell[e][b]) {
            flag_cell[e][b] = true;
            flag_cells++;
            flag_bucket_sum += b;
        }
    }
    long elements;
    CHECK_INT(sum_column(&bt.rollups, 5, NULL), 20000);
    CHECK_INT(sum_column(&bt.rollups, 4, &elements), bucket_sum);
    CHECK_INT(elements, cells);
    CHECK_INT(bt.n_rollups, 500 * 7);
    CHECK_INT(count_lines(&bt.rollups), (long long)bt.n_rollups);
    CHECK_INT(bt.n_users, 7);
    CHECK_INT(sum_column(&bt.flags, 6, NULL), 2 * 15000);
    CHECK_INT(sum_column(&bt.flags, 5, &elements), 2 * flag_bucket_sum);
    CHECK_INT(elements, 2 * flag_cells);
    CHECK_INT(count_lines(&bt.flags), (long long)bt.n_flags);
    /* All minutes are in one block: one users row per (flag, value) pair that occurred. */
    CHECK_INT(bt.n_flag_users, 50 + 2);
    CHECK_INT(count_lines(&bt.flag_users), 52);
    batch_free(&bt);
    rollup_free(r);
    for (int i = 0; i < 50; i++)
        json_decref(objs[i]);
}

/* Checks that a users row's array is strictly increasing as uint32 and holds exactly want[0..n),
 * given in any order. */
static void check_user_array(const char *row, const uint32_t *want, size_t n)
{
    const char *p = strchr(row, '{');
    CHECK(p != NULL);
    if (!p)
        return;
    uint64_t sum = 0, want_sum = 0;
    size_t got = 0;
    uint32_t prev = 0;
    for (p++; *p && *p != '}'; got++) {
        char *end;
        uint32_t h = (uint32_t)(int32_t)strtol(p, &end, 10);
        CHECK_MSG(got == 0 || h > prev, "element %zu: %u after %u", got, h, prev);
        prev = h;
        sum += h;
        p = *end == ',' ? end + 1 : end;
    }
    for (size_t i = 0; i < n; i++)
        want_sum += want[i];
    CHECK_INT(got, n);
    CHECK(sum == want_sum);
}

/* Large user sets (sorted by radix) and small ones (by insertion) come out in uint32 order,
 * duplicates dropped, hashes past INT32_MAX included. */
static void test_user_sets_sorted(void)
{
    static const size_t sizes[] = {1, 2, 63, 64, 65, 5000};
    json_t *flags = parse("{\"f\":true}");
    for (size_t k = 0; k < REGRESSD_ARRAY_LEN(sizes); k++) {
        size_t n = sizes[k];
        uint32_t *want = xmalloc(n * sizeof(*want));
        struct rollup *r = rollup_new();
        /* distinct (the multiplier is odd), spread over all 32 bits */
        for (size_t i = 0; i < n; i++)
            want[i] = (uint32_t)(i + 1) * UINT32_C(2654435761);
        /* every user twice, out of order: 11 is prime to each n */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                struct sample_meta m = meta("s", "e", "c", T0, want[(i * 11 + 3) % n], 1, 1);
                m.flags = flags;
                rollup_add(r, &m);
            }
        }
        struct batch bt = {0};
        render_text(r, &bt);
        CHECK_INT(bt.n_users, 1);
        CHECK_INT(bt.n_flag_users, 1);
        check_user_array(buf_cstr(&bt.users), want, n);
        check_user_array(buf_cstr(&bt.flag_users), want, n);
        batch_free(&bt);
        rollup_free(r);
        free(want);
    }
    json_decref(flags);
}

/* Several flags of each kind, two blocks, two endpoints, a sample without flags. */
static void test_flags(void)
{
    struct rollup *r = rollup_new();
    json_t *fa = parse("{\"beta\":true,\"cohort\":3,\"ratio\":0.25,\"ranker\":\"v2\"}");
    json_t *fb = parse("{\"beta\":true,\"ranker\":\"v1\"}");
    json_t *fc = parse("{\"beta\":false}");
    struct sample_meta a = meta("web", "feed", "c1", T0 + 1000000, 1, 100, 10);
    struct sample_meta b = meta("web", "feed", "c2", T0 + 599999999, 65, 300, -1);
    struct sample_meta c = meta("web", "feed", "c1", T0 + 600000000, 1, 7, 1); /* next block */
    struct sample_meta d = meta("web", "feed", "c1", T0 + 2000000, 2, 1000, 1000);
    struct sample_meta e = meta("web", "other", "c1", T0 + 300000000, 1, 5, 2);
    a.flags = fa;
    b.flags = fb;
    c.flags = fc;
    e.flags = fb;
    rollup_add(r, &a);
    rollup_add(r, &b);
    rollup_add(r, &c);
    rollup_add(r, &d); /* no flags: in rollups only */
    rollup_add(r, &e);
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_INT(bt.n_flags, 8);
    CHECK_INT(count_lines(&bt.flags), 8);
    /* service, endpoint, flag, value, block, buckets, requests, instructions, latency_n,
     * latency_us (the last five as arrays over the buckets); commits c1 and c2 share rows. */
    CHECK_STR(buf_cstr(&bt.flags),
              "web\tfeed\tbeta\ttrue\t2025-11-21T10:00:00.000000Z\t{1}\t{2}\t{400}\t{1}\t{10}\n"
              "web\tfeed\tcohort\t3\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{100}\t{1}\t{10}\n"
              "web\tfeed\tratio\t0.25\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{100}\t{1}\t{10}\n"
              "web\tfeed\tranker\tv2\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{100}\t{1}\t{10}\n"
              "web\tfeed\tranker\tv1\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{300}\t{0}\t{0}\n"
              "web\tfeed\tbeta\tfalse\t2025-11-21T10:10:00.000000Z\t{1}\t{1}\t{7}\t{1}\t{1}\n"
              "web\tother\tbeta\ttrue\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{5}\t{1}\t{2}\n"
              "web\tother\tranker\tv1\t2025-11-21T10:00:00.000000Z\t{1}\t{1}\t{5}\t{1}\t{2}\n");
    /* service, flag, value, block, distinct user hashes in order (endpoints merged) */
    CHECK_INT(bt.n_flag_users, 6);
    CHECK_STR(buf_cstr(&bt.flag_users), "web\tbeta\ttrue\t2025-11-21T10:00:00.000000Z\t{1,65}\n"
                                        "web\tcohort\t3\t2025-11-21T10:00:00.000000Z\t{1}\n"
                                        "web\tratio\t0.25\t2025-11-21T10:00:00.000000Z\t{1}\n"
                                        "web\tranker\tv2\t2025-11-21T10:00:00.000000Z\t{1}\n"
                                        "web\tranker\tv1\t2025-11-21T10:00:00.000000Z\t{1,65}\n"
                                        "web\tbeta\tfalse\t2025-11-21T10:10:00.000000Z\t{1}\n");
    /* The flag-less sample is in the ordinary rollups all the same. */
    CHECK_INT(sum_column(&bt.rollups, 5, NULL), 5);
    /* Sealed: a second render adds nothing. */
    size_t len = bt.flags.len;
    render_text(r, &bt);
    CHECK_INT(bt.n_flags, 8);
    CHECK_INT(bt.flags.len, len);
    /* Reset forgets flag entries too. */
    rollup_add(r, &a);
    rollup_reset(r);
    render_text(r, &bt);
    CHECK_INT(bt.n_flags, 8);
    CHECK_INT(bt.n_flag_users, 6);
    batch_free(&bt);
    rollup_free(r);
    json_decref(fa);
    json_decref(fb);
    json_decref(fc);
}

/* Odd bytes in flag names and values are COPY-escaped; numbers are spelled as in samples.flags;
 * event times before 1970 floor to their 10-minute block; a hash above INT32_MAX is the int4
 * with the same bits. */
static void test_flag_escaping_and_negative_times(void)
{
    static const struct {
        const char *flags;
        const char *row; /* flag and value columns */
    } cases[] = {
        {"{\"a\\tb\\\\c\":\"x\\ny\\u007f\"}", "a\\tb\\\\c\tx\\ny\\177"},
        {"{\"ctl\\u0001\":\"\\r\\u001f\"}", "ctl\\001\t\\r\\037"},
        {"{\"q'\\\"\":\"ü 日本 {,}\"}", "q'\"\tü 日本 {,}"},
        {"{\"empty\":\"\"}", "empty\t"},
        {"{\"null\":\"\\\\N\"}", "null\t\\\\N"},
        {"{\"neg\":-7}", "neg\t-7"},
        {"{\"big\":9007199254740993}", "big\t9007199254740993"},
        {"{\"r\":1e300}", "r\t1e+300"},
        {"{\"r\":1.5e-7}", "r\t1.5e-07"},
        {"{\"r\":0.30000000000000004}", "r\t0.30000000000000004"},
        {"{\"r\":5.0}", "r\t5"},
        {"{\"r\":-0.0}", "r\t-0"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct rollup *r = rollup_new();
        json_t *flags = parse(cases[i].flags);
        /* -1 µs is in the block [1969-12-31T23:50:00Z, 1970-01-01T00:00:00Z). */
        struct sample_meta m = meta("svc", "e\\p", "c", -1, 0xffffffffu, 1, -1);
        m.flags = flags;
        rollup_add(r, &m);
        struct batch bt = {0};
        render_text(r, &bt);
        char want[256];
        snprintf(want, sizeof(want),
                 "svc\te\\\\p\t%s\t1969-12-31T23:50:00.000000Z\t{63}\t{1}\t{1}\t{0}\t{0}\n",
                 cases[i].row);
        CHECK_STR(buf_cstr(&bt.flags), want);
        snprintf(want, sizeof(want), "svc\t%s\t1969-12-31T23:50:00.000000Z\t{-1}\n", cases[i].row);
        CHECK_STR(buf_cstr(&bt.flag_users), want);
        batch_free(&bt);
        rollup_free(r);
        json_decref(flags);
    }
    /* Exactly on a block boundary before 1970, and one microsecond earlier. */
    struct rollup *r = rollup_new();
    json_t *flags = parse("{\"f\":1}");
    struct sample_meta on = meta("s", "e", "c", -600000000, 2, 1, -1);
    struct sample_meta before = meta("s", "e", "c", -600000001, 2, 1, -1);
    on.flags = before.flags = flags;
    rollup_add(r, &on);
    rollup_add(r, &before);
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_STR(buf_cstr(&bt.flag_users), "s\tf\t1\t1969-12-31T23:50:00.000000Z\t{2}\n"
                                        "s\tf\t1\t1969-12-31T23:40:00.000000Z\t{2}\n");
    batch_free(&bt);
    rollup_free(r);
    json_decref(flags);
}

/* Undoes COPY text escaping of one column (the escapes copy_escape_append writes). */
static void copy_unescape(const char *s, size_t len, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '\\' && i + 1 < len) {
            char e = s[++i];
            if (e >= '0' && e <= '7') {
                ch = (char)((e - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0'));
                i += 2;
            } else {
                const char *from = "bfnrtv\\", *to = "\b\f\n\r\t\v\\";
                ch = strchr(from, e) ? to[strchr(from, e) - from] : e;
            }
        }
        buf_append_char(out, ch);
    }
}

/* Column col (0-based) of a tab-separated line, unescaped into out. */
static void column(const char *line, int col, struct buf *out)
{
    for (int c = 0; c < col; c++)
        line = strchr(line, '\t') + 1;
    size_t len = strcspn(line, "\t\n");
    copy_unescape(line, len, out);
}

/* What the database sees: every (flag, value) of the samples' flags column, as jsonb_each_text
 * returns them, is a (flag, value) of the flag rollups and the other way round. The samples go
 * through sample_format_row, so this checks the rollups against sample.c's own rendering. */
static void test_flags_agree_with_sample_rows(void)
{
    static const char *const flag_objects[] = {
        "{\"s\":\"on\",\"t\":true,\"f\":false,\"i\":42,\"n\":-1}",
        "{\"r1\":0.1,\"r2\":2.5,\"r3\":1e300,\"r4\":-1.2345678901234567e-300,\"r5\":1e21}",
        "{\"r6\":0.3333333333333333,\"r7\":100.0,\"r8\":-0.0,\"r9\":123456789012345678}",
        "{\"tab\\t\":\"a\\\\b\\tc\\nd\",\"del\":\"\\u007f\",\"uni\":\"日本 ✓\",\"e\":\"\"}",
        "{\"dup\":1,\"dup\":\"one\"}",
        "{}",
    };
    const struct sample_limits limits = {0, INT64_C(4102444800000000)};
    struct rollup *r = rollup_new();
    struct buf bin = {0}, rows = {0}, a = {0}, bv = {0};
    json_t *pairs = json_object(); /* "flag\x1fvalue" -> true, from the sample rows */
    json_t *objs[REGRESSD_ARRAY_LEN(flag_objects)];
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(flag_objects); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"ts\":1763719200000,\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
                 "\"instructions\":1,\"user_id\":\"u%zu\",\"flags\":%s}",
                 i, flag_objects[i]);
        objs[i] = parse(text);
        struct sample_meta m;
        char err[256];
        buf_reset(&bin);
        buf_reset(&rows);
        CHECK_MSG(sample_format_row(objs[i], &limits, &bin, &m, err, sizeof(err)) == 0, "%s", err);
        CHECK_INT(copy_binary_to_text(bin.data, bin.len, COPY_TEXT_SAMPLES, &rows), 1);
        CHECK((m.flags == NULL) == (strcmp(flag_objects[i], "{}") == 0));
        rollup_add(r, &m);
        /* flags is the 16th column; its values are JSON strings. */
        column(rows.data, 15, &a);
        json_t *stored = parse(buf_cstr(&a));
        const char *k;
        json_t *v;
        json_object_foreach(stored, k, v)
        {
            CHECK_MSG(json_is_string(v), "flag %s is not stored as a string", k);
            buf_reset(&bv);
            buf_printf(&bv, "%s\x1f%s", k, json_string_value(v));
            json_object_set_new(pairs, buf_cstr(&bv), json_true());
        }
        json_decref(stored);
    }
    struct batch bt = {0};
    render_text(r, &bt);
    CHECK_INT(bt.n_flags, json_object_size(pairs));
    CHECK_INT(bt.n_flag_users, json_object_size(pairs));
    for (char *line = bt.flags.data; line && line < bt.flags.data + bt.flags.len;) {
        column(line, 2, &a);
        column(line, 3, &bv);
        buf_append_char(&a, '\x1f');
        buf_append(&a, bv.data, bv.len);
        CHECK_MSG(json_object_get(pairs, buf_cstr(&a)) != NULL, "rollup pair %s not in samples",
                  buf_cstr(&a));
        json_object_del(pairs, buf_cstr(&a));
        line = strchr(line, '\n') + 1;
    }
    CHECK_INT(json_object_size(pairs), 0);
    json_decref(pairs);
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(objs); i++)
        json_decref(objs[i]);
    buf_free(&rows);
    buf_free(&bin);
    buf_free(&a);
    buf_free(&bv);
    batch_free(&bt);
    rollup_free(r);
}

/* The public helper renders each kind and refuses what is not a flag value. */
static void test_flag_value_text(void)
{
    static const struct {
        const char *json;
        const char *text; /* NULL: refused */
    } cases[] = {
        {"\"v2\"", "v2"},
        {"true", "true"},
        {"false", "false"},
        {"0", "0"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"0.1", "0.1"},
        {"1e-300", "1e-300"},
        {"null", NULL},
        {"[]", NULL},
        {"{}", NULL},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        char text[SAMPLE_FLAG_TEXT_BUFLEN];
        const char *s = NULL;
        size_t len = 0;
        int rc = sample_flag_value_text(v, text, &s, &len);
        CHECK_INT(rc, cases[i].text ? 0 : -1);
        if (cases[i].text && rc == 0)
            CHECK_MSG(len == strlen(cases[i].text) && memcmp(s, cases[i].text, len) == 0,
                      "%s: got \"%.*s\", want \"%s\"", cases[i].json, (int)len, s, cases[i].text);
        json_decref(v);
    }
}

int main(void)
{
    test_sums();
    test_hostile_keys_and_negative_hashes();
    test_many_keys();
    test_large_sums();
    test_user_sets_sorted();
    test_flags();
    test_flag_escaping_and_negative_times();
    test_flags_agree_with_sample_rows();
    test_flag_value_text();
    return check_summary();
}
