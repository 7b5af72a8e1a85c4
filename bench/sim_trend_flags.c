/* sim_trend_flags: measures the error rates of trends and flag scans on simulated traffic,
 * through the real decision code: spans and flag sums are built in memory exactly as the
 * loaders fill them, then judged by detector_trend_data + detector_check (trends) and
 * detector_flags_check (flag scans), with the parameters of a default configuration.
 *
 * Traffic model (drawn afresh for every run):
 * - a population of 2·U users. User u has a stable random effect a_u ~ N(0, sigma_user), a
 *   stable activity r_u ~ Pareto(alpha = 2, xm = 2) (heavy-tailed), and stable flags; its bucket
 *   is (util_hash32(user id text) & 63) % B, as the consumer computes it;
 * - in each window every user is active with probability 1/2 (a fresh draw per window, so two
 *   windows share about half their users) and then makes max(1, Poisson(r_u)) requests, at most
 *   2000 (about U users and 4·U requests per window);
 * - a request goes to one of 10 endpoints by a Zipf mix (share ∝ 1/(k+1)); its instructions are
 *   c_k·exp(a_u + ε), ε ~ N(0, sigma_request), with lognormal endpoint costs
 *   c_k = 1e7·exp(N(0, sigma_endpoint)) drawn once per run (the same in both windows); its
 *   latency is proportional to its instructions (informational, never gates).
 * - flags, per user: exp=on for 50 % of the users (exp=off for the others), dark=true for 30 %,
 *   beta=v1|v2|v3 by thirds, tiny=on for 0.5 % (below flags.min_share_pct: must never be
 *   compared); every request of a user carries its flags.
 *
 * Scenarios:
 * - trend A/A: two windows (one day apart) of the same population, nothing changed;
 * - trend power: the heaviest endpoint (by expected instructions) costs +5 % in the later
 *   window; the service's instructions per user moves too (by that endpoint's share), so the
 *   per-user result is reported apart, and a regression on another endpoint is a false one;
 * - flag A/A: one window, no effect anywhere;
 * - flag power: ep2 costs +10 % for exp=on users. exp=off on ep2 is the mirror image (an
 *   improvement, expected) and exp=on per user moves by ep2's share (true, reported apart);
 *   every other regression is a false one.
 * A run "has a regression" when the report's verdict is regression; the target is at
 * most 2 % of A/A runs. Defaults: 500 runs per scenario, U = 20000 (20-25 s of CPU on one core);
 * --users 3000 shows the small-sample regime (per-user results inconclusive, endpoints skipped).
 *
 * Usage: sim_trend_flags [--trials N] [--seed S] [--users U]
 * Deterministic for a given seed. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/config.h"
#include "regressd/detector.h"
#include "regressd/util.h"

#define NE 10 /* endpoints */
#define NV 7  /* flag values */
#define MAX_REQUESTS 2000
#define HOUR_US (3600LL * 1000000LL)
#define T0 (1763690400LL * 1000000LL) /* 2025-11-21T02:00:00Z, on a block */
#define TREND_DELTA 0.05
#define FLAG_DELTA 0.10
#define FLAG_ENDPOINT 2 /* ep2: the flag power scenario's endpoint */
#define TARGET_AA 0.02

enum { V_EXP_ON, V_EXP_OFF, V_DARK, V_BETA1, V_BETA2, V_BETA3, V_TINY };
static const char *const value_flag[NV] = {"exp", "exp", "dark", "beta", "beta", "beta", "tiny"};
static const char *const value_name[NV] = {"on", "off", "true", "v1", "v2", "v3", "on"};

struct sim_config {
    int trials;
    unsigned long seed;
    int users; /* mean active users per window */
    double sigma_user, sigma_request, sigma_endpoint;
};

struct user {
    uint32_t bucket;
    uint32_t values; /* bit v: the user carries flag value v */
    double a, rate;
};

/* What a run changes: instructions of `endpoint` times `factor`, for users carrying `value`
 * (-1: every user). factor 1: nothing. */
struct change {
    int endpoint;
    int value;
    double factor;
};

