/* The schedule of `regressd run`: trend jobs, the flag scan and retention (schedule.jobs).
 *
 * Jobs and their slots (a slot is the end of the window a run analyses, aligned in UTC):
 *   hourly     every hour:  "trend:1h:1d" and "trend:1h:1w" (the last hour against the same
 *              hour 1 day and 1 week earlier)
 *   daily      every day:   "trend:1d:1w" (the last day against the day a week before)
 *   weekly     every Monday 00:00: "trend:1w:1w" (the last 7 days against the 7 before)
 *   flags      every hour:  "flags:<flags.window>" (the flag scan of the window ending there)
 *   retention  every hour:  drop samples partitions and dead letters older than
 *              retention.samples, delete rollups older than retention.rollups
 * A slot is due schedule.settle after it (late samples). Its clock is the wall clock, or with
 * schedule.clock = event the newest event time stored (replays, backfills); retention always
 * follows the wall clock.
 *
 * Exactly once, no gaps: only the daemon holding a PostgreSQL advisory lock runs the schedule.
 * job_runs has a row per finished (job, slot); the holder runs every slot after the job's latest
 * one up to the latest due (at most schedule.max_catchup back; a job that never ran starts at
 * the latest due slot). A trend or flag run stores one findings row per service with data
 * (unique per job, slot and service) together with its alert (alert_resolve_absent, then
 * alert_enqueue) in one transaction, so a run interrupted half-way is completed without
 * repeating the services it had stored. */
#ifndef REGRESSD_DAEMON_SCHEDULER_H
#define REGRESSD_DAEMON_SCHEDULER_H

#include <signal.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/detector.h"

struct scheduler;

/* Starts the thread (nothing when schedule.jobs is empty: returns a handle that does nothing).
 * cfg must outlive it. NULL with the reason for an invalid detector configuration. */
struct scheduler *scheduler_start(const struct config *cfg, volatile sig_atomic_t *stop, char *err,
                                  size_t errlen);
/* Stores a trend or flag report (kind "trend" or "flag") as a run does, in one transaction: its
 * findings row (job and slot may be NULL: a run outside the schedule) and, when the row is new,
 * alert_resolve_absent and alert_enqueue. *stored is false when the (job, slot, service) was
 * stored before (nothing written); *alert_id is the queued alert or 0. */
int scheduler_store_finding(PGconn *conn, const char *job, const char *slot,
                            const struct detector_report *r, bool *stored, int64_t *alert_id,
                            char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Prometheus text lines: regressd_schedule_leader, and per job regressd_job_runs_total,
 * regressd_job_failures_total, regressd_job_last_slot_timestamp_seconds. NULL: nothing. */
void scheduler_metrics(struct scheduler *s, struct buf *out);

/* Stops the thread (within about 100 ms plus the statement in flight), joins it and frees
 * everything. NULL is a no-op. */
void scheduler_stop(struct scheduler *s);

#endif
