/* The deploys and findings tables (sql/003_deploys.sql): recording a deploy, reading one,
 * finding the deploys due for a check, and storing a verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/db.h"
#include "regressd/detector.h"

#define EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

void detector_deploy_clear(struct detector_deploy *d)
{
    if (!d)
        return;
    free(d->service);
    free(d->commit);
    free(d->baseline);
    free(d->source);
    free(d->verdict);
    free(d->report);
    memset(d, 0, sizeof(*d));
}

static char *dup_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int64_t int_or_zero(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int detector_check_name(const char *what, const char *value, bool service, char *err, size_t errlen)
{
    size_t n = value ? strlen(value) : 0;
    if (n == 0 || n > 64) {
        snprintf(err, errlen, "%s: must be 1 to 64 bytes", what);
        return -1;
    }
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        bool alnum =
            (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        bool ok = service ? alnum || strchr("._:/-", *c) != NULL : *c >= 0x20 && *c != 0x7f;
        if (!ok) {
            snprintf(err, errlen, "%s: %s", what,
                     service ? "only letters, digits and . _ : / - are allowed"
                             : "control characters are not allowed");
            return -1;
        }
    }
    return 0;
}

int detector_deploy_record(PGconn *conn, const char *service, const char *commit,
                           const int64_t *at_us, const char *baseline, int64_t *id, bool *created,
                           char *err, size_t errlen)
{
    char at[UTIL_TS_BUFLEN];
    if (at_us)
        util_format_ts(*at_us, at);
    const char *params[] = {service, commit, at_us ? at : NULL, baseline};
    PGresult *res = db_query(conn,
                             "SELECT id, created FROM regressd_record_deploy($1, $2,"
                             " $3::timestamptz, $4)",
                             4, params, err, errlen);
    if (!res)
        return -1;
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *created = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    return 0;
}

#define DEPLOY_COLUMNS                                                                             \
    "id, service, \"commit\", baseline_commit, " EPOCH_US(                                         \
        "deployed_at") ", source, verdict, " EPOCH_US("created_at") ", " EPOCH_US("decided_at") ", report::text"

static void deploy_from_row(PGresult *res, int row, struct detector_deploy *out)
{
    out->id = int_or_zero(res, row, 0);
    out->service = dup_or_null(res, row, 1);
    out->commit = dup_or_null(res, row, 2);
    out->baseline = dup_or_null(res, row, 3);
    out->deployed_at_us = int_or_zero(res, row, 4);
    out->source = dup_or_null(res, row, 5);
    out->verdict = dup_or_null(res, row, 6);
    out->created_at_us = int_or_zero(res, row, 7);
    out->decided_at_us = int_or_zero(res, row, 8);
    out->report = dup_or_null(res, row, 9);
}

int detector_deploy_get(PGconn *conn, int64_t id, struct detector_deploy *out, bool *found,
                        char *err, size_t errlen)
{
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    const char *params[] = {idtext};
    memset(out, 0, sizeof(*out));
    PGresult *res = db_query(conn, "SELECT " DEPLOY_COLUMNS " FROM deploys WHERE id = $1", 1,
                             params, err, errlen);
    if (!res)
        return -1;
    *found = PQntuples(res) > 0;
    if (*found)
        deploy_from_row(res, 0, out);
    PQclear(res);
    return 0;
}

/* The commit's first sample, as a deploy that was not recorded. */
static int deploy_from_commits(PGconn *conn, const char *service, const char *commit,
                               struct detector_deploy *out, bool *found, char *err, size_t errlen)
{
    const char *params[] = {service, commit};
    PGresult *res =
        db_query(conn,
                 "SELECT " EPOCH_US(
                     "first_ts") ", regressd_deploy_baseline($1, $2,"
                                 " first_ts) FROM commits WHERE service = $1 AND \"commit\" = $2",
                 2, params, err, errlen);
    if (!res)
        return -1;
    *found = PQntuples(res) > 0;
    if (*found) {
        out->service = xstrdup(service);
        out->commit = xstrdup(commit);
        out->deployed_at_us = int_or_zero(res, 0, 0);
        out->baseline = dup_or_null(res, 0, 1);
        out->source = xstrdup("seen");
    }
    PQclear(res);
    return 0;
}

