/* What the loaders of detector/ share: binary values of PostgreSQL results (arrays of the
 * rollup tables, fetched with resultFormat = 1) and an index of names (endpoints, flag values)
 * into an array. Private to detector/. */
#ifndef REGRESSD_DETECTOR_LOAD_H
#define REGRESSD_DETECTOR_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "uset.h"

uint32_t load_be32(const char *p);
int64_t load_be64(const char *p);

/* A one-dimensional int2[], int8[] or float8[] in binary format into out[0..*n); -1 when it has
 * another shape, NULL elements or more than max elements. */
int load_array(const char *p, int len, double *out, int max, int *n);

/* Columns first .. first + ncols − 1 of row `row` of a binary result: one-dimensional arrays
 * of equal length (a rollup block's bucket arrays, at most LOAD_MAX_BUCKETS each) into
 * a[c][0 .. *n). -1 with "<table>: malformed bucket arrays" otherwise. */
#define LOAD_MAX_BUCKETS 64
int load_bucket_arrays(const PGresult *res, int row, int first, int ncols,
                       double (*a)[LOAD_MAX_BUCKETS], int *n, const char *table, char *err,
                       size_t errlen);

/* Runs sql with binary results and calls row(ctx, res, i, table) on each row in order, stopping
 * at the first that fails; table names the rows in errors. 0, or -1 with err set (by the query,
 * or by row through the caller's buffer). */
typedef int load_row_fn(void *ctx, PGresult *res, int i, const char *table);
int load_binary_rows(PGconn *conn, const char *sql, int nparams, const char *const *params,
                     load_row_fn *row, void *ctx, const char *table, char *err, size_t errlen);

/* Adds the elements of an int4[] in binary format (user hashes) to a and, when b is not NULL,
 * to b. -1 with the reason for another shape or NULL elements. */
int load_hashes(const char *p, int len, struct uset *a, struct uset *b, char *err, size_t errlen);

/* Name -> index into the caller's array (open addressing over util_hash32). */
struct load_names {
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t cap;      /* slots, a power of two */
    size_t n;        /* names indexed */
};

/* The index of name; when absent, *added is set, the name is given index n (the caller appends
 * its element) and the table grows as needed. name_of(i, ctx) returns the name of element i
 * (used to compare and to rehash). */
size_t load_names_index(struct load_names *m, const char *name,
                        const char *(*name_of)(size_t i, void *ctx), void *ctx, bool *added);
/* The index of name, or -1 when it is not indexed. */
long load_names_find(const struct load_names *m, const char *name,
                     const char *(*name_of)(size_t i, void *ctx), void *ctx);
void load_names_free(struct load_names *m);

#endif
