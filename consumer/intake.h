/* Turns Kafka messages into batch rows: validation, dead letters, and the bound on distinct
 * services and endpoints. Private to consumer/. Not thread-safe: the polling thread owns it. */
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

/* Appends one message to the batch: its valid samples as rows, the rest as dead letters. */
void intake_message(struct intake *in, struct batch *b, const char *topic, int32_t partition,
                    int64_t offset, const void *payload, size_t len,
                    const struct sample_limits *limits);

/* Appends a dead-letter row for a message or array element. index < 0: the whole message. */
void intake_dead_letter(struct intake *in, struct batch *b, const char *topic, int32_t partition,
                        int64_t offset, long index, const char *reason, const void *raw,
                        size_t raw_len);

#endif
