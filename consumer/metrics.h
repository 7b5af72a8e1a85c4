/* Intake metrics, written by the polling and writer threads, read by the HTTP server.
 * Private to consumer/. */
#ifndef REGRESSD_CONSUMER_METRICS_H
#define REGRESSD_CONSUMER_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "regressd/util.h"

#define METRICS_LATENCY_BUCKETS 12
#define METRICS_MAX_PARTITIONS 1024

struct metrics_partition {
    int32_t partition;
    int64_t committed; /* next offset stored in PostgreSQL, -1 unknown */
    int64_t high;      /* high watermark seen by the consumer, -1 unknown */
};

struct intake_metrics {
    _Atomic uint64_t messages;
    _Atomic uint64_t samples_stored;
    _Atomic uint64_t dead_letters;
    _Atomic uint64_t batches;
    _Atomic uint64_t batch_failures;
    _Atomic uint64_t conflicts;
    _Atomic uint64_t rebalances;
    _Atomic bool db_ok;
    _Atomic bool kafka_ok;
    _Atomic int64_t last_poll_mono_us;

    pthread_mutex_t lock; /* guards what follows */
    uint64_t latency_counts[METRICS_LATENCY_BUCKETS + 1];
    double latency_sum;
    uint64_t latency_count;
    struct metrics_partition parts[METRICS_MAX_PARTITIONS];
    size_t n_parts;
};

void metrics_init(struct intake_metrics *m);
void metrics_destroy(struct intake_metrics *m);
void metrics_observe_batch(struct intake_metrics *m, double seconds);
/* committed or high < 0 leave that value unchanged. */
void metrics_partition_update(struct intake_metrics *m, int32_t partition, int64_t committed,
                              int64_t high);
void metrics_partitions_clear(struct intake_metrics *m);
void metrics_render(struct intake_metrics *m, struct buf *out);

#endif
