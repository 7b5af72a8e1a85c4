/* The parts of detector/check.c that the trend and flag comparisons share. Private to
 * detector/. */
#ifndef REGRESSD_DETECTOR_CHECK_INT_H
#define REGRESSD_DETECTOR_CHECK_INT_H

#include "regressd/detector.h"

/* A report with no results, inconclusive until decided; kind "deploy" (callers may replace it). */
struct detector_report *detector_report_new(const struct detector_params *p, const char *service,
                                            const char *base_commit, const char *cand_commit,
                                            int64_t deployed_at_us);

/* Appends a result (zeroed; gates unless latency) to r->results, growing *cap. */
struct detector_result *detector_add_result(struct detector_report *r, size_t *cap,
                                            enum detector_metric m, const char *endpoint,
                                            double min_effect);

/* stats_estimate with the jackknife; not ok with *note set when the sums are invalid. */
void detector_estimate(const double *y, const double *x, int n, struct stats_estimate *out,
                       const char **note);

/* Decides every result of r together (one Benjamini–Hochberg family). */
int detector_decide(struct detector_report *r, const struct detector_params *p, char *err,
                    size_t errlen) REGRESSD_MUST_CHECK;

/* Order of results: service level first, then by |contribution|, then by name. */
int detector_cmp_results(const void *a, const void *b);

/* A read-only repeatable-read transaction for loading (work_mem for hash aggregation), and its
 * end: COMMIT when ok, else ROLLBACK (resetting the connection if even that fails) and -1. */
int detector_read_begin(PGconn *conn, char *err, size_t errlen) REGRESSD_MUST_CHECK;
int detector_read_end(PGconn *conn, bool ok, char *err, size_t errlen);

/* The blocks of [from_us, to_us) that are compacted and not dirty for the service, as a
 * timestamptz[] literal appended to literal, and the start of the first block that is not
 * clean (to_us when all are). */
int detector_clean_blocks(PGconn *conn, const char *service, int64_t from_us, int64_t to_us,
                          struct buf *literal, int64_t *first_unclean, char *err,
                          size_t errlen) REGRESSD_MUST_CHECK;

/* Loads [from_us, to_us) (both on blocks) of a service, every commit, inside the caller's
 * transaction (detector_read_begin): whole clean blocks from the block tables, the rest from
 * the minute tables. Frees *out on failure. */
int detector_span_load_in(PGconn *conn, const struct detector_params *p, const char *service,
                          int64_t from_us, int64_t to_us, struct detector_span *out, char *err,
                          size_t errlen) REGRESSD_MUST_CHECK;

#endif
