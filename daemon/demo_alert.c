/* `regressd demo`, stage 8: the alerts. The analyses queued them in PostgreSQL's outbox with
 * their findings; the delivery loop of `regressd run` (alert_loop_start, running since stage 2)
 * sends each to every configured receiver, here the demo's local receiver on two paths: the
 * generic webhook and a Slack incoming webhook. This stage waits (bounded) until every alert
 * reached both paths and the loop recorded the delivery (alerts.delivered_at), then shows the
 * deploy alert as the webhook and as Slack got it, and the trend's Slack message (it names the
 * suspects). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "demo.h"
#include "regressd/db.h"

#define ALERT_WAIT_US (30 * 1000000LL)
#define ALERT_POLL_MS 100
#define ALERTS_MAX 16

struct queued {
    int64_t id;
    char kind[16];
    char dedup_key[160];
    char title[ALERT_TITLE_MAX + 1];
    bool marked;       /* delivered_at is set */
    double delivery_s; /* from created_at to delivered_at */
    int webhook;       /* index of its request on each path, -1: not received */
    int slack;
};

struct alerts_seen {
    struct queued q[ALERTS_MAX];
    size_t n;
    struct demo_received got[DEMO_RECEIVED_MAX];
    size_t n_got;
};

static void seen_clear(struct alerts_seen *s)
{
    for (size_t i = 0; i < s->n_got; i++)
        demo_received_clear(&s->got[i]);
    s->n_got = 0;
}

/* The outbox, oldest first. */
static int load_alerts(struct demo *d, struct alerts_seen *s, char *err, size_t errlen)
{
    PGresult *res = db_query(d->conn,
                             "SELECT id, kind, dedup_key, coalesce(payload->>'title', ''),"
                             " delivered_at IS NOT NULL,"
                             " coalesce(extract(epoch FROM delivered_at - created_at), 0)"
                             " FROM alerts ORDER BY id LIMIT 16", /* ALERTS_MAX */
                             0, NULL, err, errlen);
    if (!res)
        return -1;
    s->n = (size_t)PQntuples(res);
    for (size_t i = 0; i < s->n; i++) {
        struct queued *q = &s->q[i];
        int r = (int)i;
        q->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        snprintf(q->kind, sizeof(q->kind), "%s", PQgetvalue(res, r, 1));
        snprintf(q->dedup_key, sizeof(q->dedup_key), "%s", PQgetvalue(res, r, 2));
        snprintf(q->title, sizeof(q->title), "%s", PQgetvalue(res, r, 3));
        q->marked = PQgetvalue(res, r, 4)[0] == 't';
        q->delivery_s = strtod(PQgetvalue(res, r, 5), NULL);
        q->webhook = q->slack = -1;
    }
    PQclear(res);
    return 0;
}

/* The alert a received body is about: the webhook body's alert_id, or the number in the Slack
 * message's footer ("regressd alert 12, deploy, …", alerting/slack.c). 0 when neither. */
static int64_t alert_of(const struct demo_received *got)
{
    json_t *body = json_loads(got->body, 0, NULL);
    int64_t id = 0;
    if (strcmp(got->path, DEMO_WEBHOOK_PATH) == 0) {
        const char *s = json_string_value(json_object_get(body, "alert_id"));
        id = s ? strtoll(s, NULL, 10) : 0;
    } else {
        size_t i;
        json_t *block;
        json_array_foreach(json_object_get(body, "blocks"), i, block)
        {
            const char *text = json_string_value(
                json_object_get(json_array_get(json_object_get(block, "elements"), 0), "text"));
            long long n;
            if (text && sscanf(text, "regressd alert %lld,", &n) == 1)
                id = n;
        }
    }
    json_decref(body);
    return id;
}

static void match(struct alerts_seen *s)
{
    for (size_t g = 0; g < s->n_got; g++) {
        int64_t id = alert_of(&s->got[g]);
        bool webhook = strcmp(s->got[g].path, DEMO_WEBHOOK_PATH) == 0;
        for (size_t i = 0; i < s->n; i++) {
            int *at = webhook ? &s->q[i].webhook : &s->q[i].slack;
            if (s->q[i].id == id && *at < 0)
                *at = (int)g;
        }
    }
}

static bool arrived(const struct queued *q)
{
    return q->webhook >= 0 && q->slack >= 0 && q->marked;
}

