/* Statistics core of the detector: ratio-of-sums estimates over user buckets, the log-ratio
 * comparison of two of them, Benjamini–Hochberg across the results of a run, the verdict, and
 * the split of a service-level change into endpoints and request mix. Prefix stats_.
 *
 * Pure functions: no I/O, no global state; the few that need scratch memory allocate it with
 * xmalloc and free it before returning. Nothing returns NaN or an infinity: a value that cannot
 * be computed is reported through `ok = false` (all numbers then 0) or an error return.
 *
 * The model (DESIGN.md, "Statistics"). A metric is R = ΣY/ΣX over a window. Users are the
 * independent units; each user is in one of B buckets by a stable hash, and the caller sums Y and
 * X per bucket. Buckets are then i.i.d. draws of (Y_b, X_b), which makes the variance robust to
 * any correlation between the requests of one user. The method and its choices are explained
 * at the top of detector/stats.c. */
#ifndef REGRESSD_STATS_H
#define REGRESSD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

#define STATS_DEFAULT_BUCKETS 64

/* ---- one side: R = ΣY/ΣX and its standard error ---- */

enum stats_variance {
    STATS_VAR_JACKKNIFE, /* delete-one-bucket jackknife (the default) */
    STATS_VAR_DELTA,     /* delta method (linearisation) */
};

struct stats_estimate {
    double ratio;    /* ΣY/ΣX */
    double se;       /* standard error of ratio; exactly 0 when every bucket has the same ratio */
    double sum_y;    /* ΣY */
    double sum_x;    /* ΣX */
    size_t nonempty; /* buckets with X_b > 0: the units the variance is computed from */
    double df;       /* degrees of freedom of se: nonempty − 1 */
    bool ok;         /* false when ΣX = 0 or fewer than 2 buckets are non-empty */
};

/* Estimates R = Σy/Σx from nbuckets per-bucket sums. Returns -1 and writes the reason to err
 * for invalid input: NULL arrays, nbuckets = 0, a negative or non-finite value, or y_b ≠ 0 in a
 * bucket with x_b = 0 (inconsistent sums). Otherwise fills out (ok = false when the estimate
 * cannot be computed, see above) and returns 0. */
