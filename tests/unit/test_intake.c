/* Message-level intake: what becomes rows, what becomes dead letters and with which reason,
 * for every malformed kind a producer can send; the caps on services and endpoints; and the
 * rollups and commits a batch carries. */
#include <stdlib.h>
#include <string.h>

#include "../../consumer/intake.h"
#include "check.h"
#include "copy_text.h"
#include "regressd/config.h"

static struct config cfg;
static struct sample_limits limits;

static int count_lines(const struct buf *b)
{
    int n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

/* intake_seal, with the rows read back as COPY text (copy_text.h) and appended to bt, so
 * that the checks read them column by column. */
static void seal_text(struct intake *in, struct batch *bt)
{
    struct batch bin = {0};
    intake_seal(in, &bin);
    CHECK(copy_text_rollups(bt, &bin) == 0);
    batch_free(&bin);
}

static void feed(struct intake *in, struct batch *b, const char *msg, size_t len)
{
    struct intake_msg m = {3, 42, msg, len};
    intake_messages(in, b, "perf.samples", &m, 1, &limits);
}

/* Returns a static buffer: copy it to keep two at once. */
static const char *sample(int i, const char *service, const char *endpoint)
{
    static char s[512];
    snprintf(s, sizeof(s),
             "{\"ts\":\"2026-11-21T10:00:%02d.000Z\",\"service\":\"%s\",\"endpoint\":\"%s\","
             "\"commit\":\"c1\",\"instructions\":%d,\"user_id\":\"u%d\"}",
             i % 60, service, endpoint, 1000 + i, i);
    return s;
}

/* Every malformed kind becomes exactly one dead letter whose reason starts with `prefix`. */
static void test_malformed_messages(void)
{
    static const struct {
        const char *msg;
        const char *reason;
    } cases[] = {
        {"", "message: empty"},
        {"{\"ts\":1", "message: invalid JSON"},
        {"not json", "message: invalid JSON"},
        {"\x01\x02\xff\xfe garbage", "message: invalid JSON"},
        {"42", "message: invalid JSON"},
        {"\"a string\"", "message: invalid JSON"},
        {"{\"service\":\"web\"}", "ts: "},
        {"[1]", "sample 0: sample: must be a JSON object"},
        {"{\"ts\":\"2026-11-21T10:00:00Z\",\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
         "\"instructions\":-1}",
         "instructions: "},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        struct intake *in = intake_new(&cfg);
        struct batch b = {0};
        feed(in, &b, cases[i].msg, strlen(cases[i].msg));
        CHECK_INT(b.n_samples, 0);
        CHECK_INT(b.n_dead, 1);
        CHECK_INT(b.n_messages, 1);
        /* dead row: topic, partition, offset, index, reason, raw, raw_bytes */
        const char *row = buf_cstr(&b.dead);
        CHECK_MSG(strncmp(row, "perf.samples\t3\t42\t", 18) == 0, "row %s", row);
        const char *reason = strchr(row + 18, '\t') + 1;
        CHECK_MSG(strncmp(reason, cases[i].reason, strlen(cases[i].reason)) == 0,
                  "case %zu: reason \"%.80s\", want prefix \"%s\"", i, reason, cases[i].reason);
        batch_free(&b);
        intake_free(in);
    }
}

static void test_array_with_one_bad_element(void)
{
    struct intake *in = intake_new(&cfg);
    struct batch b = {0};
    struct buf msg = {0};
    buf_append_char(&msg, '[');
    for (int i = 0; i < 10; i++) {
        if (i)
            buf_append_char(&msg, ',');
        buf_append_str(&msg, i == 4 ? "{\"ts\":\"x\"}" : sample(i, "web", "feed"));
    }
    buf_append_char(&msg, ']');
    feed(in, &b, msg.data, msg.len);
    CHECK_INT(b.n_samples, 9);
    CHECK_INT(b.n_dead, 1);
    struct buf rows = {0};
    CHECK_INT(copy_binary_to_text(b.samples.data, b.samples.len, COPY_TEXT_SAMPLES, &rows), 9);
    CHECK_INT(count_lines(&rows), 9);
    buf_free(&rows);
    /* The dead letter names the element and keeps the element itself, not the whole array. */
    CHECK(strstr(b.dead.data, "\t4\tsample 4: ") != NULL);
    CHECK(strstr(b.dead.data, "\\\\x7b227473223a2278227d\t10\n") != NULL); /* {"ts":"x"} */
    seal_text(in, &b);
    /* One key (web, feed, c1, 10:00): one row, its 9 users in 9 buckets. */
    CHECK_INT(b.n_rollups, 1);
    const char *buckets = b.rollups.data;
    for (int c = 0; c < 4 && buckets; c++)
        buckets = strchr(buckets, '\t') + 1;
    CHECK(buckets != NULL && *buckets == '{');
    int elements = 1;
    for (const char *p = buckets; p && *p != '}'; p++)
        elements += *p == ',';
    CHECK_INT(elements, 9);
    CHECK(b.n_users >= 1);
    CHECK_INT(b.n_new_commits, 1);
    CHECK_INT(b.n_new_endpoints, 1);
    CHECK_INT(b.n_flags, 0); /* no sample has flags */
    CHECK_INT(b.n_flag_users, 0);
    buf_free(&msg);
    batch_free(&b);
    intake_free(in);
}

static void test_oversized_message(void)
{
    struct intake *in = intake_new(&cfg);
    struct batch b = {0};
    size_t len = 3 * 1024 * 1024; /* a multi-megabyte message */
    char *big = xmalloc(len);
    memset(big, ' ', len);
    memcpy(big, "[", 1);
    big[len - 1] = ']';
    feed(in, &b, big, len);
    CHECK_INT(b.n_dead, 1);
    CHECK(strstr(b.dead.data, "message: 3145728 bytes exceeds ingest.max_message_bytes") != NULL);
    /* raw kept up to the cap: "\\x" + 2 hex digits per byte, then the full size */
    CHECK(strstr(b.dead.data, "\t3145728\n") != NULL);
    CHECK(b.dead.len < (size_t)cfg.dead_letter_raw_max * 2 + 512);
    free(big);
    batch_free(&b);
    intake_free(in);
}

static void test_caps(void)
{
    struct intake *in = intake_new(&cfg);
    struct batch b = {0};
    char ep[32];
    for (int i = 0; i < 5; i++) { /* cfg caps endpoints per service at 3 */
        snprintf(ep, sizeof(ep), "e%d", i);
        const char *s = sample(i, "web", ep);
        feed(in, &b, s, strlen(s));
    }
    CHECK_INT(b.n_samples, 3);
    CHECK_INT(b.n_dead, 2);
    CHECK(strstr(b.dead.data, "endpoint: service already has 3 distinct endpoints") != NULL);
    /* A known endpoint is still accepted after the cap is reached. */
    const char *again = sample(9, "web", "e0");
    feed(in, &b, again, strlen(again));
    CHECK_INT(b.n_samples, 4);
    /* services cap (2): web and api fit, a third does not */
    char *api = xstrdup(sample(1, "api", "x")), *third = xstrdup(sample(2, "third", "x"));
    feed(in, &b, api, strlen(api));
    feed(in, &b, third, strlen(third));
    free(api);
    free(third);
    CHECK_INT(b.n_samples, 5);
    CHECK(strstr(b.dead.data, "service: more than 2 distinct services") != NULL);
    /* Endpoints known from PostgreSQL count against the cap. */
    intake_forget(in);
    intake_know_endpoint(in, "web", "a");
    intake_know_endpoint(in, "web", "b");
    intake_know_endpoint(in, "web", "c");
    const char *d = sample(3, "web", "d");
    size_t dead_before = b.n_dead;
    feed(in, &b, d, strlen(d));
    CHECK_INT(b.n_dead, dead_before + 1);
    batch_free(&b);
    intake_free(in);
}

static void test_event_time_range(void)
{
    struct intake *in = intake_new(&cfg);
    struct batch b = {0};
    const char *old = "{\"ts\":0,\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
                      "\"instructions\":1}";
    feed(in, &b, old, strlen(old));
    CHECK_INT(b.n_dead, 1);
    CHECK(strstr(b.dead.data, "is outside the accepted range") != NULL);
    batch_free(&b);
    intake_free(in);
}

/* Only accepted samples reach the flag rollups: one rejected for its flags, one for another
 * field, one for the endpoint cap. */
static void test_flag_rollups_of_accepted_samples(void)
{
    struct intake *in = intake_new(&cfg);
    struct batch b = {0};
    const char *msg =
        "[{\"ts\":\"2026-11-21T10:01:00Z\",\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
        "\"instructions\":10,\"user_id\":\"u1\",\"flags\":{\"beta\":true,\"ratio\":0.5}},"
        "{\"ts\":\"2026-11-21T10:09:59Z\",\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
        "\"instructions\":20,\"user_id\":\"u1\",\"flags\":{\"beta\":true}},"
        "{\"ts\":\"2026-11-21T10:02:00Z\",\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
        "\"instructions\":1,\"flags\":{\"beta\":true,\"bad\":[]}},"
        "{\"ts\":\"2026-11-21T10:02:00Z\",\"service\":\"web\",\"endpoint\":\"e\",\"commit\":\"c\","
        "\"instructions\":-1,\"flags\":{\"beta\":true}},"
        "{\"ts\":\"2026-11-21T10:02:00Z\",\"service\":\"web\",\"endpoint\":\"e1\",\"commit\":\"c\","
        "\"instructions\":1,\"flags\":{\"beta\":true}}]";
    intake_know_endpoint(in, "web", "a");
    intake_know_endpoint(in, "web", "b"); /* with e, the cap of 3 is reached */
    feed(in, &b, msg, strlen(msg));
    CHECK_INT(b.n_samples, 2);
    CHECK_INT(b.n_dead, 3);
    seal_text(in, &b);
    CHECK_INT(b.n_flags, 2);
    CHECK_INT(b.n_flag_users, 2);
    /* Both accepted samples are in block 10:00, user u1's bucket. */
    CHECK(strstr(buf_cstr(&b.flags), "web\te\tbeta\ttrue\t2026-11-21T10:00:00.000000Z\t") != NULL);
    CHECK(strstr(buf_cstr(&b.flags), "}\t{2}\t{30}\t{0}\t{0}\n") != NULL);
    CHECK(strstr(buf_cstr(&b.flags), "web\te\tratio\t0.5\t") != NULL);
    CHECK(strstr(buf_cstr(&b.flag_users), "web\tbeta\ttrue\t2026-11-21T10:00:00.000000Z\t{") !=
          NULL);
    batch_free(&b);
    intake_free(in);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of a buffer, sorted, as one string: rows compared regardless of order. */
static char *sorted_lines(const struct buf *b)
{
    size_t n = 0, cap = 16;
    char **lines = xmalloc(cap * sizeof(*lines));
    for (const char *p = b->data, *end = b->data + b->len; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == cap)
            lines = xrealloc(lines, (cap *= 2) * sizeof(*lines));
        lines[n++] = xstrndup(p, len);
        p = nl ? nl + 1 : end;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    struct buf out = {0};
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&out, lines[i]);
        buf_append_char(&out, '\n');
        free(lines[i]);
    }
    free(lines);
    char *s = xstrdup(buf_cstr(&out));
    buf_free(&out);
    return s;
}

