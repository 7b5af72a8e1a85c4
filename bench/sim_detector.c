/* sim_detector: measures the detector's error rates on simulated deploys.
 *
 * Traffic model (per side of a deploy, both sides drawn independently):
 * - `users` users; user u makes n_u = floor(Pareto(alpha, xm = 2)) requests, capped at
 *   `max_requests` (heavy-tailed: a few users make hundreds of requests);
 * - each request goes to one of 5 endpoints with fixed shares (45/25/15/10/5%);
 * - its instructions are c_e·exp(a_u + ε): c_e is the endpoint's cost (a base cost times an
 *   endpoint random effect exp(N(0, sigma_endpoint)) drawn once per deploy, the same on both
 *   sides), a_u ~ N(0, sigma_user) is the user's random effect shared by all of that user's
 *   requests (so requests of one user are correlated), ε ~ N(0, sigma_request);
 * - the candidate's instructions are multiplied by 1 + δ. A/A: δ = 0.
 * Defaults: 14000 users per side (about 50k requests, 22.5k on the largest endpoint), alpha 2,
 * sigma_user 0.06, sigma_request 0.25, sigma_endpoint 0.3. Power depends on the noise: these
 * give the largest endpoint an effective CV (se·√n/R, user clustering included) of about 0.30,
 * the level at which "+2% found in 90% of deploys with 20k samples per side" holds; the report
 * prints each result's effective CV and the samples it would need. --alpha 1.5 --sigma-user 0.3
 * gives much heavier tails and stronger clustering (where the per-request tests break down).
 *
 * Each deploy has 6 results: instructions per request of each endpoint (X = requests) and the
 * service's instructions per user (X = users), over B user buckets by util_hash32 of the user id.
 * They go through stats_decide together (one BH family), as `regressd check` does.
 *
 * Baselines on the same data: Welch's t-test and the Mann–Whitney test on the per-request values
 * (for the service-level result: all requests of the service, i.e. instructions per request).
 * "raw" = what those tools do: regression when p < 0.05 and the candidate's mean is higher.
 * "BH+min" = regressd's rule around them: BH over the deploy's 6 p-values at q = 0.05, then
 * Welch's interval (marginal) above +min_effect, or for Mann–Whitney the point estimate (ratio
 * of means − 1) above +min_effect, as it has no interval of the relative change.
 *
 * Usage: sim_detector [--trials N] [--seed S] [--users U] [--buckets B] [--alpha A]
 *                     [--sigma-user S] [--sigma-request S] [--no-baselines]
 * Deterministic for a given seed. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/stats.h"
#include "regressd/util.h"

#define NE 5        /* endpoints */
#define NR (NE + 1) /* results per deploy: endpoints, then the service */
#define SERVICE NE
#define MAIN 0 /* the endpoint with the most samples */
#define NSCEN 3

static const double endpoint_share[NE] = {0.45, 0.25, 0.15, 0.10, 0.05};
static const double endpoint_cost[NE] = {4e6, 1.5e7, 6e7, 2e8, 8e8};
static const char *const result_name[NR] = {"ep0 (45%)", "ep1 (25%)", "ep2 (15%)",
                                            "ep3 (10%)", "ep4 (5%)",  "service/user"};
static const double scenario_delta[NSCEN] = {0.0, 0.02, 0.06};

struct sim_config {
    int trials;
    unsigned long seed;
    int users;
    int buckets;
    double alpha;
    int max_requests;
    double sigma_user;
    double sigma_request;
    double sigma_endpoint;
    bool baselines;
};

struct dvec {
    double *v;
    size_t n, cap;
};

static void dvec_push(struct dvec *d, double x)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 4096;
        d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n++] = x;
}

/* One side of a deploy. y/x: [NR][buckets]. */
struct side {
    double *y, *x;
    int64_t samples[NR], users[NR];
    struct dvec req[NR]; /* per-request instructions; req[SERVICE] holds all requests */
};

static void side_init(struct side *s, int buckets)
{
    memset(s, 0, sizeof(*s));
    s->y = xcalloc((size_t)NR * (size_t)buckets, sizeof(double));
    s->x = xcalloc((size_t)NR * (size_t)buckets, sizeof(double));
}

static void side_reset(struct side *s, int buckets)
{
    memset(s->y, 0, (size_t)NR * (size_t)buckets * sizeof(double));
    memset(s->x, 0, (size_t)NR * (size_t)buckets * sizeof(double));
    memset(s->samples, 0, sizeof(s->samples));
    memset(s->users, 0, sizeof(s->users));
    for (int r = 0; r < NR; r++)
        s->req[r].n = 0;
}

