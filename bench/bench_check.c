/* bench_check: the time of a deploy check (`regressd check`), a trend (`regressd trend`) and a
 * flag scan (`regressd flags`) against the number of samples in the compared windows.
 *
 *   bench_check [--sizes N,N,...] [--endpoints E] [--runs R] [--keep-db]
 *
 * Needs a PostgreSQL server in the PG* environment (run it under pg_virtualenv -t). For each
 * size N (default 1M, 10M, 50M samples) it:
 *  1. fills a fresh, migrated database with the rollups that N samples of one service with E
 *     endpoints (default 500) would leave: baseline commit c0 for the hour before the deploy,
 *     candidate c1 for the hour after, a 10-minute rolling deploy, a Zipf request mix
 *     (endpoint k gets 1/(k+1)), 64 user buckets; one rollups row per (endpoint, commit,
 *     minute) with its non-empty buckets (the shape after ingest's batches are merged), and per
 *     (commit, minute) the user hashes of about 4·U/120 active users out of U = N/20 (users
 *     come back in 4 of the 120 minutes). The rows come from SQL generate_series: pushing N
 *     samples through Kafka is bench_ingest's job, not this one's;
 *  2. fills the flag rollups of the same 13 blocks from those rows: 10 flags with 25 values
 *     (7 flags with two values near 50/50, one with 3, two with 4 values), one row per
 *     (endpoint, flag value, block) with, per bucket, requests (the value's share of the cell's
 *     requests, jittered ±10 % per cell; a flag's values add up to the cell's requests exactly)
 *     and the matching share of its instructions and latency, which is the shape compaction's
 *     merge leaves; and per (flag, value, block) the hashes of the block's users that have the
 *     value (a user keeps one value per flag, picked by hashing). The late-row marks the
 *     fill leaves (it writes after the fact) are cleared;
 *  3. times the check R times (p50, p90) reading only the minute tables;
 *  4. compacts the closed blocks as the daemon does, flag rollups merged (timed), and times
 *     again: the check; a trend of the hour after the deploy against the hour before (1 h
 *     window, 1 h offset, every commit, suspects named); a flag scan of the hour after;
 *  5. prints rows, user hashes, flag rows, results, times, and the process's peak RSS.
 * A check is what `regressd check --json` does after connecting: find the deploy, load its
 * windows (detector_load), compare (detector_check), render the JSON; a trend and a flag scan
 * likewise (detector_trend, detector_flags, rendered). Parameters are the configuration's
 * defaults (REGRESSD_* variables apply), with 64 buckets and 1-hour deploy windows.
 *
 * Exit status: 0 (a bench, whatever the numbers); 1 when a step failed; 2 on a usage error. */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "regressd/config.h"
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
    "INSERT INTO rollups SELECT 'web', ep, cm, mi, array_agg(b ORDER BY b), array_agg(rq ORDER BY"
    " b), array_agg(ins ORDER BY b), array_agg(ins2 ORDER BY b), array_agg(ln ORDER BY b),"
    " array_agg(lu ORDER BY b), array_agg(lsq ORDER BY b), array_agg(db ORDER BY b),"
    " array_agg(ca ORDER BY b) FROM (SELECT 'ep' || k AS ep, c.name AS cm, $1::timestamptz + (m"
    " - 60) * interval '1 minute' AS mi, b, r.n AS rq, r.n * cost * (0.9 + 0.2 * random()) AS"
    " ins, r.n * cost * cost * 1.05 AS ins2, r.n AS ln, r.n * 1000 * (0.9 + 0.2 * random()) AS"
    " lu, r.n * 1.1e6 AS lsq, r.n * 300.0 AS db, r.n * 50.0 AS ca"
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
    " WHERE s.share > 0 AND random() < 1 - exp(-least(e.lam * s.share, 50))) x"
    " GROUP BY ep, cm, mi";

static const char fill_users_sql[] =
    "INSERT INTO rollup_users SELECT 'web', c.name, $1::timestamptz + (m - 60) * interval"
    " '1 minute', ARRAY(SELECT DISTINCT hashint4(floor(random() * $2::float8 / 20)::int) FROM"
    " generate_series(1, greatest(1, round($2::float8 / 20 * 4 / 120 * s.share)::int)))"
    " FROM generate_series(0, 129) m CROSS JOIN (VALUES ('c0'), ('c1')) c(name)"
    " CROSS JOIN LATERAL (SELECT CASE WHEN c.name = 'c0' THEN greatest(0, least(1, (70 - m -"
    "   0.5) / 10.0)) ELSE greatest(0, least(1, (m - 60 + 0.5) / 10.0)) END AS share) s"
    " WHERE s.share > 0";

