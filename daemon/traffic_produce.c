/* Producing generated traffic to Kafka with librdkafka: shared by `regressd generate` and
 * `regressd demo` (see include/regressd/traffic.h). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/traffic.h"

#define PRODUCE_QUEUE_FULL_TIMEOUT_MS 60000
#define PRODUCE_PURGE_TIMEOUT_MS 1000

struct traffic_producer {
    rd_kafka_t *rk;
    char *topic;
    struct traffic_produce_stats st;
    char first_error[256];
    struct buf msg;
};

/* Delivery reports: count them, remember the first failure's reason. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct traffic_producer *p = opaque;
    if (!m->err) {
        p->st.delivered++;
        return;
    }
    if (!p->st.failed)
        snprintf(p->first_error, sizeof(p->first_error), "%s", rd_kafka_err2str(m->err));
    p->st.failed++;
}

static int set_prop(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                    size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s=%s: %s", key, value, errstr);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *build_conf(const char *brokers, const char *const *props, size_t n_props,
                                   char *err, size_t errlen)
{
    static const char *const defaults[][2] = {
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"batch.size", "4000000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "262144"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = set_prop(conf, "bootstrap.servers", brokers, err, errlen);
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(defaults) && !bad; i++)
        bad = set_prop(conf, defaults[i][0], defaults[i][1], err, errlen);
    for (size_t i = 0; i < n_props && !bad; i++) {
        const char *eq = strchr(props[i], '=');
        if (!eq) {
            snprintf(err, errlen, "%s: want KEY=VALUE", props[i]);
            bad = -1;
            break;
        }
        char *key = xstrndup(props[i], (size_t)(eq - props[i]));
        bad = set_prop(conf, key, eq + 1, err, errlen);
        free(key);
    }
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

struct traffic_producer *traffic_producer_new(const char *brokers, const char *topic,
                                              const char *const *props, size_t n_props, char *err,
                                              size_t errlen)
{
    rd_kafka_conf_t *conf = build_conf(brokers, props, n_props, err, errlen);
    if (!conf)
        return NULL;
    struct traffic_producer *p = xcalloc(1, sizeof(*p));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        snprintf(err, errlen, "%s", errstr);
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    p->topic = xstrdup(topic);
    return p;
}

void traffic_producer_free(struct traffic_producer *p)
{
    if (!p)
        return;
    /* Whatever is still queued is dropped on purpose (the caller flushed what it wanted). */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, PRODUCE_PURGE_TIMEOUT_MS);
    rd_kafka_destroy(p->rk);
    free(p->topic);
    buf_free(&p->msg);
    free(p);
}

/* Enqueues one message, serving delivery reports while the local queue is full (bounded). */
static rd_kafka_resp_err_t enqueue(struct traffic_producer *p, const struct traffic_msg_info *info,
                                   volatile sig_atomic_t *stop)
{
    for (int waited = 0;; waited += 10) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_VALUE(p->msg.data, p->msg.len),
            RD_KAFKA_V_KEY(info->key, strlen(info->key)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited >= PRODUCE_QUEUE_FULL_TIMEOUT_MS ||
            (stop && *stop))
            return e;
        rd_kafka_poll(p->rk, 10);
    }
}

int traffic_producer_send(struct traffic_producer *p, struct traffic *t, uint64_t max_messages,
                          volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct traffic_msg_info info;
    for (uint64_t n = 0; !max_messages || n < max_messages; n++) {
        if (stop && *stop)
            return 1;
        if (traffic_next_message(t, &p->msg, &info) == 0)
            return 0;
        rd_kafka_resp_err_t e = enqueue(p, &info, stop);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && stop && *stop)
            return 1;
        if (e) {
            snprintf(err, errlen, "produce to %s: %s", p->topic, rd_kafka_err2str(e));
            return -1;
        }
        p->st.messages++;
        p->st.samples += (uint64_t)info.samples;
        p->st.bytes += p->msg.len;
        rd_kafka_poll(p->rk, 0);
    }
    return 1;
}

void traffic_producer_poll(struct traffic_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int traffic_producer_flush(struct traffic_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

void traffic_producer_stats(const struct traffic_producer *p, struct traffic_produce_stats *out)
{
    *out = p->st;
}

const char *traffic_producer_error(const struct traffic_producer *p)
{
    return p->st.failed ? p->first_error : NULL;
}
