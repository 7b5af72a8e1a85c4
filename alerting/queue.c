/* The delivery queue's SQL (tables and functions in sql/004_alerts.sql). A delivery is claimed
 * with FOR UPDATE SKIP LOCKED and leased, so no transaction is open while the HTTP request runs
 * and a worker that dies mid-request leaves the delivery to be retried once the lease ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"
#include "regressd/db.h"

void alert_job_clear(struct alert_job *j)
{
    json_decref(j->payload);
    free(j->dedup_key);
    memset(j, 0, sizeof(*j));
}

static void us_text(int64_t us, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lld", (long long)us);
}

static int64_t epoch_us(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? 0 : (int64_t)strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

int alert_queue_claim(PGconn *conn, enum alert_receiver r, int64_t lease_us, struct alert_job *job,
                      char *err, size_t errlen)
{
    char lease[32];
    us_text(lease_us, lease, sizeof(lease));
    const char *params[] = {alert_receiver_name(r), lease};
    PGresult *res = db_query(
        conn,
        "WITH c AS (SELECT alert_id, event FROM alert_deliveries"
        "            WHERE receiver = $1 AND state = 'pending' AND next_attempt_at <= now()"
        "              AND (lease_until IS NULL OR lease_until < now())"
        "            ORDER BY next_attempt_at, alert_id LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " u AS (UPDATE alert_deliveries d SET attempts = d.attempts + 1,"
        "              lease_until = now() + $2::bigint * interval '1 microsecond'"
        "         FROM c WHERE d.alert_id = c.alert_id AND d.receiver = $1 AND d.event = c.event"
        "       RETURNING d.alert_id, d.event, d.attempts)"
        " SELECT u.alert_id, u.event, u.attempts, a.payload::text,"
        "        (extract(epoch FROM a.created_at) * 1e6)::bigint,"
        "        (extract(epoch FROM a.resolved_at) * 1e6)::bigint, a.dedup_key"
        "   FROM u JOIN alerts a ON a.id = u.alert_id",
        2, params, err, errlen);
    if (!res)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    memset(job, 0, sizeof(*job));
    job->alert_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(job->event, sizeof(job->event), "%s", PQgetvalue(res, 0, 1));
    job->attempt = atoi(PQgetvalue(res, 0, 2));
    job->payload = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    job->created_us = epoch_us(res, 4);
    job->resolved_us = epoch_us(res, 5);
    job->dedup_key = xstrdup(PQgetvalue(res, 0, 6));
    PQclear(res);
    if (!job->payload) {
        snprintf(err, errlen, "alert %lld: stored payload is not JSON", (long long)job->alert_id);
        alert_job_clear(job);
        return -1;
    }
    return 1;
}

int alert_queue_record(PGconn *conn, enum alert_receiver r, const struct alert_job *job,
                       int64_t started_us, const struct alert_http_result *res, int64_t retry_us,
                       bool *gave_up, char *err, size_t errlen)
{
    char id[32], attempt[16], started[UTIL_TS_BUFLEN], ms[32], status[16], retry[32];
    us_text(job->alert_id, id, sizeof(id));
    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    util_format_ts(started_us, started);
    snprintf(ms, sizeof(ms), "%.3f", res->duration_ms);
    snprintf(status, sizeof(status), "%ld", res->status);
    us_text(retry_us, retry, sizeof(retry));
    bool ok = res->error[0] == '\0';
    const char *params[] = {id,
                            alert_receiver_name(r),
                            job->event,
                            attempt,
                            started,
                            ms,
                            res->status ? status : NULL,
                            ok ? NULL : res->error,
                            retry};
    /* Only the attempt that holds the claim records (attempts = $4), once. */
    PGresult *q = db_query(
        conn,
        "WITH u AS (UPDATE alert_deliveries SET lease_until = NULL, last_attempt_at = now(),"
        "        last_error = coalesce($8, last_error),"
        "        state = CASE WHEN $8 IS NULL THEN 'delivered'"
        "                     WHEN now() + $9::bigint * interval '1 microsecond' > deadline_at"
        "                     THEN 'failed' ELSE 'pending' END,"
        "        delivered_at = CASE WHEN $8 IS NULL THEN now() END,"
        "        next_attempt_at = now() + $9::bigint * interval '1 microsecond'"
        "      WHERE alert_id = $1 AND receiver = $2 AND event = $3 AND attempts = $4"
        "        AND state = 'pending' RETURNING state)"
        " , i AS (INSERT INTO alert_attempts (alert_id, receiver, event, attempt, started_at,"
        "        duration_ms, http_status, error)"
        "      SELECT $1, $2, $3, $4, $5::timestamptz, $6, $7, $8 FROM u)"
        " SELECT state FROM u",
        9, params, err, errlen);
    if (!q)
        return -1;
    int recorded = PQntuples(q);
    *gave_up = recorded && strcmp(PQgetvalue(q, 0, 0), "failed") == 0;
    PQclear(q);
    return recorded;
}

int alert_queue_release(PGconn *conn, const char *receivers_json, int64_t cap, int64_t window_us,
                        int64_t deadline_us, int *released, char *err, size_t errlen)
{
    char captext[32], window[32], deadline[32];
    snprintf(captext, sizeof(captext), "%lld", (long long)cap);
    us_text(window_us, window, sizeof(window));
    us_text(deadline_us, deadline, sizeof(deadline));
    const char *params[] = {receivers_json, captext, window, deadline};
    PGresult *res = db_query(conn,
                             "SELECT regressd_alert_release("
                             " ARRAY(SELECT jsonb_array_elements_text($1::jsonb)), $2::integer,"
                             " $3::bigint * interval '1 microsecond',"
                             " $4::bigint * interval '1 microsecond', 100)",
                             4, params, err, errlen);
    if (!res)
        return -1;
    *released = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int alert_queue_expire(PGconn *conn, int *expired, char *err, size_t errlen)
{
    PGresult *res = db_query(conn,
                             "UPDATE alert_deliveries SET state = 'failed',"
                             " last_error = coalesce(last_error, 'not delivered before the"
                             " deadline'), last_attempt_at = coalesce(last_attempt_at, now())"
                             " WHERE state = 'pending' AND deadline_at < now()"
                             " AND (lease_until IS NULL OR lease_until < now())",
                             0, NULL, err, errlen);
    if (!res)
        return -1;
    *expired = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int64_t alert_backoff(int attempt, int64_t initial_us, int64_t max_us, int64_t retry_after_us,
                      double rand01)
{
    int64_t delay = initial_us;
    for (int i = 1; i < attempt && delay < max_us; i++)
        delay *= 2;
    if (delay > max_us)
        delay = max_us;
    delay = delay / 2 + (int64_t)(rand01 * (double)(delay - delay / 2));
    if (retry_after_us > delay)
        delay = retry_after_us < max_us ? retry_after_us : max_us;
    return delay;
}
