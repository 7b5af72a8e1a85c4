/* Unit tests of the deploy comparison (detector/check.c, report.c, params.c, uset.c) over
 * hand-built data: the report's JSON shape (CONTRACT section 2), NaN never reaching JSON, and
 * the decision's edge cases through the whole path (estimates, BH, verdict, exit status). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../detector/uset.h"
#include "check.h"
#include "detector_fixture.h"
#include "regressd/detector.h"

#define B 64
#define T0 (1763690400LL * 1000000LL) /* 2025-11-21T02:00:00Z, on a block boundary */

static void params(struct detector_params *p)
{
    fixture_params(p, B);
    p->settle_us = 180LL * 1000000;
}

/* Fills one side of an endpoint: `requests` per bucket, cost per request `cost` with a 5 %
 * bucket-level noise (the same noise on both sides when seeded alike). */
static void fill(struct detector_endpoint_data *e, int side, double requests, double cost,
                 double cv, unsigned seed)
{
    for (int b = 0; b < B; b++) {
        e->requests[side][b] = requests;
        e->instructions[side][b] = requests * cost * (1.0 + cv * fixture_noise(&seed));
    }
}

/* A service with n endpoints: endpoint k has 1000/(k+1) requests per bucket and cost 1e6·(k+1);
 * the candidate's cost is multiplied by factor[k]. Per-user sums are the totals of the
 * endpoints over 10 users per bucket. */
static void make_data(struct detector_data *d, size_t n, const double *factor, double cv)
{
    memset(d, 0, sizeof(*d));
    struct detector_params p;
    params(&p);
    d->buckets = B;
    detector_windows_of(&p, T0 + 90 * 1000000LL, &d->win);
    d->now_us = d->win.to + 3600LL * 1000000;
    d->complete = true;
    d->candidate_seen = true;
    d->side[0].commit = xstrdup("c0");
    d->side[1].commit = xstrdup("c1");
    d->endpoints = xcalloc(n, sizeof(*d->endpoints));
    d->n_endpoints = n;
    for (size_t k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof(name), "ep%zu", k);
        d->endpoints[k].name = xstrdup(name);
        double req = 1000.0 / (double)(k + 1), cost = 1e6 * (double)(k + 1);
        fill(&d->endpoints[k], 0, req, cost, cv, 7u + (unsigned)k);
        fill(&d->endpoints[k], 1, req, cost * factor[k], cv, 1007u + (unsigned)k);
    }
    for (int s = 0; s < 2; s++) {
        struct detector_side *sd = &d->side[s];
        sd->user_from_us = s ? d->win.cand_from : d->win.cand_from - 3600LL * 1000000;
        sd->user_to_us = sd->user_from_us + 3600LL * 1000000;
        for (int b = 0; b < B; b++) {
            for (size_t k = 0; k < n; k++) {
                sd->user_requests[b] += d->endpoints[k].requests[s][b];
                sd->user_instructions[b] += d->endpoints[k].instructions[s][b];
            }
            sd->user_users[b] = 10.0;
            sd->latency_n[b] = sd->user_requests[b];
            sd->latency_us[b] = sd->user_requests[b] * 1000.0 * (1.0 + 0.01 * (b % 3));
            sd->samples += sd->user_requests[b];
        }
        sd->users = 10 * B;
    }
}

static struct detector_report *run(struct detector_params *p, struct detector_data *d)
{
    char err[256] = "";
    struct detector_report *r = detector_check(p, d, "web", err, sizeof(err));
    CHECK_MSG(r != NULL, "%s", err);
    return r;
}

/* Every number in v is finite, and v survives a strict round trip through text. */
static bool all_finite(json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_real(v))
        return isfinite(json_real_value(v));
    if (json_is_object(v)) {
        json_object_foreach(v, key, x) if (!all_finite(x)) return false;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (!all_finite(x)) return false;
    }
    return true;
}

