/* Message -> rows. The hot path is sample_format_row(); everything here is per message or
 * per rejected sample, except the endpoint lookup, which is one hash probe per sample. */
#include "intake.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jarena.h"
#include "regressd/log.h"
#include "rollup.h"

/* Open-addressing set of strings with a counter per entry. Keys are owned. */
struct strmap {
    char **keys;
    size_t *lens;
    int64_t *values;
    size_t cap, count;
};

struct intake {
    const struct config *cfg;
    struct strmap services;  /* service -> number of known endpoints */
    struct strmap endpoints; /* "service\x1fendpoint" */
    struct strmap commits;   /* "service\x1fcommit": a cache; the table has the truth */
    struct rollup *rollup;   /* of the batch being built */
    struct buf scratch;
};

/* The commits cache is only there to avoid re-inserting known commits; past this size it is
 * cleared (inserts are ON CONFLICT DO NOTHING), so hostile producers cannot grow it forever. */
#define INTAKE_COMMITS_CACHE_MAX 100000

static void strmap_clear(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

static size_t strmap_slot(const struct strmap *m, const char *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t i = util_hash32(key, len) & mask;
    while (m->keys[i] && (m->lens[i] != len || memcmp(m->keys[i], key, len) != 0))
        i = (i + 1) & mask;
    return i;
}

static void strmap_grow(struct strmap *m)
{
    struct strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->count = 0;
    m->keys = xcalloc(m->cap, sizeof(*m->keys));
    m->lens = xcalloc(m->cap, sizeof(*m->lens));
    m->values = xcalloc(m->cap, sizeof(*m->values));
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.keys[i])
            continue;
        size_t s = strmap_slot(m, old.keys[i], old.lens[i]);
        m->keys[s] = old.keys[i];
        m->lens[s] = old.lens[i];
        m->values[s] = old.values[i];
        m->count++;
    }
    free(old.keys);
    free(old.lens);
    free(old.values);
}

/* Returns the entry's value slot, or NULL when absent and create is false. */
static int64_t *strmap_get(struct strmap *m, const char *key, size_t len, bool create)
{
    if (m->cap == 0 || (create && (m->count + 1) * 2 > m->cap)) {
        if (!create)
            return NULL;
        strmap_grow(m);
    }
    size_t s = strmap_slot(m, key, len);
    if (m->keys[s])
        return &m->values[s];
    if (!create)
        return NULL;
    m->keys[s] = xstrndup(key, len);
    m->lens[s] = len;
    m->values[s] = 0;
    m->count++;
    return &m->values[s];
}

struct intake *intake_new(const struct config *cfg)
{
    struct intake *in = xcalloc(1, sizeof(*in));
    in->cfg = cfg;
    jarena_install();
    in->rollup = rollup_new();
    return in;
}

void intake_free(struct intake *in)
{
    jarena_release(); /* this thread's; the polling thread releases its own (consumer_run) */
    if (!in)
        return;
    strmap_clear(&in->services);
    strmap_clear(&in->endpoints);
    strmap_clear(&in->commits);
    rollup_free(in->rollup);
    buf_free(&in->scratch);
    free(in);
}

void intake_forget(struct intake *in)
{
    strmap_clear(&in->services);
    strmap_clear(&in->endpoints);
    strmap_clear(&in->commits);
}

void intake_seal(struct intake *in, struct batch *b)
{
    rollup_render(in->rollup, b);
}

void intake_discard(struct intake *in)
{
    rollup_reset(in->rollup);
}

/* "a\x1fb" in the scratch buffer: the key of a (service, endpoint) or (service, commit). */
static const char *pair_key(struct intake *in, const char *svc, size_t svc_len, const char *ep,
                            size_t ep_len, size_t *len)
{
    buf_reset(&in->scratch);
    buf_append(&in->scratch, svc, svc_len);
    buf_append_char(&in->scratch, '\x1f');
    buf_append(&in->scratch, ep, ep_len);
    *len = in->scratch.len;
    return in->scratch.data;
}

void intake_know_commit(struct intake *in, const char *service, const char *commit)
{
    size_t klen;
    const char *key = pair_key(in, service, strlen(service), commit, strlen(commit), &klen);
    strmap_get(&in->commits, key, klen, true);
}

/* Queues a commit seen for the first time (by this process) for the commits table. */
static void note_commit(struct intake *in, struct batch *b, const struct sample_meta *m)
{
    size_t klen;
    const char *key = pair_key(in, m->service, m->service_len, m->commit, m->commit_len, &klen);
    if (strmap_get(&in->commits, key, klen, false))
        return;
    if (in->commits.count >= INTAKE_COMMITS_CACHE_MAX)
        strmap_clear(&in->commits);
    strmap_get(&in->commits, key, klen, true);
    buf_append(&b->new_commits, m->service, m->service_len);
    buf_append_char(&b->new_commits, '\0');
    buf_append(&b->new_commits, m->commit, m->commit_len);
    buf_append_char(&b->new_commits, '\0');
    buf_append(&b->new_commits, &m->ts_us, sizeof(m->ts_us));
    b->n_new_commits++;
}

void intake_know_endpoint(struct intake *in, const char *service, const char *endpoint)
{
    size_t klen;
    const char *key = pair_key(in, service, strlen(service), endpoint, strlen(endpoint), &klen);
    if (strmap_get(&in->endpoints, key, klen, false))
        return;
    strmap_get(&in->endpoints, key, klen, true);
    (*strmap_get(&in->services, service, strlen(service), true))++;
}

/* Admits the sample's (service, endpoint) or explains which cap it exceeds. A newly admitted
 * pair is queued in the batch for the endpoints table. */
