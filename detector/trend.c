/* Trends: a window of a service against the same window `offset` earlier, every commit, for
 * the service's instructions per user and the heaviest endpoints; the deploys and flag changes
 * between the two windows are named as suspects. The comparison is detector_check's, over a
 * detector_data whose sides are the two windows (a per-user window is the whole window: both
 * are of the same length, so distinct users are comparable). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "regressd/db.h"
#include "regressd/detector.h"

#define SUSPECTS_MAX 20

int detector_trend_windows(int64_t at_us, int64_t window_us, int64_t offset_us, int64_t from[2],
                           int64_t to[2], char *err, size_t errlen)
{
    if (window_us < DETECTOR_BLOCK_US || window_us % DETECTOR_BLOCK_US != 0) {
        snprintf(err, errlen, "--window: must be a whole number of 10 minutes (10m, 1h, 1d, 1w)");
        return -1;
    }
    if (offset_us < window_us || offset_us % DETECTOR_BLOCK_US != 0) {
        snprintf(err, errlen,
                 "--offset: must be a whole number of 10 minutes and at least the window (the "
                 "two windows may not overlap)");
        return -1;
    }
    to[1] = detector_floor_block(at_us);
    from[1] = to[1] - window_us;
    to[0] = to[1] - offset_us;
    from[0] = from[1] - offset_us;
    return 0;
}

static double total(const double *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

static void side_from_span(struct detector_side *sd, const struct detector_span *sp, int n)
{
    sd->from_us = sd->user_from_us = sp->from_us;
    sd->to_us = sd->user_to_us = sp->to_us;
    sd->samples = sp->samples;
    sd->users = sp->users;
    memcpy(sd->latency_n, sp->latency_n, (size_t)n * sizeof(double));
    memcpy(sd->latency_us, sp->latency_us, (size_t)n * sizeof(double));
    memcpy(sd->user_requests, sp->requests, (size_t)n * sizeof(double));
    memcpy(sd->user_instructions, sp->instructions, (size_t)n * sizeof(double));
    memcpy(sd->user_users, sp->users_b, (size_t)n * sizeof(double));
}

struct weight {
    size_t i;
    double instructions;
};

static int cmp_weight(const void *a, const void *b)
{
    double x = ((const struct weight *)a)->instructions,
           y = ((const struct weight *)b)->instructions;
    return x > y ? -1 : x < y;
}

/* Marks light every endpoint outside the heaviest (by instructions over both windows) that
 * together carry p->trend_coverage of the service's instructions, at most trend_max_endpoints. */
static void mark_light(const struct detector_params *p, struct detector_data *d)
{
    struct weight *w = xcalloc(d->n_endpoints ? d->n_endpoints : 1, sizeof(*w));
    double all = 0.0;
    for (size_t i = 0; i < d->n_endpoints; i++) {
        w[i].i = i;
        for (int s = 0; s < 2; s++)
            w[i].instructions += total(d->endpoints[i].instructions[s], d->buckets);
        all += w[i].instructions;
        d->endpoints[i].light = true;
    }
    qsort(w, d->n_endpoints, sizeof(*w), cmp_weight);
    double covered = 0.0;
    for (size_t k = 0; k < d->n_endpoints && k < p->trend_max_endpoints; k++) {
        if (covered >= p->trend_coverage * all || w[k].instructions <= 0.0)
            break;
        d->endpoints[w[k].i].light = false;
        covered += w[k].instructions;
    }
    free(w);
}

