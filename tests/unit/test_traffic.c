/* Traffic generator: the ground truth it reports matches what it produced (parsed back with
 * jansson and checked against CONTRACT section 1 by a small independent validator), planted
 * changes show in the data within sampling error, output is deterministic, batching works. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "regressd/traffic.h"
#include "regressd/util.h"

#define T0 INT64_C(1795132800000000) /* 2026-11-20T00:00:00Z */
#define HOUR_US INT64_C(3600000000)

/* ---- an independent reading of CONTRACT section 1 ------------------------------------------ */

static bool str_field(json_t *o, const char *key, size_t min, size_t max, bool required)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return !required;
    return json_is_string(v) && json_string_length(v) >= min && json_string_length(v) <= max;
}

static bool int_field(json_t *o, const char *key, json_int_t min, json_int_t max, bool required)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return !required;
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

static bool ts_ok(json_t *v)
{
    int64_t us;
    if (json_is_integer(v))
        return true;
    return json_is_string(v) &&
           util_parse_rfc3339(json_string_value(v), json_string_length(v), &us) == 0;
}

static bool flags_ok(json_t *flags)
{
    const char *k;
    json_t *v;
    if (!flags)
        return true;
    if (!json_is_object(flags) || json_object_size(flags) > 64)
        return false;
    json_object_foreach(flags, k, v)
    {
        if (strlen(k) > 64 || !(json_is_string(v) || json_is_boolean(v) || json_is_number(v)))
            return false;
    }
    return true;
}

static bool sample_valid(json_t *o)
{
    const json_int_t limit = (json_int_t)1 << 53;
    json_t *rate = json_object_get(o, "sample_rate");
    json_t *uid = json_object_get(o, "user_id");
    return json_is_object(o) && ts_ok(json_object_get(o, "ts")) &&
           str_field(o, "service", 1, 64, true) && str_field(o, "endpoint", 1, 256, true) &&
           str_field(o, "commit", 1, 64, true) &&
           int_field(o, "instructions", 0, limit - 1, true) &&
           int_field(o, "latency_us", 0, INT64_MAX, false) &&
           int_field(o, "db_us", 0, INT64_MAX, false) &&
           int_field(o, "cache_us", 0, INT64_MAX, false) &&
           int_field(o, "status", 100, 599, false) && str_field(o, "host", 0, 128, false) &&
           str_field(o, "region", 0, 128, false) && str_field(o, "cluster", 0, 128, false) &&
           (!rate || (json_is_number(rate) && json_number_value(rate) > 0 &&
                      json_number_value(rate) <= 1)) &&
           (!uid || (json_is_string(uid) && json_string_length(uid) <= 128)) &&
           flags_ok(json_object_get(o, "flags"));
}

static int64_t sample_ts_us(json_t *o)
{
    json_t *v = json_object_get(o, "ts");
    int64_t us = 0;
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v) * 1000;
    if (util_parse_rfc3339(json_string_value(v), json_string_length(v), &us) != 0)
        return INT64_MIN;
    return us;
}

/* ---- generating and reading back ------------------------------------------------------------ */

/* Tallies of what a run produced, read back from the bytes. cells/flag_cells map
 * "service|endpoint|commit" (or "service|endpoint|flag=value") to [samples, instructions]. */
struct readback {
    json_t *cells, *flag_cells, *user_flag, *user_count;
    uint64_t messages, valid, malformed, malformed_invalid, bad_batches, invalid_valid;
    uint64_t by_kind[TRAFFIC_BAD_KINDS];
    int64_t min_ts, max_ts;
};

static void tally(json_t *map, const char *key, double instructions)
{
    json_t *e = json_object_get(map, key);
    if (!e) {
        e = json_pack("[I, f]", (json_int_t)0, 0.0);
        json_object_set_new(map, key, e);
    }
    json_array_set_new(e, 0, json_integer(json_integer_value(json_array_get(e, 0)) + 1));
    json_array_set_new(e, 1, json_real(json_real_value(json_array_get(e, 1)) + instructions));
}