int stats_estimate(const double *y, const double *x, size_t nbuckets, enum stats_variance method,
                   struct stats_estimate *out, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* ---- two sides: Δ = R1/R0 − 1 ---- */

struct stats_comparison {
    double delta;  /* R1/R0 − 1 */
    double ci_low; /* interval of delta at `level` */
    double ci_high;
    double level;     /* e.g. 0.95 */
    double p_value;   /* two-sided, H0: delta = 0 */
    double log_ratio; /* log(R1/R0) */
    double se_log;    /* se of log_ratio: sqrt(se0²/R0² + se1²/R1²) */
    double df;        /* Welch–Satterthwaite degrees of freedom of se_log */
    bool ok;          /* false when a side is not ok or has ratio 0, or the interval overflows */
};

/* Compares candidate against baseline at confidence `level` in (0, 1). Zero variance on both
 * sides: equal ratios give delta = 0, interval [0, 0], p = 1; different ratios give the interval
 * [delta, delta] and p = 0. Returns -1 only when an argument is NULL or level is outside (0, 1). */
int stats_compare(const struct stats_estimate *base, const struct stats_estimate *cand,
                  double level, struct stats_comparison *out) REGRESSD_MUST_CHECK;

/* The interval of an ok comparison at another level (used for FCR-adjusted intervals). Returns
 * -1 when c is not ok, level is outside (0, 1) or the interval overflows. */
int stats_interval(const struct stats_comparison *c, double level, double *low,
                   double *high) REGRESSD_MUST_CHECK;

/* Quantile of Student's t distribution with df > 0 degrees of freedom at probability p in (0, 1);
 * 0 for invalid arguments. */
double stats_t_quantile(double p, double df);

/* ---- many results: Benjamini–Hochberg ---- */

/* Benjamini–Hochberg step-up at false discovery rate q over m p-values. Writes the adjusted
 * p-values (BH "q-values", min over j ≥ rank of p_(j)·m/j, capped at 1) to q_values and
 * reject[i] = q_values[i] <= q; either output may be NULL. A p-value that is NaN or outside
 * [0, 1] is treated as 1. Returns the number of rejections. */
size_t stats_bh(const double *p, size_t m, double q, bool *reject, double *q_values);

/* ---- the verdict ---- */

enum stats_verdict {
    STATS_NO_CHANGE,
    STATS_REGRESSION,
    STATS_IMPROVEMENT,
    STATS_INCONCLUSIVE,
};

/* Why a result is inconclusive (STATS_REASON_NONE for the other verdicts). */
enum stats_reason {
    STATS_REASON_NONE,
    STATS_REASON_NOT_COMPUTABLE, /* an estimate or the comparison is not ok */
    STATS_REASON_FEW_SAMPLES,    /* a side has fewer than min_samples requests */
    STATS_REASON_FEW_USERS,      /* a side has fewer than min_users users */
    STATS_REASON_WIDE_INTERVAL,  /* the interval is wider than max_ci_width */
};

/* "no_change", "regression", "improvement", "inconclusive" (the CONTRACT's spelling). */
const char *stats_verdict_name(enum stats_verdict v);
/* "none", "not_computable", "few_samples", "few_users", "wide_interval". */
const char *stats_reason_name(enum stats_reason r);

struct stats_rule {
    double confidence;   /* of the reported intervals; BH runs at q = 1 − confidence */
    double min_effect;   /* default minimum |delta| worth a verdict, e.g. 0.01 */
    double max_ci_width; /* ci_high − ci_low above which no_change becomes inconclusive; 0: off */
    int64_t min_samples; /* requests per side */
    int64_t min_users;   /* users per side */
    bool fcr_adjust;     /* test min_effect on FCR-adjusted intervals (default true), see below */
};

/* confidence 0.95, min_effect 0.01, max_ci_width 0.10, min_samples 1000, min_users 100,
 * fcr_adjust true. */
void stats_rule_default(struct stats_rule *rule);

/* One result of a run (an endpoint's instructions per request, the service's instructions per
 * user, …). */
struct stats_input {
    struct stats_estimate base;
    struct stats_estimate cand;
    int64_t base_samples, base_users;
    int64_t cand_samples, cand_users;
    double min_effect; /* this result's minimum effect; negative: the rule's */
};

struct stats_result {
    struct stats_comparison cmp; /* at rule->confidence: the interval to report */
    bool tested;                 /* counted in Benjamini–Hochberg's m */
    double q_value;              /* BH-adjusted p-value; 1 when not tested */
    bool bh_reject;
    double decision_level; /* level of the interval compared with min_effect */
    double decision_low;   /* that interval */
    double decision_high;
    enum stats_verdict verdict;
    enum stats_reason reason;
};

/* Decides every result of one run. For each input: compare at rule->confidence; a result is
 * tested when the comparison is ok and both sides have min_samples and min_users; BH at
 * q = 1 − confidence over the tested results. Then, in this order:
 *   not computable, too few samples, too few users           → inconclusive
 *   BH rejects and decision interval above +min_effect       → regression
 *   BH rejects and decision interval below −min_effect       → improvement
 *   the reported interval wider than max_ci_width            → inconclusive
 *   otherwise                                                → no_change
 * The decision interval is the reported one, or with fcr_adjust the Benjamini–Yekutieli
 * FCR-adjusted interval at level 1 − q·R/m (R = BH rejections, m = tested results) for results
 * BH selects. Returns -1 and writes the reason to err when the rule is invalid or an argument is
 * NULL (m = 0 is valid and does nothing). */
int stats_decide(const struct stats_rule *rule, const struct stats_input *in, size_t m,
                 struct stats_result *out, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* ---- where a service-level change comes from ---- */

/* One side of a service: per endpoint, requests and instructions in the window (aligned by
 * index between the two sides; an endpoint absent on a side has 0 requests there), and the
 * number of distinct users. */
struct stats_mix {
    size_t n;
    const double *requests;
    const double *instructions;
    double users;
};

/* Endpoint e's part of the relative change of instructions per user, I = Σ_e w_e·c_e with
 * w_e = requests_e/users and c_e = instructions_e/requests_e. Both parts are fractions of the
 * baseline I0, so Σ_e (rate + mix) = I1/I0 − 1. */
struct stats_contribution {
    double rate; /* from e's instructions per request: w̄_e·(c1_e − c0_e)/I0 */
    double mix;  /* from e's requests per user: c̄_e·(w1_e − w0_e)/I0 */
};

/* Splits I1/I0 − 1 into parts[0..n) by the midpoint (two-factor Shapley) rule, where w̄ and c̄
 * are the means of the two sides; an endpoint with no requests on one side takes the other
 * side's c_e there, so a new or vanished endpoint is pure mix. Writes the total change to
 * *total. Returns -1 and writes the reason to err when the sides' n differ, users ≤ 0, a value
 * is negative or non-finite, an endpoint has instructions but no requests, or I0 = 0. */
int stats_decompose(const struct stats_mix *base, const struct stats_mix *cand,
                    struct stats_contribution *parts, double *total, char *err,
                    size_t errlen) REGRESSD_MUST_CHECK;

/* ---- per-request baselines (for bench/sim_detector: what regressd is measured against) ---- */

/* A two-sample test on raw per-request values, treating every request as independent. */
struct stats_test {
    double delta;  /* mean(b)/mean(a) − 1 */
    double ci_low; /* Welch only: interval of delta, (mean difference ± t·se)/mean(a) */
    double ci_high;
    double p_value; /* two-sided */
    double stat;    /* Welch: t; Mann–Whitney: z */
    bool ok;        /* false: a sample too small or not finite, mean(a) = 0, or variance 0 */
};

/* Welch's unequal-variance t-test of a (baseline) against b (candidate), interval at `level`;
 * needs na, nb ≥ 2. Returns -1 only for NULL arguments or level outside (0, 1). */
int stats_welch(const double *a, size_t na, const double *b, size_t nb, double level,
                struct stats_test *out) REGRESSD_MUST_CHECK;

/* Mann–Whitney U test, normal approximation with tie correction and continuity correction
 * (as R's wilcox.test(exact = FALSE, correct = TRUE)); stat is the z of U_b = Σ ranks(b) −
 * nb(nb+1)/2, positive when b tends to be larger. ci_low = ci_high = delta. Returns -1 only for
 * NULL arguments. */
int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
                       struct stats_test *out) REGRESSD_MUST_CHECK;

#endif
