/* bench_check: the time of a deploy check (`regressd check`) against the number of samples in
 * the compared windows.
 *
 *   bench_check [--sizes N,N,...] [--endpoints E] [--runs R] [--keep-db]
 *
 * Needs a PostgreSQL server in the PG* environment (run it under pg_virtualenv -t). For each
 * size N (default 1M, 10M, 50M samples) it:
 *  1. fills a fresh, migrated database with the rollups that N samples of one service with E
 *     endpoints (default 500) would leave: baseline commit c0 for the hour before the deploy,
 *     candidate c1 for the hour after, a 10-minute rolling deploy, a Zipf request mix
 *     (endpoint k gets 1/(k+1)), 64 user buckets; one rollup row per non-empty (endpoint,
 *     commit, minute, bucket) cell (the shape after ingest's batches are merged), and per
 *     (commit, minute) the user hashes of about 4·U/120 active users out of U = N/20 (users
 *     come back in 4 of the 120 minutes). The rows come from SQL generate_series: pushing N
 *     samples through Kafka is bench_ingest's job, not this one's;
 *  2. times the check R times (p50, p90) reading only the minute tables;
 *  3. compacts the closed blocks as the daemon does (timed), and times the check again;
 *  4. prints rows, user hash elements, results, times, and the process's peak RSS.
 * A check is what `regressd check --json` does after connecting: find the deploy, load its
 * windows (detector_load), compare (detector_check), render the JSON.
 *
 * Exit status: 0 (a bench, whatever the numbers); 1 when a step failed; 2 on a usage error. */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/util.h"

#define MAX_SIZES 8
#define T_DEPLOY "2026-11-20T12:00:00Z"
#define T_DEPLOY_US (1795176000LL * 1000000LL)

struct options {
    long long sizes[MAX_SIZES];
    int n_sizes;
    int endpoints;
    int runs;
    bool keep_db;
};

static int parse_sizes(const char *s, struct options *o)
{
    char *copy = xstrdup(s), *save = NULL;
    o->n_sizes = 0;
    for (char *t = strtok_r(copy, ",", &save); t && o->n_sizes < MAX_SIZES;
         t = strtok_r(NULL, ",", &save)) {
        char *end;
        double v = strtod(t, &end);
        if (*end == 'M' || *end == 'm')
            v *= 1e6, end++;
        else if (*end == 'k' || *end == 'K')
            v *= 1e3, end++;
        if (*end || v < 1000) {
            free(copy);
            return -1;
        }
        o->sizes[o->n_sizes++] = (long long)v;
    }
    free(copy);
    return o->n_sizes ? 0 : -1;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
        {"sizes", required_argument, NULL, 's'}, {"endpoints", required_argument, NULL, 'e'},
        {"runs", required_argument, NULL, 'r'},  {"keep-db", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},        {0}};
    *o = (struct options){{1000000, 10000000, 50000000}, 3, 500, 7, false};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 's' && parse_sizes(optarg, o) == 0)
            continue;
        if (ch == 'e' && (o->endpoints = atoi(optarg)) >= 1 && o->endpoints <= 100000)
            continue;
        if (ch == 'r' && (o->runs = atoi(optarg)) >= 1 && o->runs <= 1000)
            continue;
        if (ch == 'k') {
            o->keep_db = true;
            continue;
        }
        fprintf(ch == 'h' ? stdout : stderr,
                "usage: bench_check [--sizes N,N,...] [--endpoints E] [--runs R] [--keep-db]\n"
                "Sizes accept k and M suffixes (default 1M,10M,50M). Run under pg_virtualenv.\n");
        return ch == 'h' ? 0 : 2;
    }
    return -1;
}

static PGconn *connect_db(const char *dbname)
{
    char err[512];
    PGconn *conn = db_connect(dbname, err, sizeof(err));
    if (!conn)
        fprintf(stderr, "bench_check: %s\n", err);
    return conn;
}

