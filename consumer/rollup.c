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
    uint32_t *slots; /* index + 1 into entries; 0 = empty */
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
        t->slots[s] = (uint32_t)i + 1;
    }
}

/* The entry for key, created zeroed when missing. */
static struct entry *table_get(struct rollup *r, struct table *t, const struct buf *key)
{
    if ((t->n + 1) * 2 > t->n_slots)
        table_rehash(t);
    uint32_t h = util_hash32(key->data, key->len);
    size_t s = h & (t->n_slots - 1);
    for (; t->slots[s]; s = (s + 1) & (t->n_slots - 1)) {
        struct entry *e = &t->entries[t->slots[s] - 1];
        if (e->hash == h && e->key_len == key->len &&
            memcmp(r->arena.data + e->key_off, key->data, key->len) == 0)
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
    t->slots[s] = (uint32_t)t->n;
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

/* Appends the key's first n strings COPY-escaped and its time, each followed by a tab. Returns
 * what follows the time in the key (the bucket, in the sums tables). */
static const char *put_key_columns(struct buf *out, const char *key, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(key);
        copy_escape_append(out, key, len);
        buf_append_char(out, '\t');
        key += len + 1;
    }
    int64_t t;
    memcpy(&t, key, sizeof(t));
    char ts[UTIL_TS_BUFLEN];
    util_format_ts(t, ts);
    buf_append_str(out, ts);
    buf_append_char(out, '\t');
    return key + sizeof(t);
}

/* Appends sep (when not NUL) and v in decimal. printf would be most of the rendering time. */
static void put_int(struct buf *out, char sep, int64_t v)
{
    buf_reserve(out, 22);
    if (sep)
        out->data[out->len++] = sep;
    out->len += util_format_i64(out->data + out->len, v);
}

/* Appends sep and d as text that reads back as the same double. Sums of integer fields are
 * integers below 2^53 as a rule: those are written as integers, which is what "%.17g" would
 * write too, only faster. */
static void put_num(struct buf *out, char sep, double d)
{
    if (d > -0x1p53 && d < 0x1p53 && d == (double)(int64_t)d)
        put_int(out, sep, (int64_t)d);
    else
        buf_printf(out, "%c%.17g", sep, d);
}

static void render_sums(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->sums.n; i++) {
        const struct entry *e = &r->sums.entries[i];
        const struct sums *s = &e->s;
        const char *rest = put_key_columns(out, r->arena.data + e->key_off, 3);
        put_int(out, 0, (unsigned char)*rest);
        put_int(out, '\t', s->requests);
        put_num(out, '\t', s->instructions);
        put_num(out, '\t', s->instructions_sq);
        put_int(out, '\t', s->latency_n);
        put_num(out, '\t', s->latency);
        put_num(out, '\t', s->latency_sq);
        put_num(out, '\t', s->db);
        put_num(out, '\t', s->cache);
        buf_append_char(out, '\n');
    }
}

static void render_flag_sums(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->flags.n; i++) {
        const struct entry *e = &r->flags.entries[i];
        const struct sums *s = &e->s;
        const char *rest = put_key_columns(out, r->arena.data + e->key_off, 4);
        put_int(out, 0, (unsigned char)*rest);
        put_int(out, '\t', s->requests);
        put_num(out, '\t', s->instructions);
        put_int(out, '\t', s->latency_n);
        put_num(out, '\t', s->latency);
        buf_append_char(out, '\n');
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

/* Rows of a users table: its key's n strings, the time, then the distinct hashes in order. */
static void render_sets(struct rollup *r, struct table *t, int n, struct buf *out)
{
    for (size_t i = 0; i < t->n; i++) {
        struct entry *e = &t->entries[i];
        sort_hashes(r, e->u.hashes, e->u.n);
        put_key_columns(out, r->arena.data + e->key_off, n);
        buf_append_char(out, '{');
        for (size_t j = 0; j < e->u.n; j++) {
            if (j > 0 && e->u.hashes[j] == e->u.hashes[j - 1])
                continue;
            /* int4[] holds the uint32 hash's bits, as the samples.user_hash column does. */
            put_int(out, j ? ',' : 0, (int32_t)e->u.hashes[j]);
        }
        buf_append(out, "}\n", 2);
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
