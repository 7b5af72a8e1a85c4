/* Flag scans: every flag value seen in a window, per endpoint with against without it, and per
 * user (detector.h). Loading reads the flag rollups (sql/005_trends.sql) next to the window's
 * totals in one snapshot; "without" is the total minus "with". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "load.h"
#include "regressd/db.h"
#include "regressd/detector.h"

/* ---- loading ---- */

struct flags_load {
    PGconn *conn;
    const struct detector_params *p;
    const char *service;
    struct detector_flags_data *fd;
    struct load_names names; /* value key -> index into fd->values */
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN];
    char *err;
    size_t errlen;
};

/* "<length of flag>:<flag><value>": unambiguous whatever bytes the names hold. Flag names and
 * values are at most 64 bytes (CONTRACT section 1), so keys fit VALUE_KEY_MAX. */
#define VALUE_KEY_MAX 200

static void value_key_into(const char *flag, const char *value, char out[VALUE_KEY_MAX])
{
    snprintf(out, VALUE_KEY_MAX, "%zu:%s%s", strlen(flag), flag, value);
}

static char *value_key(const char *flag, const char *value)
{
    char k[VALUE_KEY_MAX];
    value_key_into(flag, value, k);
    return xstrdup(k);
}

static const char *value_key_of(size_t i, void *ctx)
{
    return ((struct detector_flags_data *)ctx)->values[i].key;
}

/* The index of a kept value, or -1 for a value beyond flags_max_values. */
static long find_value(struct flags_load *l, const char *flag, const char *value)
{
    char k[VALUE_KEY_MAX];
    value_key_into(flag, value, k);
    return load_names_find(&l->names, k, value_key_of, l->fd);
}

/* The values, most requested first; the first flags_max_values are kept. */
static int load_values(struct flags_load *l)
{
    const char *params[] = {l->service, l->from, l->to};
    PGresult *res = db_query(l->conn,
                             "SELECT flag, value, requests FROM regressd_flag_requests($1, $2,"
                             " $3) ORDER BY 3 DESC, 1, 2",
                             3, params, l->err, l->errlen);
    if (!res)
        return -1;
    struct detector_flags_data *fd = l->fd;
    size_t n = (size_t)PQntuples(res),
           keep = n < l->p->flags_max_values ? n : l->p->flags_max_values;
    fd->values = xcalloc(keep + 1, sizeof(*fd->values));
    fd->values_dropped = n - keep;
    for (size_t i = 0; i < keep; i++) {
        struct detector_flag_value *v = &fd->values[fd->n_values++];
        v->flag = xstrdup(PQgetvalue(res, (int)i, 0));
        v->value = xstrdup(PQgetvalue(res, (int)i, 1));
        v->key = value_key(v->flag, v->value);
        bool added;
        (void)load_names_index(&l->names, v->key, value_key_of, fd, &added);
    }
    PQclear(res);
    return 0;
}

static int cmp_endpoint_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct detector_span_endpoint *)elem)->name);
}

/* The value's entry for span endpoint ep, added when new (slot: ep -> index + 1, allocated with
 * the first entry). */
static struct detector_flag_endpoint *value_endpoint(struct detector_flag_value *v, size_t ep,
                                                     size_t n_span_endpoints)
{
    if (!v->slot)
        v->slot = xcalloc(n_span_endpoints ? n_span_endpoints : 1, sizeof(*v->slot));
    if (v->slot[ep])
        return &v->endpoints[v->slot[ep] - 1];
    if (v->n_endpoints == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->endpoints = xrealloc(v->endpoints, v->cap * sizeof(*v->endpoints));
    }
    struct detector_flag_endpoint *e = &v->endpoints[v->n_endpoints++];
    memset(e, 0, sizeof(*e));
    e->endpoint = ep;
    v->slot[ep] = (uint32_t)v->n_endpoints;
    return e;
}

/* Adds requests and instructions of bucket b of (value k, endpoint named name); rows of a
 * dropped value, or of an endpoint the span's snapshot lacks, are skipped. */
static void add_sums(struct flags_load *l, long k, const char *name, int b, double req, double ins)
{
    const struct detector_span *sp = &l->fd->span;
    const struct detector_span_endpoint *se =
        bsearch(name, sp->endpoints, sp->n_endpoints, sizeof(*sp->endpoints), cmp_endpoint_name);
    if (k < 0 || b < 0 || b >= l->p->buckets || !se)
        return;
    struct detector_flag_value *v = &l->fd->values[k];
    struct detector_flag_endpoint *e =
        value_endpoint(v, (size_t)(se - sp->endpoints), sp->n_endpoints);
    e->requests[b] += req;
    e->instructions[b] += ins;
    v->requests[b] += req;
    v->instructions[b] += ins;
    v->samples += req;
}

