/* Four hash tables, all rebuilt for every batch:
 *   sums:       (service, endpoint, commit, minute) -> per user bucket: requests, sums, sums of
 *               squares
 *   users:      (service, commit, minute) -> the user hashes seen (deduplicated when rendered)
 *   flags:      (service, endpoint, flag, value, block) -> per user bucket: requests and sums
 *   flag_users: (service, flag, value, block) -> the user hashes seen
 * Keys are byte strings in an arena; entries refer to them by offset. A sums entry holds the
 * index of each of its non-empty buckets' sums (the table's pool), so a key costs 256 bytes and
 * only the buckets that occur cost more. One probe per sample in each of the first two tables,
 * and per flag of the sample in each of the other two, keeps the per-sample cost small next to
 * JSON parsing; a sample without flags costs one branch more. A sums key is one row, its buckets
 * arrays (see rollup.h). */
#include "rollup.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sums {
    int64_t requests, latency_n;
    double instructions, instructions_sq, latency, latency_sq, db, cache;
};

/* A sums key's buckets (the table's buckets[i] for entries[i]): which are non-empty, and where
 * their sums are in the table's pool. */
struct buckets {
    uint64_t mask;               /* bit b: bucket b is non-empty */
    uint32_t at[ROLLUP_BUCKETS]; /* index into the table's sums (valid where mask has b) */
};

struct entry {
    uint32_t hash;
    uint32_t key_off, key_len;
    struct {
        uint32_t *hashes;
        size_t n, cap;
    } u; /* users tables */
};

struct table {
    struct entry *entries;
    size_t n, cap;
    uint64_t *slots; /* hash << 32 | (index + 1) into entries; 0 = empty */
    size_t n_slots;
    bool has_buckets;        /* a sums table */
    struct buckets *buckets; /* sums tables: one per entry, cap of them */
    struct sums *sums;       /* sums tables: one per non-empty (entry, bucket) */
    size_t n_sums, cap_sums;
};

struct rollup {
    struct buf arena;
    struct buf key;
    struct table sums;       /* entries' s */
    struct table users;      /* entries' u */
    struct table flags;      /* entries' s */
    struct table flag_users; /* entries' u */
    uint32_t *scratch;       /* sort_hashes' */
    size_t scratch_cap;
};

struct rollup *rollup_new(void)
{
    struct rollup *r = xcalloc(1, sizeof(struct rollup));
    r->sums.has_buckets = true;
    r->flags.has_buckets = true;
    return r;
}

static void table_clear(struct table *t, bool users)
{
    if (users)
        for (size_t i = 0; i < t->n; i++)
            free(t->entries[i].u.hashes);
    t->n = 0;
    t->n_sums = 0;
    if (t->slots)
        memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
}

static void table_free(struct table *t, bool users)
{
    table_clear(t, users);
    free(t->entries);
    free(t->slots);
    free(t->buckets);
    free(t->sums);
}

void rollup_reset(struct rollup *r)
{
    table_clear(&r->sums, false);
    table_clear(&r->users, true);
    table_clear(&r->flags, false);
    table_clear(&r->flag_users, true);
    buf_reset(&r->arena);
}

void rollup_free(struct rollup *r)
{
    if (!r)
        return;
    table_free(&r->sums, false);
    table_free(&r->users, true);
    table_free(&r->flags, false);
    table_free(&r->flag_users, true);
    buf_free(&r->arena);
    buf_free(&r->key);
    free(r->scratch);
    free(r);
}

static void table_rehash(struct table *t)
{
    t->n_slots = t->n_slots ? t->n_slots * 2 : 1024;
    free(t->slots);
    t->slots = xcalloc(t->n_slots, sizeof(*t->slots));
    for (size_t i = 0; i < t->n; i++) {
        size_t s = t->entries[i].hash & (t->n_slots - 1);
        while (t->slots[s])
            s = (s + 1) & (t->n_slots - 1);
        t->slots[s] = (uint64_t)t->entries[i].hash << 32 | ((uint64_t)i + 1);
    }
}

