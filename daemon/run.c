/* `regressd run` and `regressd migrate`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "regressd/alert.h"
#include "regressd/consumer.h"
#include "regressd/db.h"
#include "regressd/http.h"
#include "regressd/log.h"

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
        for (int64_t slept = 0; slept < delay && !stop_requested; slept += 50000)
            nanosleep(&(struct timespec){0, 50000000}, NULL);
        delay = delay * 2 > cfg->db_retry_max_us ? cfg->db_retry_max_us : delay * 2;
    }
}

static int no_options(const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: regressd [-c FILE] [-o KEY=VALUE]... %s\n", cmd);
            return EXIT_OK;
        }
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
    int rc = no_options("migrate", argc, argv);
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
    int rc = no_options("run", argc, argv);
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
    if (migrate_database(cfg, true, err, sizeof(err)) < 0) {
        if (!stop_requested) {
            log_error("%s", err);
            rc = EXIT_USAGE;
        }
    } else if (!(alerts = alert_loop_start(cfg, &stop_requested, err, sizeof(err)))) {
        log_error("%s", err);
        rc = EXIT_USAGE;
    } else {
        http_set_alert_loop(http, alerts);
        if (consumer_run(consumer, &stop_requested, err, sizeof(err)) < 0) {
            log_error("%s", err);
            rc = EXIT_USAGE;
        }
    }
    /* The HTTP server reads the loop's metrics: stop serving before the loop goes away. */
    http_stop(http);
    alert_loop_stop(alerts);
    consumer_free(consumer);
    log_info("regressd stopped");
    return rc;
}