/* The flags: [lo, hi) is a value's slice of the unit interval, its share of a flag's requests
 * and users; the last value of a flag has hi = 2 so that its slice, jittered, still ends at 1. */
#define FLAG_VALUES                                                                                \
    "(VALUES ('new_checkout', 'true', 0.0, 0.5), ('new_checkout', 'false', 0.5, 2.0),"             \
    " ('dark_mode', 'true', 0.0, 0.45), ('dark_mode', 'false', 0.45, 2.0),"                        \
    " ('fast_path', 'on', 0.0, 0.55), ('fast_path', 'off', 0.55, 2.0),"                            \
    " ('async_render', 'true', 0.0, 0.5), ('async_render', 'false', 0.5, 2.0),"                    \
    " ('compress_v2', 'true', 0.0, 0.52), ('compress_v2', 'false', 0.52, 2.0),"                    \
    " ('exp_ranker', 'control', 0.0, 0.5), ('exp_ranker', 'treatment', 0.5, 2.0),"                 \
    " ('exp_cache_ttl', 'control', 0.0, 0.48), ('exp_cache_ttl', 'long', 0.48, 2.0),"              \
    " ('exp_pricing', 'control', 0.0, 0.34), ('exp_pricing', 'a', 0.34, 0.67),"                    \
    " ('exp_pricing', 'b', 0.67, 2.0), ('region', 'us', 0.0, 0.4), ('region', 'eu', 0.4, 0.7),"    \
    " ('region', 'apac', 0.7, 0.9), ('region', 'latam', 0.9, 2.0),"                                \
    " ('exp_layout', 'control', 0.0, 0.4), ('exp_layout', 'v1', 0.4, 0.6),"                        \
    " ('exp_layout', 'v2', 0.6, 0.8), ('exp_layout', 'v3', 0.8, 2.0)) AS v(flag, value, lo, hi)"

/* Per (endpoint, block, bucket) cell of the rollups (both commits) and flag value: the requests
 * between the value's slice bounds, jittered (j in [0.9, 1.1)) and dithered (d in [0, 1)),
 * floor(n·lo·j + d) to floor(n·hi·j + d): a flag's values partition the cell's n requests, each
 * getting n·share on average. j and d are a hash of the cell and the flag, the same for every
 * value of the flag whatever the plan. */
static const char fill_flags_sql[] =
    "INSERT INTO rollup_flags SELECT 'web', endpoint, flag, value, block, array_agg(bucket ORDER"
    " BY bucket), array_agg(r ORDER BY bucket), array_agg(i ORDER BY bucket), array_agg(ln ORDER"
    " BY bucket), array_agg(lu ORDER BY bucket) FROM (SELECT c.endpoint, v.flag, v.value,"
    " c.block, c.bucket, s.r, c.i * s.r / c.n AS i, round(c.ln * s.r / c.n)::bigint AS ln, c.lu"
    " * s.r / c.n AS lu"
    " FROM (SELECT endpoint, regressd_block_of(minute) AS block, bucket, sum(requests)::float8"
    "   AS n, sum(instructions) AS i, sum(latency_n)::float8 AS ln, sum(latency_us) AS lu FROM"
    "   rollup_buckets GROUP BY 1, 2, 3) c"
    " CROSS JOIN " FLAG_VALUES
    " CROSS JOIN LATERAL (SELECT hashint4(hashfloat8(c.i) # hashtext(v.flag)) AS h) h"
    " CROSS JOIN LATERAL (SELECT 0.9 + (h.h & 65535) / 327680.0::float8 AS j, ((h.h >> 16) &"
    "   65535) / 65536.0::float8 AS d) k"
    " CROSS JOIN LATERAL (SELECT (floor(c.n * least(1, v.hi::float8 * k.j) + k.d) - floor(c.n *"
    "   least(1, v.lo::float8 * k.j) + k.d))::bigint AS r) s"
    " WHERE s.r > 0) x GROUP BY endpoint, flag, value, block";

/* Per block, its distinct users (both commits); per flag, each user has the value whose slice
 * holds a hash of the user and the flag. */