int detector_deploy_find(PGconn *conn, const char *service, const char *commit,
                         struct detector_deploy *out, bool *found, char *err, size_t errlen)
{
    const char *params[] = {service, commit};
    memset(out, 0, sizeof(*out));
    PGresult *res = db_query(conn,
                             "SELECT " DEPLOY_COLUMNS " FROM deploys WHERE service = $1 AND"
                             " \"commit\" = $2 ORDER BY deployed_at DESC, id DESC LIMIT 1",
                             2, params, err, errlen);
    if (!res)
        return -1;
    *found = PQntuples(res) > 0;
    if (*found)
        deploy_from_row(res, 0, out);
    PQclear(res);
    if (*found)
        return 0;
    return deploy_from_commits(conn, service, commit, out, found, err, errlen);
}

int detector_deploys_due(PGconn *conn, const struct detector_params *p, int64_t now_us,
                         int64_t *ids, size_t max, size_t *n, char *err, size_t errlen)
{
    char before[UTIL_TS_BUFLEN], limit[32];
    /* a superset: the exact end (rounded up to a block) is checked below */
    util_format_ts(now_us - p->settle_us - p->candidate_window_us, before);
    snprintf(limit, sizeof(limit), "%zu", max);
    const char *params[] = {before, limit};
    PGresult *res = db_query(
        conn,
        "SELECT id, " EPOCH_US(
            "deployed_at") " FROM deploys WHERE verdict"
                           " IS NULL AND deployed_at <= $1 ORDER BY deployed_at, id LIMIT $2",
        2, params, err, errlen);
    if (!res)
        return -1;
    *n = 0;
    for (int i = 0; i < PQntuples(res) && *n < max; i++) {
        struct detector_windows w;
        detector_windows_of(p, strtoll(PQgetvalue(res, i, 1), NULL, 10), &w);
        if (w.to + p->settle_us <= now_us)
            ids[(*n)++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    }
    PQclear(res);
    return 0;
}

int detector_ingest_passed(PGconn *conn, const struct detector_params *p, const char *service,
                           const char *commit, int64_t deployed_at_us, bool *passed, bool *seen,
                           char *err, size_t errlen)
{
    struct detector_windows w;
    detector_windows_of(p, deployed_at_us, &w);
    char from[UTIL_TS_BUFLEN], end[UTIL_TS_BUFLEN];
    util_format_ts(w.cand_from, from);
    util_format_ts(w.to, end);
    const char *params[] = {service, end, commit, from};
    PGresult *res = db_query(conn,
                             "SELECT EXISTS (SELECT 1 FROM rollups WHERE service = $1 AND"
                             " minute >= $2), EXISTS (SELECT 1 FROM rollups WHERE service = $1"
                             " AND \"commit\" = $3 AND minute >= $4 AND minute < $2)",
                             4, params, err, errlen);
    if (!res)
        return -1;
    *passed = PQgetvalue(res, 0, 0)[0] == 't';
    *seen = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    return 0;
}

int detector_deploy_store(PGconn *conn, int64_t id, const struct detector_report *r, bool *stored,
                          char *err, size_t errlen)
{
    char *report = detector_report_dumps(r, false);
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    const char *params[] = {idtext, stats_verdict_name(r->verdict), report};
    PGresult *res = db_query(conn,
                             "WITH d AS (UPDATE deploys SET verdict = $2, report = $3::jsonb,"
                             " decided_at = now() WHERE id = $1 AND verdict IS NULL RETURNING"
                             " id, service) INSERT INTO findings (kind, service, deploy_id,"
                             " verdict, report) SELECT 'deploy', service, id, $2, $3::jsonb FROM"
                             " d ON CONFLICT DO NOTHING",
                             3, params, err, errlen);
    free(report);
    if (!res)
        return -1;
    *stored = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    return 0;
}

int detector_deploy_decide(PGconn *conn, int64_t id, const struct detector_report *r, char *err,
                           size_t errlen)
{
    char ignored[256];
    bool stored;
    if (db_exec(conn, "BEGIN", err, errlen) < 0)
        return -1;
    if (detector_deploy_store(conn, id, r, &stored, err, errlen) < 0) {
        if (db_exec(conn, "ROLLBACK", ignored, sizeof(ignored)) < 0)
            PQreset(conn); /* unusable: start afresh */
        return -1;
    }
    return db_exec(conn, "COMMIT", err, errlen);
}
