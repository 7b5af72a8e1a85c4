/* See lead.h. */
#include "lead.h"

#include <stdio.h>
#include <time.h>

#include "regressd/db.h"
#include "regressd/log.h"

#define SLICE_NS 100000000L

bool lead_stopping(const struct lead *l)
{
    return l->stop_self || (l->stop && *l->stop);
}

void lead_nap(struct lead *l, int64_t us)
{
    for (int64_t slept = 0; slept < us && !lead_stopping(l); slept += SLICE_NS / 1000)
        nanosleep(&(struct timespec){0, SLICE_NS}, NULL);
}

static void drop_connection(struct lead *l)
{
    PQfinish(l->conn);
    l->conn = NULL;
    if (l->leader)
        log_info("%s: lost the PostgreSQL connection and with it the lead", l->name);
    l->leader = false;
}

static int take_lead(struct lead *l, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%s)", l->lock_key);
    PGresult *res = db_query(l->conn, sql, 0, NULL, err, errlen);
    if (!res)
        return -1;
    l->leader = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (l->leader)
        log_info("%s: this daemon %s", l->name, l->role);
    return 0;
}

void lead_run(struct lead *l, int64_t interval_us,
              int (*round)(void *ctx, char *err, size_t errlen), void *ctx)
{
    char err[1024];
    int64_t backoff = interval_us;
    while (!lead_stopping(l)) {
        if (!l->conn && !(l->conn = db_connect(l->cfg->postgres_dsn, err, sizeof(err)))) {
            log_warn("%s: %s", l->name, err);
            lead_nap(l, backoff);
            backoff = util_backoff_next(backoff, l->cfg->db_retry_max_us);
            continue;
        }
        backoff = interval_us;
        int rc = l->leader ? 0 : take_lead(l, err, sizeof(err));
        if (rc == 0 && l->leader)
            rc = round(ctx, err, sizeof(err));
        if (rc < 0) {
            log_warn("%s: %s", l->name, err);
            if (db_connection_lost(l->conn, NULL))
                drop_connection(l);
        }
        lead_nap(l, interval_us);
    }
    PQfinish(l->conn);
    l->conn = NULL;
}