static int admit_endpoint(struct intake *in, struct batch *b, const struct sample_meta *m,
                          char *err, size_t errlen)
{
    size_t klen;
    const char *key = pair_key(in, m->service, m->service_len, m->endpoint, m->endpoint_len, &klen);
    if (strmap_get(&in->endpoints, key, klen, false))
        return 0;
    int64_t *n_eps = strmap_get(&in->services, m->service, m->service_len, false);
    if (!n_eps && (int64_t)in->services.count >= in->cfg->max_services) {
        snprintf(err, errlen, "service: more than %lld distinct services (ingest.max_services)",
                 (long long)in->cfg->max_services);
        return -1;
    }
    if (n_eps && *n_eps >= in->cfg->max_endpoints_per_service) {
        snprintf(err, errlen,
                 "endpoint: service already has %lld distinct endpoints "
                 "(ingest.max_endpoints_per_service)",
                 (long long)*n_eps);
        return -1;
    }
    strmap_get(&in->endpoints, key, klen, true);
    (*strmap_get(&in->services, m->service, m->service_len, true))++;
    buf_append(&b->new_endpoints, m->service, m->service_len);
    buf_append_char(&b->new_endpoints, '\0');
    buf_append(&b->new_endpoints, m->endpoint, m->endpoint_len);
    buf_append_char(&b->new_endpoints, '\0');
    b->n_new_endpoints++;
    return 0;
}

static void append_bytea_hex(struct buf *out, const void *raw, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = raw;
    buf_reserve(out, 3 + 2 * len);
    /* COPY text: the backslash of bytea's \x prefix is itself escaped. */
    buf_append(out, "\\\\x", 3);
    char *o = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        *o++ = hex[p[i] >> 4];
        *o++ = hex[p[i] & 15];
    }
    out->len += 2 * len;
}

void intake_dead_letter(struct intake *in, struct batch *b, const char *topic, int32_t partition,
                        int64_t offset, long index, const char *reason, const void *raw,
                        size_t raw_len)
{
    size_t keep = raw_len;
    if ((int64_t)keep > in->cfg->dead_letter_raw_max)
        keep = (size_t)in->cfg->dead_letter_raw_max;
    struct buf *o = &b->dead;
    copy_escape_append(o, topic, strlen(topic));
    buf_printf(o, "\t%d\t%lld\t", (int)partition, (long long)offset);
    if (index < 0)
        buf_append(o, "\\N", 2);
    else
        buf_printf(o, "%ld", index);
    buf_append_char(o, '\t');
    copy_escape_append(o, reason, strlen(reason));
    buf_append_char(o, '\t');
    append_bytea_hex(o, raw, keep);
    buf_printf(o, "\t%zu\n", raw_len);
    b->n_dead++;
    log_debug("dead letter %s/%d@%lld: %s", topic, (int)partition, (long long)offset, reason);
}

struct msg_ctx {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *payload;
    size_t len;
};

/* One sample; index < 0 when the message is a single object. */
static void intake_sample(struct intake *in, struct batch *b, const struct msg_ctx *mc,
                          const json_t *obj, long index, const struct sample_limits *limits)
{
    char why[512], reason[600];
    struct sample_meta meta;
    size_t mark = b->samples.len;
    if (sample_format_row(obj, limits, &b->samples, &meta, why, sizeof(why)) == 0) {
        if (admit_endpoint(in, b, &meta, why, sizeof(why)) == 0) {
            b->n_samples++;
            batch_add_day(b, util_day_of(meta.ts_us));
            rollup_add(in->rollup, &meta);
            note_commit(in, b, &meta);
            return;
        }
        b->samples.len = mark;
    }
    if (index < 0) {
        intake_dead_letter(in, b, mc->topic, mc->partition, mc->offset, -1, why, mc->payload,
                           mc->len);
        return;
    }
    snprintf(reason, sizeof(reason), "sample %ld: %s", index, why);
    char *raw = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    intake_dead_letter(in, b, mc->topic, mc->partition, mc->offset, index, reason, raw ? raw : "",
                       raw ? strlen(raw) : 0);
    free(raw);
}

void intake_message(struct intake *in, struct batch *b, const char *topic, int32_t partition,
                    int64_t offset, const void *payload, size_t len,
                    const struct sample_limits *limits)
{
    struct msg_ctx mc = {topic, partition, offset, payload, len};
    char reason[512];
    b->n_messages++;
    if (!payload || len == 0) {
        intake_dead_letter(in, b, topic, partition, offset, -1, "message: empty", "", 0);
        return;
    }
    if ((int64_t)len > in->cfg->max_message_bytes) {
        snprintf(reason, sizeof(reason),
                 "message: %zu bytes exceeds ingest.max_message_bytes (%lld)", len,
                 (long long)in->cfg->max_message_bytes);
        intake_dead_letter(in, b, topic, partition, offset, -1, reason, payload, len);
        return;
    }
    json_error_t jerr;
    jarena_begin(); /* the parsed values only: dead letters' json_dumps allocate outside */
    json_t *root = json_loadb(payload, len, 0, &jerr);
    jarena_end();
    if (!root) {
        jarena_reset();
        snprintf(reason, sizeof(reason), "message: invalid JSON at byte %d: %s", jerr.position,
                 jerr.text);
        intake_dead_letter(in, b, topic, partition, offset, -1, reason, payload, len);
        return;
    }
    if (json_is_array(root)) {
        size_t i;
        json_t *el;
        json_array_foreach(root, i, el) intake_sample(in, b, &mc, el, (long)i, limits);
    } else {
        intake_sample(in, b, &mc, root, -1, limits);
    }
    json_decref(root);
    jarena_reset();
}
