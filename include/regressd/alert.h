/* Alerts (CONTRACT section 4): the outbox in PostgreSQL (sql/004_alerts.sql), the bodies for
 * the generic webhook, Slack (Block Kit) and Alertmanager (v2), and the delivery loop that sends
 * them with retries. Prefix alert_.
 *
 * A finding group (one deploy report, one trend run, one flag scan: the `check --json` shape of
 * CONTRACT section 2) with at least one regression becomes one `alerts` row, written by
 * alert_enqueue() in the transaction that stores the findings. The delivery loop, run by the
 * daemon holding the alerts advisory lock, sends it to every configured receiver and keeps one
 * delivery state per receiver, so one receiver failing never blocks or repeats another.
 *
 * What counts as a regression of a report: a result whose "verdict" is "regression" and whose
 * "gates" is not false (a deploy's latency results are informative and do not alert).
 *
 * Identity:
 *   dedup_key  "<kind>:<service>:<32 hex digits of SHA-256>" over kind, service, the baseline and
 *              candidate labels and, for trends and flags, both sides' from/to (the window) and,
 *              for flags, the regressed flags. The same finding group found again is not
 *              alerted again.
 *   scope      kind, service and the lengths of the job's window and offset (from the sides'
 *              from/to). A trend or flag report whose regressions are all covered by unresolved
 *              alerts of the same scope is not alerted again either (a regression that persists
 *              across hourly runs is one alert); alert_resolve_absent() resolves the alerts of a
 *              scope whose regressions a later run no longer finds.
 *
 * Fields read from a report: kind, service, confidence, baseline/candidate {label, commit, from,
 * to}, results[] {metric, endpoint, flag, baseline, candidate, delta_pct, ci_low_pct,
 * ci_high_pct, p_value, verdict, gates}, and when present "suspects" (trends: copied into the
 * alert and shown in Slack). */
#ifndef REGRESSD_ALERT_H
#define REGRESSD_ALERT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/util.h"

/* ---- outbox (alerting/outbox.c) ---- */

/* Inserts the alert for a report, on conn, inside the caller's open transaction (call it in
 * the transaction that stores the findings; nothing is committed here). kind is "deploy",
 * "trend" or "flag"; service and kind NULL: taken from the report. *alert_id (may be NULL) is
 * the new alert's id, or 0 when nothing was inserted: no regression in the report, the same
 * dedup_key exists, or (trend, flag) unresolved alerts of the scope cover every regression.
 * -1 with the reason on a database error or a report without kind/service; the caller then
 * rolls back. */
int alert_enqueue(PGconn *conn, const char *kind, const char *service, const json_t *report,
                  int64_t *alert_id, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Lifecycle for the trend and flag jobs, in the transaction that stores a run's findings (call
 * it for every run, with or without regressions; before alert_enqueue of the same run):
 * resolves every unresolved alert of the report's scope none of whose regressions the report
 * still finds (a result that is a regression or inconclusive counts as still found: no data is
 * no all-clear), and queues the 'resolved' notice for Alertmanager where it got the alert.
 * *resolved (may be NULL) counts them. Deploy reports resolve nothing. */
int alert_resolve_absent(PGconn *conn, const json_t *report, int *resolved, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;

/* ---- bodies (alerting/payload.c, slack.c, alertmanager.c); all pure ---- */

/* The regressions of a report (see above) as the contract's "regressions" array items, in the
 * report's order. New reference. */
json_t *alert_regressions(const json_t *report);

/* The generic webhook body of CONTRACT section 4 (plus "suspects" and, once the loop adds it,
 * "overflow"). alert_id is rendered as a string. New reference; NULL when the report has no
 * kind or service. */
json_t *alert_payload_new(const json_t *report, int64_t alert_id, const char *dedup_key,
                          int64_t created_us);

/* "web: instructions per user +2.2% after deploy 8b01d7aa" (at most ALERT_TITLE_MAX bytes,
 * valid UTF-8, no control characters). Caller frees. */
#define ALERT_TITLE_MAX 200
char *alert_title(const json_t *report, const json_t *regressions);

/* Slack incoming-webhook body (Block Kit) of a webhook payload: a header, the labels, a table
 * of the regressions in a code block, suspects and the overflow summary when present; every
 * text escaped and within Slack's limits. New reference. */
json_t *alert_slack_body(const json_t *payload);

/* Alertmanager v2 body: one alert per regression, labels alertname="PerfRegression", service,
 * endpoint ("(service)" for service-level results), kind, metric (and flag, offset when
 * present), annotations with the numbers; startsAt = starts_us, endsAt = ends_us. New
 * reference. */
json_t *alert_alertmanager_body(const json_t *payload, int64_t starts_us, int64_t ends_us);

/* ---- delivery (alerting/loop.c) ---- */

struct alert_loop;

/* Starts the delivery loop of `regressd run`: a coordinator thread (takes the advisory lock
 * with pg_try_advisory_lock on its own connection, re-tried every alert.poll_interval so another
 * daemon takes over when the holder dies; releases queued alerts under the per-service cap) and
 * one worker thread per configured receiver. Returns NULL with the reason when a receiver URL is
 * not http(s); with no receiver configured it starts nothing and alerts stay queued. cfg must
 * outlive the loop. The loop stops when *stop becomes non-zero or at alert_loop_stop. */
struct alert_loop *alert_loop_start(const struct config *cfg, volatile sig_atomic_t *stop,
                                    char *err, size_t errlen);
/* Stops (an HTTP request in flight is aborted within ~0.1 s; the delivery is retried later) and
 * frees. NULL is a no-op. */
void alert_loop_stop(struct alert_loop *l);

/* Prometheus text lines: regressd_alert_deliveries_total{receiver,result}, whether this daemon
 * holds the delivery lock. l may be NULL (nothing written). */
void alert_loop_metrics(struct alert_loop *l, struct buf *out);

#endif