struct run_model {
    struct user *users;
    size_t n;
    double cost[NE];
    double cum_share[NE]; /* cumulative Zipf shares */
};

/* ---- the model ---- */

static void model_new(const struct sim_config *cfg, gsl_rng *rng, uint64_t *next_id,
                      struct run_model *m)
{
    double total = 0.0;
    for (int k = 0; k < NE; k++)
        total += 1.0 / (k + 1);
    double acc = 0.0;
    for (int k = 0; k < NE; k++) {
        acc += 1.0 / (k + 1) / total;
        m->cum_share[k] = acc;
        m->cost[k] = 1e7 * exp(gsl_ran_gaussian(rng, cfg->sigma_endpoint));
    }
    m->cum_share[NE - 1] = 1.0;
    m->n = 2 * (size_t)cfg->users;
    m->users = xcalloc(m->n, sizeof(*m->users));
    for (size_t i = 0; i < m->n; i++) {
        struct user *u = &m->users[i];
        char id[32];
        int len = snprintf(id, sizeof(id), "user-%llu", (unsigned long long)(*next_id)++);
        u->bucket = util_hash32(id, (size_t)len) & 63u;
        u->a = gsl_ran_gaussian_ziggurat(rng, cfg->sigma_user);
        u->rate = gsl_ran_pareto(rng, 2.0, 2.0);
        u->values = 1u << (gsl_rng_uniform(rng) < 0.5 ? V_EXP_ON : V_EXP_OFF);
        if (gsl_rng_uniform(rng) < 0.3)
            u->values |= 1u << V_DARK;
        u->values |= 1u << (V_BETA1 + (int)gsl_rng_uniform_int(rng, 3));
        if (gsl_rng_uniform(rng) < 0.005)
            u->values |= 1u << V_TINY;
    }
}

/* The endpoint with the most expected instructions. */
static int heaviest(const struct run_model *m)
{
    int best = 0;
    double prev = 0.0, best_w = -1.0;
    for (int k = 0; k < NE; k++) {
        double w = (m->cum_share[k] - prev) * m->cost[k];
        prev = m->cum_share[k];
        if (w > best_w) {
            best_w = w;
            best = k;
        }
    }
    return best;
}

static int pick_endpoint(const struct run_model *m, gsl_rng *rng)
{
    double u = gsl_rng_uniform(rng);
    int k = 0;
    while (k < NE - 1 && u >= m->cum_share[k])
        k++;
    return k;
}

static void span_init(struct detector_span *s, int64_t from_us)
{
    memset(s, 0, sizeof(*s));
    s->from_us = from_us;
    s->to_us = from_us + HOUR_US;
    s->endpoints = xcalloc(NE, sizeof(*s->endpoints));
    s->n_endpoints = NE;
    for (int k = 0; k < NE; k++) {
        char name[16];
        snprintf(name, sizeof(name), "ep%d", k); /* one digit: sorted by name */
        s->endpoints[k].name = xstrdup(name);
    }
}

static void values_init(struct detector_flags_data *fd)
{
    fd->values = xcalloc(NV, sizeof(*fd->values));
    fd->n_values = NV;
    for (int v = 0; v < NV; v++) {
        struct detector_flag_value *fv = &fd->values[v];
        char key[64];
        snprintf(key, sizeof(key), "%s=%s", value_flag[v], value_name[v]);
        fv->flag = xstrdup(value_flag[v]);
        fv->value = xstrdup(value_name[v]);
        fv->key = xstrdup(key);
        fv->endpoints = xcalloc(NE, sizeof(*fv->endpoints));
        fv->n_endpoints = fv->cap = NE;
        for (int k = 0; k < NE; k++)
            fv->endpoints[k].endpoint = (size_t)k;
    }
}

/* One user's requests of a window, per endpoint. */
struct user_sums {
    double requests[NE], instructions[NE];
    double n, total, latency;
};

