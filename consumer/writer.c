/* One transaction per batch:
 *
 *   BEGIN; COPY samples; COPY dead_letters; COPY the rollups (rollups, rollup_users,
 *   rollup_flags, rollup_flag_users), all but the dead letters in binary format; INSERT new
 * endpoints and commits; UPDATE kafka_offsets SET next_offset = end WHERE ... AND next_offset =
 * start; COMMIT
 *
 * The conditional offset update is what makes ingest exactly-once whatever the timing of
 * crashes and rebalances: if another consumer (or an earlier attempt of ours whose COMMIT
 * reply was lost) already stored those messages, the update matches no row and the whole
 * transaction is rolled back; the consumer then reloads its positions from PostgreSQL. */
#include "writer.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regressd/db.h"
#include "regressd/log.h"
#include "regressd/sample.h"
#include "rollup.h"

enum store_result { STORE_OK, STORE_CONFLICT, STORE_ERROR, STORE_ABANDONED };

struct writer {
    const struct config *cfg;
    struct intake_metrics *metrics;
    writer_commit_cb *on_commit;
    void *cb_arg;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t cv; /* any state change below */
    struct batch pending;
    bool has_pending;
    bool busy;
    bool in_transaction;
    bool abandon;
    bool stopping;
    int64_t stop_deadline_us;
    bool resync;

    /* writer thread only */
    struct batch current;
    PGconn *conn;
    bool db_up_logged;
    bool db_down_logged;
    int64_t *known_days;
    size_t n_known_days, cap_known_days;
};

struct writer *writer_new(const struct config *cfg, struct intake_metrics *metrics,
                          writer_commit_cb *on_commit, void *arg)
{
    struct writer *w = xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->metrics = metrics;
    w->on_commit = on_commit;
    w->cb_arg = arg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    return w;
}

/* Waits on the writer's condition variable until the monotonic deadline; lock held. */
static void wait_until(struct writer *w, int64_t deadline_us)
{
    struct timespec ts = {deadline_us / 1000000, (deadline_us % 1000000) * 1000};
    pthread_cond_timedwait(&w->cv, &w->lock, &ts);
}

static bool day_known(struct writer *w, int64_t day)
{
    for (size_t i = 0; i < w->n_known_days; i++)
        if (w->known_days[i] == day)
            return true;
    return false;
}

static int ensure_day(struct writer *w, int64_t day, char *err, size_t errlen)
{
    if (day_known(w, day))
        return 0;
    if (db_ensure_partition(w->conn, day, err, errlen) < 0)
        return -1;
    if (w->n_known_days == w->cap_known_days) {
        w->cap_known_days = w->cap_known_days ? 2 * w->cap_known_days : 32;
        w->known_days = xrealloc(w->known_days, w->cap_known_days * sizeof(int64_t));
    }
    w->known_days[w->n_known_days++] = day;
    return 0;
}

/* The partitions the batch needs (late events included), and today's and the next two days'
 * ahead of need, outside the batch's transaction: creating a partition locks the parent. */
