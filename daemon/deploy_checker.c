/* See deploy_checker.h. One round every deploy.check_interval: compact closed blocks for up to
 * COMPACT_BUDGET_US, then check up to DUE_PER_ROUND due deploys. A deploy is due settle after its
 * candidate window ended. Its verdict is stored only when the check saw the same numbers of samples
 * on both sides in two consecutive rounds: a consumer catching up (a backlog, a backfill) fills the
 * partitions unevenly, and a verdict from half the data would stay forever. Before that, the
 * service's ingest must have rows past the window's end (waived an hour after it: a service that
 * stopped sending is decided on what there is), and the candidate must have samples (waived a
 * day after the window: a hook may be recorded before its samples arrive). */
#include "deploy_checker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lead.h"
#include "regressd/alert.h"
#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/log.h"

/* The advisory lock only one daemon of a group holds (another key than migrations'). */
#define CHECKER_LOCK_KEY "7526402656486515557"
#define COMPACT_BUDGET_US (2 * 1000000LL)
#define DUE_PER_ROUND 100
#define INGEST_GRACE_US (3600LL * 1000000LL)
#define NO_DATA_WAIT_US (86400LL * 1000000LL)

/* What the previous round saw of a deploy. */
struct seen {
    int64_t id;
    double samples[2];
};

struct deploy_checker {
    pthread_t thread;
    const struct config *cfg;
    struct detector_params params;
    struct lead lead;
    struct seen seen[DUE_PER_ROUND], seen_next[DUE_PER_ROUND];
    size_t n_seen, n_seen_next;
};

/* Remembers r's sample counts for the next round; true when the previous round saw the same. */
static bool stable(struct deploy_checker *dc, int64_t id, const struct detector_report *r)
{
    bool same = false;
    for (size_t i = 0; i < dc->n_seen; i++)
        if (dc->seen[i].id == id)
            same =
                dc->seen[i].samples[0] == r->samples[0] && dc->seen[i].samples[1] == r->samples[1];
    if (dc->n_seen_next < DUE_PER_ROUND)
        dc->seen_next[dc->n_seen_next++] = (struct seen){id, {r->samples[0], r->samples[1]}};
    return same;
}

static struct detector_report *run_check(struct deploy_checker *dc, const struct detector_deploy *d,
                                         int64_t now, char *err, size_t errlen)
{
    const struct detector_params *p = &dc->params;
    if (!d->baseline)
        return detector_report_empty(p, d->service, NULL, d->commit, d->deployed_at_us,
                                     "no baseline commit known (no earlier deploy or commit)");
    struct detector_data data;
    if (detector_load(dc->lead.conn, p, d->service, d->baseline, d->commit, d->deployed_at_us, now,
                      &data, err, errlen) < 0)
        return NULL;
    struct detector_report *r = detector_check(p, &data, d->service, err, errlen);
    detector_data_free(&data);
    return r;
}

int deploy_checker_store(PGconn *conn, int64_t id, const struct detector_report *r, char *err,
                         size_t errlen)
{
    char ignored[256];
    bool stored = false;
    int64_t alert_id = 0;
    if (db_exec(conn, "BEGIN", err, errlen) < 0)
        return -1;
    json_t *j = detector_report_json(r);
    int rc = detector_deploy_store(conn, id, r, &stored, err, errlen);
    if (rc == 0 && stored)
        rc = alert_enqueue(conn, "deploy", r->service, j, &alert_id, err, errlen);
    json_decref(j);
    if (rc == 0)
        rc = db_exec(conn, "COMMIT", err, errlen);
    else if (db_exec(conn, "ROLLBACK", ignored, sizeof(ignored)) < 0)
        log_warn("deploy checker: rollback failed: %s", ignored);
    if (rc == 0 && alert_id)
        log_info("deploy %lld: alert %lld queued", (long long)id, (long long)alert_id);
    return rc;
}

/* Whether deploy d may be decided now (see the top of this file); -1 on a database error. */
static int data_in(struct deploy_checker *dc, const struct detector_deploy *d, int64_t now,
                   char *err, size_t errlen)
{
    struct detector_windows w;
    bool passed, seen;
    if (!d->baseline)
        return 1; /* decided at once: nothing to compare with */
    detector_windows_of(&dc->params, d->deployed_at_us, &w);
    if (detector_ingest_passed(dc->lead.conn, &dc->params, d->service, d->commit, d->deployed_at_us,
                               &passed, &seen, err, errlen) < 0)
        return -1;
    if (!passed && now < w.to + dc->params.settle_us + INGEST_GRACE_US)
        return 0; /* ingest is behind */
    if (!seen && now < w.to + NO_DATA_WAIT_US)
        return 0; /* nothing of the candidate yet: a hook ahead of its samples, a backfill */
    return 1;
}

