/* Validation of one sample (CONTRACT section 1) and its rendering as a binary COPY row.
 *
 * The intake keeps per-sample work outside jansson small: one pass over the object's fields,
 * appending the COPY row as it goes, no intermediate copies of strings. */
#ifndef REGRESSD_SAMPLE_H
#define REGRESSD_SAMPLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

#define SAMPLE_SERVICE_MAX 64
#define SAMPLE_ENDPOINT_MAX 256
#define SAMPLE_COMMIT_MAX 64
#define SAMPLE_USER_ID_MAX 128
#define SAMPLE_LABEL_MAX 128 /* host, region, cluster */
#define SAMPLE_FLAGS_MAX 64
#define SAMPLE_FLAG_KEY_MAX 64
#define SAMPLE_FLAG_VALUE_MAX 64
#define SAMPLE_FLAG_TEXT_BUFLEN 32 /* room for a rendered number flag value */
#define SAMPLE_INSTRUCTIONS_LIMIT (INT64_C(1) << 53)

/* Columns of a row, in this order:
 * ts, service, endpoint, commit, user_id, user_hash, instructions, latency_us, db_us, cache_us,
 * status, host, region, cluster, sample_rate, flags
 * Rows are in PostgreSQL's binary COPY format (no escaping, no number or time parsing on the
 * server): COPY samples (SAMPLE_COPY_COLUMNS) FROM STDIN SAMPLE_COPY_OPTIONS, the stream framed
 * by db_copy_in(). */
#define SAMPLE_COPY_COLUMNS                                                                        \
    "ts, service, endpoint, \"commit\", user_id, user_hash, instructions, latency_us, db_us, "     \
    "cache_us, status, host, region, cluster, sample_rate, flags"
#define SAMPLE_COPY_NCOLUMNS 16
#define SAMPLE_COPY_OPTIONS "(FORMAT binary)"

/* The accepted event-time range; samples outside it are rejected (they would need a partition
 * for an arbitrary day). */
struct sample_limits {
    int64_t min_ts_us;
    int64_t max_ts_us;
};

/* What the intake needs to know about a valid sample besides its row. Pointers point into the
 * json_t and live as long as it does. */
struct sample_meta {
    int64_t ts_us;
    const char *service;
    size_t service_len;
    const char *endpoint;
    size_t endpoint_len;
    const char *commit;
    size_t commit_len;
    uint32_t user_hash;
    int64_t instructions;
    int64_t latency_us; /* -1 when absent, likewise db_us and cache_us */
    int64_t db_us;
    int64_t cache_us;
    const json_t *flags; /* the validated flags object; NULL when absent, null or empty */
};

/* Validates obj against CONTRACT section 1. On success appends one binary COPY row to out,
 * fills meta and returns 0. On failure leaves out as it was, writes a precise reason
 * ("instructions: must be an integer, got string") to err and returns -1. Unknown fields are
 * ignored. */
int sample_format_row(const json_t *obj, const struct sample_limits *limits, struct buf *out,
                      struct sample_meta *meta, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* The text a flag value is stored as, in samples.flags (a JSON string there) and in the flag
 * rollups: strings as they are, booleans "true"/"false", integers in decimal, reals in the
 * shortest "%.*g" form that reads back exactly. Points *s at the text (inside v, a literal, or
 * text[]), sets *len and returns 0; returns -1 when v is not a string, boolean or number. Checks
 * nothing else: lengths and NUL bytes are sample_format_row's to reject. */
int sample_flag_value_text(const json_t *v, char text[SAMPLE_FLAG_TEXT_BUFLEN], const char **s,
                           size_t *len) REGRESSD_MUST_CHECK;

/* user_hash column: util_hash32 of the user id's text; a sample without a user id hashes
 * host + ts so that its requests spread like independent users. */
uint32_t sample_user_hash(const char *user_id, size_t user_id_len, const char *host,
                          size_t host_len, int64_t ts_us);

/* Appends s to out escaped for PostgreSQL COPY text format (backslash, tab, newline, carriage
 * return and the other control characters). s must not contain NUL. */
void copy_escape_append(struct buf *out, const char *s, size_t len);
/* Appends s as a JSON string literal, quotes included. */
void json_escape_append(struct buf *out, const char *s, size_t len);

#endif
