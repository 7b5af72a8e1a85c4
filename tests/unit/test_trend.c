/* Unit tests of the pure parts of trends (detector/trend.c): the windows of a trend, and the
 * two spans turned into the sides of a check (endpoints merged by name, the heaviest compared
 * and the rest marked light, per-user sides equal to the span sums), then decided by
 * detector_check. Expected values are computed here from the inputs, independently. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detector_fixture.h"
#include "regressd/detector.h"

#define B 64
#define MIN_US (60LL * 1000000LL)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)
#define T0 (1763690400LL * 1000000LL) /* 2025-11-21T02:00:00Z, on a block boundary */

static void params(struct detector_params *p)
{
    fixture_params(p, B);
    p->trend_coverage = 0.90;
    p->trend_max_endpoints = 50;
    p->trend_flag_shift = 0.05;
    p->flags_min_share = 0.01;
    p->flags_max_values = 200;
}

/* ---- windows ---- */

struct window_case {
    const char *name;
    int64_t at, window, offset;
    int rc;
    const char *err_has; /* on error: the option the message names */
    int64_t from0, to0, from1, to1;
};

static const struct window_case window_cases[] = {
    {"at on a block", T0, HOUR_US, DAY_US, 0, NULL, T0 - DAY_US - HOUR_US, T0 - DAY_US,
     T0 - HOUR_US, T0},
    {"at inside a block is rounded down", T0 + 7 * MIN_US + 30 * 1000000LL, HOUR_US, DAY_US, 0,
     NULL, T0 - DAY_US - HOUR_US, T0 - DAY_US, T0 - HOUR_US, T0},
    {"last microsecond of a block", T0 + 10 * MIN_US - 1, 10 * MIN_US, 7 * DAY_US, 0, NULL,
     T0 - 7 * DAY_US - 10 * MIN_US, T0 - 7 * DAY_US, T0 - 10 * MIN_US, T0},
    {"adjacent windows (offset = window)", T0, 2 * HOUR_US, 2 * HOUR_US, 0, NULL, T0 - 4 * HOUR_US,
     T0 - 2 * HOUR_US, T0 - 2 * HOUR_US, T0},
    {"before 1970: floor, not truncation", -1, 10 * MIN_US, 10 * MIN_US, 0, NULL, -30 * MIN_US,
     -20 * MIN_US, -20 * MIN_US, -10 * MIN_US},
    {"window of 15 minutes", T0, 15 * MIN_US, DAY_US, -1, "--window", 0, 0, 0, 0},
    {"window of 1 microsecond over an hour", T0, HOUR_US + 1, DAY_US, -1, "--window", 0, 0, 0, 0},
    {"window 0", T0, 0, DAY_US, -1, "--window", 0, 0, 0, 0},
    {"negative window", T0, -HOUR_US, DAY_US, -1, "--window", 0, 0, 0, 0},
    {"offset below the window", T0, HOUR_US, 30 * MIN_US, -1, "--offset", 0, 0, 0, 0},
    {"offset not on blocks", T0, HOUR_US, DAY_US + 5 * MIN_US, -1, "--offset", 0, 0, 0, 0},
    {"negative offset", T0, HOUR_US, -DAY_US, -1, "--offset", 0, 0, 0, 0},
};

static void test_windows(void)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(window_cases); i++) {
        const struct window_case *c = &window_cases[i];
        int64_t from[2] = {42, 42}, to[2] = {42, 42};
        char err[256] = "";
        int rc = detector_trend_windows(c->at, c->window, c->offset, from, to, err, sizeof(err));
        CHECK_MSG(rc == c->rc, "%s: rc %d", c->name, rc);
        if (c->rc < 0) {
            CHECK_MSG(strstr(err, c->err_has) != NULL, "%s: \"%s\"", c->name, err);
            continue;
        }
        CHECK_MSG(from[0] == c->from0 && to[0] == c->to0 && from[1] == c->from1 && to[1] == c->to1,
                  "%s: [%lld, %lld) [%lld, %lld)", c->name, (long long)from[0], (long long)to[0],
                  (long long)from[1], (long long)to[1]);
        /* invariants: both windows `window` long, `offset` apart, ending on blocks */
        CHECK(to[1] - from[1] == c->window && to[0] - from[0] == c->window);
        CHECK(from[1] - from[0] == c->offset && to[1] <= c->at && c->at - to[1] < 10 * MIN_US);
        CHECK(detector_floor_block(to[1]) == to[1] && detector_floor_block(from[0]) == from[0]);
    }
}

/* ---- spans ---- */

struct ep_spec {
    const char *name;
    double requests;     /* per bucket */
    double instructions; /* per bucket */
    double cv;           /* bucket-level noise on the instructions */
};

