/* The delivery loop of `regressd run`.
 *
 * A coordinator thread holds a session-level advisory lock on its own connection
 * (pg_try_advisory_lock, tried again every alert.poll_interval, so when the holder dies its
 * session ends and another daemon takes over); while it holds the lock it releases queued alerts
 * under the per-service cap and gives up deliveries past their deadline. One worker thread per
 * configured receiver, each with its own connection and libcurl handle, claims that receiver's
 * due deliveries while the lock is held, sends them and records every attempt: a receiver that
 * is down or slow delays nobody else. Every wait is sliced so a stop request is seen within
 * ~50 ms, and a request in flight is aborted by libcurl's progress callback. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alert_int.h"
#include "regressd/alert.h"
#include "regressd/db.h"
#include "regressd/log.h"

#define NAP_SLICE_US 50000
#define LEASE_MARGIN_US (5 * 1000000LL)
#define CONNECT_BACKOFF_MAX_US (30 * 1000000LL)

struct alert_worker {
    struct alert_loop *loop;
    enum alert_receiver receiver;
    char *url; /* owned; holds secrets: never logged */
    pthread_t thread;
    bool started;
    uint64_t rng;
    atomic_llong delivered, errors, gave_up;
};

struct alert_loop {
    const struct config *cfg;
    volatile sig_atomic_t *stop;
    atomic_bool quit;
    atomic_bool leader;
    pthread_t coordinator;
    bool coordinator_started;
    bool curl_initialised;
    struct alert_worker workers[ALERT_RECEIVER_COUNT];
    size_t n_workers;
    char receivers_json[96]; /* ["webhook","slack",...] */
};

static bool stopping(struct alert_loop *l)
{
    return *l->stop || atomic_load(&l->quit);
}

static void nap(struct alert_loop *l, int64_t us)
{
    for (int64_t slept = 0; slept < us && !stopping(l); slept += NAP_SLICE_US) {
        int64_t step = us - slept < NAP_SLICE_US ? us - slept : NAP_SLICE_US;
        nanosleep(&(struct timespec){(time_t)(step / 1000000), (long)(step % 1000000) * 1000},
                  NULL);
    }
}

/* Connects, or naps with a doubling backoff (logged once per outage) and returns NULL. */
static PGconn *connect_or_nap(struct alert_loop *l, const char *who, int64_t *backoff, bool *logged)
{
    char err[512];
    PGconn *conn = db_connect(l->cfg->postgres_dsn, err, sizeof(err));
    if (conn) {
        if (*logged)
            log_info("alert %s: connected to PostgreSQL again", who);
        *logged = false;
        *backoff = l->cfg->alert_poll_interval_us;
        return conn;
    }
    if (!*logged)
        log_warn("alert %s: %s; retrying", who, err);
    *logged = true;
    nap(l, *backoff);
    *backoff = *backoff * 2 > CONNECT_BACKOFF_MAX_US ? CONNECT_BACKOFF_MAX_US : *backoff * 2;
    return NULL;
}

/* After a failed statement: keeps the connection unless it is gone. */
static void drop_if_lost(PGconn **conn)
{
    if (*conn && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
}

/* ---- coordinator ---- */

static int take_lock(struct alert_loop *l, PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = db_query(conn,
                             "SELECT pg_try_advisory_lock(hashtext('regressd'),"
                             " hashtext('alerts.delivery'))",
                             0, NULL, err, errlen);
    if (!res)
        return -1;
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        atomic_store(&l->leader, true);
        log_info("alert delivery: this daemon holds the delivery lock and sends alerts");
    }
    PQclear(res);
    return 0;
}

static int coordinate(struct alert_loop *l, PGconn *conn, char *err, size_t errlen)
{
    const struct config *c = l->cfg;
    if (!atomic_load(&l->leader) && take_lock(l, conn, err, errlen) < 0)
        return -1;
    if (!atomic_load(&l->leader))
        return 0;
    int released = 0, expired = 0;
    if (alert_queue_release(conn, l->receivers_json, c->alert_max_per_service,
                            c->alert_cap_window_us, c->alert_deadline_us, &released, err,
                            errlen) < 0 ||
        alert_queue_expire(conn, &expired, err, errlen) < 0)
        return -1;
    if (released)
        log_debug("alert delivery: %d alert(s) released", released);
    if (expired)
        log_warn("alert delivery: %d delivery(ies) given up at their deadline", expired);
    return 0;
}

static void *coordinator_main(void *arg)
{
    struct alert_loop *l = arg;
    PGconn *conn = NULL;
    int64_t backoff = l->cfg->alert_poll_interval_us;
    bool logged = false, failing = false;
    char err[1024];
    while (!stopping(l)) {
        if (!conn && !(conn = connect_or_nap(l, "coordinator", &backoff, &logged)))
            continue;
        if (coordinate(l, conn, err, sizeof(err)) < 0) {
            if (!failing)
                log_warn("alert delivery: %s", err);
            failing = true;
            drop_if_lost(&conn);
            if (!conn && atomic_exchange(&l->leader, false))
                log_warn("alert delivery: lost the delivery lock with the connection");
        } else {
            failing = false;
        }
        nap(l, l->cfg->alert_poll_interval_us);
    }
    atomic_store(&l->leader, false);
    PQfinish(conn); /* ends the session: the lock goes to another daemon */
    return NULL;
}