static bool clean_json(const char *text)
{
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    bool ok = j && all_finite(j) && !strstr(text, "nan") && !strstr(text, "NaN") &&
              !strstr(text, "Infinity");
    json_decref(j);
    return ok;
}

/* ---- JSON shape ---- */

static void check_number_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    CHECK_MSG(v && (json_is_number(v) || json_is_null(v)), "%s: not a number or null", key);
}

static void check_result_shape(json_t *res)
{
    static const char *const numbers[] = {"baseline",   "candidate",   "delta_pct",
                                          "ci_low_pct", "ci_high_pct", "p_value"};
    CHECK(json_is_string(json_object_get(res, "metric")));
    CHECK(json_object_get(res, "endpoint") != NULL);
    CHECK(json_is_null(json_object_get(res, "flag")));
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(numbers); i++)
        check_number_or_null(res, numbers[i]);
    CHECK(json_is_integer(json_object_get(res, "samples_baseline")));
    CHECK(json_is_integer(json_object_get(res, "samples_candidate")));
    const char *v = json_string_value(json_object_get(res, "verdict"));
    CHECK(v && (!strcmp(v, "regression") || !strcmp(v, "improvement") || !strcmp(v, "no_change") ||
                !strcmp(v, "inconclusive")));
}

static void check_side_shape(json_t *side)
{
    CHECK(json_is_object(side));
    CHECK(json_is_string(json_object_get(side, "label")));
    CHECK(json_is_string(json_object_get(side, "from")));
    CHECK(json_is_string(json_object_get(side, "to")));
    CHECK(json_is_integer(json_object_get(side, "samples")));
    CHECK(json_is_integer(json_object_get(side, "users")));
}

static void test_json_shape(void)
{
    struct detector_params p;
    struct detector_data d;
    double f[] = {1.06, 1.0, 1.0, 1.10};
    params(&p);
    make_data(&d, 4, f, 0.05);
    struct detector_report *r = run(&p, &d);
    json_t *j = detector_report_json(r);
    CHECK_STR(json_string_value(json_object_get(j, "kind")), "deploy");
    CHECK_STR(json_string_value(json_object_get(j, "service")), "web");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "baseline"), "label")),
              "commit c0");
    check_side_shape(json_object_get(j, "baseline"));
    check_side_shape(json_object_get(j, "candidate"));
    CHECK_NEAR(json_number_value(json_object_get(j, "confidence")), 0.95, 1e-12);
    CHECK_STR(json_string_value(json_object_get(j, "verdict")), "regression");
    json_t *results = json_object_get(j, "results");
    CHECK(json_is_array(results) && json_array_size(results) == 2 + 4);
    for (size_t i = 0; i < json_array_size(results); i++)
        check_result_shape(json_array_get(results, i));
    /* service level first, then endpoints by impact: ep3 (largest contribution) before ep0 */
    CHECK(json_is_null(json_object_get(json_array_get(results, 0), "endpoint")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(results, 0), "metric")),
              "instructions_per_user");
    CHECK_STR(json_string_value(json_object_get(json_array_get(results, 2), "endpoint")), "ep3");
    CHECK(json_is_object(json_object_get(j, "where")));
    char *text = json_dumps(j, 0);
    CHECK(text && clean_json(text));
    free(text);
    json_decref(j);
    detector_report_free(r);
    detector_data_free(&d);
}

/* ---- NaN never in JSON ---- */