static const char fill_flag_users_sql[] =
    "INSERT INTO rollup_flag_users SELECT 'web', f.flag, f.vals[width_bucket((hashint4(u.h #"
    " hashtext(f.flag)) & 65535) / 65536.0::float8, f.los)], u.block, array_agg(u.h)"
    " FROM (SELECT DISTINCT regressd_block_of(minute) AS block, h FROM rollup_users,"
    "   unnest(user_hashes) h) u"
    " CROSS JOIN (SELECT flag, array_agg(value ORDER BY lo) AS vals, array_agg(lo::float8 ORDER"
    "   BY lo) AS los FROM " FLAG_VALUES " GROUP BY flag) f"
    " GROUP BY 2, 3, 4";

static int query_exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res;
    if (query(conn, sql, n, params, &res) < 0)
        return -1;
    PQclear(res);
    return 0;
}

static int fill(PGconn *conn, long long samples, int endpoints)
{
    char n[32], e[16];
    snprintf(n, sizeof(n), "%lld", samples);
    snprintf(e, sizeof(e), "%d", endpoints);
    const char *p[] = {T_DEPLOY, n, e};
    if (exec(conn,
             "TRUNCATE rollups, rollup_users, commits, deploys, findings, rollup_blocks,"
             " rollup_block_totals, rollup_block_users, rollup_block_state,"
             " rollup_block_dirty, rollup_flags, rollup_flag_blocks, rollup_flag_users") < 0 ||
        query_exec(conn, fill_rollups_sql, 3, p) < 0 || query_exec(conn, fill_users_sql, 2, p) < 0)
        return -1;
    if (query_exec(conn,
                   "INSERT INTO commits (service, \"commit\", first_ts) VALUES ('web', 'c0',"
                   " $1::timestamptz - interval '1 hour'), ('web', 'c1', $1::timestamptz +"
                   " interval '30 seconds')",
                   1, p) < 0)
        return -1;
    /* Ingest writes a minute's rows while its block is open; written now, after the fact, they
     * are late rows to the triggers whenever the clock is past T, and compaction would compact
     * every block twice (once new, once dirty). */
    if (exec(conn, "TRUNCATE rollup_block_dirty") < 0)
        return -1;
    return exec(conn, "VACUUM ANALYZE rollups, rollup_users");
}

/* The flag rollups, from the rollups just filled; work_mem for the fill's aggregates only. */
static int fill_flags(PGconn *conn)
{
    int rc = -1;
    if (exec(conn, "SET work_mem = '256MB'") < 0)
        return -1;
    if (query_exec(conn, fill_flags_sql, 0, NULL) == 0 &&
        query_exec(conn, fill_flag_users_sql, 0, NULL) == 0)
        rc = exec(conn, "VACUUM ANALYZE rollup_flags, rollup_flag_users");
    return exec(conn, "RESET work_mem") < 0 ? -1 : rc;
}

struct fill_counts {
    long long rows, samples, elements;
    long long flag_rows, flag_elements, flags, flag_values;
};

static int counts(PGconn *conn, struct fill_counts *c)
{
    PGresult *res;
    if (query(conn,
              "SELECT (SELECT count(*) FROM rollup_buckets), (SELECT sum(requests) FROM"
              " rollup_buckets), (SELECT sum(cardinality(user_hashes)) FROM rollup_users), (SELECT"
              " count(*) FROM rollup_flag_buckets), (SELECT sum(cardinality(user_hashes)) FROM"
              " rollup_flag_users),"
              " (SELECT count(DISTINCT flag) FROM rollup_flag_users), (SELECT count(*) FROM"
              " (SELECT DISTINCT flag, value FROM rollup_flag_users) v)",
              0, NULL, &res) < 0)
        return -1;
    long long *out[] = {&c->rows,          &c->samples, &c->elements,   &c->flag_rows,
                        &c->flag_elements, &c->flags,   &c->flag_values};
    for (int i = 0; i < (int)REGRESSD_ARRAY_LEN(out); i++)
        *out[i] = atoll(PQgetvalue(res, 0, i));
    PQclear(res);
    return 0;
}

/* ---- one check, trend or flag scan, as `regressd check|trend|flags --json` does it ---- */

#define NOW_US (T_DEPLOY_US + 6 * 3600LL * 1000000)
#define HOUR_US (3600LL * 1000000)

