/* Benjamini–Hochberg across the results of a run, and the verdict.
 *
 * Which interval meets min_effect. A verdict claims more than "delta ≠ 0": it claims that the
 * change is beyond ±min_effect, which is a statement about the interval of a result that was
 * selected among m. Marginal 95% intervals of selected results do not keep 95% coverage
 * (selection picks the ones that came out high), so with fcr_adjust the interval tested
 * against min_effect is the Benjamini–Yekutieli (2005) FCR-adjusted interval at level
 * 1 − q·R/m for the R results BH selects; it bounds the expected share of claimed intervals
 * that miss the true change by q. It is also exactly consistent with BH: such an interval
 * excludes 0 if and only if p ≤ q·R/m, which holds if and only if BH rejects the result (any
 * p ≤ q·R/m ranks within the first R). So "regression" simply means "the FCR-adjusted interval
 * lies above +min_effect". The cost is a wider interval when only a few of many results are
 * selected — the same multiplicity price BH itself charges. Without fcr_adjust the reported
 * (marginal) interval is used; bench/sim_detector measures both. The reported interval is
 * always the marginal one at the configured confidence, as the CONTRACT's "confidence" says.
 *
 * Order of the rules. Inconclusive for missing data comes first (too few samples make the t
 * approximation unreliable, so no claim at all). A regression whose interval is entirely above
 * min_effect stands even when that interval is wide: the claim holds at the stated confidence.
 * max_ci_width only stops a wide interval from being reported as no_change. */
#include "regressd/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *stats_verdict_name(enum stats_verdict v)
{
    switch (v) {
    case STATS_NO_CHANGE:
        return "no_change";
    case STATS_REGRESSION:
        return "regression";
    case STATS_IMPROVEMENT:
        return "improvement";
    case STATS_INCONCLUSIVE:
        return "inconclusive";
    }
    return "unknown";
}

const char *stats_reason_name(enum stats_reason r)
{
    switch (r) {
    case STATS_REASON_NONE:
        return "none";
    case STATS_REASON_NOT_COMPUTABLE:
        return "not_computable";
    case STATS_REASON_FEW_SAMPLES:
        return "few_samples";
    case STATS_REASON_FEW_USERS:
        return "few_users";
    case STATS_REASON_WIDE_INTERVAL:
        return "wide_interval";
    }
    return "unknown";
}

void stats_rule_default(struct stats_rule *rule)
{
    rule->confidence = 0.95;
    rule->min_effect = 0.01;
    rule->max_ci_width = 0.10;
    rule->min_samples = 1000;
    rule->min_users = 100;
    rule->fcr_adjust = true;
}

/* ---- Benjamini–Hochberg ---- */