static void test_no_nan(void)
{
    CHECK(json_is_null(detector_json_number(NAN)));
    CHECK(json_is_null(detector_json_number(INFINITY)));
    json_t *one = detector_json_number(1.5);
    CHECK(json_is_real(one) && json_real_value(one) == 1.5);
    json_decref(one);

    /* no per-user window, no candidate traffic on one endpoint: values are null */
    struct detector_params p;
    struct detector_data d;
    double f[] = {1.0, 1.0};
    params(&p);
    make_data(&d, 2, f, 0.05);
    memset(d.side[0].user_users, 0, sizeof(d.side[0].user_users));
    memset(d.side[0].user_instructions, 0, sizeof(d.side[0].user_instructions));
    memset(d.side[0].user_requests, 0, sizeof(d.side[0].user_requests));
    d.user_note = "no baseline traffic before the rollout";
    memset(d.endpoints[1].requests[1], 0, sizeof(d.endpoints[1].requests[1]));
    memset(d.endpoints[1].instructions[1], 0, sizeof(d.endpoints[1].instructions[1]));
    struct detector_report *r = run(&p, &d);
    char *s = detector_report_dumps(r, false);
    CHECK(clean_json(s));
    json_t *j = json_loads(s, 0, NULL);
    json_t *pu = json_array_get(json_object_get(j, "results"), 0);
    CHECK(json_is_null(json_object_get(pu, "baseline")));
    CHECK(json_is_null(json_object_get(pu, "delta_pct")));
    CHECK(json_is_null(json_object_get(pu, "p_value")));
    CHECK_STR(json_string_value(json_object_get(pu, "verdict")), "inconclusive");
    CHECK_STR(json_string_value(json_object_get(j, "verdict")), "inconclusive");
    CHECK_INT(detector_exit_status(r->verdict), 3);
    /* ep1 has no candidate requests: skipped, and its decomposition delta is null */
    CHECK_INT(r->endpoints_skipped, 1);
    json_t *eps = json_object_get(json_object_get(j, "where"), "endpoints");
    bool null_delta = false;
    for (size_t i = 0; i < json_array_size(eps); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(eps, i), "endpoint")), "ep1"))
            null_delta = json_is_null(json_object_get(json_array_get(eps, i), "delta_pct"));
    CHECK(null_delta);
    json_decref(j);
    free(s);
    detector_report_free(r);
    detector_data_free(&d);

    /* a report without data */
    r = detector_report_empty(&p, "web", NULL, "c1", T0, "no baseline commit known");
    s = detector_report_dumps(r, true);
    j = json_loads(s, 0, NULL);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "verdict")), "inconclusive");
    CHECK(json_array_size(json_object_get(j, "results")) == 0);
    CHECK(json_is_null(json_object_get(json_object_get(j, "baseline"), "commit")));
    CHECK(json_is_null(json_object_get(j, "where")));
    CHECK(clean_json(s));
    json_decref(j);
    free(s);
    detector_report_free(r);
}

/* ---- decisions through the full path ---- */

struct decision_case {
    const char *name;
    double factor[3];
    double cv;
    double scale; /* multiplies the requests per bucket */
    const char *effects;
    const char *verdict;
    int exit_status;
};

static const struct decision_case decision_cases[] = {
    /* all-equal values on both sides: zero variance, no change */
    {"all equal", {1.0, 1.0, 1.0}, 0.0, 1.0, "", "no_change", 0},
    /* zero variance and +5 %: the interval is [5 %, 5 %] */
    {"exact +5%", {1.05, 1.05, 1.05}, 0.0, 1.0, "", "regression", 1},
    {"exact -5%", {0.95, 0.95, 0.95}, 0.0, 1.0, "", "improvement", 0},
    /* below min_effect: significant but too small */
    {"exact +0.5%", {1.005, 1.005, 1.005}, 0.0, 1.0, "", "no_change", 0},
    /* noisy: ep1 +8 %, ep0 −8 % (the service level does not move) */
    {"one endpoint", {0.92, 1.08, 1.0}, 0.03, 1.0, "", "regression", 1},
    /* the same endpoint with its own minimum effect of 10 %: no longer a regression */
    {"per-endpoint effect", {0.92, 1.08, 1.0}, 0.03, 1.0, "ep1=10", "no_change", 0},
    /* first matching pattern wins */
    {"first match wins", {0.92, 1.08, 1.0}, 0.03, 1.0, "ep1=0.5, ep*=10", "regression", 1},
    /* too few samples everywhere: per-user inconclusive, endpoints skipped */
    {"tiny samples", {1.1, 1.1, 1.1}, 0.03, 0.005, "", "inconclusive", 3},
    /* huge instruction counts stay finite */
    {"huge values", {1.0, 1.0, 1.0}, 0.05, 1e6, "", "no_change", 0},
};

