/* The polling thread. Positions come from PostgreSQL, never from Kafka's committed offsets:
 * on every assignment the consumer reads kafka_offsets and assigns the partitions at exactly
 * those offsets. Kafka's own commit happens after the PostgreSQL commit and only feeds lag
 * monitoring. */
#include "regressd/consumer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "intake.h"
#include "jarena.h"
#include "metrics.h"
#include "regressd/db.h"
#include "regressd/log.h"
#include "writer.h"

struct position {
    int32_t partition;
    int64_t next; /* offset of the next message to stage; -1: no stored offset yet */
};

/* Messages staged (their positions counted in the batch) but not yet parsed: parsed together,
 * on every parse lane, when the chunk is full, when the poll finds nothing more, and always
 * before the batch is sealed (the batch's end offsets already cover them). */
#define CHUNK_MESSAGES 64

struct consumer {
    const struct config *cfg;
    rd_kafka_t *rk;
    struct intake *intake;
    struct writer *writer;
    struct intake_metrics metrics;
    PGconn *ctl; /* polling thread's connection: positions and known endpoints */
    struct batch batch;
    rd_kafka_message_t *chunk[CHUNK_MESSAGES];
    struct intake_msg chunk_msgs[CHUNK_MESSAGES];
    size_t n_chunk;
    struct position *pos;
    size_t n_pos;
    int64_t reset_offset; /* where a partition without a stored offset starts */
    volatile sig_atomic_t *stop;
    bool brokers_down_logged;
};

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* Kafka's committed offsets are advisory here (PostgreSQL holds the positions), so a
     * failed commit during a rebalance is expected and not worth a warning. */
    if (strcmp(fac, "COMMITFAIL") == 0)
        level = 7;
    if (level <= 3)
        log_error("kafka %s: %s", fac, buf);
    else if (level <= 5)
        log_warn("kafka %s: %s", fac, buf);
    else
        log_debug("kafka %s: %s", fac, buf);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&c->metrics.kafka_ok, false);
        if (!c->brokers_down_logged)
            log_error("Kafka: all brokers are down (%s); still trying", reason);
        c->brokers_down_logged = true;
        return;
    }
    log_warn("Kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void kafka_up(struct consumer *c)
{
    if (c->brokers_down_logged)
        log_info("Kafka: brokers reachable again");
    c->brokers_down_logged = false;
    atomic_store(&c->metrics.kafka_ok, true);
}

/* Opens the control connection, retrying with backoff until it works or we are stopped. */
static bool ensure_ctl(struct consumer *c)
{
    int64_t delay = 100000;
    bool logged = false;
    while (!c->ctl && !*c->stop) {
        char err[512];
        c->ctl = db_connect(c->cfg->postgres_dsn, err, sizeof(err));
        if (c->ctl)
            break;
        atomic_store(&c->metrics.db_ok, false);
        if (!logged)
            log_error("PostgreSQL: %s; retrying", err);
        logged = true;
        util_backoff_sleep(&delay, c->cfg->db_retry_max_us, c->stop);
    }
    return c->ctl != NULL;
}

static int load_endpoints(struct consumer *c, char *err, size_t errlen)
{
    PGresult *res =
        db_query(c->ctl, "SELECT service, endpoint FROM endpoints", 0, NULL, err, errlen);
    if (!res)
        return -1;
    intake_forget(c->intake);
    for (int i = 0; i < PQntuples(res); i++)
        intake_know_endpoint(c->intake, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    res = db_query(c->ctl,
                   "SELECT service, \"commit\" FROM commits ORDER BY first_seen DESC LIMIT 50000",
                   0, NULL, err, errlen);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        intake_know_commit(c->intake, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    return 0;
}

static int64_t stored_offset(PGresult *res, int32_t partition)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 0)) == partition)
            return strtoll(PQgetvalue(res, i, 1), NULL, 10);
    return -1;
}

