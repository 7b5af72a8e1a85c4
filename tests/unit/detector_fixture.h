/* What the detector's unit tests (test_check, test_trend, test_flags) share: the parameters they
 * start from, deterministic noise, and finding a result of a report. */
#ifndef REGRESSD_TEST_DETECTOR_FIXTURE_H
#define REGRESSD_TEST_DETECTOR_FIXTURE_H

#include <string.h>

#include "regressd/detector.h"

/* Zeroed parameters with the default rule, `buckets` user buckets and 1-hour windows. */
static inline void fixture_params(struct detector_params *p, int buckets)
{
    memset(p, 0, sizeof(*p));
    stats_rule_default(&p->rule);
    p->buckets = buckets;
    p->baseline_window_us = 3600LL * 1000000;
    p->candidate_window_us = 3600LL * 1000000;
}

/* Deterministic noise in [-1, 1]. */
static inline double fixture_noise(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return ((double)((*state >> 8) & 0xffff) / 32767.5) - 1.0;
}

/* The result of metric m for endpoint (NULL: the service-level one), or NULL. */
static inline const struct detector_result *
fixture_find(const struct detector_report *r, const char *endpoint, enum detector_metric m)
{
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (res->metric == m && ((!endpoint && !res->endpoint) ||
                                 (endpoint && res->endpoint && !strcmp(endpoint, res->endpoint))))
            return res;
    }
    return NULL;
}

#endif
