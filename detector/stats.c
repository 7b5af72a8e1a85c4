/* Ratio-of-sums estimates over user buckets and their log-ratio comparison.
 *
 * Estimate. Let k be the number of non-empty buckets (X_b > 0), SY = ΣY_b, SX = ΣX_b,
 * R = SY/SX and d_b = Y_b − R·X_b (Σ d_b = 0 exactly, so d needs no centring).
 *
 * - Delta method. Buckets are i.i.d., so R = Ȳ/X̄ and, linearising around the means,
 *   R − ρ ≈ mean(D_b)/μ_X with D_b = Y_b − ρ·X_b, E[D] = 0. Hence Var(R) ≈ Var(D)/(k·μ_X²).
 *   Estimating Var(D) by Σd_b²/(k − 1) and μ_X by SX/k:
 *       Var(R) = k/(k − 1) · Σ d_b² / SX².
 *   (The DESIGN's B/(B − 1) form with B = k.)
 * - Delete-one-bucket jackknife. R_(−b) = (SY − Y_b)/(SX − X_b), and
 *       Var(R) = (k − 1)/k · Σ (R_(−b) − mean R_(−·))².
 *   Computed from e_b = R_(−b) − R = −d_b/(SX − X_b), which is exact algebra and avoids
 *   subtracting two nearly equal ratios. With equal bucket sizes e_b = −k·d_b/((k − 1)·SX) and
 *   the jackknife equals the delta method exactly; with unequal sizes it weighs large buckets
 *   more (like HC3 against HC1) and is slightly more conservative. It is the default: it needs
 *   no derivative, and in bench/sim_detector its coverage is at least as good.
 *
 * Why k and not B: an empty bucket has d_b = 0 and R_(−b) = R; it tells nothing about
 * dispersion. Counting only non-empty buckets makes the jackknife independent of empty buckets
 * and the two methods agree. In every window with enough users k = B, which is the DESIGN's
 * B − 1 degrees of freedom; when data are sparse (each user alone in a bucket) it is the
 * standard cluster-robust CR1 estimator over users with users − 1 degrees of freedom, whereas
 * B/(B − 1) and B − 1 would understate the variance and overstate the certainty.
 *
 * Comparison. L = log(R1/R0), se_L² = v0 + v1 with v_i = (se_i/R_i)² (delta method for log R).
 * Degrees of freedom by Welch–Satterthwaite, df = (v0 + v1)²/(v0²/df0 + v1²/df1): each v_i is
 * approximately a scaled χ² on df_i, and this is the same approximation as Welch's t-test. It
 * lies between min(df0, df1) and df0 + df1 (63 and 126 for 64 full buckets: t_0.975 of 1.998
 * and 1.979, 1% apart); min() would be conservative for nothing when the two sides are alike,
 * the common case of a deploy, and Welch–Satterthwaite reduces to df_i by itself when the
 * other side's variance vanishes. CI = exp(L ± t·se_L) − 1, p = 2·P(T_df > |L|/se_L): the
 * interval excludes 0 exactly when p < 1 − level.
 *
 * Rounding. Relative standard errors below STATS_REL_EPS and relative differences of ratios
 * below it are rounding noise (all-equal buckets give d_b of a few ulps) and are set to 0. */
#include "regressd/stats.h"

#include <float.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STATS_REL_EPS 1e-12

double stats_t_quantile(double p, double df)
{
    if (!(p > 0.0 && p < 1.0) || !(df > 0.0) || !isfinite(df))
        return 0.0;
    return gsl_cdf_tdist_Pinv(p, df);
}

static int check_buckets(const double *y, const double *x, size_t nbuckets, char *err,
                         size_t errlen)
{
    if (!y || !x || nbuckets == 0) {
        snprintf(err, errlen, "no buckets");
        return -1;
    }
    for (size_t b = 0; b < nbuckets; b++) {
        if (!isfinite(y[b]) || !isfinite(x[b]) || y[b] < 0.0 || x[b] < 0.0) {
            snprintf(err, errlen, "bucket %zu: y = %g, x = %g: must be finite and >= 0", b, y[b],
                     x[b]);
            return -1;
        }
        if (x[b] == 0.0 && y[b] != 0.0) {
            snprintf(err, errlen, "bucket %zu: y = %g with x = 0", b, y[b]);
            return -1;
        }
    }
    return 0;
}

