/* Unit tests of the statistics core (include/regressd/stats.h).
 *
 * Reference values were computed once, independently of this code, with Python 3 and mpmath
 * (exact fractions for the variances, mpmath.betainc for Student's t):
 *
 *   from fractions import Fraction as F
 *   from mpmath import mp, mpf, betainc, findroot, sqrt, log, exp, ncdf; mp.dps = 30
 *   tsf = lambda t, nu: betainc(mpf(nu)/2, mpf(1)/2, 0, nu/(nu + mpf(t)**2), regularized=True)/2
 *   tq  = lambda p, nu: findroot(lambda t: 1 - tsf(t, nu) - p, 2)       # t quantile, p > 0.5
 *   def delta_var(y, x):   # k/(k-1) * sum (y - R x)^2 / SX^2, k = buckets with x > 0
 *       k = sum(v > 0 for v in x); SY = sum(map(F, y)); SX = sum(map(F, x)); R = SY/SX
 *       return R, F(k, k-1) * sum((F(a) - R*b)**2 for a, b in zip(y, x)) / SX**2
 *   def jk_var(y, x):      # (k-1)/k * sum (R_(-b) - mean)^2 over non-empty buckets
 *       i = [j for j in range(len(x)) if x[j] > 0]; k = len(i); SY = sum(map(F, y))
 *       SX = sum(map(F, x)); r = [(SY - y[j])/(SX - x[j]) for j in i]; m = sum(r)/k
 *       return F(k-1, k) * sum((v - m)**2 for v in r)
 *
 * Each test below quotes the expression it pins. */
#include <float.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "regressd/stats.h"

#define LEN(a) REGRESSD_ARRAY_LEN(a)

/* The hand example: B = 4.
 * base: y = 10 14 9 22, x = 2 3 2 4: SY = 55, SX = 11, R = 5, d = 0 −1 −1 2, Σd² = 6,
 *       delta Var = 4/3·6/121 = 8/121, se = √8/11 = 0.25712973861329;
 *       jackknife R_(−b) = 46/9, 41/8, 46/9, 33/7; Var = 36913/451584, se = 0.285904109808986.
 * cand: y = 17 11 21 17, x = 3 2 4 3: SY = 66, SX = 12, R = 5.5, d = .5 0 −1 .5,
 *       delta Var = 4/3·1.5/144 = 1/72, se = 0.117851130197758;
 *       jackknife Var = 451/27648, se = 0.127719264984372. */
static const double hy0[] = {10, 14, 9, 22}, hx0[] = {2, 3, 2, 4};
static const double hy1[] = {17, 11, 21, 17}, hx1[] = {3, 2, 4, 3};

