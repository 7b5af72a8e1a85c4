/* Two hash tables, both rebuilt for every batch:
 *   sums:  (service, endpoint, commit, minute, bucket) -> requests, sums and sums of squares
 *   users: (service, commit, minute) -> the user hashes seen (deduplicated when rendered)
 * Keys are byte strings in an arena; entries refer to them by offset. One probe per sample in
 * each table keeps the per-sample cost small next to JSON parsing. */
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
    struct table sums;
    struct table users;
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

void rollup_reset(struct rollup *r)
{
    table_clear(&r->sums, false);
    table_clear(&r->users, true);
    buf_reset(&r->arena);
}

void rollup_free(struct rollup *r)
{
    if (!r)
        return;
    rollup_reset(r);
    free(r->sums.entries);
    free(r->sums.slots);
    free(r->users.entries);
    free(r->users.slots);
    buf_free(&r->arena);
    buf_free(&r->key);
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

/* Key layout: service NUL endpoint NUL commit NUL, then the minute (8 bytes) and, for sums,
 * the bucket (1 byte). Validation rejects NUL in every string, so keys are unambiguous. The
 * users table leaves the endpoint empty. */
static void make_key(struct buf *k, const struct sample_meta *m, bool with_endpoint, int64_t minute,
                     int bucket)
{
    buf_reset(k);
    buf_append(k, m->service, m->service_len);
    buf_append_char(k, '\0');
    if (with_endpoint)
        buf_append(k, m->endpoint, m->endpoint_len);
    buf_append_char(k, '\0');
    buf_append(k, m->commit, m->commit_len);
    buf_append_char(k, '\0');
    buf_append(k, &minute, sizeof(minute));
    if (bucket >= 0)
        buf_append_char(k, (char)bucket);
}

static int64_t minute_of(int64_t ts_us)
{
    int64_t q = ts_us / ROLLUP_MINUTE_US;
    if (ts_us % ROLLUP_MINUTE_US < 0)
        q--;
    return q * ROLLUP_MINUTE_US;
}

void rollup_add(struct rollup *r, const struct sample_meta *m)
{
    int64_t minute = minute_of(m->ts_us);
    int bucket = (int)(m->user_hash & (ROLLUP_BUCKETS - 1));
    make_key(&r->key, m, true, minute, bucket);
    struct sums *s = &table_get(r, &r->sums, &r->key)->s;
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

    make_key(&r->key, m, false, minute, -1);
    struct entry *e = table_get(r, &r->users, &r->key);
    if (e->u.n == e->u.cap) {
        e->u.cap = e->u.cap ? e->u.cap * 2 : 8;
        e->u.hashes = xrealloc(e->u.hashes, e->u.cap * sizeof(uint32_t));
    }
    e->u.hashes[e->u.n++] = m->user_hash;
}

/* Appends "service\tendpoint\tcommit\tminute\t" (endpoint only when present in the key). */
static void put_key_columns(struct buf *out, const char *key, bool with_endpoint)
{
    const char *service = key;
    const char *endpoint = service + strlen(service) + 1;
    const char *commit = endpoint + strlen(endpoint) + 1;
    int64_t minute;
    memcpy(&minute, commit + strlen(commit) + 1, sizeof(minute));
    copy_escape_append(out, service, strlen(service));
    buf_append_char(out, '\t');
    if (with_endpoint) {
        copy_escape_append(out, endpoint, strlen(endpoint));
        buf_append_char(out, '\t');
    }
    copy_escape_append(out, commit, strlen(commit));
    buf_append_char(out, '\t');
    char ts[UTIL_TS_BUFLEN];
    util_format_ts(minute, ts);
    buf_append_str(out, ts);
    buf_append_char(out, '\t');
}

static void render_sums(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->sums.n; i++) {
        const struct entry *e = &r->sums.entries[i];
        const char *key = r->arena.data + e->key_off;
        const struct sums *s = &e->s;
        put_key_columns(out, key, true);
        buf_printf(out, "%d\t%lld\t%.17g\t%.17g\t%lld\t%.17g\t%.17g\t%.17g\t%.17g\n",
                   (unsigned char)key[e->key_len - 1], (long long)s->requests, s->instructions,
                   s->instructions_sq, (long long)s->latency_n, s->latency, s->latency_sq, s->db,
                   s->cache);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void render_users(struct rollup *r, struct buf *out)
{
    for (size_t i = 0; i < r->users.n; i++) {
        struct entry *e = &r->users.entries[i];
        qsort(e->u.hashes, e->u.n, sizeof(uint32_t), cmp_u32);
        put_key_columns(out, r->arena.data + e->key_off, false);
        buf_append_char(out, '{');
        for (size_t j = 0; j < e->u.n; j++) {
            if (j > 0 && e->u.hashes[j] == e->u.hashes[j - 1])
                continue;
            /* int4[] holds the uint32 hash's bits, as the samples.user_hash column does. */
            buf_printf(out, j ? ",%d" : "%d", (int32_t)e->u.hashes[j]);
        }
        buf_append(out, "}\n", 2);
    }
}

void rollup_render(struct rollup *r, struct buf *rollups, size_t *n_rollups, struct buf *users,
                   size_t *n_users)
{
    render_sums(r, rollups);
    render_users(r, users);
    *n_rollups += r->sums.n;
    *n_users += r->users.n;
    rollup_reset(r);
}
