/* Loading a deploy's data from the rollups: per (endpoint, bucket) sums over the per-request
 * windows, per (block, bucket) totals for the service level and the rollout detection, and the
 * distinct users of both sides. Whole compacted blocks are read from the block tables and
 * everything else from the minute tables (see sql/003_deploys.sql); compaction runs oldest
 * first, so the minute tables are read from the first block that is not clean onwards only.
 * Distinct users are counted here, in C, from the user hash arrays (fetched in binary, radix
 * sorted): that is several times faster than count(DISTINCT) over unnest() in PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "load.h"
#include "regressd/db.h"
#include "regressd/detector.h"
#include "uset.h"

/* The two commits, the block grid of [Bs, Ce) and the totals per (side, block, bucket). */
struct load {
    PGconn *conn;
    const struct detector_params *p;
    const char *service;
    struct detector_data *d;
    int64_t first_unclean; /* start of the first block not clean, or Ce */
    struct buf clean;      /* array literal of the clean blocks */
    size_t nblocks;
    double *req[2], *ins[2], *lat_n[2], *lat_us[2]; /* [side][block * 64 + bucket] */
    double *other;           /* [block]: requests of the service's other commits */
    struct load_names names; /* endpoint name -> index into d->endpoints */
    size_t endpoints_cap;
    char *err;
    size_t errlen;
};

static void ts_param(int64_t us, char out[UTIL_TS_BUFLEN])
{
    util_format_ts(us, out);
}

