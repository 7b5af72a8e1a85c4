/* Unit tests of flag scans (detector_flags_check in detector/flags.c) over hand-built data.
 *
 * The traffic is made of disjoint groups of users (per bucket: users, and per endpoint requests
 * and instructions); the span is the sum of all groups and a flag value the sum of the groups
 * that carry it, as the loader builds them. Expected values are computed here from the groups,
 * independently of the detector's "total − with": per request the ratio of sums with the value
 * against the other groups, per user instructions per user likewise, and the jackknife by its
 * textbook delete-one-bucket formula. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detector_fixture.h"
#include "regressd/detector.h"

#define B 64
#define NE 3
#define MAX_GROUPS 4
#define HOUR_US (3600LL * 1000000LL)
#define T0 (1763690400LL * 1000000LL) /* 2025-11-21T02:00:00Z, on a block boundary */

static const char *const ep_name[NE] = {"ep0", "ep1", "ep2"};

static void params(struct detector_params *p)
{
    fixture_params(p, B);
    p->trend_coverage = 0.90;
    p->trend_max_endpoints = 50;
    p->flags_window_us = HOUR_US;
    p->flags_min_share = 0.01;
    p->flags_max_values = 200;
}

/* A group of users, per bucket. */
struct group {
    double users;
    double requests[NE];
    double cost[NE]; /* instructions per request */
    double cv;       /* bucket-level noise on the instructions */
    unsigned values; /* bit v: the group carries value v */
};

struct value_spec {
    const char *flag, *value;
};

/* The groups' per-bucket sums. */
struct traffic {
    size_t n;
    double users[MAX_GROUPS][B];
    double requests[MAX_GROUPS][NE][B];
    double instructions[MAX_GROUPS][NE][B];
};

static void make_traffic(struct traffic *t, const struct group *g, size_t n)
{
    memset(t, 0, sizeof(*t));
    t->n = n;
    for (size_t i = 0; i < n; i++) {
        unsigned seed = 17u + 101u * (unsigned)i;
        for (int e = 0; e < NE; e++)
            for (int b = 0; b < B; b++) {
                t->requests[i][e][b] = g[i].requests[e];
                t->instructions[i][e][b] =
                    g[i].requests[e] * g[i].cost[e] * (1.0 + g[i].cv * fixture_noise(&seed));
            }
        for (int b = 0; b < B; b++)
            t->users[i][b] = g[i].users;
    }
}

static double sum(const double *v)
{
    double s = 0.0;
    for (int b = 0; b < B; b++)
        s += v[b];
    return s;
}

/* The flag data of the traffic: span = all groups, value v = the groups with bit v. */
static void make_data(struct detector_flags_data *fd, const struct traffic *t,
                      const struct group *g, const struct value_spec *vs, size_t nv)
{
    memset(fd, 0, sizeof(*fd));
    struct detector_span *sp = &fd->span;
    sp->from_us = T0;
    sp->to_us = T0 + HOUR_US;
    fd->now_us = T0 + 2 * HOUR_US;
    sp->endpoints = xcalloc(NE, sizeof(*sp->endpoints));
    sp->n_endpoints = NE;
    for (int e = 0; e < NE; e++)
        sp->endpoints[e].name = xstrdup(ep_name[e]);
    fd->values = xcalloc(nv + 1, sizeof(*fd->values));
    fd->n_values = nv;
    for (size_t v = 0; v < nv; v++) {
        fd->values[v].flag = xstrdup(vs[v].flag);
        fd->values[v].value = xstrdup(vs[v].value);
        fd->values[v].key = xstrdup(vs[v].value);
        fd->values[v].endpoints = xcalloc(NE, sizeof(*fd->values[v].endpoints));
        fd->values[v].cap = NE;
    }
    for (size_t i = 0; i < t->n; i++)
        for (int b = 0; b < B; b++) {
            sp->users_b[b] += t->users[i][b];
            for (int e = 0; e < NE; e++) {
                sp->endpoints[e].requests[b] += t->requests[i][e][b];
                sp->endpoints[e].instructions[b] += t->instructions[i][e][b];
                sp->requests[b] += t->requests[i][e][b];
                sp->instructions[b] += t->instructions[i][e][b];
            }
        }
    sp->samples = sum(sp->requests);
    sp->users = (int64_t)sum(sp->users_b);
    for (size_t v = 0; v < nv; v++) {
        struct detector_flag_value *fv = &fd->values[v];
        for (int e = 0; e < NE; e++) {
            struct detector_flag_endpoint fe = {.endpoint = (size_t)e};
            for (size_t i = 0; i < t->n; i++)
                for (int b = 0; g[i].values >> v & 1u && b < B; b++) {
                    fe.requests[b] += t->requests[i][e][b];
                    fe.instructions[b] += t->instructions[i][e][b];
                }
            if (sum(fe.requests) > 0.0) /* the loader lists only endpoints with rows */
                fv->endpoints[fv->n_endpoints++] = fe;
        }
        for (size_t i = 0; i < t->n; i++)
            for (int b = 0; g[i].values >> v & 1u && b < B; b++) {
                fv->users_b[b] += t->users[i][b];
                for (int e = 0; e < NE; e++) {
                    fv->requests[b] += t->requests[i][e][b];
                    fv->instructions[b] += t->instructions[i][e][b];
                }
            }
        fv->samples = sum(fv->requests);
        fv->users = (int64_t)sum(fv->users_b);
    }
}