/* What the last run of a timed step reported. */
struct outcome {
    size_t results;
    size_t suspects;    /* trends */
    size_t flag_values; /* flag scans: compared, and seen beyond flags.max_values */
    size_t flag_values_dropped;
    char *verdict; /* "verdict: reason" */
};

/* Renders r as the command does, keeps what the report prints, frees r. NULL r: the step
 * failed with err. */
static int take_report(struct detector_report *r, const char *err, struct outcome *out)
{
    if (!r) {
        fprintf(stderr, "bench_check: %s\n", err);
        return -1;
    }
    char *json = detector_report_dumps(r, false);
    out->results = r->n_results;
    out->suspects = r->suspects ? json_array_size(r->suspects) : 0;
    out->flag_values = r->flag_values;
    out->flag_values_dropped = r->flag_values_dropped;
    free(out->verdict);
    char v[512];
    snprintf(v, sizeof(v), "%s: %s", stats_verdict_name(r->verdict), r->verdict_reason);
    out->verdict = xstrdup(v);
    free(json);
    detector_report_free(r);
    return 0;
}

static int one_check(PGconn *conn, const struct detector_params *p, struct outcome *out)
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
    int rc = detector_load(conn, p, "web", dep.baseline, "c1", dep.deployed_at_us, NOW_US, &d, err,
                           sizeof(err));
    detector_deploy_clear(&dep);
    if (rc < 0) {
        fprintf(stderr, "bench_check: %s\n", err);
        return -1;
    }
    struct detector_report *r = detector_check(p, &d, "web", err, sizeof(err));
    detector_data_free(&d);
    return take_report(r, err, out);
}

/* The hour after the deploy against the hour before, every commit. */
static int one_trend(PGconn *conn, const struct detector_params *p, struct outcome *out)
{
    char err[1024];
    return take_report(detector_trend(conn, p, "web", HOUR_US, HOUR_US, T_DEPLOY_US + HOUR_US,
                                      NOW_US, err, sizeof(err)),
                       err, out);
}

/* Every flag value in the hour after the deploy. */
static int one_flag_scan(PGconn *conn, const struct detector_params *p, struct outcome *out)
{
    char err[1024];
    return take_report(
        detector_flags(conn, p, "web", HOUR_US, T_DEPLOY_US + HOUR_US, NOW_US, err, sizeof(err)),
        err, out);
}

