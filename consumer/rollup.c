/* Four hash tables, all rebuilt for every batch:
 *   sums:       (service, endpoint, commit, minute, bucket) -> requests, sums, sums of squares
 *   users:      (service, commit, minute) -> the user hashes seen (deduplicated when rendered)
 *   flags:      (service, endpoint, flag, value, block, bucket) -> requests and sums
 *   flag_users: (service, flag, value, block) -> the user hashes seen
 * Keys are byte strings in an arena; entries refer to them by offset. One probe per sample in
 * each of the first two tables, and per flag of the sample in each of the other two, keeps the
 * per-sample cost small next to JSON parsing; a sample without flags costs one branch more. */
#include "rollup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sums {
    int64_t requests, latency_n;
    double instructions, instructions_sq, latency, latency_sq, db, cache;
};

struct entry {
    uint32_t hash;
    uint32_t key_off, key_len;
    union {
        struct sums s;
        struct {
            uint32_t *hashes;
            size_t n, cap;
        } u;
    };
};

struct table {
    struct entry *entries;
    size_t n, cap;
    uint64_t *slots; /* hash << 32 | (index + 1) into entries; 0 = empty */
    size_t n_slots;
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
    return xcalloc(1, sizeof(struct rollup));
}

static void table_clear(struct table *t, bool users)
{
    if (users)
        for (size_t i = 0; i < t->n; i++)
            free(t->entries[i].u.hashes);
    t->n = 0;
    if (t->slots)
        memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
}

static void table_free(struct table *t, bool users)
{
    table_clear(t, users);
    free(t->entries);
    free(t->slots);
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
    }
    struct entry *e = &t->entries[t->n++];
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->key_off = (uint32_t)r->arena.len;
    e->key_len = (uint32_t)key->len;
    buf_append(&r->arena, key->data, key->len);
    t->slots[s] = (uint64_t)h << 32 | (uint64_t)t->n;
    return e;
}

/* Keys are strings, each followed by NUL, then the time (8 bytes) and, in the sums tables, the
 * bucket (1 byte):
 *   sums:       service, endpoint, commit | minute | bucket
 *   users:      service, commit | minute
 *   flags:      service, endpoint, flag, value | block | bucket
 *   flag_users: service, flag, value | block
 * Validation rejects NUL in every one of these strings, so keys are unambiguous. */
static void key_str(struct buf *k, const char *s, size_t len)
{
    buf_reserve(k, len + 1);
    memcpy(k->data + k->len, s, len);
    k->data[k->len + len] = '\0';
    k->len += len + 1;
}

static void key_end(struct buf *k, int64_t t, int bucket)
{
    buf_append(k, &t, sizeof(t));
    if (bucket >= 0)
        buf_append_char(k, (char)bucket);
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
        key_end(&r->key, block, bucket);
        sums_add(&table_get(r, &r->flags, &r->key)->s, m);

        buf_reset(&r->key);
        key_str(&r->key, m->service, m->service_len);
        key_str(&r->key, flag, flag_len);
        key_str(&r->key, value, value_len);
        key_end(&r->key, block, -1);
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
    key_end(&r->key, minute, bucket);
    sums_add(&table_get(r, &r->sums, &r->key)->s, m);

    buf_reset(&r->key);
    key_str(&r->key, m->service, m->service_len);
    key_str(&r->key, m->commit, m->commit_len);
    key_end(&r->key, minute, -1);
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
                        const struct table *st, bool users)
{
    for (size_t i = 0; i < st->n; i++) {
        const struct entry *se = &st->entries[i];
        buf_reset(&dst->key);
        buf_append(&dst->key, src->arena.data + se->key_off, se->key_len);
        struct entry *de = table_get(dst, dt, &dst->key);
        if (!users) {
            sums_merge(&de->s, &se->s);
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
    merge_table(dst, &dst->sums, src, &src->sums, false);
    merge_table(dst, &dst->users, src, &src->users, true);
    merge_table(dst, &dst->flags, src, &src->flags, false);
    merge_table(dst, &dst->flag_users, src, &src->flag_users, true);
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

static void field_i16(struct buf *out, int v)
{
    put_be(out, 2, 4);
    put_be(out, (uint16_t)v, 2);
}

static void field_i64(struct buf *out, int64_t v)
{
    put_be(out, 8, 4);
    put_be(out, (uint64_t)v, 8);
}

static void field_f64(struct buf *out, double d)
{
    union {
        double d;
        uint64_t u;
    } bits = {.d = d};
    put_be(out, 8, 4);
    put_be(out, bits.u, 8);
}

/* The field count, then the key's first n strings and its time. Returns what follows the time
 * in the key (the bucket, in the sums tables). */
static const char *put_key_columns(struct buf *out, int ncols, const char *key, int n)
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
    field_i64(out, t - UTIL_PG_EPOCH_US); /* timestamptz */
    return key + sizeof(t);
}

static void render_sums(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->sums.n; i++) {
        const struct entry *e = &r->sums.entries[i];
        const struct sums *s = &e->s;
        const char *rest = put_key_columns(out, ROLLUP_NCOLUMNS, r->arena.data + e->key_off, 3);
        field_i16(out, (unsigned char)*rest);
        field_i64(out, s->requests);
        field_f64(out, s->instructions);
        field_f64(out, s->instructions_sq);
        field_i64(out, s->latency_n);
        field_f64(out, s->latency);
        field_f64(out, s->latency_sq);
        field_f64(out, s->db);
        field_f64(out, s->cache);
    }
}

static void render_flag_sums(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->flags.n; i++) {
        const struct entry *e = &r->flags.entries[i];
        const struct sums *s = &e->s;
        const char *rest =
            put_key_columns(out, ROLLUP_FLAGS_NCOLUMNS, r->arena.data + e->key_off, 4);
        field_i16(out, (unsigned char)*rest);
        field_i64(out, s->requests);
        field_f64(out, s->instructions);
        field_i64(out, s->latency_n);
        field_f64(out, s->latency);
    }
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
 * an int4[] (binary: dimensions, no-nulls flag, element type int4, size and lower bound, then
 * each element's length and value; int4 holds the uint32 hash's bits, as samples.user_hash
 * does). */
static void render_sets(struct rollup *r, struct table *t, int n, struct buf *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->entries[i];
        sort_hashes(r, e->u.hashes, e->u.n);
        put_key_columns(out, n + 2, r->arena.data + e->key_off, n);
        size_t distinct = 0;
        for (size_t j = 0; j < e->u.n; j++)
            distinct += j == 0 || e->u.hashes[j] != e->u.hashes[j - 1];
        put_be(out, 20 + 8 * distinct, 4);
        put_be(out, 1, 4);
        put_be(out, 0, 4);
        put_be(out, 23, 4); /* int4's type oid */
        put_be(out, distinct, 4);
        put_be(out, 1, 4);
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