/* Per-bucket sums over the groups with (with = true) or without value v: endpoint e's
 * instructions and requests, or with e < 0 the service's instructions and users. */
static void side_sums(const struct traffic *t, const struct group *g, int v, bool with, int e,
                      double *y, double *x)
{
    memset(y, 0, B * sizeof(double));
    memset(x, 0, B * sizeof(double));
    for (size_t i = 0; i < t->n; i++) {
        if (((g[i].values >> v & 1u) != 0) != with)
            continue;
        for (int b = 0; b < B; b++) {
            if (e >= 0) {
                y[b] += t->instructions[i][e][b];
                x[b] += t->requests[i][e][b];
                continue;
            }
            x[b] += t->users[i][b];
            for (int k = 0; k < NE; k++)
                y[b] += t->instructions[i][k][b];
        }
    }
}

/* Delete-one-bucket jackknife of Σy/Σx, over the non-empty buckets, the textbook way. */
static double jackknife_se(const double *y, const double *x)
{
    double sy = sum(y), sx = sum(x), r[B], mean = 0.0, ss = 0.0;
    int k = 0;
    for (int b = 0; b < B; b++)
        if (x[b] > 0.0) {
            r[k] = (sy - y[b]) / (sx - x[b]);
            mean += r[k++];
        }
    mean /= k;
    for (int i = 0; i < k; i++)
        ss += (r[i] - mean) * (r[i] - mean);
    return sqrt((double)(k - 1) / k * ss);
}

static struct detector_report *run(const struct detector_params *p,
                                   const struct detector_flags_data *fd)
{
    char err[256] = "";
    struct detector_report *r = detector_flags_check(p, fd, "web", err, sizeof(err));
    CHECK_MSG(r != NULL, "%s", err);
    return r;
}

static const struct detector_result *find(const struct detector_report *r, const char *flag,
                                          const char *value, const char *endpoint)
{
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (strcmp(res->flag_name, flag) != 0 || strcmp(res->flag_value, value) != 0)
            continue;
        if ((!endpoint && !res->endpoint) ||
            (endpoint && res->endpoint && strcmp(endpoint, res->endpoint) == 0))
            return res;
    }
    return NULL;
}

/* ---- with against without: the numbers ---- */

/* exp=on (10 users per bucket) costs +10 % on ep0 and the same on ep1; exp=off is everyone
 * else. ep2 has no traffic at all. */
static const struct group exp_groups[] = {
    {10, {200, 50, 0}, {1.1e6, 2e6, 0}, 0.04, 1u << 0},
    {12, {180, 60, 0}, {1.0e6, 2e6, 0}, 0.04, 1u << 1},
};
static const struct value_spec exp_values[] = {{"exp", "on"}, {"exp", "off"}};

