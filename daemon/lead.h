/* The loop that the daemon's single-instance background jobs share (the deploy checker, the
 * schedule): a thread with its own PostgreSQL connection that reconnects with backoff, takes a
 * session advisory lock when it is free, and calls the job's round every interval while it
 * holds the lock. A daemon that dies releases the lock with its connection, and another takes
 * over at its next round. */
#ifndef REGRESSD_DAEMON_LEAD_H
#define REGRESSD_DAEMON_LEAD_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/config.h"

struct lead {
    const char *name;     /* for logs: "deploy checker", "schedule" */
    const char *lock_key; /* pg_try_advisory_lock argument, a bigint literal */
    const char *role;     /* logged when the lead is taken: "this daemon ... " */
    const struct config *cfg;
    volatile sig_atomic_t *stop; /* the daemon's */
    volatile sig_atomic_t stop_self;
    PGconn *conn;
    _Atomic bool leader; /* read by /metrics */
};

bool lead_stopping(const struct lead *l);

/* Sleeps up to us in 100 ms slices; returns early when stopping. */
void lead_nap(struct lead *l, int64_t us);

/* Runs until stopping: every interval, connects if needed, takes the lock if free and, while
 * holding it, calls round(ctx, err, errlen). A round returning -1 is logged; when the connection
 * is lost it is dropped (and the lead with it). Closes the connection before returning. */
void lead_run(struct lead *l, int64_t interval_us,
              int (*round)(void *ctx, char *err, size_t errlen), void *ctx);

#endif
