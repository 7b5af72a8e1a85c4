/* Small shared helpers: allocation that aborts on failure, a growable byte
 * buffer, time and duration parsing. Prefixes: x (allocation), buf_, util_. */
#ifndef REGRESSD_UTIL_H
#define REGRESSD_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGRESSD_MUST_CHECK __attribute__((warn_unused_result))
#define REGRESSD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure aborts with a message: the daemon can do nothing useful without memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A growable byte buffer. Zero-initialised is a valid empty buffer. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps the allocation, forgets the content. */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* NUL-terminates (not counted in len) and returns data; never NULL. */
const char *buf_cstr(struct buf *b);

/* Wall clock in microseconds since the epoch, and a monotonic clock in microseconds. */
int64_t util_now_us(void);
int64_t util_mono_us(void);

/* Capped exponential backoff: the delay after `delay_us`, doubled, at most max_us. */
int64_t util_backoff_next(int64_t delay_us, int64_t max_us);
/* Sleeps *delay_us in 50 ms steps, returning early once *stop is set, then advances *delay_us
 * with util_backoff_next. */
void util_backoff_sleep(int64_t *delay_us, int64_t max_us, volatile sig_atomic_t *stop);

/* Parses an RFC 3339 timestamp ("2026-11-21T10:00:00.123Z", any offset, 'T' or ' ', up to
 * nanosecond fraction, truncated to microseconds) into microseconds since the epoch. */
int util_parse_rfc3339(const char *s, size_t len, int64_t *out_us) REGRESSD_MUST_CHECK;
/* A user-supplied time: RFC 3339 or integer epoch milliseconds. */
int util_parse_time(const char *s, int64_t *out_us) REGRESSD_MUST_CHECK;
/* Durations "90s", "30m", "1h", "1d", "1w" (also "250ms") into microseconds; > 0. */
int util_parse_duration(const char *s, int64_t *out_us) REGRESSD_MUST_CHECK;
/* Formats microseconds since the epoch as "2026-11-21T10:00:00.123456Z" (27 bytes + NUL). */
#define UTIL_TS_BUFLEN 32
void util_format_ts(int64_t us, char out[UTIL_TS_BUFLEN]);
/* 2000-01-01T00:00:00Z in microseconds since the Unix epoch: PostgreSQL's binary timestamps
 * count from there. */
#define UTIL_PG_EPOCH_US INT64_C(946684800000000)
/* Seconds as the largest whole unit: "1w", "2d", "1h", "90m", "45s". */
void util_format_duration(int64_t seconds, char *out, size_t outlen);
/* Days since 1970-01-01 of a time in microseconds (floor). */
int64_t util_day_of(int64_t us);
/* Civil date of a day number. */
void util_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

/* Writes v in decimal to dst (at least 21 bytes, not NUL-terminated); returns the length.
 * Several times faster than snprintf, for the ingest's hot paths. */
size_t util_format_i64(char *dst, int64_t v);

/* Stable 32-bit hash (FNV-1a) used to put users into buckets; never change it: stored hashes
 * and rollups depend on it. */
uint32_t util_hash32(const void *data, size_t len);
/* A hash for in-memory tables only: eight bytes per step, several times faster than
 * util_hash32 on keys of tens of bytes, but never stored (it may change between versions). */
uint32_t util_hash_mem(const void *data, size_t len);

#endif
