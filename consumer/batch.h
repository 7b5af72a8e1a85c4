/* A batch: what one PostgreSQL transaction stores. Built on the polling thread by intake.c
 * (with the rows of its other parse lanes absorbed), stored by writer.c. Private to
 * consumer/. */
#ifndef REGRESSD_CONSUMER_BATCH_H
#define REGRESSD_CONSUMER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

/* The offsets a batch moves one partition from and to. start is the next_offset the batch
 * expects to find in kafka_offsets (-1: no row yet); end is the offset after its last message.
 * The writer refuses the whole batch when start does not match: another consumer has stored
 * those messages already. */
struct batch_partition {
    int32_t partition;
    int64_t start;
    int64_t end;
};

struct batch {
    struct buf samples;       /* COPY rows for samples */
    struct buf dead;          /* COPY rows for dead_letters */
    struct buf new_endpoints; /* "service\0endpoint\0" pairs first seen in this batch */
    size_t n_new_endpoints;
    struct buf new_commits; /* "service\0commit\0" + int64 first ts, first seen in this batch */
    size_t n_new_commits;
    struct buf rollups; /* COPY rows for rollups, rendered when the batch is sealed */
    size_t n_rollups;
    struct buf users; /* COPY rows for rollup_users */
    size_t n_users;
    struct buf flags; /* COPY rows for rollup_flags */
    size_t n_flags;
    struct buf flag_users; /* COPY rows for rollup_flag_users */
    size_t n_flag_users;
    size_t n_samples;
    size_t n_dead;
    size_t n_messages;
    struct batch_partition *parts;
    size_t n_parts, cap_parts;
    int64_t *days; /* days (since the epoch) that need a samples partition */
    size_t n_days, cap_days;
    int64_t first_mono_us; /* when the first message entered the batch */
};

void batch_reset(struct batch *b);
void batch_free(struct batch *b);
/* The batch's entry for partition p, created with start = expected if missing. */
struct batch_partition *batch_partition(struct batch *b, int32_t p, int64_t expected);
void batch_add_day(struct batch *b, int64_t day);
/* Appends src's sample and dead-letter rows, new endpoints and commits, and days to dst (not
 * its partitions, messages or rollups: parse lanes fill only those). */
void batch_absorb(struct batch *dst, const struct batch *src);

#endif
