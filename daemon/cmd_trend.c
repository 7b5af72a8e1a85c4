/* `regressd trend` (a window against the same window earlier) and `regressd flags` (every flag
 * value against its absence). Both read only and exit like `check`: 0 no regression,
 * 1 regression, 2 usage/configuration/connection error, 3 inconclusive. The daemon runs the
 * same comparisons on its schedule (daemon/scheduler.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "regressd/db.h"
#include "regressd/detector.h"

struct window_opts {
    const char *service;
    int64_t window_us, offset_us, at_us;
    bool json;
};

static int parse_window_opts(const char *cmd, bool trend, int argc, char **argv,
                             struct window_opts *o, void (*usage)(FILE *))
{
    static const struct option opts[] = {{"service", required_argument, NULL, 's'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"offset", required_argument, NULL, 'o'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->service = optarg;
            break;
        case 'w':
        case 'o':
            if ((ch == 'o' && !trend) ||
                util_parse_duration(optarg, ch == 'w' ? &o->window_us : &o->offset_us) < 0) {
                if (ch == 'o' && !trend)
                    fprintf(stderr, "regressd %s: --offset is an option of `trend`\n", cmd);
                else
                    fprintf(stderr, "regressd %s: --%s %s: expected a duration (10m, 1h, 1d, 1w)\n",
                            cmd, ch == 'w' ? "window" : "offset", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'a':
            if (util_parse_time(optarg, &o->at_us) < 0) {
                fprintf(stderr, "regressd %s: --at %s: expected RFC 3339 or epoch milliseconds\n",
                        cmd, optarg);
                return EXIT_USAGE;
            }
            break;
        case 'j':
            o->json = true;
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
    if (detector_check_name("--service", o->service, true, err, sizeof(err)) < 0) {
        fprintf(stderr, "regressd %s: %s\n", cmd, err);
        return EXIT_USAGE;
    }
    if (trend && (!o->window_us || !o->offset_us)) {
        fprintf(stderr, "regressd %s: --window and --offset are required\n", cmd);
        return EXIT_USAGE;
    }
    return -1;
}

/* Connects, runs one comparison, prints it; the exit status of its verdict. */
static int run_report(const char *cmd, struct config *cfg, const struct window_opts *o, bool trend)
{
    char err[1024];
    struct detector_params p;
    PGconn *conn = NULL;
    struct detector_report *r = NULL;
    int rc = EXIT_USAGE;
    if (detector_params_init(&p, cfg, err, sizeof(err)) == 0 &&
        (conn = db_connect(cfg->postgres_dsn, err, sizeof(err)))) {
        int64_t now = util_now_us(), at = o->at_us ? o->at_us : now;
        r = trend ? detector_trend(conn, &p, o->service, o->window_us, o->offset_us, at, now, err,
                                   sizeof(err))
                  : detector_flags(conn, &p, o->service,
                                   o->window_us ? o->window_us : p.flags_window_us, at, now, err,
                                   sizeof(err));
    }
    if (r) {
        cmd_print_report(r, o->json);
        rc = detector_exit_status(r->verdict);
    } else {
        fprintf(stderr, "regressd %s: %s\n", cmd, err);
    }
    detector_report_free(r);
    PQfinish(conn);
    detector_params_free(&p);
    return rc;
}

static void trend_usage(FILE *f)
{
    fprintf(f,
            "usage: regressd [-c FILE] [-o KEY=VALUE]... trend --service S --window DURATION\n"
            "                --offset DURATION [--at T] [--json]\n\n"
            "Compares the window [T - DURATION, T) of service S, every commit, with the same "
            "window OFFSET\nearlier: the service's instructions per user, its mean latency "
            "(informational), and the\ninstructions per request of its heaviest endpoints (by "
            "instructions, until they carry\ntrend.coverage_pct of the service's, at most "
            "trend.max_endpoints). All results are decided\ntogether with false discovery rate "
            "control, as `check` does. The deploys and flag changes\nbetween the two windows are "
            "listed as suspects.\n\n"
            "  --window D   10m, 1h, 1d, 1w: a whole number of 10 minutes\n"
            "  --offset D   how much earlier the baseline window is; at least the window\n"
            "  --at T       end of the window (RFC 3339 or epoch ms; default now), rounded "
            "down to 10 minutes\n"
            "  --json       the CONTRACT's JSON report (kind \"trend\") instead of the table\n\n"
            "The daemon runs the hourly (1h against 1d and 1w earlier), daily (1d against 1w) "
            "and weekly\n(1w against 1w) trends itself (schedule.jobs).\n\n"
            "Exit status: 0 no regression, 1 regression, 2 usage, configuration or connection "
            "error,\n3 inconclusive.\n");
}

int cmd_trend(struct config *cfg, int argc, char **argv)
{
    struct window_opts o = {0};
    int rc = parse_window_opts("trend", true, argc, argv, &o, trend_usage);
    return rc >= 0 ? rc : run_report("trend", cfg, &o, true);
}

static void flags_usage(FILE *f)
{
    fprintf(f,
            "usage: regressd [-c FILE] [-o KEY=VALUE]... flags --service S [--window DURATION] "
            "[--at T] [--json]\n\n"
            "For every flag value seen in the window [T - DURATION, T) of service S (no "
            "configuration\nneeded): per endpoint, the instructions per request of requests with "
            "that value against\nthe same endpoint's requests without it; and the instructions "
            "per user of users who had\nthe value against users who did not. All results are "
            "decided together with false\ndiscovery rate control. A value on almost all or almost "
            "none of the traffic\n(flags.min_share_pct) is reported inconclusive: there is no "
            "group to compare it with.\n\n"
            "  --window D   default flags.window (1h); a whole number of 10 minutes\n"
            "  --at T       end of the window (RFC 3339 or epoch ms; default now), rounded "
            "down to 10 minutes\n"
            "  --json       the CONTRACT's JSON report (kind \"flag\") instead of the table\n\n"
            "The daemon scans flags every hour itself (schedule.jobs).\n\n"
            "Exit status: 0 no regression, 1 regression, 2 usage, configuration or connection "
            "error,\n3 inconclusive.\n");
}

int cmd_flags(struct config *cfg, int argc, char **argv)
{
    struct window_opts o = {0};
    int rc = parse_window_opts("flags", false, argc, argv, &o, flags_usage);
    return rc >= 0 ? rc : run_report("flags", cfg, &o, false);
}