static void read_flags(struct readback *rb, json_t *o, const char *prefix, double instr)
{
    json_t *flags = json_object_get(o, "flags"), *v;
    const char *k, *uid = json_string_value(json_object_get(o, "user_id"));
    json_object_foreach(flags, k, v)
    {
        char key[512], val[80];
        if (json_is_string(v))
            snprintf(val, sizeof(val), "%s", json_string_value(v));
        else
            snprintf(val, sizeof(val), "%s", json_is_true(v) ? "true" : "false");
        snprintf(key, sizeof(key), "%s|%s=%s", prefix, k, val);
        tally(rb->flag_cells, key, instr);
        snprintf(key, sizeof(key), "%s|%s", uid, k);
        json_t *seen = json_object_get(rb->user_flag, key);
        if (seen && strcmp(json_string_value(seen), val) != 0)
            rb->bad_batches++; /* a user's flag value changed: flags must be per user */
        else if (!seen)
            json_object_set_new(rb->user_flag, key, json_string(val));
    }
}

static void read_sample(struct readback *rb, json_t *o)
{
    if (!sample_valid(o)) {
        rb->invalid_valid++;
        return;
    }
    char prefix[400], key[480];
    double instr = (double)json_integer_value(json_object_get(o, "instructions"));
    const char *uid = json_string_value(json_object_get(o, "user_id"));
    snprintf(prefix, sizeof(prefix), "%s|%s", json_string_value(json_object_get(o, "service")),
             json_string_value(json_object_get(o, "endpoint")));
    snprintf(key, sizeof(key), "%s|%s", prefix, json_string_value(json_object_get(o, "commit")));
    tally(rb->cells, key, instr);
    read_flags(rb, o, prefix, instr);
    tally(rb->user_count, uid, instr);
    int64_t ts = sample_ts_us(o);
    rb->min_ts = ts < rb->min_ts ? ts : rb->min_ts;
    rb->max_ts = ts > rb->max_ts ? ts : rb->max_ts;
    rb->valid++;
}

static void read_message(struct readback *rb, const struct buf *msg,
                         const struct traffic_msg_info *info, int batch)
{
    json_error_t jerr;
    json_t *root = json_loadb(msg->data, msg->len, 0, &jerr);
    rb->messages++;
    CHECK(memchr(msg->data, '\n', msg->len) == NULL && memchr(msg->data, '\0', msg->len) == NULL);
    if (info->malformed) {
        rb->malformed++;
        rb->by_kind[info->kind]++;
        if (!root || !sample_valid(root))
            rb->malformed_invalid++;
    } else if (batch == 1) {
        if (info->samples == 1 && json_is_object(root))
            read_sample(rb, root);
        else
            rb->bad_batches++;
    } else if (json_is_array(root) && json_array_size(root) == (size_t)info->samples) {
        for (size_t i = 0; i < json_array_size(root); i++)
            read_sample(rb, json_array_get(root, i));
    } else {
        rb->bad_batches++;
    }
    json_decref(root);
}

static void readback_init(struct readback *rb)
{
    memset(rb, 0, sizeof(*rb));
    rb->cells = json_object();
    rb->flag_cells = json_object();
    rb->user_flag = json_object();
    rb->user_count = json_object();
    rb->min_ts = INT64_MAX;
    rb->max_ts = INT64_MIN;
}

static void readback_free(struct readback *rb)
{
    json_decref(rb->cells);
    json_decref(rb->flag_cells);
    json_decref(rb->user_flag);
    json_decref(rb->user_count);
}

/* Generates everything; returns the traffic (caller frees) with rb filled. */
static struct traffic *generate(const struct traffic_config *cfg, struct readback *rb)
{
    char err[256];
    struct traffic *t = traffic_new(cfg, err, sizeof(err));
    CHECK_MSG(t != NULL, "traffic_new: %s", err);
    if (!t)
        return NULL;
    struct buf msg = {0};
    struct traffic_msg_info info;
    while (traffic_next_message(t, &msg, &info) > 0)
        read_message(rb, &msg, &info, cfg->batch);
    buf_free(&msg);
    return t;
}

static double cell_value(json_t *map, const char *key, int i)
{
    json_t *e = json_array_get(json_object_get(map, key), (size_t)i);
    return i == 0 ? (double)json_integer_value(e) : json_real_value(e);
}

/* ---- the model used by several tests ------------------------------------------------------ */

static const struct traffic_service two_services[] = {
    {.name = "web", .commit = "c0ffee000001"},
    {.name = "api", .weight = 0.5, .endpoints = 5},
};
static const struct traffic_deploy deploy_mid[] = {
    {.service = "web", .commit = "8b01d7aa", .at_us = T0 + 3 * HOUR_US, .rolling_us = HOUR_US / 6},
};
static const struct traffic_flag ranker[] = {
    {.name = "new_ranker", .value = "on", .other = "off", .fraction = 0.4},
    {.name = "beta", .value = "true", .fraction = 0.1},
};

