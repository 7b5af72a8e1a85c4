/* `regressd demo`: the whole pipeline on this machine, on embedded defaults. A throw-away
 * database in the configured PostgreSQL (scripts/demo.sh runs the demo under pg_virtualenv), an
 * in-process mock Kafka cluster, the consumer on a thread (exactly as `regressd run` consumes),
 * the HTTP API, a local alert receiver and the alert delivery loop of `regressd run` pointed at
 * it, a few hours of synthetic traffic with planted regressions, then a report of what was
 * stored, the deploy check, the trend and the flag scan with what they found of the plants, the
 * alerts as the receiver got them, and where to look next.
 *
 * Every wait is bounded and watches stop_requested (SIGINT/SIGTERM); every path, Ctrl-C
 * included, goes through demo_cleanup: consumer stopped and joined, HTTP stopped, alert loop
 * stopped, receiver stopped, mock cluster destroyed, database dropped (unless --keep). */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "demo.h"
#include "regressd/db.h"
#include "regressd/log.h"

#define DEMO_SAMPLES 600000
#define DEMO_QUICK_SAMPLES 300000
#define DEMO_CONSUMER_STOP_TIMEOUT_US (30 * 1000000LL)
/* Delivery loop settings the demo relies on, whatever the configuration says. */
#define DEMO_ALERT_POLL_INTERVAL "200ms"
#define DEMO_ALERT_MAX_PER_SERVICE "10"

static const char demo_help[] =
    "usage: regressd [-c FILE] [-o KEY=VALUE]... demo [--quick] [--keep] [--samples N] [--seed S]\n"
    "\n"
    "Runs the whole pipeline on this machine and shows what it did, in under a minute:\n"
    "  1. creates a throw-away database regressd_demo_<pid> in the configured PostgreSQL\n"
    "     (postgres.dsn; empty: the PG* environment) and migrates it;\n"
    "  2. starts an in-process Kafka broker (librdkafka's mock cluster, real Kafka protocol),\n"
    "     regressd's consumer on it (consumer group regressd-demo), the HTTP API (http.listen,\n"
    "     default 127.0.0.1:8719; another free port when that one is taken), an HTTP alert\n"
    "     receiver on 127.0.0.1 (a free port) standing in for a generic webhook (POST\n"
    "     " DEMO_WEBHOOK_PATH ") and Slack (POST " DEMO_SLACK_PATH "), and the alert delivery "
    "loop of `regressd run`\n"
    "     pointed at it (webhook.url and slack.webhook_url are set to the receiver and\n"
    "     alertmanager.url is switched off: the demo's alerts never leave this machine);\n"
    "  3. generates three hours of synthetic traffic for service \"web\" (600,000 samples, 30\n"
    "     endpoints, 20,000 users, 0.5 % malformed messages) with a deploy of "
    "commit " DEMO_NEW_COMMIT "\n"
    "     an hour before its end that makes /feed and /search 6 % more expensive, and a flag\n"
    "     new_ranker=on for half of the users that makes /profile 10 % more expensive;\n"
    "  4. waits until every message is stored and compares PostgreSQL with the ground truth;\n"
    "  5. runs the deploy check of " DEMO_NEW_COMMIT " and prints its verdict table; stores the\n"
    "     verdict with its alert, as the daemon's deploy checker does;\n"
    "  6. runs the trend of the last hour against the hour before (`regressd trend --window 1h\n"
    "     --offset 1h`), prints its table and suspects (the deploy), stores it with its alert;\n"
    "  7. runs the flag scan over the three hours (`regressd flags --window 3h`), prints its\n"
    "     regressions (new_ranker=on on /profile) and a count of the other results, stores it\n"
    "     with its alert;\n"
    "  8. waits (at most 30 s) until the receiver got every alert as webhook and as Slack\n"
    "     message and the loop marked it delivered, then prints the deploy alert's webhook\n"
    "     title and its Slack message as text, and the trend's Slack message (the suspects);\n"
    "  9. prints where to look next (tables, queries, /metrics, commands).\n"
    "Then it stops everything and drops the database. Ctrl-C stops early and cleans up too.\n"
    "The easy way: scripts/demo.sh (installs, builds, and runs this under pg_virtualenv).\n"
    "The daemon's own log lines are limited to warnings (-o log.level=debug shows all).\n"
    "\n"
    "Options:\n"
    "  --quick        fewer samples (300,000) and fewer progress lines, for CI\n"
    "  --keep         keep the database (and print how to connect to it)\n"
    "  --samples N    valid samples to generate (default 600,000; at least 50,000)\n"
    "  --seed S       random seed of the traffic (default 1)\n"
    "\n"
    "Exit status: 0 the pipeline delivered every sample, the deploy check and the trend found\n"
    "both planted commit regressions (and the trend named the deploy), the flag scan found the\n"
    "flag's, and every alert reached the receiver; 1 it did not (rows lost or duplicated, a\n"
    "stage failed, a planted regression missed, an alert not delivered); 2 usage, configuration\n"
    "or connection error; 130 interrupted.\n";