/* Reads the stored positions of the partitions in list into list's offsets and c->pos. */
static int load_positions(struct consumer *c, rd_kafka_topic_partition_list_t *list, char *err,
                          size_t errlen)
{
    const char *params[] = {c->cfg->kafka_group, c->cfg->kafka_topic};
    PGresult *res = db_query(c->ctl,
                             "SELECT kafka_partition, next_offset FROM kafka_offsets "
                             "WHERE consumer_group = $1 AND topic = $2",
                             2, params, err, errlen);
    if (!res)
        return -1;
    free(c->pos);
    c->pos = xcalloc((size_t)list->cnt, sizeof(*c->pos));
    c->n_pos = 0;
    metrics_partitions_clear(&c->metrics);
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t next =
            strcmp(tp->topic, c->cfg->kafka_topic) == 0 ? stored_offset(res, tp->partition) : -1;
        tp->offset = next >= 0 ? next : c->reset_offset;
        c->pos[c->n_pos++] = (struct position){tp->partition, next};
        metrics_partition_update(&c->metrics, tp->partition, next, -1);
    }
    PQclear(res);
    return 0;
}

/* Assigns list at the positions stored in PostgreSQL, retrying through outages. */
static void assign_from_db(struct consumer *c, rd_kafka_topic_partition_list_t *list)
{
    char err[512];
    bool logged = false;
    for (;;) {
        if (!ensure_ctl(c))
            break;
        if (load_endpoints(c, err, sizeof(err)) == 0 &&
            load_positions(c, list, err, sizeof(err)) == 0) {
            atomic_store(&c->metrics.db_ok, true);
            rd_kafka_assign(c->rk, list);
            log_info("assigned %d partition(s) of %s at stored offsets", list->cnt,
                     c->cfg->kafka_topic);
            return;
        }
        if (!logged)
            log_error("PostgreSQL: cannot read stored offsets: %s; retrying", err);
        logged = true;
        atomic_store(&c->metrics.db_ok, false);
        PQfinish(c->ctl);
        c->ctl = NULL;
    }
    rd_kafka_assign(c->rk, NULL);
}

static void current_limits(const struct config *cfg, struct sample_limits *lim)
{
    int64_t now = util_now_us();
    lim->min_ts_us = now - cfg->max_event_age_us;
    lim->max_ts_us = now + cfg->max_event_future_us;
}

static void release_chunk(struct consumer *c)
{
    for (size_t i = 0; i < c->n_chunk; i++)
        rd_kafka_message_destroy(c->chunk[i]);
    c->n_chunk = 0;
}

/* Parses the staged messages into the batch. */
static void parse_chunk(struct consumer *c)
{
    if (c->n_chunk == 0)
        return;
    struct sample_limits lim;
    current_limits(c->cfg, &lim);
    intake_messages(c->intake, &c->batch, c->cfg->kafka_topic, c->chunk_msgs, c->n_chunk, &lim);
    release_chunk(c);
}

/* Forgets everything not yet committed: the staged messages and batch, the writer's pending
 * batch. */
static void drop_uncommitted(struct consumer *c)
{
    writer_abandon(c->writer);
    release_chunk(c);
    batch_reset(&c->batch);
    intake_discard(c->intake);
}

/* Parses what is staged, seals the batch (renders its rollups) and offers it to the writer.
 * Sealing again after a refused offer appends further partial rollup rows, which readers
 * sum. */
static int submit(struct consumer *c, int64_t timeout_us)
{
    parse_chunk(c);
    intake_seal(c->intake, &c->batch);
    return writer_submit(c->writer, &c->batch, timeout_us);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        atomic_fetch_add(&c->metrics.rebalances, 1);
        kafka_up(c);
        drop_uncommitted(c);
        assign_from_db(c, parts);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        log_warn("Kafka rebalance error: %s", rd_kafka_err2str(err));
    drop_uncommitted(c);
    c->n_pos = 0;
    metrics_partitions_clear(&c->metrics);
    rd_kafka_assign(rk, NULL);
}

/* After a refused batch: drop what is staged and re-assign at the stored positions. */
static void resync(struct consumer *c)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    drop_uncommitted(c);
    if (rd_kafka_assignment(c->rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR && list->cnt > 0)
        assign_from_db(c, list);
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
}

static void on_commit(void *arg, const struct batch *b)
{
    struct consumer *c = arg;
    /* Advisory only: lets Kafka tooling show the group's lag. */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)b->n_parts);
    for (size_t i = 0; i < b->n_parts; i++)
        rd_kafka_topic_partition_list_add(list, c->cfg->kafka_topic, b->parts[i].partition)
            ->offset = b->parts[i].end;
    if (list->cnt > 0)
        rd_kafka_commit(c->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
}

static struct position *find_position(struct consumer *c, int32_t partition)
{
    for (size_t i = 0; i < c->n_pos; i++)
        if (c->pos[i].partition == partition)
            return &c->pos[i];
    return NULL;
}