static void base_config(struct traffic_config *c)
{
    traffic_config_init(c);
    c->seed = 42;
    c->start_us = T0;
    c->end_us = T0 + 6 * HOUR_US;
    c->services = two_services;
    c->service_count = 2;
    c->deploys = deploy_mid;
    c->deploy_count = 1;
    c->flags = ranker;
    c->flag_count = 2;
    c->endpoints = 8;
    c->users = 2000;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void check_cells_match(struct readback *rb, const struct traffic_truth *tr)
{
    uint64_t total = 0;
    for (size_t i = 0; i < tr->cell_count; i++) {
        const struct traffic_cell *c = &tr->cells[i];
        char key[480];
        snprintf(key, sizeof(key), "%s|%s|%s", c->service, c->endpoint, c->commit);
        CHECK_MSG(cell_value(rb->cells, key, 0) == (double)c->samples, "%s", key);
        CHECK_NEAR(cell_value(rb->cells, key, 1), c->instructions_sum, 1e-12);
        total += c->samples;
    }
    CHECK_INT(json_object_size(rb->cells), tr->cell_count);
    CHECK_INT(total, tr->valid_samples);
    for (size_t i = 0; i < tr->flag_cell_count; i++) {
        const struct traffic_flag_cell *c = &tr->flag_cells[i];
        char key[480];
        snprintf(key, sizeof(key), "%s|%s|%s=%s", c->service, c->endpoint, c->flag, c->value);
        CHECK_MSG(cell_value(rb->flag_cells, key, 0) == (double)c->samples, "%s", key);
        CHECK_NEAR(cell_value(rb->flag_cells, key, 1), c->instructions_sum, 1e-12);
    }
    CHECK_INT(json_object_size(rb->flag_cells), tr->flag_cell_count);
}

static void test_truth_matches_output(void)
{
    struct traffic_config c;
    struct readback rb;
    struct traffic_truth tr;
    base_config(&c);
    c.samples = 30000;
    c.batch = 37;
    c.malformed = 0.2;
    readback_init(&rb);
    struct traffic *t = generate(&c, &rb);
    if (!t)
        return;
    traffic_truth(t, &tr);
    CHECK_INT(rb.valid, 30000);
    CHECK_INT(tr.valid_samples, 30000);
    CHECK_INT(rb.invalid_valid, 0);
    CHECK_INT(rb.bad_batches, 0);
    CHECK_INT(tr.messages, rb.messages);
    CHECK_INT(tr.malformed_messages, rb.malformed);
    CHECK_INT(rb.malformed_invalid, rb.malformed); /* every malformed message breaks a rule */
    for (int k = 0; k < TRAFFIC_BAD_KINDS; k++) {
        CHECK_INT(tr.malformed_by_kind[k], rb.by_kind[k]);
        CHECK_MSG(rb.by_kind[k] > 0, "no %s produced", traffic_malformed_kind_name(k));
    }
    /* 20 % of messages: expected 0.2 / 0.8 * 811 valid messages ~ 203, sd ~ 13 */
    CHECK_MSG(rb.malformed > 150 && rb.malformed < 260, "%llu", (unsigned long long)rb.malformed);
    check_cells_match(&rb, &tr);
    CHECK(rb.min_ts >= c.start_us && rb.max_ts < c.end_us);
    traffic_free(t);
    readback_free(&rb);
}

/* Per user: flag values stable; request counts heavy-tailed. */
static void test_users(void)
{
    struct traffic_config c;
    struct readback rb;
    base_config(&c);
    c.samples = 40000;
    readback_init(&rb);
    struct traffic *t = generate(&c, &rb);
    CHECK_INT(rb.bad_batches, 0); /* includes flag values that changed for a user */
    const char *k;
    json_t *v;
    double max = 0, n = 0;
    json_object_foreach(rb.user_count, k, v)
    {
        double cnt = (double)json_integer_value(json_array_get(v, 0));
        max = cnt > max ? cnt : max;
        n++;
    }
    /* activity sigma 1.2: the busiest of ~2000 users makes many times the mean (20) */
    CHECK_MSG(n > 1500 && max > 10 * 40000 / n, "users %g, max %g", n, max);
    traffic_free(t);
    readback_free(&rb);
}

/* Mean and variance of instructions per request for one side of a comparison. */
struct side {
    double n, sum, sum2;
};

static void side_add(struct side *s, double x)
{
    s->n++;
    s->sum += x;
    s->sum2 += x * x;
}

/* log(candidate mean / baseline mean) and its standard error (independent requests). */
static double log_ratio(const struct side *c, const struct side *b, double *se)
{
    double mc = c->sum / c->n, mb = b->sum / b->n;
    double vc = c->sum2 / c->n - mc * mc, vb = b->sum2 / b->n - mb * mb;
    *se = sqrt(vc / (c->n * mc * mc) + vb / (b->n * mb * mb));
    return log(mc / mb);
}

static const struct traffic_plant ratio_plants[] = {
    {.kind = TRAFFIC_PLANT_COMMIT,
     .service = "web",
     .endpoint = "/feed",
     .factor = 1.06,
     .commit = "8b01d7aa"},
    {.kind = TRAFFIC_PLANT_FLAG,
     .service = "web",
     .endpoint = "/search",
     .factor = 1.10,
     .flag = "new_ranker",
     .value = "on"},
    {.kind = TRAFFIC_PLANT_WINDOW,
     .service = "web",
     .endpoint = "/profile",
     .factor = 0.90,
     .from_us = T0 + HOUR_US,
     .to_us = T0 + 3 * HOUR_US},
};

/* Which side of plant p the sample is on: 1 candidate, 0 baseline, -1 neither. */
static int ratio_side(int p, json_t *o)
{
    const char *svc = json_string_value(json_object_get(o, "service"));
    const char *ep = json_string_value(json_object_get(o, "endpoint"));
    const char *commit = json_string_value(json_object_get(o, "commit"));
    json_t *flag = json_object_get(json_object_get(o, "flags"), "new_ranker");
    int64_t ts = sample_ts_us(o);
    switch (p) {
    case 0:
        if (strcmp(svc, "web") || strcmp(ep, "/feed"))
            return -1;
        return !strcmp(commit, "8b01d7aa") ? 1 : !strcmp(commit, "c0ffee000001") ? 0 : -1;
    case 1:
        if (strcmp(svc, "web") || strcmp(ep, "/search"))
            return -1;
        return !strcmp(json_string_value(flag), "on");
    default:
        if (strcmp(svc, "web") || strcmp(ep, "/profile"))
            return -1;
        return ts >= T0 + HOUR_US && ts < T0 + 3 * HOUR_US;
    }
}

static void collect_sides(struct traffic *t, struct side sides[3][2])
{
    struct buf msg = {0};
    struct traffic_msg_info info;
    while (traffic_next_message(t, &msg, &info) > 0) {
        json_t *root = json_loadb(msg.data, msg.len, 0, NULL);
        for (size_t i = 0; i < json_array_size(root); i++) {
            json_t *o = json_array_get(root, i);
            double x = (double)json_integer_value(json_object_get(o, "instructions"));
            for (int p = 0; p < 3; p++) {
                int s = ratio_side(p, o);
                if (s >= 0)
                    side_add(&sides[p][s], x);
            }
        }
        json_decref(root);
    }
    buf_free(&msg);
}

/* With no per-user factor the requests are independent draws, so the candidate/baseline ratio
 * of means is the planted factor up to sampling error: 4 standard errors (computed from the
 * data's own variance) bound it with probability > 0.9999. The seed is fixed, so this is
 * deterministic; the bound says the seed is not a lucky one. */
static void test_planted_ratios(void)
{
    struct traffic_config c;
    struct traffic_truth tr;
    struct side sides[3][2];
    char err[256];
    memset(sides, 0, sizeof(sides));
    base_config(&c);
    c.samples = 200000;
    c.endpoints = 4;
    c.user_sigma = 0;
    c.plants = ratio_plants;
    c.plant_count = 3;
    struct traffic *t = traffic_new(&c, err, sizeof(err));
    CHECK_MSG(t != NULL, "%s", err);
    if (!t)
        return;
    collect_sides(t, sides);
    traffic_truth(t, &tr);
    CHECK_INT(tr.plant_count, 3);
    for (int p = 0; p < 3; p++) {
        double se, lr = log_ratio(&sides[p][1], &sides[p][0], &se);
        double want = log(ratio_plants[p].factor);
        const struct traffic_plant_truth *pt = &tr.plants[p];
        CHECK_MSG(se < 0.02, "plant %d: se %.4f too large to test anything", p, se);
        CHECK_MSG(fabs(lr - want) < 4 * se, "plant %d: data %+.3f%%, planted %+.3f%%, se %.3f%%", p,
                  100 * (exp(lr) - 1), 100 * (exp(want) - 1), 100 * se);
        /* the truth's own numbers describe the same requests */
        CHECK_INT(pt->candidate_samples, sides[p][1].n);
        CHECK_INT(pt->baseline_samples, sides[p][0].n);
        CHECK_NEAR(pt->candidate_mean / pt->baseline_mean, exp(lr), 1e-9);
    }
    CHECK_STR(tr.plants[0].baseline_commit, "c0ffee000001");
    traffic_free(t);
}

/* Returns a hash of every message's bytes and their count. */
static uint64_t stream_digest(const struct traffic_config *c, uint64_t *bytes)
{
    char err[256];
    struct traffic *t = traffic_new(c, err, sizeof(err));
    struct buf msg = {0};
    uint64_t h = 1469598103934665603ULL;
    *bytes = 0;
    while (t && traffic_next_message(t, &msg, NULL) > 0) {
        h = h * 1099511628211ULL ^ util_hash32(msg.data, msg.len);
        *bytes += msg.len;
    }
    buf_free(&msg);
    traffic_free(t);
    return h;
}

static void test_determinism(void)
{
    struct traffic_config c;
    uint64_t b1, b2, b3;
    base_config(&c);
    c.samples = 20000;
    c.malformed = 0.05;
    uint64_t h1 = stream_digest(&c, &b1);
    uint64_t h2 = stream_digest(&c, &b2);
    c.seed = 43;
    uint64_t h3 = stream_digest(&c, &b3);
    CHECK(h1 == h2 && b1 == b2);
    CHECK(h1 != h3);
    /* ~300 bytes per sample, as the ingest benchmark assumes */
    CHECK_MSG(b1 / 20000 > 250 && b1 / 20000 < 350, "%llu bytes per sample",
              (unsigned long long)(b1 / 20000));
}

static void test_batching(void)
{
    static const int batches[] = {1, 7, 100};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(batches); i++) {
        struct traffic_config c;
        base_config(&c);
        c.samples = 50;
        c.batch = batches[i];
        char err[256];
        struct traffic *t = traffic_new(&c, err, sizeof(err));
        struct buf msg = {0};
        struct traffic_msg_info info;
        int n = 0, total = 0, last = 0;
        while (t && traffic_next_message(t, &msg, &info) > 0) {
            json_t *root = json_loadb(msg.data, msg.len, 0, NULL);
            CHECK(c.batch == 1 ? json_is_object(root) : json_is_array(root));
            size_t size = c.batch == 1 ? 1 : json_array_size(root);
            CHECK_INT(size, info.samples);
            CHECK_INT(info.key[0], 'u');
            n++;
            total += info.samples;
            last = info.samples;
            json_decref(root);
        }
        CHECK_INT(total, 50);
        CHECK_INT(n, (50 + c.batch - 1) / c.batch);
        CHECK_INT(last, 50 % c.batch ? 50 % c.batch : c.batch);
        CHECK_INT(traffic_next_message(t, &msg, &info), 0); /* stays at the end */
        buf_free(&msg);
        traffic_free(t);
    }
}