static size_t count_arrived(const struct alerts_seen *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += arrived(&s->q[i]);
    return n;
}

/* Polls the receiver and the outbox until every alert arrived, or the wait expires. */
static int wait_arrived(struct demo *d, struct alerts_seen *s, char *err, size_t errlen)
{
    int64_t deadline = util_mono_us() + ALERT_WAIT_US;
    for (;;) {
        seen_clear(s);
        if (load_alerts(d, s, err, errlen) < 0)
            return -1;
        s->n_got = demo_receiver_copy(d->receiver, s->got, DEMO_RECEIVED_MAX);
        match(s);
        if (count_arrived(s) == s->n || util_mono_us() > deadline)
            return 0;
        if (stop_requested) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        nanosleep(&(struct timespec){0, ALERT_POLL_MS * 1000000L}, NULL);
    }
}

static void print_outbox(const struct alerts_seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct queued *q = &s->q[i];
        printf("      #%-3lld %-6s  %s\n", (long long)q->id, q->kind, q->title);
        printf("            webhook %-8s  Slack %-8s  ", q->webhook >= 0 ? "received" : "MISSING",
               q->slack >= 0 ? "received" : "MISSING");
        if (q->marked)
            printf("delivered_at set, %.1f s after it was queued\n", q->delivery_s);
        else
            printf("delivered_at not set: NOT DELIVERED\n");
    }
}

/* The first alert of that kind that arrived, or NULL. */
static const struct queued *arrived_of(const struct alerts_seen *s, const char *kind)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->q[i].kind, kind) == 0 && arrived(&s->q[i]))
            return &s->q[i];
    return NULL;
}

static void print_webhook(const struct alerts_seen *s, const struct queued *q)
{
    const struct demo_received *hook = &s->got[q->webhook];
    bool keyed = hook->idempotency_key && strcmp(hook->idempotency_key, q->dedup_key) == 0;
    printf("\n    the %s alert #%lld as the generic webhook got it (POST %s, Idempotency-Key: "
           "%s%s):\n",
           q->kind, (long long)q->id, DEMO_WEBHOOK_PATH,
           hook->idempotency_key ? hook->idempotency_key : "(none)",
           keyed ? "" : ", not the alert's dedup_key");
    json_t *body = json_loads(hook->body, 0, NULL);
    const char *title = json_string_value(json_object_get(body, "title"));
    printf("      title: %s\n", title ? title : "(none)");
    printf("      (%zu regression(s) in %zu bytes of JSON: the contract's webhook body)\n",
           json_array_size(json_object_get(body, "regressions")), strlen(hook->body));
    json_decref(body);
}

static void print_slack(const struct alerts_seen *s, const struct queued *q, const char *what)
{
    printf("\n    %s (POST %s, Block Kit):\n", what, DEMO_SLACK_PATH);
    json_t *body = json_loads(s->got[q->slack].body, 0, NULL);
    demo_slack_print(body, "      ");
    json_decref(body);
}

int demo_alert(struct demo *d, struct demo_alert_outcome *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    printf("\n");
    demo_say(d, DEMO_STAGE_ALERT,
             "alerts: from PostgreSQL's outbox, sent by the delivery loop to the receiver at %s",
             d->receiver_url);
    struct alerts_seen *s = xcalloc(1, sizeof(*s));
    int rc = wait_arrived(d, s, err, errlen);
    if (rc == 0) {
        out->ran = true;
        out->queued = (int)s->n;
        out->delivered = (int)count_arrived(s);
        printf("    %zu alert(s) in the outbox (queued with their findings); the receiver got %zu "
               "request(s):\n",
               s->n, s->n_got);
        print_outbox(s);
        const struct queued *deploy = arrived_of(s, "deploy"), *trend = arrived_of(s, "trend");
        out->deploy_arrived = deploy != NULL;
        if (deploy) {
            print_webhook(s, deploy);
            print_slack(s, deploy, "and as Slack shows the message it got");
        } else {
            printf("    the deploy alert did not reach the receiver: MISSED\n");
        }
        if (trend)
            print_slack(s, trend, "the trend's alert in Slack, with its suspects");
        fflush(stdout);
    }
    seen_clear(s);
    free(s);
    return rc;
}
