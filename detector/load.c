/* See load.h. */
#include "load.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/util.h"

_Static_assert(LOAD_MAX_BUCKETS == DETECTOR_MAX_BUCKETS, "bucket arrays of the rollup tables");

#define OID_FLOAT8 701

uint32_t load_be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

int64_t load_be64(const char *p)
{
    uint64_t hi = load_be32(p), lo = load_be32(p + 4);
    return (int64_t)(hi << 32 | lo);
}

int load_array(const char *p, int len, double *out, int max, int *n)
{
    *n = 0;
    if (len >= 12 && load_be32(p) == 0)
        return 0; /* empty */
    if (len < 20 || load_be32(p) != 1 || (int)load_be32(p + 12) > max)
        return -1;
    uint32_t oid = load_be32(p + 8), count = load_be32(p + 12);
    const char *q = p + 20, *end = p + len;
    for (uint32_t i = 0; i < count; i++) {
        if (q + 4 > end)
            return -1;
        uint32_t elen = load_be32(q);
        if ((elen != 2 && elen != 8) || q + 4 + elen > end)
            return -1; /* NULL elements have length -1 */
        q += 4;
        if (elen == 2) {
            out[i] = (double)(int16_t)(((unsigned char)q[0] << 8) | (unsigned char)q[1]);
        } else if (oid == OID_FLOAT8) {
            uint64_t bits = (uint64_t)load_be64(q);
            memcpy(&out[i], &bits, sizeof(bits));
        } else {
            out[i] = (double)load_be64(q);
        }
        q += elen;
    }
    *n = (int)count;
    return 0;
}

int load_bucket_arrays(const PGresult *res, int row, int first, int ncols,
                       double (*a)[LOAD_MAX_BUCKETS], int *n, const char *table, char *err,
                       size_t errlen)
{
    for (int c = 0; c < ncols; c++) {
        int len;
        if (load_array(PQgetvalue(res, row, first + c), PQgetlength(res, row, first + c), a[c],
                       LOAD_MAX_BUCKETS, &len) < 0 ||
            (c > 0 && len != *n)) {
            snprintf(err, errlen, "%s: malformed bucket arrays", table);
            return -1;
        }
        *n = len;
    }
    return 0;
}

int load_binary_rows(PGconn *conn, const char *sql, int nparams, const char *const *params,
                     load_row_fn *row, void *ctx, const char *table, char *err, size_t errlen)
{
    PGresult *res = db_query_binary(conn, sql, nparams, params, err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = row(ctx, res, i, table);
    PQclear(res);
    return rc;
}

int load_hashes(const char *p, int len, struct uset *a, struct uset *b, char *err, size_t errlen)
{
    if (len < 12 || load_be32(p) == 0)
        return 0; /* empty array */
    if (load_be32(p) != 1 || len < 20) {
        snprintf(err, errlen, "user_hashes: unexpected array shape");
        return -1;
    }
    uint32_t n = load_be32(p + 12);
    const char *q = p + 20, *end = p + len;
    for (uint32_t i = 0; i < n; i++, q += 8) {
        if (q + 8 > end || load_be32(q) != 4) {
            snprintf(err, errlen, "user_hashes: truncated or NULL element");
            return -1;
        }
        uint32_t h = load_be32(q + 4);
        uset_add(a, h);
        if (b)
            uset_add(b, h);
    }
    return 0;
}

static void names_grow(struct load_names *m, const char *(*name_of)(size_t, void *), void *ctx)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));
    for (size_t i = 0; i < m->n; i++) {
        const char *s = name_of(i, ctx);
        size_t j = util_hash32(s, strlen(s)) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

size_t load_names_index(struct load_names *m, const char *name,
                        const char *(*name_of)(size_t i, void *ctx), void *ctx, bool *added)
{
    *added = false;
    if (2 * (m->n + 1) > m->cap)
        names_grow(m, name_of, ctx);
    size_t j = util_hash32(name, strlen(name)) & (m->cap - 1);
    for (; m->slots[j]; j = (j + 1) & (m->cap - 1))
        if (strcmp(name_of(m->slots[j] - 1, ctx), name) == 0)
            return m->slots[j] - 1;
    m->slots[j] = (uint32_t)++m->n;
    *added = true;
    return m->n - 1;
}

long load_names_find(const struct load_names *m, const char *name,
                     const char *(*name_of)(size_t i, void *ctx), void *ctx)
{
    if (m->cap == 0)
        return -1;
    size_t j = util_hash32(name, strlen(name)) & (m->cap - 1);
    for (; m->slots[j]; j = (j + 1) & (m->cap - 1))
        if (strcmp(name_of(m->slots[j] - 1, ctx), name) == 0)
            return (long)m->slots[j] - 1;
    return -1;
}

void load_names_free(struct load_names *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}