/* 200 messages of 20 samples: three services, eight endpoints, two commits, minutes and
 * 10-minute blocks, flags, users; every seventh sample invalid and one message not JSON.
 * Instructions are small enough that every sum (squares included) is exact in any order. */
static struct buf *lane_traffic(size_t *n)
{
    *n = 200;
    struct buf *msgs = xcalloc(*n, sizeof(*msgs));
    static const char *const services[] = {"web", "api", "batch"};
    for (size_t m = 0; m < *n; m++) {
        if (m == 77) {
            buf_append_str(&msgs[m], "{\"ts\":");
            continue;
        }
        buf_append_char(&msgs[m], '[');
        for (int i = 0; i < 20; i++) {
            int k = (int)m * 20 + i;
            if (i)
                buf_append_char(&msgs[m], ',');
            buf_printf(&msgs[m],
                       "{\"ts\":\"2026-11-21T10:%02d:%02d.000Z\",\"service\":\"%s\","
                       "\"endpoint\":\"/e%d\",\"commit\":\"c%d\",\"instructions\":%d,"
                       "\"latency_us\":%d,\"user_id\":\"u%d\",\"flags\":{\"beta\":%s,"
                       "\"ranker\":\"v%d\"}}",
                       (k / 97) % 60, k % 60, services[k % 3], k % 8, (k / 1000) % 2,
                       k % 7 == 3 ? -5 : 1000 + (k * 7919) % 100000, 100 + k % 900, k % 301,
                       k % 2 ? "true" : "false", k % 3);
        }
        buf_append_char(&msgs[m], ']');
    }
    return msgs;
}

