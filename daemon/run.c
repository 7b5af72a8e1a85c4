/* `regressd run` and `regressd migrate`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "deploy_checker.h"
#include "regressd/alert.h"
#include "regressd/consumer.h"
#include "regressd/db.h"
#include "regressd/http.h"
#include "regressd/log.h"
#include "scheduler.h"

volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int migrate_database(const struct config *cfg, bool wait, char *err, size_t errlen)
{
    int64_t delay = 100000;
    bool logged = false;
    for (;;) {
        PGconn *conn = db_connect(cfg->postgres_dsn, err, errlen);
        if (conn) {
            int applied = 0;
            int rc = db_migrate(conn, &applied, err, errlen);
            PQfinish(conn);
            if (rc == 0)
                log_info("schema up to date (%d migration(s) applied now)", applied);
            return rc;
        }
        if (!wait || stop_requested)
            return -1;
        if (!logged)
            log_error("PostgreSQL: %s; retrying", err);
        logged = true;
        util_backoff_sleep(&delay, cfg->db_retry_max_us, &stop_requested);
    }
}

static const char run_help[] =
    "usage: regressd [-c FILE] [-o KEY=VALUE]... run\n"
    "\n"
    "The daemon. Migrates the schema, then until SIGTERM or SIGINT:\n"
    "  - consumes samples from kafka.topic as consumer group kafka.group, validates them and\n"
    "    stores them in PostgreSQL exactly once: samples, per-minute rollups, dead letters and\n"
    "    the next Kafka offsets in one transaction per batch; positions are read from\n"
    "    PostgreSQL on every partition assignment, never from Kafka;\n"
    "  - checks every deploy (recorded by `regressd deploy`, POST /v1/deploys, or a commit's\n"
    "    first sample) once its post-deploy window is complete, and stores the verdict;\n"
    "  - runs the schedule (schedule.jobs): hourly trends (the last hour against 1 day and 1\n"
    "    week earlier), daily (the last day against a week before), weekly (the last 7 days\n"
    "    against the 7 before), an hourly flag scan, and retention (retention.samples,\n"
    "    retention.rollups); runs missed while no daemon ran are made up for, none twice;\n"
    "  - delivers alerts to webhook.url, slack.webhook_url and alertmanager.url, retrying\n"
    "    until they answer 2xx (only the daemon holding the delivery lock delivers);\n"
    "  - serves HTTP on http.listen: GET /healthz, GET /metrics (Prometheus), POST /v1/deploys,\n"
    "    GET /v1/deploys/{id}, GET /v1/alerts.\n"
    "\n"
    "PostgreSQL down: batches are retried with capped backoff (ingest.db_retry_max), offsets\n"
    "never advance past what was stored, /healthz answers 503. Kafka down: librdkafka keeps\n"
    "trying. Several daemons in one group split the partitions.\n"
    "\n"
    "On SIGTERM: stop polling, store the batch in flight (at most shutdown_timeout), leave the\n"
    "group, exit 0.\n"
    "\n"
    "Exit status: 0 after a clean stop; 2 on a configuration error (named in the message,\n"
    "before anything starts) or if the schema cannot be migrated.\n";

static const char migrate_help[] =
    "usage: regressd [-c FILE] [-o KEY=VALUE]... migrate\n"
    "\n"
    "Creates or upgrades the PostgreSQL schema at postgres.dsn: applies, in order, each\n"
    "migration not yet recorded in schema_migrations, each in its own transaction, serialised\n"
    "across processes by an advisory lock. Running it again is a no-op. `regressd run` does\n"
    "the same at start.\n"
    "\n"
    "Exit status: 0 when the schema is current; 2 when PostgreSQL cannot be reached or a\n"
    "migration fails (the message says which).\n";

/* Commands without options: --help prints help. Returns an exit status, or -1 to go on. */
static int no_options(const char *cmd, const char *help, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(help, stdout);
            return EXIT_OK;
        }
        fprintf(stderr, "regressd %s: see regressd %s --help\n", cmd, cmd);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "regressd %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_migrate(struct config *cfg, int argc, char **argv)
{
    int rc = no_options("migrate", migrate_help, argc, argv);
    if (rc >= 0)
        return rc;
    char err[1024];
    if (migrate_database(cfg, false, err, sizeof(err)) < 0) {
        fprintf(stderr, "regressd migrate: %s\n", err);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cmd_run(struct config *cfg, int argc, char **argv)
{
    int rc = no_options("run", run_help, argc, argv);
    if (rc >= 0)
        return rc;
    char err[1024];
    struct http_server *http = NULL;
    /* Everything that can be judged without the network is judged before we start. */
    struct consumer *consumer = consumer_new(cfg, err, sizeof(err));
    if (!consumer) {
        fprintf(stderr, "regressd run: %s\n", err);
        return EXIT_USAGE;
    }
    signals_install();
    if (cfg->http_listen[0]) {
        http = http_start(cfg, consumer, err, sizeof(err));
        if (!http) {
            fprintf(stderr, "regressd run: %s\n", err);
            consumer_free(consumer);
            return EXIT_USAGE;
        }
    }
    rc = EXIT_OK;
    struct alert_loop *alerts = NULL;
    struct deploy_checker *checker = NULL;
    struct scheduler *schedule = NULL;
    if (migrate_database(cfg, true, err, sizeof(err)) < 0) {
        if (!stop_requested) {
            log_error("%s", err);
            rc = EXIT_USAGE;
        }
    } else if (!(alerts = alert_loop_start(cfg, &stop_requested, err, sizeof(err))) ||
               !(checker = deploy_checker_start(cfg, &stop_requested, err, sizeof(err))) ||
               !(schedule = scheduler_start(cfg, &stop_requested, err, sizeof(err)))) {
        log_error("%s", err);
        rc = EXIT_USAGE;
    } else {
        http_set_alert_loop(http, alerts);
        http_set_scheduler(http, schedule);
        if (consumer_run(consumer, &stop_requested, err, sizeof(err)) < 0) {
            log_error("%s", err);
            rc = EXIT_USAGE;
        }
    }
    /* The HTTP server reads the loop's metrics: stop serving before the loop goes away. */
    http_stop(http);
    scheduler_stop(schedule);
    deploy_checker_stop(checker);
    alert_loop_stop(alerts);
    consumer_free(consumer);
    log_info("regressd stopped");
    return rc;
}