static int ensure_partitions(struct writer *w, const struct batch *b, char *err, size_t errlen)
{
    int64_t today = util_day_of(util_now_us());
    for (int64_t d = today; d <= today + 2; d++)
        if (ensure_day(w, d, err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < b->n_days; i++)
        if (ensure_day(w, b->days[i], err, errlen) < 0)
            return -1;
    return 0;
}

static int insert_endpoints(struct writer *w, const struct batch *b, char *err, size_t errlen)
{
    const char *p = b->new_endpoints.data;
    for (size_t i = 0; i < b->n_new_endpoints; i++) {
        const char *params[2] = {p, p + strlen(p) + 1};
        PGresult *res = db_query(w->conn,
                                 "INSERT INTO endpoints (service, endpoint) VALUES ($1, $2) "
                                 "ON CONFLICT DO NOTHING",
                                 2, params, err, errlen);
        if (!res)
            return -1;
        PQclear(res);
        p = params[1] + strlen(params[1]) + 1;
    }
    return 0;
}

struct new_commit {
    const char *service;
    const char *commit;
    int64_t ts_us;
};

static int by_first_ts(const void *a, const void *b)
{
    const struct new_commit *x = a, *y = b;
    return (x->ts_us > y->ts_us) - (x->ts_us < y->ts_us);
}

/* In order of their first samples' event times: the automatic-deploy trigger compares a new
 * commit with the commits first seen before it, so an older commit of the same batch must be
 * in the table first (parse lanes queue new commits in no particular order). */
static int insert_commits(struct writer *w, const struct batch *b, char *err, size_t errlen)
{
    if (b->n_new_commits == 0)
        return 0;
    struct new_commit *nc = xmalloc(b->n_new_commits * sizeof(*nc));
    const char *p = b->new_commits.data;
    for (size_t i = 0; i < b->n_new_commits; i++) {
        nc[i].service = p;
        nc[i].commit = p + strlen(p) + 1;
        const char *ts_bytes = nc[i].commit + strlen(nc[i].commit) + 1;
        memcpy(&nc[i].ts_us, ts_bytes, sizeof(nc[i].ts_us));
        p = ts_bytes + sizeof(nc[i].ts_us);
    }
    qsort(nc, b->n_new_commits, sizeof(*nc), by_first_ts);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n_new_commits; i++) {
        char ts[UTIL_TS_BUFLEN];
        util_format_ts(nc[i].ts_us, ts);
        const char *params[3] = {nc[i].service, nc[i].commit, ts};
        PGresult *res = db_query(w->conn,
                                 "INSERT INTO commits (service, \"commit\", first_ts) "
                                 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                 3, params, err, errlen);
        if (!res)
            rc = -1;
        PQclear(res);
    }
    free(nc);
    return rc;
}

/* 0: moved, 1: the stored offset was not the expected one, -1: error. */
static int advance_offset(struct writer *w, const struct batch_partition *bp, char *err,
                          size_t errlen)
{
    char part[16], start[24], end[24];
    snprintf(part, sizeof(part), "%d", (int)bp->partition);
    snprintf(start, sizeof(start), "%lld", (long long)bp->start);
    snprintf(end, sizeof(end), "%lld", (long long)bp->end);
    const char *params[] = {w->cfg->kafka_group, w->cfg->kafka_topic, part, end, start};
    const char *sql =
        bp->start < 0
            ? "INSERT INTO kafka_offsets (consumer_group, topic, kafka_partition, next_offset) "
              "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            : "UPDATE kafka_offsets SET next_offset = $4, updated_at = now() "
              "WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = $3 "
              "AND next_offset = $5";
    PGresult *res = db_query(w->conn, sql, bp->start < 0 ? 4 : 5, params, err, errlen);
    if (!res)
        return -1;
    int moved = atoi(PQcmdTuples(res)) == 1;
    PQclear(res);
    if (!moved)
        snprintf(err, errlen, "partition %d: stored offset is not %lld", (int)bp->partition,
                 (long long)bp->start);
    return moved ? 0 : 1;
}

