/* Binary COPY rows read back into COPY text rows, for tests that check rows column by column.
 * An independent reader of PostgreSQL's binary tuple format: a field count, then per field a
 * big-endian int32 length (-1: NULL) and the bytes. Column types, one letter each:
 *   t timestamptz (int8 microseconds since 2000-01-01), s text, h int2, i int4, l int8,
 *   d float8 (as an integer when it is one, else %.17g), r float8 (shortest %.*g that reads
 *   back), j jsonb (version byte 1, then the JSON text); in upper case, a one-dimensional
 *   array of that type without NULLs, as COPY text writes it ({1,2}): H int2[], I int4[],
 *   L int8[], D float8[] (elements as d)
 * Text is written as COPY text writes it: tab-separated, \N for NULL, strings escaped, each
 * row ending in a newline. */
#ifndef REGRESSD_TEST_COPY_TEXT_H
#define REGRESSD_TEST_COPY_TEXT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../consumer/batch.h"
#include "regressd/sample.h"
#include "regressd/util.h"

static inline uint64_t copy_text_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void copy_text_real(struct buf *out, double d, int shortest)
{
    char s[40];
    if (!shortest && d > -0x1p53 && d < 0x1p53 && d == (double)(int64_t)d) {
        buf_printf(out, "%lld", (long long)d);
        return;
    }
    for (int prec = shortest ? 1 : 17; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    buf_append_str(out, s);
}

static inline int copy_text_field(struct buf *out, char type, const unsigned char *p, size_t n);

/* An array field (upper-case type): ndim, has-nulls flag, element type oid, then per dimension
 * its size and lower bound, then each element's length and bytes. 0, or -1 when malformed or of
 * another element type. */
static inline int copy_text_array(struct buf *out, char type, const unsigned char *p, size_t n)
{
    static const struct {
        char type, elem;
        uint32_t oid;
        size_t width;
    } kinds[] = {{'H', 'h', 21, 2}, {'I', 'i', 23, 4}, {'L', 'l', 20, 8}, {'D', 'd', 701, 8}};
    size_t k = 0;
    while (k < sizeof(kinds) / sizeof(kinds[0]) && kinds[k].type != type)
        k++;
    if (k == sizeof(kinds) / sizeof(kinds[0]) || n < 12 || copy_text_be(p, 4) > 1 ||
        copy_text_be(p + 4, 4) != 0 || copy_text_be(p + 8, 4) != kinds[k].oid)
        return -1;
    size_t count = 0, at = 12;
    if (copy_text_be(p, 4) == 1) {
        if (n < 20 || copy_text_be(p + 16, 4) != 1)
            return -1;
        count = copy_text_be(p + 12, 4);
        at = 20;
    }
    size_t w = kinds[k].width;
    if (count > (n - at) / (4 + w) || at + count * (4 + w) != n)
        return -1;
    buf_append_char(out, '{');
    for (size_t i = 0; i < count; i++, at += 4 + w) {
        if (copy_text_be(p + at, 4) != w)
            return -1;
        if (i)
            buf_append_char(out, ',');
        if (copy_text_field(out, kinds[k].elem, p + at + 4, w) != 0)
            return -1;
    }
    buf_append_char(out, '}');
    return 0;
}

/* One field of n bytes at p as text; 0, or -1 when its length does not fit its type. */
static inline int copy_text_field(struct buf *out, char type, const unsigned char *p, size_t n)
{
    static const size_t width[128] = {
        ['t'] = 8, ['h'] = 2, ['i'] = 4, ['l'] = 8, ['d'] = 8, ['r'] = 8};
    if (width[(unsigned char)type & 127] && n != width[(unsigned char)type & 127])
        return -1;
    union {
        uint64_t u;
        double d;
    } f;
    char ts[UTIL_TS_BUFLEN];
    switch (type) {
    case 't':
        util_format_ts((int64_t)copy_text_be(p, 8) + UTIL_PG_EPOCH_US, ts);
        buf_append_str(out, ts);
        return 0;
    case 's':
        copy_escape_append(out, (const char *)p, n);
        return 0;
    case 'h':
        buf_printf(out, "%d", (int)(int16_t)copy_text_be(p, 2));
        return 0;
    case 'i':
        buf_printf(out, "%d", (int)(int32_t)copy_text_be(p, 4));
        return 0;
    case 'l':
        buf_printf(out, "%lld", (long long)(int64_t)copy_text_be(p, 8));
        return 0;
    case 'd':
    case 'r':
        f.u = copy_text_be(p, 8);
        copy_text_real(out, f.d, type == 'r');
        return 0;
    case 'j':
        if (n < 1 || p[0] != 1)
            return -1;
        copy_escape_append(out, (const char *)p + 1, n - 1);
        return 0;
    }
    return copy_text_array(out, type, p, n);
}

/* Appends the rows in data[0..len) as text to out; returns the number of rows, or -1 when the
 * data is not a whole number of rows of those column types. */
static inline long copy_binary_to_text(const char *data, size_t len, const char *types,
                                       struct buf *out)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    size_t ncols = strlen(types);
    long rows = 0;
    while (p < end) {
        if (end - p < 2 || copy_text_be(p, 2) != ncols)
            return -1;
        p += 2;
        for (size_t c = 0; c < ncols; c++) {
            if (end - p < 4)
                return -1;
            uint32_t n = (uint32_t)copy_text_be(p, 4);
            p += 4;
            if (c)
                buf_append_char(out, '\t');
            if (n == UINT32_MAX) {
                buf_append(out, "\\N", 2);
                continue;
            }
            if ((size_t)(end - p) < n || copy_text_field(out, types[c], p, n) != 0)
                return -1;
            p += n;
        }
        buf_append_char(out, '\n');
        rows++;
    }
    return rows;
}

/* The column types of a samples row (SAMPLE_COPY_COLUMNS) and of the rollup tables' rows
 * (consumer/rollup.h). */
#define COPY_TEXT_SAMPLES "tssssillllhsssrj"
#define COPY_TEXT_ROLLUPS "ssstHLDDLDDDD"
#define COPY_TEXT_ROLLUP_USERS "sstI"
#define COPY_TEXT_ROLLUP_FLAGS "sssstHLDLD"
#define COPY_TEXT_ROLLUP_FLAG_USERS "ssstI"

/* Appends the binary rows of src, read as text, to dst; the number of rows or -1. */
static inline long copy_text_append(struct buf *dst, const struct buf *src, const char *types)
{
    return copy_binary_to_text(src->data, src->len, types, dst);
}

/* Appends bin's rollup rows (all four tables), read as text, to bt's and adds their counts;
 * -1 when a table's rows do not read back as its count of rows. */
static inline int copy_text_rollups(struct batch *bt, const struct batch *bin)
{
    if (copy_text_append(&bt->rollups, &bin->rollups, COPY_TEXT_ROLLUPS) != (long)bin->n_rollups ||
        copy_text_append(&bt->users, &bin->users, COPY_TEXT_ROLLUP_USERS) != (long)bin->n_users ||
        copy_text_append(&bt->flags, &bin->flags, COPY_TEXT_ROLLUP_FLAGS) != (long)bin->n_flags ||
        copy_text_append(&bt->flag_users, &bin->flag_users, COPY_TEXT_ROLLUP_FLAG_USERS) !=
            (long)bin->n_flag_users)
        return -1;
    bt->n_rollups += bin->n_rollups;
    bt->n_users += bin->n_users;
    bt->n_flags += bin->n_flags;
    bt->n_flag_users += bin->n_flag_users;
    return 0;
}

#endif
