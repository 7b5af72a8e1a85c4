/* `regressd demo`, stage 3: the synthetic traffic, produced to the mock cluster while the
 * consumer stores it, with progress lines; then the bounded wait until PostgreSQL holds every
 * message (the consumer's offsets in kafka_offsets, written in the same transaction as the
 * rows, cover everything that was delivered). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "demo.h"
#include "regressd/db.h"

#define DEMO_HOURS 3
#define DEMO_BLOCK_US (600LL * 1000000LL)
/* The mock cluster keeps ~5 MiB per partition and drops older data silently: never let more
 * than this many payload bytes per partition wait unconsumed (they are also lz4-compressed). */
#define DEMO_INFLIGHT_BYTES_PER_PARTITION (2LL * 1024 * 1024)
#define DEMO_SEND_CHUNK 20
#define DEMO_STALL_US (60 * 1000000LL)         /* no progress this long: give up */
#define DEMO_FLUSH_TIMEOUT_US (30 * 1000000LL) /* producer queue to the broker */

/* On the two most requested endpoints, so that even --quick has the samples to find them. */
static const char *const demo_plants[] = {
    "/feed:+6%@commit=" DEMO_NEW_COMMIT,
    "/search:+6%@commit=" DEMO_NEW_COMMIT,
    "/profile:+10%@flag=new_ranker=on",
};

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