static enum store_result store_rows(struct writer *w, const struct batch *b, char *err,
                                    size_t errlen)
{
    /* Every table the batch has rows for, in one transaction: the rollups commit with the
     * samples they summarise, or not at all. */
    const struct {
        size_t rows;
        const char *sql;
        const struct buf *data;
        bool binary;
    } copies[] = {
        {b->n_samples, "COPY samples (" SAMPLE_COPY_COLUMNS ") FROM STDIN " SAMPLE_COPY_OPTIONS,
         &b->samples, true},
        {b->n_dead,
         "COPY dead_letters (topic, kafka_partition, kafka_offset, sample_index, reason, raw, "
         "raw_bytes) FROM STDIN",
         &b->dead, false},
        {b->n_rollups, "COPY rollups (" ROLLUP_COPY_COLUMNS ") FROM STDIN " ROLLUP_COPY_OPTIONS,
         &b->rollups, true},
        {b->n_users,
         "COPY rollup_users (" ROLLUP_USERS_COPY_COLUMNS ") FROM STDIN " ROLLUP_COPY_OPTIONS,
         &b->users, true},
        {b->n_flags,
         "COPY rollup_flags (" ROLLUP_FLAGS_COPY_COLUMNS ") FROM STDIN " ROLLUP_COPY_OPTIONS,
         &b->flags, true},
        {b->n_flag_users,
         "COPY rollup_flag_users (" ROLLUP_FLAG_USERS_COPY_COLUMNS
         ") FROM STDIN " ROLLUP_COPY_OPTIONS,
         &b->flag_users, true},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(copies); i++)
        if (copies[i].rows && db_copy_in(w->conn, copies[i].sql, copies[i].data->data,
                                         copies[i].data->len, copies[i].binary, err, errlen) < 0)
            return STORE_ERROR;
    if (insert_endpoints(w, b, err, errlen) < 0 || insert_commits(w, b, err, errlen) < 0)
        return STORE_ERROR;
    for (size_t i = 0; i < b->n_parts; i++) {
        int rc = advance_offset(w, &b->parts[i], err, errlen);
        if (rc != 0)
            return rc > 0 ? STORE_CONFLICT : STORE_ERROR;
    }
    return STORE_OK;
}

static enum store_result store_batch(struct writer *w, const struct batch *b, char *err,
                                     size_t errlen)
{
    if (ensure_partitions(w, b, err, errlen) < 0)
        return STORE_ERROR;
    if (db_exec(w->conn, "BEGIN", err, errlen) < 0)
        return STORE_ERROR;
    enum store_result r = store_rows(w, b, err, errlen);
    if (r == STORE_OK && db_exec(w->conn, "COMMIT", err, errlen) < 0)
        return STORE_ERROR;
    if (r != STORE_OK)
        PQclear(PQexec(w->conn, "ROLLBACK"));
    return r;
}

static void set_db_state(struct writer *w, bool up, const char *why)
{
    atomic_store(&w->metrics->db_ok, up);
    if (up && !w->db_up_logged) {
        log_info("PostgreSQL: connected, storing samples");
        w->db_up_logged = true;
        w->db_down_logged = false;
    } else if (!up && !w->db_down_logged) {
        log_error("PostgreSQL: %s; retrying with backoff, offsets are not advanced", why);
        w->db_down_logged = true;
        w->db_up_logged = false;
    }
}

/* Sleeps for the backoff unless told to abandon or past the stop deadline. Lock not held. */
static bool backoff(struct writer *w, int64_t delay_us)
{
    pthread_mutex_lock(&w->lock);
    int64_t until = util_mono_us() + delay_us;
    while (!w->abandon && util_mono_us() < until &&
           !(w->stopping && util_mono_us() >= w->stop_deadline_us))
        wait_until(w, until);
    bool go_on = !w->abandon && !(w->stopping && util_mono_us() >= w->stop_deadline_us);
    pthread_mutex_unlock(&w->lock);
    return go_on;
}

static bool begin_attempt(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    bool go = !w->abandon && !(w->stopping && util_mono_us() >= w->stop_deadline_us);
    w->in_transaction = go;
    pthread_mutex_unlock(&w->lock);
    return go;
}

static enum store_result store_with_retry(struct writer *w, const struct batch *b)
{
    char err[1024];
    int64_t delay = 100000;
    for (;;) {
        err[0] = '\0';
        if (!begin_attempt(w))
            return STORE_ABANDONED;
        enum store_result r = STORE_ERROR;
        if (!w->conn)
            w->conn = db_connect(w->cfg->postgres_dsn, err, sizeof(err));
        if (w->conn)
            r = store_batch(w, b, err, sizeof(err));
        pthread_mutex_lock(&w->lock);
        w->in_transaction = false;
        pthread_mutex_unlock(&w->lock);
        if (r == STORE_OK || r == STORE_CONFLICT) {
            set_db_state(w, true, NULL);
            return r;
        }
        atomic_fetch_add(&w->metrics->batch_failures, 1);
        set_db_state(w, false, err);
        /* After any failure start from a fresh connection: the old one may be mid-COPY. */
        PQfinish(w->conn);
        w->conn = NULL;
        if (!backoff(w, delay))
            return STORE_ABANDONED;
        delay = util_backoff_next(delay, w->cfg->db_retry_max_us);
    }
}