static void test_decisions(void)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(decision_cases); i++) {
        const struct decision_case *c = &decision_cases[i];
        struct detector_params p;
        struct detector_data d;
        char err[256];
        params(&p);
        CHECK(detector_effects_parse(c->effects, &p.effects, &p.n_effects, err, sizeof(err)) == 0);
        make_data(&d, 3, c->factor, c->cv);
        for (size_t k = 0; k < d.n_endpoints; k++)
            for (int s = 0; s < 2; s++)
                for (int b = 0; b < B; b++) {
                    d.endpoints[k].requests[s][b] *= c->scale;
                    d.endpoints[k].instructions[s][b] *= c->scale;
                    d.side[s].user_requests[b] = 0;
                }
        for (int s = 0; s < 2; s++)
            for (int b = 0; b < B; b++) {
                d.side[s].user_instructions[b] = 0;
                for (size_t k = 0; k < d.n_endpoints; k++) {
                    d.side[s].user_requests[b] += d.endpoints[k].requests[s][b];
                    d.side[s].user_instructions[b] += d.endpoints[k].instructions[s][b];
                }
            }
        struct detector_report *r = run(&p, &d);
        CHECK_MSG(!strcmp(stats_verdict_name(r->verdict), c->verdict), "%s: verdict %s, want %s",
                  c->name, stats_verdict_name(r->verdict), c->verdict);
        CHECK_MSG(detector_exit_status(r->verdict) == c->exit_status, "%s", c->name);
        char *s = detector_report_dumps(r, false);
        CHECK_MSG(clean_json(s), "%s: %s", c->name, s);
        free(s);
        detector_report_free(r);
        detector_data_free(&d);
        detector_params_free(&p);
    }
}

/* Latency never sets the verdict; an endpoint regression outweighs a service improvement. */
static void test_verdict_rule(void)
{
    struct detector_params p;
    struct detector_data d;
    double same[] = {1.0, 1.0};
    params(&p);
    make_data(&d, 2, same, 0.0);
    for (int b = 0; b < B; b++)
        d.side[1].latency_us[b] *= 1.5;
    struct detector_report *r = run(&p, &d);
    const struct detector_result *lat = fixture_find(r, NULL, DETECTOR_LATENCY);
    CHECK(lat && lat->res.verdict == STATS_REGRESSION && !lat->gates);
    CHECK(r->verdict == STATS_NO_CHANGE);
    detector_report_free(r);
    detector_data_free(&d);

    /* ep0 (most requests, cheap) −20 %, ep1 +5 %: per user improves, the endpoint regressed */
    double mixed[] = {0.8, 1.05};
    make_data(&d, 2, mixed, 0.0);
    r = run(&p, &d);
    const struct detector_result *pu = fixture_find(r, NULL, DETECTOR_PER_USER);
    CHECK(pu && pu->res.verdict == STATS_IMPROVEMENT);
    CHECK(fixture_find(r, "ep1", DETECTOR_PER_REQUEST)->res.verdict == STATS_REGRESSION);
    CHECK(r->verdict == STATS_REGRESSION);
    CHECK(r->verdict_reason && strstr(r->verdict_reason, "ep1"));
    detector_report_free(r);
    detector_data_free(&d);
}

/* One empty bucket on a side changes nothing but the degrees of freedom. */
static void test_empty_bucket(void)
{
    struct detector_params p;
    struct detector_data d;
    double f[] = {1.0, 1.0};
    params(&p);
    make_data(&d, 2, f, 0.05);
    d.endpoints[0].requests[1][5] = d.endpoints[0].instructions[1][5] = 0;
    struct detector_report *r = run(&p, &d);
    const struct detector_result *e0 = fixture_find(r, "ep0", DETECTOR_PER_REQUEST);
    CHECK(e0 && e0->res.cmp.ok && e0->in.cand.nonempty == B - 1);
    CHECK(e0->res.verdict == STATS_NO_CHANGE);
    detector_report_free(r);
    detector_data_free(&d);
}