void detector_trend_data(const struct detector_params *p, const struct detector_span *base,
                         const struct detector_span *cand, int64_t now_us,
                         struct detector_data *out)
{
    memset(out, 0, sizeof(*out));
    int n = p->buckets;
    out->buckets = n;
    out->now_us = now_us;
    out->complete = now_us >= cand->to_us;
    out->win = (struct detector_windows){.deployed_at = cand->from_us,
                                         .base_from = base->from_us,
                                         .cand_from = cand->from_us,
                                         .to = cand->to_us};
    side_from_span(&out->side[0], base, n);
    side_from_span(&out->side[1], cand, n);
    out->candidate_seen = cand->samples > 0.0;
    /* both spans are sorted by name: merge */
    out->endpoints = xcalloc(base->n_endpoints + cand->n_endpoints + 1, sizeof(*out->endpoints));
    size_t i = 0, j = 0;
    while (i < base->n_endpoints || j < cand->n_endpoints) {
        int c = i == base->n_endpoints   ? 1
                : j == cand->n_endpoints ? -1
                                         : strcmp(base->endpoints[i].name, cand->endpoints[j].name);
        struct detector_endpoint_data *e = &out->endpoints[out->n_endpoints++];
        const struct detector_span_endpoint *b = c <= 0 ? &base->endpoints[i++] : NULL;
        const struct detector_span_endpoint *k = c >= 0 ? &cand->endpoints[j++] : NULL;
        e->name = xstrdup(b ? b->name : k->name);
        if (b) {
            memcpy(e->requests[0], b->requests, (size_t)n * sizeof(double));
            memcpy(e->instructions[0], b->instructions, (size_t)n * sizeof(double));
        }
        if (k) {
            memcpy(e->requests[1], k->requests, (size_t)n * sizeof(double));
            memcpy(e->instructions[1], k->instructions, (size_t)n * sizeof(double));
        }
    }
    mark_light(p, out);
}

/* ---- suspects ---- */

static void deploy_suspects(PGresult *res, json_t *out)
{
    for (int i = 0; i < PQntuples(res) && json_array_size(out) < SUSPECTS_MAX; i++) {
        const char *commit = PQgetvalue(res, i, 0), *at = PQgetvalue(res, i, 1);
        char label[256];
        snprintf(label, sizeof(label), "deploy of %.16s at %.16sZ%s%s", commit, at,
                 PQgetisnull(res, i, 2) ? "" : ", verdict ",
                 PQgetisnull(res, i, 2) ? "" : PQgetvalue(res, i, 2));
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s?}", "type", "deploy", "label", label,
                           "commit", commit, "deploy_id",
                           (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10), "deployed_at", at,
                           "verdict", PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2)));
    }
}

struct shift {
    const char *flag, *value;
    double before, after; /* shares of requests */
};

static int cmp_shift(const void *a, const void *b)
{
    const struct shift *x = a, *y = b;
    double dx = fabs(x->after - x->before), dy = fabs(y->after - y->before);
    return dx > dy ? -1 : dx < dy;
}

static void flag_suspects(const struct detector_params *p, PGresult *res, double samples[2],
                          json_t *out)
{
    int n = PQntuples(res);
    struct shift *sh = xcalloc((size_t)n + 1, sizeof(*sh));
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        double b = strtod(PQgetvalue(res, i, 2), NULL), c = strtod(PQgetvalue(res, i, 3), NULL);
        struct shift s = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                          samples[0] > 0 ? b / samples[0] : 0.0,
                          samples[1] > 0 ? c / samples[1] : 0.0};
        if (fabs(s.after - s.before) >= p->trend_flag_shift)
            sh[m++] = s;
    }
    qsort(sh, m, sizeof(*sh), cmp_shift);
    for (size_t i = 0; i < m && json_array_size(out) < SUSPECTS_MAX; i++) {
        char label[256];
        snprintf(label, sizeof(label), "flag %.64s=%.64s: %.1f%% -> %.1f%% of requests", sh[i].flag,
                 sh[i].value, 100.0 * sh[i].before, 100.0 * sh[i].after);
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "type", "flag", "label", label, "name",
                           sh[i].flag, "value", sh[i].value, "share_baseline_pct",
                           100.0 * sh[i].before, "share_candidate_pct", 100.0 * sh[i].after));
    }
    free(sh);
}

/* Deploys of the service from the baseline window's start to the candidate window's end, and
 * flag values whose share of the requests moved by trend_flag_shift or more. */
