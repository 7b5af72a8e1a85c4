/* `regressd demo`, private to daemon/: the state its stages share. cmd_demo.c runs the stages
 * and owns setup and cleanup; demo_traffic.c generates and produces the traffic and waits for
 * ingest; demo_report.c prints what PostgreSQL holds and where to look next; demo_check.c runs
 * the deploy check and holds what the analysis stages share; demo_trend.c runs the trend and
 * the flag scan; demo_receiver.c is the local alert receiver; demo_alert.c waits for the
 * alerts to reach it and demo_slack.c shows the Slack message as a terminal can. */
#ifndef REGRESSD_DAEMON_DEMO_H
#define REGRESSD_DAEMON_DEMO_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "regressd/alert.h"
#include "regressd/config.h"
#include "regressd/consumer.h"
#include "regressd/detector.h"
#include "regressd/http.h"
#include "regressd/mockkafka.h"
#include "regressd/traffic.h"

#define DEMO_SERVICE "web"
#define DEMO_BASE_COMMIT "3f2a9c1e"
#define DEMO_NEW_COMMIT "8b01d7aa"
#define DEMO_TOPIC "perf.samples"
#define DEMO_GROUP "regressd-demo"
#define DEMO_PARTITIONS 8
#define DEMO_STAGES 9
/* The stages, in order (demo_say's first argument). */
enum {
    DEMO_STAGE_POSTGRES = 1,
    DEMO_STAGE_SERVICES,
    DEMO_STAGE_TRAFFIC,
    DEMO_STAGE_STORED,
    DEMO_STAGE_CHECK,
    DEMO_STAGE_TREND,
    DEMO_STAGE_FLAGS,
    DEMO_STAGE_ALERT,
    DEMO_STAGE_NEXT,
};

/* Exit status when the pipeline did not deliver (rows lost or duplicated, a stage failed). */
#define DEMO_EXIT_FAILED 1
#define DEMO_EXIT_INTERRUPTED 130

struct demo_options {
    bool quick; /* CI: fewer samples, fewer progress lines */
    bool keep;  /* keep the database */
    uint64_t samples;
    uint64_t seed;
};

/* What an analysis (deploy check, trend, flag scan) concluded about the regressions planted
 * for it to find. */
struct demo_outcome {
    bool ran;         /* a report was printed */
    int planted;      /* plants it should find */
    int found;        /* of them, reported as regressions */
    int unplanted;    /* regressions reported that no plant explains */
    bool suspect_ok;  /* trends: the deploy is named among the suspects; else true */
    int64_t alert_id; /* the alert queued with its findings, 0: none */
};

/* Whether the alerts queued by the analyses reached the local receiver. */
struct demo_alert_outcome {
    bool ran;
    int queued;          /* alerts in the outbox */
    int delivered;       /* of them, received on every path and marked delivered_at */
    bool deploy_arrived; /* the deploy check's alert is among the delivered */
};

/* demo_receiver.c: a real HTTP receiver on 127.0.0.1 (libmicrohttpd, its own thread), standing
 * in for a generic webhook (POST DEMO_WEBHOOK_PATH) and a Slack incoming webhook (POST
 * DEMO_SLACK_PATH). It answers 200 to those, 404 to anything else, and keeps a copy of the
 * first DEMO_RECEIVED_MAX requests. */
#define DEMO_WEBHOOK_PATH "/webhook"
#define DEMO_SLACK_PATH "/slack"
#define DEMO_RECEIVED_MAX 64

struct demo_receiver;

struct demo_received {
    char path[32];
    char *idempotency_key; /* NULL when the request had none */
    char *body;
    int64_t at_mono_us;
};

struct demo {
    struct demo_options opt;
    struct config *cfg;
    int64_t started_mono_us;

    /* PostgreSQL */
    char dbname[64];
    PGconn *admin;   /* the configured DSN: where the demo database is created and dropped */
    bool db_created; /* ours to drop */
    char *dsn;       /* the demo database's DSN (secret: never printed) */
    PGconn *conn;    /* to the demo database, for the report */

    /* Kafka and the consumer */
    struct mockkafka *kafka;
    struct consumer *consumer;
    pthread_t consumer_thread;
    bool consumer_started;
    bool consumer_abandoned; /* did not stop in time: its thread may still use cfg and d */
    volatile sig_atomic_t consumer_stop;
    atomic_bool consumer_done;
    int consumer_rc;
    char consumer_err[512];
    struct http_server *http;
    char http_url[80]; /* "" without HTTP */

