/* Compaction of the minute rollups into 10-minute blocks (tables and rules in
 * sql/003_deploys.sql). New blocks are compacted for every service at once, oldest first; a
 * block marked dirty by late rows is recompacted for its service. The flag rollups of a block
 * are merged in the same transaction (sql/005_trends.sql). Each (block[, service]) is one
 * transaction that replaces whatever the block tables held for it, so a crash or a repeated run
 * never counts a row twice. The minute tables are left alone (their retention is ingest's).
 *
 * The minute tables are indexed by (service, minute) but not by minute alone: every statement
 * names the services (service = ANY), so PostgreSQL scans only the block's index range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/log.h"

/* $1 block start, $2 services (text[]); the minute range is [$1, $1 + 10 min). */
static const char *const compact_sql[] = {
    "DELETE FROM rollup_blocks WHERE block = $1 AND service = ANY ($2::text[])",
    "DELETE FROM rollup_block_totals WHERE block = $1 AND service = ANY ($2::text[])",
    "DELETE FROM rollup_block_users WHERE block = $1 AND service = ANY ($2::text[])",
    "INSERT INTO rollup_blocks SELECT service, endpoint, \"commit\", $1, array_agg(bucket ORDER"
    " BY bucket), array_agg(r ORDER BY bucket), array_agg(i ORDER BY bucket), array_agg(i2 ORDER"
    " BY bucket), array_agg(ln ORDER BY bucket), array_agg(l ORDER BY bucket), array_agg(l2 ORDER"
    " BY bucket), array_agg(db ORDER BY bucket), array_agg(ca ORDER BY bucket) FROM (SELECT"
    " service, endpoint, \"commit\", bucket, sum(requests) r, sum(instructions) i,"
    " sum(instructions_sq) i2, sum(latency_n) ln, sum(latency_us) l, sum(latency_sq) l2,"
    " sum(db_us) db, sum(cache_us) ca FROM rollup_buckets WHERE service = ANY ($2::text[])"
    " AND minute >= $1 AND minute < $1::timestamptz + interval '10 minutes' GROUP BY service,"
    " endpoint, \"commit\", bucket) s GROUP BY service, endpoint, \"commit\"",
    "INSERT INTO rollup_block_totals SELECT service, \"commit\", block, u.b, sum(u.r), sum(u.i),"
    " sum(u.ln), sum(u.l) FROM rollup_blocks, unnest(buckets, requests, instructions, latency_n,"
    " latency_us) AS u(b, r, i, ln, l) WHERE block = $1 AND service = ANY ($2::text[]) GROUP BY"
    " service, \"commit\", block, u.b",
    "INSERT INTO rollup_block_users SELECT service, \"commit\", $1, array_agg(DISTINCT h ORDER BY"
    " h) FROM rollup_users, unnest(user_hashes) h WHERE service = ANY ($2::text[]) AND minute >="
    " $1 AND minute < $1::timestamptz + interval '10 minutes' GROUP BY service, \"commit\"",
    "SELECT regressd_merge_flag_block($1, $2::text[])",
};

static int rollback(PGconn *conn)
{
    char ignored[256];
    return db_exec(conn, "ROLLBACK", ignored, sizeof(ignored));
}

/* Runs the statements for one block, then `finish` (with its params) in the same transaction. */
static int compact_one(PGconn *conn, const char *block, const char *services, const char *finish,
                       int nfinish, const char *const *finish_params, char *err, size_t errlen)
{
    const char *params[] = {block, services};
    if (db_exec(conn, "BEGIN", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(compact_sql); i++) {
        PGresult *res = db_query(conn, compact_sql[i], 2, params, err, errlen);
        if (!res)
            goto failed;
        PQclear(res);
    }
    PGresult *res = db_query(conn, finish, nfinish, finish_params, err, errlen);
    if (!res)
        goto failed;
    PQclear(res);
    return db_exec(conn, "COMMIT", err, errlen);
failed:
    (void)rollback(conn);
    return -1;
}

/* The next block to compact (-1: none yet known) and every service, as a text[] literal. */
static int next_block(PGconn *conn, int64_t *next, struct buf *services, char *err, size_t errlen)
{
    PGresult *res = db_query(
        conn,
        "SELECT (extract(epoch FROM coalesce((SELECT max(block) + interval '10 minutes' FROM"
        " rollup_block_state), (SELECT regressd_block_of(min(first_ts)) FROM commits))) *"
        " 1000000)::bigint, (SELECT coalesce(array_agg(DISTINCT service), '{}') FROM commits)",
        0, NULL, err, errlen);
    if (!res)
        return -1;
    *next = PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    buf_append_str(services, PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

static int compact_new(PGconn *conn, int64_t now_us, int max_blocks, int *done, char *err,
                       size_t errlen)
{
    struct buf services = {0};
    int64_t next;
    int rc = next_block(conn, &next, &services, err, errlen);
    for (int i = 0; rc == 0 && next >= 0 && i < max_blocks; i++) {
        if (next + DETECTOR_BLOCK_US + DETECTOR_COMPACT_DELAY_US > now_us)
            break;
        char block[UTIL_TS_BUFLEN];
        util_format_ts(next, block);
        const char *fp[] = {block};
        rc = compact_one(conn, block, buf_cstr(&services),
                         "INSERT INTO rollup_block_state (block) VALUES ($1) ON CONFLICT (block)"
                         " DO UPDATE SET compacted_at = now()",
                         1, fp, err, errlen);
        if (rc == 0) {
            (*done)++;
            next += DETECTOR_BLOCK_US;
        }
    }
    buf_free(&services);
    return rc;
}

/* {"service"} as a text[] literal. */
static void one_service(const char *service, struct buf *out)
{
    buf_append_str(out, "{\"");
    for (const char *c = service; *c; c++) {
        if (*c == '"' || *c == '\\')
            buf_append_char(out, '\\');
        buf_append_char(out, *c);
    }
    buf_append_str(out, "\"}");
}

/* Dirty (service, block)s; the marks seen (ids up to the largest) go with the recompaction. */
static int compact_dirty(PGconn *conn, int64_t now_us, int max_blocks, int *done, char *err,
                         size_t errlen)
{
    char before[UTIL_TS_BUFLEN], limit[16];
    util_format_ts(now_us - DETECTOR_BLOCK_US - DETECTOR_COMPACT_DELAY_US, before);
    snprintf(limit, sizeof(limit), "%d", max_blocks);
    const char *params[] = {before, limit};
    PGresult *res = db_query(conn,
                             "SELECT service, block::text, max(id) FROM rollup_block_dirty"
                             " WHERE block <= $1 GROUP BY 1, 2 ORDER BY 2 LIMIT $2",
                             2, params, err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        struct buf services = {0};
        const char *service = PQgetvalue(res, i, 0), *block = PQgetvalue(res, i, 1);
        one_service(service, &services);
        const char *fp[] = {service, block, PQgetvalue(res, i, 2)};
        rc = compact_one(conn, block, buf_cstr(&services),
                         "DELETE FROM rollup_block_dirty WHERE service = $1 AND block = $2 AND"
                         " id <= $3",
                         3, fp, err, errlen);
        *done += rc == 0;
        buf_free(&services);
    }
    PQclear(res);
    return rc;
}

int detector_compact(PGconn *conn, int64_t now_us, int max_blocks, int *done, char *err,
                     size_t errlen)
{
    *done = 0;
    if (compact_new(conn, now_us, max_blocks, done, err, errlen) < 0)
        return -1;
    return compact_dirty(conn, now_us, max_blocks, done, err, errlen);
}