static int load_suspects(PGconn *conn, const struct detector_params *p, const char *service,
                         const struct detector_data *d, json_t **out, char *err, size_t errlen)
{
    char t[4][UTIL_TS_BUFLEN];
    util_format_ts(d->side[0].from_us, t[0]);
    util_format_ts(d->side[0].to_us, t[1]);
    util_format_ts(d->side[1].from_us, t[2]);
    util_format_ts(d->side[1].to_us, t[3]);
    const char *dp[] = {service, t[0], t[3]};
    PGresult *res = db_query(conn,
                             "SELECT \"commit\", regressd_rfc3339(deployed_at), verdict, id FROM"
                             " deploys WHERE service = $1 AND deployed_at >= $2 AND deployed_at"
                             " < $3 ORDER BY deployed_at, id",
                             3, dp, err, errlen);
    if (!res)
        return -1;
    *out = json_array();
    deploy_suspects(res, *out);
    PQclear(res);
    const char *fp[] = {service, t[0], t[1], t[2], t[3]};
    res = db_query(conn,
                   "SELECT coalesce(b.flag, c.flag), coalesce(b.value, c.value),"
                   " coalesce(b.requests, 0), coalesce(c.requests, 0) FROM"
                   " regressd_flag_requests($1, $2, $3) b FULL JOIN regressd_flag_requests($1, $4,"
                   " $5) c ON b.flag = c.flag AND b.value = c.value",
                   5, fp, err, errlen);
    if (!res) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    double samples[2] = {d->side[0].samples, d->side[1].samples};
    flag_suspects(p, res, samples, *out);
    PQclear(res);
    return 0;
}

static char *window_label(int64_t from, int64_t to, int64_t offset_us)
{
    char f[UTIL_TS_BUFLEN], t[UTIL_TS_BUFLEN], o[32], label[160];
    util_format_ts(from, f);
    util_format_ts(to, t);
    if (offset_us) {
        util_format_duration(offset_us / 1000000, o, sizeof(o));
        snprintf(label, sizeof(label), "%s earlier (%.16sZ..%.16sZ)", o, f, t);
    } else {
        snprintf(label, sizeof(label), "%.16sZ..%.16sZ", f, t);
    }
    return xstrdup(label);
}

struct detector_report *detector_trend(PGconn *conn, const struct detector_params *p,
                                       const char *service, int64_t window_us, int64_t offset_us,
                                       int64_t at_us, int64_t now_us, char *err, size_t errlen)
{
    int64_t from[2], to[2];
    if (detector_trend_windows(at_us, window_us, offset_us, from, to, err, errlen) < 0)
        return NULL;
    struct detector_span span[2] = {0};
    if (detector_read_begin(conn, err, errlen) < 0)
        return NULL;
    /* both windows in one snapshot (compaction may commit in between) */
    bool ok = detector_span_load_in(conn, p, service, from[0], to[0], &span[0], err, errlen) == 0 &&
              detector_span_load_in(conn, p, service, from[1], to[1], &span[1], err, errlen) == 0;
    if (detector_read_end(conn, ok, err, errlen) < 0) {
        detector_span_free(&span[0]);
        detector_span_free(&span[1]);
        return NULL;
    }
    struct detector_data d;
    detector_trend_data(p, &span[0], &span[1], now_us, &d);
    detector_span_free(&span[0]);
    detector_span_free(&span[1]);
    struct detector_report *r = detector_check(p, &d, service, err, errlen);
    json_t *suspects = NULL;
    if (r && load_suspects(conn, p, service, &d, &suspects, err, errlen) < 0) {
        detector_report_free(r);
        r = NULL;
    }
    detector_data_free(&d);
    if (!r)
        return NULL;
    free(r->kind);
    r->kind = xstrdup("trend");
    r->label[0] = window_label(from[0], to[0], offset_us);
    r->label[1] = window_label(from[1], to[1], 0);
    r->window_us = window_us;
    r->offset_us = offset_us;
    r->suspects = suspects;
    return r;
}