/* Rolling deploy: only the old commit before it, both during, only the new one after. Daily
 * rhythm: the 15:00 UTC hour has about (1 + a) / (1 - a) = 3 times the 03:00 hour's requests. */
static void test_deploy_and_rhythm(void)
{
    struct traffic_config c;
    base_config(&c);
    c.start_us = T0;
    c.end_us = T0 + 24 * HOUR_US;
    c.samples = 60000;
    struct traffic_deploy d = {
        .service = "web", .commit = "new", .at_us = T0 + 10 * HOUR_US, .rolling_us = HOUR_US};
    c.deploys = &d;
    char err[256];
    struct traffic *t = traffic_new(&c, err, sizeof(err));
    struct buf msg = {0};
    double night = 0, day = 0;
    int wrong = 0, during_old = 0, during_new = 0;
    while (t && traffic_next_message(t, &msg, NULL) > 0) {
        json_t *root = json_loadb(msg.data, msg.len, 0, NULL);
        for (size_t i = 0; i < json_array_size(root); i++) {
            json_t *o = json_array_get(root, i);
            int64_t ts = sample_ts_us(o);
            int hour = (int)((ts - T0) / HOUR_US);
            bool is_new = !strcmp(json_string_value(json_object_get(o, "commit")), "new");
            night += hour == 3;
            day += hour == 15;
            if (strcmp(json_string_value(json_object_get(o, "service")), "web"))
                continue;
            wrong += (hour < 10 && is_new) || (hour >= 11 && !is_new);
            during_old += hour == 10 && !is_new;
            during_new += hour == 10 && is_new;
        }
        json_decref(root);
    }
    CHECK_INT(wrong, 0);
    CHECK(during_old > 100 && during_new > 100);
    CHECK_NEAR(day / night, 3.0, 0.03);
    buf_free(&msg);
    traffic_free(t);
}

