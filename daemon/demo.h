/* `regressd demo`, private to daemon/: the state its stages share. cmd_demo.c runs the stages
 * and owns setup and cleanup; demo_traffic.c generates and produces the traffic and waits for
 * ingest; demo_report.c prints what PostgreSQL holds and where to look next; demo_check.c runs
 * the deploy check. */
#ifndef REGRESSD_DAEMON_DEMO_H
#define REGRESSD_DAEMON_DEMO_H

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/consumer.h"
#include "regressd/http.h"
#include "regressd/mockkafka.h"
#include "regressd/traffic.h"

#define DEMO_SERVICE "web"
#define DEMO_BASE_COMMIT "3f2a9c1e"
#define DEMO_NEW_COMMIT "8b01d7aa"
#define DEMO_TOPIC "perf.samples"
#define DEMO_GROUP "regressd-demo"
#define DEMO_PARTITIONS 8
#define DEMO_STAGES 6

/* Exit status when the pipeline did not deliver (rows lost or duplicated, a stage failed). */
#define DEMO_EXIT_FAILED 1
#define DEMO_EXIT_INTERRUPTED 130

struct demo_options {
    bool quick; /* CI: fewer samples, fewer progress lines */
    bool keep;  /* keep the database */
    uint64_t samples;
    uint64_t seed;
};

/* What the deploy check concluded about the planted commit regressions. */
struct demo_check_outcome {
    bool ran;           /* a verdict table was printed */
    const char *reason; /* static: why it did not run, when !ran */
    int planted;        /* commit plants */
    int found;          /* of them, reported as regressions */
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

/* Progress and headings: "[3/6 traffic] ..." on stdout, flushed. */
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
 * the planted commit regressions. Fills out; -1 with the reason on a database error. */
int demo_check(struct demo *d, struct demo_check_outcome *out, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;

#endif
