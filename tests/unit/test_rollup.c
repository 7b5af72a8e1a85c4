/* Rollup aggregation: rendered rows against sums computed directly, sealing twice, keys with
 * hostile characters, and the user sets. */
#include <stdlib.h>
#include <string.h>

#include "../../consumer/rollup.h"
#include "check.h"

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

static int count_lines(const struct buf *b)
{
    int n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

static void test_sums(void)
{
    struct rollup *r = rollup_new();
    const int64_t t0 = INT64_C(1763719200000000); /* 2025-11-21T10:00:00Z, a minute boundary */
    /* Two samples share (endpoint, minute, bucket 1): hashes 1 and 65 both have h & 63 = 1. */
    struct sample_meta a = meta("web", "feed", "c1", t0 + 1000, 1, 100, 10);
    struct sample_meta b = meta("web", "feed", "c1", t0 + 59000000, 65, 300, -1);
    struct sample_meta c = meta("web", "feed", "c1", t0 + 60000000, 1, 7, 1); /* next minute */
    rollup_add(r, &a);
    rollup_add(r, &b);
    rollup_add(r, &c);
    struct buf rows = {0}, users = {0};
    size_t n_rows = 0, n_users = 0;
    rollup_render(r, &rows, &n_rows, &users, &n_users);
    CHECK_INT(n_rows, 2);
    CHECK_INT(n_users, 2);
    CHECK_INT(count_lines(&rows), 2);
    CHECK_STR(buf_cstr(&rows),
              "web\tfeed\tc1\t2025-11-21T10:00:00.000000Z\t1\t2\t400\t100000\t1\t10"
              "\t100\t0\t10\n"
              "web\tfeed\tc1\t2025-11-21T10:01:00.000000Z\t1\t1\t7\t49\t1\t1\t1\t0"
              "\t5\n");
    CHECK_STR(buf_cstr(&users), "web\tc1\t2025-11-21T10:00:00.000000Z\t{1,65}\n"
                                "web\tc1\t2025-11-21T10:01:00.000000Z\t{1}\n");
    /* After rendering, the aggregator is empty; counts accumulate across seals. */
    rollup_add(r, &a);
    rollup_add(r, &a);
    rollup_render(r, &rows, &n_rows, &users, &n_users);
    CHECK_INT(n_rows, 3);
    CHECK_INT(n_users, 3);
    CHECK(strstr(rows.data, "\t1\t2\t200\t20000\t2\t20\t200\t0\t10\n") != NULL);
    /* duplicates of one user in a minute are rendered once */
    CHECK(strstr(users.data, "{1}\n") != NULL);
    buf_free(&rows);
    buf_free(&users);
    rollup_free(r);
}

static void test_hostile_keys_and_negative_hashes(void)
{
    struct rollup *r = rollup_new();
    /* A tab and backslash in the endpoint are COPY-escaped; a hash above INT32_MAX is
     * rendered as the int4 with the same bits; event times before 1970 floor to the minute. */
    struct sample_meta m = meta("svc", "a\tb\\c", "c", -1, 0xffffffffu, 1, -1);
    rollup_add(r, &m);
    struct buf rows = {0}, users = {0};
    size_t n_rows = 0, n_users = 0;
    rollup_render(r, &rows, &n_rows, &users, &n_users);
    CHECK_STR(buf_cstr(&rows),
              "svc\ta\\tb\\\\c\tc\t1969-12-31T23:59:00.000000Z\t63\t1\t1\t1\t0\t0\t0\t0\t5\n");
    CHECK_STR(buf_cstr(&users), "svc\tc\t1969-12-31T23:59:00.000000Z\t{-1}\n");
    buf_free(&rows);
    buf_free(&users);
    rollup_free(r);
}

static void test_many_keys(void)
{
    /* Enough keys to rehash several times; every sample must land in exactly one row. */
    struct rollup *r = rollup_new();
    char ep[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(ep, sizeof(ep), "e%d", i % 500);
        struct sample_meta m = meta("web", ep, "c", (int64_t)(i % 7) * 60000000, (uint32_t)i, 2, 1);
        rollup_add(r, &m);
    }
    struct buf rows = {0}, users = {0};
    size_t n_rows = 0, n_users = 0;
    rollup_render(r, &rows, &n_rows, &users, &n_users);
    long total = 0;
    for (char *line = rows.data; line < rows.data + rows.len;) {
        char *nl = memchr(line, '\n', (size_t)(rows.data + rows.len - line));
        /* requests is the 6th column */
        char *p = line;
        for (int col = 0; col < 5; col++)
            p = strchr(p, '\t') + 1;
        total += strtol(p, NULL, 10);
        line = nl + 1;
    }
    CHECK_INT(total, 20000);
    CHECK_INT(count_lines(&rows), (long long)n_rows);
    CHECK_INT(n_users, 7);
    buf_free(&rows);
    buf_free(&users);
    rollup_free(r);
}

int main(void)
{
    test_sums();
    test_hostile_keys_and_negative_hashes();
    test_many_keys();
    return check_summary();
}