static void check_against(const struct detector_result *res, const struct traffic *t, int v, int e,
                          const char *what)
{
    double y1[B], x1[B], y0[B], x0[B];
    side_sums(t, exp_groups, v, true, e, y1, x1);
    side_sums(t, exp_groups, v, false, e, y0, x0);
    double r1 = sum(y1) / sum(x1), r0 = sum(y0) / sum(x0);
    CHECK_MSG(res != NULL, "%s: no result", what);
    if (!res)
        return;
    CHECK_MSG(res->in.cand.ok && res->in.base.ok, "%s", what);
    CHECK_NEAR(res->in.cand.ratio, r1, 1e-12);
    CHECK_NEAR(res->in.base.ratio, r0, 1e-12);
    CHECK_NEAR(res->res.cmp.delta, r1 / r0 - 1.0, 1e-12);
    double se1 = jackknife_se(y1, x1), se0 = jackknife_se(y0, x0);
    CHECK_NEAR(res->in.cand.se / r1, se1 / r1, 1e-9);
    CHECK_NEAR(res->in.base.se / r0, se0 / r0, 1e-9);
    CHECK_NEAR(res->res.cmp.se_log, sqrt(se0 * se0 / (r0 * r0) + se1 * se1 / (r1 * r1)), 1e-9);
    if (e >= 0) {
        CHECK_INT(res->in.cand_samples, (int64_t)sum(x1));
        CHECK_INT(res->in.base_samples, (int64_t)sum(x0));
    } else {
        CHECK_INT(res->in.cand_users, (int64_t)sum(x1));
        CHECK_INT(res->in.base_users, (int64_t)sum(x0));
    }
    CHECK(res->res.tested);
    CHECK(res->note == NULL);
    CHECK(res->metric == (e >= 0 ? DETECTOR_PER_REQUEST : DETECTOR_PER_USER));
}

static void test_against(void)
{
    struct detector_params p;
    struct traffic t;
    struct detector_flags_data fd;
    params(&p);
    make_traffic(&t, exp_groups, 2);
    make_data(&fd, &t, exp_groups, exp_values, 2);
    struct detector_report *r = run(&p, &fd);
    if (!r)
        goto done;
    /* 2 values × (per user + ep0 + ep1); ep2 has no rows */
    CHECK_INT(r->n_results, 6);
    CHECK_INT(r->flag_values, 2);
    CHECK_INT(r->endpoints_skipped, 0);
    check_against(find(r, "exp", "on", "ep0"), &t, 0, 0, "exp=on ep0");
    check_against(find(r, "exp", "on", "ep1"), &t, 0, 1, "exp=on ep1");
    check_against(find(r, "exp", "on", NULL), &t, 0, -1, "exp=on per user");
    check_against(find(r, "exp", "off", "ep0"), &t, 1, 0, "exp=off ep0");
    check_against(find(r, "exp", "off", NULL), &t, 1, -1, "exp=off per user");
    /* the per-user delta by hand: (200·1.1 + 50·2)/10 against (180 + 60·2)/12 (in 1e6), up to
     * the bucket noise */
    const struct detector_result *pu = find(r, "exp", "on", NULL);
    CHECK(pu && fabs(pu->res.cmp.delta - (320.0 / 10) / (300.0 / 12) + 1.0) < 0.01);
    /* exp=on ep0 +10 %: a regression, its mirror an improvement, ep1 unchanged */
    const struct detector_result *on0 = find(r, "exp", "on", "ep0");
    const struct detector_result *off0 = find(r, "exp", "off", "ep0");
    CHECK(on0 && on0->res.verdict == STATS_REGRESSION && fabs(on0->res.cmp.delta - 0.10) < 0.01);
    CHECK(off0 && off0->res.verdict == STATS_IMPROVEMENT);
    CHECK(off0 && on0 && fabs((1 + off0->res.cmp.delta) * (1 + on0->res.cmp.delta) - 1) < 1e-12);
    CHECK(find(r, "exp", "on", "ep1")->res.verdict == STATS_NO_CHANGE);
    CHECK(r->verdict == STATS_REGRESSION);
    CHECK(r->verdict_reason && strstr(r->verdict_reason, "exp=on ep0 +"));
    /* one Benjamini–Hochberg family over all the results of the scan */
    double pv[8];
    double q[8];
    size_t m = 0;
    for (size_t i = 0; i < r->n_results; i++)
        if (r->results[i].res.tested)
            pv[m++] = r->results[i].res.cmp.p_value;
    CHECK_INT(m, 6);
    stats_bh(pv, m, 0.05, NULL, q);
    for (size_t i = 0, j = 0; i < r->n_results; i++)
        if (r->results[i].res.tested)
            CHECK_NEAR(r->results[i].res.q_value, q[j++], 1e-12);
    /* order: regressions first, then improvements, no change, inconclusive */
    for (size_t i = 1; i < r->n_results; i++) {
        enum stats_verdict a = r->results[i - 1].res.verdict, b = r->results[i].res.verdict;
        static const int rank[] = {[STATS_REGRESSION] = 0,
                                   [STATS_IMPROVEMENT] = 1,
                                   [STATS_NO_CHANGE] = 2,
                                   [STATS_INCONCLUSIVE] = 3};
        CHECK(rank[a] <= rank[b]);
    }
done:
    detector_report_free(r);
    detector_flags_data_free(&fd);
}