static struct stats_estimate est(const double *y, const double *x, size_t n,
                                 enum stats_variance method)
{
    struct stats_estimate e;
    char err[128] = "";
    int rc = stats_estimate(y, x, n, method, &e, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s", err);
    return e;
}

static void test_t_quantile(void)
{
    /* tq(0.975, 63), tq(0.975, 1), tq(0.995, 10) */
    CHECK_NEAR(stats_t_quantile(0.975, 63), 1.99834054252074, 1e-9);
    CHECK_NEAR(stats_t_quantile(0.975, 1), 12.7062047361747, 1e-9);
    CHECK_NEAR(stats_t_quantile(0.995, 10), 3.16927267261695, 1e-9);
    CHECK_NEAR(stats_t_quantile(0.025, 63), -1.99834054252074, 1e-9);
    CHECK(stats_t_quantile(1.0, 10) == 0.0);
    CHECK(stats_t_quantile(0.5, 0.0) == 0.0);
    CHECK(stats_t_quantile(NAN, 3.0) == 0.0);
}

static void test_estimate_hand(void)
{
    struct stats_estimate d = est(hy0, hx0, 4, STATS_VAR_DELTA);
    CHECK(d.ok);
    CHECK_NEAR(d.ratio, 5.0, 1e-15);
    CHECK_NEAR(d.se, 0.25712973861329, 1e-12);
    CHECK_NEAR(d.sum_y, 55.0, 0);
    CHECK_NEAR(d.sum_x, 11.0, 0);
    CHECK_INT(d.nonempty, 4);
    CHECK_NEAR(d.df, 3.0, 0);
    struct stats_estimate j = est(hy0, hx0, 4, STATS_VAR_JACKKNIFE);
    CHECK(j.ok);
    CHECK_NEAR(j.ratio, 5.0, 1e-15);
    CHECK_NEAR(j.se, 0.285904109808986, 1e-12);

    d = est(hy1, hx1, 4, STATS_VAR_DELTA);
    CHECK_NEAR(d.ratio, 5.5, 1e-15);
    CHECK_NEAR(d.se, 0.117851130197758, 1e-12);
    j = est(hy1, hx1, 4, STATS_VAR_JACKKNIFE);
    CHECK_NEAR(j.se, 0.127719264984372, 1e-12);
}

/* Equal bucket sizes: jackknife and delta method coincide exactly (see stats.c).
 * y = 3 5 4 8, x = 2 2 2 2: R = 2.5, d = −2 0 −1 3, Σd² = 14, Var = 4/3·14/64 = 7/24. */
static void test_estimate_equal_buckets(void)
{
    static const double y[] = {3, 5, 4, 8}, x[] = {2, 2, 2, 2};
    struct stats_estimate d = est(y, x, 4, STATS_VAR_DELTA);
    struct stats_estimate j = est(y, x, 4, STATS_VAR_JACKKNIFE);
    CHECK_NEAR(d.se, sqrt(7.0 / 24.0), 1e-14);
    CHECK_NEAR(j.se, sqrt(7.0 / 24.0), 1e-14);
}

/* One bucket empty: y = 10 14 0 22, x = 2 3 0 4: k = 3, R = 46/9,
 * delta Var = 172/2187 (se 0.280439918311125), jackknife Var = 9664/99225 (se 0.312081415300178).
 * The empty bucket changes nothing: same as the three non-empty buckets alone. */
static void test_estimate_empty_bucket(void)
{
    static const double y[] = {10, 14, 0, 22}, x[] = {2, 3, 0, 4};
    static const double y3[] = {10, 14, 22}, x3[] = {2, 3, 4};
    struct stats_estimate d = est(y, x, 4, STATS_VAR_DELTA);
    struct stats_estimate j = est(y, x, 4, STATS_VAR_JACKKNIFE);
    CHECK(d.ok && j.ok);
    CHECK_INT(d.nonempty, 3);
    CHECK_NEAR(d.df, 2.0, 0);
    CHECK_NEAR(d.ratio, 46.0 / 9.0, 1e-15);
    CHECK_NEAR(d.se, 0.280439918311125, 1e-12);
    CHECK_NEAR(j.se, 0.312081415300178, 1e-12);
    CHECK_NEAR(est(y3, x3, 3, STATS_VAR_DELTA).se, d.se, 1e-15);
    CHECK_NEAR(est(y3, x3, 3, STATS_VAR_JACKKNIFE).se, j.se, 1e-15);
}

static void test_estimate_degenerate(void)
{
    static const double zero[] = {0, 0, 0, 0};
    static const double one_y[] = {0, 7, 0, 0}, one_x[] = {0, 2, 0, 0};
    static const double eq_y[] = {15, 6, 30, 3}, eq_x[] = {5, 2, 10, 1}; /* every bucket 3 */
    static const double y0[] = {0, 0, 0}, x0[] = {4, 1, 2};
    /* ΣX = 0 */
    struct stats_estimate e = est(zero, zero, 4, STATS_VAR_JACKKNIFE);
    CHECK(!e.ok);
    CHECK(e.ratio == 0.0 && e.se == 0.0 && e.sum_x == 0.0);
    /* a single non-empty bucket: no variance can be estimated */
    e = est(one_y, one_x, 4, STATS_VAR_DELTA);
    CHECK(!e.ok);
    CHECK_INT(e.nonempty, 1);
    CHECK_NEAR(e.sum_y, 7.0, 0);
    /* zero variance: every bucket has the same ratio */
    for (int m = 0; m < 2; m++) {
        e = est(eq_y, eq_x, 4, (enum stats_variance)m);
        CHECK(e.ok);
        CHECK_NEAR(e.ratio, 3.0, 1e-15);
        CHECK(e.se == 0.0);
    }
    /* all y = 0: R = 0, se = 0, ok (the comparison then refuses it) */
    e = est(y0, x0, 3, STATS_VAR_JACKKNIFE);
    CHECK(e.ok && e.ratio == 0.0 && e.se == 0.0);
}

static void test_estimate_invalid(void)
{
    static const struct {
        double y, x;
    } bad[] = {{-1, 2}, {NAN, 2}, {1, INFINITY}, {3, 0}, {2, -1}};
    char err[128];
    struct stats_estimate e;
    for (size_t i = 0; i < LEN(bad); i++) {
        double y[] = {10, 14, 9, 22}, x[] = {2, 3, 2, 4};
        y[2] = bad[i].y;
        x[2] = bad[i].x;
        err[0] = '\0';
        CHECK(stats_estimate(y, x, 4, STATS_VAR_JACKKNIFE, &e, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "bucket 2") != NULL, "err \"%s\"", err);
        CHECK(!e.ok);
    }
    CHECK(stats_estimate(NULL, hx0, 4, STATS_VAR_DELTA, &e, err, sizeof(err)) == -1);
    CHECK(stats_estimate(hy0, hx0, 0, STATS_VAR_DELTA, &e, err, sizeof(err)) == -1);
}

/* 1e15 instructions per bucket, 64 buckets (Σ ≈ 6.4e16, above 2^53): the relative error must
 * be that of the same data scaled down by 1e9. */
static void test_estimate_huge(void)
{
    double y[64], x[64], ys[64];
    for (int b = 0; b < 64; b++) {
        x[b] = 1e6 + 1000.0 * b;
        ys[b] = x[b] * (1.0 + 0.01 * ((b * 37) % 11 - 5));
        y[b] = ys[b] * 1e9;
    }
    for (int m = 0; m < 2; m++) {
        struct stats_estimate big = est(y, x, 64, (enum stats_variance)m);
        struct stats_estimate small = est(ys, x, 64, (enum stats_variance)m);
        CHECK(big.ok && small.ok && small.se > 0.0);
        CHECK_NEAR(big.ratio / 1e9, small.ratio, 1e-12);
        CHECK_NEAR(big.se / big.ratio, small.se / small.ratio, 1e-9);
    }
    /* all-equal huge buckets: still exactly zero variance */
    for (int b = 0; b < 64; b++) {
        y[b] = 1e15;
        x[b] = 1e6;
    }
    struct stats_estimate e = est(y, x, 64, STATS_VAR_JACKKNIFE);
    CHECK(e.ok && e.se == 0.0);
    CHECK_NEAR(e.ratio, 1e9, 1e-15);
}

/* Hand example, jackknife: L = log 1.1 = 0.0953101798043249, se_L = 0.0617162299012455,
 * df (Welch–Satterthwaite) = 3.96334706199663, t = tq(0.975, df) = 2.78660078053941,
 * CI = exp(L ± t·se_L) − 1 = [−0.0738029913201082, 0.306417520959836],
 * p = 2·tsf(L/se_L, df) = 0.198039271566972.
 * Delta method: se_L = 0.0557114433662128, df = 4.01118861476523,
 * CI = [−0.0574813529385971, 0.283794229188520], p = 0.162092245044301. */
static void test_compare_hand(void)
{
    struct stats_estimate b = est(hy0, hx0, 4, STATS_VAR_JACKKNIFE);
    struct stats_estimate c = est(hy1, hx1, 4, STATS_VAR_JACKKNIFE);
    struct stats_comparison r;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(r.ok);
    CHECK_NEAR(r.delta, 0.1, 1e-14);
    CHECK_NEAR(r.log_ratio, 0.0953101798043249, 1e-13);
    CHECK_NEAR(r.se_log, 0.0617162299012455, 1e-12);
    CHECK_NEAR(r.df, 3.96334706199663, 1e-10);
    CHECK_NEAR(r.ci_low, -0.0738029913201082, 1e-9);
    CHECK_NEAR(r.ci_high, 0.306417520959836, 1e-9);
    CHECK_NEAR(r.p_value, 0.198039271566972, 1e-9);
    CHECK_NEAR(r.level, 0.95, 0);

    b = est(hy0, hx0, 4, STATS_VAR_DELTA);
    c = est(hy1, hx1, 4, STATS_VAR_DELTA);
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK_NEAR(r.se_log, 0.0557114433662128, 1e-12);
    CHECK_NEAR(r.df, 4.01118861476523, 1e-10);
    CHECK_NEAR(r.ci_low, -0.0574813529385971, 1e-9);
    CHECK_NEAR(r.ci_high, 0.283794229188520, 1e-9);
    CHECK_NEAR(r.p_value, 0.162092245044301, 1e-9);

    /* the other way round: the log ratio flips, p stays */
    struct stats_comparison back;
    CHECK(stats_compare(&c, &b, 0.95, &back) == 0);
    CHECK_NEAR(back.log_ratio, -r.log_ratio, 1e-15);
    CHECK_NEAR(back.p_value, r.p_value, 1e-15);
    CHECK_NEAR(back.ci_low, 1.0 / (1.0 + r.ci_high) - 1.0, 1e-12);

    /* the same comparison at another level */
    double lo, hi;
    CHECK(stats_interval(&r, 0.5, &lo, &hi) == 0);
    CHECK(lo > r.ci_low && hi < r.ci_high && lo < r.delta && hi > r.delta);
    CHECK(stats_interval(&r, 1.0, &lo, &hi) == -1);
    CHECK(stats_compare(&b, &c, 0.0, &r) == -1);
}

/* Pinned from constructed estimates: R0 = 100 (se 1, df 63), R1 = 103 (se 1.5, df 63).
 * v0 = 1e-4, v1 = (1.5/103)² = 2.12084079555095e-4, se_L = 0.0176659016060629,
 * df = (v0 + v1)²/((v0² + v1²)/63) = 111.604512248586, L = log 1.03 = 0.0295588022415444,
 * p = 2·tsf(L/se_L, df) = 2·tsf(1.67321220850681, df) = 0.0970863397802685. */
static void test_compare_welch_df(void)
{
    struct stats_estimate b = {.ratio = 100, .se = 1, .df = 63, .nonempty = 64, .ok = true};
    struct stats_estimate c = {.ratio = 103, .se = 1.5, .df = 63, .nonempty = 64, .ok = true};
    struct stats_comparison r;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    double v0 = 1e-4, v1 = (1.5 / 103) * (1.5 / 103);
    CHECK_NEAR(r.se_log, sqrt(v0 + v1), 1e-15);
    CHECK_NEAR(r.df, (v0 + v1) * (v0 + v1) / ((v0 * v0 + v1 * v1) / 63.0), 1e-12);
    CHECK(r.df > 63.0 && r.df < 126.0);
    CHECK_NEAR(r.se_log, 0.0176659016060629, 1e-14);
    CHECK_NEAR(r.df, 111.604512248586, 1e-10);
    CHECK_NEAR(r.p_value, 0.0970863397802685, 1e-10);
    /* one side without variance: df is the other side's */
    b.se = 0.0;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK_NEAR(r.df, 63.0, 1e-12);
}

static void test_compare_zero_variance(void)
{
    struct stats_estimate b = {.ratio = 3, .se = 0, .df = 3, .nonempty = 4, .ok = true};
    struct stats_estimate c = b;
    struct stats_comparison r;
    /* identical constants */
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(r.ok && r.delta == 0.0 && r.ci_low == 0.0 && r.ci_high == 0.0 && r.p_value == 1.0);
    /* equal up to rounding is still equal */
    c.ratio = 3.0 * (1.0 + 4 * DBL_EPSILON);
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(r.delta == 0.0 && r.p_value == 1.0);
    /* different constants: exact change, p = 0 */
    c.ratio = 3.3;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(r.ok && r.p_value == 0.0);
    CHECK_NEAR(r.delta, 0.1, 1e-14);
    CHECK(r.ci_low == r.delta && r.ci_high == r.delta);
    /* a side not ok, a zero ratio: not computable, and nothing is NaN */
    c.ok = false;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(!r.ok && r.delta == 0.0 && r.p_value == 0.0 && r.ci_low == 0.0);
    c = b;
    b.ratio = 0.0;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(!r.ok && !isnan(r.delta) && !isnan(r.log_ratio));
    /* hand-made estimates with impossible fields are refused, not divided by */
    b = c;
    b.df = 0.0;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0 && !r.ok);
    b = c;
    b.se = NAN;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0 && !r.ok);
    b = c;
    b.ratio = INFINITY;
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0 && !r.ok);
}

