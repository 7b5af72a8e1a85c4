/* The deploy comparison over loaded data: one result per metric and endpoint, all decided
 * together by stats_decide (one Benjamini–Hochberg family), the decomposition of the change, and
 * the deploy's verdict (rule in detector.h). Pure: no I/O. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "regressd/detector.h"

const char *detector_metric_name(enum detector_metric m)
{
    switch (m) {
    case DETECTOR_PER_USER:
        return "instructions_per_user";
    case DETECTOR_PER_REQUEST:
        return "instructions_per_request";
    case DETECTOR_LATENCY:
        return "latency_us_mean";
    }
    return "unknown";
}

int detector_exit_status(enum stats_verdict v)
{
    switch (v) {
    case STATS_REGRESSION:
        return 1;
    case STATS_INCONCLUSIVE:
        return 3;
    case STATS_NO_CHANGE:
    case STATS_IMPROVEMENT:
        return 0;
    }
    return 3;
}

struct detector_report *detector_report_new(const struct detector_params *p, const char *service,
                                            const char *base_commit, const char *cand_commit,
                                            int64_t deployed_at_us)
{
    struct detector_report *r = xcalloc(1, sizeof(*r));
    r->kind = xstrdup("deploy");
    r->service = xstrdup(service);
    r->commit[0] = base_commit ? xstrdup(base_commit) : NULL;
    r->commit[1] = cand_commit ? xstrdup(cand_commit) : NULL;
    r->deployed_at_us = deployed_at_us;
    detector_windows_of(p, deployed_at_us, &r->win);
    r->from[0] = r->win.base_from;
    r->from[1] = r->win.cand_from;
    r->to[0] = r->to[1] = r->win.to;
    r->confidence = p->rule.confidence;
    r->verdict = STATS_INCONCLUSIVE;
    r->dec.per_user = r->dec.per_request = r->dec.requests_per_user = NAN;
    return r;
}

struct detector_report *detector_report_empty(const struct detector_params *p, const char *service,
                                              const char *base_commit, const char *cand_commit,
                                              int64_t deployed_at_us, const char *reason)
{
    struct detector_report *r =
        detector_report_new(p, service, base_commit, cand_commit, deployed_at_us);
    r->verdict_reason = xstrdup(reason);
    return r;
}

void detector_report_free(struct detector_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_results; i++) {
        free(r->results[i].endpoint);
        free(r->results[i].flag_name);
        free(r->results[i].flag_value);
    }
    free(r->results);
    for (size_t i = 0; i < r->dec.n_parts; i++)
        free(r->dec.parts[i].endpoint);
    free(r->dec.parts);
    free(r->kind);
    free(r->service);
    free(r->commit[0]);
    free(r->commit[1]);
    free(r->label[0]);
    free(r->label[1]);
    json_decref(r->suspects);
    free(r->verdict_reason);
    free(r);
}

/* ---- building the inputs ---- */

