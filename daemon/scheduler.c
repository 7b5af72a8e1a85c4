/* See scheduler.h. One round every deploy.check_interval: take the lead if free, then for every
 * job run its due slots, oldest first, at most RUNS_PER_ROUND per job per round (a long
 * catch-up yields to a stop request between runs). */
#include "scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lead.h"
#include "regressd/alert.h"
#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/log.h"

/* The advisory lock of the schedule (another key than migrations' and the deploy checker's). */
#define SCHEDULE_LOCK_KEY "7526402656486515558"
#define RUNS_PER_ROUND 24
#define HOUR_US (3600LL * 1000000LL)
#define DAY_US (24 * HOUR_US)
#define WEEK_US (7 * DAY_US)
/* 1970-01-01 was a Thursday: weeks start on Mondays, 4 days later. */
#define MONDAY_US (4 * DAY_US)
#define MAX_JOBS 8

enum job_kind { JOB_TREND, JOB_FLAGS, JOB_RETENTION };

struct job {
    char id[48];
    enum job_kind kind;
    int64_t period_us, align_us;
    int64_t window_us, offset_us;
    /* this daemon's runs, for /metrics */
    _Atomic long long runs, failures;
    _Atomic int64_t last_slot_us;
};

struct scheduler {
    pthread_t thread;
    bool running;
    const struct config *cfg;
    struct detector_params params;
    struct lead lead;
    bool event_clock;
    struct job jobs[MAX_JOBS];
    size_t n_jobs;
};

static void add_job(struct scheduler *s, enum job_kind kind, int64_t period, int64_t align,
                    int64_t window, int64_t offset)
{
    struct job *j = &s->jobs[s->n_jobs++];
    memset(j, 0, sizeof(*j));
    char w[16], o[16];
    util_format_duration(window / 1000000, w, sizeof(w));
    util_format_duration(offset / 1000000, o, sizeof(o));
    if (kind == JOB_TREND)
        snprintf(j->id, sizeof(j->id), "trend:%s:%s", w, o);
    else if (kind == JOB_FLAGS)
        snprintf(j->id, sizeof(j->id), "flags:%s", w);
    else
        snprintf(j->id, sizeof(j->id), "retention");
    j->kind = kind;
    j->period_us = period;
    j->align_us = align;
    j->window_us = window;
    j->offset_us = offset;
}

static void configure_jobs(struct scheduler *s)
{
    const char *list = s->cfg->schedule_jobs;
    if (config_list_has(list, "hourly")) {
        add_job(s, JOB_TREND, HOUR_US, 0, HOUR_US, DAY_US);
        add_job(s, JOB_TREND, HOUR_US, 0, HOUR_US, WEEK_US);
    }
    if (config_list_has(list, "daily"))
        add_job(s, JOB_TREND, DAY_US, 0, DAY_US, WEEK_US);
    if (config_list_has(list, "weekly"))
        add_job(s, JOB_TREND, WEEK_US, MONDAY_US, WEEK_US, WEEK_US);
    if (config_list_has(list, "flags"))
        add_job(s, JOB_FLAGS, HOUR_US, 0, s->params.flags_window_us, 0);
    if (config_list_has(list, "retention"))
        add_job(s, JOB_RETENTION, HOUR_US, 0, 0, 0);
}

/* The latest slot of j at or before t. */
static int64_t slot_at_or_before(const struct job *j, int64_t t)
{
    int64_t x = t - j->align_us, q = x / j->period_us;
    if (x % j->period_us < 0)
        q--;
    return q * j->period_us + j->align_us;
}

/* ---- the clock ---- */

/* The newest event time stored: the end of the newest rollup minute of any service; *none when
 * nothing is stored yet. */