static void gen_user(const struct run_model *m, gsl_rng *rng, const struct sim_config *cfg,
                     const struct user *u, const struct change *ch, struct user_sums *s)
{
    memset(s, 0, sizeof(*s));
    unsigned n = gsl_ran_poisson(rng, u->rate);
    n = n < 1 ? 1 : n > MAX_REQUESTS ? MAX_REQUESTS : n;
    bool changed = ch->factor != 1.0 && (ch->value < 0 || (u->values >> ch->value & 1u));
    for (unsigned i = 0; i < n; i++) {
        int k = pick_endpoint(m, rng);
        double v = m->cost[k] * exp(u->a + gsl_ran_gaussian_ziggurat(rng, cfg->sigma_request));
        if (changed && k == ch->endpoint)
            v *= ch->factor;
        s->requests[k] += 1.0;
        s->instructions[k] += v;
        s->total += v;
    }
    s->n = n;
    s->latency = s->total * 2e-4; /* 1e7 instructions: 2 ms */
}

static void add_span(struct detector_span *sp, int b, const struct user_sums *s)
{
    sp->samples += s->n;
    sp->users++;
    sp->requests[b] += s->n;
    sp->instructions[b] += s->total;
    sp->users_b[b] += 1.0;
    sp->latency_n[b] += s->n;
    sp->latency_us[b] += s->latency;
    for (int k = 0; k < NE; k++) {
        sp->endpoints[k].requests[b] += s->requests[k];
        sp->endpoints[k].instructions[b] += s->instructions[k];
    }
}

static void add_value(struct detector_flag_value *fv, int b, const struct user_sums *s)
{
    fv->samples += s->n;
    fv->users++;
    fv->requests[b] += s->n;
    fv->instructions[b] += s->total;
    fv->users_b[b] += 1.0;
    for (int k = 0; k < NE; k++) {
        fv->endpoints[k].requests[b] += s->requests[k];
        fv->endpoints[k].instructions[b] += s->instructions[k];
    }
}

/* One window of the active users into sp and, when fd is not NULL, into its flag values. */
static void gen_window(const struct sim_config *cfg, gsl_rng *rng, const struct run_model *m,
                       const struct change *ch, int buckets, struct detector_span *sp,
                       struct detector_flags_data *fd)
{
    struct user_sums s;
    for (size_t i = 0; i < m->n; i++) {
        const struct user *u = &m->users[i];
        if (gsl_rng_uniform(rng) >= 0.5)
            continue;
        gen_user(m, rng, cfg, u, ch, &s);
        int b = (int)(u->bucket % (uint32_t)buckets);
        add_span(sp, b, &s);
        for (int v = 0; fd && v < NV; v++)
            if (u->values >> v & 1u)
                add_value(&fd->values[v], b, &s);
    }
}

static int cmp_value_samples(const void *a, const void *b)
{
    double x = ((const struct detector_flag_value *)a)->samples,
           y = ((const struct detector_flag_value *)b)->samples;
    return x > y ? -1 : x < y;
}

/* As the loader leaves them: a value lists only endpoints it has requests on, values most
 * requested first. */
static void values_finish(struct detector_flags_data *fd, int buckets)
{
    for (size_t v = 0; v < fd->n_values; v++) {
        struct detector_flag_value *fv = &fd->values[v];
        size_t kept = 0;
        for (size_t i = 0; i < fv->n_endpoints; i++) {
            double r = 0.0;
            for (int b = 0; b < buckets; b++)
                r += fv->endpoints[i].requests[b];
            if (r > 0.0)
                fv->endpoints[kept++] = fv->endpoints[i];
        }
        fv->n_endpoints = kept;
    }
    qsort(fd->values, fd->n_values, sizeof(*fd->values), cmp_value_samples);
}

/* ---- tallies ---- */

struct count {
    int k, n;
};

static void count(struct count *c, bool hit)
{
    c->n++;
    c->k += hit;
}