/* A span of the endpoints in `eps` (names given in sorted order); the service sums are the
 * endpoints' sums, 7 + b % 5 users per bucket, latency 1000 µs per request. */
static void make_span(struct detector_span *s, int64_t from, const struct ep_spec *eps, size_t n,
                      unsigned seed)
{
    memset(s, 0, sizeof(*s));
    s->from_us = from;
    s->to_us = from + HOUR_US;
    s->endpoints = xcalloc(n + 1, sizeof(*s->endpoints));
    s->n_endpoints = n;
    for (size_t k = 0; k < n; k++) {
        struct detector_span_endpoint *e = &s->endpoints[k];
        e->name = xstrdup(eps[k].name);
        for (int b = 0; b < B; b++) {
            e->requests[b] = eps[k].requests;
            e->instructions[b] = eps[k].instructions * (1.0 + eps[k].cv * fixture_noise(&seed));
            s->requests[b] += e->requests[b];
            s->instructions[b] += e->instructions[b];
        }
    }
    for (int b = 0; b < B; b++) {
        s->users_b[b] = 7 + b % 5;
        s->users += (int64_t)s->users_b[b];
        s->latency_n[b] = s->requests[b];
        s->latency_us[b] = 1000.0 * s->requests[b];
        s->samples += s->requests[b];
    }
}

static double sum(const double *v)
{
    double s = 0.0;
    for (int b = 0; b < B; b++)
        s += v[b];
    return s;
}

static const struct detector_endpoint_data *endpoint(const struct detector_data *d,
                                                     const char *name)
{
    for (size_t i = 0; i < d->n_endpoints; i++)
        if (strcmp(d->endpoints[i].name, name) == 0)
            return &d->endpoints[i];
    return NULL;
}

static bool same(const double *a, const double *b)
{
    return memcmp(a, b, B * sizeof(double)) == 0;
}

static bool zero(const double *a)
{
    for (int b = 0; b < B; b++)
        if (a[b] != 0.0)
            return false;
    return true;
}

/* Endpoints are merged by name; one only in the baseline, one only in the candidate. */
static void test_merge(void)
{
    struct detector_params p;
    struct detector_span s0, s1;
    struct detector_data d;
    static const struct ep_spec base[] = {{"/a", 100, 1e8, 0.1},
                                          {"/b", 200, 3e8, 0.1},
                                          {"/gone", 50, 1e7, 0.1},
                                          {"/z", 10, 1e6, 0.1}};
    static const struct ep_spec cand[] = {{"/a", 110, 1.1e8, 0.1},
                                          {"/b", 190, 2.9e8, 0.1},
                                          {"/new", 40, 2e7, 0.1},
                                          {"/z", 12, 1.2e6, 0.1}};
    params(&p);
    make_span(&s0, T0 - DAY_US, base, 4, 1);
    make_span(&s1, T0, cand, 4, 2);
    detector_trend_data(&p, &s0, &s1, T0 + 2 * HOUR_US, &d);
    static const char *const want[] = {"/a", "/b", "/gone", "/new", "/z"};
    CHECK_INT(d.n_endpoints, 5);
    for (size_t i = 0; i < d.n_endpoints && i < 5; i++)
        CHECK_STR(d.endpoints[i].name, want[i]);
    const struct detector_endpoint_data *gone = endpoint(&d, "/gone"), *nw = endpoint(&d, "/new");
    CHECK(gone && same(gone->requests[0], s0.endpoints[2].requests) &&
          same(gone->instructions[0], s0.endpoints[2].instructions));
    CHECK(gone && zero(gone->requests[1]) && zero(gone->instructions[1]));
    CHECK(nw && zero(nw->requests[0]) && zero(nw->instructions[0]));
    CHECK(nw && same(nw->requests[1], s1.endpoints[2].requests) &&
          same(nw->instructions[1], s1.endpoints[2].instructions));
    const struct detector_endpoint_data *z = endpoint(&d, "/z");
    CHECK(z && same(z->instructions[0], s0.endpoints[3].instructions) &&
          same(z->instructions[1], s1.endpoints[3].instructions));
    /* the two spans are not consumed: freeing all three is clean (ASan) */
    detector_data_free(&d);
    detector_span_free(&s0);
    detector_span_free(&s1);

    /* one side without any endpoint */
    make_span(&s0, T0 - DAY_US, base, 0, 1);
    make_span(&s1, T0, cand, 2, 2);
    detector_trend_data(&p, &s0, &s1, T0 + 2 * HOUR_US, &d);
    CHECK_INT(d.n_endpoints, 2);
    CHECK(d.n_endpoints == 2 && zero(d.endpoints[1].requests[0]) &&
          same(d.endpoints[1].requests[1], s1.endpoints[1].requests));
    detector_data_free(&d);
    detector_span_free(&s0);
    detector_span_free(&s1);
}