/* ---- output helpers (shared by the demo's files) --------------------------------------------- */

double demo_elapsed(const struct demo *d)
{
    return (double)(util_mono_us() - d->started_mono_us) / 1e6;
}

void demo_say(const struct demo *d, int stage, const char *fmt, ...)
{
    static const char *const names[DEMO_STAGES + 1] = {"",       "postgres", "services", "traffic",
                                                       "stored", "check",    "trend",    "flags",
                                                       "alert",  "next"};
    char tag[32];
    snprintf(tag, sizeof(tag), "[%d/%d %s]", stage, DEMO_STAGES, names[stage]);
    printf("%5.1fs %-14s ", demo_elapsed(d), tag);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

const char *demo_count(uint64_t v, char buf[32])
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    int o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

const char *demo_clock(int64_t us, bool with_date, char buf[32])
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, 32, with_date ? "%Y-%m-%d %H:%M UTC" : "%H:%M", &tm);
    return buf;
}

/* Errors go to stderr; what stdout holds so far is flushed first, so they land in order. */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    fflush(stdout);
    fputs("regressd demo: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- options --------------------------------------------------------------------------------- */

static int parse_u64_opt(const char *opt, const char *v, uint64_t min, uint64_t *out)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '-' || !*v || *end || n < min) {
        fprintf(stderr, "regressd demo: %s: bad value '%s' (want an integer >= %" PRIu64 ")\n", opt,
                v, min);
        return -1;
    }
    *out = n;
    return 0;
}

/* 0 ok, 1 for --help, -1 on a usage error (reported). argv[0] is "demo". */
static int parse_args(int argc, char **argv, struct demo_options *o)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},         {"keep", no_argument, NULL, 'k'},
        {"samples", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},          {0}};
    bool samples_set = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'q':
            o->quick = true;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'n':
            if (parse_u64_opt("--samples", optarg, 50000, &o->samples) < 0)
                return -1;
            samples_set = true;
            break;
        case 's':
            if (parse_u64_opt("--seed", optarg, 0, &o->seed) < 0)
                return -1;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "regressd demo: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (!samples_set)
        o->samples = o->quick ? DEMO_QUICK_SAMPLES : DEMO_SAMPLES;
    return 0;
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

/* A libpq connection string (key = value or URI) with dbname replaced. Caller frees. */
static char *dsn_with_dbname(const char *dsn, const char *dbname, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (!opts) {
        snprintf(err, errlen, "postgres.dsn: %s", perr ? perr : "cannot parse");
        PQfreemem(perr);
        return NULL;
    }
    struct buf out = {0};
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || strcmp(o->keyword, "dbname") == 0)
            continue;
        buf_printf(&out, "%s='", o->keyword);
        for (const char *c = o->val; *c; c++) {
            if (*c == '\'' || *c == '\\')
                buf_append_char(&out, '\\');
            buf_append_char(&out, *c);
        }
        buf_append_str(&out, "' ");
    }
    buf_printf(&out, "dbname='%s'", dbname);
    PQconninfoFree(opts);
    char *s = xstrdup(buf_cstr(&out));
    buf_free(&out);
    return s;
}

