/* `regressd demo`, stage 5: the deploy check of the demo's deploy, as the daemon runs it once
 * the candidate window is complete (detector_load, detector_check), stored as the daemon's
 * deploy checker stores it (verdict, report, findings row and alert in one transaction), its
 * verdict table, and whether it found the regressions the generator planted on the commit.
 * Also what the trend and flag stages share: printing a report, and planted against found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "deploy_checker.h"
#include "regressd/db.h"

/* ---- shared by the analysis stages ----------------------------------------------------------- */

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The per-request result of the plant's endpoint (with the plant's flag value for a flag
 * plant, without a flag otherwise), or NULL. */
static const struct detector_result *plant_result(const struct detector_report *r,
                                                  const struct traffic_plant *p)
{
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (res->metric != DETECTOR_PER_REQUEST || !same(res->endpoint, p->endpoint))
            continue;
        if (p->kind == TRAFFIC_PLANT_FLAG
                ? same(res->flag_name, p->flag) && same(res->flag_value, p->value)
                : !res->flag_name)
            return res;
    }
    return NULL;
}

/* Whether a plant of that kind explains a regression: its endpoint (and flag value), or, for
 * a service-level result, any plant (the service carries its endpoints' regressions). */
static bool explained(const struct demo *d, const struct detector_result *res,
                      enum traffic_plant_kind kind)
{
    for (size_t i = 0; i < d->tcfg.plant_count; i++) {
        const struct traffic_plant *p = &d->plants[i];
        if (p->kind != kind)
            continue;
        if (kind == TRAFFIC_PLANT_FLAG &&
            (!same(res->flag_name, p->flag) || !same(res->flag_value, p->value)))
            continue;
        if (!res->endpoint || !p->endpoint || same(res->endpoint, p->endpoint))
            return true;
    }
    return false;
}

static void print_found(const struct detector_result *res, bool found)
{
    if (!res)
        printf("not in the report: MISSED\n");
    else if (!res->res.cmp.ok)
        printf("%s: MISSED\n", stats_verdict_name(res->res.verdict));
    else
        printf("%s, %+.2f%% [%+.2f%%, %+.2f%%]%s\n", stats_verdict_name(res->res.verdict),
               100 * res->res.cmp.delta, 100 * res->res.cmp.ci_low, 100 * res->res.cmp.ci_high,
               found ? "" : ": MISSED");
}

static void print_unplanted(const struct detector_result *res)
{
    printf("      also reported, not planted: ");
    if (res->flag_name)
        printf("%s=%s ", res->flag_name, res->flag_value ? res->flag_value : "");
    printf("%s %+.2f%% (a false alarm)\n",
           res->endpoint ? res->endpoint : detector_metric_name(res->metric),
           100 * res->res.cmp.delta);
}

void demo_compare_with_plants(const struct demo *d, const struct detector_report *r,
                              enum traffic_plant_kind kind, struct demo_outcome *out)
{
    printf("\n    planted %s, and what the %s says:\n",
           kind == TRAFFIC_PLANT_FLAG ? "with a flag" : "on the commit",
           strcmp(r->kind, "deploy") == 0  ? "check"
           : strcmp(r->kind, "trend") == 0 ? "trend"
                                           : "scan");
    for (size_t i = 0; i < d->tcfg.plant_count; i++) {
        const struct traffic_plant *p = &d->plants[i];
        if (p->kind != kind || !p->endpoint)
            continue;
        out->planted++;
        const struct detector_result *res = plant_result(r, p);
        bool found = res && res->res.verdict == STATS_REGRESSION;
        out->found += found;
        char what[160];
        if (kind == TRAFFIC_PLANT_FLAG)
            snprintf(what, sizeof(what), "%s with %s=%s", p->endpoint, p->flag, p->value);
        else
            snprintf(what, sizeof(what), "%s", p->endpoint);
        printf("      %+6.2f%% on %-12s -> ", 100 * (p->factor - 1), what);
        print_found(res, found);
    }
    for (size_t i = 0; i < r->n_results; i++) {
        const struct detector_result *res = &r->results[i];
        if (res->gates && res->res.verdict == STATS_REGRESSION && !explained(d, res, kind)) {
            out->unplanted++;
            print_unplanted(res);
        }
    }
}

void demo_print_report(const struct detector_report *r, bool full)
{
    struct buf text = {0};
    detector_report_text(r, &text);
    char *s = xstrdup(buf_cstr(&text)), *cut = full ? NULL : strstr(s, "\nwhere it happened");
    buf_free(&text);
    if (cut)
        *cut = '\0';
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    for (char *line = s, *nl; line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        printf("    %s\n", line);
    }
    free(s);
}

/* ---- the deploy check ------------------------------------------------------------------------ */

/* Loads and compares deploy dep. Caller frees *out. */
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
    return 0;
}

/* What the daemon does with a decided deploy: verdict, report, findings row and, for a
 * regression, its alert, in one transaction. The alert's id, 0 when none was queued. */
static int store(struct demo *d, const struct detector_report *r, int64_t *alert_id, char *err,
                 size_t errlen)
{
    *alert_id = 0;
    if (!r->deploy_id)
        return 0;
    if (deploy_checker_store(d->conn, r->deploy_id, r, err, errlen) < 0)
        return -1;
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)r->deploy_id);
    const char *params[] = {id};
    PGresult *res = db_query(d->conn,
                             "SELECT max(id) FROM alerts WHERE kind = 'deploy' AND"
                             " payload->>'deploy_id' = $1",
                             1, params, err, errlen);
    if (!res)
        return -1;
    if (!PQgetisnull(res, 0, 0))
        *alert_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int demo_check(struct demo *d, struct demo_outcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->suspect_ok = true;
    printf("\n");
    demo_say(d, DEMO_STAGE_CHECK,
             "deploy check of %s (what `regressd check --service %s --commit %s` prints)",
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
    if (run_check(d, &p, &dep, &r, err, errlen) < 0 || store(d, r, &out->alert_id, err, errlen) < 0)
        goto done;
    demo_print_report(r, true);
    out->ran = true;
    demo_compare_with_plants(d, r, TRAFFIC_PLANT_COMMIT, out);
    printf(
        "    the flag rollout (new_ranker=on, +10%% on /profile) is no deploy: both commits serve\n"
        "    it alike, so the deploy check rightly does not see it; finding it is the flag\n"
        "    scan's job (stage %d).\n",
        DEMO_STAGE_FLAGS);
    if (r->deploy_id)
        printf("    stored: the deploy's verdict and report, a findings row and %s, in one "
               "transaction\n    (as the daemon's deploy checker does).\n",
               out->alert_id ? "its alert" : "no alert (nothing regressed)");
    fflush(stdout);
    rc = 0;
done:
    detector_report_free(r);
    detector_deploy_clear(&dep);
    detector_params_free(&p);
    return rc;
}