/* The entry for key, created zeroed when missing. */
static struct entry *table_get(struct rollup *r, struct table *t, const struct buf *key)
{
    if ((t->n + 1) * 2 > t->n_slots)
        table_rehash(t);
    uint32_t h = util_hash_mem(key->data, key->len);
    size_t s = h & (t->n_slots - 1);
    /* The hash in the slot spares a look at the entries of other keys. */
    for (; t->slots[s]; s = (s + 1) & (t->n_slots - 1)) {
        if ((uint32_t)(t->slots[s] >> 32) != h)
            continue;
        struct entry *e = &t->entries[(uint32_t)t->slots[s] - 1];
        if (e->key_len == key->len && memcmp(r->arena.data + e->key_off, key->data, key->len) == 0)
            return e;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->entries = xrealloc(t->entries, t->cap * sizeof(*t->entries));
        if (t->has_buckets)
            t->buckets = xrealloc(t->buckets, t->cap * sizeof(*t->buckets));
    }
    if (t->has_buckets)
        t->buckets[t->n].mask = 0;
    struct entry *e = &t->entries[t->n++];
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->key_off = (uint32_t)r->arena.len;
    e->key_len = (uint32_t)key->len;
    buf_append(&r->arena, key->data, key->len);
    t->slots[s] = (uint64_t)h << 32 | (uint64_t)t->n;
    return e;
}

