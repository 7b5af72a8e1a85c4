/* One window of a service over all its commits (trends, flag scans); see detector.h. The
 * sources are those of a deploy check (detector/window.c): whole clean blocks from the block
 * tables and everything else from the minute tables, which are read from the first block that
 * is not clean onwards only (compaction runs oldest first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "load.h"
#include "regressd/db.h"
#include "regressd/detector.h"

struct span_load {
    PGconn *conn;
    const struct detector_params *p;
    const char *service;
    struct detector_span *s;
    struct buf clean;      /* array literal of the clean blocks */
    int64_t first_unclean; /* start of the first block that is not clean, or to */
    struct load_names names;
    size_t cap;
    char *err;
    size_t errlen;
};

static const char *span_endpoint_name(size_t i, void *ctx)
{
    return ((struct detector_span *)ctx)->endpoints[i].name;
}

static struct detector_span_endpoint *span_endpoint(struct span_load *l, const char *name)
{
    struct detector_span *s = l->s;
    bool added;
    size_t i = load_names_index(&l->names, name, span_endpoint_name, s, &added);
    if (added) {
        if (s->n_endpoints == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 64;
            s->endpoints = xrealloc(s->endpoints, l->cap * sizeof(*s->endpoints));
        }
        struct detector_span_endpoint *e = &s->endpoints[s->n_endpoints++];
        memset(e, 0, sizeof(*e));
        e->name = xstrdup(name);
    }
    return &s->endpoints[i];
}

int detector_clean_blocks(PGconn *conn, const char *service, int64_t from_us, int64_t to_us,
                          struct buf *literal, int64_t *first_unclean, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT (extract(epoch FROM s.block) * 1000000)::bigint FROM rollup_block_state s"
        " WHERE s.block >= $2 AND s.block < $3 AND NOT EXISTS (SELECT 1 FROM rollup_block_dirty"
        " d WHERE d.service = $1 AND d.block = s.block) ORDER BY 1";
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN];
    util_format_ts(from_us, from);
    util_format_ts(to_us, to);
    const char *params[] = {service, from, to};
    PGresult *res = db_query(conn, sql, 3, params, err, errlen);
    if (!res)
        return -1;
    int64_t expect = from_us;
    *first_unclean = -1;
    buf_append_char(literal, '{');
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t b = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        char ts[UTIL_TS_BUFLEN];
        util_format_ts(b, ts);
        buf_printf(literal, "%s\"%s\"", i ? "," : "", ts);
        if (b != expect && *first_unclean < 0)
            *first_unclean = expect;
        expect = b + DETECTOR_BLOCK_US;
    }
    buf_append_char(literal, '}');
    if (*first_unclean < 0)
        *first_unclean = expect;
    PQclear(res);
    return 0;
}

static int load_clean(struct span_load *l)
{
    return detector_clean_blocks(l->conn, l->service, l->s->from_us, l->s->to_us, &l->clean,
                                 &l->first_unclean, l->err, l->errlen);
}

/* $1 service, $2 from, $3 to, $4 clean blocks, $5 the minute tables' lower bound. */
struct span_params {
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN], min_lo[UTIL_TS_BUFLEN];
    const char *v[5];
};

static void span_params_init(struct span_load *l, struct span_params *q)
{
    util_format_ts(l->s->from_us, q->from);
    util_format_ts(l->s->to_us, q->to);
    util_format_ts(l->first_unclean, q->min_lo);
    const char *v[] = {l->service, q->from, q->to, buf_cstr(&l->clean), q->min_lo};
    memcpy(q->v, v, sizeof(v));
}

static void add_sums(struct span_load *l, struct detector_span_endpoint *e, int b, double req,
                     double ins, double lat_n, double lat_us)
{
    e->requests[b] += req;
    e->instructions[b] += ins;
    l->s->requests[b] += req;
    l->s->instructions[b] += ins;
    l->s->latency_n[b] += lat_n;
    l->s->latency_us[b] += lat_us;
    l->s->samples += req;
}

/* One row of rollups or rollup_blocks: the endpoint, then arrays aligned with its buckets. */
static int add_row(void *ctx, PGresult *res, int i, const char *table)
{
    struct span_load *l = ctx;
    double a[5][DETECTOR_MAX_BUCKETS]; /* buckets, requests, instructions, latency_n, latency_us */
    int n;
    if (load_bucket_arrays(res, i, 1, 5, a, &n, table, l->err, l->errlen) < 0)
        return -1;
    struct detector_span_endpoint *e = span_endpoint(l, PQgetvalue(res, i, 0));
    for (int k = 0; k < n; k++) {
        int b = (int)a[0][k];
        if (b >= 0 && b < DETECTOR_MAX_BUCKETS)
            add_sums(l, e, b % l->p->buckets, a[1][k], a[2][k], a[3][k], a[4][k]);
    }
    return 0;
}

