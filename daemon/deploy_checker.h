/* The daemon's deploy checker: a background thread that checks every deploy once its candidate
 * window is complete, stores the verdict and report (deploys) and a findings row for alerting,
 * and compacts closed rollup blocks. Only the daemon holding a PostgreSQL advisory lock (on the
 * thread's own connection) does the work; the others retry the lock every interval. */
#ifndef REGRESSD_DAEMON_DEPLOY_CHECKER_H
#define REGRESSD_DAEMON_DEPLOY_CHECKER_H

#include <signal.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/detector.h"

struct deploy_checker;

/* Starts the thread; it runs until *stop is set or deploy_checker_stop. cfg must outlive it.
 * NULL with the reason for an invalid detector configuration. */
struct deploy_checker *deploy_checker_start(const struct config *cfg, volatile sig_atomic_t *stop,
                                            char *err, size_t errlen);
/* Stores a decided deploy as the thread does: verdict, report and findings row
 * (detector_deploy_store) and, for a report with a regression, its alert (alert_enqueue), in
 * one transaction. Nothing happens when the deploy was decided meanwhile. */
int deploy_checker_store(PGconn *conn, int64_t id, const struct detector_report *r, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;

/* Stops the thread (within about 100 ms plus the statement in flight), joins it and frees
 * everything. NULL is a no-op. */
void deploy_checker_stop(struct deploy_checker *dc);

#endif