/* The sides of the check are the spans: every per-bucket sum, the windows, the flags. */
static void test_sides(void)
{
    struct detector_params p;
    struct detector_span s[2];
    struct detector_data d;
    static const struct ep_spec eps[] = {{"/a", 100, 1e8, 0.2}, {"/b", 30, 6e7, 0.2}};
    params(&p);
    make_span(&s[0], T0 - 7 * DAY_US, eps, 2, 3);
    make_span(&s[1], T0, eps, 2, 4);
    s[1].users_b[3] = 0; /* sides differ somewhere */
    s[1].users -= 10;
    detector_trend_data(&p, &s[0], &s[1], T0 + HOUR_US, &d);
    CHECK_INT(d.buckets, B);
    CHECK(d.complete);
    CHECK(d.candidate_seen);
    CHECK(d.user_note == NULL);
    CHECK_INT(d.win.base_from, T0 - 7 * DAY_US);
    CHECK_INT(d.win.cand_from, T0);
    CHECK_INT(d.win.to, T0 + HOUR_US);
    for (int i = 0; i < 2; i++) {
        const struct detector_side *sd = &d.side[i];
        CHECK_INT(sd->from_us, s[i].from_us);
        CHECK_INT(sd->to_us, s[i].to_us);
        CHECK_INT(sd->user_from_us, s[i].from_us);
        CHECK_INT(sd->user_to_us, s[i].to_us);
        CHECK(sd->samples == s[i].samples);
        CHECK_INT(sd->users, s[i].users);
        CHECK(same(sd->user_requests, s[i].requests));
        CHECK(same(sd->user_instructions, s[i].instructions));
        CHECK(same(sd->user_users, s[i].users_b));
        CHECK(same(sd->latency_n, s[i].latency_n));
        CHECK(same(sd->latency_us, s[i].latency_us));
        CHECK(sd->commit == NULL);
    }
    detector_data_free(&d);

    /* a candidate window still running; no candidate traffic */
    detector_trend_data(&p, &s[0], &s[1], T0 + HOUR_US - 1, &d);
    CHECK(!d.complete);
    detector_data_free(&d);
    detector_span_free(&s[1]);
    make_span(&s[1], T0, eps, 0, 4);
    memset(s[1].users_b, 0, sizeof(s[1].users_b));
    s[1].users = 0;
    s[1].samples = 0;
    detector_trend_data(&p, &s[0], &s[1], T0 + HOUR_US, &d);
    CHECK(!d.candidate_seen);
    detector_data_free(&d);
    detector_span_free(&s[0]);
    detector_span_free(&s[1]);
}

/* ---- light endpoints ---- */

struct light_case {
    const char *name;
    double coverage;
    size_t max_endpoints;
    const char *compared; /* names of the endpoints compared, in name order, "," separated */
};

/* Instructions over both windows: /w50 50 %, /w30 30 %, /w15 15 %, /w5 5 %, /zero none. */
static const struct ep_spec light_eps[] = {{"/w15", 15, 15, 0},
                                           {"/w30", 30, 30, 0},
                                           {"/w5", 5, 5, 0},
                                           {"/w50", 50, 50, 0},
                                           {"/zero", 10, 0, 0}};

static const struct light_case light_cases[] = {
    {"coverage 90%: three carry 95%", 0.90, 50, "/w15,/w30,/w50"},
    {"coverage 80%: two carry exactly 80%", 0.80, 50, "/w30,/w50"},
    {"coverage 50%: the heaviest alone", 0.50, 50, "/w50"},
    {"coverage 10%: still the heaviest", 0.10, 50, "/w50"},
    {"coverage 100%: all with instructions", 1.00, 50, "/w15,/w30,/w5,/w50"},
    {"max_endpoints 2 caps coverage 90%", 0.90, 2, "/w30,/w50"},
    {"max_endpoints 1", 1.00, 1, "/w50"},
};

static void compared_names(const struct detector_data *d, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < d->n_endpoints; i++) {
        if (d->endpoints[i].light)
            continue;
        if (out[0])
            strncat(out, ",", outlen - strlen(out) - 1);
        strncat(out, d->endpoints[i].name, outlen - strlen(out) - 1);
    }
}