struct tally {
    int runs;
    struct count regression;   /* verdict regression */
    struct count inconclusive; /* verdict inconclusive */
    struct count improvement;  /* any result an improvement */
    struct count planted;      /* the planted result flagged regression */
    struct count mirror;       /* flags: exp=off on the planted endpoint flagged improvement */
    struct count per_user;     /* the per-user result that moves with the change, regression */
    struct count other;        /* runs with a regression elsewhere (false discovery) */
    struct count cover;        /* the planted result's interval contains its delta */
    struct count cover_null;   /* per-request results without an effect: interval contains 0 */
    struct count cover_user;   /* per-user results without an effect: interval contains 0 */
    struct count tiny_tested;  /* flags: runs where tiny=on was tested anywhere */
    struct count tiny_noted;   /* flags: runs where tiny=on per user is inconclusive, noted */
    struct count pu_wide;      /* trends: the per-user interval is wider than max_ci_width */
    double compared, light, skipped, tested, results, samples, users, planted_requests;
};

static bool covers(const struct detector_result *res, double delta)
{
    return res->res.cmp.ci_low <= delta && delta <= res->res.cmp.ci_high;
}

static bool is_regr(const struct detector_result *res)
{
    return res->res.verdict == STATS_REGRESSION;
}

static void tally_trend(struct tally *t, const struct detector_report *r, const char *planted,
                        double planted_requests)
{
    bool impr = false, other = false, found = false;
    t->runs++;
    count(&t->regression, r->verdict == STATS_REGRESSION);
    count(&t->inconclusive, r->verdict == STATS_INCONCLUSIVE);
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        bool hit = planted && res->endpoint && strcmp(res->endpoint, planted) == 0;
        impr |= res->res.verdict == STATS_IMPROVEMENT;
        if (res->metric == DETECTOR_PER_USER) {
            count(&t->pu_wide, res->res.reason == STATS_REASON_WIDE_INTERVAL);
            if (planted)
                count(&t->per_user, is_regr(res));
            else if (res->res.cmp.ok)
                count(&t->cover_user, covers(res, 0.0));
        }
        if (hit) {
            found = is_regr(res);
            if (res->res.cmp.ok)
                count(&t->cover, covers(res, TREND_DELTA));
        } else if (res->metric == DETECTOR_PER_REQUEST) {
            other |= is_regr(res);
            if (res->res.cmp.ok)
                count(&t->cover_null, covers(res, 0.0));
        }
        t->compared += res->metric == DETECTOR_PER_REQUEST;
        t->tested += res->res.tested;
    }
    count(&t->improvement, impr);
    count(&t->other, other);
    if (planted)
        count(&t->planted, found);
    t->light += (double)r->endpoints_light;
    t->skipped += (double)r->endpoints_skipped;
    t->results += (double)r->n_results;
    t->samples += 0.5 * (r->samples[0] + r->samples[1]);
    t->users += 0.5 * (double)(r->users[0] + r->users[1]);
    t->planted_requests += planted_requests;
}

static bool value_is(const struct detector_result *res, int v)
{
    return strcmp(res->flag_name, value_flag[v]) == 0 &&
           strcmp(res->flag_value, value_name[v]) == 0;
}

static void tally_flags(struct tally *t, const struct detector_report *r, bool planted,
                        double planted_requests)
{
    char ep[16];
    snprintf(ep, sizeof(ep), "ep%d", FLAG_ENDPOINT);
    bool impr = false, other = false, found = false, mirror = false, tiny = false, noted = false;
    t->runs++;
    count(&t->regression, r->verdict == STATS_REGRESSION);
    count(&t->inconclusive, r->verdict == STATS_INCONCLUSIVE);
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        bool on_ep = res->endpoint && strcmp(res->endpoint, ep) == 0;
        bool hit = planted && on_ep && value_is(res, V_EXP_ON);
        bool moves = planted && (value_is(res, V_EXP_ON) || value_is(res, V_EXP_OFF)) &&
                     (on_ep || !res->endpoint);
        impr |= res->res.verdict == STATS_IMPROVEMENT;
        if (value_is(res, V_TINY)) {
            tiny |= res->res.tested;
            noted |= !res->endpoint && res->res.verdict == STATS_INCONCLUSIVE && res->note;
        }
        if (hit) {
            found = is_regr(res);
            if (res->res.cmp.ok)
                count(&t->cover, covers(res, FLAG_DELTA));
        } else if (planted && on_ep && value_is(res, V_EXP_OFF)) {
            mirror = res->res.verdict == STATS_IMPROVEMENT;
        } else if (planted && !res->endpoint && value_is(res, V_EXP_ON)) {
            count(&t->per_user, is_regr(res));
        } else if (!moves) {
            other |= is_regr(res);
            if (res->res.cmp.ok)
                count(res->endpoint ? &t->cover_null : &t->cover_user, covers(res, 0.0));
        }
        t->tested += res->res.tested;
    }
    count(&t->improvement, impr);
    count(&t->other, other);
    count(&t->tiny_tested, tiny);
    count(&t->tiny_noted, noted);
    if (planted) {
        count(&t->planted, found);
        count(&t->mirror, mirror);
    }
    t->skipped += (double)r->endpoints_skipped;
    t->results += (double)r->n_results;
    t->samples += r->samples[0];
    t->users += (double)r->users[0];
    t->planted_requests += planted_requests;
}