/* ---- workers ---- */

static double next_random(struct alert_worker *w)
{
    /* xorshift64: jitter only, no need for more. */
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (double)(w->rng >> 11) / 9007199254740992.0;
}

/* The request body for this receiver. Caller frees. */
static char *render(struct alert_worker *w, const struct alert_job *job)
{
    json_t *body = NULL;
    switch (w->receiver) {
    case ALERT_WEBHOOK:
        body = json_incref(job->payload);
        break;
    case ALERT_SLACK:
        body = alert_slack_body(job->payload);
        break;
    default: {
        int64_t ends = job->resolved_us;
        if (strcmp(job->event, "firing") == 0 && !ends)
            ends = util_now_us() + w->loop->cfg->alert_alertmanager_ttl_us;
        body = alert_alertmanager_body(job->payload, job->created_us, ends);
        break;
    }
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (!text)
        abort();
    return text;
}

static void log_outcome(struct alert_worker *w, const struct alert_job *job,
                        const struct alert_http_result *res, int64_t retry_us, bool gave_up)
{
    const char *name = alert_receiver_name(w->receiver);
    const char *what = strcmp(job->event, "firing") == 0 ? "" : " (resolution)";
    if (!res->error[0]) {
        atomic_fetch_add(&w->delivered, 1);
        log_info("alert %lld%s delivered to %s (attempt %d, %.0f ms)", (long long)job->alert_id,
                 what, name, job->attempt, res->duration_ms);
    } else if (gave_up) {
        atomic_fetch_add(&w->gave_up, 1);
        log_error("alert %lld%s: %s delivery given up after %d attempt(s): %s",
                  (long long)job->alert_id, what, name, job->attempt, res->error);
    } else {
        atomic_fetch_add(&w->errors, 1);
        log_warn("alert %lld%s: %s delivery failed (attempt %d): %s; retrying in %.1f s",
                 (long long)job->alert_id, what, name, job->attempt, res->error,
                 (double)retry_us / 1e6);
    }
}

/* Claims, sends and records one delivery. 1 done, 0 nothing due, -1 database error. */
static int work_one(struct alert_worker *w, PGconn *conn, struct alert_http *http, char *err,
                    size_t errlen)
{
    const struct config *c = w->loop->cfg;
    struct alert_job job;
    int64_t lease = c->alert_connect_timeout_us + c->alert_timeout_us + LEASE_MARGIN_US;
    int rc = alert_queue_claim(conn, w->receiver, lease, &job, err, errlen);
    if (rc <= 0)
        return rc;
    char *body = render(w, &job);
    struct alert_http_result res;
    int64_t started = util_now_us();
    alert_http_post(http, w->url, w->receiver == ALERT_WEBHOOK ? job.dedup_key : NULL, body, &res);
    free(body);
    /* Stopped mid-request: the next daemon (or this one after a restart) retries at once. */
    int64_t retry = strcmp(res.error, "stopped") == 0
                        ? 0
                        : alert_backoff(job.attempt, c->alert_retry_initial_us,
                                        c->alert_retry_max_us, res.retry_after_us, next_random(w));
    bool gave_up = false;
    rc = alert_queue_record(conn, w->receiver, &job, started, &res, retry, &gave_up, err, errlen);
    if (rc == 1)
        log_outcome(w, &job, &res, retry, gave_up);
    else if (rc == 0)
        log_warn("alert %lld: %s attempt %d outlived its lease; not recorded",
                 (long long)job.alert_id, alert_receiver_name(w->receiver), job.attempt);
    alert_job_clear(&job);
    return rc < 0 ? -1 : 1;
}

static void *worker_main(void *arg)
{
    struct alert_worker *w = arg;
    struct alert_loop *l = w->loop;
    const struct config *c = l->cfg;
    struct alert_http *http =
        alert_http_new(c->alert_connect_timeout_us, c->alert_timeout_us, l->stop, &l->quit);
    PGconn *conn = NULL;
    int64_t backoff = c->alert_poll_interval_us;
    bool logged = false, failing = false;
    char who[64], err[1024];
    snprintf(who, sizeof(who), "%s worker", alert_receiver_name(w->receiver));
    while (!stopping(l)) {
        if (!atomic_load(&l->leader)) {
            nap(l, c->alert_poll_interval_us);
            continue;
        }
        if (!conn && !(conn = connect_or_nap(l, who, &backoff, &logged)))
            continue;
        int rc = work_one(w, conn, http, err, sizeof(err));
        if (rc < 0 && !failing)
            log_warn("alert %s: %s", who, err);
        failing = rc < 0;
        if (rc < 0)
            drop_if_lost(&conn);
        if (rc <= 0)
            nap(l, c->alert_poll_interval_us);
    }
    PQfinish(conn);
    alert_http_free(http);
    return NULL;
}

/* ---- start, stop, metrics ---- */

static int add_worker(struct alert_loop *l, enum alert_receiver r, const char *url, const char *key,
                      char *err, size_t errlen)
{
    if (!url || !url[0])
        return 0;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "%s: must be an http:// or https:// URL", key);
        return -1;
    }
    struct alert_worker *w = &l->workers[l->n_workers++];
    w->loop = l;
    w->receiver = r;
    if (r == ALERT_ALERTMANAGER) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        struct buf b = {0};
        buf_append(&b, url, n);
        buf_append_str(&b, "/api/v2/alerts");
        w->url = xstrdup(buf_cstr(&b));
        buf_free(&b);
    } else {
        w->url = xstrdup(url);
    }
    w->rng = (uint64_t)util_now_us() * 2654435761u + (uint64_t)r * 40503u + 1;
    return 0;
}

