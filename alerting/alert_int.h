/* Inside alerting/: text helpers, identities, the HTTP client and the delivery queue's SQL.
 * Not API: the unit tests include it to test the pieces. */
#ifndef REGRESSD_ALERT_INT_H
#define REGRESSD_ALERT_INT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

/* The webhook body holds at most this many regressions ("regressions_omitted" counts the rest). */
#define ALERT_MAX_REGRESSIONS 500

enum alert_receiver { ALERT_WEBHOOK, ALERT_SLACK, ALERT_ALERTMANAGER, ALERT_RECEIVER_COUNT };
/* "webhook", "slack", "alertmanager": the only names receivers have in logs and tables. */
const char *alert_receiver_name(enum alert_receiver r);

/* ---- text (alerting/text.c) ---- */

enum alert_escape {
    ALERT_TEXT_PLAIN, /* control characters become spaces */
    ALERT_TEXT_CODE,  /* also & < > as Slack entities and ` as ', for a mrkdwn code block */
};

/* Bytes of the longest prefix of s (valid UTF-8) holding at most max_chars characters. */
size_t alert_utf8_prefix(const char *s, size_t max_chars);
/* Characters (code points) of s. */
size_t alert_utf8_len(const char *s);
/* Appends s cleaned per esc, cut to max_chars characters of the source text with "…" as the
 * last one when it was cut. Returns the characters appended as displayed (for padding). */
size_t alert_text_append(struct buf *out, const char *s, size_t max_chars, enum alert_escape esc);
/* Caller frees: s cleaned (ALERT_TEXT_PLAIN) and cut to max_chars characters. */
char *alert_text_clip(const char *s, size_t max_chars);
/* "+2.24%" (2 decimals), "n/a" for a non-number. */
void alert_format_pct(const json_t *v, char *out, size_t outlen);

/* ---- identities (alerting/outbox.c) ---- */

/* Compact JSON text [metric, endpoint, flag] of one regression. Caller frees. */
char *alert_item_key(const json_t *regression);
/* The item keys of regressions, sorted, as a JSON array of strings. New reference. */
json_t *alert_items(const json_t *regressions);
/* JSON text [kind, service] for deploys, [kind, service, window_s, offset_s] for trends and
 * flags (from the candidate's from/to and the baseline's from; null when missing). Caller frees. */
char *alert_scope(const char *kind, const char *service, const json_t *report);
/* What dedup_key hashes (JSON text, see alert.h). Caller frees. */
char *alert_dedup_material(const char *kind, const char *service, const json_t *report,
                           const json_t *items);
/* The service as allowed in a dedup_key (and so in an HTTP header): [A-Za-z0-9._:/-], at most
 * 64 bytes, others replaced by '_'. */
void alert_key_service(const char *service, char *out, size_t outlen);

/* ---- HTTP client (alerting/deliver.c) ---- */

struct alert_http;

struct alert_http_result {
    long status;            /* 0: no HTTP answer */
    int64_t retry_after_us; /* from Retry-After, 0 when none */
    double duration_ms;
    char error[256]; /* "" when delivered; never holds the URL */
};

/* One libcurl easy handle (connections kept alive between requests). A transfer is aborted
 * when *stop or *quit becomes set. Caller frees with alert_http_free. */
struct alert_http *alert_http_new(int64_t connect_timeout_us, int64_t timeout_us,
                                  volatile sig_atomic_t *stop, atomic_bool *quit);
void alert_http_free(struct alert_http *h);
/* POSTs a JSON body; idempotency_key may be NULL. 0 when the receiver answered 2xx, else -1
 * with res->error. */
int alert_http_post(struct alert_http *h, const char *url, const char *idempotency_key,
                    const char *body, struct alert_http_result *res);

/* ---- delivery queue (alerting/queue.c) ---- */

struct alert_job {
    int64_t alert_id;
    char event[16]; /* "firing" or "resolved" */
    int attempt;    /* this attempt's number, from 1 */
    json_t *payload;
    int64_t created_us;
    int64_t resolved_us; /* 0: not resolved */
    char *dedup_key;
};
void alert_job_clear(struct alert_job *j);

/* Claims the receiver's oldest due delivery for lease_us. 1 claimed (job filled, caller clears),
 * 0 none due, -1 error. */
int alert_queue_claim(PGconn *conn, enum alert_receiver r, int64_t lease_us, struct alert_job *job,
                      char *err, size_t errlen);
/* Records the attempt: delivered (error NULL), or failed and retried in retry_us (or 'failed'
 * when that is past the deadline; *gave_up then true). 1 recorded, 0 the claim was lost (the
 * lease ran out and another worker claimed the delivery), -1 error. */
int alert_queue_record(PGconn *conn, enum alert_receiver r, const struct alert_job *job,
                       int64_t started_us, const struct alert_http_result *res, int64_t retry_us,
                       bool *gave_up, char *err, size_t errlen);
/* regressd_alert_release with the configured receivers (JSON array text). */
int alert_queue_release(PGconn *conn, const char *receivers_json, int64_t cap, int64_t window_us,
                        int64_t deadline_us, int *released, char *err, size_t errlen);
/* Gives up pending deliveries past their deadline that no worker holds (receivers no longer
 * configured, or never reached while no daemon delivered). */
int alert_queue_expire(PGconn *conn, int *expired, char *err, size_t errlen);

/* Retry delay after the attempt-th failed attempt: initial·2^(attempt−1) capped at max, then
 * uniformly jittered into [delay/2, delay]; a longer Retry-After (capped at max) wins.
 * rand01 in [0, 1). */
int64_t alert_backoff(int attempt, int64_t initial_us, int64_t max_us, int64_t retry_after_us,
                      double rand01);

#endif
