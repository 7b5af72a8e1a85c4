/* `regressd demo`, stage 5: the deploy check of the demo's deploy, as the daemon runs it once
 * the candidate window is complete (detector_load, detector_check, detector_deploy_decide), its
 * verdict table, and whether it found the regressions the generator planted on the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "regressd/detector.h"

/* The per-request result of an endpoint, or NULL. */
static const struct detector_result *endpoint_result(const struct detector_report *r,
                                                     const char *endpoint)
{
    for (size_t i = 0; i < r->n_results; i++)
        if (r->results[i].metric == DETECTOR_PER_REQUEST && r->results[i].endpoint &&
            !strcmp(r->results[i].endpoint, endpoint))
            return &r->results[i];
    return NULL;
}

static bool planted_on(const struct demo *d, const char *endpoint)
{
    for (size_t i = 0; i < d->tcfg.plant_count; i++)
        if (d->plants[i].kind == TRAFFIC_PLANT_COMMIT && d->plants[i].endpoint &&
            !strcmp(d->plants[i].endpoint, endpoint))
            return true;
    return false;
}

/* Planted against found, line by line; anything reported that was not planted is said too. */
static void compare_with_plants(const struct demo *d, const struct detector_report *r,
                                struct demo_check_outcome *out)
{
    printf("\n    planted on the commit, and what the check says:\n");
    for (size_t i = 0; i < d->tcfg.plant_count; i++) {
        const struct traffic_plant *p = &d->plants[i];
        if (p->kind != TRAFFIC_PLANT_COMMIT || !p->endpoint)
            continue;
        out->planted++;
        const struct detector_result *res = endpoint_result(r, p->endpoint);
        bool found = res && res->res.verdict == STATS_REGRESSION;
        out->found += found;
        printf("      %+6.2f%% on %-12s -> ", 100 * (p->factor - 1), p->endpoint);
        if (!res)
            printf("not in the report: MISSED\n");
        else if (!res->res.cmp.ok)
            printf("%s: MISSED\n", stats_verdict_name(res->res.verdict));
        else
            printf("%s, %+.2f%% [%+.2f%%, %+.2f%%]%s\n", stats_verdict_name(res->res.verdict),
                   100 * res->res.cmp.delta, 100 * res->res.cmp.ci_low, 100 * res->res.cmp.ci_high,
                   found ? "" : ": MISSED");
    }
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (res->metric == DETECTOR_PER_REQUEST && res->endpoint &&
            res->res.verdict == STATS_REGRESSION && !planted_on(d, res->endpoint))
            printf("      also reported, not planted: %s %+.2f%% (a false alarm)\n", res->endpoint,
                   100 * res->res.cmp.delta);
    }
    printf(
        "    the flag rollout (new_ranker=on, +10%% on /profile) is no deploy: both commits serve\n"
        "    it alike, so the deploy check rightly does not see it; finding it is the flag\n"
        "    scan's job (`regressd flags`), which this demo does not run yet.\n");
}

static void print_report(const struct detector_report *r)
{
    struct buf text = {0};
    detector_report_text(r, &text);
    const char *line = buf_cstr(&text);
    while (*line) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        printf("    %.*s\n", len, line);
        line += len + (nl ? 1 : 0);
    }
    buf_free(&text);
}

/* Loads, compares and records the verdict of deploy dep. Caller frees *out. */
static int run_check(struct demo *d, const struct detector_params *p,
                     const struct detector_deploy *dep, struct detector_report **out, char *err,
                     size_t errlen)
{
    struct detector_data data;
    if (!dep->baseline) {
        *out = detector_report_empty(p, DEMO_SERVICE, NULL, dep->commit, dep->deployed_at_us,
                                     "no baseline commit is known");
    } else {
        if (detector_load(d->conn, p, DEMO_SERVICE, dep->baseline, dep->commit, dep->deployed_at_us,
                          util_now_us(), &data, err, errlen) < 0)
            return -1;
        *out = detector_check(p, &data, DEMO_SERVICE, err, errlen);
        detector_data_free(&data);
        if (!*out)
            return -1;
    }
    (*out)->deploy_id = dep->id;
    /* What the daemon does with a decided deploy: verdict, report and a findings row. */
    if (dep->id && detector_deploy_decide(d->conn, dep->id, *out, err, errlen) < 0)
        return -1;
    return 0;
}

int demo_check(struct demo *d, struct demo_check_outcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    printf("\n");
    demo_say(d, 5, "deploy check of %s (what `regressd check --service %s --commit %s` prints)",
             DEMO_NEW_COMMIT, DEMO_SERVICE, DEMO_NEW_COMMIT);
    struct detector_params p;
    struct detector_deploy dep = {0};
    struct detector_report *r = NULL;
    bool found = false;
    int rc = -1;
    if (detector_params_init(&p, d->cfg, err, errlen) < 0 ||
        detector_deploy_find(d->conn, DEMO_SERVICE, DEMO_NEW_COMMIT, &dep, &found, err, errlen) < 0)
        goto done;
    if (!found) {
        snprintf(err, errlen, "no deploy of %s was recorded", DEMO_NEW_COMMIT);
        goto done;
    }
    if (run_check(d, &p, &dep, &r, err, errlen) < 0)
        goto done;
    print_report(r);
    out->ran = true;
    compare_with_plants(d, r, out);
    fflush(stdout);
    rc = 0;
done:
    detector_report_free(r);
    detector_deploy_clear(&dep);
    detector_params_free(&p);
    return rc;
}
