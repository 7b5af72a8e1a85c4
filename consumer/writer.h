/* The writer thread: stores batches in PostgreSQL, one transaction each, retrying through
 * outages. Private to consumer/. */
#ifndef REGRESSD_CONSUMER_WRITER_H
#define REGRESSD_CONSUMER_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "metrics.h"
#include "regressd/config.h"

struct writer;

/* Called on the writer thread after a batch committed. */
typedef void writer_commit_cb(void *arg, const struct batch *b);

struct writer *writer_new(const struct config *cfg, struct intake_metrics *metrics,
                          writer_commit_cb *on_commit, void *arg);
int writer_start(struct writer *w, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Hands the batch's contents to the writer (b comes back empty, reusing the writer's previous
 * buffers). Waits while the previous batch has not been picked up yet, at most timeout_us;
 * returns 0 when handed over, 1 on timeout (b untouched). */
int writer_submit(struct writer *w, struct batch *b, int64_t timeout_us);

/* Waits until nothing is pending or being stored; false on timeout. */
bool writer_wait_idle(struct writer *w, int64_t timeout_us);

/* Drops the pending batch and the batch being stored unless its transaction is already under
 * way, then waits until idle. Used when partitions are revoked: what was not committed will
 * be consumed again by whoever owns the partition next. */
void writer_abandon(struct writer *w);

/* True once after a batch was refused because kafka_offsets did not hold the offsets it
 * expected: the caller must reload its positions from PostgreSQL. */
bool writer_take_resync(struct writer *w);

/* Stores what is pending (giving up on retries after timeout_us), then ends the thread. */
void writer_stop(struct writer *w, int64_t timeout_us);
void writer_free(struct writer *w);

#endif
