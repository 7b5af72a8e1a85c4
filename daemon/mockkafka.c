/* The in-process mock Kafka cluster (see include/regressd/mockkafka.h). */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdio.h>
#include <stdlib.h>

#include "regressd/mockkafka.h"

struct mockkafka {
    rd_kafka_t *host; /* the client handle the cluster lives in */
    rd_kafka_mock_cluster_t *cluster;
};

/* The mock cluster needs a client handle to live in; a producer that never produces will do.
 * Its own logging is quiet: it has no bootstrap servers and nothing to say. */
static rd_kafka_t *new_host_handle(char *err, size_t errlen)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "mockkafka", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr))) {
        snprintf(err, errlen, "mock Kafka: config: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        snprintf(err, errlen, "mock Kafka: rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

struct mockkafka *mockkafka_new(int brokers, char *err, size_t errlen)
{
    if (brokers < 1 || brokers > MOCKKAFKA_MAX_BROKERS) {
        snprintf(err, errlen, "mock Kafka: %d brokers (want 1-%d)", brokers, MOCKKAFKA_MAX_BROKERS);
        return NULL;
    }
    struct mockkafka *m = xcalloc(1, sizeof(*m));
    m->host = new_host_handle(err, errlen);
    if (!m->host)
        goto failed;
    m->cluster = rd_kafka_mock_cluster_new(m->host, brokers);
    if (!m->cluster) {
        snprintf(err, errlen, "mock Kafka: cannot start the mock cluster");
        goto failed;
    }
    return m;
failed:
    mockkafka_free(m);
    return NULL;
}

int mockkafka_topic_create(struct mockkafka *m, const char *topic, int partitions, char *err,
                           size_t errlen)
{
    if (partitions < 1 || partitions > MOCKKAFKA_MAX_PARTITIONS) {
        snprintf(err, errlen, "mock Kafka: topic %s: %d partitions (want 1-%d)", topic, partitions,
                 MOCKKAFKA_MAX_PARTITIONS);
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1);
    if (e) {
        snprintf(err, errlen, "mock Kafka: creating topic %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

const char *mockkafka_bootstraps(const struct mockkafka *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

void mockkafka_poll(struct mockkafka *m)
{
    rd_kafka_poll(m->host, 0);
}

void mockkafka_free(struct mockkafka *m)
{
    if (!m)
        return;
    if (m->cluster)
        rd_kafka_mock_cluster_destroy(m->cluster);
    if (m->host)
        rd_kafka_destroy(m->host);
    free(m);
}
