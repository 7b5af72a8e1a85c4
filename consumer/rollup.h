/* Per-batch aggregation of valid samples into rollup rows. Private to consumer/. */
#ifndef REGRESSD_CONSUMER_ROLLUP_H
#define REGRESSD_CONSUMER_ROLLUP_H

#include "batch.h"
#include "regressd/sample.h"
#include "regressd/util.h"

#define ROLLUP_BUCKETS 64 /* bucket = user_hash & 63 */
#define ROLLUP_MINUTE_US INT64_C(60000000)
#define ROLLUP_BLOCK_US (10 * ROLLUP_MINUTE_US) /* the flag rollups' time unit */

struct rollup;

struct rollup *rollup_new(void);
void rollup_free(struct rollup *r);
/* Adds one valid sample to the rollups and, for each of its flags (m->flags), to the flag
 * rollups. Keeps no pointer into m. */
void rollup_add(struct rollup *r, const struct sample_meta *m);
/* Adds everything src holds to dst and resets src (rollups of two parse lanes). */
void rollup_merge(struct rollup *dst, struct rollup *src);
/* Appends the COPY rows of the rollups, rollup_users, rollup_flags and rollup_flag_users tables
 * to b (b->rollups, b->users, b->flags, b->flag_users; their columns are the *_COPY_COLUMNS
 * below), adds the number of rows appended to b's counts, and forgets everything. */
void rollup_render(struct rollup *r, struct batch *b);
/* Forgets everything without rendering. */
void rollup_reset(struct rollup *r);

/* Rows are in binary COPY format (ROLLUP_COPY_OPTIONS), like the samples'. A rollups or
 * rollup_flags row is one key of the batch: its non-empty user buckets, ascending, as the
 * buckets array and every sum as an array aligned with it (sql/006_rollup_arrays.sql). */
#define ROLLUP_COPY_OPTIONS "(FORMAT binary)"
#define ROLLUP_COPY_COLUMNS                                                                        \
    "service, endpoint, \"commit\", minute, buckets, requests, instructions, instructions_sq, "    \
    "latency_n, latency_us, latency_sq, db_us, cache_us"
#define ROLLUP_USERS_COPY_COLUMNS "service, \"commit\", minute, user_hashes"
#define ROLLUP_FLAGS_COPY_COLUMNS                                                                  \
    "service, endpoint, flag, value, block, buckets, requests, instructions, latency_n, "          \
    "latency_us"
#define ROLLUP_FLAG_USERS_COPY_COLUMNS "service, flag, value, block, user_hashes"

#endif
