/* Kafka intake: consumes samples with librdkafka's high-level consumer, validates them, and
 * stores them in PostgreSQL together with the next offsets, in one transaction per batch, so
 * that every sample is stored exactly once across crashes, outages and rebalances.
 *
 * Threads: consumer_run() polls and validates on the calling thread; a writer thread owns the
 * PostgreSQL connection that COPYs batches. While the writer stores batch N the caller builds
 * batch N+1, so parsing overlaps with PostgreSQL's work. */
#ifndef REGRESSD_CONSUMER_H
#define REGRESSD_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/util.h"

struct consumer;

/* Creates the Kafka consumer (not yet subscribed). cfg must outlive the consumer. */
struct consumer *consumer_new(const struct config *cfg, char *err, size_t errlen);

/* Subscribes and consumes until *stop becomes non-zero, then stores the batch in flight,
 * closes the consumer and returns 0. Returns -1 on a setup failure. */
int consumer_run(struct consumer *c, volatile sig_atomic_t *stop, char *err,
                 size_t errlen) REGRESSD_MUST_CHECK;

void consumer_free(struct consumer *c);

/* Healthy: has a consumer-group assignment or is polling without error, and the last
 * PostgreSQL operation succeeded. Thread-safe. */
bool consumer_healthy(struct consumer *c);

/* Appends the Prometheus text exposition of the intake's metrics. Thread-safe. */
void consumer_metrics(struct consumer *c, struct buf *out);

/* Counts for callers that wait on progress (demo, tests). Thread-safe. */
struct consumer_counts {
    uint64_t messages;
    uint64_t samples_stored;
    uint64_t dead_letters;
    uint64_t batches;
};
void consumer_counts(struct consumer *c, struct consumer_counts *out);

#endif