/* ---- runs ---- */

static double endpoint_requests(const struct detector_span *sp, int k, int buckets)
{
    double r = 0.0;
    for (int b = 0; b < buckets; b++)
        r += sp->endpoints[k].requests[b];
    return r;
}

static struct detector_report *checked(struct detector_report *r, const char *err)
{
    if (!r) {
        fprintf(stderr, "sim_trend_flags: %s\n", err);
        exit(2);
    }
    return r;
}

static void run_trend(const struct sim_config *cfg, const struct detector_params *p, gsl_rng *rng,
                      uint64_t *next_id, double delta, struct tally *t)
{
    struct run_model m;
    struct detector_span sp[2];
    struct detector_data d;
    char err[256], name[16];
    model_new(cfg, rng, next_id, &m);
    int k = heaviest(&m);
    struct change none = {k, -1, 1.0}, ch = {k, -1, 1.0 + delta};
    span_init(&sp[0], T0);
    span_init(&sp[1], T0 + 24 * HOUR_US);
    gen_window(cfg, rng, &m, &none, p->buckets, &sp[0], NULL);
    gen_window(cfg, rng, &m, &ch, p->buckets, &sp[1], NULL);
    detector_trend_data(p, &sp[0], &sp[1], sp[1].to_us, &d);
    struct detector_report *r = checked(detector_check(p, &d, "sim", err, sizeof(err)), err);
    snprintf(name, sizeof(name), "ep%d", k);
    tally_trend(t, r, delta != 0.0 ? name : NULL,
                0.5 * (endpoint_requests(&sp[0], k, p->buckets) +
                       endpoint_requests(&sp[1], k, p->buckets)));
    detector_report_free(r);
    detector_data_free(&d);
    detector_span_free(&sp[0]);
    detector_span_free(&sp[1]);
    free(m.users);
}

static void run_flags(const struct sim_config *cfg, const struct detector_params *p, gsl_rng *rng,
                      uint64_t *next_id, double delta, struct tally *t)
{
    struct run_model m;
    struct detector_flags_data fd;
    char err[256];
    model_new(cfg, rng, next_id, &m);
    struct change ch = {FLAG_ENDPOINT, V_EXP_ON, 1.0 + delta};
    memset(&fd, 0, sizeof(fd));
    span_init(&fd.span, T0);
    fd.now_us = fd.span.to_us;
    values_init(&fd);
    gen_window(cfg, rng, &m, &ch, p->buckets, &fd.span, &fd);
    values_finish(&fd, p->buckets);
    struct detector_report *r = checked(detector_flags_check(p, &fd, "sim", err, sizeof(err)), err);
    tally_flags(t, r, delta != 0.0, endpoint_requests(&fd.span, FLAG_ENDPOINT, p->buckets));
    detector_report_free(r);
    detector_flags_data_free(&fd);
    free(m.users);
}

/* ---- report ---- */

static double pct(struct count c)
{
    return c.n > 0 ? 100.0 * c.k / c.n : NAN;
}

/* Wilson score interval of a share, 95 %. */
static void wilson(struct count c, double *lo, double *hi)
{
    double z = 1.959964, n = c.n, ph = n > 0 ? c.k / n : 0.0;
    double mid = (ph + z * z / (2 * n)) / (1 + z * z / n);
    double half = z * sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n);
    *lo = 100.0 * (mid - half);
    *hi = 100.0 * (mid + half);
}