typedef int (*step_fn)(PGconn *conn, const struct detector_params *p, struct outcome *out);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p90 (nearest rank) of R runs of a step, in seconds. */
static int time_runs(PGconn *conn, const struct detector_params *p, int runs, step_fn step,
                     double *p50, double *p90, struct outcome *out)
{
    double *t = xmalloc((size_t)runs * sizeof(*t));
    for (int i = 0; i < runs; i++) {
        int64_t t0 = util_mono_us();
        if (step(conn, p, out) < 0) {
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
        if (detector_compact(conn, NOW_US, 100, &done, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_check: compaction: %s\n", err);
            return -1;
        }
        total += done;
    } while (done > 0);
    *secs = (double)(util_mono_us() - t0) / 1e6;
    return total;
}

/* ---- one size ---- */

struct size_times {
    double fill, fill_flags, compact;
    int blocks;
    double check[2][2]; /* [minute rollups, compacted][p50, p90] */
    double trend[2], flags[2];
};

static double secs_since(int64_t t0)
{
    return (double)(util_mono_us() - t0) / 1e6;
}

static int fill_all(PGconn *conn, long long size, int endpoints, struct fill_counts *c,
                    struct size_times *t)
{
    int64_t t0 = util_mono_us();
    if (fill(conn, size, endpoints) < 0)
        return -1;
    t->fill = secs_since(t0);
    t0 = util_mono_us();
    if (fill_flags(conn) < 0)
        return -1;
    t->fill_flags = secs_since(t0);
    return counts(conn, c);
}

/* After compaction, vacuumed as autovacuum would have by then. */
static int compact_vacuum(PGconn *conn, struct size_times *t)
{
    if ((t->blocks = compact_all(conn, &t->compact)) < 0)
        return -1;
    return exec(
        conn, "VACUUM ANALYZE rollup_blocks, rollup_block_totals, rollup_flags, rollup_flag_blocks,"
              " rollup_flag_users");
}

static void print_size(long long size, const struct fill_counts *c, const struct size_times *t,
                       const struct outcome out[4])
{
    printf("%9lld samples  %8lld bucket sums  %9lld user hashes  filled in %5.1f s\n", c->samples,
           c->rows, c->elements, t->fill);
    printf("          flags: %lld flags, %lld values  %8lld flag bucket sums  %9lld user hashes  "
           "filled "
           "in %5.1f s\n",
           c->flags, c->flag_values, c->flag_rows, c->flag_elements, t->fill_flags);
    printf("          check, minute rollups:     p50 %7.3f s  p90 %7.3f s  (%zu results, %s)\n",
           t->check[0][0], t->check[0][1], out[0].results, out[0].verdict);
    printf("          check, compacted blocks:   p50 %7.3f s  p90 %7.3f s  (%d blocks compacted in "
           "%.1f s)%s\n",
           t->check[1][0], t->check[1][1], t->blocks, t->compact,
           size == 10000000 ? (t->check[1][0] < 1.0 ? "  PASS < 1 s" : "  MISS") : "");
    printf("          trend 1h vs 1h earlier:    p50 %7.3f s  p90 %7.3f s  (%zu results, %zu "
           "suspects, %s)\n",
           t->trend[0], t->trend[1], out[2].results, out[2].suspects, out[2].verdict);
    printf("          flag scan 1h:              p50 %7.3f s  p90 %7.3f s  (%zu flag values, %zu "
           "beyond max_values, %zu results, %s)\n",
           t->flags[0], t->flags[1], out[3].flag_values, out[3].flag_values_dropped, out[3].results,
           out[3].verdict);
    fflush(stdout);
}

static int bench_size(PGconn *conn, const struct detector_params *p, const struct options *o,
                      long long size)
{
    struct fill_counts c;
    struct size_times t;
    struct outcome out[4] = {{0}}; /* check before and after compaction, trend, flag scan */
    int rc = -1;
    if (fill_all(conn, size, o->endpoints, &c, &t) < 0 ||
        time_runs(conn, p, o->runs, one_check, &t.check[0][0], &t.check[0][1], &out[0]) < 0 ||
        compact_vacuum(conn, &t) < 0 ||
        time_runs(conn, p, o->runs, one_check, &t.check[1][0], &t.check[1][1], &out[1]) < 0 ||
        time_runs(conn, p, o->runs, one_trend, &t.trend[0], &t.trend[1], &out[2]) < 0 ||
        time_runs(conn, p, o->runs, one_flag_scan, &t.flags[0], &t.flags[1], &out[3]) < 0)
        goto done;
    print_size(size, &c, &t, out);
    rc = 0;
done:
    for (int i = 0; i < 4; i++)
        free(out[i].verdict);
    return rc;
}

/* The configuration's defaults, with the buckets and deploy windows this bench describes. */
static int params_init(struct detector_params *p)
{
    struct config cfg;
    char err[512];
    int rc = config_load(&cfg, NULL, NULL, 0, err, sizeof(err));
    if (rc == 0)
        rc = detector_params_init(p, &cfg, err, sizeof(err));
    config_free(&cfg);
    if (rc < 0) {
        fprintf(stderr, "bench_check: %s\n", err);
        return -1;
    }
    p->buckets = 64;
    p->baseline_window_us = p->candidate_window_us = HOUR_US;
    return 0;
}

static int run(const struct options *o, const char *dbname)
{
    PGconn *conn = connect_db(dbname);
    char err[1024];
    int applied, rc = -1;
    struct detector_params p;
    memset(&p, 0, sizeof(p));
    if (!conn || db_migrate(conn, &applied, err, sizeof(err)) < 0) {
        if (conn)
            fprintf(stderr, "bench_check: migrate: %s\n", err);
        goto done;
    }
    if (params_init(&p) < 0)
        goto done;
    printf("bench_check: one service, %d endpoints, deploy at %s, baseline and candidate windows "
           "1 h, %d runs per size; trend and flag scan of the hour after the deploy (trend "
           "coverage %.0f %%, at most %zu endpoints; flags min share %.0f %%)\n",
           o->endpoints, T_DEPLOY, o->runs, 100.0 * p.trend_coverage, p.trend_max_endpoints,
           100.0 * p.flags_min_share);
    for (int i = 0; i < o->n_sizes; i++)
        if ((rc = bench_size(conn, &p, o, o->sizes[i])) < 0)
            break;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS of the checking process: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
done:
    detector_params_free(&p);
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