/* A text column of a binary result as a C string (at most SAMPLE_ENDPOINT_MAX bytes). */
static const char *bin_text(PGresult *res, int row, int col, char *out, size_t outlen)
{
    size_t n = (size_t)PQgetlength(res, row, col);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, PQgetvalue(res, row, col), n);
    out[n] = '\0';
    return out;
}

/* A row of rollup_flags (not merged yet: a row per key and batch) or rollup_flag_blocks
 * (merged): flag, value, endpoint, then bucket arrays. */
static int add_row(void *ctx, PGresult *res, int i, const char *table)
{
    struct flags_load *l = ctx;
    char flag[80], value[80], endpoint[320];
    double a[3][DETECTOR_MAX_BUCKETS]; /* buckets, requests, instructions */
    int n;
    if (load_bucket_arrays(res, i, 3, 3, a, &n, table, l->err, l->errlen) < 0)
        return -1;
    long k = find_value(l, bin_text(res, i, 0, flag, sizeof(flag)),
                        bin_text(res, i, 1, value, sizeof(value)));
    bin_text(res, i, 2, endpoint, sizeof(endpoint));
    for (int j = 0; j < n; j++)
        if (a[0][j] >= 0 && a[0][j] < DETECTOR_MAX_BUCKETS)
            add_sums(l, k, endpoint, (int)a[0][j] % l->p->buckets, a[1][j], a[2][j]);
    return 0;
}

static int load_sums(struct flags_load *l)
{
    static const char rows_sql[] = "SELECT flag, value, endpoint, buckets, requests, instructions"
                                   " FROM rollup_flags WHERE service = $1 AND block >= $2 AND"
                                   " block < $3";
    static const char blocks_sql[] = "SELECT flag, value, endpoint, buckets, requests,"
                                     " instructions FROM rollup_flag_blocks WHERE service = $1"
                                     " AND block >= $2 AND block < $3";
    const char *params[] = {l->service, l->from, l->to};
    if (load_binary_rows(l->conn, rows_sql, 3, params, add_row, l, "rollup_flags", l->err,
                         l->errlen) < 0)
        return -1;
    return load_binary_rows(l->conn, blocks_sql, 3, params, add_row, l, "rollup_flag_blocks",
                            l->err, l->errlen);
}