/* ---- no comparison group ---- */

/* tiny=on: 1 user in 200 (0.5 %), 0.5 % of ep0's requests; all=yes: the other 99.5 %, and all
 * of ep1's 640 requests (below min_samples: skipped, not a result with a note). */
static const struct group lopsided_groups[] = {
    {1, {2, 0, 0}, {1.3e6, 0, 0}, 0.0, 1u << 0},
    {199, {398, 10, 0}, {1.0e6, 2e6, 0}, 0.04, 1u << 1},
};
static const struct value_spec lopsided_values[] = {{"tiny", "on"}, {"all", "yes"}};

static void test_lopsided(void)
{
    struct detector_params p;
    struct traffic t;
    struct detector_flags_data fd;
    params(&p);
    make_traffic(&t, lopsided_groups, 2);
    make_data(&fd, &t, lopsided_groups, lopsided_values, 2);
    struct detector_report *r = run(&p, &fd);
    if (!r)
        goto done;
    CHECK_INT(r->n_results, 4);
    CHECK_INT(r->endpoints_skipped, 1);
    CHECK(find(r, "all", "yes", "ep1") == NULL);
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        CHECK_MSG(res->res.verdict == STATS_INCONCLUSIVE && !res->res.tested && !res->res.cmp.ok &&
                      res->res.q_value == 1.0,
                  "%s=%s %s", res->flag_name, res->flag_value,
                  res->endpoint ? res->endpoint : "per user");
        CHECK(res->note && strstr(res->note, "flags.min_share_pct"));
    }
    const struct detector_result *tiny = find(r, "tiny", "on", "ep0");
    CHECK(tiny && tiny->in.cand_samples == 2 * B && tiny->in.base_samples == 398 * B);
    tiny = find(r, "tiny", "on", NULL);
    CHECK(tiny && tiny->in.cand_users == B && tiny->in.base_users == 199 * B);
    CHECK(r->verdict == STATS_INCONCLUSIVE);
    CHECK_STR(r->verdict_reason, "no flag value has enough data with and without it");
    CHECK_INT(detector_exit_status(r->verdict), 3);
    detector_report_free(r);

    /* at the edge: a share of exactly flags_min_share has a comparison group */
    p.flags_min_share = 0.005;
    r = run(&p, &fd);
    const struct detector_result *pu = r ? find(r, "tiny", "on", NULL) : NULL;
    CHECK(pu && pu->note == NULL && pu->in.cand.ok && pu->in.base.ok);
done:
    detector_report_free(r);
    detector_flags_data_free(&fd);
}

/* ---- too few samples ---- */

/* beta=v1: 30 % of the users, beta=v2 the other 70 %. ep0 is large; on ep1 (20 requests per
 * bucket, 1280) v1 has 384 requests and v2 896, both < min_samples: skipped; ep2 has 640
 * requests in all: skipped. */
static const struct group few_groups[] = {
    {3, {60, 6, 3}, {1e6, 2e6, 3e6}, 0.03, 1u << 0},
    {7, {140, 14, 7}, {1e6, 2e6, 3e6}, 0.03, 1u << 1},
};
static const struct value_spec few_values[] = {{"beta", "v1"}, {"beta", "v2"}};

