/* alert_tool: drives alerting/ for the tests, independently of the detector.
 *
 *   alert_tool [-o KEY=VALUE]... enqueue REPORT.json [--rollback]
 *       BEGIN; alert_enqueue(report); COMMIT (or ROLLBACK): prints the alert id, 0 when the
 *       report was not alerted (no regression, duplicate, covered).
 *   alert_tool [-o KEY=VALUE]... resolve REPORT.json
 *       BEGIN; alert_resolve_absent(report); COMMIT: prints how many alerts were resolved.
 *   alert_tool [-o KEY=VALUE]... deliver
 *       runs the delivery loop (alert_loop_start) until SIGTERM or SIGINT, exactly as
 *       `regressd run` does.
 *
 * Configuration as for regressd: defaults, REGRESSD_* environment, then -o overrides.
 * Exit status: 0 done, 2 usage or configuration, 1 database error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regressd/alert.h"
#include "regressd/config.h"
#include "regressd/db.h"
#include "regressd/log.h"

#define MAX_OVERRIDES 64

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int deliver(const struct config *cfg)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    struct alert_loop *l = alert_loop_start(cfg, &stop_requested, err, sizeof(err));
    if (!l) {
        fprintf(stderr, "alert_tool: %s\n", err);
        return 2;
    }
    while (!stop_requested)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    alert_loop_stop(l);
    log_info("alert_tool: stopped");
    return 0;
}

/* One transaction around alert_enqueue or alert_resolve_absent. */
static int in_transaction(PGconn *conn, const char *what, const json_t *report, bool rollback)
{
    char err[1024];
    int64_t id = 0;
    int resolved = 0, rc;
    if (db_exec(conn, "BEGIN", err, sizeof(err)) < 0)
        goto failed;
    if (strcmp(what, "enqueue") == 0)
        rc = alert_enqueue(conn, NULL, NULL, report, &id, err, sizeof(err));
    else
        rc = alert_resolve_absent(conn, report, &resolved, err, sizeof(err));
    if (rc < 0 || db_exec(conn, rollback ? "ROLLBACK" : "COMMIT", err, sizeof(err)) < 0)
        goto failed;
    printf("%lld\n", strcmp(what, "enqueue") == 0 ? (long long)id : (long long)resolved);
    return 0;
failed:
    fprintf(stderr, "alert_tool %s: %s\n", what, err);
    return 1;
}

static int with_report(const struct config *cfg, const char *what, const char *path, bool rollback)
{
    json_error_t jerr;
    char err[512];
    json_t *report = json_load_file(path, 0, &jerr);
    if (!report) {
        fprintf(stderr, "alert_tool: %s:%d: %s\n", path, jerr.line, jerr.text);
        return 2;
    }
    PGconn *conn = db_connect(cfg->postgres_dsn, err, sizeof(err));
    int rc = 1;
    if (!conn)
        fprintf(stderr, "alert_tool: %s\n", err);
    else
        rc = in_transaction(conn, what, report, rollback);
    PQfinish(conn);
    json_decref(report);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: alert_tool [-o KEY=VALUE]... enqueue REPORT [--rollback] | "
                    "resolve REPORT | deliver\n");
    return 2;
}

int main(int argc, char **argv)
{
    char *overrides[MAX_OVERRIDES];
    size_t n = 0;
    int i = 1;
    for (; i + 1 < argc && strcmp(argv[i], "-o") == 0 && n < MAX_OVERRIDES; i += 2)
        overrides[n++] = argv[i + 1];
    if (i >= argc)
        return usage();
    struct config cfg;
    char err[1024];
    int rc = 2;
    if (config_load(&cfg, NULL, overrides, n, err, sizeof(err)) < 0) {
        fprintf(stderr, "alert_tool: %s\n", err);
        goto done;
    }
    log_level_current = cfg.log_level;
    const char *cmd = argv[i];
    if (strcmp(cmd, "deliver") == 0 && i + 1 == argc)
        rc = deliver(&cfg);
    else if ((strcmp(cmd, "enqueue") == 0 || strcmp(cmd, "resolve") == 0) && i + 1 < argc)
        rc = with_report(&cfg, cmd, argv[i + 1],
                         i + 2 < argc && strcmp(argv[i + 2], "--rollback") == 0);
    else
        rc = usage();
done:
    config_free(&cfg);
    return rc;
}