struct ranked {
    double p;
    size_t i;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

size_t stats_bh(const double *p, size_t m, double q, bool *reject, double *q_values)
{
    if (!p || m == 0)
        return 0;
    struct ranked *r = xmalloc(m * sizeof(*r));
    for (size_t i = 0; i < m; i++) {
        r[i].p = p[i] >= 0.0 && p[i] <= 1.0 ? p[i] : 1.0; /* also maps NaN to 1 */
        r[i].i = i;
    }
    qsort(r, m, sizeof(*r), cmp_ranked);
    /* Step-up: adjusted p_(j) = min over j' >= j of p_(j')·m/j', from the largest down. */
    double run = 1.0;
    size_t rejected = 0;
    for (size_t j = m; j-- > 0;) {
        double adj = r[j].p * (double)m / (double)(j + 1);
        if (adj < run)
            run = adj;
        bool rej = run <= q;
        rejected += rej;
        if (q_values)
            q_values[r[j].i] = run;
        if (reject)
            reject[r[j].i] = rej;
    }
    free(r);
    return rejected;
}

/* ---- the verdict ---- */

static int check_rule(const struct stats_rule *rule, char *err, size_t errlen)
{
    if (!(rule->confidence > 0.0 && rule->confidence < 1.0)) {
        snprintf(err, errlen, "confidence %g: must be in (0, 1)", rule->confidence);
        return -1;
    }
    if (!(rule->min_effect >= 0.0) || !isfinite(rule->min_effect)) {
        snprintf(err, errlen, "min_effect %g: must be >= 0", rule->min_effect);
        return -1;
    }
    if (!(rule->max_ci_width >= 0.0) || !isfinite(rule->max_ci_width)) {
        snprintf(err, errlen, "max_ci_width %g: must be >= 0", rule->max_ci_width);
        return -1;
    }
    if (rule->min_samples < 0 || rule->min_users < 0) {
        snprintf(err, errlen, "min_samples and min_users must be >= 0");
        return -1;
    }
    return 0;
}

/* Inconclusive reasons that exclude a result from testing. */
static enum stats_reason data_reason(const struct stats_rule *rule, const struct stats_input *in,
                                     const struct stats_comparison *cmp)
{
    if (!cmp->ok)
        return STATS_REASON_NOT_COMPUTABLE;
    if (in->base_samples < rule->min_samples || in->cand_samples < rule->min_samples)
        return STATS_REASON_FEW_SAMPLES;
    if (in->base_users < rule->min_users || in->cand_users < rule->min_users)
        return STATS_REASON_FEW_USERS;
    return STATS_REASON_NONE;
}

static void verdict_of(const struct stats_rule *rule, const struct stats_input *in,
                       struct stats_result *res)
{
    double min_effect = in->min_effect >= 0.0 ? in->min_effect : rule->min_effect;
    if (!res->tested) {
        res->verdict = STATS_INCONCLUSIVE;
        return;
    }
    if (res->bh_reject && res->decision_low > min_effect) {
        res->verdict = STATS_REGRESSION;
    } else if (res->bh_reject && res->decision_high < -min_effect) {
        res->verdict = STATS_IMPROVEMENT;
    } else if (rule->max_ci_width > 0.0 &&
               res->cmp.ci_high - res->cmp.ci_low > rule->max_ci_width) {
        res->verdict = STATS_INCONCLUSIVE;
        res->reason = STATS_REASON_WIDE_INTERVAL;
    } else {
        res->verdict = STATS_NO_CHANGE;
    }
}

/* The interval each result is tested with; needs bh_reject and the number selected. */
static void decision_interval(const struct stats_rule *rule, struct stats_result *res,
                              size_t selected, size_t tested)
{
    double q = 1.0 - rule->confidence;
    res->decision_level = rule->confidence;
    res->decision_low = res->cmp.ci_low;
    res->decision_high = res->cmp.ci_high;
    if (!rule->fcr_adjust || !res->bh_reject)
        return;
    double level = 1.0 - q * (double)selected / (double)tested;
    double lo, hi;
    if (stats_interval(&res->cmp, level, &lo, &hi) < 0) {
        /* overflow of the wider interval: nothing can be claimed from it */
        res->bh_reject = false;
        return;
    }
    res->decision_level = level;
    res->decision_low = lo;
    res->decision_high = hi;
}

int stats_decide(const struct stats_rule *rule, const struct stats_input *in, size_t m,
                 struct stats_result *out, char *err, size_t errlen)
{
    if (!rule || (m > 0 && (!in || !out))) {
        snprintf(err, errlen, "missing argument");
        return -1;
    }
    if (check_rule(rule, err, errlen) < 0)
        return -1;
    if (m == 0)
        return 0;

    double *p = xmalloc(m * sizeof(*p));
    bool *rej = xmalloc(m * sizeof(*rej));
    double *qv = xmalloc(m * sizeof(*qv));
    size_t tested = 0;
    for (size_t i = 0; i < m; i++) {
        struct stats_result *res = &out[i];
        memset(res, 0, sizeof(*res));
        if (stats_compare(&in[i].base, &in[i].cand, rule->confidence, &res->cmp) < 0)
            res->cmp.ok = false; /* unreachable: arguments checked above */
        res->reason = data_reason(rule, &in[i], &res->cmp);
        res->tested = res->reason == STATS_REASON_NONE;
        res->q_value = 1.0;
        if (res->tested)
            p[tested++] = res->cmp.p_value;
    }
    size_t selected = stats_bh(p, tested, 1.0 - rule->confidence, rej, qv);
    for (size_t i = 0, j = 0; i < m; i++) {
        struct stats_result *res = &out[i];
        if (res->tested) {
            res->q_value = qv[j];
            res->bh_reject = rej[j];
            j++;
        }
        decision_interval(rule, res, selected, tested);
        verdict_of(rule, &in[i], res);
    }
    free(p);
    free(rej);
    free(qv);
    return 0;
}
