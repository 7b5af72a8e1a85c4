/* The per-request tests regressd is measured against in bench/sim_detector: Welch's t-test
 * (Perfherder's comparison) and the Mann–Whitney U test (Kayenta's judge). Both treat every
 * request as an independent observation, which is what the simulation shows to be wrong when
 * requests of one user are correlated. */
#include "regressd/stats.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Mean and unbiased variance, two passes. */
static void mean_var(const double *v, size_t n, double *mean, double *var)
{
    double sum = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    *mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = v[i] - *mean;
        ss += d * d;
    }
    *var = ss / (double)(n - 1);
}

int stats_welch(const double *a, size_t na, const double *b, size_t nb, double level,
                struct stats_test *out)
{
    if (!a || !b || !out || !(level > 0.0 && level < 1.0))
        return -1;
    memset(out, 0, sizeof(*out));
    if (na < 2 || nb < 2)
        return 0;
    double ma, va, mb, vb;
    mean_var(a, na, &ma, &va);
    mean_var(b, nb, &mb, &vb);
    double ua = va / (double)na, ub = vb / (double)nb;
    double se = sqrt(ua + ub);
    if (!(ma != 0.0) || !(se > 0.0) || !isfinite(se))
        return 0;
    double df = (ua + ub) * (ua + ub) / (ua * ua / (double)(na - 1) + ub * ub / (double)(nb - 1));
    double t = (mb - ma) / se;
    double h = stats_t_quantile(0.5 + level / 2.0, df) * se;
    out->delta = mb / ma - 1.0;
    out->ci_low = (mb - ma - h) / ma;
    out->ci_high = (mb - ma + h) / ma;
    out->stat = t;
    out->p_value = fmin(1.0, 2.0 * gsl_cdf_tdist_Q(fabs(t), df));
    out->ok = true;
    return 0;
}

/* Order-preserving map of a finite double to an unsigned key (-0.0 is mapped as +0.0). */
static uint64_t sort_key(double v)
{
    uint64_t u;
    v += 0.0;
    memcpy(&u, &v, sizeof(u));
    return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}

/* LSD radix sort of n keys, 8 bits per pass, skipping passes where every key has the same
 * byte. tmp has room for n keys. */
static void radix_sort(uint64_t *k, uint64_t *tmp, size_t n)
{
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((k[i] >> shift) & 0xff) + 1]++;
        if (count[((k[0] >> shift) & 0xff) + 1] == n)
            continue;
        for (int c = 0; c < 256; c++)
            count[c + 1] += count[c];
        for (size_t i = 0; i < n; i++)
            tmp[count[(k[i] >> shift) & 0xff]++] = k[i];
        memcpy(k, tmp, n * sizeof(*k));
    }
}

/* Σ ranks of b's keys in the pooled sample (ties get their average rank) and Σ (t³ − t) over
 * tie groups, by merging the two sorted key arrays. */
static void rank_sum(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, double *rank_b,
                     double *ties)
{
    size_t i = 0, j = 0, pos = 0;
    *rank_b = 0.0;
    *ties = 0.0;
    while (i < na || j < nb) {
        uint64_t v = j == nb || (i < na && a[i] < b[j]) ? a[i] : b[j];
        size_t ca = 0, cb = 0;
        while (i < na && a[i] == v) {
            i++;
            ca++;
        }
        while (j < nb && b[j] == v) {
            j++;
            cb++;
        }
        double t = (double)(ca + cb), avg = (double)pos + (t + 1.0) / 2.0;
        *rank_b += (double)cb * avg;
        *ties += t * t * t - t;
        pos += ca + cb;
    }
}

static void sorted_keys(const double *v, size_t n, uint64_t *k, uint64_t *tmp, double *sum)
{
    *sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        k[i] = sort_key(v[i]);
        *sum += v[i];
    }
    radix_sort(k, tmp, n);
}

int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
                       struct stats_test *out)
{
    if (!a || !b || !out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (na == 0 || nb == 0)
        return 0;
    size_t n = na + nb;
    for (size_t i = 0; i < na; i++)
        if (!isfinite(a[i]))
            return 0;
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(b[i]))
            return 0;
    uint64_t *ka = xmalloc(na * sizeof(*ka)), *kb = xmalloc(nb * sizeof(*kb));
    uint64_t *tmp = xmalloc((na > nb ? na : nb) * sizeof(*tmp));
    double suma, sumb, rank_b, ties;
    sorted_keys(a, na, ka, tmp, &suma);
    sorted_keys(b, nb, kb, tmp, &sumb);
    rank_sum(ka, na, kb, nb, &rank_b, &ties);
    free(ka);
    free(kb);
    free(tmp);

    double fa = (double)na, fb = (double)nb, fn = (double)n;
    double u = rank_b - fb * (fb + 1.0) / 2.0, mu = fa * fb / 2.0;
    double var = fa * fb / 12.0 * ((fn + 1.0) - ties / (fn * (fn - 1.0)));
    if (!(var > 0.0) || !(suma != 0.0))
        return 0;
    double diff = u - mu, corr = diff > 0.0 ? 0.5 : (diff < 0.0 ? -0.5 : 0.0);
    double z = (diff - corr) / sqrt(var);
    out->delta = (sumb / fb) / (suma / fa) - 1.0;
    out->ci_low = out->delta;
    out->ci_high = out->delta;
    out->stat = z;
    out->p_value = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(z)));
    out->ok = true;
    return 0;
}