static int event_now(struct scheduler *s, int64_t *now, bool *none, char *err, size_t errlen)
{
    PGresult *res = db_query(
        s->lead.conn,
        "SELECT (extract(epoch FROM max(m)) * 1000000)::bigint + 60000000 FROM (SELECT (SELECT"
        " max(minute) FROM rollups r WHERE r.service = e.service) AS m FROM (SELECT DISTINCT"
        " service FROM endpoints) e) x",
        0, NULL, err, errlen);
    if (!res)
        return -1;
    *none = PQgetisnull(res, 0, 0);
    *now = *none ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* ---- one run ---- */

static int services_of(struct scheduler *s, PGresult **out, char *err, size_t errlen)
{
    *out = db_query(s->lead.conn, "SELECT DISTINCT service FROM endpoints ORDER BY 1", 0, NULL, err,
                    errlen);
    return *out ? 0 : -1;
}

static int already_stored(struct scheduler *s, const struct job *j, const char *slot,
                          const char *service, bool *stored, char *err, size_t errlen)
{
    const char *params[] = {j->id, slot, service};
    PGresult *res = db_query(s->lead.conn,
                             "SELECT 1 FROM findings WHERE job = $1 AND slot = $2 AND service = $3",
                             3, params, err, errlen);
    if (!res)
        return -1;
    *stored = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

int scheduler_store_finding(PGconn *conn, const char *job, const char *slot,
                            const struct detector_report *r, bool *stored, int64_t *alert_id,
                            char *err, size_t errlen)
{
    json_t *report = detector_report_json(r);
    char *text = detector_json_dumps(report, false);
    const char *params[] = {r->kind, r->service, stats_verdict_name(r->verdict), text, job, slot};
    *alert_id = 0;
    *stored = false;
    int rc = -1;
    if (db_exec(conn, "BEGIN", err, errlen) < 0)
        goto done;
    PGresult *res =
        db_query(conn,
                 "INSERT INTO findings (kind, service, verdict, report, job, slot) VALUES ($1, $2,"
                 " $3, $4, $5, $6) ON CONFLICT (job, slot, service) WHERE job IS NOT NULL DO"
                 " NOTHING RETURNING id",
                 6, params, err, errlen);
    *stored = res && PQntuples(res) == 1;
    PQclear(res);
    if (res && (!*stored ||
                (alert_resolve_absent(conn, report, NULL, err, errlen) == 0 &&
                 alert_enqueue(conn, r->kind, r->service, report, alert_id, err, errlen) == 0)))
        rc = db_exec(conn, "COMMIT", err, errlen);
    if (rc < 0) {
        char ignored[256];
        *alert_id = 0;
        *stored = false;
        if (db_exec(conn, "ROLLBACK", ignored, sizeof(ignored)) < 0)
            log_debug("schedule: rollback failed: %s", ignored);
    }
done:
    json_decref(report);
    free(text);
    return rc;
}

static int analyse(struct scheduler *s, const struct job *j, int64_t slot_us, int64_t now,
                   int *services, int *regressions, char *err, size_t errlen)
{
    char slot[UTIL_TS_BUFLEN];
    util_format_ts(slot_us, slot);
    PGresult *svc;
    if (services_of(s, &svc, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(svc) && rc == 0 && !lead_stopping(&s->lead); i++) {
        const char *service = PQgetvalue(svc, i, 0);
        bool stored;
        if ((rc = already_stored(s, j, slot, service, &stored, err, errlen)) < 0 || stored)
            continue;
        struct detector_report *r =
            j->kind == JOB_TREND ? detector_trend(s->lead.conn, &s->params, service, j->window_us,
                                                  j->offset_us, slot_us, now, err, errlen)
                                 : detector_flags(s->lead.conn, &s->params, service, j->window_us,
                                                  slot_us, now, err, errlen);
        if (!r) {
            rc = -1;
            break;
        }
        if (r->samples[0] + r->samples[1] > 0) { /* a service without data then: nothing */
            int64_t alert_id;
            bool fresh;
            rc = scheduler_store_finding(s->lead.conn, j->id, slot, r, &fresh, &alert_id, err,
                                         errlen);
            (*services)++;
            *regressions += rc == 0 && r->verdict == STATS_REGRESSION;
            if (rc == 0 && r->verdict == STATS_REGRESSION)
                log_info("%s %.16sZ: %s: regression: %s%s", j->id, slot, service,
                         r->verdict_reason ? r->verdict_reason : "",
                         alert_id ? " (alert queued)" : "");
        }
        detector_report_free(r);
    }
    PQclear(svc);
    if (lead_stopping(&s->lead) && rc == 0)
        rc = 1; /* not finished: not recorded */
    return rc;
}

static int retention(struct scheduler *s, int *dropped, char *err, size_t errlen)
{
    int64_t now = util_now_us();
    char samples_before[UTIL_TS_BUFLEN], rollups_before[UTIL_TS_BUFLEN];
    util_format_ts(now - s->cfg->retention_samples_us, samples_before);
    util_format_ts(now - s->cfg->retention_rollups_us, rollups_before);
    const char *p1[] = {samples_before};
    PGresult *res =
        db_query(s->lead.conn, "SELECT regressd_drop_samples_before($1)", 1, p1, err, errlen);
    if (!res)
        return -1;
    *dropped = PQntuples(res);
    for (int i = 0; i < PQntuples(res); i++)
        log_info("retention: dropped %s", PQgetvalue(res, i, 0));
    PQclear(res);
    static const char *const sql[] = {
        "DELETE FROM dead_letters WHERE received_at < $1",
    };
    static const char *const per_service[] = {
        "DELETE FROM rollups WHERE service = $1 AND minute < $2",
        "DELETE FROM rollup_users WHERE service = $1 AND minute < $2",
        "DELETE FROM rollup_blocks WHERE service = $1 AND block < $2",
        "DELETE FROM rollup_block_totals WHERE service = $1 AND block < $2",
        "DELETE FROM rollup_block_users WHERE service = $1 AND block < $2",
        "DELETE FROM rollup_flags WHERE service = $1 AND block < $2",
        "DELETE FROM rollup_flag_blocks WHERE service = $1 AND block < $2",
        "DELETE FROM rollup_flag_users WHERE service = $1 AND block < $2",
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(sql); i++) {
        if (!(res = db_query(s->lead.conn, sql[i], 1, p1, err, errlen)))
            return -1;
        PQclear(res);
    }
    PGresult *svc;
    if (services_of(s, &svc, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(svc) && rc == 0; i++)
        for (size_t k = 0; k < REGRESSD_ARRAY_LEN(per_service) && rc == 0; k++) {
            const char *p2[] = {PQgetvalue(svc, i, 0), rollups_before};
            if ((res = db_query(s->lead.conn, per_service[k], 2, p2, err, errlen)))
                PQclear(res);
            else
                rc = -1;
        }
    PQclear(svc);
    const char *p3[] = {rollups_before};
    if (rc == 0 && (res = db_query(s->lead.conn, "DELETE FROM rollup_block_state WHERE block < $1",
                                   1, p3, err, errlen)))
        PQclear(res);
    else
        rc = -1;
    return rc;
}

static int record_run(struct scheduler *s, const struct job *j, int64_t slot_us, int64_t started,
                      int services, int regressions, char *err, size_t errlen)
{
    char slot[UTIL_TS_BUFLEN], start[UTIL_TS_BUFLEN], n[16], r[16];
    util_format_ts(slot_us, slot);
    util_format_ts(started, start);
    snprintf(n, sizeof(n), "%d", services);
    snprintf(r, sizeof(r), "%d", regressions);
    const char *params[] = {j->id, slot, start, n, r};
    PGresult *res = db_query(s->lead.conn,
                             "INSERT INTO job_runs (job, slot, started_at, services, regressions)"
                             " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job, slot) DO NOTHING",
                             5, params, err, errlen);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

static int run_slot(struct scheduler *s, struct job *j, int64_t slot_us, int64_t now, char *err,
                    size_t errlen)
{
    int64_t started = util_now_us();
    int services = 0, regressions = 0, rc;
    if (j->kind == JOB_RETENTION)
        rc = retention(s, &services, err, errlen);
    else
        rc = analyse(s, j, slot_us, now, &services, &regressions, err, errlen);
    if (rc != 0)
        return rc;
    if (record_run(s, j, slot_us, started, services, regressions, err, errlen) < 0)
        return -1;
    atomic_fetch_add(&j->runs, 1);
    atomic_store(&j->last_slot_us, slot_us);
    char slot[UTIL_TS_BUFLEN];
    util_format_ts(slot_us, slot);
    if (j->kind == JOB_RETENTION)
        log_debug("%s %.16sZ: done", j->id, slot);
    else
        log_info("%s %.16sZ: %d service(s), %d with a regression (%.1f s)", j->id, slot, services,
                 regressions, (double)(util_now_us() - started) / 1e6);
    return 0;
}

/* Runs the due slots of j; now is the job's clock. */
static int run_job(struct scheduler *s, struct job *j, int64_t now, char *err, size_t errlen)
{
    int64_t due = slot_at_or_before(j, now - s->cfg->schedule_settle_us);
    const char *params[] = {j->id};
    PGresult *res = db_query(s->lead.conn,
                             "SELECT (extract(epoch FROM max(slot)) * 1000000)::bigint FROM"
                             " job_runs WHERE job = $1",
                             1, params, err, errlen);
    if (!res)
        return -1;
    int64_t next =
        PQgetisnull(res, 0, 0) ? due : strtoll(PQgetvalue(res, 0, 0), NULL, 10) + j->period_us;
    PQclear(res);
    int64_t oldest = slot_at_or_before(j, now - s->cfg->schedule_max_catchup_us) + j->period_us;
    if (next < oldest) {
        log_warn("%s: %lld run(s) missed more than schedule.max_catchup ago are skipped", j->id,
                 (long long)((oldest - next) / j->period_us));
        next = oldest;
    }
    for (int n = 0; next <= due && n < RUNS_PER_ROUND && !lead_stopping(&s->lead);
         n++, next += j->period_us) {
        int rc = run_slot(s, j, next, now, err, errlen);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}

static int round_once(void *ctx, char *err, size_t errlen)
{
    struct scheduler *s = ctx;
    int64_t wall = util_now_us(), event = wall;
    bool none = false;
    if (s->event_clock && event_now(s, &event, &none, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < s->n_jobs && !lead_stopping(&s->lead); i++) {
        struct job *j = &s->jobs[i];
        if (j->kind != JOB_RETENTION && none)
            continue; /* event clock, nothing stored yet */
        int64_t now = j->kind == JOB_RETENTION ? wall : event;
        if (run_job(s, j, now, err, errlen) < 0) {
            atomic_fetch_add(&j->failures, 1);
            if (db_connection_lost(s->lead.conn, NULL))
                return -1;
            log_error("%s: %s", j->id, err);
        }
    }
    return 0;
}

static void *scheduler_main(void *arg)
{
    struct scheduler *s = arg;
    lead_run(&s->lead, s->cfg->deploy_check_interval_us, round_once, s);
    return NULL;
}

struct scheduler *scheduler_start(const struct config *cfg, volatile sig_atomic_t *stop, char *err,
                                  size_t errlen)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->lead = (struct lead){.name = "schedule",
                            .lock_key = SCHEDULE_LOCK_KEY,
                            .role = "runs the scheduled jobs",
                            .cfg = cfg,
                            .stop = stop};
    s->event_clock = strcmp(cfg->schedule_clock, "event") == 0;
    if (detector_params_init(&s->params, cfg, err, errlen) < 0)
        goto failed;
    configure_jobs(s);
    if (s->n_jobs == 0)
        return s;
    log_debug("schedule: %zu job(s) from schedule.jobs = %s, on the %s clock", s->n_jobs,
              cfg->schedule_jobs, s->event_clock ? "event" : "wall");
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    if (rc != 0) {
        snprintf(err, errlen, "schedule: cannot start a thread: %s", strerror(rc));
        goto failed;
    }
    s->running = true;
    return s;
failed:
    detector_params_free(&s->params);
    free(s);
    return NULL;
}

void scheduler_metrics(struct scheduler *s, struct buf *out)
{
    if (!s || s->n_jobs == 0)
        return;
    buf_printf(out,
               "# HELP regressd_schedule_leader Whether this daemon runs the scheduled jobs.\n"
               "# TYPE regressd_schedule_leader gauge\nregressd_schedule_leader %d\n",
               atomic_load(&s->lead.leader) ? 1 : 0);
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"regressd_job_runs_total", "counter", "Scheduled runs this daemon finished, by job."},
        {"regressd_job_failures_total", "counter",
         "Rounds in which a job failed on this daemon (retried next round), by job."},
        {"regressd_job_last_slot_timestamp_seconds", "gauge",
         "End of the window of the latest run this daemon finished, by job."},
    };
    for (size_t k = 0; k < REGRESSD_ARRAY_LEN(series); k++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                   series[k].name, series[k].type);
        for (size_t i = 0; i < s->n_jobs; i++) {
            struct job *j = &s->jobs[i];
            if (k == 2)
                buf_printf(out, "%s{job=\"%s\"} %lld\n", series[k].name, j->id,
                           (long long)(atomic_load(&j->last_slot_us) / 1000000));
            else
                buf_printf(out, "%s{job=\"%s\"} %lld\n", series[k].name, j->id,
                           k == 0 ? atomic_load(&j->runs) : atomic_load(&j->failures));
        }
    }
}

void scheduler_stop(struct scheduler *s)
{
    if (!s)
        return;
    s->lead.stop_self = 1;
    if (s->running)
        pthread_join(s->thread, NULL);
    detector_params_free(&s->params);
    free(s);
}
