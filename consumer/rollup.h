/* Per-batch aggregation of valid samples into rollup rows. Private to consumer/. */
#ifndef REGRESSD_CONSUMER_ROLLUP_H
#define REGRESSD_CONSUMER_ROLLUP_H

#include "regressd/sample.h"
#include "regressd/util.h"

#define ROLLUP_BUCKETS 64 /* bucket = user_hash & 63 */
#define ROLLUP_MINUTE_US INT64_C(60000000)

struct rollup;

struct rollup *rollup_new(void);
void rollup_free(struct rollup *r);
void rollup_add(struct rollup *r, const struct sample_meta *m);
/* Appends COPY rows for the rollups and rollup_users tables (their columns are
 * ROLLUP_COPY_COLUMNS / ROLLUP_USERS_COPY_COLUMNS) and forgets everything. Adds the number
 * of rows appended to each to *n_rollups and *n_users. */
void rollup_render(struct rollup *r, struct buf *rollups, size_t *n_rollups, struct buf *users,
                   size_t *n_users);
/* Forgets everything without rendering. */
void rollup_reset(struct rollup *r);

#define ROLLUP_COPY_COLUMNS                                                                        \
    "service, endpoint, \"commit\", minute, bucket, requests, instructions, instructions_sq, "     \
    "latency_n, latency_us, latency_sq, db_us, cache_us"
#define ROLLUP_USERS_COPY_COLUMNS "service, \"commit\", minute, user_hashes"

#endif