static double sum(const double *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* An estimate; not ok (and a note) when the sums are invalid. */
void detector_estimate(const double *y, const double *x, int n, struct stats_estimate *out,
                       const char **note)
{
    char why[256];
    if (stats_estimate(y, x, (size_t)n, STATS_VAR_JACKKNIFE, out, why, sizeof(why)) < 0) {
        memset(out, 0, sizeof(*out));
        *note = "invalid rollup sums (negative or not finite)";
    }
}

struct detector_result *detector_add_result(struct detector_report *r, size_t *cap,
                                            enum detector_metric m, const char *endpoint,
                                            double min_effect)
{
    if (r->n_results == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        r->results = xrealloc(r->results, *cap * sizeof(*r->results));
    }
    struct detector_result *res = &r->results[r->n_results++];
    memset(res, 0, sizeof(*res));
    res->metric = m;
    res->endpoint = endpoint ? xstrdup(endpoint) : NULL;
    res->gates = m != DETECTOR_LATENCY;
    res->min_effect = min_effect;
    res->in.min_effect = min_effect;
    return res;
}

static void add_per_user(struct detector_report *r, size_t *cap, const struct detector_params *p,
                         const struct detector_data *d)
{
    struct detector_result *res =
        detector_add_result(r, cap, DETECTOR_PER_USER, NULL, p->rule.min_effect);
    const struct detector_side *b = &d->side[0], *c = &d->side[1];
    int n = d->buckets;
    res->note = d->user_note;
    detector_estimate(b->user_instructions, b->user_users, n, &res->in.base, &res->note);
    detector_estimate(c->user_instructions, c->user_users, n, &res->in.cand, &res->note);
    res->in.base_samples = (int64_t)sum(b->user_requests, n);
    res->in.cand_samples = (int64_t)sum(c->user_requests, n);
    res->in.base_users = (int64_t)sum(b->user_users, n);
    res->in.cand_users = (int64_t)sum(c->user_users, n);
}

static void add_latency(struct detector_report *r, size_t *cap, const struct detector_params *p,
                        const struct detector_data *d)
{
    const struct detector_side *b = &d->side[0], *c = &d->side[1];
    int n = d->buckets;
    if (!(sum(b->latency_n, n) > 0.0 && sum(c->latency_n, n) > 0.0))
        return;
    struct detector_result *res =
        detector_add_result(r, cap, DETECTOR_LATENCY, NULL, p->rule.min_effect);
    res->note = "informational: latency does not set the deploy's verdict";
    detector_estimate(b->latency_us, b->latency_n, n, &res->in.base, &res->note);
    detector_estimate(c->latency_us, c->latency_n, n, &res->in.cand, &res->note);
    res->in.base_samples = (int64_t)sum(b->latency_n, n);
    res->in.cand_samples = (int64_t)sum(c->latency_n, n);
    res->in.base_users = b->users;
    res->in.cand_users = c->users;
}

/* Endpoints with min_samples requests on both sides. Users per endpoint are not in the rollups:
 * the side's users stand in (an upper bound); an endpoint used by few users has few non-empty
 * buckets, and its t interval on (non-empty buckets − 1) degrees of freedom widens accordingly. */
static void add_endpoints(struct detector_report *r, size_t *cap, const struct detector_params *p,
                          const struct detector_data *d)
{
    int n = d->buckets;
    for (size_t i = 0; i < d->n_endpoints; i++) {
        const struct detector_endpoint_data *e = &d->endpoints[i];
        if (e->light) {
            r->endpoints_light++;
            continue;
        }
        double rb = sum(e->requests[0], n), rc = sum(e->requests[1], n);
        if (rb < (double)p->rule.min_samples || rc < (double)p->rule.min_samples) {
            r->endpoints_skipped++;
            continue;
        }
        struct detector_result *res = detector_add_result(r, cap, DETECTOR_PER_REQUEST, e->name,
                                                          detector_min_effect(p, e->name));
        detector_estimate(e->instructions[0], e->requests[0], n, &res->in.base, &res->note);
        detector_estimate(e->instructions[1], e->requests[1], n, &res->in.cand, &res->note);
        res->in.base_samples = (int64_t)rb;
        res->in.cand_samples = (int64_t)rc;
        res->in.base_users = d->side[0].users;
        res->in.cand_users = d->side[1].users;
    }
}

int detector_decide(struct detector_report *r, const struct detector_params *p, char *err,
                    size_t errlen)
{
    struct stats_input *in = xmalloc((r->n_results ? r->n_results : 1) * sizeof(*in));
    struct stats_result *out = xmalloc((r->n_results ? r->n_results : 1) * sizeof(*out));
    for (size_t i = 0; i < r->n_results; i++)
        in[i] = r->results[i].in;
    int rc = stats_decide(&p->rule, in, r->n_results, out, err, errlen);
    for (size_t i = 0; rc == 0 && i < r->n_results; i++)
        r->results[i].res = out[i];
    free(in);
    free(out);
    return rc;
}

/* ---- where it happened ---- */

static int cmp_parts(const void *a, const void *b)
{
    double x = fabs(((const struct detector_part *)a)->rate);
    double y = fabs(((const struct detector_part *)b)->rate);
    return x > y ? -1 : x < y;
}

static void decompose(struct detector_report *r, const struct detector_data *d)
{
    size_t m = d->n_endpoints;
    double *req[2] = {xcalloc(m + 1, sizeof(double)), xcalloc(m + 1, sizeof(double))};
    double *ins[2] = {xcalloc(m + 1, sizeof(double)), xcalloc(m + 1, sizeof(double))};
    struct stats_contribution *parts = xcalloc(m + 1, sizeof(*parts));
    for (size_t e = 0; e < m; e++)
        for (int s = 0; s < 2; s++) {
            req[s][e] = sum(d->endpoints[e].requests[s], d->buckets);
            ins[s][e] = sum(d->endpoints[e].instructions[s], d->buckets);
        }
    /* users := requests, so w_e is the request share and the total is the per-request change */
    struct stats_mix base = {m, req[0], ins[0], sum(req[0], (int)m)};
    struct stats_mix cand = {m, req[1], ins[1], sum(req[1], (int)m)};
    char why[256];
    double total;
    if (m > 0 && stats_decompose(&base, &cand, parts, &total, why, sizeof(why)) == 0) {
        r->dec.ok = true;
        r->dec.per_request = total;
        r->dec.parts = xcalloc(m, sizeof(*r->dec.parts));
        r->dec.n_parts = m;
        for (size_t e = 0; e < m; e++) {
            struct detector_part *pt = &r->dec.parts[e];
            pt->endpoint = xstrdup(d->endpoints[e].name);
            pt->rate = parts[e].rate;
            pt->mix = parts[e].mix;
            pt->delta = req[0][e] > 0 && req[1][e] > 0 && ins[0][e] > 0
                            ? (ins[1][e] / req[1][e]) / (ins[0][e] / req[0][e]) - 1.0
                            : NAN;
            r->dec.mix += parts[e].mix;
        }
    }
    for (int s = 0; s < 2; s++) {
        free(req[s]);
        free(ins[s]);
    }
    free(parts);
}

/* The per-user change completes the decomposition; endpoint results take their contribution;
 * the parts are sorted by impact. */
static void attach_parts(struct detector_report *r)
{
    const struct detector_result *pu = &r->results[0];
    if (pu->metric == DETECTOR_PER_USER && pu->res.cmp.ok) {
        r->dec.per_user = pu->res.cmp.delta;
        if (r->dec.ok)
            r->dec.requests_per_user = (1.0 + r->dec.per_user) / (1.0 + r->dec.per_request) - 1.0;
    }
    for (size_t i = 0; i < r->n_results; i++) {
        struct detector_result *res = &r->results[i];
        for (size_t j = 0; res->endpoint && j < r->dec.n_parts; j++)
            if (strcmp(r->dec.parts[j].endpoint, res->endpoint) == 0)
                res->contribution = r->dec.parts[j].rate;
    }
    if (r->dec.n_parts > 1)
        qsort(r->dec.parts, r->dec.n_parts, sizeof(*r->dec.parts), cmp_parts);
}

int detector_cmp_results(const void *a, const void *b)
{
    const struct detector_result *x = a, *y = b;
    if ((x->endpoint == NULL) != (y->endpoint == NULL))
        return x->endpoint == NULL ? -1 : 1;
    if (!x->endpoint)
        return (int)x->metric - (int)y->metric;
    double cx = fabs(x->contribution), cy = fabs(y->contribution);
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return strcmp(x->endpoint, y->endpoint);
}

/* ---- the verdict ---- */

static void verdict_of(struct detector_report *r)
{
    struct buf why = {0};
    size_t regressions = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (!res->gates || res->res.verdict != STATS_REGRESSION)
            continue;
        if (regressions++ < 3)
            buf_printf(&why, "%s%s %+.2f%%", regressions > 1 ? ", " : "",
                       res->endpoint ? res->endpoint : detector_metric_name(res->metric),
                       100.0 * res->res.cmp.delta);
    }
    const struct detector_result *pu = &r->results[0];
    if (regressions > 0) {
        r->verdict = STATS_REGRESSION;
        if (regressions > 3)
            buf_printf(&why, " and %zu more", regressions - 3);
    } else if (pu->res.verdict == STATS_INCONCLUSIVE) {
        r->verdict = STATS_INCONCLUSIVE;
        buf_printf(&why, "instructions per user: %s",
                   pu->note ? pu->note : stats_reason_name(pu->res.reason));
    } else {
        r->verdict = pu->res.verdict;
        buf_printf(&why, "instructions per user %s, no endpoint regressed",
                   stats_verdict_name(pu->res.verdict));
    }
    r->verdict_reason = xstrdup(buf_cstr(&why));
    buf_free(&why);
}

struct detector_report *detector_check(const struct detector_params *p,
                                       const struct detector_data *d, const char *service,
                                       char *err, size_t errlen)
{
    struct detector_report *r =
        detector_report_new(p, service, d->side[0].commit, d->side[1].commit, d->win.deployed_at);
    for (int s = 0; s < 2; s++) {
        r->user_from[s] = d->side[s].user_from_us;
        r->user_to[s] = d->side[s].user_to_us;
        r->samples[s] = d->side[s].samples;
        r->users[s] = d->side[s].users;
    }
    r->complete = d->complete;
    r->user_note = d->user_note;
    for (int s = 0; s < 2; s++) {
        r->from[s] = d->side[s].from_us;
        r->to[s] = d->side[s].to_us;
    }
    size_t cap = 0;
    add_per_user(r, &cap, p, d);
    add_latency(r, &cap, p, d);
    add_endpoints(r, &cap, p, d);
    if (detector_decide(r, p, err, errlen) < 0) {
        detector_report_free(r);
        return NULL;
    }
    decompose(r, d);
    attach_parts(r);
    qsort(r->results, r->n_results, sizeof(*r->results), detector_cmp_results);
    verdict_of(r);
    return r;
}