/* Checks deploy id if it is still undecided and its data is in; 0 also when it waits. */
static int check_deploy(struct deploy_checker *dc, int64_t id, int64_t now, char *err,
                        size_t errlen)
{
    struct detector_deploy d;
    bool found;
    if (detector_deploy_get(dc->lead.conn, id, &d, &found, err, errlen) < 0)
        return -1;
    int rc = 0;
    struct detector_report *r = NULL;
    if (!found || d.verdict || (rc = data_in(dc, &d, now, err, errlen)) <= 0)
        goto done;
    rc = -1;
    if (!(r = run_check(dc, &d, now, err, errlen)))
        goto done;
    r->deploy_id = id;
    rc = 0;
    if (d.baseline && !stable(dc, id, r))
        goto done; /* decided next round if nothing arrives meanwhile */
    rc = deploy_checker_store(dc->lead.conn, id, r, err, errlen);
    if (rc == 0)
        log_info("deploy %lld (%s %s against %s): %s: %s", (long long)id, d.service, d.commit,
                 d.baseline ? d.baseline : "-", stats_verdict_name(r->verdict), r->verdict_reason);
done:
    detector_report_free(r);
    if (found)
        detector_deploy_clear(&d);
    return rc;
}

static int check_due(struct deploy_checker *dc, char *err, size_t errlen)
{
    int64_t ids[DUE_PER_ROUND], now = util_now_us();
    size_t n;
    if (detector_deploys_due(dc->lead.conn, &dc->params, now, ids, DUE_PER_ROUND, &n, err, errlen) <
        0)
        return -1;
    dc->n_seen_next = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !lead_stopping(&dc->lead) && rc == 0; i++) {
        if (check_deploy(dc, ids[i], now, err, errlen) < 0) {
            if (db_connection_lost(dc->lead.conn, NULL))
                rc = -1;
            else
                log_error("deploy %lld: check failed: %s", (long long)ids[i], err);
        }
    }
    memcpy(dc->seen, dc->seen_next, dc->n_seen_next * sizeof(*dc->seen));
    dc->n_seen = dc->n_seen_next;
    return rc;
}

static int round_once(void *ctx, char *err, size_t errlen)
{
    struct deploy_checker *dc = ctx;
    int done, total = 0;
    int64_t t0 = util_mono_us();
    do { /* a backlog (first start, catching up) goes a few blocks per call, within a budget */
        if (detector_compact(dc->lead.conn, util_now_us(), 4, &done, err, errlen) < 0)
            return -1;
        total += done;
    } while (done > 0 && util_mono_us() - t0 < COMPACT_BUDGET_US && !lead_stopping(&dc->lead));
    if (total)
        log_debug("deploy checker: compacted %d rollup block(s)", total);
    return lead_stopping(&dc->lead) ? 0 : check_due(dc, err, errlen);
}

static void *checker_main(void *arg)
{
    struct deploy_checker *dc = arg;
    lead_run(&dc->lead, dc->cfg->deploy_check_interval_us, round_once, dc);
    return NULL;
}

struct deploy_checker *deploy_checker_start(const struct config *cfg, volatile sig_atomic_t *stop,
                                            char *err, size_t errlen)
{
    struct deploy_checker *dc = xcalloc(1, sizeof(*dc));
    dc->cfg = cfg;
    dc->lead = (struct lead){.name = "deploy checker",
                             .lock_key = CHECKER_LOCK_KEY,
                             .role = "checks deploys and compacts rollups",
                             .cfg = cfg,
                             .stop = stop};
    if (detector_params_init(&dc->params, cfg, err, errlen) < 0)
        goto failed;
    int rc = pthread_create(&dc->thread, NULL, checker_main, dc);
    if (rc != 0) {
        snprintf(err, errlen, "deploy checker: cannot start a thread: %s", strerror(rc));
        goto failed;
    }
    return dc;
failed:
    detector_params_free(&dc->params);
    free(dc);
    return NULL;
}

void deploy_checker_stop(struct deploy_checker *dc)
{
    if (!dc)
        return;
    dc->lead.stop_self = 1;
    pthread_join(dc->thread, NULL);
    detector_params_free(&dc->params);
    free(dc);
}