/* Blocks of [Bs, Ce) that are compacted and not dirty for this service. */
static int load_clean_blocks(struct load *l)
{
    return detector_clean_blocks(l->conn, l->service, l->d->win.base_from, l->d->win.to, &l->clean,
                                 &l->first_unclean, l->err, l->errlen);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The parameters every query takes: $1 service, $2 baseline, $3 candidate, $4 B, $5 clean
 * blocks, $6 Ce; minute-table lower bounds $7 (baseline) and $8 (candidate); block-table lower
 * bounds $9 (baseline) and $10 (candidate). */
struct qparams {
    char buckets[8], to[UTIL_TS_BUFLEN];
    char min_lo[2][UTIL_TS_BUFLEN], blk_lo[2][UTIL_TS_BUFLEN];
    const char *v[10];
};

static void qparams_init(struct load *l, int64_t base_lo, int64_t cand_lo, struct qparams *q)
{
    snprintf(q->buckets, sizeof(q->buckets), "%d", l->p->buckets);
    ts_param(l->d->win.to, q->to);
    ts_param(max64(base_lo, l->first_unclean), q->min_lo[0]);
    ts_param(max64(cand_lo, l->first_unclean), q->min_lo[1]);
    ts_param(base_lo, q->blk_lo[0]);
    ts_param(cand_lo, q->blk_lo[1]);
    const char *v[] = {
        l->service, l->d->side[0].commit, l->d->side[1].commit, q->buckets,   buf_cstr(&l->clean),
        q->to,      q->min_lo[0],         q->min_lo[1],         q->blk_lo[0], q->blk_lo[1]};
    memcpy(q->v, v, sizeof(v));
}

#define WHERE_MINUTES                                                                              \
    " WHERE service = $1 AND minute < $6"                                                          \
    " AND ((\"commit\" = $2 AND minute >= $7) OR (\"commit\" = $3 AND minute >= $8))"              \
    " AND NOT (regressd_block_of(minute) = ANY ($5::timestamptz[]))"
#define WHERE_BLOCKS                                                                               \
    " WHERE service = $1 AND block < $6"                                                           \
    " AND ((\"commit\" = $2 AND block >= $9) OR (\"commit\" = $3 AND block >= $10))"               \
    " AND block = ANY ($5::timestamptz[])"

/* ---- totals per (side, block, bucket) ---- */

static void alloc_totals(struct load *l)
{
    l->nblocks = (size_t)((l->d->win.to - l->d->win.base_from) / DETECTOR_BLOCK_US);
    size_t n = l->nblocks * DETECTOR_MAX_BUCKETS;
    for (int s = 0; s < 2; s++) {
        l->req[s] = xcalloc(n, sizeof(double));
        l->ins[s] = xcalloc(n, sizeof(double));
        l->lat_n[s] = xcalloc(n, sizeof(double));
        l->lat_us[s] = xcalloc(n, sizeof(double));
    }
    l->other = xcalloc(l->nblocks, sizeof(double));
}

static void free_totals(struct load *l)
{
    for (int s = 0; s < 2; s++) {
        free(l->req[s]);
        free(l->ins[s]);
        free(l->lat_n[s]);
        free(l->lat_us[s]);
    }
    free(l->other);
}

/* Adds the sums of one (kind 0 baseline, 1 candidate, 2 any other commit; block; bucket). */
static int add_total(struct load *l, int kind, int64_t blk, int b, double req, double ins,
                     double lat_n, double lat_us)
{
    int64_t k = (blk - l->d->win.base_from) / DETECTOR_BLOCK_US;
    if (k < 0 || (size_t)k >= l->nblocks || b < 0 || b >= l->p->buckets || kind < 0 || kind > 2) {
        snprintf(l->err, l->errlen, "rollup totals: block or bucket out of range");
        return -1;
    }
    if (kind == 2) {
        l->other[k] += req;
        return 0;
    }
    size_t at = (size_t)k * DETECTOR_MAX_BUCKETS + (size_t)b;
    l->req[kind][at] += req;
    l->ins[kind][at] += ins;
    l->lat_n[kind][at] += lat_n;
    l->lat_us[kind][at] += lat_us;
    return 0;
}

/* A row of rollup_block_totals, grouped (kind, block, bucket, sums). */
static int store_total(struct load *l, PGresult *res, int i)
{
    return add_total(l, atoi(PQgetvalue(res, i, 0)), strtoll(PQgetvalue(res, i, 1), NULL, 10),
                     atoi(PQgetvalue(res, i, 2)), strtod(PQgetvalue(res, i, 3), NULL),
                     strtod(PQgetvalue(res, i, 4), NULL), strtod(PQgetvalue(res, i, 5), NULL),
                     strtod(PQgetvalue(res, i, 6), NULL));
}

/* A rollups row of a block not compacted, binary: kind (int4), block (int8 µs), then the bucket
 * arrays (buckets, requests, instructions, latency_n, latency_us). */
static int store_minute_row(void *ctx, PGresult *res, int i, const char *table)
{
    struct load *l = ctx;
    double a[5][DETECTOR_MAX_BUCKETS];
    int n;
    if (PQgetlength(res, i, 0) != 4 || PQgetlength(res, i, 1) != 8) {
        snprintf(l->err, l->errlen, "%s: unexpected column types", table);
        return -1;
    }
    if (load_bucket_arrays(res, i, 2, 5, a, &n, table, l->err, l->errlen) < 0)
        return -1;
    int kind = (int)load_be32(PQgetvalue(res, i, 0));
    int64_t blk = load_be64(PQgetvalue(res, i, 1));
    for (int k = 0; k < n; k++) {
        int b = (int)a[0][k];
        if (b >= 0 && b < DETECTOR_MAX_BUCKETS &&
            add_total(l, kind, blk, b % l->p->buckets, a[1][k], a[2][k], a[3][k], a[4][k]) < 0)
            return -1;
    }
    return 0;
}

/* Every commit of the service over the whole of [Bs, Ce): the rollout detection needs the
 * candidate's traffic before the deploy time and the other commits' (a later deploy). */
static int load_totals(struct load *l)
{
    static const char blocks_sql[] =
        "SELECT CASE \"commit\" WHEN $3 THEN 1 WHEN $2 THEN 0 ELSE 2 END, (extract(epoch FROM"
        " block) * 1000000)::bigint, bucket % $4::int, sum(requests), sum(instructions),"
        " sum(latency_n), sum(latency_us) FROM rollup_block_totals WHERE service = $1 AND block >="
        " $6 AND block < $5 AND block = ANY ($7::timestamptz[]) GROUP BY 1, 2, 3";
    static const char minutes_sql[] =
        "SELECT CASE \"commit\" WHEN $3 THEN 1 WHEN $2 THEN 0 ELSE 2 END, (extract(epoch FROM"
        " regressd_block_of(minute)) * 1000000)::bigint, buckets, requests, instructions,"
        " latency_n, latency_us FROM rollups WHERE service = $1 AND minute >= $5 AND minute < $4"
        " AND NOT (regressd_block_of(minute) = ANY ($6::timestamptz[]))";
    struct qparams q;
    qparams_init(l, l->d->win.base_from, l->d->win.base_from, &q);
    const char *bv[] = {q.v[0], q.v[1], q.v[2], q.v[3], q.v[5], q.v[8], q.v[4]};
    PGresult *res = db_query(l->conn, blocks_sql, 7, bv, l->err, l->errlen);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = store_total(l, res, i);
    PQclear(res);
    if (rc < 0)
        return -1;
    const char *mv[] = {q.v[0], q.v[1], q.v[2], q.v[5], q.v[6], q.v[4]};
    return load_binary_rows(l->conn, minutes_sql, 6, mv, store_minute_row, l, "rollups", l->err,
                            l->errlen);
}

/* ---- the per-request windows' side totals, and the per-user windows ---- */

static void sum_blocks(struct load *l, int64_t from, int64_t to, double *const *src,
                       double *const *dst, int n)
{
    for (int64_t t = from; t < to; t += DETECTOR_BLOCK_US) {
        size_t k = (size_t)((t - l->d->win.base_from) / DETECTOR_BLOCK_US);
        for (int b = 0; b < l->p->buckets; b++)
            for (int j = 0; j < n; j++)
                dst[j][b] += src[j][k * DETECTOR_MAX_BUCKETS + (size_t)b];
    }
}

static double block_requests(struct load *l, int side, size_t k)
{
    double sum = 0.0;
    for (int b = 0; b < l->p->buckets; b++)
        sum += l->req[side][k * DETECTOR_MAX_BUCKETS + (size_t)b];
    return sum;
}

/* Share of a side's commit in the service's requests of the block at t; -1 without traffic. */
static double share_at(struct load *l, int side, int64_t t)
{
    size_t k = (size_t)((t - l->d->win.base_from) / DETECTOR_BLOCK_US);
    double b = block_requests(l, 0, k), c = block_requests(l, 1, k), all = b + c + l->other[k];
    return all > 0.0 ? (side ? c : b) / all : -1.0;
}

static bool pure_at(struct load *l, int side, int64_t t)
{
    return share_at(l, side, t) >= DETECTOR_PURE_SHARE;
}

static void side_totals(struct load *l)
{
    for (int s = 0; s < 2; s++) {
        struct detector_side *sd = &l->d->side[s];
        double *src[] = {l->req[s], l->lat_n[s], l->lat_us[s]};
        double req[DETECTOR_MAX_BUCKETS] = {0};
        double *dst[] = {req, sd->latency_n, sd->latency_us};
        sum_blocks(l, sd->from_us, sd->to_us, src, dst, 3);
        for (int b = 0; b < l->p->buckets; b++)
            sd->samples += req[b];
    }
}

/* The per-user windows (detector.h): S = the rollout's first block, [R, E) the first run of
 * complete blocks the candidate served alone, [S0, S) the run before S the baseline served
 * alone; both windows take the length L of the shorter run. A later deploy ends the first run. */
static const char *user_windows(struct load *l, int64_t *base_from, int64_t *cand_from,
                                int64_t *len)
{
    struct detector_data *d = l->d;
    int64_t bs = d->win.base_from, step = DETECTOR_BLOCK_US, s = -1, r, e, s0;
    int64_t now_block = d->now_us - (d->now_us % step + step) % step;
    int64_t end = d->win.to < now_block ? d->win.to : now_block;
    for (int64_t t = bs; t < d->win.to && s < 0; t += step)
        if (share_at(l, 1, t) > 1.0 - DETECTOR_PURE_SHARE)
            s = t;
    if (s < 0)
        return "no traffic of the candidate commit";
    r = s > d->win.cand_from ? s : d->win.cand_from;
    if (end <= r)
        return "no complete block of the candidate window yet";
    while (r < end && !pure_at(l, 1, r))
        r += step;
    if (r == end)
        return "the rollout is not over: the candidate serves less than 99.5% of the "
               "requests in every complete block since it started";
    for (e = r; e < end && pure_at(l, 1, e);)
        e += step;
    for (s0 = s; s0 > bs && pure_at(l, 0, s0 - step);)
        s0 -= step;
    if (s0 == s)
        return "no block before the rollout that the baseline commit served alone";
    *len = e - r < s - s0 ? e - r : s - s0;
    *base_from = s - *len;
    *cand_from = r;
    return NULL;
}

static void load_user_windows(struct load *l)
{
    int64_t base_from, cand_from, len;
    struct detector_data *d = l->d;
    d->user_note = user_windows(l, &base_from, &cand_from, &len);
    if (d->user_note)
        return;
    d->side[0].user_from_us = base_from;
    d->side[1].user_from_us = cand_from;
    for (int s = 0; s < 2; s++) {
        struct detector_side *sd = &d->side[s];
        sd->user_to_us = sd->user_from_us + len;
        double *src[] = {l->req[s], l->ins[s]};
        double *dst[] = {sd->user_requests, sd->user_instructions};
        sum_blocks(l, sd->user_from_us, sd->user_to_us, src, dst, 2);
    }
}

/* ---- per (endpoint, bucket) ---- */

static const char *endpoint_name(size_t i, void *ctx)
{
    return ((struct detector_data *)ctx)->endpoints[i].name;
}

/* The endpoint's index in d->endpoints, added when new. */
static size_t endpoint_index(struct load *l, const char *name)
{
    struct detector_data *d = l->d;
    bool added;
    size_t i = load_names_index(&l->names, name, endpoint_name, d, &added);
    if (!added)
        return i;
    if (d->n_endpoints == l->endpoints_cap) {
        l->endpoints_cap = l->endpoints_cap ? l->endpoints_cap * 2 : 64;
        d->endpoints = xrealloc(d->endpoints, l->endpoints_cap * sizeof(*d->endpoints));
    }
    struct detector_endpoint_data *e = &d->endpoints[d->n_endpoints++];
    memset(e, 0, sizeof(*e));
    e->name = xstrdup(name);
    return i;
}

/* One row of rollups or rollup_blocks: the candidate's or not, the endpoint, then arrays
 * aligned with its buckets. */
static int add_endpoint_row(void *ctx, PGresult *res, int i, const char *table)
{
    struct load *l = ctx;
    double a[3][DETECTOR_MAX_BUCKETS]; /* buckets, requests, instructions */
    int n, side = PQgetvalue(res, i, 0)[0] != 0;
    if (load_bucket_arrays(res, i, 2, 3, a, &n, table, l->err, l->errlen) < 0)
        return -1;
    size_t at = endpoint_index(l, PQgetvalue(res, i, 1)); /* may move d->endpoints */
    struct detector_endpoint_data *e = &l->d->endpoints[at];
    for (int k = 0; k < n; k++) {
        int b = (int)a[0][k];
        if (b < 0 || b >= DETECTOR_MAX_BUCKETS)
            continue;
        e->requests[side][b % l->p->buckets] += a[1][k];
        e->instructions[side][b % l->p->buckets] += a[2][k];
    }
    return 0;
}

/* Blocks not clean, from the minute table: a row per (endpoint, commit, minute) and batch. */
static int load_endpoint_minutes(struct load *l)
{
    static const char sql[] =
        "SELECT \"commit\" = $3, endpoint, buckets, requests, instructions FROM rollups"
        " WHERE service = $1 AND minute < $5 AND ((\"commit\" = $2 AND minute >= $6) OR"
        " (\"commit\" = $3 AND minute >= $7)) AND NOT (regressd_block_of(minute) = ANY"
        " ($4::timestamptz[]))";
    struct qparams q;
    qparams_init(l, l->d->win.base_from, l->d->win.cand_from, &q);
    const char *v[] = {q.v[0], q.v[1], q.v[2], q.v[4], q.v[5], q.v[6], q.v[7]};
    return load_binary_rows(l->conn, sql, 7, v, add_endpoint_row, l, "rollups", l->err, l->errlen);
}

/* Clean blocks, one row per (endpoint, commit, block), summed here (binary arrays). */
static int load_endpoint_blocks(struct load *l)
{
    static const char sql[] =
        "SELECT \"commit\" = $3, endpoint, buckets, requests, instructions FROM rollup_blocks"
        " WHERE service = $1 AND block < $5 AND ((\"commit\" = $2 AND block >= $6) OR"
        " (\"commit\" = $3 AND block >= $7)) AND block = ANY ($4::timestamptz[])";
    struct qparams q;
    qparams_init(l, l->d->win.base_from, l->d->win.cand_from, &q);
    const char *v[] = {q.v[0], q.v[1], q.v[2], q.v[4], q.v[5], q.v[8], q.v[9]};
    return load_binary_rows(l->conn, sql, 7, v, add_endpoint_row, l, "rollup_blocks", l->err,
                            l->errlen);
}

static int cmp_endpoints(const void *a, const void *b)
{
    return strcmp(((const struct detector_endpoint_data *)a)->name,
                  ((const struct detector_endpoint_data *)b)->name);
}

static int load_endpoints(struct load *l)
{
    if (load_endpoint_minutes(l) < 0 || load_endpoint_blocks(l) < 0)
        return -1;
    if (l->d->n_endpoints > 1)
        qsort(l->d->endpoints, l->d->n_endpoints, sizeof(*l->d->endpoints), cmp_endpoints);
    return 0;
}

/* ---- distinct users ---- */

static int load_users(struct load *l)
{
    static const char sql[] =
        "SELECT \"commit\" = $3, (extract(epoch FROM minute) * 1000000)::bigint, user_hashes,"
        " $4::int FROM rollup_users" WHERE_MINUTES
        " UNION ALL SELECT \"commit\" = $3, (extract(epoch FROM block) * 1000000)::bigint,"
        " user_hashes, 0 FROM rollup_block_users" WHERE_BLOCKS;
    struct qparams q;
    qparams_init(l, l->d->win.base_from, l->d->win.cand_from, &q);
    PGresult *res = db_query_binary(l->conn, sql, 10, q.v, l->err, l->errlen);
    if (!res)
        return -1;
    struct uset all[2], win[2];
    for (int s = 0; s < 2; s++) {
        uset_init(&all[s]);
        uset_init(&win[s]);
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        int side = PQgetvalue(res, i, 0)[0] != 0;
        int64_t t = load_be64(PQgetvalue(res, i, 1));
        const struct detector_side *sd = &l->d->side[side];
        bool in_win = t >= sd->user_from_us && t < sd->user_to_us;
        rc = load_hashes(PQgetvalue(res, i, 2), PQgetlength(res, i, 2), &all[side],
                         in_win ? &win[side] : NULL, l->err, l->errlen);
    }
    PQclear(res);
    for (int s = 0; s < 2; s++) {
        struct detector_side *sd = &l->d->side[s];
        sd->users = (int64_t)uset_distinct(&all[s], NULL, l->p->buckets);
        (void)uset_distinct(&win[s], sd->user_users, l->p->buckets);
        uset_free(&all[s]);
        uset_free(&win[s]);
    }
    return rc;
}

/* ---- entry points ---- */

static void data_init(struct detector_data *d, const struct detector_params *p,
                      const char *base_commit, const char *cand_commit, int64_t deployed_at_us,
                      int64_t now_us)
{
    memset(d, 0, sizeof(*d));
    d->buckets = p->buckets;
    detector_windows_of(p, deployed_at_us, &d->win);
    d->now_us = now_us;
    d->complete = now_us >= d->win.to;
    d->side[0].commit = xstrdup(base_commit);
    d->side[1].commit = xstrdup(cand_commit);
    d->side[0].from_us = d->win.base_from;
    d->side[1].from_us = d->win.cand_from;
    d->side[0].to_us = d->side[1].to_us = d->win.to;
}

int detector_load(PGconn *conn, const struct detector_params *p, const char *service,
                  const char *base_commit, const char *cand_commit, int64_t deployed_at_us,
                  int64_t now_us, struct detector_data *out, char *err, size_t errlen)
{
    data_init(out, p, base_commit, cand_commit, deployed_at_us, now_us);
    struct load l = {
        .conn = conn, .p = p, .service = service, .d = out, .err = err, .errlen = errlen};
    alloc_totals(&l);
    int rc = -1;
    char ignored[256];
    /* One snapshot for all the queries (compaction may commit in between); memory enough to
     * aggregate (endpoint, bucket) groups in a hash table rather than sorting on disk. */
    if (db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err, errlen) < 0)
        goto done;
    if (db_exec(conn, "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off", err, errlen) < 0 ||
        load_clean_blocks(&l) < 0 || load_totals(&l) < 0)
        goto rollback;
    side_totals(&l);
    load_user_windows(&l);
    if (load_endpoints(&l) < 0 || load_users(&l) < 0)
        goto rollback;
    out->candidate_seen = out->side[1].samples > 0.0;
    rc = db_exec(conn, "COMMIT", err, errlen);
    goto done;
rollback:
    if (db_exec(conn, "ROLLBACK", ignored, sizeof(ignored)) < 0)
        PQreset(conn); /* the connection is unusable anyway */
done:
    free_totals(&l);
    load_names_free(&l.names);
    buf_free(&l.clean);
    if (rc < 0)
        detector_data_free(out);
    return rc;
}

void detector_data_free(struct detector_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_endpoints; i++)
        free(d->endpoints[i].name);
    free(d->endpoints);
    free(d->side[0].commit);
    free(d->side[1].commit);
    memset(d, 0, sizeof(*d));
}