static void print_share(const char *what, struct count c, const char *suffix)
{
    double lo, hi;
    if (c.n == 0) {
        printf("  %-52s    n/a  (none computed)\n", what);
        return;
    }
    wilson(c, &lo, &hi);
    printf("  %-52s %6.1f%%  (%4d of %d; 95%% CI %4.1f-%5.1f%%)%s\n", what, pct(c), c.k, c.n, lo,
           hi, suffix);
}

/* The target: at most TARGET_AA of A/A runs with a regression. */
static void print_aa(const char *what, struct count c)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "  target <= %.0f%%: %s", 100.0 * TARGET_AA,
             c.k <= TARGET_AA * c.n ? "PASS" : "MISS");
    print_share(what, c, suffix);
}

/* A share that must be exactly 0. */
static void print_zero(const char *what, struct count c)
{
    print_share(what, c, c.k == 0 ? "  must be 0: PASS" : "  must be 0: MISS");
}

static void print_trend(const struct tally *aa, const struct tally *pw)
{
    printf("\n-- trend (detector_trend_data + detector_check), 1 h window vs 1 d earlier\n");
    printf("  per window: %.0f requests, %.0f users; endpoints compared %.2f, light %.2f, "
           "skipped %.2f; results %.1f (tested %.1f) per run\n",
           aa->samples / aa->runs, aa->users / aa->runs, aa->compared / aa->runs,
           aa->light / aa->runs, aa->skipped / aa->runs, aa->results / aa->runs,
           aa->tested / aa->runs);
    printf("trend A/A (%d runs)\n", aa->runs);
    print_aa("runs with verdict regression", aa->regression);
    print_share("runs with any result an improvement", aa->improvement, "");
    print_share("runs with verdict inconclusive", aa->inconclusive, "");
    print_share("runs with per-user interval wider than max_ci_width", aa->pu_wide, "");
    print_share("95% interval of an endpoint contains 0 (all compared)", aa->cover_null, "");
    print_share("95% interval of per user contains 0", aa->cover_user, "");
    printf("trend +%.0f%% on the heaviest endpoint (%d runs, %.0f requests on it per window)\n",
           100.0 * TREND_DELTA, pw->runs, pw->planted_requests / pw->runs);
    print_share("planted endpoint flagged regression (power)", pw->planted, "");
    print_share("another endpoint flagged regression (false)", pw->other, "");
    print_share("per user flagged regression (true, diluted)", pw->per_user, "");
    print_share("runs with verdict regression", pw->regression, "");
    print_share("95% interval of the planted endpoint contains +5%", pw->cover, "");
    print_share("95% interval of another endpoint contains 0", pw->cover_null, "");
}

static void print_flags(const struct tally *aa, const struct tally *pw)
{
    printf("\n-- flags (detector_flags_check), 1 h window; values exp=on|off (50%%), dark=true "
           "(30%%), beta=v1|v2|v3, tiny=on (0.5%%)\n");
    printf("  per window: %.0f requests, %.0f users; results %.1f (tested %.1f), endpoints "
           "skipped %.2f per run\n",
           aa->samples / aa->runs, aa->users / aa->runs, aa->results / aa->runs,
           aa->tested / aa->runs, aa->skipped / aa->runs);
    printf("flags A/A (%d runs)\n", aa->runs);
    print_aa("runs with verdict regression", aa->regression);
    print_share("runs with any result an improvement", aa->improvement, "");
    print_share("runs with verdict inconclusive", aa->inconclusive, "");
    print_zero("runs where tiny=on was tested", aa->tiny_tested);
    print_share("runs where tiny=on per user is inconclusive, noted", aa->tiny_noted, "");
    print_share("95% interval contains 0: per request (computed)", aa->cover_null, "");
    print_share("95% interval contains 0: per user (computed)", aa->cover_user, "");
    printf("flags +%.0f%% on ep%d for exp=on (%d runs, %.0f requests on ep%d per window)\n",
           100.0 * FLAG_DELTA, FLAG_ENDPOINT, pw->runs, pw->planted_requests / pw->runs,
           FLAG_ENDPOINT);
    print_share("exp=on ep2 flagged regression (power)", pw->planted, "");
    print_share("anything else flagged regression (false)", pw->other, "");
    print_share("exp=off ep2 flagged improvement (mirror, expected)", pw->mirror, "");
    print_share("exp=on per user flagged regression (true, diluted)", pw->per_user, "");
    print_zero("runs where tiny=on was tested", pw->tiny_tested);
    print_share("95% interval of exp=on ep2 contains +10%", pw->cover, "");
    print_share("95% interval of a null result contains 0: per request", pw->cover_null, "");
    print_share("95% interval of a null result contains 0: per user", pw->cover_user, "");
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, struct sim_config *cfg)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        if (strcmp(a, "--trials") == 0)
            cfg->trials = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            cfg->seed = strtoul(v, NULL, 10);
        else if (strcmp(a, "--users") == 0)
            cfg->users = atoi(v);
        else
            return -1;
    }
    return cfg->trials >= 1 && cfg->users >= 100 ? 0 : -1;
}