/* Tiny samples: two buckets each (df = 1, t = 12.7): a wide but finite interval. Absurd
 * variance: the interval overflows and the comparison is refused rather than infinite. */
static void test_compare_tiny(void)
{
    static const double y0[] = {10, 13}, x0[] = {2, 2}, y1[] = {12, 11}, x1[] = {2, 2};
    struct stats_estimate b = est(y0, x0, 2, STATS_VAR_JACKKNIFE);
    struct stats_estimate c = est(y1, x1, 2, STATS_VAR_JACKKNIFE);
    struct stats_comparison r;
    CHECK(b.ok && c.ok);
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(r.ok && isfinite(r.ci_low) && isfinite(r.ci_high) && r.ci_low > -1.0);
    CHECK(r.df >= 1.0 && r.df <= 2.0);
    /* jackknife of x = 1e6, 1; y = 0, 1e6: R_(−b) = 1e6 and 0 */
    static const double wy[] = {0, 1e6}, wx[] = {1e6, 1};
    b = est(wy, wx, 2, STATS_VAR_JACKKNIFE);
    CHECK(b.ok && b.se > 1e3 * b.ratio);
    CHECK(stats_compare(&b, &c, 0.95, &r) == 0);
    CHECK(!r.ok && r.ci_high == 0.0);
}