/* Blocks not clean, from the minute table: a row per (endpoint, commit, minute) and batch. */
static int load_minutes(struct span_load *l)
{
    static const char sql[] =
        "SELECT endpoint, buckets, requests, instructions, latency_n, latency_us FROM rollups"
        " WHERE service = $1 AND minute >= $2 AND minute < $3 AND NOT (regressd_block_of(minute)"
        " = ANY ($4::timestamptz[]))";
    struct span_params q;
    span_params_init(l, &q);
    const char *v[] = {q.v[0], q.v[4], q.v[2], q.v[3]};
    return load_binary_rows(l->conn, sql, 4, v, add_row, l, "rollups", l->err, l->errlen);
}

static int load_blocks(struct span_load *l)
{
    static const char sql[] =
        "SELECT endpoint, buckets, requests, instructions, latency_n, latency_us FROM"
        " rollup_blocks WHERE service = $1 AND block >= $2 AND block < $3 AND block = ANY"
        " ($4::timestamptz[])";
    struct span_params q;
    span_params_init(l, &q);
    return load_binary_rows(l->conn, sql, 4, q.v, add_row, l, "rollup_blocks", l->err, l->errlen);
}

static int load_users(struct span_load *l)
{
    static const char sql[] =
        "SELECT user_hashes FROM rollup_users WHERE service = $1 AND minute >= $5 AND minute < $3"
        " AND NOT (regressd_block_of(minute) = ANY ($4::timestamptz[])) UNION ALL SELECT"
        " user_hashes FROM rollup_block_users WHERE service = $1 AND block >= $2 AND block < $3"
        " AND block = ANY ($4::timestamptz[])";
    struct span_params q;
    span_params_init(l, &q);
    PGresult *res = db_query_binary(l->conn, sql, 5, q.v, l->err, l->errlen);
    if (!res)
        return -1;
    struct uset all;
    uset_init(&all);
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = load_hashes(PQgetvalue(res, i, 0), PQgetlength(res, i, 0), &all, NULL, l->err,
                         l->errlen);
    PQclear(res);
    l->s->users = (int64_t)uset_distinct(&all, l->s->users_b, l->p->buckets);
    uset_free(&all);
    return rc;
}

static int cmp_span_endpoints(const void *a, const void *b)
{
    return strcmp(((const struct detector_span_endpoint *)a)->name,
                  ((const struct detector_span_endpoint *)b)->name);
}

int detector_span_load_in(PGconn *conn, const struct detector_params *p, const char *service,
                          int64_t from_us, int64_t to_us, struct detector_span *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->from_us = from_us;
    out->to_us = to_us;
    struct span_load l = {
        .conn = conn, .p = p, .service = service, .s = out, .err = err, .errlen = errlen};
    int rc = -1;
    if (load_clean(&l) == 0 && load_minutes(&l) == 0 && load_blocks(&l) == 0 && load_users(&l) == 0)
        rc = 0;
    if (rc == 0 && out->n_endpoints > 1)
        qsort(out->endpoints, out->n_endpoints, sizeof(*out->endpoints), cmp_span_endpoints);
    load_names_free(&l.names);
    buf_free(&l.clean);
    if (rc < 0)
        detector_span_free(out);
    return rc;
}

int detector_read_begin(PGconn *conn, char *err, size_t errlen)
{
    if (db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err, errlen) < 0)
        return -1;
    if (db_exec(conn, "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off", err, errlen) < 0) {
        detector_read_end(conn, false, NULL, 0);
        return -1;
    }
    return 0;
}

int detector_read_end(PGconn *conn, bool ok, char *err, size_t errlen)
{
    char ignored[256];
    if (ok)
        return db_exec(conn, "COMMIT", err, errlen);
    if (db_exec(conn, "ROLLBACK", ignored, sizeof(ignored)) < 0)
        PQreset(conn); /* unusable anyway */
    return -1;
}

void detector_span_free(struct detector_span *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_endpoints; i++)
        free(s->endpoints[i].name);
    free(s->endpoints);
    memset(s, 0, sizeof(*s));
}