static int exec(PGconn *conn, const char *sql)
{
    char err[1024];
    if (db_exec(conn, sql, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_check: %s\n  in: %.200s\n", err, sql);
        return -1;
    }
    return 0;
}

static int query(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **res)
{
    char err[1024];
    *res = db_query(conn, sql, n, params, err, sizeof(err));
    if (!*res)
        fprintf(stderr, "bench_check: %s\n", err);
    return *res ? 0 : -1;
}

/* ---- filling the tables ---- */

/* The c0 share of a minute m in [0, 130): all before the deploy (m < 60), falling linearly over
 * the 10-minute rollout, none after; c1 has the rest from m = 60 on. */
static const char fill_rollups_sql[] =
    "INSERT INTO rollups SELECT 'web', 'ep' || k, c.name, $1::timestamptz + (m - 60) * interval"
    " '1 minute', b, r.n, r.n * cost * (0.9 + 0.2 * random()), r.n * cost * cost * 1.05, r.n,"
    " r.n * 1000 * (0.9 + 0.2 * random()), r.n * 1.1e6, r.n * 300.0, r.n * 50.0"
    " FROM generate_series(0, $3::int - 1) k"
    " CROSS JOIN LATERAL (SELECT 2e7 * power(40, (k * 0.6180339887) % 1) AS cost,"
    "   $2::float8 / (ln($3::float8) + 0.5772 + 1 / (2 * $3::float8)) / (k + 1) / 7680 AS lam) e"
    " CROSS JOIN generate_series(0, 129) m"
    " CROSS JOIN (VALUES ('c0'), ('c1')) c(name)"
    " CROSS JOIN LATERAL (SELECT CASE WHEN c.name = 'c0' THEN greatest(0, least(1, (70 - m -"
    "   0.5) / 10.0)) ELSE greatest(0, least(1, (m - 60 + 0.5) / 10.0)) END AS share) s"
    " CROSS JOIN generate_series(0, 63) b"
    " CROSS JOIN LATERAL (SELECT greatest(1, round(e.lam * s.share + sqrt(e.lam * s.share) *"
    "   (random() + random() + random() - 1.5) * 2))::bigint AS n) r"
    " WHERE s.share > 0 AND random() < 1 - exp(-least(e.lam * s.share, 50))";

static const char fill_users_sql[] =
    "INSERT INTO rollup_users SELECT 'web', c.name, $1::timestamptz + (m - 60) * interval"
    " '1 minute', ARRAY(SELECT DISTINCT hashint4(floor(random() * $2::float8 / 20)::int) FROM"
    " generate_series(1, greatest(1, round($2::float8 / 20 * 4 / 120 * s.share)::int)))"
    " FROM generate_series(0, 129) m CROSS JOIN (VALUES ('c0'), ('c1')) c(name)"
    " CROSS JOIN LATERAL (SELECT CASE WHEN c.name = 'c0' THEN greatest(0, least(1, (70 - m -"
    "   0.5) / 10.0)) ELSE greatest(0, least(1, (m - 60 + 0.5) / 10.0)) END AS share) s"
    " WHERE s.share > 0";

static int fill(PGconn *conn, long long samples, int endpoints)
{
    char n[32], e[16];
    snprintf(n, sizeof(n), "%lld", samples);
    snprintf(e, sizeof(e), "%d", endpoints);
    const char *p[] = {T_DEPLOY, n, e};
    PGresult *res;
    if (exec(conn, "TRUNCATE rollups, rollup_users, commits, deploys, findings, rollup_blocks,"
                   " rollup_block_totals, rollup_block_users, rollup_block_state,"
                   " rollup_block_dirty") < 0 ||
        query(conn, fill_rollups_sql, 3, p, &res) < 0)
        return -1;
    PQclear(res);
    if (query(conn, fill_users_sql, 2, p, &res) < 0)
        return -1;
    PQclear(res);
    if (query(conn,
              "INSERT INTO commits (service, \"commit\", first_ts) VALUES ('web', 'c0',"
              " $1::timestamptz - interval '1 hour'), ('web', 'c1', $1::timestamptz + interval"
              " '30 seconds')",
              1, p, &res) < 0)
        return -1;
    PQclear(res);
    return exec(conn, "VACUUM ANALYZE rollups") < 0 ? -1
                                                    : exec(conn, "VACUUM ANALYZE rollup_users");
}

static int counts(PGconn *conn, long long *rows, long long *samples, long long *elements)
{
    PGresult *res;
    if (query(conn,
              "SELECT (SELECT count(*) FROM rollups), (SELECT sum(requests) FROM rollups),"
              " (SELECT sum(cardinality(user_hashes)) FROM rollup_users)",
              0, NULL, &res) < 0)
        return -1;
    *rows = atoll(PQgetvalue(res, 0, 0));
    *samples = atoll(PQgetvalue(res, 0, 1));
    *elements = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    return 0;
}

/* ---- one check, as `regressd check --json` does it ---- */

static int one_check(PGconn *conn, const struct detector_params *p, size_t *results, char **verdict)
{
    char err[1024];
    struct detector_deploy dep;
    struct detector_data d;
    bool found;
    if (detector_deploy_find(conn, "web", "c1", &dep, &found, err, sizeof(err)) < 0 || !found ||
        !dep.baseline) {
        fprintf(stderr, "bench_check: no deploy of c1: %s\n", found ? "no baseline" : err);
        detector_deploy_clear(&dep);
        return -1;
    }
    int rc = detector_load(conn, p, "web", dep.baseline, "c1", dep.deployed_at_us,
                           T_DEPLOY_US + 6 * 3600LL * 1000000, &d, err, sizeof(err));
    detector_deploy_clear(&dep);
    if (rc < 0) {
        fprintf(stderr, "bench_check: %s\n", err);
        return -1;
    }
    struct detector_report *r = detector_check(p, &d, "web", err, sizeof(err));
    detector_data_free(&d);
    if (!r)
        return -1;
    char *json = detector_report_dumps(r, false);
    *results = r->n_results;
    free(*verdict);
    char v[512];
    snprintf(v, sizeof(v), "%s: %s", stats_verdict_name(r->verdict), r->verdict_reason);
    *verdict = xstrdup(v);
    free(json);
    detector_report_free(r);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p90 (nearest rank) of R checks, in seconds. */
static int time_checks(PGconn *conn, const struct detector_params *p, int runs, double *p50,
                       double *p90, size_t *results, char **verdict)
{
    double *t = xmalloc((size_t)runs * sizeof(*t));
    for (int i = 0; i < runs; i++) {
        int64_t t0 = util_mono_us();
        if (one_check(conn, p, results, verdict) < 0) {
            free(t);
            return -1;
        }
        t[i] = (double)(util_mono_us() - t0) / 1e6;
    }
    qsort(t, (size_t)runs, sizeof(*t), cmp_double);
    *p50 = t[(runs - 1) / 2];
    *p90 = t[(int)((runs - 1) * 0.9 + 0.5)];
    free(t);
    return 0;
}

static int compact_all(PGconn *conn, double *secs)
{
    char err[1024];
    int done, total = 0;
    int64_t t0 = util_mono_us();
    do {
        if (detector_compact(conn, T_DEPLOY_US + 6 * 3600LL * 1000000, 100, &done, err,
                             sizeof(err)) < 0) {
            fprintf(stderr, "bench_check: compaction: %s\n", err);
            return -1;
        }
        total += done;
    } while (done > 0);
    *secs = (double)(util_mono_us() - t0) / 1e6;
    return total;
}

static int bench_size(PGconn *conn, const struct detector_params *p, const struct options *o,
                      long long size)
{
    long long rows, samples, elements;
    double fill_s, p50u, p90u, p50c, p90c, compact_s;
    size_t results = 0;
    char *verdict = NULL;
    int64_t t0 = util_mono_us();
    if (fill(conn, size, o->endpoints) < 0 || counts(conn, &rows, &samples, &elements) < 0)
        return -1;
    fill_s = (double)(util_mono_us() - t0) / 1e6;
    int rc = -1, blocks;
    if (time_checks(conn, p, o->runs, &p50u, &p90u, &results, &verdict) < 0 ||
        (blocks = compact_all(conn, &compact_s)) < 0 ||
        exec(conn, "VACUUM ANALYZE rollup_blocks") < 0 ||
        exec(conn, "VACUUM ANALYZE rollup_block_totals") < 0 ||
        time_checks(conn, p, o->runs, &p50c, &p90c, &results, &verdict) < 0)
        goto done;
    printf("%9lld samples  %8lld rollup rows  %9lld user hashes  filled in %5.1f s\n", samples,
           rows, elements, fill_s);
    printf("          check, minute rollups:     p50 %7.3f s  p90 %7.3f s  (%zu results, %s)\n",
           p50u, p90u, results, verdict);
    printf("          check, compacted blocks:   p50 %7.3f s  p90 %7.3f s  (%d blocks compacted in "
           "%.1f s)%s\n",
           p50c, p90c, blocks, compact_s,
           size == 10000000 ? (p50c < 1.0 ? "  PASS < 1 s" : "  MISS") : "");
    fflush(stdout);
    rc = 0;
done:
    free(verdict);
    return rc;
}

static int run(const struct options *o, const char *dbname)
{
    PGconn *conn = connect_db(dbname);
    char err[1024];
    int applied, rc = -1;
    if (!conn || db_migrate(conn, &applied, err, sizeof(err)) < 0) {
        if (conn)
            fprintf(stderr, "bench_check: migrate: %s\n", err);
        PQfinish(conn);
        return -1;
    }
    struct detector_params p;
    memset(&p, 0, sizeof(p));
    stats_rule_default(&p.rule);
    p.buckets = 64;
    p.baseline_window_us = p.candidate_window_us = 3600LL * 1000000;
    p.settle_us = 180LL * 1000000;
    printf("bench_check: one service, %d endpoints, deploy at %s, baseline and candidate windows "
           "1 h, %d runs per size\n",
           o->endpoints, T_DEPLOY, o->runs);
    for (int i = 0; i < o->n_sizes; i++)
        if ((rc = bench_size(conn, &p, o, o->sizes[i])) < 0)
            break;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS of the checking process: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    PQfinish(conn);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    char dbname[64], sql[160];
    snprintf(dbname, sizeof(dbname), "regressd_bench_check_%d", (int)getpid());
    PGconn *admin = connect_db("dbname=postgres");
    if (!admin)
        return 1;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
    if (exec(admin, sql) < 0) {
        PQfinish(admin);
        return 1;
    }
    char dsn[96];
    snprintf(dsn, sizeof(dsn), "dbname=%s", dbname);
    rc = run(&o, dsn) < 0 ? 1 : 0;
    if (!o.keep_db) {
        snprintf(sql, sizeof(sql), "DROP DATABASE %s", dbname);
        (void)exec(admin, sql);
    }
    PQfinish(admin);
    return rc;
}