static void test_few_samples(void)
{
    struct detector_params p;
    struct traffic t;
    struct detector_flags_data fd;
    params(&p);
    make_traffic(&t, few_groups, 2);
    make_data(&fd, &t, few_groups, few_values, 2);
    struct detector_report *r = run(&p, &fd);
    if (!r)
        goto done;
    CHECK_INT(r->endpoints_skipped, 4);
    CHECK_INT(r->n_results, 4); /* per user and ep0, of each value */
    CHECK(find(r, "beta", "v1", "ep1") == NULL && find(r, "beta", "v1", "ep2") == NULL);
    CHECK(find(r, "beta", "v2", "ep1") == NULL && find(r, "beta", "v2", "ep2") == NULL);
    const struct detector_result *e0 = find(r, "beta", "v1", "ep0");
    CHECK(e0 && e0->res.tested && e0->in.cand_samples == 60 * B);
    CHECK(r->verdict == STATS_NO_CHANGE);
    CHECK(r->verdict_reason && strstr(r->verdict_reason, "none regressed"));
    detector_report_free(r);

    /* exactly min_samples with and without the value is enough: on ep1 v1 has 384 with and 896
     * without, v2 the reverse; on ep2 (640) 192 and 448 */
    p.rule.min_samples = 384;
    r = run(&p, &fd);
    CHECK(r && r->endpoints_skipped == 2);
    CHECK(r && find(r, "beta", "v1", "ep1") != NULL && find(r, "beta", "v2", "ep1") != NULL);
    detector_report_free(r);
    /* one request more: too few with v1, and too few without v2 */
    p.rule.min_samples = 385;
    r = run(&p, &fd);
    CHECK(r && r->endpoints_skipped == 4);
    CHECK(r && find(r, "beta", "v1", "ep1") == NULL && find(r, "beta", "v2", "ep1") == NULL);
done:
    detector_report_free(r);
    detector_flags_data_free(&fd);
}

/* ---- verdicts ---- */

static void test_verdicts(void)
{
    struct detector_params p;
    struct traffic t;
    struct detector_flags_data fd;
    params(&p);

    /* no flag values in the window */
    make_traffic(&t, exp_groups, 2);
    make_data(&fd, &t, exp_groups, exp_values, 0);
    struct detector_report *r = run(&p, &fd);
    CHECK(r && r->verdict == STATS_NO_CHANGE && r->n_results == 0 && r->flag_values == 0);
    CHECK(r && r->verdict_reason && strcmp(r->verdict_reason, "no flag values in the window") == 0);
    detector_report_free(r);
    detector_flags_data_free(&fd);

    /* a clear +20 % on one value, without noise */
    static const struct group clear[] = {
        {10, {100, 0, 0}, {1.2e6, 0, 0}, 0.0, 1u << 0},
        {10, {100, 0, 0}, {1.0e6, 0, 0}, 0.0, 0},
    };
    static const struct value_spec dark[] = {{"dark", "true"}};
    make_traffic(&t, clear, 2);
    make_data(&fd, &t, clear, dark, 1);
    r = run(&p, &fd);
    const struct detector_result *res = r ? find(r, "dark", "true", "ep0") : NULL;
    CHECK(res && res->res.verdict == STATS_REGRESSION);
    CHECK(res && fabs(res->res.cmp.delta - 0.20) < 1e-12);
    CHECK(res && res->gates && res->metric == DETECTOR_PER_REQUEST);
    CHECK(r && r->verdict == STATS_REGRESSION && detector_exit_status(r->verdict) == 1);
    CHECK(r && r->n_results > 0 && strcmp(r->results[0].flag_name, "dark") == 0 &&
          strcmp(r->results[0].flag_value, "true") == 0 &&
          r->results[0].res.verdict == STATS_REGRESSION);
    CHECK(r && r->verdict_reason && strstr(r->verdict_reason, "dark=true ep0 +20.00%"));
    /* within a verdict and a value, the per-user result comes first */
    CHECK(r && r->n_results == 2 && r->results[0].endpoint == NULL && r->results[1].endpoint &&
          r->results[1].res.verdict == STATS_REGRESSION);
    detector_report_free(r);
    detector_flags_data_free(&fd);

    /* the same value cheaper: an improvement, and the scan's verdict says so */
    static const struct group cheaper[] = {
        {10, {100, 0, 0}, {0.8e6, 0, 0}, 0.0, 1u << 0},
        {10, {100, 0, 0}, {1.0e6, 0, 0}, 0.0, 0},
    };
    make_traffic(&t, cheaper, 2);
    make_data(&fd, &t, cheaper, dark, 1);
    r = run(&p, &fd);
    CHECK(r && r->verdict == STATS_IMPROVEMENT && detector_exit_status(r->verdict) == 0);
    detector_report_free(r);
    detector_flags_data_free(&fd);
}