/* The sums of bucket b of a sums table's entry, created zeroed when missing. */
static struct sums *bucket_sums(struct table *t, const struct entry *e, int b)
{
    struct buckets *k = &t->buckets[e - t->entries];
    uint64_t bit = UINT64_C(1) << b;
    if (k->mask & bit)
        return &t->sums[k->at[b]];
    if (t->n_sums == t->cap_sums) {
        t->cap_sums = t->cap_sums ? t->cap_sums * 2 : 1024;
        t->sums = xrealloc(t->sums, t->cap_sums * sizeof(*t->sums));
    }
    k->mask |= bit;
    k->at[b] = (uint32_t)t->n_sums;
    struct sums *s = &t->sums[t->n_sums++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* Keys are strings, each followed by NUL, then the time (8 bytes):
 *   sums:       service, endpoint, commit | minute
 *   users:      service, commit | minute
 *   flags:      service, endpoint, flag, value | block
 *   flag_users: service, flag, value | block
 * Validation rejects NUL in every one of these strings, so keys are unambiguous. */
static void key_str(struct buf *k, const char *s, size_t len)
{
    buf_reserve(k, len + 1);
    memcpy(k->data + k->len, s, len);
    k->data[k->len + len] = '\0';
    k->len += len + 1;
}

static void key_end(struct buf *k, int64_t t)
{
    buf_append(k, &t, sizeof(t));
}

/* ts_us rounded down to a multiple of unit_us, also before 1970. */
static int64_t floor_to(int64_t ts_us, int64_t unit_us)
{
    int64_t q = ts_us / unit_us;
    if (ts_us % unit_us < 0)
        q--;
    return q * unit_us;
}

static void sums_add(struct sums *s, const struct sample_meta *m)
{
    double instr = (double)m->instructions;
    s->requests++;
    s->instructions += instr;
    s->instructions_sq += instr * instr;
    if (m->latency_us >= 0) {
        double lat = (double)m->latency_us;
        s->latency_n++;
        s->latency += lat;
        s->latency_sq += lat * lat;
    }
    s->db += m->db_us > 0 ? (double)m->db_us : 0;
    s->cache += m->cache_us > 0 ? (double)m->cache_us : 0;
}

static void set_add(struct entry *e, uint32_t user_hash)
{
    if (e->u.n == e->u.cap) {
        e->u.cap = e->u.cap ? e->u.cap * 2 : 8;
        e->u.hashes = xrealloc(e->u.hashes, e->u.cap * sizeof(uint32_t));
    }
    e->u.hashes[e->u.n++] = user_hash;
}

/* One entry in each flag table per flag of the sample, under the flag's value as stored in
 * samples.flags (sample_flag_value_text), so that the rollups group exactly as
 * jsonb_each_text(samples.flags) does. */
static void add_flags(struct rollup *r, const struct sample_meta *m, int bucket)
{
    int64_t block = floor_to(m->ts_us, ROLLUP_BLOCK_US);
    json_t *o = (json_t *)m->flags; /* jansson's iterator API is not const-correct */
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        char text[SAMPLE_FLAG_TEXT_BUFLEN];
        const char *value;
        size_t value_len;
        /* Cannot fail on a sample that sample_format_row accepted. */
        if (sample_flag_value_text(json_object_iter_value(it), text, &value, &value_len) != 0)
            continue;
        const char *flag = json_object_iter_key(it);
        size_t flag_len = json_object_iter_key_len(it);
        buf_reset(&r->key);
        key_str(&r->key, m->service, m->service_len);
        key_str(&r->key, m->endpoint, m->endpoint_len);
        key_str(&r->key, flag, flag_len);
        key_str(&r->key, value, value_len);
        key_end(&r->key, block);
        sums_add(bucket_sums(&r->flags, table_get(r, &r->flags, &r->key), bucket), m);

        buf_reset(&r->key);
        key_str(&r->key, m->service, m->service_len);
        key_str(&r->key, flag, flag_len);
        key_str(&r->key, value, value_len);
        key_end(&r->key, block);
        set_add(table_get(r, &r->flag_users, &r->key), m->user_hash);
    }
}

void rollup_add(struct rollup *r, const struct sample_meta *m)
{
    int64_t minute = floor_to(m->ts_us, ROLLUP_MINUTE_US);
    int bucket = (int)(m->user_hash & (ROLLUP_BUCKETS - 1));
    buf_reset(&r->key);
    key_str(&r->key, m->service, m->service_len);
    key_str(&r->key, m->endpoint, m->endpoint_len);
    key_str(&r->key, m->commit, m->commit_len);
    key_end(&r->key, minute);
    sums_add(bucket_sums(&r->sums, table_get(r, &r->sums, &r->key), bucket), m);

    buf_reset(&r->key);
    key_str(&r->key, m->service, m->service_len);
    key_str(&r->key, m->commit, m->commit_len);
    key_end(&r->key, minute);
    set_add(table_get(r, &r->users, &r->key), m->user_hash);

    if (m->flags)
        add_flags(r, m, bucket);
}

static void sums_merge(struct sums *d, const struct sums *s)
{
    d->requests += s->requests;
    d->latency_n += s->latency_n;
    d->instructions += s->instructions;
    d->instructions_sq += s->instructions_sq;
    d->latency += s->latency;
    d->latency_sq += s->latency_sq;
    d->db += s->db;
    d->cache += s->cache;
}

static void merge_table(struct rollup *dst, struct table *dt, const struct rollup *src,
                        const struct table *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const struct entry *se = &st->entries[i];
        buf_reset(&dst->key);
        buf_append(&dst->key, src->arena.data + se->key_off, se->key_len);
        struct entry *de = table_get(dst, dt, &dst->key);
        if (st->has_buckets) {
            const struct buckets *sk = &st->buckets[i];
            for (uint64_t m = sk->mask; m; m &= m - 1) {
                int b = __builtin_ctzll(m);
                sums_merge(bucket_sums(dt, de, b), &st->sums[sk->at[b]]);
            }
            continue;
        }
        if (de->u.cap < de->u.n + se->u.n) {
            de->u.cap = de->u.n + se->u.n;
            de->u.hashes = xrealloc(de->u.hashes, de->u.cap * sizeof(uint32_t));
        }
        if (se->u.n > 0)
            memcpy(de->u.hashes + de->u.n, se->u.hashes, se->u.n * sizeof(uint32_t));
        de->u.n += se->u.n;
    }
}