static void test_light(void)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(light_cases); i++) {
        const struct light_case *c = &light_cases[i];
        struct detector_params p;
        struct detector_span s0, s1;
        struct detector_data d;
        char got[256];
        params(&p);
        p.trend_coverage = c->coverage;
        p.trend_max_endpoints = c->max_endpoints;
        make_span(&s0, T0 - DAY_US, light_eps, 5, 1);
        make_span(&s1, T0, light_eps, 5, 2);
        detector_trend_data(&p, &s0, &s1, T0 + HOUR_US, &d);
        compared_names(&d, got, sizeof(got));
        CHECK_MSG(strcmp(got, c->compared) == 0, "%s: compared \"%s\", want \"%s\"", c->name, got,
                  c->compared);
        detector_data_free(&d);
        detector_span_free(&s0);
        detector_span_free(&s1);
    }

    /* the weight is the sum over both windows: /late is heavy only in the candidate window */
    struct detector_params p;
    struct detector_span s0, s1;
    struct detector_data d;
    char got[256];
    static const struct ep_spec base[] = {{"/early", 60, 60, 0}, {"/late", 1, 1, 0}};
    static const struct ep_spec cand[] = {{"/early", 10, 10, 0}, {"/late", 100, 100, 0}};
    params(&p);
    p.trend_coverage = 0.5; /* /late: 101 of 171 */
    make_span(&s0, T0 - DAY_US, base, 2, 1);
    make_span(&s1, T0, cand, 2, 2);
    detector_trend_data(&p, &s0, &s1, T0 + HOUR_US, &d);
    compared_names(&d, got, sizeof(got));
    CHECK_STR(got, "/late");
    detector_data_free(&d);
    detector_span_free(&s0);
    detector_span_free(&s1);
}

/* ---- through detector_check ---- */

/* Light endpoints are not compared but counted; the per-user result is the spans' instructions
 * per distinct user; a +20 % endpoint is a regression of the trend. */
static void test_check(void)
{
    struct detector_params p;
    struct detector_span s0, s1;
    struct detector_data d;
    char err[256] = "";
    /* /w50 +20 % in the later window; /w5 light (its 5 % is outside the 90 % coverage) */
    static const struct ep_spec base[] = {{"/w15", 1500, 1.5e9, 0.05},
                                          {"/w30", 3000, 3e9, 0.05},
                                          {"/w5", 500, 5e8, 0.05},
                                          {"/w50", 5000, 5e9, 0.05}};
    static const struct ep_spec cand[] = {{"/w15", 1500, 1.5e9, 0.05},
                                          {"/w30", 3000, 3e9, 0.05},
                                          {"/w5", 500, 5e8, 0.05},
                                          {"/w50", 5000, 6e9, 0.05}};
    params(&p);
    make_span(&s0, T0 - DAY_US, base, 4, 11);
    make_span(&s1, T0, cand, 4, 12);
    detector_trend_data(&p, &s0, &s1, T0 + HOUR_US, &d);
    struct detector_report *r = detector_check(&p, &d, "web", err, sizeof(err));
    CHECK_MSG(r != NULL, "%s", err);
    if (!r)
        goto done;
    CHECK_INT(r->endpoints_light, 1);
    CHECK_INT(r->endpoints_skipped, 0);
    CHECK(fixture_find(r, "/w5", DETECTOR_PER_REQUEST) == NULL);
    CHECK(fixture_find(r, "/w15", DETECTOR_PER_REQUEST) &&
          fixture_find(r, "/w30", DETECTOR_PER_REQUEST));
    const struct detector_result *pu = fixture_find(r, NULL, DETECTOR_PER_USER);
    CHECK(pu != NULL);
    if (pu) {
        CHECK_NEAR(pu->in.base.ratio, sum(s0.instructions) / sum(s0.users_b), 1e-12);
        CHECK_NEAR(pu->in.cand.ratio, sum(s1.instructions) / sum(s1.users_b), 1e-12);
        CHECK_INT(pu->in.base_users, s0.users);
        CHECK_INT(pu->in.base_samples, (int64_t)s0.samples);
    }
    const struct detector_result *w50 = fixture_find(r, "/w50", DETECTOR_PER_REQUEST);
    CHECK(w50 != NULL);
    if (w50) {
        double want = (sum(s1.endpoints[3].instructions) / sum(s1.endpoints[3].requests)) /
                          (sum(s0.endpoints[3].instructions) / sum(s0.endpoints[3].requests)) -
                      1.0;
        CHECK_NEAR(w50->res.cmp.delta, want, 1e-12);
        CHECK(fabs(want - 0.20) < 0.01);
        CHECK(w50->res.verdict == STATS_REGRESSION);
    }
    CHECK(r->verdict == STATS_REGRESSION);
    CHECK(r->verdict_reason && strstr(r->verdict_reason, "/w50"));
done:
    detector_report_free(r);
    detector_data_free(&d);
    detector_span_free(&s0);
    detector_span_free(&s1);
}

int main(void)
{
    test_windows();
    test_merge();
    test_sides();
    test_light();
    test_check();
    return check_summary();
}