static int params_default(struct detector_params *p)
{
    struct config c;
    char err[512];
    if (config_load(&c, NULL, NULL, 0, err, sizeof(err)) < 0) {
        fprintf(stderr, "sim_trend_flags: %s\n", err);
        return -1;
    }
    int rc = detector_params_init(p, &c, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "sim_trend_flags: %s\n", err);
    config_free(&c);
    return rc;
}

int main(int argc, char **argv)
{
    struct sim_config cfg = {.trials = 500,
                             .seed = 1,
                             .users = 20000,
                             .sigma_user = 0.06,
                             .sigma_request = 0.25,
                             .sigma_endpoint = 0.8};
    if (parse_args(argc, argv, &cfg) < 0) {
        fprintf(stderr, "usage: sim_trend_flags [--trials N] [--seed S] [--users U]\n");
        return 2;
    }
    struct detector_params p;
    if (params_default(&p) < 0) {
        detector_params_free(&p);
        return 2;
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, cfg.seed);
    struct tally t[4];
    uint64_t next_id = 0;
    int64_t start = util_mono_us();
    memset(t, 0, sizeof(t));
    for (int i = 0; i < cfg.trials; i++) {
        run_trend(&cfg, &p, rng, &next_id, 0.0, &t[0]);
        run_trend(&cfg, &p, rng, &next_id, TREND_DELTA, &t[1]);
        run_flags(&cfg, &p, rng, &next_id, 0.0, &t[2]);
        run_flags(&cfg, &p, rng, &next_id, FLAG_DELTA, &t[3]);
    }
    printf("sim_trend_flags: seed %lu, %d runs per scenario, population %d users (each active "
           "with p = 1/2 per window), %d buckets\n",
           cfg.seed, cfg.trials, 2 * cfg.users, p.buckets);
    printf("traffic: %d endpoints (Zipf mix, costs 1e7*exp(N(0, %.2g)) per run), requests/user "
           "max(1, Poisson(Pareto(2, 2))) <= %d, sigma user %.3g, request %.3g\n",
           NE, cfg.sigma_endpoint, MAX_REQUESTS, cfg.sigma_user, cfg.sigma_request);
    printf("detector: defaults (confidence %.2f, min_effect %.0f%%, min_samples %lld, min_users "
           "%lld, max_ci_width %.0f%%, trend coverage %.0f%%, flags.min_share %.0f%%)\n",
           p.rule.confidence, 100.0 * p.rule.min_effect, (long long)p.rule.min_samples,
           (long long)p.rule.min_users, 100.0 * p.rule.max_ci_width, 100.0 * p.trend_coverage,
           100.0 * p.flags_min_share);
    print_trend(&t[0], &t[1]);
    print_flags(&t[2], &t[3]);
    printf("\nelapsed %.1f s\n", (double)(util_mono_us() - start) / 1e6);
    gsl_rng_free(rng);
    detector_params_free(&p);
    return 0;
}