/* Parsed in chunks on several lanes, the traffic gives the rows one lane gives, rollups
 * included (merged across lanes into one row per key, as one lane renders them). */
static void test_lanes_give_what_one_lane_gives(void)
{
    size_t n;
    struct buf *msgs = lane_traffic(&n);
    struct intake_msg *im = xcalloc(n, sizeof(*im));
    for (size_t i = 0; i < n; i++)
        im[i] = (struct intake_msg){(int32_t)(i % 5), (int64_t)i, msgs[i].data, msgs[i].len};
    struct batch one = {0}, many = {0};

    struct config cfg1, cfg4;
    char err[256];
    char *ov1[] = {"ingest.parse_threads=1"}, *ov4[] = {"ingest.parse_threads=4"};
    CHECK(config_load(&cfg1, NULL, ov1, 1, err, sizeof(err)) == 0);
    CHECK(config_load(&cfg4, NULL, ov4, 1, err, sizeof(err)) == 0);
    struct intake *in1 = intake_new(&cfg1), *in4 = intake_new(&cfg4);
    CHECK_INT(intake_lanes(in1), 1);
    CHECK_INT(intake_lanes(in4), 4);
    for (size_t i = 0; i < n; i++)
        intake_messages(in1, &one, "perf.samples", &im[i], 1, &limits);
    for (size_t i = 0; i < n; i += 64)
        intake_messages(in4, &many, "perf.samples", &im[i], n - i < 64 ? n - i : 64, &limits);
    seal_text(in1, &one);
    seal_text(in4, &many);

    CHECK_INT(many.n_messages, n);
    CHECK_INT(many.n_samples, one.n_samples);
    CHECK_INT(many.n_dead, one.n_dead);
    CHECK(one.n_samples > 3000 && one.n_dead > 500);
    CHECK_INT(many.n_new_endpoints, 24);
    CHECK_INT(many.n_new_commits, 6);
    CHECK_INT(many.n_days, 1);
    CHECK_INT(many.n_rollups, one.n_rollups);
    CHECK_INT(many.n_users, one.n_users);
    CHECK_INT(many.n_flags, one.n_flags);
    CHECK_INT(many.n_flag_users, one.n_flag_users);
    struct buf rows_one = {0}, rows_many = {0};
    CHECK_INT(copy_binary_to_text(one.samples.data, one.samples.len, COPY_TEXT_SAMPLES, &rows_one),
              (long)one.n_samples);
    CHECK_INT(
        copy_binary_to_text(many.samples.data, many.samples.len, COPY_TEXT_SAMPLES, &rows_many),
        (long)many.n_samples);
    const struct buf *pairs[][2] = {
        {&rows_one, &rows_many},   {&one.dead, &many.dead},   {&one.rollups, &many.rollups},
        {&one.users, &many.users}, {&one.flags, &many.flags}, {&one.flag_users, &many.flag_users},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(pairs); i++) {
        char *a = sorted_lines(pairs[i][0]), *b = sorted_lines(pairs[i][1]);
        CHECK_MSG(strcmp(a, b) == 0, "table %zu: rows differ between one lane and four", i);
        free(a);
        free(b);
    }
    buf_free(&rows_one);
    buf_free(&rows_many);
    intake_free(in1);
    intake_free(in4);
    batch_free(&one);
    batch_free(&many);
    for (size_t i = 0; i < n; i++)
        buf_free(&msgs[i]);
    free(msgs);
    free(im);
    config_free(&cfg1);
    config_free(&cfg4);
}