    /* alerts: the delivery loop of `regressd run`, pointed at the local receiver */
    struct demo_receiver *receiver;
    char receiver_url[64]; /* "http://127.0.0.1:PORT" */
    struct alert_loop *alerts;

    /* traffic */
    struct traffic_config tcfg;
    struct traffic_strings strings;
    struct traffic_deploy deploy;
    struct traffic_flag flag;
    struct traffic_plant plants[3];
    struct traffic_service service;
    struct traffic *traffic;
    struct traffic_produce_stats produced; /* final, once produced */
    int64_t deploy_at_us;

    /* the outcome, for the closing line */
    bool stored_ok; /* PostgreSQL holds exactly what was generated */
    uint64_t stored_samples, stored_dead;
};

/* Progress and headings: "[3/9 traffic] ..." on stdout, flushed. */
void demo_say(const struct demo *d, int stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "1,234,567" */
const char *demo_count(uint64_t v, char buf[32]);
/* "2026-11-22 05:00 UTC" (with_date) or "05:00" */
const char *demo_clock(int64_t us, bool with_date, char buf[32]);
/* Seconds since the demo started. */
double demo_elapsed(const struct demo *d);

/* demo_traffic.c: builds the traffic model (stage 3 header). -1 with the reason. */
int demo_traffic_build(struct demo *d, char *err, size_t errlen) REGRESSD_MUST_CHECK;
/* Produces every message to the mock cluster while the consumer runs, printing progress, then
 * waits (bounded) until PostgreSQL holds all of them. 0 when everything was stored, -1 with the
 * reason (also on interrupt: stop_requested tells). */
int demo_traffic_run(struct demo *d, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* demo_report.c: what PostgreSQL holds against the ground truth; 0 when they agree, -1 with the
 * reason when rows were lost or duplicated (or a query failed). */
int demo_report_stored(struct demo *d, char *err, size_t errlen) REGRESSD_MUST_CHECK;
/* The ground truth, compact. */
void demo_report_truth(struct demo *d);
/* Where to look next: tables, example queries, URLs, commands. */
void demo_report_next(struct demo *d);

/* demo_check.c: the deploy check of the demo's deploy, its verdict table, and whether it found
 * the planted commit regressions; stores the verdict with its alert as the daemon's deploy
 * checker does. Fills out; -1 with the reason on a database error. */
int demo_check(struct demo *d, struct demo_outcome *out, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;
/* The report's text, indented; without "where it happened" unless full. */
void demo_print_report(const struct detector_report *r, bool full);
/* Prints, line by line, the plants of that kind against the report's results, then every
 * regression no plant explains; fills planted, found and unplanted of out. */
void demo_compare_with_plants(const struct demo *d, const struct detector_report *r,
                              enum traffic_plant_kind kind, struct demo_outcome *out);

/* demo_trend.c: the trend of the last hour against the hour before (stage 6) and the flag scan
 * of the whole traffic (stage 7), each stored as a findings row with its alert in one
 * transaction, as the daemon's scheduled jobs do. Fill out; -1 with the reason on an error. */
int demo_trend(struct demo *d, struct demo_outcome *out, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;
int demo_flags(struct demo *d, struct demo_outcome *out, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;

/* demo_receiver.c (see above). NULL with the reason when it cannot listen. */
struct demo_receiver *demo_receiver_start(char *err, size_t errlen);
unsigned demo_receiver_port(const struct demo_receiver *r);
/* Copies of the requests kept so far, in order of arrival: how many were written to out (at
 * most max). Clear each with demo_received_clear. */
size_t demo_receiver_copy(struct demo_receiver *r, struct demo_received *out, size_t max);
void demo_received_clear(struct demo_received *q);
/* Stops listening (requests in flight end first) and frees. NULL is a no-op. */
void demo_receiver_stop(struct demo_receiver *r);

/* demo_alert.c (stage 8): waits (bounded) until every alert in the outbox reached the receiver
 * on both paths and is marked delivered, then prints the webhook titles and the deploy alert as
 * Slack shows it. Fills out; -1 with the reason on a database error (or an interrupt). */
int demo_alert(struct demo *d, struct demo_alert_outcome *out, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;

/* demo_slack.c: a Slack Block Kit message body as terminal text, every line indented. */
void demo_slack_print(const json_t *body, const char *indent);

#endif