struct bh_case {
    const char *name;
    double p[15];
    size_t m;
    double q;
    double want_q[15];
    size_t want_rejected;
};

/* Adjusted values = R's p.adjust(p, "BH") (same as min_{j>=i} p_(j)·m/j, computed in Python).
 * The 15 p-values are Benjamini & Hochberg's (1995) example: 4 rejections at 0.05. */
static const struct bh_case bh_cases[] = {
    {"textbook: all rejected",
     {0.01, 0.02, 0.03, 0.04, 0.05},
     5,
     0.05,
     {0.05, 0.05, 0.05, 0.05, 0.05},
     5},
    {"BH 1995",
     {0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
      0.5719, 0.6528, 0.7590, 1.000},
     15,
     0.05,
     {0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571428571, 0.0638571428571, 0.0645, 0.0765,
      0.486, 0.581181818182, 0.714875, 0.753230769231, 0.813214285714, 1.0},
     4},
    {"mixed, unsorted",
     {0.04, 0.001, 0.03, 0.2, 0.012},
     5,
     0.05,
     {0.05, 0.005, 0.05, 0.2, 0.03},
     4},
    {"mixed at 0.045",
     {0.04, 0.001, 0.03, 0.2, 0.012},
     5,
     0.045,
     {0.05, 0.005, 0.05, 0.2, 0.03},
     2},
    {"none", {0.5, 0.9, 0.3}, 3, 0.05, {0.75, 0.9, 0.75}, 0},
    {"ties", {0.01, 0.01, 0.5}, 3, 0.05, {0.015, 0.015, 0.5}, 2},
    {"single", {0.05}, 1, 0.05, {0.05}, 1},
    {"NaN and out of range as 1", {NAN, 0.001, 2.0}, 3, 0.05, {1.0, 0.003, 1.0}, 1},
};