static int setup_postgres(struct demo *d, char *err, size_t errlen)
{
    char sql[160];
    snprintf(d->dbname, sizeof(d->dbname), "regressd_demo_%ld", (long)getpid());
    d->admin = db_connect(d->cfg->postgres_dsn, err, errlen);
    if (!d->admin)
        return -1;
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d->dbname);
    if (db_exec(d->admin, sql, err, errlen) < 0)
        return -1;
    d->db_created = true;
    d->dsn = dsn_with_dbname(d->cfg->postgres_dsn, d->dbname, err, errlen);
    if (!d->dsn || config_set(d->cfg, "postgres.dsn", d->dsn, "demo", err, errlen) < 0)
        return -1;
    d->conn = db_connect(d->dsn, err, errlen);
    int applied = 0;
    if (!d->conn || db_migrate(d->conn, &applied, err, errlen) < 0 ||
        db_exec(d->conn, "SET timezone = 'UTC'", err, errlen) < 0)
        return -1;
    demo_say(d, 1, "database %s created and migrated (%d migrations)", d->dbname, applied);
    return 0;
}

static void drop_database(struct demo *d)
{
    char sql[160], err[512];
    if (!d->db_created || !d->admin)
        return;
    if (d->opt.keep) {
        printf("kept database %s\n", d->dbname);
        return;
    }
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->dbname);
    if (db_exec(d->admin, sql, err, sizeof(err)) < 0)
        complain("dropping database %s: %s", d->dbname, err);
    else
        printf("dropped database %s\n", d->dbname);
}

/* ---- Kafka, consumer, HTTP ------------------------------------------------------------------- */

static int setup_kafka(struct demo *d, char *err, size_t errlen)
{
    d->kafka = mockkafka_new(1, err, errlen);
    if (!d->kafka || mockkafka_topic_create(d->kafka, DEMO_TOPIC, DEMO_PARTITIONS, err, errlen) < 0)
        return -1;
    const char *settings[][2] = {
        {"kafka.brokers", mockkafka_bootstraps(d->kafka)},
        {"kafka.topic", DEMO_TOPIC},
        {"kafka.group", DEMO_GROUP},
        /* the mock coordinator's join delays: see include/regressd/mockkafka.h */
        {"kafka.session.timeout.ms", "6000"},
        {"kafka.heartbeat.interval.ms", "500"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(settings); i++)
        if (config_set(d->cfg, settings[i][0], settings[i][1], "demo", err, errlen) < 0)
            return -1;
    demo_say(d, 2,
             "mock Kafka cluster at %s (in-process, real Kafka protocol), topic %s, %d "
             "partitions",
             mockkafka_bootstraps(d->kafka), DEMO_TOPIC, DEMO_PARTITIONS);
    return 0;
}

static void *consumer_main(void *arg)
{
    struct demo *d = arg;
    d->consumer_rc =
        consumer_run(d->consumer, &d->consumer_stop, d->consumer_err, sizeof(d->consumer_err));
    atomic_store(&d->consumer_done, true);
    return NULL;
}

/* The configuration is complete before this thread starts: it reads cfg while it runs. */
static int start_consumer(struct demo *d, char *err, size_t errlen)
{
    if (pthread_create(&d->consumer_thread, NULL, consumer_main, d) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread");
        return -1;
    }
    d->consumer_started = true;
    demo_say(d, 2, "consumer started in group %s (the mock coordinator lets it join after ~3 s)",
             DEMO_GROUP);
    return 0;
}

/* Port when `port` is free on the IPv4 host, else a free port the kernel picks; 0 if neither. */
static unsigned free_port(const char *host, unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr) != 1)
        return port; /* not IPv4: let http_start judge */
    for (int attempt = 0; attempt < 2; attempt++, port = 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        socklen_t len = sizeof(sa);
        if (fd < 0)
            return 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sa.sin_port = htons((uint16_t)port);
        bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                  getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
        close(fd);
        if (ok)
            return ntohs(sa.sin_port);
    }
    return 0;
}

/* Serves /metrics and /healthz on http.listen, or on a free port of its host when that port is
 * taken. Without HTTP the demo goes on (it is a window into the run, not part of it). */