static int load_value_users(struct flags_load *l)
{
    const char *params[] = {l->service, l->from, l->to};
    PGresult *res = db_query_binary(l->conn,
                                    "SELECT flag, value, user_hashes FROM rollup_flag_users WHERE"
                                    " service = $1 AND block >= $2 AND block < $3",
                                    3, params, l->err, l->errlen);
    if (!res)
        return -1;
    struct detector_flags_data *fd = l->fd;
    struct uset *sets = xcalloc(fd->n_values + 1, sizeof(*sets));
    for (size_t i = 0; i < fd->n_values; i++)
        uset_init(&sets[i]);
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        /* binary text values are the bytes themselves, not NUL-terminated: copy */
        char *flag = xstrndup(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
        char *value = xstrndup(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        long k = find_value(l, flag, value);
        free(flag);
        free(value);
        if (k >= 0)
            rc = load_hashes(PQgetvalue(res, i, 2), PQgetlength(res, i, 2), &sets[k], NULL, l->err,
                             l->errlen);
    }
    PQclear(res);
    for (size_t i = 0; i < fd->n_values; i++) {
        fd->values[i].users =
            (int64_t)uset_distinct(&sets[i], fd->values[i].users_b, l->p->buckets);
        uset_free(&sets[i]);
    }
    free(sets);
    return rc;
}

int detector_flags_load(PGconn *conn, const struct detector_params *p, const char *service,
                        int64_t from_us, int64_t to_us, int64_t now_us,
                        struct detector_flags_data *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->now_us = now_us;
    struct flags_load l = {
        .conn = conn, .p = p, .service = service, .fd = out, .err = err, .errlen = errlen};
    util_format_ts(from_us, l.from);
    util_format_ts(to_us, l.to);
    if (detector_read_begin(conn, err, errlen) < 0)
        return -1;
    bool ok =
        detector_span_load_in(conn, p, service, from_us, to_us, &out->span, err, errlen) == 0 &&
        load_values(&l) == 0 && load_sums(&l) == 0 && load_value_users(&l) == 0;
    int rc = detector_read_end(conn, ok, err, errlen);
    load_names_free(&l.names);
    if (rc < 0)
        detector_flags_data_free(out);
    return rc;
}

void detector_flags_data_free(struct detector_flags_data *fd)
{
    if (!fd)
        return;
    for (size_t i = 0; i < fd->n_values; i++) {
        free(fd->values[i].flag);
        free(fd->values[i].value);
        free(fd->values[i].key);
        free(fd->values[i].endpoints);
        free(fd->values[i].slot);
    }
    free(fd->values);
    detector_span_free(&fd->span);
    memset(fd, 0, sizeof(*fd));
}

/* ---- the comparison ---- */

static double total(const double *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* out = all − part per bucket; never negative (the flag rows of a block can be ahead of the
 * totals' when compaction and ingest interleave). */
static void minus(const double *all, const double *part, int n, double *out)
{
    for (int b = 0; b < n; b++)
        out[b] = all[b] > part[b] ? all[b] - part[b] : 0.0;
}

static bool lopsided(const struct detector_params *p, double share)
{
    return share < p->flags_min_share || share > 1.0 - p->flags_min_share;
}

static struct detector_result *flag_result(struct detector_report *r, size_t *cap,
                                           const struct detector_params *p, enum detector_metric m,
                                           const char *endpoint,
                                           const struct detector_flag_value *v)
{
    struct detector_result *res = detector_add_result(
        r, cap, m, endpoint, endpoint ? detector_min_effect(p, endpoint) : p->rule.min_effect);
    res->flag_name = xstrdup(v->flag);
    res->flag_value = xstrdup(v->value);
    return res;
}

static const char *const NO_GROUP = "the value is on almost all or almost none of the traffic: "
                                    "no comparison group (flags.min_share_pct)";

static void add_value_per_user(struct detector_report *r, size_t *cap,
                               const struct detector_params *p, const struct detector_span *sp,
                               const struct detector_flag_value *v)
{
    int n = p->buckets;
    struct detector_result *res = flag_result(r, cap, p, DETECTOR_PER_USER, NULL, v);
    res->in.cand_samples = (int64_t)v->samples;
    res->in.base_samples = (int64_t)(sp->samples - v->samples);
    res->in.cand_users = v->users;
    res->in.base_users = sp->users - v->users;
    if (sp->users <= 0 || lopsided(p, (double)v->users / (double)sp->users)) {
        res->note = NO_GROUP;
        return; /* estimates stay not ok: inconclusive, not tested */
    }
    double y[DETECTOR_MAX_BUCKETS], x[DETECTOR_MAX_BUCKETS];
    minus(sp->instructions, v->instructions, n, y);
    minus(sp->users_b, v->users_b, n, x);
    detector_estimate(y, x, n, &res->in.base, &res->note);
    detector_estimate(v->instructions, v->users_b, n, &res->in.cand, &res->note);
}

static void add_value_endpoints(struct detector_report *r, size_t *cap,
                                const struct detector_params *p, const struct detector_span *sp,
                                const struct detector_flag_value *v)
{
    int n = p->buckets;
    double min = (double)p->rule.min_samples;
    for (size_t i = 0; i < v->n_endpoints; i++) {
        const struct detector_flag_endpoint *fe = &v->endpoints[i];
        const struct detector_span_endpoint *se = &sp->endpoints[fe->endpoint];
        double all = total(se->requests, n), with = total(fe->requests, n);
        if (all < min) {
            r->endpoints_skipped++;
            continue;
        }
        bool no_group = lopsided(p, with / all);
        if (!no_group && (with < min || all - with < min)) {
            r->endpoints_skipped++;
            continue;
        }
        struct detector_result *res = flag_result(r, cap, p, DETECTOR_PER_REQUEST, se->name, v);
        res->in.cand_samples = (int64_t)with;
        res->in.base_samples = (int64_t)(all - with);
        res->in.cand_users = v->users;
        res->in.base_users = sp->users - v->users;
        if (no_group) {
            res->note = NO_GROUP;
            continue;
        }
        double y[DETECTOR_MAX_BUCKETS], x[DETECTOR_MAX_BUCKETS];
        minus(se->instructions, fe->instructions, n, y);
        minus(se->requests, fe->requests, n, x);
        detector_estimate(y, x, n, &res->in.base, &res->note);
        detector_estimate(fe->instructions, fe->requests, n, &res->in.cand, &res->note);
    }
}

static int verdict_rank(enum stats_verdict v)
{
    switch (v) {
    case STATS_REGRESSION:
        return 0;
    case STATS_IMPROVEMENT:
        return 1;
    case STATS_NO_CHANGE:
        return 2;
    case STATS_INCONCLUSIVE:
        return 3;
    }
    return 4;
}

/* Regressions first, then improvements, ...; within a verdict by flag, value, service level
 * first, endpoint. */
static int cmp_flag_results(const void *a, const void *b)
{
    const struct detector_result *x = a, *y = b;
    int c = verdict_rank(x->res.verdict) - verdict_rank(y->res.verdict);
    if (c == 0)
        c = strcmp(x->flag_name, y->flag_name);
    if (c == 0)
        c = strcmp(x->flag_value, y->flag_value);
    if (c == 0 && (x->endpoint == NULL) != (y->endpoint == NULL))
        c = x->endpoint == NULL ? -1 : 1;
    if (c == 0 && x->endpoint)
        c = strcmp(x->endpoint, y->endpoint);
    return c;
}

static void flags_verdict(struct detector_report *r)
{
    struct buf why = {0};
    size_t regressions = 0, tested = 0, improvements = 0;
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        tested += res->res.tested;
        improvements += res->res.verdict == STATS_IMPROVEMENT;
        if (res->res.verdict != STATS_REGRESSION)
            continue;
        if (regressions++ < 3)
            buf_printf(&why, "%s%s=%s %s %+.2f%%", regressions > 1 ? ", " : "", res->flag_name,
                       res->flag_value, res->endpoint ? res->endpoint : "per user",
                       100.0 * res->res.cmp.delta);
    }
    if (regressions > 0) {
        r->verdict = STATS_REGRESSION;
        if (regressions > 3)
            buf_printf(&why, " and %zu more", regressions - 3);
    } else if (r->flag_values == 0) {
        r->verdict = STATS_NO_CHANGE;
        buf_printf(&why, "no flag values in the window");
    } else if (tested == 0) {
        r->verdict = STATS_INCONCLUSIVE;
        buf_printf(&why, "no flag value has enough data with and without it");
    } else {
        r->verdict = improvements ? STATS_IMPROVEMENT : STATS_NO_CHANGE;
        buf_printf(&why, "%zu comparison(s) of %zu flag value(s), none regressed", tested,
                   r->flag_values);
    }
    r->verdict_reason = xstrdup(buf_cstr(&why));
    buf_free(&why);
}

struct detector_report *detector_flags_check(const struct detector_params *p,
                                             const struct detector_flags_data *fd,
                                             const char *service, char *err, size_t errlen)
{
    const struct detector_span *sp = &fd->span;
    struct detector_report *r = detector_report_new(p, service, NULL, NULL, sp->from_us);
    free(r->kind);
    r->kind = xstrdup("flag");
    r->label[0] = xstrdup("requests without the flag value");
    r->label[1] = xstrdup("requests with the flag value");
    for (int s = 0; s < 2; s++) {
        r->from[s] = sp->from_us;
        r->to[s] = sp->to_us;
        r->samples[s] = sp->samples;
        r->users[s] = sp->users;
    }
    r->window_us = sp->to_us - sp->from_us;
    r->complete = fd->now_us >= sp->to_us;
    r->flag_values = fd->n_values;
    r->flag_values_dropped = fd->values_dropped;
    size_t cap = 0;
    for (size_t i = 0; i < fd->n_values; i++) {
        add_value_per_user(r, &cap, p, sp, &fd->values[i]);
        add_value_endpoints(r, &cap, p, sp, &fd->values[i]);
    }
    if (detector_decide(r, p, err, errlen) < 0) {
        detector_report_free(r);
        return NULL;
    }
    if (r->n_results > 1)
        qsort(r->results, r->n_results, sizeof(*r->results), cmp_flag_results);
    flags_verdict(r);
    return r;
}

struct detector_report *detector_flags(PGconn *conn, const struct detector_params *p,
                                       const char *service, int64_t window_us, int64_t at_us,
                                       int64_t now_us, char *err, size_t errlen)
{
    if (window_us < DETECTOR_BLOCK_US || window_us % DETECTOR_BLOCK_US != 0) {
        snprintf(err, errlen, "--window: must be a whole number of 10 minutes (10m, 1h, 1d)");
        return NULL;
    }
    int64_t to = detector_floor_block(at_us);
    struct detector_flags_data fd;
    if (detector_flags_load(conn, p, service, to - window_us, to, now_us, &fd, err, errlen) < 0)
        return NULL;
    struct detector_report *r = detector_flags_check(p, &fd, service, err, errlen);
    detector_flags_data_free(&fd);
    return r;
}