static void test_bh(void)
{
    for (size_t c = 0; c < LEN(bh_cases); c++) {
        const struct bh_case *k = &bh_cases[c];
        bool reject[15];
        double qv[15];
        size_t n = stats_bh(k->p, k->m, k->q, reject, qv);
        CHECK_MSG(n == k->want_rejected, "%s: %zu rejected, want %zu", k->name, n,
                  k->want_rejected);
        for (size_t i = 0; i < k->m; i++) {
            CHECK_MSG(fabs(qv[i] - k->want_q[i]) < 1e-10, "%s: q[%zu] = %.12g, want %.12g", k->name,
                      i, qv[i], k->want_q[i]);
            CHECK_MSG(reject[i] == (k->want_q[i] <= k->q + 1e-12), "%s: reject[%zu]", k->name, i);
        }
    }
    /* outputs are optional */
    CHECK_INT(stats_bh(bh_cases[1].p, 15, 0.05, NULL, NULL), 4);
    CHECK_INT(stats_bh(NULL, 0, 0.05, NULL, NULL), 0);
}

/* ---- decisions ---- */

static struct stats_input input(double r0, double se0, double r1, double se1)
{
    struct stats_input in = {
        .base = {.ratio = r0, .se = se0, .df = 63, .nonempty = 64, .ok = true},
        .cand = {.ratio = r1, .se = se1, .df = 63, .nonempty = 64, .ok = true},
        .base_samples = 50000,
        .base_users = 20000,
        .cand_samples = 50000,
        .cand_users = 20000,
        .min_effect = -1.0,
    };
    return in;
}

struct decide_case {
    const char *name;
    struct stats_input in;
    enum stats_verdict want;
    enum stats_reason reason;
};

static void test_decide_single(void)
{
    struct stats_rule rule;
    stats_rule_default(&rule);
    struct decide_case cases[] = {
        {"regression", input(100, 0.5, 105, 0.5), STATS_REGRESSION, STATS_REASON_NONE},
        {"improvement", input(100, 0.5, 95, 0.5), STATS_IMPROVEMENT, STATS_REASON_NONE},
        {"no change", input(100, 0.3, 100.3, 0.3), STATS_NO_CHANGE, STATS_REASON_NONE},
        {"significant but below min_effect", input(100, 0.1, 100.5, 0.1), STATS_NO_CHANGE,
         STATS_REASON_NONE},
        {"wide interval", input(100, 4, 101, 4), STATS_INCONCLUSIVE, STATS_REASON_WIDE_INTERVAL},
        {"wide but entirely above min_effect", input(100, 4, 160, 4), STATS_REGRESSION,
         STATS_REASON_NONE},
        {"few samples", input(100, 0.5, 105, 0.5), STATS_INCONCLUSIVE, STATS_REASON_FEW_SAMPLES},
        {"few users", input(100, 0.5, 105, 0.5), STATS_INCONCLUSIVE, STATS_REASON_FEW_USERS},
        {"not computable", input(100, 0.5, 105, 0.5), STATS_INCONCLUSIVE,
         STATS_REASON_NOT_COMPUTABLE},
        {"zero ratio", input(0, 0, 105, 0.5), STATS_INCONCLUSIVE, STATS_REASON_NOT_COMPUTABLE},
        {"own min_effect", input(100, 0.5, 103, 0.5), STATS_NO_CHANGE, STATS_REASON_NONE},
        {"exact change", input(100, 0, 102, 0), STATS_REGRESSION, STATS_REASON_NONE},
        {"exact no change", input(100, 0, 100, 0), STATS_NO_CHANGE, STATS_REASON_NONE},
    };
    cases[6].in.cand_samples = 999;
    cases[7].in.base_users = 99;
    cases[8].in.cand.ok = false;
    cases[10].in.min_effect = 0.05;
    for (size_t i = 0; i < LEN(cases); i++) {
        struct stats_result res;
        char err[128] = "";
        CHECK(stats_decide(&rule, &cases[i].in, 1, &res, err, sizeof(err)) == 0);
        CHECK_MSG(res.verdict == cases[i].want, "%s: %s, want %s", cases[i].name,
                  stats_verdict_name(res.verdict), stats_verdict_name(cases[i].want));
        CHECK_MSG(res.reason == cases[i].reason, "%s: reason %s, want %s", cases[i].name,
                  stats_reason_name(res.reason), stats_reason_name(cases[i].reason));
        CHECK(!isnan(res.cmp.delta) && !isnan(res.cmp.ci_low) && !isnan(res.q_value));
        CHECK(res.tested == (cases[i].reason == STATS_REASON_NONE ||
                             cases[i].reason == STATS_REASON_WIDE_INTERVAL));
    }
}

/* FCR-adjusted against marginal: 10 results, 9 unchanged (p near 1), one +3.2% with
 * se_L ≈ 0.0099. Marginal 95% interval ≈ [1.2%, 5.3%] (low end above 1%); BH selects only
 * it (R = 1, m = 10), so its FCR interval is at 1 − 0.05·1/10 = 0.995, t_0.9975 ≈ 2.9
 * → low end ≈ 0.3%: a regression only without the adjustment. */