static void expect_error(struct traffic_config *c, const char *needle)
{
    char err[256] = "";
    struct traffic *t = traffic_new(c, err, sizeof(err));
    CHECK_MSG(t == NULL && strstr(err, needle), "want error with \"%s\", got \"%s\"", needle, err);
    traffic_free(t);
}

static void test_config_errors(void)
{
    struct traffic_config c;
    struct traffic_plant p = {
        .kind = TRAFFIC_PLANT_COMMIT, .endpoint = "/nope", .factor = 1.1, .commit = "8b01d7aa"};
    struct traffic_service dup[] = {{.name = "web"}, {.name = "web"}};
    base_config(&c);
    c.end_us = c.start_us;
    expect_error(&c, "end must be after start");
    base_config(&c);
    c.plants = &p;
    c.plant_count = 1;
    expect_error(&c, "/nope");
    p = (struct traffic_plant){
        .kind = TRAFFIC_PLANT_FLAG, .factor = 1.1, .flag = "new_ranker", .value = "maybe"};
    expect_error(&c, "no flag new_ranker with value maybe");
    base_config(&c);
    c.services = dup;
    expect_error(&c, "given twice");
    base_config(&c);
    c.batch = 0;
    expect_error(&c, "batch");
}

/* The option syntax shared by `generate` and the demo. */
static void test_spec_syntax(void)
{
    static const struct {
        const char *spec;
        int ok;
        int kind; /* plant kind, or -1 */
        const char *service, *endpoint, *what;
        double factor;
    } plants[] = {
        {"/feed:+6%@commit=8b01d7aa", 1, TRAFFIC_PLANT_COMMIT, NULL, "/feed", "8b01d7aa", 1.06},
        {"endpoint=/a:b:-2.5%@flag=new_ranker=on", 1, TRAFFIC_PLANT_FLAG, NULL, "/a:b", "on",
         0.975},
        {"service=api,endpoint=/x:x1.5@commit=c", 1, TRAFFIC_PLANT_COMMIT, "api", "/x", "c", 1.5},
        {"service=api:+1%@commit=c", 1, TRAFFIC_PLANT_COMMIT, "api", NULL, "c", 1.01},
        {"*:+3%@window=+1h/+2h", 1, TRAFFIC_PLANT_WINDOW, NULL, NULL, NULL, 1.03},
        {"/feed+6%@commit=c", 0, -1, NULL, NULL, NULL, 0},
        {"/feed:6%@commit=c", 0, -1, NULL, NULL, NULL, 0},
        {"/feed:+6%@flag=x", 0, -1, NULL, NULL, NULL, 0},
        {"/feed:+6%@window=+2h/+1h", 0, -1, NULL, NULL, NULL, 0},
        {"feed:+6%@commit=c", 0, -1, NULL, NULL, NULL, 0},
    };
    struct traffic_strings owned = {0};
    char err[128];
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(plants); i++) {
        struct traffic_plant p;
        int rc =
            traffic_parse_plant(plants[i].spec, T0, T0 + 6 * HOUR_US, &p, &owned, err, sizeof(err));
        CHECK_MSG((rc == 0) == plants[i].ok, "%s: %s", plants[i].spec, err);
        if (rc != 0 || !plants[i].ok)
            continue;
        CHECK_INT(p.kind, plants[i].kind);
        CHECK((p.service == NULL) == (plants[i].service == NULL));
        CHECK(!p.service || !strcmp(p.service, plants[i].service));
        CHECK((p.endpoint == NULL) == (plants[i].endpoint == NULL));
        CHECK(!p.endpoint || !strcmp(p.endpoint, plants[i].endpoint));
        CHECK_NEAR(p.factor, plants[i].factor, 1e-12);
        if (p.kind == TRAFFIC_PLANT_COMMIT)
            CHECK_STR(p.commit, plants[i].what);
        if (p.kind == TRAFFIC_PLANT_FLAG)
            CHECK_STR(p.value, plants[i].what);
        if (p.kind == TRAFFIC_PLANT_WINDOW)
            CHECK(p.from_us == T0 + HOUR_US && p.to_us == T0 + 2 * HOUR_US);
    }
    struct traffic_deploy d;
    CHECK(traffic_parse_deploy("api:8b01@-1h/10m", "web,api", T0, T0 + 6 * HOUR_US, &d, &owned, err,
                               sizeof(err)) == 0);
    CHECK(d.service && !strcmp(d.service, "api") && !strcmp(d.commit, "8b01"));
    CHECK(d.at_us == T0 + 5 * HOUR_US && d.rolling_us == HOUR_US / 6);
    CHECK(traffic_parse_deploy("v1:2@2026-11-20T01:00:00Z", "web", T0, T0, &d, &owned, err,
                               sizeof(err)) == 0);
    CHECK(d.service == NULL && !strcmp(d.commit, "v1:2") && d.at_us == T0 + HOUR_US);
    CHECK(traffic_parse_deploy("c@soon", "web", T0, T0, &d, &owned, err, sizeof(err)) < 0);
    struct traffic_flag f;
    CHECK(traffic_parse_flag("new_ranker=on:30%/off", &f, &owned, err, sizeof(err)) == 0);
    CHECK(!strcmp(f.name, "new_ranker") && !strcmp(f.value, "on") && !strcmp(f.other, "off"));
    CHECK_NEAR(f.fraction, 0.3, 1e-12);
    CHECK(traffic_parse_flag("beta=true:0.1", &f, &owned, err, sizeof(err)) == 0 && !f.other);
    CHECK(traffic_parse_flag("beta:0.1", &f, &owned, err, sizeof(err)) < 0);
    CHECK(traffic_parse_flag("beta=x:1.5", &f, &owned, err, sizeof(err)) < 0);
    traffic_strings_free(&owned);
}

