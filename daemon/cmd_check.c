/* `regressd deploy` (record a deploy, print its id) and `regressd check` (compare a commit
 * against its baseline; exit 0 no regression, 1 regression, 2 usage/connection error,
 * 3 inconclusive). `check` reads only; the daemon stores verdicts (deploy_checker.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "regressd/db.h"
#include "regressd/detector.h"

#define CHECK_POLL_US (2 * 1000000LL)

struct check_opts {
    const char *service, *commit, *baseline, *at;
    bool json;
    int64_t wait_us;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct check_opts *o,
                      void (*usage)(FILE *))
{
    static const struct option opts[] = {
        {"service", required_argument, NULL, 's'},  {"commit", required_argument, NULL, 'c'},
        {"baseline", required_argument, NULL, 'b'}, {"at", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},           {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},           {0}};
    int ch;
    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->service = optarg;
            break;
        case 'c':
            o->commit = optarg;
            break;
        case 'b':
            o->baseline = optarg;
            break;
        case 'a':
            o->at = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'w':
            if (util_parse_duration(optarg, &o->wait_us) < 0) {
                fprintf(stderr, "regressd %s: --wait %s: expected a duration (90s, 30m, 1h)\n", cmd,
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "regressd %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        return EXIT_USAGE;
    }
    char err[256];
    if (detector_check_name("--service", o->service, true, err, sizeof(err)) < 0 ||
        detector_check_name("--commit", o->commit, false, err, sizeof(err)) < 0 ||
        (o->baseline &&
         detector_check_name("--baseline", o->baseline, false, err, sizeof(err)) < 0)) {
        fprintf(stderr, "regressd %s: %s\n", cmd, err);
        return EXIT_USAGE;
    }
    return -1;
}

/* ---- deploy ---- */

static void deploy_usage(FILE *f)
{
    fprintf(f, "usage: regressd [-c FILE] [-o KEY=VALUE]... deploy --service S --commit C "
               "[--at T] [--baseline C0]\n\n"
               "Records a deploy of commit C of service S at time T (RFC 3339 or epoch ms; "
               "default now),\ncompared against C0 (default: the commit deployed before it). "
               "Prints the deploy's id.\nThe same commit as the service's latest deploy returns "
               "that deploy's id.\n");
}

int cmd_deploy(struct config *cfg, int argc, char **argv)
{
    struct check_opts o;
    int rc = parse_opts("deploy", argc, argv, &o, deploy_usage);
    if (rc >= 0)
        return rc;
    int64_t at;
    if (o.at && util_parse_time(o.at, &at) < 0) {
        fprintf(stderr, "regressd deploy: --at %s: expected RFC 3339 or epoch milliseconds\n",
                o.at);
        return EXIT_USAGE;
    }
    char err[1024];
    PGconn *conn = db_connect(cfg->postgres_dsn, err, sizeof(err));
    int64_t id;
    bool created;
    if (!conn || detector_deploy_record(conn, o.service, o.commit, o.at ? &at : NULL, o.baseline,
                                        &id, &created, err, sizeof(err)) < 0) {
        fprintf(stderr, "regressd deploy: %s\n", err);
        PQfinish(conn);
        return EXIT_USAGE;
    }
    PQfinish(conn);
    printf("%lld\n", (long long)id);
    return EXIT_OK;
}

/* ---- check ---- */

static void check_usage(FILE *f)
{
    fprintf(f, "usage: regressd [-c FILE] [-o KEY=VALUE]... check --service S --commit C "
               "[--baseline C0] [--json] [--wait DURATION]\n\n"
               "Compares commit C of service S against its baseline C0 (default: the commit "
               "deployed before it)\naround C's deploy (or its first sample when no deploy was "
               "recorded). --wait polls until the\nservice-level result has enough samples and "
               "users, or the candidate window is complete, or\nthe duration has passed.\n\n"
               "Exit status: 0 no regression, 1 regression, 2 usage, configuration or "
               "connection error,\n3 inconclusive.\n");
}

/* Enough data to stop waiting: decided by sample sizes only, never by the outcome (stopping
 * when a result looks significant would inflate false alarms). */
static bool ready(const struct detector_report *r)
{
    return r->complete || (r->n_results > 0 && r->results[0].metric == DETECTOR_PER_USER &&
                           r->results[0].res.tested);
}

/* One attempt: a report (caller frees) or NULL with err. *final is false when waiting longer
 * could change the answer. */
static struct detector_report *check_once(PGconn *conn, const struct detector_params *p,
                                          const struct check_opts *o, bool *final, char *err,
                                          size_t errlen)
{
    struct detector_deploy dep;
    bool found;
    struct detector_report *r = NULL;
    *final = true;
    if (detector_deploy_find(conn, o->service, o->commit, &dep, &found, err, errlen) < 0)
        return NULL;
    const char *base = o->baseline ? o->baseline : dep.baseline;
    if (!found) {
        *final = false;
        r = detector_report_empty(p, o->service, o->baseline, o->commit, util_now_us(),
                                  "no deploy of this commit recorded and no samples of it");
    } else if (!base) {
        r = detector_report_empty(p, o->service, NULL, o->commit, dep.deployed_at_us,
                                  "no baseline commit known (no earlier deploy or commit of the "
                                  "service): pass --baseline");
    } else if (strcmp(base, o->commit) == 0) {
        snprintf(err, errlen, "the baseline is the candidate commit itself");
    } else {
        struct detector_data d;
        if (detector_load(conn, p, o->service, base, o->commit, dep.deployed_at_us, util_now_us(),
                          &d, err, errlen) == 0) {
            r = detector_check(p, &d, o->service, err, errlen);
            detector_data_free(&d);
        }
        if (r) {
            r->deploy_id = dep.id;
            *final = ready(r);
        }
    }
    detector_deploy_clear(&dep);
    return r;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

void cmd_print_report(const struct detector_report *r, bool json)
{
    if (json) {
        char *s = detector_report_dumps(r, true);
        puts(s);
        free(s);
        return;
    }
    struct buf out = {0};
    detector_report_text(r, &out);
    fputs(buf_cstr(&out), stdout);
    buf_free(&out);
}

int cmd_check(struct config *cfg, int argc, char **argv)
{
    struct check_opts o;
    int rc = parse_opts("check", argc, argv, &o, check_usage);
    if (rc >= 0)
        return rc;
    if (o.at) {
        fprintf(stderr, "regressd check: --at is an option of `deploy`\n");
        return EXIT_USAGE;
    }
    char err[1024];
    struct detector_params p;
    PGconn *conn = NULL;
    struct detector_report *r = NULL;
    rc = EXIT_USAGE;
    if (detector_params_init(&p, cfg, err, sizeof(err)) < 0 ||
        !(conn = db_connect(cfg->postgres_dsn, err, sizeof(err))))
        goto done;
    int64_t deadline = util_mono_us() + o.wait_us;
    for (;;) {
        bool final;
        if (!(r = check_once(conn, &p, &o, &final, err, sizeof(err))))
            goto done;
        int64_t left = deadline - util_mono_us();
        if (final || left <= 0)
            break;
        detector_report_free(r);
        r = NULL;
        sleep_us(left < CHECK_POLL_US ? left : CHECK_POLL_US);
    }
    cmd_print_report(r, o.json);
    rc = detector_exit_status(r->verdict);
done:
    if (rc == EXIT_USAGE && !r)
        fprintf(stderr, "regressd check: %s\n", err);
    detector_report_free(r);
    PQfinish(conn);
    detector_params_free(&p);
    return rc;
}