static void receivers_json(struct alert_loop *l)
{
    struct buf b = {0};
    buf_append_char(&b, '[');
    for (size_t i = 0; i < l->n_workers; i++)
        buf_printf(&b, "%s\"%s\"", i ? "," : "", alert_receiver_name(l->workers[i].receiver));
    buf_append_char(&b, ']');
    snprintf(l->receivers_json, sizeof(l->receivers_json), "%s", buf_cstr(&b));
    buf_free(&b);
}

static int start_threads(struct alert_loop *l, char *err, size_t errlen)
{
    if (pthread_create(&l->coordinator, NULL, coordinator_main, l) != 0) {
        snprintf(err, errlen, "alert delivery: cannot start a thread");
        return -1;
    }
    l->coordinator_started = true;
    for (size_t i = 0; i < l->n_workers; i++) {
        if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]) != 0) {
            snprintf(err, errlen, "alert delivery: cannot start a thread");
            return -1;
        }
        l->workers[i].started = true;
    }
    return 0;
}

struct alert_loop *alert_loop_start(const struct config *cfg, volatile sig_atomic_t *stop,
                                    char *err, size_t errlen)
{
    struct alert_loop *l = xcalloc(1, sizeof(*l));
    l->cfg = cfg;
    l->stop = stop;
    atomic_init(&l->quit, false);
    atomic_init(&l->leader, false);
    if (add_worker(l, ALERT_WEBHOOK, cfg->webhook_url, "webhook.url", err, errlen) < 0 ||
        add_worker(l, ALERT_SLACK, cfg->slack_webhook_url, "slack.webhook_url", err, errlen) < 0 ||
        add_worker(l, ALERT_ALERTMANAGER, cfg->alertmanager_url, "alertmanager.url", err, errlen) <
            0)
        goto failed;
    receivers_json(l);
    if (l->n_workers == 0) {
        log_warn("alert delivery: no receiver configured (webhook.url, slack.webhook_url, "
                 "alertmanager.url): alerts are stored, not sent");
        return l;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "alert delivery: cannot initialise libcurl");
        goto failed;
    }
    l->curl_initialised = true;
    if (start_threads(l, err, errlen) < 0)
        goto failed;
    log_info("alert delivery: receivers %s", l->receivers_json);
    return l;
failed:
    alert_loop_stop(l);
    return NULL;
}

void alert_loop_stop(struct alert_loop *l)
{
    if (!l)
        return;
    atomic_store(&l->quit, true);
    if (l->coordinator_started)
        pthread_join(l->coordinator, NULL);
    for (size_t i = 0; i < l->n_workers; i++) {
        if (l->workers[i].started)
            pthread_join(l->workers[i].thread, NULL);
        free(l->workers[i].url);
    }
    if (l->curl_initialised)
        curl_global_cleanup();
    free(l);
}

void alert_loop_metrics(struct alert_loop *l, struct buf *out)
{
    if (!l)
        return;
    static const char *const results[] = {"delivered", "error", "gave_up"};
    buf_append_str(out, "# HELP regressd_alert_deliveries_total Alert delivery attempts by "
                        "receiver and result (gave_up: failed past the deadline).\n"
                        "# TYPE regressd_alert_deliveries_total counter\n");
    for (size_t i = 0; i < l->n_workers; i++) {
        struct alert_worker *w = &l->workers[i];
        long long v[] = {atomic_load(&w->delivered), atomic_load(&w->errors),
                         atomic_load(&w->gave_up)};
        for (size_t k = 0; k < REGRESSD_ARRAY_LEN(results); k++)
            buf_printf(out, "regressd_alert_deliveries_total{receiver=\"%s\",result=\"%s\"} %lld\n",
                       alert_receiver_name(w->receiver), results[k], v[k]);
    }
    buf_printf(out,
               "# HELP regressd_alert_delivery_leader Whether this daemon holds the alert "
               "delivery lock.\n# TYPE regressd_alert_delivery_leader gauge\n"
               "regressd_alert_delivery_leader %d\n",
               atomic_load(&l->leader) ? 1 : 0);
}