/* The decomposition adds up: Σ (rate + mix) = per-request change, and with requests per user
 * the points printed add up to the per-user change. */
static void test_decomposition(void)
{
    struct detector_params p;
    struct detector_data d;
    double f[] = {1.0, 1.06, 1.0};
    params(&p);
    make_data(&d, 3, f, 0.0);
    /* shift the mix: ep2 gets twice the requests on the candidate side */
    for (int b = 0; b < B; b++) {
        d.endpoints[2].requests[1][b] *= 2.0;
        d.endpoints[2].instructions[1][b] *= 2.0;
    }
    struct detector_report *r = run(&p, &d);
    const struct detector_decomposition *dec = &r->dec;
    CHECK(dec->ok);
    double sum = dec->mix;
    for (size_t i = 0; i < dec->n_parts; i++)
        sum += dec->parts[i].rate;
    CHECK_NEAR(sum, dec->per_request, 1e-12);
    CHECK_STR(dec->parts[0].endpoint, "ep1");
    CHECK_NEAR(dec->parts[0].delta, 0.06, 1e-12);
    CHECK(fabs(dec->mix) > 0.01);
    CHECK_NEAR((1 + dec->per_request) * (1 + dec->requests_per_user), 1 + dec->per_user, 1e-12);
    struct buf text = {0};
    detector_report_text(r, &text);
    CHECK(strstr(buf_cstr(&text), "where it happened") != NULL);
    CHECK(strstr(buf_cstr(&text), "ep1 (+6.00% per request)") != NULL);
    CHECK(strstr(buf_cstr(&text), "request mix") != NULL);
    buf_free(&text);
    detector_report_free(r);
    detector_data_free(&d);
}

/* ---- parameters, names, windows, the user set ---- */

static void test_effects_parse(void)
{
    struct detector_effect *e;
    size_t n;
    char err[256];
    CHECK(detector_effects_parse(" feed.* = 2 , /search=0.5,", &e, &n, err, sizeof(err)) == 0);
    CHECK_INT(n, 2);
    CHECK_STR(e[0].pattern, "feed.*");
    CHECK_NEAR(e[0].min_effect, 0.02, 1e-15);
    CHECK_STR(e[1].pattern, "/search");
    struct detector_params p;
    params(&p);
    p.effects = e;
    p.n_effects = n;
    CHECK_NEAR(detector_min_effect(&p, "feed.timeline"), 0.02, 1e-15);
    CHECK_NEAR(detector_min_effect(&p, "/search"), 0.005, 1e-15);
    CHECK_NEAR(detector_min_effect(&p, "/other"), 0.01, 1e-15);
    detector_params_free(&p);
    static const char *const bad[] = {"feed", "=2", "a=", "a=-1", "a=x", "a=2000"};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(bad); i++) {
        CHECK_MSG(detector_effects_parse(bad[i], &e, &n, err, sizeof(err)) < 0, "%s", bad[i]);
        CHECK(e == NULL && n == 0);
    }
    CHECK(detector_effects_parse("", &e, &n, err, sizeof(err)) == 0 && n == 0);
}