static void test_decide_fcr(void)
{
    struct stats_rule rule;
    struct stats_input in[10];
    struct stats_result res[10];
    char err[128];
    stats_rule_default(&rule);
    for (int i = 0; i < 10; i++)
        in[i] = input(100, 0.5, 100.01, 0.5);
    in[3] = input(100, 0.7, 103.2, 0.72);
    CHECK(stats_decide(&rule, in, 10, res, err, sizeof(err)) == 0);
    CHECK(res[3].bh_reject);
    CHECK(res[3].cmp.ci_low > 0.01);
    CHECK_NEAR(res[3].decision_level, 0.995, 1e-15);
    CHECK(res[3].decision_low < 0.01 && res[3].decision_low > 0.0);
    CHECK(res[3].verdict == STATS_NO_CHANGE);
    CHECK_NEAR(res[3].q_value, res[3].cmp.p_value * 10.0, 1e-12);
    for (int i = 0; i < 10; i++) {
        CHECK(i == 3 || (res[i].verdict == STATS_NO_CHANGE && !res[i].bh_reject));
        CHECK(res[i].tested);
    }
    rule.fcr_adjust = false;
    CHECK(stats_decide(&rule, in, 10, res, err, sizeof(err)) == 0);
    CHECK(res[3].verdict == STATS_REGRESSION);
    CHECK_NEAR(res[3].decision_level, 0.95, 0);
    CHECK(res[3].decision_low == res[3].cmp.ci_low);

    /* untested results are left out of m: the same run plus 5 without enough samples */
    struct stats_input in2[15];
    struct stats_result res2[15];
    rule.fcr_adjust = true;
    memcpy(in2, in, sizeof(in));
    for (int i = 10; i < 15; i++) {
        in2[i] = input(100, 0.5, 100, 0.5);
        in2[i].base_samples = 10;
    }
    CHECK(stats_decide(&rule, in2, 15, res2, err, sizeof(err)) == 0);
    CHECK_NEAR(res2[3].decision_level, 0.995, 1e-15);
    CHECK(!res2[12].tested && res2[12].q_value == 1.0 && !res2[12].bh_reject);
}

static void test_decide_invalid(void)
{
    struct stats_rule rule;
    struct stats_input in = input(100, 0.5, 105, 0.5);
    struct stats_result res;
    char err[128] = "";
    stats_rule_default(&rule);
    CHECK(stats_decide(&rule, NULL, 0, NULL, err, sizeof(err)) == 0);
    rule.confidence = 1.0;
    CHECK(stats_decide(&rule, &in, 1, &res, err, sizeof(err)) == -1);
    CHECK(strstr(err, "confidence") != NULL);
    stats_rule_default(&rule);
    rule.min_effect = NAN;
    CHECK(stats_decide(&rule, &in, 1, &res, err, sizeof(err)) == -1);
    stats_rule_default(&rule);
    rule.min_samples = -1;
    CHECK(stats_decide(&rule, &in, 1, &res, err, sizeof(err)) == -1);
    CHECK(stats_decide(NULL, &in, 1, &res, err, sizeof(err)) == -1);
}

static void test_names(void)
{
    CHECK_STR(stats_verdict_name(STATS_NO_CHANGE), "no_change");
    CHECK_STR(stats_verdict_name(STATS_REGRESSION), "regression");
    CHECK_STR(stats_verdict_name(STATS_IMPROVEMENT), "improvement");
    CHECK_STR(stats_verdict_name(STATS_INCONCLUSIVE), "inconclusive");
    CHECK_STR(stats_reason_name(STATS_REASON_WIDE_INTERVAL), "wide_interval");
    CHECK_STR(stats_reason_name(STATS_REASON_FEW_USERS), "few_users");
}

/* ---- decomposition ---- */

/* base: requests 100, 50; instructions 1000, 2000; 10 users → I0 = 300,
 *       w0 = 10, 5; c0 = 10, 40.
 * cand: requests 100, 100; instructions 1100, 4000; 10 users → I1 = 510, total = 0.7,
 *       w1 = 10, 10; c1 = 11, 40.
 * ep0: rate = 10·1/300 = 1/30, mix = 0; ep1: rate = 0, mix = 40·5/300 = 2/3. */
static void test_decompose_hand(void)
{
    const double r0[] = {100, 50}, i0[] = {1000, 2000}, r1[] = {100, 100}, i1[] = {1100, 4000};
    struct stats_mix b = {2, r0, i0, 10}, c = {2, r1, i1, 10};
    struct stats_contribution parts[2];
    double total;
    char err[128];
    CHECK(stats_decompose(&b, &c, parts, &total, err, sizeof(err)) == 0);
    CHECK_NEAR(total, 0.7, 1e-15);
    CHECK_NEAR(parts[0].rate, 1.0 / 30.0, 1e-15);
    CHECK_NEAR(parts[0].mix, 0.0, 1e-15);
    CHECK_NEAR(parts[1].rate, 0.0, 1e-15);
    CHECK_NEAR(parts[1].mix, 2.0 / 3.0, 1e-15);
}

/* Parts add up to the total, whatever the data, including a new endpoint (no requests in the
 * baseline: pure mix) and a vanished one, and a change of users. */