/* The JSON ground truth is valid JSON with the counts the struct has. */
static void test_truth_json(void)
{
    struct traffic_config c;
    struct traffic_plant p = {.kind = TRAFFIC_PLANT_COMMIT,
                              .service = "web",
                              .endpoint = "/feed",
                              .factor = 1.06,
                              .commit = "8b01d7aa"};
    base_config(&c);
    c.samples = 5000;
    c.malformed = 0.1;
    c.plants = &p;
    c.plant_count = 1;
    char err[256];
    struct traffic *t = traffic_new(&c, err, sizeof(err));
    struct buf out = {0};
    struct traffic_truth tr;
    while (t && traffic_next_message(t, &out, NULL) > 0)
        ;
    traffic_truth(t, &tr);
    buf_reset(&out);
    traffic_truth_json(t, &out);
    json_t *root = json_loadb(out.data, out.len, 0, NULL);
    CHECK(root != NULL);
    CHECK_INT(json_integer_value(json_object_get(root, "valid_samples")), 5000);
    CHECK_INT(json_integer_value(json_object_get(root, "malformed_messages")),
              tr.malformed_messages);
    CHECK_INT(json_array_size(json_object_get(root, "cells")), tr.cell_count);
    json_t *plant = json_array_get(json_object_get(root, "plants"), 0);
    CHECK_STR(json_string_value(json_object_get(plant, "baseline_commit")), "c0ffee000001");
    CHECK_NEAR(json_real_value(json_object_get(plant, "delta_pct")), 6.0, 1e-9);
    json_decref(root);
    buf_free(&out);
    traffic_free(t);
}

int main(void)
{
    test_truth_matches_output();
    test_users();
    test_planted_ratios();
    test_determinism();
    test_batching();
    test_deploy_and_rhythm();
    test_config_errors();
    test_spec_syntax();
    test_truth_json();
    return check_summary();
}