static void side_free(struct side *s)
{
    free(s->y);
    free(s->x);
    for (int r = 0; r < NR; r++)
        free(s->req[r].v);
}

static int pick_endpoint(gsl_rng *rng)
{
    double u = gsl_rng_uniform(rng), acc = 0.0;
    for (int e = 0; e < NE - 1; e++) {
        acc += endpoint_share[e];
        if (u < acc)
            return e;
    }
    return NE - 1;
}

/* One user's requests into side s. */
static void gen_user(const struct sim_config *cfg, gsl_rng *rng, const double *cost, double factor,
                     uint64_t id, struct side *s)
{
    int n = (int)floor(gsl_ran_pareto(rng, cfg->alpha, 2.0));
    if (n > cfg->max_requests)
        n = cfg->max_requests;
    double a = gsl_ran_gaussian_ziggurat(rng, cfg->sigma_user), total = 0.0;
    size_t b = util_hash32(&id, sizeof(id)) % (uint32_t)cfg->buckets;
    size_t nb = (size_t)cfg->buckets;
    bool seen[NE] = {false};
    for (int i = 0; i < n; i++) {
        int e = pick_endpoint(rng);
        double v = cost[e] * exp(a + gsl_ran_gaussian_ziggurat(rng, cfg->sigma_request)) * factor;
        s->y[(size_t)e * nb + b] += v;
        s->x[(size_t)e * nb + b] += 1.0;
        s->samples[e]++;
        if (!seen[e]) {
            seen[e] = true;
            s->users[e]++;
        }
        if (cfg->baselines) {
            dvec_push(&s->req[e], v);
            dvec_push(&s->req[SERVICE], v);
        }
        total += v;
    }
    s->y[(size_t)SERVICE * nb + b] += total;
    s->x[(size_t)SERVICE * nb + b] += 1.0;
    s->samples[SERVICE] += n;
    s->users[SERVICE]++;
}

static void gen_side(const struct sim_config *cfg, gsl_rng *rng, const double *cost, double factor,
                     uint64_t *next_id, struct side *s)
{
    side_reset(s, cfg->buckets);
    for (int u = 0; u < cfg->users; u++)
        gen_user(cfg, rng, cost, factor, (*next_id)++, s);
}

/* ---- tallies ---- */

enum { M_JK_FCR, M_JK_MARG, M_DM_FCR, M_DM_MARG, NMETH };
static const char *const method_name[NMETH] = {
    "regressd jackknife, FCR-adjusted (default)", "regressd jackknife, marginal CI",
    "regressd delta method, FCR-adjusted", "regressd delta method, marginal CI"};
enum { B_WELCH_RAW, B_WELCH_BH, B_MW_RAW, B_MW_BH, NBASE };
static const char *const base_name[NBASE] = {
    "Welch per request, raw p<0.05", "Welch per request, BH+min_effect",
    "Mann-Whitney per request, raw p<0.05", "Mann-Whitney per request, BH+min_effect"};
#define NROW (NMETH + NBASE)

struct tally {
    int deploys;
    int deploy_alarm[NROW];     /* deploys with >= 1 regression */
    int deploy_wrong_way[NROW]; /* deploys with >= 1 improvement */
    int result_alarm[NROW][NR]; /* regression per result */
    int covered[3][NR];         /* jackknife, delta, Welch: 95% interval contains δ */
    int computed[3][NR];
    int inconclusive[NR];          /* default method */
    double samples[NR], users[NR]; /* sums, for the mean per side */
    double cv[NR];                 /* sums of the baseline's se/R·sqrt(n): effective CV */
};

static void count_row(struct tally *t, int row, const bool *regr, const bool *impr)
{
    bool any = false, wrong = false;
    for (int r = 0; r < NR; r++) {
        t->result_alarm[row][r] += regr[r];
        any |= regr[r];
        wrong |= impr[r];
    }
    t->deploy_alarm[row] += any;
    t->deploy_wrong_way[row] += wrong;
}

static void count_cover(struct tally *t, int k, int r, bool ok, double lo, double hi, double d)
{
    if (!ok)
        return;
    t->computed[k][r]++;
    t->covered[k][r] += lo <= d && d <= hi;
}