static void test_decompose_sums(void)
{
    const double r0[] = {5000, 1200, 300, 0, 40}, i0[] = {2e10, 9e9, 6e9, 0, 1e9};
    const double r1[] = {5600, 1100, 310, 80, 0}, i1[] = {2.3e10, 8.9e9, 6.6e9, 3e8, 0};
    struct stats_mix b = {5, r0, i0, 1800}, c = {5, r1, i1, 1750};
    struct stats_contribution parts[5];
    double total, sum = 0.0;
    char err[128];
    CHECK(stats_decompose(&b, &c, parts, &total, err, sizeof(err)) == 0);
    /* I0 = 3.6e10/1800 = 2e7; I1 = 3.88e10/1750 */
    CHECK_NEAR(total, (3.88e10 / 1750.0) / 2e7 - 1.0, 1e-14);
    for (int e = 0; e < 5; e++)
        sum += parts[e].rate + parts[e].mix;
    CHECK_NEAR(sum, total, 1e-14);
    CHECK(parts[3].rate == 0.0);
    CHECK_NEAR(parts[3].mix, 3e8 / 1750.0 / 2e7, 1e-15);
    CHECK(parts[4].rate == 0.0);
    CHECK_NEAR(parts[4].mix, -1e9 / 1800.0 / 2e7, 1e-15);
    /* identical sides: everything 0 */
    CHECK(stats_decompose(&b, &b, parts, &total, err, sizeof(err)) == 0);
    CHECK(total == 0.0 && parts[0].rate == 0.0 && parts[0].mix == 0.0);
}

static void test_decompose_invalid(void)
{
    const double r[] = {10, 0}, i[] = {100, 5}, z[] = {0, 0};
    struct stats_mix b = {2, r, i, 10}, ok = {2, r, z, 10}, c = {2, r, r, 10};
    struct stats_contribution parts[2];
    double total;
    char err[128] = "";
    CHECK(stats_decompose(&b, &c, parts, &total, err, sizeof(err)) == -1); /* 5 instr, 0 req */
    CHECK(strstr(err, "endpoint 1") != NULL);
    CHECK(stats_decompose(&ok, &c, parts, &total, err, sizeof(err)) == -1); /* I0 = 0 */
    c.users = 0;
    CHECK(stats_decompose(&c, &c, parts, &total, err, sizeof(err)) == -1);
    c.users = 10;
    c.n = 1;
    CHECK(stats_decompose(&ok, &c, parts, &total, err, sizeof(err)) == -1);
}

/* ---- per-request baselines ---- */

/* Welch: a = 10 12 9 11 13 10.5, b = 12 14.5 11 15 13.5 (mpmath): t = 2.39981844460057,
 * df = 7.95935968897209, p = 0.0433409206611345, delta = 0.209160305343511,
 * interval [0.00799778023598256, 0.410322830451040].
 * Mann–Whitney: a = 1.1 2.2 2.2 3.3 4.4, b = 2.2 3.3 5.5 6.6 7.7 8.8: U_b = 25.5, Σ(t³−t) = 30,
 * z = 1.84684940186749, p = 0.0647689696988876 (R: wilcox.test(b, a, exact=FALSE)). */
static void test_baselines(void)
{
    const double a[] = {10, 12, 9, 11, 13, 10.5}, b[] = {12, 14.5, 11, 15, 13.5};
    struct stats_test t;
    CHECK(stats_welch(a, 6, b, 5, 0.95, &t) == 0);
    CHECK(t.ok);
    CHECK_NEAR(t.stat, 2.39981844460057, 1e-12);
    CHECK_NEAR(t.p_value, 0.0433409206611345, 1e-10);
    CHECK_NEAR(t.delta, 0.209160305343511, 1e-12);
    CHECK_NEAR(t.ci_low, 0.00799778023598256, 1e-9);
    CHECK_NEAR(t.ci_high, 0.410322830451040, 1e-9);
    CHECK(stats_welch(a, 1, b, 5, 0.95, &t) == 0 && !t.ok);

    const double ma[] = {1.1, 2.2, 2.2, 3.3, 4.4}, mb[] = {2.2, 3.3, 5.5, 6.6, 7.7, 8.8};
    CHECK(stats_mann_whitney(ma, 5, mb, 6, &t) == 0);
    CHECK(t.ok);
    CHECK_NEAR(t.stat, 1.84684940186749, 1e-12);
    CHECK_NEAR(t.p_value, 0.0647689696988876, 1e-10);
    CHECK(stats_mann_whitney(mb, 6, ma, 5, &t) == 0);
    CHECK_NEAR(t.stat, -1.84684940186749, 1e-12);
    const double neg[] = {-3, -0.0, 0.0, 2}, pos[] = {-1, 0.0, 5};
    CHECK(stats_mann_whitney(neg, 4, pos, 3, &t) == 0 && t.ok); /* signs and ±0 sort right */
    /* pooled ranks: −3:1, −1:2, 0 ×3: 4, 2:6, 5:7 → R_b = 2+4+7 = 13, U_b = 7, mean 6 */
    CHECK(t.stat > 0.0 && t.stat < 0.5);
    const double same[] = {4, 4, 4};
    CHECK(stats_mann_whitney(same, 3, same, 3, &t) == 0 && !t.ok);
}