/* Lanes admitting new endpoints at the same time still admit exactly the cap, and queue each
 * admitted endpoint for the endpoints table once. */
static void test_caps_across_lanes(void)
{
    struct config c4;
    char err[256];
    char *ov[] = {"ingest.parse_threads=4", "ingest.max_endpoints_per_service=5"};
    CHECK(config_load(&c4, NULL, ov, 2, err, sizeof(err)) == 0);
    for (int round = 0; round < 20; round++) {
        struct intake *in = intake_new(&c4);
        struct batch b = {0};
        struct buf msgs[64] = {{0}};
        struct intake_msg im[64];
        for (int m = 0; m < 64; m++) {
            char ep[16];
            snprintf(ep, sizeof(ep), "/m%d", m % 16);
            buf_append_str(&msgs[m], sample(m, "web", ep));
            im[m] = (struct intake_msg){0, m, msgs[m].data, msgs[m].len};
        }
        intake_messages(in, &b, "perf.samples", im, 64, &limits);
        CHECK_INT(b.n_new_endpoints, 5);
        CHECK_INT(b.n_samples + b.n_dead, 64);
        CHECK_INT(b.n_samples, 20); /* each admitted endpoint is in 4 of the messages */
        /* Every accepted row is on an admitted endpoint. */
        const char *p = b.new_endpoints.data;
        int accepted = 0;
        for (size_t i = 0; i < b.n_new_endpoints; i++) {
            const char *ep = p + strlen(p) + 1;
            char pat[32];
            snprintf(pat, sizeof(pat), "\tweb\t%s\t", ep);
            struct buf rows = {0};
            copy_binary_to_text(b.samples.data, b.samples.len, COPY_TEXT_SAMPLES, &rows);
            for (const char *q = buf_cstr(&rows); (q = strstr(q, pat)) != NULL; q++)
                accepted++;
            buf_free(&rows);
            p = ep + strlen(ep) + 1;
        }
        CHECK_INT(accepted, 20);
        for (int m = 0; m < 64; m++)
            buf_free(&msgs[m]);
        batch_free(&b);
        intake_free(in);
    }
    config_free(&c4);
}

int main(void)
{
    char *ov[] = {"ingest.max_endpoints_per_service=3", "ingest.max_services=2"};
    char err[256];
    if (config_load(&cfg, NULL, ov, 2, err, sizeof(err)) < 0) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    /* 2026-11-20T00:00Z to 2026-11-23T00:00Z */
    limits.min_ts_us = INT64_C(1795132800000000);
    limits.max_ts_us = INT64_C(1795392000000000);
    test_malformed_messages();
    test_array_with_one_bad_element();
    test_oversized_message();
    test_caps();
    test_event_time_range();
    test_flag_rollups_of_accepted_samples();
    test_lanes_give_what_one_lane_gives();
    test_caps_across_lanes();
    config_free(&cfg);
    return check_summary();
}
