/* `regressd demo`, stages 6 and 7: the comparisons the daemon's scheduled jobs run (detector_trend,
 * detector_flags) on the demo's traffic, each stored as the scheduler stores a run: a findings
 * row, the resolution of older alerts of the same scope and the new alert, in one transaction.
 *
 * The traffic covers three hours ending on a 10-minute block, the deploy an hour before the
 * end: the trend compares the last hour (the new commit alone) with the hour before it (the old
 * commit, and the 10-minute rollout at its end), both inside the traffic; the flag scan covers
 * all three hours, since the flag is on for half the users all along. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "regressd/db.h"
#include "regressd/log.h"
#include "scheduler.h"

#define DEMO_TREND_WINDOW_US (3600LL * 1000000LL)
#define DEMO_TREND_OFFSET_US (3600LL * 1000000LL)
#define DEMO_FLAGS_WINDOW_US (3 * 3600LL * 1000000LL)

/* Stores a trend or flag report as the scheduler does (daemon/scheduler.c store_finding),
 * without a job and slot: a findings row, alert_resolve_absent and alert_enqueue in one
 * transaction. *alert_id is 0 when no alert was queued. */
static int store_finding(struct demo *d, const struct detector_report *r, int64_t *alert_id,
                         char *err, size_t errlen)
{
    bool stored;
    return scheduler_store_finding(d->conn, NULL, NULL, r, &stored, alert_id, err, errlen);
}

static void print_stored(const struct demo_outcome *out, const char *job)
{
    printf("    stored: a findings row and %s, in one transaction (as the %s does)\n",
           out->alert_id ? "its alert" : "no alert (nothing regressed)", job);
    fflush(stdout);
}

/* ---- stage 6: the trend ---------------------------------------------------------------------- */

/* Whether the trend names the demo's deploy among its suspects. */
static bool deploy_named(const struct detector_report *r)
{
    size_t i;
    const json_t *s;
    json_array_foreach(r->suspects, i, s)
    {
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *commit = json_string_value(json_object_get(s, "commit"));
        if (type && commit && !strcmp(type, "deploy") && !strcmp(commit, DEMO_NEW_COMMIT))
            return true;
    }
    return false;
}

int demo_trend(struct demo *d, struct demo_outcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int64_t at = detector_floor_block(d->tcfg.end_us);
    char at_ts[UTIL_TS_BUFLEN];
    util_format_ts(at, at_ts);
    printf("\n");
    demo_say(d, DEMO_STAGE_TREND, "trend: the last hour against the hour before, every commit");
    printf("    what `regressd trend --service %s --window 1h --offset 1h --at %.16sZ` prints;\n"
           "    the daemon's hourly job compares with 1 day and 1 week earlier, the demo's three "
           "hours\n    allow 1 hour.\n",
           DEMO_SERVICE, at_ts);
    struct detector_params p;
    struct detector_report *r = NULL;
    int rc = -1;
    if (detector_params_init(&p, d->cfg, err, errlen) < 0)
        goto done;
    r = detector_trend(d->conn, &p, DEMO_SERVICE, DEMO_TREND_WINDOW_US, DEMO_TREND_OFFSET_US, at,
                       util_now_us(), err, errlen);
    if (!r || store_finding(d, r, &out->alert_id, err, errlen) < 0)
        goto done;
    demo_print_report(r, false);
    out->ran = true;
    demo_compare_with_plants(d, r, TRAFFIC_PLANT_COMMIT, out);
    out->suspect_ok = deploy_named(r);
    printf("      the deploy of %s among the suspects -> %s\n", DEMO_NEW_COMMIT,
           out->suspect_ok ? "named" : "not named: MISSED");
    print_stored(out, "hourly trend job");
    rc = 0;
done:
    detector_report_free(r);
    detector_params_free(&p);
    return rc;
}

/* ---- stage 7: the flag scan ------------------------------------------------------------------ */