/* Counts the message into the batch's positions and keeps it in the chunk; false when it is
 * not ours or already staged. */
static bool stage_message(struct consumer *c, rd_kafka_message_t *m)
{
    struct position *p = find_position(c, m->partition);
    if (!p || (p->next >= 0 && m->offset < p->next))
        return false;
    if (c->batch.n_messages == 0 && c->n_chunk == 0)
        c->batch.first_mono_us = util_mono_us();
    struct batch_partition *bp = batch_partition(&c->batch, m->partition, p->next);
    bp->end = m->offset + 1;
    p->next = m->offset + 1;
    atomic_fetch_add(&c->metrics.messages, 1);
    c->chunk[c->n_chunk] = m;
    c->chunk_msgs[c->n_chunk] = (struct intake_msg){m->partition, m->offset, m->payload, m->len};
    if (++c->n_chunk == CHUNK_MESSAGES)
        parse_chunk(c);
    return true;
}

/* Stages m or destroys it. */
static void handle_message(struct consumer *c, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("Kafka consume error: %s", rd_kafka_message_errstr(m));
    } else if (!m->rkt || strcmp(rd_kafka_topic_name(m->rkt), c->cfg->kafka_topic) == 0) {
        kafka_up(c);
        if (stage_message(c, m))
            return;
    }
    rd_kafka_message_destroy(m);
}

static bool batch_due(struct consumer *c)
{
    const struct batch *b = &c->batch;
    if (b->n_messages == 0 && c->n_chunk == 0)
        return false;
    if ((int64_t)(b->n_samples + b->n_dead) >= c->cfg->batch_max_samples)
        return true;
    return util_mono_us() - b->first_mono_us >= c->cfg->batch_max_wait_us;
}

static void set_paused(struct consumer *c, bool paused)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    if (rd_kafka_assignment(c->rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR && list->cnt > 0) {
        if (paused)
            rd_kafka_pause_partitions(c->rk, list);
        else
            rd_kafka_resume_partitions(c->rk, list);
    }
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
}

/* Hands the staged batch to the writer. While the writer is busy (PostgreSQL slow or down),
 * fetching is paused but the consumer keeps polling so it stays in the group. */
static void flush(struct consumer *c)
{
    if ((c->batch.n_messages == 0 && c->n_chunk == 0) || submit(c, 0) == 0)
        return;
    set_paused(c, true);
    while (!*c->stop && c->batch.n_messages > 0) {
        if (writer_take_resync(c->writer)) {
            resync(c);
            break;
        }
        if (submit(c, 200000) == 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (m)
            handle_message(c, m);
    }
    set_paused(c, false);
}

static void update_watermarks(struct consumer *c)
{
    for (size_t i = 0; i < c->n_pos; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, c->cfg->kafka_topic, c->pos[i].partition, &lo,
                                           &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0)
            metrics_partition_update(&c->metrics, c->pos[i].partition, -1, hi);
    }
}