void rollup_merge(struct rollup *dst, struct rollup *src)
{
    merge_table(dst, &dst->sums, src, &src->sums);
    merge_table(dst, &dst->users, src, &src->users);
    merge_table(dst, &dst->flags, src, &src->flags);
    merge_table(dst, &dst->flag_users, src, &src->flag_users);
    rollup_reset(src);
}

/* Binary COPY (see sample.h): every field a big-endian int32 length and the bytes in the
 * type's binary form; numbers and times need no formatting here and no parsing on the server. */
static void put_be(struct buf *out, uint64_t v, int bytes)
{
    buf_reserve(out, (size_t)bytes);
    for (int i = bytes - 1; i >= 0; i--)
        out->data[out->len++] = (char)(v >> (8 * i));
}

/* The field count, then the key's first n strings and its time. */
static void put_key_columns(struct buf *out, int ncols, const char *key, int n)
{
    put_be(out, (uint64_t)ncols, 2);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(key);
        put_be(out, len, 4);
        buf_append(out, key, len);
        key += len + 1;
    }
    int64_t t;
    memcpy(&t, key, sizeof(t));
    put_be(out, 8, 4);
    put_be(out, (uint64_t)(t - UTIL_PG_EPOCH_US), 8); /* timestamptz */
}

/* The header of a one-dimensional array field of n elements without NULLs: the field's length,
 * the number of dimensions, the has-nulls flag, the element type, then the dimension's size and
 * lower bound. Each element follows as its length and its bytes. */
static void put_array_header(struct buf *out, size_t n, uint32_t type_oid, size_t width)
{
    put_be(out, 20 + n * (4 + width), 4);
    put_be(out, 1, 4);
    put_be(out, 0, 4);
    put_be(out, type_oid, 4);
    put_be(out, n, 4);
    put_be(out, 1, 4);
}

#define OID_INT2 21
#define OID_INT4 23
#define OID_INT8 20
#define OID_FLOAT8 701

/* A sums column as an array: where it is in struct sums, and its element type. Every sum is 8
 * bytes, an int64 or a double, whose bits are the binary form of int8 or float8. */
struct sums_column {
    size_t offset;
    uint32_t type_oid;
};
_Static_assert(sizeof(int64_t) == 8 && sizeof(double) == 8, "every sum is 8 bytes");

#define SUMS_COLUMN(field, oid)                                                                    \
    {                                                                                              \
        offsetof(struct sums, field), oid                                                          \
    }

/* One array field: column c of each non-empty bucket of k, in bucket order. */
static void put_sums_array(struct buf *out, const struct table *t, const struct buckets *k,
                           size_t n, const struct sums_column *c)
{
    put_array_header(out, n, c->type_oid, 8);
    buf_reserve(out, n * 12);
    for (uint64_t m = k->mask; m; m &= m - 1) {
        uint64_t v;
        memcpy(&v, (const char *)&t->sums[k->at[__builtin_ctzll(m)]] + c->offset, sizeof(v));
        put_be(out, 8, 4);
        put_be(out, v, 8);
    }
}

/* Rows of a sums table: the key's n strings and its time, the non-empty buckets as an int2[],
 * then one array per column in cols, aligned with the buckets. */
static void render_bucket_rows(struct rollup *r, const struct table *t, int n,
                               const struct sums_column *cols, int ncols, struct buf *out)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct entry *e = &t->entries[i];
        const struct buckets *k = &t->buckets[i];
        size_t nb = (size_t)__builtin_popcountll(k->mask);
        put_key_columns(out, n + 2 + ncols, r->arena.data + e->key_off, n);
        put_array_header(out, nb, OID_INT2, 2);
        buf_reserve(out, nb * 6);
        for (uint64_t m = k->mask; m; m &= m - 1) {
            put_be(out, 2, 4);
            put_be(out, (uint64_t)__builtin_ctzll(m), 2);
        }
        for (int c = 0; c < ncols; c++)
            put_sums_array(out, t, k, nb, &cols[c]);
    }
}