static int parse_specs(struct demo *d, char *err, size_t errlen)
{
    struct traffic_config *c = &d->tcfg;
    /* The rollout starts 70 minutes before the end and takes 10: the new commit then serves
     * alone for the last hour, and the first sample's block-rounded deploy time plus the
     * candidate window (1 h) still ends within the traffic, so the check is complete. */
    if (traffic_parse_deploy(DEMO_NEW_COMMIT "@-70m/10m", DEMO_SERVICE, c->start_us, c->end_us,
                             &d->deploy, &d->strings, err, errlen) < 0 ||
        traffic_parse_flag("new_ranker=on:0.5/off", &d->flag, &d->strings, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(demo_plants); i++)
        if (traffic_parse_plant(demo_plants[i], c->start_us, c->end_us, &d->plants[i], &d->strings,
                                err, errlen) < 0)
            return -1;
    c->deploys = &d->deploy;
    c->deploy_count = 1;
    c->flags = &d->flag;
    c->flag_count = 1;
    c->plants = d->plants;
    c->plant_count = REGRESSD_ARRAY_LEN(demo_plants);
    d->deploy_at_us = d->deploy.at_us;
    return 0;
}

int demo_traffic_build(struct demo *d, char *err, size_t errlen)
{
    struct traffic_config *c = &d->tcfg;
    traffic_config_init(c);
    /* Ends on a 10-minute block so that the deploy check's windows (whole blocks) are complete:
     * the deploy an hour before the end, its candidate hour up to the end. */
    c->end_us = util_now_us() / DEMO_BLOCK_US * DEMO_BLOCK_US;
    c->start_us = c->end_us - DEMO_HOURS * 3600LL * 1000000LL;
    c->seed = d->opt.seed;
    c->samples = d->opt.samples;
    c->users = 20000;
    c->endpoints = 30;
    c->malformed = 0.005;
    /* Flat traffic. The generator's daily rhythm varies requests per user from hour to hour,
     * and the service-level instructions per user compares adjacent windows: over these three
     * hours it would report that rhythm as a change of its own, depending on the time of day. */
    c->day_amplitude = 0;
    d->service = (struct traffic_service){.name = DEMO_SERVICE, .commit = DEMO_BASE_COMMIT};
    c->services = &d->service;
    c->service_count = 1;
    if (parse_specs(d, err, errlen) < 0)
        return -1;
    d->traffic = traffic_new(c, err, errlen);
    if (!d->traffic)
        return -1;
    char n[32], u[32], from[32], to[32], at[32];
    demo_say(d, 3,
             "%s samples of service \"%s\", %s .. %s, %d endpoints, %s users, %.1f %% "
             "malformed messages",
             demo_count(c->samples, n), DEMO_SERVICE, demo_clock(c->start_us, true, from),
             demo_clock(c->end_us, false, to), c->endpoints, demo_count((uint64_t)c->users, u),
             100 * c->malformed);
    demo_say(d, 3,
             "commit %s, then from %s a rolling deploy (10 min) of %s, which makes /feed "
             "and /search 6 %% more expensive",
             DEMO_BASE_COMMIT, demo_clock(d->deploy_at_us, false, at), DEMO_NEW_COMMIT);
    demo_say(d, 3,
             "flag new_ranker=on for 50 %% of the users (the others off) makes /profile "
             "10 %% more expensive");
    return 0;
}

/* ---- progress -------------------------------------------------------------------------------- */

struct progress {
    int64_t interval_us;
    int64_t last_us;
    uint64_t last_stored;
    uint64_t last_messages; /* consumed, for stall detection */
    int64_t last_change_us;
};

static bool consumer_failed(struct demo *d, char *err, size_t errlen)
{
    if (!atomic_load(&d->consumer_done))
        return false;
    snprintf(err, errlen, "the consumer stopped: %s",
             d->consumer_rc < 0 ? d->consumer_err : "(no error)");
    return true;
}

/* Prints a progress line when one is due (or forced). */
static void progress(struct demo *d, struct progress *pr, const struct traffic_produce_stats *ps,
                     bool force)
{
    int64_t now = util_mono_us();
    if (!force && now - pr->last_us < pr->interval_us)
        return;
    struct consumer_counts cc;
    consumer_counts(d->consumer, &cc);
    double secs = (double)(now - pr->last_us) / 1e6;
    double rate = secs > 0 ? (double)(cc.samples_stored - pr->last_stored) / secs : 0;
    char a[32], b[32], c[32], e[32], r[32];
    if (cc.messages == 0)
        demo_say(d, 3, "produced %s of %s samples; the consumer is joining its group",
                 demo_count(ps->samples, a), demo_count(d->tcfg.samples, b));
    else
        demo_say(d, 3, "produced %s of %s samples; stored %s + %s dead letters; %s samples/s",
                 demo_count(ps->samples, a), demo_count(d->tcfg.samples, b),
                 demo_count(cc.samples_stored, c), demo_count(cc.dead_letters, e),
                 demo_count((uint64_t)rate, r));
    pr->last_us = now;
    pr->last_stored = cc.samples_stored;
}

/* True when the consumer has consumed nothing new for DEMO_STALL_US. */
static bool stalled(struct demo *d, struct progress *pr)
{
    struct consumer_counts cc;
    consumer_counts(d->consumer, &cc);
    int64_t now = util_mono_us();
    if (cc.messages != pr->last_messages || !pr->last_change_us) {
        pr->last_messages = cc.messages;
        pr->last_change_us = now;
    }
    return now - pr->last_change_us > DEMO_STALL_US;
}

/* ---- producing ------------------------------------------------------------------------------- */

/* Bytes produced but not yet consumed, estimated from the average message size. */
static bool window_full(struct demo *d, const struct traffic_produce_stats *ps)
{
    struct consumer_counts cc;
    consumer_counts(d->consumer, &cc);
    if (!ps->messages || cc.messages >= ps->messages)
        return false;
    double avg = (double)ps->bytes / (double)ps->messages;
    return (double)(ps->messages - cc.messages) * avg >=
           (double)(DEMO_INFLIGHT_BYTES_PER_PARTITION * DEMO_PARTITIONS);
}

static int produce(struct demo *d, struct traffic_producer *p, struct progress *pr, char *err,
                   size_t errlen)
{
    struct traffic_produce_stats ps;
    for (;;) {
        traffic_producer_stats(p, &ps);
        progress(d, pr, &ps, false);
        mockkafka_poll(d->kafka);
        if (stop_requested) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        if (consumer_failed(d, err, errlen))
            return -1;
        if (window_full(d, &ps)) {
            if (stalled(d, pr)) {
                snprintf(err, errlen, "the consumer took no message for %lld s",
                         DEMO_STALL_US / 1000000);
                return -1;
            }
            traffic_producer_poll(p, 10);
            continue;
        }
        pr->last_change_us = 0;
        int rc =
            traffic_producer_send(p, d->traffic, DEMO_SEND_CHUNK, &stop_requested, err, errlen);
        if (rc <= 0)
            return rc;
    }
}

/* Waits (bounded) until the broker acknowledged every message. */
static int flush(struct demo *d, struct traffic_producer *p, char *err, size_t errlen)
{
    int64_t deadline = util_mono_us() + DEMO_FLUSH_TIMEOUT_US;
    int left;
    while ((left = traffic_producer_flush(p, 100)) > 0 && !stop_requested &&
           util_mono_us() < deadline)
        mockkafka_poll(d->kafka);
    struct traffic_produce_stats ps;
    traffic_producer_stats(p, &ps);
    if (stop_requested) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    if (left > 0 || ps.failed) {
        snprintf(err, errlen, "%llu message(s) not delivered to Kafka%s%s",
                 (unsigned long long)ps.failed + (unsigned long long)left,
                 ps.failed ? ": " : " in time", ps.failed ? traffic_producer_error(p) : "");
        return -1;
    }
    return 0;
}

/* ---- waiting for PostgreSQL ------------------------------------------------------------------ */

/* Messages whose rows PostgreSQL holds: the next offsets stored with them, summed (the topic is
 * new, so every partition starts at offset 0). */
static int stored_messages(struct demo *d, uint64_t *out, char *err, size_t errlen)
{
    const char *params[] = {DEMO_GROUP, DEMO_TOPIC};
    PGresult *res = db_query(d->conn,
                             "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets"
                             " WHERE consumer_group = $1 AND topic = $2",
                             2, params, err, errlen);
    if (!res)
        return -1;
    *out = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int wait_stored(struct demo *d, struct progress *pr, char *err, size_t errlen)
{
    uint64_t stored = 0, last = UINT64_MAX;
    int64_t last_change = util_mono_us();
    for (;;) {
        if (stored_messages(d, &stored, err, errlen) < 0)
            return -1;
        if (stored >= d->produced.messages)
            return 0;
        int64_t now = util_mono_us();
        if (stored != last) {
            last = stored;
            last_change = now;
        } else if (now - last_change > DEMO_STALL_US) {
            snprintf(err, errlen,
                     "PostgreSQL holds %llu of %llu messages and nothing moved for "
                     "%lld s",
                     (unsigned long long)stored, (unsigned long long)d->produced.messages,
                     DEMO_STALL_US / 1000000);
            return -1;
        }
        if (stop_requested) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        if (consumer_failed(d, err, errlen))
            return -1;
        progress(d, pr, &d->produced, false);
        mockkafka_poll(d->kafka);
        sleep_ms(100);
    }
}

int demo_traffic_run(struct demo *d, char *err, size_t errlen)
{
    static const char *const props[] = {"compression.codec=lz4", "batch.size=1000000",
                                        "client.id=regressd-demo"};
    struct traffic_producer *p = traffic_producer_new(d->cfg->kafka_brokers, DEMO_TOPIC, props,
                                                      REGRESSD_ARRAY_LEN(props), err, errlen);
    if (!p)
        return -1;
    int64_t started = util_mono_us();
    struct progress pr = {.interval_us = (d->opt.quick ? 5 : 1) * 1000000LL, .last_us = started};
    int rc = produce(d, p, &pr, err, errlen);
    if (rc == 0)
        rc = flush(d, p, err, errlen);
    traffic_producer_stats(p, &d->produced);
    traffic_producer_free(p);
    if (rc == 0)
        rc = wait_stored(d, &pr, err, errlen);
    if (rc < 0)
        return -1;
    progress(d, &pr, &d->produced, true);
    double secs = (double)(util_mono_us() - started) / 1e6;
    char m[32], s[32], r[32];
    demo_say(d, 3,
             "all %s messages (%s valid samples, %.0f MB of JSON) produced and stored in "
             "%.1f s: %s samples/s end to end",
             demo_count(d->produced.messages, m), demo_count(d->produced.samples, s),
             (double)d->produced.bytes / 1e6, secs,
             demo_count((uint64_t)((double)d->produced.samples / secs), r));
    return 0;
}