/* k/(k − 1) · Σ d_b² / SX². */
static double var_delta(const double *y, const double *x, size_t nbuckets, double r, double sx,
                        size_t k)
{
    double ss = 0.0;
    for (size_t b = 0; b < nbuckets; b++) {
        double d = y[b] - r * x[b];
        ss += d * d;
    }
    double kk = (double)k;
    return kk / (kk - 1.0) * ss / (sx * sx);
}

/* (k − 1)/k · Σ (e_b − ē)² over non-empty buckets, e_b = −d_b/(SX − X_b). */
static double var_jackknife(const double *y, const double *x, size_t nbuckets, double r, double sx,
                            size_t k)
{
    double sum = 0.0, sumsq = 0.0, mean;
    for (size_t b = 0; b < nbuckets; b++) {
        if (x[b] > 0.0)
            sum += -(y[b] - r * x[b]) / (sx - x[b]);
    }
    mean = sum / (double)k;
    for (size_t b = 0; b < nbuckets; b++) {
        if (x[b] > 0.0) {
            double e = -(y[b] - r * x[b]) / (sx - x[b]) - mean;
            sumsq += e * e;
        }
    }
    double kk = (double)k;
    return (kk - 1.0) / kk * sumsq;
}

int stats_estimate(const double *y, const double *x, size_t nbuckets, enum stats_variance method,
                   struct stats_estimate *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_buckets(y, x, nbuckets, err, errlen) < 0)
        return -1;
    double sy = 0.0, sx = 0.0;
    size_t k = 0;
    for (size_t b = 0; b < nbuckets; b++) {
        sy += y[b];
        sx += x[b];
        k += x[b] > 0.0;
    }
    out->sum_y = sy;
    out->sum_x = sx;
    out->nonempty = k;
    if (sx == 0.0 || k < 2)
        return 0;

    double r = sy / sx;
    double var = method == STATS_VAR_DELTA ? var_delta(y, x, nbuckets, r, sx, k)
                                           : var_jackknife(y, x, nbuckets, r, sx, k);
    double se = sqrt(var);
    if (!isfinite(r) || !isfinite(se))
        return 0;
    if (se <= STATS_REL_EPS * r)
        se = 0.0;
    out->ratio = r;
    out->se = se;
    out->df = (double)(k - 1);
    out->ok = true;
    return 0;
}

/* exp(l ± h) − 1 into *low, *high; -1 when the upper end overflows. */
static int interval_from_log(double l, double h, double *low, double *high)
{
    double lo = expm1(l - h), hi = expm1(l + h);
    if (!isfinite(lo) || !isfinite(hi))
        return -1;
    *low = lo;
    *high = hi;
    return 0;
}

int stats_interval(const struct stats_comparison *c, double level, double *low, double *high)
{
    if (!c || !low || !high || !c->ok || !(level > 0.0 && level < 1.0))
        return -1;
    if (c->se_log == 0.0) {
        *low = c->delta;
        *high = c->delta;
        return 0;
    }
    double t = stats_t_quantile(0.5 + level / 2.0, c->df);
    return interval_from_log(c->log_ratio, t * c->se_log, low, high);
}

/* An estimate the log-ratio comparison can use (also guards hand-made estimates). */
static bool usable(const struct stats_estimate *e)
{
    return e->ok && e->ratio > 0.0 && isfinite(e->ratio) && e->se >= 0.0 && isfinite(e->se) &&
           e->df >= 1.0 && isfinite(e->df);
}

/* Both sides without variance: the ratios are exact. */
static void compare_exact(struct stats_comparison *out, double l, double df)
{
    out->df = df;
    if (fabs(l) <= STATS_REL_EPS) {
        out->log_ratio = 0.0;
        out->delta = 0.0;
        out->p_value = 1.0;
    } else {
        out->p_value = 0.0;
    }
    out->ci_low = out->delta;
    out->ci_high = out->delta;
    out->ok = true;
}