static void print_flag_row(const struct detector_result *res)
{
    const struct stats_comparison *c = &res->res.cmp;
    char name[200];
    snprintf(name, sizeof(name), "%s=%s %s", res->flag_name ? res->flag_name : "?",
             res->flag_value ? res->flag_value : "", res->endpoint ? res->endpoint : "(per user)");
    printf("      %-12s %+8.2f%%  [%+7.2f%%, %+7.2f%%]  %8.2g  %-28s %9lld / %-9lld\n",
           stats_verdict_name(res->res.verdict), 100 * c->delta, 100 * c->ci_low, 100 * c->ci_high,
           c->p_value, name, (long long)res->in.base_samples, (long long)res->in.cand_samples);
}

/* A flag scan has a row per flag value and endpoint: the regressions, and a count of the rest
 * by verdict. */
static void print_flag_report(const struct detector_report *r)
{
    size_t by_verdict[STATS_INCONCLUSIVE + 1] = {0}, regressions = 0;
    struct buf text = {0};
    detector_report_text(r, &text);
    const char *s = buf_cstr(&text), *nl = strchr(s, '\n');
    printf("    %.*s\n", nl ? (int)(nl - s) : (int)strlen(s), s); /* the title */
    buf_free(&text);
    printf("    verdict: %s — %s\n", stats_verdict_name(r->verdict),
           r->verdict_reason ? r->verdict_reason : "");
    printf("\n      %-12s %9s  %-20s  %8s  %-28s %s\n", "verdict", "delta", "interval", "p",
           "flag value / endpoint", "requests without / with");
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (res->res.verdict == STATS_REGRESSION && res->res.cmp.ok) {
            print_flag_row(res);
            regressions++;
        } else if ((size_t)res->res.verdict < REGRESSD_ARRAY_LEN(by_verdict)) {
            by_verdict[res->res.verdict]++;
        }
    }
    printf("      ... and %zu other results (not shown):", r->n_results - regressions);
    const char *sep = " ";
    for (size_t v = 0; v < REGRESSD_ARRAY_LEN(by_verdict); v++)
        if (by_verdict[v]) {
            printf("%s%zu %s", sep, by_verdict[v], stats_verdict_name((enum stats_verdict)v));
            sep = ", ";
        }
    printf("%s\n", r->endpoints_skipped ? "; some without enough samples" : "");
}

int demo_flags(struct demo *d, struct demo_outcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->suspect_ok = true;
    int64_t at = detector_floor_block(d->tcfg.end_us);
    char at_ts[UTIL_TS_BUFLEN];
    util_format_ts(at, at_ts);
    printf("\n");
    demo_say(d, DEMO_STAGE_FLAGS,
             "flag scan: every flag value against its absence, all three "
             "hours");
    printf("    what `regressd flags --service %s --window 3h --at %.16sZ` prints; the daemon\n"
           "    scans the last hour every hour. A row per flag value and endpoint: the "
           "regressions shown,\n    the rest counted.\n",
           DEMO_SERVICE, at_ts);
    struct detector_params p;
    struct detector_report *r = NULL;
    int rc = -1;
    if (detector_params_init(&p, d->cfg, err, errlen) < 0)
        goto done;
    r = detector_flags(d->conn, &p, DEMO_SERVICE, DEMO_FLAGS_WINDOW_US, at, util_now_us(), err,
                       errlen);
    if (!r || store_finding(d, r, &out->alert_id, err, errlen) < 0)
        goto done;
    print_flag_report(r);
    out->ran = true;
    demo_compare_with_plants(d, r, TRAFFIC_PLANT_FLAG, out);
    printf("    the other value, new_ranker=off, is the same difference seen from the other side: "
           "an\n    improvement on /profile, which alerts nobody.\n");
    print_stored(out, "hourly flag scan");
    rc = 0;
done:
    detector_report_free(r);
    detector_params_free(&p);
    return rc;
}
