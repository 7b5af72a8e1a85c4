/* An in-process Kafka-protocol broker for tests, benches and `regressd demo`: librdkafka's mock
 * cluster (librdkafka/rdkafka_mock.h) listening on loopback. Prefix mockkafka_.
 *
 * The mock cluster speaks the real protocol (produce, fetch, metadata, consumer groups with a
 * coordinator, offset commits), so kcat and librdkafka clients connect to it like to any
 * broker. It runs on its own thread; the handle it lives in is a producer that never produces.
 *
 * Limits worth knowing (librdkafka 2.0.2):
 * - It keeps only about 5 MiB per partition and silently drops older data: give topics that
 *   are produced far ahead of their consumer enough partitions, or produce while consuming.
 * - Consumer groups: the first join waits 3 s; after a member leaves or dies, the next join
 *   waits the group's session.timeout.ms minus 1 s (45 s with the default). Clients that restart
 *   should set session.timeout.ms to about 6000 (not below ~4000: the 3 s first-join delay would
 *   expire the member and the join never completes). */
#ifndef REGRESSD_MOCKKAFKA_H
#define REGRESSD_MOCKKAFKA_H

#include <stddef.h>

#include "regressd/util.h"

#define MOCKKAFKA_MAX_BROKERS 16
#define MOCKKAFKA_MAX_PARTITIONS 1024

struct mockkafka;

/* Starts a cluster of `brokers` (1..MOCKKAFKA_MAX_BROKERS) brokers on loopback. Topics that are
 * not created explicitly are auto-created on first use. Returns NULL with the reason in err.
 * Caller frees with mockkafka_free. */
struct mockkafka *mockkafka_new(int brokers, char *err, size_t errlen);

/* Creates a topic with replication factor 1 (1..MOCKKAFKA_MAX_PARTITIONS partitions). */
int mockkafka_topic_create(struct mockkafka *m, const char *topic, int partitions, char *err,
                           size_t errlen) REGRESSD_MUST_CHECK;

/* The bootstrap address, "127.0.0.1:PORT[,...]"; valid until mockkafka_free. */
const char *mockkafka_bootstraps(const struct mockkafka *m);

/* Serves the host handle's event queue so it does not grow; cheap, call now and then. */
void mockkafka_poll(struct mockkafka *m);

/* Stops the cluster (clients still connected see the broker go away). NULL is a no-op. */
void mockkafka_free(struct mockkafka *m);

#endif