/* regressd: estimates with `method`, decisions with and without FCR adjustment. */
static void judge_regressd(struct tally *t, const struct sim_config *cfg, const struct side *s0,
                           const struct side *s1, enum stats_variance method, int row, double delta)
{
    struct stats_input in[NR];
    struct stats_result res[NR];
    struct stats_rule rule;
    char err[256];
    size_t nb = (size_t)cfg->buckets;
    stats_rule_default(&rule);
    for (int r = 0; r < NR; r++) {
        struct stats_input *p = &in[r];
        p->min_effect = -1.0;
        p->base_samples = s0->samples[r];
        p->base_users = s0->users[r];
        p->cand_samples = s1->samples[r];
        p->cand_users = s1->users[r];
        if (stats_estimate(s0->y + r * nb, s0->x + r * nb, nb, method, &p->base, err, sizeof(err)) <
                0 ||
            stats_estimate(s1->y + r * nb, s1->x + r * nb, nb, method, &p->cand, err, sizeof(err)) <
                0) {
            fprintf(stderr, "sim_detector: %s\n", err);
            exit(2);
        }
    }
    for (int fcr = 1; fcr >= 0; fcr--) {
        bool regr[NR], impr[NR];
        rule.fcr_adjust = fcr;
        if (stats_decide(&rule, in, NR, res, err, sizeof(err)) < 0) {
            fprintf(stderr, "sim_detector: %s\n", err);
            exit(2);
        }
        for (int r = 0; r < NR; r++) {
            regr[r] = res[r].verdict == STATS_REGRESSION;
            impr[r] = res[r].verdict == STATS_IMPROVEMENT;
            if (fcr && row == M_JK_FCR)
                t->inconclusive[r] += res[r].verdict == STATS_INCONCLUSIVE;
        }
        count_row(t, row + (fcr ? 0 : 1), regr, impr);
    }
    for (int r = 0; r < NR; r++) {
        count_cover(t, row == M_JK_FCR ? 0 : 1, r, res[r].cmp.ok, res[r].cmp.ci_low,
                    res[r].cmp.ci_high, delta);
        if (row == M_JK_FCR && in[r].base.ok)
            t->cv[r] += in[r].base.se / in[r].base.ratio * sqrt(in[r].base.sum_x);
    }
}

static void judge_baselines(struct tally *t, const struct side *s0, const struct side *s1,
                            double delta)
{
    struct stats_test w[NR], u[NR];
    double pw[NR], pu[NR];
    bool rw[NR], ru[NR], regr[NR], impr[NR];
    for (int r = 0; r < NR; r++) {
        const struct dvec *a = &s0->req[r], *b = &s1->req[r];
        if (stats_welch(a->v, a->n, b->v, b->n, 0.95, &w[r]) < 0 ||
            stats_mann_whitney(a->v, a->n, b->v, b->n, &u[r]) < 0)
            exit(2);
        pw[r] = w[r].ok ? w[r].p_value : 1.0;
        pu[r] = u[r].ok ? u[r].p_value : 1.0;
        count_cover(t, 2, r, w[r].ok, w[r].ci_low, w[r].ci_high, delta);
    }
    stats_bh(pw, NR, 0.05, rw, NULL);
    stats_bh(pu, NR, 0.05, ru, NULL);
    for (int r = 0; r < NR; r++) {
        regr[r] = w[r].ok && pw[r] < 0.05 && w[r].delta > 0.0;
        impr[r] = w[r].ok && pw[r] < 0.05 && w[r].delta < 0.0;
    }
    count_row(t, NMETH + B_WELCH_RAW, regr, impr);
    for (int r = 0; r < NR; r++) {
        regr[r] = rw[r] && w[r].ci_low > 0.01;
        impr[r] = rw[r] && w[r].ci_high < -0.01;
    }
    count_row(t, NMETH + B_WELCH_BH, regr, impr);
    for (int r = 0; r < NR; r++) {
        regr[r] = u[r].ok && pu[r] < 0.05 && u[r].stat > 0.0;
        impr[r] = u[r].ok && pu[r] < 0.05 && u[r].stat < 0.0;
    }
    count_row(t, NMETH + B_MW_RAW, regr, impr);
    for (int r = 0; r < NR; r++) {
        regr[r] = ru[r] && u[r].delta > 0.01;
        impr[r] = ru[r] && u[r].delta < -0.01;
    }
    count_row(t, NMETH + B_MW_BH, regr, impr);
}