/* ---- error rates on simulated deploys (small; bench/sim_detector runs the large one) ---- */

#define SIM_B 64
#define SIM_E 3
#define SIM_R (SIM_E + 1)

struct sim_side {
    double y[SIM_R][SIM_B], x[SIM_R][SIM_B];
    int64_t samples[SIM_R], users[SIM_R];
};

/* Heavy-tailed requests per user, per-user random effect shared by the user's requests. */
static void sim_side(gsl_rng *rng, int users, double factor, struct sim_side *s)
{
    static const double share[SIM_E] = {0.6, 0.3, 0.1}, cost[SIM_E] = {1e6, 5e6, 2e7};
    memset(s, 0, sizeof(*s));
    for (int u = 0; u < users; u++) {
        int n = (int)floor(gsl_ran_pareto(rng, 2.0, 2.0));
        n = n > 500 ? 500 : n;
        size_t b = gsl_rng_uniform_int(rng, SIM_B);
        double a = gsl_ran_gaussian(rng, 0.1), total = 0.0;
        bool seen[SIM_E] = {false};
        for (int i = 0; i < n; i++) {
            double p = gsl_rng_uniform(rng);
            int e = p < share[0] ? 0 : p < share[0] + share[1] ? 1 : 2;
            double v = cost[e] * exp(a + gsl_ran_gaussian(rng, 0.3)) * factor;
            s->y[e][b] += v;
            s->x[e][b] += 1.0;
            s->samples[e]++;
            s->users[e] += !seen[e];
            seen[e] = true;
            total += v;
        }
        s->y[SIM_E][b] += total;
        s->x[SIM_E][b] += 1.0;
        s->samples[SIM_E] += n;
        s->users[SIM_E]++;
    }
}

/* One deploy: returns whether any result is a regression; counts covered intervals. */
static bool sim_deploy(gsl_rng *rng, double delta, int *covered, int *intervals)
{
    static struct sim_side s0, s1;
    struct stats_input in[SIM_R];
    struct stats_result res[SIM_R];
    struct stats_rule rule;
    char err[128];
    bool alarm = false;
    stats_rule_default(&rule);
    sim_side(rng, 3000, 1.0, &s0);
    sim_side(rng, 3000, 1.0 + delta, &s1);
    for (int r = 0; r < SIM_R; r++) {
        in[r] = (struct stats_input){.base_samples = s0.samples[r],
                                     .base_users = s0.users[r],
                                     .cand_samples = s1.samples[r],
                                     .cand_users = s1.users[r],
                                     .min_effect = -1.0};
        CHECK(stats_estimate(s0.y[r], s0.x[r], SIM_B, STATS_VAR_JACKKNIFE, &in[r].base, err,
                             sizeof(err)) == 0);
        CHECK(stats_estimate(s1.y[r], s1.x[r], SIM_B, STATS_VAR_JACKKNIFE, &in[r].cand, err,
                             sizeof(err)) == 0);
    }
    CHECK(stats_decide(&rule, in, SIM_R, res, err, sizeof(err)) == 0);
    for (int r = 0; r < SIM_R; r++) {
        alarm |= res[r].verdict == STATS_REGRESSION;
        if (res[r].cmp.ok) {
            (*intervals)++;
            *covered += res[r].cmp.ci_low <= delta && delta <= res[r].cmp.ci_high;
        }
    }
    return alarm;
}

static void test_simulation(void)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    gsl_rng_set(rng, 20240611);
    int alarms = 0, found = 0, cov_aa = 0, n_aa = 0, cov = 0, n = 0;
    for (int i = 0; i < 200; i++)
        alarms += sim_deploy(rng, 0.0, &cov_aa, &n_aa);
    for (int i = 0; i < 100; i++)
        found += sim_deploy(rng, 0.06, &cov, &n);
    printf("simulation: A/A alarms %d/200, coverage A/A %d/%d, +6%%: found %d/100, coverage "
           "%d/%d\n",
           alarms, cov_aa, n_aa, found, cov, n);
    CHECK(alarms <= 4); /* ≤ 2% of A/A deploys */
    CHECK(n_aa == 800 && n == 400);
    CHECK((double)cov_aa / n_aa >= 0.92 && (double)cov_aa / n_aa <= 0.98);
    CHECK((double)cov / n >= 0.91 && (double)cov / n <= 0.99);
    CHECK(found >= 90);
    gsl_rng_free(rng);
}

int main(void)
{
    test_t_quantile();
    test_estimate_hand();
    test_estimate_equal_buckets();
    test_estimate_empty_bucket();
    test_estimate_degenerate();
    test_estimate_invalid();
    test_estimate_huge();
    test_compare_hand();
    test_compare_welch_df();
    test_compare_zero_variance();
    test_compare_tiny();
    test_bh();
    test_decide_single();
    test_decide_fcr();
    test_decide_invalid();
    test_names();
    test_decompose_hand();
    test_decompose_sums();
    test_decompose_invalid();
    test_baselines();
    test_simulation();
    return check_summary();
}