static void test_params_from_config(void)
{
    struct config cfg;
    char err[512];
    CHECK(config_load(&cfg, NULL, NULL, 0, err, sizeof(err)) == 0);
    struct detector_params p;
    CHECK(detector_params_init(&p, &cfg, err, sizeof(err)) == 0);
    CHECK_INT(p.buckets, 64);
    CHECK_NEAR(p.rule.min_effect, 0.01, 1e-15);
    CHECK_NEAR(p.rule.max_ci_width, 0.10, 1e-15);
    detector_params_free(&p);
    char *ov[] = {"detector.buckets=48"};
    config_free(&cfg);
    CHECK(config_load(&cfg, NULL, ov, 1, err, sizeof(err)) == 0);
    CHECK(detector_params_init(&p, &cfg, err, sizeof(err)) < 0 && strstr(err, "divisor"));
    detector_params_free(&p);
    config_free(&cfg);
    char *ov2[] = {"detector.min_effect_endpoints=feed=x"};
    CHECK(config_load(&cfg, NULL, ov2, 1, err, sizeof(err)) == 0);
    CHECK(detector_params_init(&p, &cfg, err, sizeof(err)) < 0 &&
          strstr(err, "min_effect_endpoints"));
    detector_params_free(&p);
    config_free(&cfg);
}

static void test_windows(void)
{
    struct detector_params p;
    struct detector_windows w;
    params(&p);
    int64_t min = 60LL * 1000000;
    detector_windows_of(&p, T0 + 4 * min + 30 * 1000000LL, &w); /* 02:04:30 */
    CHECK_INT(w.cand_from, T0);
    CHECK_INT(w.base_from, T0 - 60 * min);
    CHECK_INT(w.to, T0 + 70 * min); /* 03:04:30 rounded up */
    detector_windows_of(&p, T0, &w);
    CHECK_INT(w.to, T0 + 60 * min);
    p.baseline_window_us = 25 * min; /* rounded up to 30 min */
    detector_windows_of(&p, T0, &w);
    CHECK_INT(w.base_from, T0 - 30 * min);
}

static void test_names(void)
{
    char err[128];
    CHECK(detector_check_name("service", "web.api:v2/x-y_z", true, err, sizeof(err)) == 0);
    CHECK(detector_check_name("service", "w b", true, err, sizeof(err)) < 0);
    CHECK(detector_check_name("service", "", true, err, sizeof(err)) < 0);
    CHECK(detector_check_name("service", NULL, true, err, sizeof(err)) < 0);
    CHECK(detector_check_name("commit", "abc def", false, err, sizeof(err)) == 0);
    CHECK(detector_check_name("commit", "a\tb", false, err, sizeof(err)) < 0);
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    CHECK(detector_check_name("commit", long_name, false, err, sizeof(err)) < 0);
}

static void test_uset(void)
{
    struct uset s;
    double per_bucket[8] = {0};
    uset_init(&s);
    CHECK_INT(uset_distinct(&s, per_bucket, 8), 0);
    uset_add(&s, 0);
    uset_add(&s, 0);
    uset_add(&s, UINT32_MAX);
    for (uint32_t i = 1; i <= 100000; i++)
        uset_add(&s, i * 2654435761u); /* distinct: 2654435761 is odd */
    for (uint32_t i = 100000; i >= 1; i--)
        uset_add(&s, i * 2654435761u);
    size_t n = uset_distinct(&s, per_bucket, 8);
    /* 0, UINT32_MAX and 100000 products, unless a product is one of the two */
    size_t want = 2;
    double want_bucket[8] = {0};
    want_bucket[0] += 1.0;        /* 0 */
    want_bucket[63u % 8u] += 1.0; /* UINT32_MAX: & 63 = 63 */
    for (uint32_t i = 1; i <= 100000; i++) {
        uint32_t h = i * 2654435761u;
        if (h != 0 && h != UINT32_MAX) {
            want++;
            want_bucket[(h & 63u) % 8u] += 1.0;
        }
    }
    CHECK_INT(n, want);
    for (int b = 0; b < 8; b++)
        CHECK_NEAR(per_bucket[b], want_bucket[b], 0);
    for (size_t i = 1; i < s.n; i++)
        CHECK(s.v[i - 1] <= s.v[i]);
    uset_free(&s);
}

int main(void)
{
    test_json_shape();
    test_no_nan();
    test_decisions();
    test_verdict_rule();
    test_empty_bucket();
    test_decomposition();
    test_effects_parse();
    test_params_from_config();
    test_windows();
    test_names();
    test_uset();
    return check_summary();
}
