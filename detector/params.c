/* A check's parameters from the configuration, per-endpoint minimum effects, and windows. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/detector.h"

void detector_effects_free(struct detector_effect *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        free(e[i].pattern);
    free(e);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One "GLOB=PCT" item (modified in place) appended to *out. */
static int parse_effect(char *item, struct detector_effect **out, size_t *n, char *err,
                        size_t errlen)
{
    char *eq = strrchr(item, '=');
    if (!eq) {
        snprintf(err, errlen, "\"%s\": expected GLOB=PCT", trim(item));
        return -1;
    }
    *eq = '\0';
    char *pattern = trim(item), *value = trim(eq + 1), *end;
    errno = 0;
    double pct = strtod(value, &end);
    if (!*pattern || errno || end == value || *end || !isfinite(pct) || pct < 0 || pct > 1000) {
        snprintf(err, errlen, "\"%s=%s\": expected a glob and a percentage from 0 to 1000", pattern,
                 value);
        return -1;
    }
    *out = xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[*n].pattern = xstrdup(pattern);
    (*out)[*n].min_effect = pct / 100.0;
    (*n)++;
    return 0;
}

int detector_effects_parse(const char *spec, struct detector_effect **out, size_t *n, char *err,
                           size_t errlen)
{
    *out = NULL;
    *n = 0;
    char *copy = xstrdup(spec ? spec : ""), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        if (*trim(item))
            rc = parse_effect(item, out, n, err, errlen);
    }
    free(copy);
    if (rc < 0) {
        detector_effects_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

double detector_min_effect(const struct detector_params *p, const char *endpoint)
{
    for (size_t i = 0; endpoint && i < p->n_effects; i++)
        if (fnmatch(p->effects[i].pattern, endpoint, 0) == 0)
            return p->effects[i].min_effect;
    return p->rule.min_effect;
}

int detector_params_init(struct detector_params *p, const struct config *cfg, char *err,
                         size_t errlen)
{
    memset(p, 0, sizeof(*p));
    stats_rule_default(&p->rule);
    p->rule.confidence = cfg->confidence;
    p->rule.min_effect = cfg->min_effect_pct / 100.0;
    p->rule.max_ci_width = cfg->detector_max_ci_width_pct / 100.0;
    p->rule.min_samples = cfg->detector_min_samples;
    p->rule.min_users = cfg->detector_min_users;
    p->buckets = (int)cfg->detector_buckets;
    p->baseline_window_us = cfg->deploy_baseline_window_us;
    p->candidate_window_us = cfg->deploy_candidate_window_us;
    p->settle_us = cfg->deploy_settle_us;
    p->trend_coverage = cfg->trend_coverage_pct / 100.0;
    p->trend_max_endpoints = (size_t)cfg->trend_max_endpoints;
    p->trend_flag_shift = cfg->trend_flag_shift_pct / 100.0;
    p->flags_window_us = cfg->flags_window_us;
    p->flags_min_share = cfg->flags_min_share_pct / 100.0;
    p->flags_max_values = (size_t)cfg->flags_max_values;
    if (p->buckets < 2 || p->buckets > DETECTOR_MAX_BUCKETS ||
        DETECTOR_MAX_BUCKETS % p->buckets != 0) {
        snprintf(err, errlen, "detector.buckets: %d is not a divisor of 64 (2 to 64)", p->buckets);
        return -1;
    }
    char why[512];
    if (detector_effects_parse(cfg->detector_min_effect_endpoints, &p->effects, &p->n_effects, why,
                               sizeof(why)) < 0) {
        snprintf(err, errlen, "detector.min_effect_endpoints: %s", why);
        return -1;
    }
    return 0;
}

void detector_params_free(struct detector_params *p)
{
    if (!p)
        return;
    detector_effects_free(p->effects, p->n_effects);
    p->effects = NULL;
    p->n_effects = 0;
}

int64_t detector_floor_block(int64_t us)
{
    int64_t q = us / DETECTOR_BLOCK_US;
    if (us % DETECTOR_BLOCK_US < 0)
        q--;
    return q * DETECTOR_BLOCK_US;
}

static int64_t ceil_block(int64_t us)
{
    int64_t f = detector_floor_block(us);
    return f == us ? f : f + DETECTOR_BLOCK_US;
}

void detector_windows_of(const struct detector_params *p, int64_t deployed_at_us,
                         struct detector_windows *w)
{
    w->deployed_at = deployed_at_us;
    w->cand_from = detector_floor_block(deployed_at_us);
    w->base_from = w->cand_from - ceil_block(p->baseline_window_us);
    w->to = ceil_block(deployed_at_us + p->candidate_window_us);
}