static void finish_batch(struct writer *w, enum store_result r)
{
    const struct batch *b = &w->current;
    if (r == STORE_OK) {
        double secs = (double)(util_mono_us() - b->first_mono_us) / 1e6;
        metrics_observe_batch(w->metrics, secs);
        atomic_fetch_add(&w->metrics->samples_stored, b->n_samples);
        atomic_fetch_add(&w->metrics->dead_letters, b->n_dead);
        atomic_fetch_add(&w->metrics->batches, 1);
        for (size_t i = 0; i < b->n_parts; i++)
            metrics_partition_update(w->metrics, b->parts[i].partition, b->parts[i].end, -1);
        if (w->on_commit)
            w->on_commit(w->cb_arg, b);
    } else if (r == STORE_CONFLICT) {
        atomic_fetch_add(&w->metrics->conflicts, 1);
        log_warn("batch refused: its offsets were stored by another consumer; reloading "
                 "positions from PostgreSQL");
    } else {
        log_info("dropped an uncommitted batch of %zu samples; it will be consumed again",
                 b->n_samples);
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->has_pending && !w->stopping)
            pthread_cond_wait(&w->cv, &w->lock);
        if (!w->has_pending)
            break;
        struct batch tmp = w->current;
        w->current = w->pending;
        w->pending = tmp;
        batch_reset(&w->pending);
        w->has_pending = false;
        w->busy = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->lock);

        enum store_result r = store_with_retry(w, &w->current);
        finish_batch(w, r);

        pthread_mutex_lock(&w->lock);
        if (r == STORE_CONFLICT)
            w->resync = true;
        if (r == STORE_ABANDONED)
            w->abandon = false;
        w->busy = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->lock);
    PQfinish(w->conn);
    w->conn = NULL;
    return NULL;
}

int writer_start(struct writer *w, char *err, size_t errlen)
{
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start writer thread: %s", strerror(rc));
        return -1;
    }
    w->started = true;
    return 0;
}

int writer_submit(struct writer *w, struct batch *b, int64_t timeout_us)
{
    int64_t deadline = util_mono_us() + timeout_us;
    pthread_mutex_lock(&w->lock);
    while (w->has_pending && util_mono_us() < deadline)
        wait_until(w, deadline);
    int rc = 1;
    if (!w->has_pending) {
        struct batch tmp = w->pending;
        w->pending = *b;
        *b = tmp;
        batch_reset(b);
        w->has_pending = true;
        pthread_cond_broadcast(&w->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

bool writer_wait_idle(struct writer *w, int64_t timeout_us)
{
    int64_t deadline = util_mono_us() + timeout_us;
    pthread_mutex_lock(&w->lock);
    while ((w->has_pending || w->busy) && util_mono_us() < deadline)
        wait_until(w, deadline);
    bool idle = !w->has_pending && !w->busy;
    pthread_mutex_unlock(&w->lock);
    return idle;
}

void writer_abandon(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    if (w->has_pending) {
        batch_reset(&w->pending);
        w->has_pending = false;
    }
    if (w->busy)
        w->abandon = true;
    pthread_cond_broadcast(&w->cv);
    while (w->busy)
        pthread_cond_wait(&w->cv, &w->lock);
    w->abandon = false;
    /* A conflict reported before the abandon is moot: positions are reloaded anyway. */
    w->resync = false;
    pthread_mutex_unlock(&w->lock);
}

bool writer_take_resync(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    bool r = w->resync;
    w->resync = false;
    pthread_mutex_unlock(&w->lock);
    return r;
}

void writer_stop(struct writer *w, int64_t timeout_us)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    w->stop_deadline_us = util_mono_us() + timeout_us;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = false;
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    writer_stop(w, 0);
    batch_free(&w->pending);
    batch_free(&w->current);
    free(w->known_days);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cv);
    free(w);
}