int stats_compare(const struct stats_estimate *base, const struct stats_estimate *cand,
                  double level, struct stats_comparison *out)
{
    if (!base || !cand || !out || !(level > 0.0 && level < 1.0))
        return -1;
    memset(out, 0, sizeof(*out));
    out->level = level;
    if (!usable(base) || !usable(cand))
        return 0;

    double l = log(cand->ratio / base->ratio);
    double v0 = base->se / base->ratio, v1 = cand->se / cand->ratio;
    v0 *= v0;
    v1 *= v1;
    out->log_ratio = l;
    out->delta = expm1(l);
    out->se_log = sqrt(v0 + v1);
    if (out->se_log == 0.0) {
        compare_exact(out, l, base->df + cand->df);
        return 0;
    }
    out->df = (v0 + v1) * (v0 + v1) / (v0 * v0 / base->df + v1 * v1 / cand->df);
    out->p_value = 2.0 * gsl_cdf_tdist_Q(fabs(l) / out->se_log, out->df);
    if (out->p_value > 1.0)
        out->p_value = 1.0;
    out->ok = true;
    if (stats_interval(out, level, &out->ci_low, &out->ci_high) < 0) {
        memset(out, 0, sizeof(*out));
        out->level = level;
    }
    return 0;
}

/* ---- decomposition ---- */

static int check_mix(const struct stats_mix *s, const char *side, char *err, size_t errlen)
{
    if (!(s->users > 0.0) || !isfinite(s->users)) {
        snprintf(err, errlen, "%s: users = %g, must be > 0", side, s->users);
        return -1;
    }
    if (s->n > 0 && (!s->requests || !s->instructions)) {
        snprintf(err, errlen, "%s: missing arrays", side);
        return -1;
    }
    for (size_t e = 0; e < s->n; e++) {
        double r = s->requests[e], i = s->instructions[e];
        if (!isfinite(r) || !isfinite(i) || r < 0.0 || i < 0.0) {
            snprintf(err, errlen, "%s: endpoint %zu: requests = %g, instructions = %g", side, e, r,
                     i);
            return -1;
        }
        if (r == 0.0 && i != 0.0) {
            snprintf(err, errlen, "%s: endpoint %zu: instructions without requests", side, e);
            return -1;
        }
    }
    return 0;
}

static double mix_total(const struct stats_mix *s)
{
    double sum = 0.0;
    for (size_t e = 0; e < s->n; e++)
        sum += s->instructions[e];
    return sum / s->users;
}

int stats_decompose(const struct stats_mix *base, const struct stats_mix *cand,
                    struct stats_contribution *parts, double *total, char *err, size_t errlen)
{
    if (!base || !cand || !total || (!parts && base->n > 0)) {
        snprintf(err, errlen, "missing argument");
        return -1;
    }
    if (base->n != cand->n) {
        snprintf(err, errlen, "sides have %zu and %zu endpoints", base->n, cand->n);
        return -1;
    }
    if (check_mix(base, "baseline", err, errlen) < 0 ||
        check_mix(cand, "candidate", err, errlen) < 0)
        return -1;
    double i0 = mix_total(base), i1 = mix_total(cand);
    if (!(i0 > 0.0)) {
        snprintf(err, errlen, "baseline has no instructions");
        return -1;
    }
    for (size_t e = 0; e < base->n; e++) {
        double w0 = base->requests[e] / base->users, w1 = cand->requests[e] / cand->users;
        double c0 = w0 > 0.0 ? base->instructions[e] / base->requests[e] : 0.0;
        double c1 = w1 > 0.0 ? cand->instructions[e] / cand->requests[e] : 0.0;
        if (w0 == 0.0)
            c0 = c1;
        if (w1 == 0.0)
            c1 = c0;
        parts[e].rate = 0.5 * (w0 + w1) * (c1 - c0) / i0;
        parts[e].mix = 0.5 * (c0 + c1) * (w1 - w0) / i0;
    }
    *total = i1 / i0 - 1.0;
    return 0;
}
