/* Turns Kafka messages into batch rows: validation, dead letters, and the bound on distinct
 * services and endpoints, on ingest.parse_threads lanes (the calling thread and one thread per
 * further lane). Private to consumer/. Its functions are called from one thread, the polling
 * thread, which owns it. */
#ifndef REGRESSD_CONSUMER_INTAKE_H
#define REGRESSD_CONSUMER_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "regressd/config.h"
#include "regressd/sample.h"

struct intake;

struct intake *intake_new(const struct config *cfg);
void intake_free(struct intake *in);

/* Forgets the known endpoints (before reloading them from PostgreSQL). */
void intake_forget(struct intake *in);
/* Records an endpoint already stored, so that it counts against the caps. */
void intake_know_endpoint(struct intake *in, const char *service, const char *endpoint);

/* Records a (service, commit) already stored. */
void intake_know_commit(struct intake *in, const char *service, const char *commit);

/* Renders the batch's rollup rows into it; call once before handing the batch over. */
void intake_seal(struct intake *in, struct batch *b);
/* Forgets the rollups of a batch that is dropped unsealed. */
void intake_discard(struct intake *in);

/* A Kafka message of the topic, as intake_messages() reads it. */
struct intake_msg {
    int32_t partition;
    int64_t offset;
    const void *payload;
    size_t len;
};

/* Appends n messages to the batch, parsed on every lane at once: their valid samples as rows,
 * the rest as dead letters. Returns when all are in b; the order of rows in b is unspecified. */
void intake_messages(struct intake *in, struct batch *b, const char *topic,
                     const struct intake_msg *msgs, size_t n, const struct sample_limits *limits);

/* The number of parse lanes running (ingest.parse_threads unless a thread failed to start). */
size_t intake_lanes(const struct intake *in);

/* Appends a dead-letter row for a message or array element. index < 0: the whole message. */
void intake_dead_letter(struct intake *in, struct batch *b, const char *topic, int32_t partition,
                        int64_t offset, long index, const char *reason, const void *raw,
                        size_t raw_len);

#endif
