/* Message-level intake: what becomes rows, what becomes dead letters and with which reason,
 * for every malformed kind a producer can send; the caps on services and endpoints; and the
 * rollups and commits a batch carries. */
#include <stdlib.h>
#include <string.h>

#include "../../consumer/intake.h"
#include "check.h"
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

static void feed(struct intake *in, struct batch *b, const char *msg, size_t len)
{
    intake_message(in, b, "perf.samples", 3, 42, msg, len, &limits);
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
    CHECK_INT(count_lines(&b.samples), 9);
    /* The dead letter names the element and keeps the element itself, not the whole array. */
    CHECK(strstr(b.dead.data, "\t4\tsample 4: ") != NULL);
    CHECK(strstr(b.dead.data, "\\\\x7b227473223a2278227d\t10\n") != NULL); /* {"ts":"x"} */
    intake_seal(in, &b);
    CHECK_INT(b.n_rollups, 9); /* 9 users, one per bucket-minute key at most */
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
    intake_seal(in, &b);
    CHECK_INT(b.n_flags, 2);
    CHECK_INT(b.n_flag_users, 2);
    /* Both accepted samples are in block 10:00, user u1's bucket. */
    CHECK(strstr(buf_cstr(&b.flags), "web\te\tbeta\ttrue\t2026-11-21T10:00:00.000000Z\t") != NULL);
    CHECK(strstr(buf_cstr(&b.flags), "\t2\t30\t0\t0\n") != NULL);
    CHECK(strstr(buf_cstr(&b.flags), "web\te\tratio\t0.5\t") != NULL);
    CHECK(strstr(buf_cstr(&b.flag_users), "web\tbeta\ttrue\t2026-11-21T10:00:00.000000Z\t{") !=
          NULL);
    batch_free(&b);
    intake_free(in);
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
    config_free(&cfg);
    return check_summary();
}