static void run_deploy(const struct sim_config *cfg, gsl_rng *rng, double delta, uint64_t *next_id,
                       struct side *s0, struct side *s1, struct tally *t)
{
    double cost[NE];
    for (int e = 0; e < NE; e++)
        cost[e] = endpoint_cost[e] * exp(gsl_ran_gaussian(rng, cfg->sigma_endpoint));
    gen_side(cfg, rng, cost, 1.0, next_id, s0);
    gen_side(cfg, rng, cost, 1.0 + delta, next_id, s1);
    t->deploys++;
    for (int r = 0; r < NR; r++) {
        t->samples[r] += 0.5 * (double)(s0->samples[r] + s1->samples[r]);
        t->users[r] += 0.5 * (double)(s0->users[r] + s1->users[r]);
    }
    judge_regressd(t, cfg, s0, s1, STATS_VAR_JACKKNIFE, M_JK_FCR, delta);
    judge_regressd(t, cfg, s0, s1, STATS_VAR_DELTA, M_DM_FCR, delta);
    if (cfg->baselines)
        judge_baselines(t, s0, s1, delta);
}

/* ---- report ---- */

static double pct(int k, int n)
{
    return n > 0 ? 100.0 * k / n : 0.0;
}

static void print_rates(const struct tally *t, int nrows)
{
    printf("%-44s %13s %13s %13s %13s %13s\n", "method", "A/A alarm", "A/A impr.", "+2% ep0 found",
           "+2% deploy", "+6% ep0 found");
    for (int row = 0; row < nrows; row++) {
        printf("%-44s %12.1f%% %12.1f%% %12.1f%% %12.1f%% %12.1f%%\n",
               row < NMETH ? method_name[row] : base_name[row - NMETH],
               pct(t[0].deploy_alarm[row], t[0].deploys),
               pct(t[0].deploy_wrong_way[row], t[0].deploys),
               pct(t[1].result_alarm[row][MAIN], t[1].deploys),
               pct(t[1].deploy_alarm[row], t[1].deploys),
               pct(t[2].result_alarm[row][MAIN], t[2].deploys));
    }
}

static void print_power_by_result(const struct tally *t, int nrows)
{
    printf("\nShare of deploys where each result is flagged `regression` (+2%% | +6%%):\n");
    printf("%-44s", "method");
    for (int r = 0; r < NR; r++)
        printf(" %15s", result_name[r]);
    printf("\n");
    for (int row = 0; row < nrows; row++) {
        printf("%-44s", row < NMETH ? method_name[row] : base_name[row - NMETH]);
        for (int r = 0; r < NR; r++)
            printf("   %5.1f | %5.1f", pct(t[1].result_alarm[row][r], t[1].deploys),
                   pct(t[2].result_alarm[row][r], t[2].deploys));
        printf("\n");
    }
}

static void print_coverage(const struct tally *t, bool baselines)
{
    static const char *const kname[3] = {"regressd jackknife", "regressd delta method",
                                         "Welch per request"};
    printf("\nCoverage of the 95%% interval of delta (true delta inside), per result "
           "(A/A | +2%% | +6%%; all = pooled):\n");
    printf("%-24s", "interval");
    for (int r = 0; r < NR; r++)
        printf(" %20s", result_name[r]);
    printf(" %20s\n", "all");
    for (int k = 0; k < (baselines ? 3 : 2); k++) {
        int cov = 0, n = 0;
        printf("%-24s", kname[k]);
        for (int r = 0; r < NR; r++) {
            printf("  %5.1f %5.1f %5.1f", pct(t[0].covered[k][r], t[0].computed[k][r]),
                   pct(t[1].covered[k][r], t[1].computed[k][r]),
                   pct(t[2].covered[k][r], t[2].computed[k][r]));
            for (int s = 0; s < NSCEN; s++) {
                cov += t[s].covered[k][r];
                n += t[s].computed[k][r];
            }
        }
        printf("  %17.1f%%\n", pct(cov, n));
    }
}

/* n per side such that a +2·min_effect change has its interval above +min_effect with
 * probability 90%: min_effect/se_log = t + z_0.9 with se_log = sqrt(2)·cv/sqrt(n). */
static void print_noise(const struct tally *t)
{
    double k = (stats_t_quantile(0.975, 63.0) + 1.2815516) / 0.01;
    printf("Noise (A/A, jackknife): effective CV = se/R*sqrt(n), n = requests (endpoints) or "
           "users (service);\n"
           "n per side for 90%% power at +2%% = 2*(CV*(t+z_0.9)/1%%)^2:\n");
    for (int r = 0; r < NR; r++) {
        double cv = t[0].cv[r] / t[0].deploys;
        printf("  %-14s CV %.3f  needs n = %.0f, has %.0f\n", result_name[r], cv,
               2.0 * cv * cv * k * k,
               (r == SERVICE ? t[0].users[r] : t[0].samples[r]) / t[0].deploys);
    }
}