static void start_http(struct demo *d)
{
    char host[256], listen[300], err[512];
    unsigned port;
    if (!d->cfg->http_listen[0] ||
        http_parse_listen(d->cfg->http_listen, host, sizeof(host), &port) < 0)
        return;
    unsigned wanted = port;
    for (int attempt = 0; attempt < 3 && !d->http; attempt++) {
        port = free_port(host, attempt == 0 ? wanted : 0);
        if (!port)
            break;
        snprintf(listen, sizeof(listen), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
        if (config_set(d->cfg, "http.listen", listen, "demo", err, sizeof(err)) < 0)
            break;
        d->http = http_start(d->cfg, d->consumer, err, sizeof(err));
    }
    if (!d->http) {
        demo_say(d, 2, "HTTP API not started (%s); the demo goes on without it",
                 d->cfg->http_listen);
        return;
    }
    snprintf(d->http_url, sizeof(d->http_url), "http://%s", d->cfg->http_listen);
    demo_say(d, 2, "HTTP API: %s/metrics and /healthz%s", d->http_url,
             port == wanted ? "" : " (the configured port was taken)");
}

/* The local receiver, and the configuration that points the delivery loop at it: before any
 * thread that reads the configuration starts. */
static int setup_receiver(struct demo *d, char *err, size_t errlen)
{
    d->receiver = demo_receiver_start(err, errlen);
    if (!d->receiver)
        return -1;
    snprintf(d->receiver_url, sizeof(d->receiver_url), "http://127.0.0.1:%u",
             demo_receiver_port(d->receiver));
    char webhook[96], slack[96];
    snprintf(webhook, sizeof(webhook), "%s" DEMO_WEBHOOK_PATH, d->receiver_url);
    snprintf(slack, sizeof(slack), "%s" DEMO_SLACK_PATH, d->receiver_url);
    const char *settings[][2] = {
        {"webhook.url", webhook},
        {"slack.webhook_url", slack},
        {"alertmanager.url", ""}, /* not the configured one: demo alerts stay here */
        {"alert.poll_interval", DEMO_ALERT_POLL_INTERVAL},
        {"alert.max_per_service", DEMO_ALERT_MAX_PER_SERVICE},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(settings); i++)
        if (config_set(d->cfg, settings[i][0], settings[i][1], "demo", err, errlen) < 0)
            return -1;
    return 0;
}

/* The delivery loop of `regressd run`, on the demo database (it holds the delivery lock there). */
static int start_alerts(struct demo *d, char *err, size_t errlen)
{
    d->alerts = alert_loop_start(d->cfg, &stop_requested, err, errlen);
    if (!d->alerts)
        return -1;
    http_set_alert_loop(d->http, d->alerts);
    demo_say(d, 2, "alert receiver at %s: %s plays a generic webhook, %s Slack", d->receiver_url,
             DEMO_WEBHOOK_PATH, DEMO_SLACK_PATH);
    demo_say(d, 2, "alert delivery loop started, pointed at it (alertmanager.url off)");
    return 0;
}

/* Stops the consumer (it stores the batch in flight and leaves the group) and waits for it,
 * bounded: a consumer that does not stop in time is left behind (the process exits anyway). */
static void stop_consumer(struct demo *d)
{
    if (!d->consumer_started)
        return;
    d->consumer_stop = 1;
    int64_t deadline = util_mono_us() + DEMO_CONSUMER_STOP_TIMEOUT_US;
    while (!atomic_load(&d->consumer_done) && util_mono_us() < deadline)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    if (!atomic_load(&d->consumer_done)) {
        complain("the consumer did not stop within %lld s",
                 DEMO_CONSUMER_STOP_TIMEOUT_US / 1000000);
        pthread_detach(d->consumer_thread);
        d->consumer = NULL; /* still in use by its thread */
        d->consumer_abandoned = true;
    } else {
        pthread_join(d->consumer_thread, NULL);
        if (d->consumer_rc < 0)
            complain("consumer: %s", d->consumer_err);
    }
    d->consumer_started = false;
}

/* Every path ends here: in reverse order of setup. */
static void demo_cleanup(struct demo *d)
{
    stop_consumer(d);
    http_stop(d->http); /* it reads the alert loop's metrics: before the loop goes */
    d->http = NULL;
    alert_loop_stop(d->alerts);
    d->alerts = NULL;
    demo_receiver_stop(d->receiver);
    d->receiver = NULL;
    consumer_free(d->consumer);
    d->consumer = NULL;
    mockkafka_free(d->kafka);
    d->kafka = NULL;
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
    drop_database(d);
    if (d->admin)
        PQfinish(d->admin);
    d->admin = NULL;
    traffic_free(d->traffic);
    d->traffic = NULL;
    traffic_strings_free(&d->strings);
    free(d->dsn);
    d->dsn = NULL;
}

/* ---- the stages ------------------------------------------------------------------------------ */

static void print_intro(const struct demo *d)
{
    char n[32];
    printf("regressd demo: synthetic traffic -> Kafka -> regressd -> PostgreSQL -> deploy check, "
           "trend,\nflag scan -> alerts, all on this machine. "
           "%s samples of service \"" DEMO_SERVICE "\" with planted\nregressions; Ctrl-C stops "
           "and cleans up.\n\n",
           demo_count(d->opt.samples, n));
    fflush(stdout);
}

/* Stages 1-3: everything runs; 0, or -1 with the reason and the exit status in *rc. The
 * configuration is complete before the first thread that reads it (HTTP, alert loop,
 * consumer) starts. */
static int run_pipeline(struct demo *d, int *rc, char *err, size_t errlen)
{
    *rc = EXIT_USAGE; /* setup: a configuration or connection error */
    if (setup_postgres(d, err, errlen) < 0) {
        size_t len = strlen(err);
        snprintf(err + len, errlen - len,
                 "\n(the demo needs a PostgreSQL where it may create a database: run "
                 "scripts/demo.sh, or `pg_virtualenv -t regressd demo`)");
        return -1;
    }
    if (setup_kafka(d, err, errlen) < 0)
        return -1;
    d->consumer = consumer_new(d->cfg, err, errlen);
    if (!d->consumer)
        return -1;
    *rc = DEMO_EXIT_FAILED;
    if (setup_receiver(d, err, errlen) < 0)
        return -1;
    start_http(d); /* sets http.listen */
    if (start_alerts(d, err, errlen) < 0 || start_consumer(d, err, errlen) < 0)
        return -1;
    if (demo_traffic_build(d, err, errlen) < 0 || demo_traffic_run(d, err, errlen) < 0)
        return -1;
    return 0;
}

/* What the analyses and the alert stage found, for the closing line and the exit status. */
struct demo_outcomes {
    struct demo_outcome check, trend, flags;
    struct demo_alert_outcome alert;
};

static void print_found(const char *what, const struct demo_outcome *o, bool *first)
{
    if (!o->ran)
        return;
    printf("%s%s found %d of %d", *first ? "; " : ", ", what, o->found, o->planted);
    *first = false;
}

/* The closing line: what the demo showed, in one line (CI greps it). */
static void print_outcome(const struct demo *d, int rc, const struct demo_outcomes *o)
{
    char a[32], b[32], c[32];
    printf("regressd demo: %s after %.1f s",
           rc == EXIT_OK                 ? "done"
           : rc == DEMO_EXIT_INTERRUPTED ? "interrupted"
                                         : "FAILED",
           demo_elapsed(d));
    if (d->stored_samples || d->stored_dead)
        printf(": %s of %s samples stored, %s dead letters", demo_count(d->stored_samples, a),
               demo_count(d->tcfg.samples, b), demo_count(d->stored_dead, c));
    bool first = true;
    print_found("the deploy check", &o->check, &first);
    print_found("the trend", &o->trend, &first);
    print_found("the flag scan", &o->flags, &first);
    if (!first)
        printf(" planted regressions");
    if (o->alert.ran)
        printf("; %d of %d alerts reached the receiver", o->alert.delivered, o->alert.queued);
    printf("\n");
}

/* Why an analysis falls short of its plants (static), or NULL when it found them all. */
static const char *shortfall(const struct demo_outcome *o)
{
    if (o->found < o->planted)
        return "missed a planted regression";
    if (!o->suspect_ok)
        return "did not name the deploy among its suspects";
    return NULL;
}

/* Runs one analysis stage; its failures make the demo fail, not stop. */
static void analyse(struct demo *d, const char *what,
                    int (*stage)(struct demo *, struct demo_outcome *, char *, size_t),
                    struct demo_outcome *o, int *rc)
{
    char err[1024];
    const char *why;
    if (stage(d, o, err, sizeof(err)) < 0) {
        if (stop_requested)
            return;
        complain("FAILED: %s: %s", what, err);
        *rc = DEMO_EXIT_FAILED;
    } else if ((why = shortfall(o))) {
        complain("FAILED: the %s %s (found %d of %d)%s", what, why, o->found, o->planted,
                 d->opt.samples < DEMO_QUICK_SAMPLES
                     ? " (with this few samples the intervals can be too wide to clear the "
                       "minimum effect)"
                     : "");
        *rc = DEMO_EXIT_FAILED;
    }
}

static void check_alerts(struct demo *d, struct demo_alert_outcome *o, int *rc)
{
    char err[1024];
    if (demo_alert(d, o, err, sizeof(err)) < 0) {
        if (stop_requested)
            return;
        complain("FAILED: alerts: %s", err);
        *rc = DEMO_EXIT_FAILED;
    } else if (!o->deploy_arrived || o->delivered < o->queued) {
        complain("FAILED: %d of %d alerts reached the receiver%s", o->delivered, o->queued,
                 o->deploy_arrived ? "" : ", the deploy alert not among them");
        *rc = DEMO_EXIT_FAILED;
    }
}

static int run_demo(struct demo *d, struct demo_outcomes *o)
{
    char err[1024];
    int rc;
    print_intro(d);
    if (run_pipeline(d, &rc, err, sizeof(err)) < 0) {
        if (stop_requested)
            return DEMO_EXIT_INTERRUPTED;
        complain("%s", err);
        return rc;
    }
    rc = EXIT_OK;
    if (demo_report_stored(d, err, sizeof(err)) < 0) {
        complain("FAILED: %s", err);
        rc = DEMO_EXIT_FAILED;
    }
    demo_report_truth(d);
    if (stop_requested)
        return DEMO_EXIT_INTERRUPTED;
    analyse(d, "deploy check", demo_check, &o->check, &rc);
    if (!stop_requested)
        analyse(d, "trend", demo_trend, &o->trend, &rc);
    if (!stop_requested)
        analyse(d, "flag scan", demo_flags, &o->flags, &rc);
    if (!stop_requested)
        check_alerts(d, &o->alert, &rc);
    if (stop_requested)
        return DEMO_EXIT_INTERRUPTED;
    demo_report_next(d);
    return rc;
}

int cmd_demo(struct config *cfg, int argc, char **argv)
{
    struct demo *d = xcalloc(1, sizeof(*d));
    d->opt.seed = 1;
    int rc = parse_args(argc, argv, &d->opt);
    if (rc != 0) {
        if (rc > 0)
            fputs(demo_help, stdout);
        free(d);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    /* The report is the demo's output; the daemon's info lines would drown it. */
    if (log_level_current == LOG_LEVEL_INFO)
        log_level_current = LOG_LEVEL_WARN;
    d->cfg = cfg;
    d->started_mono_us = util_mono_us();
    atomic_init(&d->consumer_done, false);
    signals_install();
    struct demo_outcomes outcomes = {0};
    rc = run_demo(d, &outcomes);
    if (rc == DEMO_EXIT_INTERRUPTED)
        printf("\ninterrupted: stopping and cleaning up\n");
    demo_cleanup(d);
    print_outcome(d, rc, &outcomes);
    if (d->consumer_abandoned) {
        /* Its thread still reads cfg and d: leave without freeing them. */
        fflush(NULL);
        _exit(rc == EXIT_OK ? DEMO_EXIT_FAILED : rc);
    }
    free(d);
    return rc;
}