/* ---- JSON ---- */

static void test_json(void)
{
    struct detector_params p;
    struct traffic t;
    struct detector_flags_data fd;
    params(&p);
    make_traffic(&t, exp_groups, 2);
    make_data(&fd, &t, exp_groups, exp_values, 2);
    fd.values_dropped = 3;
    struct detector_report *r = run(&p, &fd);
    if (!r)
        goto done;
    char *s = detector_report_dumps(r, false);
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "kind")), "flag");
    CHECK_STR(json_string_value(json_object_get(j, "service")), "web");
    CHECK_STR(json_string_value(json_object_get(j, "window")), "1h");
    CHECK(json_is_null(json_object_get(j, "offset")));
    CHECK(json_object_get(j, "deployed_at") == NULL && json_object_get(j, "deploy_id") == NULL);
    CHECK(json_object_get(j, "suspects") == NULL);
    CHECK(json_object_get(j, "endpoints_not_compared") == NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "flag_values")), 2);
    CHECK_INT(json_integer_value(json_object_get(j, "flag_values_not_compared")), 3);
    CHECK_INT(json_integer_value(json_object_get(j, "endpoints_skipped")), 0);
    CHECK_STR(json_string_value(json_object_get(j, "verdict")), "regression");
    CHECK(json_is_true(json_object_get(j, "complete")));
    json_t *base = json_object_get(j, "baseline"), *cand = json_object_get(j, "candidate");
    CHECK_STR(json_string_value(json_object_get(base, "label")), "requests without the flag value");
    CHECK_STR(json_string_value(json_object_get(cand, "label")), "requests with the flag value");
    CHECK_STR(json_string_value(json_object_get(cand, "from")), "2025-11-21T02:00:00.000000Z");
    CHECK_STR(json_string_value(json_object_get(cand, "to")), "2025-11-21T03:00:00.000000Z");
    CHECK(json_object_get(base, "commit") == NULL);
    json_t *results = json_object_get(j, "results");
    CHECK(json_is_array(results) && json_array_size(results) == 6);
    size_t per_user = 0;
    for (size_t i = 0; i < json_array_size(results); i++) {
        json_t *res = json_array_get(results, i), *flag = json_object_get(res, "flag");
        CHECK(json_is_object(flag) && json_object_size(flag) == 2);
        CHECK_STR(json_string_value(json_object_get(flag, "name")), "exp");
        const char *v = json_string_value(json_object_get(flag, "value"));
        CHECK(v && (strcmp(v, "on") == 0 || strcmp(v, "off") == 0));
        const char *metric = json_string_value(json_object_get(res, "metric"));
        json_t *ep = json_object_get(res, "endpoint");
        if (json_is_null(ep)) {
            per_user++;
            CHECK_STR(metric, "instructions_per_user");
        } else {
            CHECK_STR(metric, "instructions_per_request");
            CHECK(json_is_string(ep));
        }
        CHECK(json_is_true(json_object_get(res, "gates")));
        CHECK(json_is_number(json_object_get(res, "q_value")));
    }
    CHECK_INT(per_user, 2);
    json_t *first = json_array_get(results, 0);
    CHECK_STR(json_string_value(json_object_get(first, "verdict")), "regression");
    CHECK_STR(json_string_value(json_object_get(json_object_get(first, "flag"), "value")), "on");
    CHECK(json_is_null(json_object_get(j, "where")));
    CHECK(!strstr(s, "nan") && !strstr(s, "NaN") && !strstr(s, "Infinity"));
    struct buf text = {0};
    detector_report_text(r, &text);
    CHECK(strstr(buf_cstr(&text), "flag scan") && strstr(buf_cstr(&text), "exp=on"));
    buf_free(&text);
    json_decref(j);
    free(s);
done:
    detector_report_free(r);
    detector_flags_data_free(&fd);
}

int main(void)
{
    test_against();
    test_lopsided();
    test_few_samples();
    test_verdicts();
    test_json();
    return check_summary();
}