static int set_conf(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char kerr[256];
    if (rd_kafka_conf_set(conf, k, v, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.%s: %s", k, kerr);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *build_conf(struct consumer *c, char *err, size_t errlen)
{
    const struct config *cfg = c->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", cfg->kafka_brokers},
        {"group.id", cfg->kafka_group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        /* Enough prefetched data that the polling thread never waits on a fetch (librdkafka
         * pauses a partition's fetching once the queue is over this size and resumes late),
         * with each fetch capped so the queue overshoots it by little: about 100k samples/s
         * at 70 MB peak RSS in bench/bench_ingest, against 55k/s with 16 MB. */
        {"queued.max.messages.kbytes", "32768"},
        {"fetch.max.bytes", "4194304"},
        {"fetch.wait.max.ms", "100"},
        {"client.id", "regressd"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(defaults); i++)
        if (set_conf(conf, defaults[i][0], defaults[i][1], err, errlen) < 0)
            goto failed;
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        const struct config_kv *kv = &cfg->kafka_props[i];
        if (strcmp(kv->key, "partition.assignment.strategy") == 0 &&
            strstr(kv->value, "cooperative")) {
            snprintf(err, errlen,
                     "kafka.%s: cooperative rebalancing is not supported; use "
                     "range or roundrobin",
                     kv->key);
            goto failed;
        }
        if (set_conf(conf, kv->key, kv->value, err, errlen) < 0)
            goto failed;
        if (strcmp(kv->key, "auto.offset.reset") == 0)
            c->reset_offset = (strcmp(kv->value, "latest") == 0 || strcmp(kv->value, "end") == 0 ||
                               strcmp(kv->value, "largest") == 0)
                                  ? RD_KAFKA_OFFSET_END
                                  : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    return conf;
failed:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

struct consumer *consumer_new(const struct config *cfg, char *err, size_t errlen)
{
    struct consumer *c = xcalloc(1, sizeof(*c));
    c->cfg = cfg;
    c->reset_offset = RD_KAFKA_OFFSET_BEGINNING;
    metrics_init(&c->metrics);
    rd_kafka_conf_t *conf = build_conf(c, err, errlen);
    if (!conf)
        goto failed;
    char kerr[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "cannot create Kafka consumer: %s", kerr);
        goto failed;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->intake = intake_new(cfg);
    c->writer = writer_new(cfg, &c->metrics, on_commit, c);
    return c;
failed:
    consumer_free(c);
    return NULL;
}

static int subscribe(struct consumer *c, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->cfg->kafka_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "cannot subscribe to %s: %s", c->cfg->kafka_topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void poll_loop(struct consumer *c)
{
    int64_t next_watermarks = 0;
    while (!*c->stop) {
        if (writer_take_resync(c->writer))
            resync(c);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, c->n_chunk > 0 ? 0 : 100);
        atomic_store(&c->metrics.last_poll_mono_us, util_mono_us());
        if (m)
            handle_message(c, m);
        else
            parse_chunk(c);
        if (batch_due(c))
            flush(c);
        if (util_mono_us() >= next_watermarks) {
            update_watermarks(c);
            next_watermarks = util_mono_us() + 1000000;
        }
    }
}

/* Stop polling, store the batch in flight, then leave the group. */
static void shut_down(struct consumer *c)
{
    int64_t timeout = c->cfg->shutdown_timeout_us;
    if ((c->batch.n_messages > 0 || c->n_chunk > 0) && submit(c, timeout) != 0)
        log_warn("shutdown: the writer did not take the last batch; it will be consumed again");
    if (!writer_wait_idle(c->writer, timeout))
        log_warn("shutdown: PostgreSQL did not store the last batch in time; it will be "
                 "consumed again");
    writer_stop(c->writer, 0);
    rd_kafka_consumer_close(c->rk);
}

int consumer_run(struct consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    c->stop = stop;
    if (!ensure_ctl(c))
        return 0; /* stopped before PostgreSQL came up */
    atomic_store(&c->metrics.db_ok, true);
    if (load_endpoints(c, err, errlen) < 0)
        return -1;
    if (writer_start(c->writer, err, errlen) < 0)
        return -1;
    if (subscribe(c, err, errlen) < 0) {
        writer_stop(c->writer, 0);
        return -1;
    }
    log_info("consuming %s as group %s", c->cfg->kafka_topic, c->cfg->kafka_group);
    poll_loop(c);
    jarena_release(); /* the parser's arena, on the thread that parsed */
    shut_down(c);
    log_info("consumer stopped: %llu samples stored, %llu dead letters",
             (unsigned long long)atomic_load(&c->metrics.samples_stored),
             (unsigned long long)atomic_load(&c->metrics.dead_letters));
    return 0;
}

void consumer_free(struct consumer *c)
{
    if (!c)
        return;
    writer_free(c->writer);
    release_chunk(c); /* before the handle goes: messages hold references to it */
    if (c->rk)
        rd_kafka_destroy(c->rk);
    intake_free(c->intake);
    batch_free(&c->batch);
    free(c->pos);
    PQfinish(c->ctl);
    metrics_destroy(&c->metrics);
    free(c);
}

bool consumer_healthy(struct consumer *c)
{
    int64_t since_poll = util_mono_us() - atomic_load(&c->metrics.last_poll_mono_us);
    return atomic_load(&c->metrics.db_ok) && atomic_load(&c->metrics.kafka_ok) &&
           since_poll < 30 * 1000000;
}

void consumer_metrics(struct consumer *c, struct buf *out)
{
    metrics_render(&c->metrics, out);
}

void consumer_counts(struct consumer *c, struct consumer_counts *out)
{
    out->messages = atomic_load(&c->metrics.messages);
    out->samples_stored = atomic_load(&c->metrics.samples_stored);
    out->dead_letters = atomic_load(&c->metrics.dead_letters);
    out->batches = atomic_load(&c->metrics.batches);
}