static void print_report(const struct sim_config *cfg, const struct tally *t, double secs)
{
    int nrows = cfg->baselines ? NROW : NMETH;
    printf("sim_detector: seed %lu, %d deploys per scenario (A/A, +2%%, +6%%), %d users per "
           "side, %d buckets\n",
           cfg->seed, cfg->trials, cfg->users, cfg->buckets);
    printf("traffic: requests/user floor(Pareto(alpha=%.2g, xm=2)) <= %d, sigma user %.3g, "
           "request %.3g, endpoint %.3g; min_effect 1%%, confidence 95%%, min_samples 1000, "
           "min_users 100\n",
           cfg->alpha, cfg->max_requests, cfg->sigma_user, cfg->sigma_request, cfg->sigma_endpoint);
    printf("mean per side:");
    for (int r = 0; r < NR; r++)
        printf("  %s %.0f samples/%.0f users", result_name[r], t[0].samples[r] / t[0].deploys,
               t[0].users[r] / t[0].deploys);
    printf("\n\n");
    printf("Per deploy (6 results, one BH family). A/A alarm = deploys with any `regression`;\n"
           "A/A impr. = any `improvement`; +2%% ep0 found = ep0 (about %.0f samples per side)\n"
           "flagged `regression`; +2%% deploy = any result flagged.\n\n",
           t[0].samples[MAIN] / t[0].deploys);
    print_rates(t, nrows);
    print_power_by_result(t, nrows);
    print_coverage(t, cfg->baselines);
    printf("\nregressd `inconclusive` share per result (default method, A/A):");
    for (int r = 0; r < NR; r++)
        printf(" %s %.1f%%", result_name[r], pct(t[0].inconclusive[r], t[0].deploys));
    printf("\n");
    print_noise(t);
    printf("elapsed %.1f s\n", secs);
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, struct sim_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-baselines") == 0) {
            cfg->baselines = false;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--trials") == 0)
            cfg->trials = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            cfg->seed = strtoul(v, NULL, 10);
        else if (strcmp(a, "--users") == 0)
            cfg->users = atoi(v);
        else if (strcmp(a, "--buckets") == 0)
            cfg->buckets = atoi(v);
        else if (strcmp(a, "--alpha") == 0)
            cfg->alpha = atof(v);
        else if (strcmp(a, "--sigma-user") == 0)
            cfg->sigma_user = atof(v);
        else if (strcmp(a, "--sigma-request") == 0)
            cfg->sigma_request = atof(v);
        else
            return -1;
    }
    if (cfg->trials < 1 || cfg->users < 2 || cfg->buckets < 2 || !(cfg->alpha > 1.0) ||
        !(cfg->sigma_user >= 0.0) || !(cfg->sigma_request >= 0.0))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_config cfg = {.trials = 400,
                             .seed = 1,
                             .users = 14000,
                             .buckets = STATS_DEFAULT_BUCKETS,
                             .alpha = 2.0,
                             .max_requests = 2000,
                             .sigma_user = 0.06,
                             .sigma_request = 0.25,
                             .sigma_endpoint = 0.3,
                             .baselines = true};
    if (parse_args(argc, argv, &cfg) < 0) {
        fprintf(stderr, "usage: sim_detector [--trials N] [--seed S] [--users U] [--buckets B] "
                        "[--alpha A] [--sigma-user S] [--sigma-request S] [--no-baselines]\n");
        return 2;
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, cfg.seed);
    struct side s0, s1;
    struct tally t[NSCEN];
    uint64_t next_id = 0;
    int64_t start = util_mono_us();
    side_init(&s0, cfg.buckets);
    side_init(&s1, cfg.buckets);
    memset(t, 0, sizeof(t));
    for (int s = 0; s < NSCEN; s++)
        for (int i = 0; i < cfg.trials; i++)
            run_deploy(&cfg, rng, scenario_delta[s], &next_id, &s0, &s1, &t[s]);
    print_report(&cfg, t, (double)(util_mono_us() - start) / 1e6);
    side_free(&s0);
    side_free(&s1);
    gsl_rng_free(rng);
    return 0;
}