static void render_sums(struct rollup *r, struct buf *out)
{
    static const struct sums_column cols[] = {SUMS_COLUMN(requests, OID_INT8),
                                              SUMS_COLUMN(instructions, OID_FLOAT8),
                                              SUMS_COLUMN(instructions_sq, OID_FLOAT8),
                                              SUMS_COLUMN(latency_n, OID_INT8),
                                              SUMS_COLUMN(latency, OID_FLOAT8),
                                              SUMS_COLUMN(latency_sq, OID_FLOAT8),
                                              SUMS_COLUMN(db, OID_FLOAT8),
                                              SUMS_COLUMN(cache, OID_FLOAT8)};
    render_bucket_rows(r, &r->sums, 3, cols, REGRESSD_ARRAY_LEN(cols), out);
}

static void render_flag_sums(struct rollup *r, struct buf *out)
{
    static const struct sums_column cols[] = {
        SUMS_COLUMN(requests, OID_INT8), SUMS_COLUMN(instructions, OID_FLOAT8),
        SUMS_COLUMN(latency_n, OID_INT8), SUMS_COLUMN(latency, OID_FLOAT8)};
    render_bucket_rows(r, &r->flags, 4, cols, REGRESSD_ARRAY_LEN(cols), out);
}

/* Sorts a[0..n) ascending: insertion sort when short, else an LSD radix sort by bytes through
 * the rollup's scratch array (the flag users' arrays hold a batch's worth of hashes; qsort's
 * comparison calls would cost more than the rest of their rendering). */
static void sort_hashes(struct rollup *r, uint32_t *a, size_t n)
{
    if (n < 64) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > x; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    if (r->scratch_cap < n) {
        free(r->scratch);
        r->scratch_cap = n;
        r->scratch = xmalloc(n * sizeof(*r->scratch));
    }
    uint32_t *from = a, *to = r->scratch;
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(from[i] >> shift) & 255]++;
        for (size_t d = 0, sum = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i] >> shift) & 255]++] = from[i];
        uint32_t *t = from;
        from = to;
        to = t;
    }
    /* An even number of passes: the result is back in a. */
}

/* Rows of a users table: its key's n strings, the time, then the distinct hashes in order as
 * an int4[] (int4 holds the uint32 hash's bits, as samples.user_hash does). */
static void render_sets(struct rollup *r, struct table *t, int n, struct buf *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->entries[i];
        sort_hashes(r, e->u.hashes, e->u.n);
        put_key_columns(out, n + 2, r->arena.data + e->key_off, n);
        size_t distinct = 0;
        for (size_t j = 0; j < e->u.n; j++)
            distinct += j == 0 || e->u.hashes[j] != e->u.hashes[j - 1];
        put_array_header(out, distinct, OID_INT4, 4);
        buf_reserve(out, 8 * distinct);
        char *p = out->data + out->len;
        for (size_t j = 0; j < e->u.n; j++) {
            if (j > 0 && e->u.hashes[j] == e->u.hashes[j - 1])
                continue;
            uint32_t h = e->u.hashes[j];
            memcpy(p, "\0\0\0\4", 4);
            p[4] = (char)(h >> 24);
            p[5] = (char)(h >> 16);
            p[6] = (char)(h >> 8);
            p[7] = (char)h;
            p += 8;
        }
        out->len = (size_t)(p - out->data);
    }
}

void rollup_render(struct rollup *r, struct batch *b)
{
    render_sums(r, &b->rollups);
    render_sets(r, &r->users, 2, &b->users);
    render_flag_sums(r, &b->flags);
    render_sets(r, &r->flag_users, 3, &b->flag_users);
    b->n_rollups += r->sums.n;
    b->n_users += r->users.n;
    b->n_flags += r->flags.n;
    b->n_flag_users += r->flag_users.n;
    rollup_reset(r);
}
