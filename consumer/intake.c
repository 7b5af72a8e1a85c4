/* Message -> rows, on parse lanes: the calling (polling) thread is lane 0, and each further
 * lane is a thread of its own. A chunk of messages is shared out message by message (whoever
 * is free takes the next); each lane parses into rows of its own and aggregates into rollups of
 * its own, so lanes share nothing on the hot path but the chunk's next-message counter.
 *
 * The caps on services and endpoints, and the commits cache, are one set of maps for all lanes
 * (the caps must count every lane's endpoints), under a mutex. Each lane keeps the keys it has
 * already seen admitted in a cache of its own, so the mutex is taken once per new key and lane,
 * not per sample. Everything else here is per message or per rejected sample. */
#include "intake.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
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

struct lane {
    struct intake *in;
    struct rollup *rollup;   /* of the batch being built: merged into lane 0's when sealed */
    struct strmap endpoints; /* admitted "service\x1fendpoint" keys this lane has met */
    struct strmap commits;   /* noted "service\x1fcommit" keys this lane has met */
    struct buf scratch;      /* pair_key's */
    struct batch part;       /* a worker lane's rows of the chunk; lane 0 writes to the batch */
    pthread_t thread;
    bool started;
};

struct intake {
    const struct config *cfg;
    pthread_mutex_t caps_lock; /* the three maps below while a chunk is being parsed */
    struct strmap services;    /* service -> number of known endpoints */
    struct strmap endpoints;   /* "service\x1fendpoint" */
    struct strmap commits;     /* "service\x1fcommit": a cache; the table has the truth */
    struct lane *lanes;
    size_t n_lanes;

    /* The chunk being parsed, handed to the worker lanes. */
    pthread_mutex_t job_lock;
    pthread_cond_t job_cv;  /* a new chunk, or quit */
    pthread_cond_t done_cv; /* the last worker lane finished the chunk */
    uint64_t job_seq;
    size_t lanes_busy;
    bool quit;
    const char *topic;
    const struct intake_msg *msgs;
    size_t n_msgs;
    atomic_size_t next_msg;
    const struct sample_limits *limits;
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
    size_t i = util_hash_mem(key, len) & mask;
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

static void lane_parse(struct lane *l, struct batch *out);

static void *lane_main(void *arg)
{
    struct lane *l = arg;
    struct intake *in = l->in;
    uint64_t done = 0;
    pthread_mutex_lock(&in->job_lock);
    for (;;) {
        while (!in->quit && in->job_seq == done)
            pthread_cond_wait(&in->job_cv, &in->job_lock);
        if (in->quit)
            break;
        done = in->job_seq;
        pthread_mutex_unlock(&in->job_lock);
        lane_parse(l, &l->part);
        pthread_mutex_lock(&in->job_lock);
        if (--in->lanes_busy == 0)
            pthread_cond_signal(&in->done_cv);
    }
    pthread_mutex_unlock(&in->job_lock);
    jarena_release();
    return NULL;
}

struct intake *intake_new(const struct config *cfg)
{
    struct intake *in = xcalloc(1, sizeof(*in));
    in->cfg = cfg;
    jarena_install();
    pthread_mutex_init(&in->caps_lock, NULL);
    pthread_mutex_init(&in->job_lock, NULL);
    pthread_cond_init(&in->job_cv, NULL);
    pthread_cond_init(&in->done_cv, NULL);
    in->n_lanes = cfg->parse_threads > 0 ? (size_t)cfg->parse_threads : 1;
    in->lanes = xcalloc(in->n_lanes, sizeof(*in->lanes));
    for (size_t i = 0; i < in->n_lanes; i++) {
        struct lane *l = &in->lanes[i];
        l->in = in;
        l->rollup = rollup_new();
        if (i == 0)
            continue;
        int rc = pthread_create(&l->thread, NULL, lane_main, l);
        if (rc != 0) {
            /* Fewer lanes parse more slowly but just as correctly. */
            log_warn("cannot start parse lane %zu: %s; parsing on %zu lane(s)", i + 1, strerror(rc),
                     i);
            rollup_free(l->rollup);
            in->n_lanes = i;
            break;
        }
        l->started = true;
    }
    return in;
}

static void lane_forget(struct lane *l)
{
    strmap_clear(&l->endpoints);
    strmap_clear(&l->commits);
}

void intake_free(struct intake *in)
{
    jarena_release(); /* this thread's; the polling thread releases its own (consumer_run) */
    if (!in)
        return;
    pthread_mutex_lock(&in->job_lock);
    in->quit = true;
    pthread_cond_broadcast(&in->job_cv);
    pthread_mutex_unlock(&in->job_lock);
    for (size_t i = 0; i < in->n_lanes; i++) {
        struct lane *l = &in->lanes[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        lane_forget(l);
        rollup_free(l->rollup);
        buf_free(&l->scratch);
        batch_free(&l->part);
    }
    free(in->lanes);
    strmap_clear(&in->services);
    strmap_clear(&in->endpoints);
    strmap_clear(&in->commits);
    pthread_mutex_destroy(&in->caps_lock);
    pthread_mutex_destroy(&in->job_lock);
    pthread_cond_destroy(&in->job_cv);
    pthread_cond_destroy(&in->done_cv);
    free(in);
}

size_t intake_lanes(const struct intake *in)
{
    return in->n_lanes;
}

void intake_forget(struct intake *in)
{
    strmap_clear(&in->services);
    strmap_clear(&in->endpoints);
    strmap_clear(&in->commits);
    for (size_t i = 0; i < in->n_lanes; i++)
        lane_forget(&in->lanes[i]);
}

void intake_seal(struct intake *in, struct batch *b)
{
    for (size_t i = 1; i < in->n_lanes; i++)
        rollup_merge(in->lanes[0].rollup, in->lanes[i].rollup);
    rollup_render(in->lanes[0].rollup, b);
}

void intake_discard(struct intake *in)
{
    for (size_t i = 0; i < in->n_lanes; i++)
        rollup_reset(in->lanes[i].rollup);
}

/* "a\x1fb" in scratch: the key of a (service, endpoint) or (service, commit). */
static const char *pair_key(struct buf *scratch, const char *svc, size_t svc_len, const char *ep,
                            size_t ep_len, size_t *len)
{
    buf_reset(scratch);
    buf_append(scratch, svc, svc_len);
    buf_append_char(scratch, '\x1f');
    buf_append(scratch, ep, ep_len);
    *len = scratch->len;
    return scratch->data;
}

/* Called between chunks only (no lane is running): no lock. */
void intake_know_commit(struct intake *in, const char *service, const char *commit)
{
    size_t klen;
    const char *key =
        pair_key(&in->lanes[0].scratch, service, strlen(service), commit, strlen(commit), &klen);
    strmap_get(&in->commits, key, klen, true);
}

/* Queues a commit seen for the first time (by this process) for the commits table. */
static void note_commit(struct lane *l, struct batch *b, const struct sample_meta *m)
{
    struct intake *in = l->in;
    size_t klen;
    const char *key =
        pair_key(&l->scratch, m->service, m->service_len, m->commit, m->commit_len, &klen);
    if (strmap_get(&l->commits, key, klen, false))
        return;
    pthread_mutex_lock(&in->caps_lock);
    bool known = strmap_get(&in->commits, key, klen, false) != NULL;
    if (!known) {
        if (in->commits.count >= INTAKE_COMMITS_CACHE_MAX)
            strmap_clear(&in->commits);
        strmap_get(&in->commits, key, klen, true);
    }
    pthread_mutex_unlock(&in->caps_lock);
    if (l->commits.count >= INTAKE_COMMITS_CACHE_MAX)
        strmap_clear(&l->commits);
    strmap_get(&l->commits, key, klen, true);
    if (known)
        return;
    buf_append(&b->new_commits, m->service, m->service_len);
    buf_append_char(&b->new_commits, '\0');
    buf_append(&b->new_commits, m->commit, m->commit_len);
    buf_append_char(&b->new_commits, '\0');
    buf_append(&b->new_commits, &m->ts_us, sizeof(m->ts_us));
    b->n_new_commits++;
}

/* Called between chunks only (no lane is running): no lock. */
void intake_know_endpoint(struct intake *in, const char *service, const char *endpoint)
{
    size_t klen;
    const char *key = pair_key(&in->lanes[0].scratch, service, strlen(service), endpoint,
                               strlen(endpoint), &klen);
    if (strmap_get(&in->endpoints, key, klen, false))
        return;
    strmap_get(&in->endpoints, key, klen, true);
    (*strmap_get(&in->services, service, strlen(service), true))++;
}

/* Admits a (service, endpoint) not in the lane's cache against the shared caps, or explains
 * which cap it exceeds. A newly admitted pair is queued in b for the endpoints table. Called
 * with caps_lock held. */
static int admit_shared(struct intake *in, struct batch *b, const struct sample_meta *m,
                        const char *key, size_t klen, char *err, size_t errlen)
{
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

/* Admits the sample's (service, endpoint) or explains which cap it exceeds. */
static int admit_endpoint(struct lane *l, struct batch *b, const struct sample_meta *m, char *err,
                          size_t errlen)
{
    size_t klen;
    const char *key =
        pair_key(&l->scratch, m->service, m->service_len, m->endpoint, m->endpoint_len, &klen);
    if (strmap_get(&l->endpoints, key, klen, false))
        return 0;
    pthread_mutex_lock(&l->in->caps_lock);
    int rc = admit_shared(l->in, b, m, key, klen, err, errlen);
    pthread_mutex_unlock(&l->in->caps_lock);
    /* Admitted endpoints stay admitted (until intake_forget), so the lane's cache needs no
     * bound beyond the caps' own. */
    if (rc == 0)
        strmap_get(&l->endpoints, key, klen, true);
    return rc;
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

/* One sample; index < 0 when the message is a single object. */
static void lane_sample(struct lane *l, struct batch *b, const struct intake_msg *mc,
                        const json_t *obj, long index)
{
    struct intake *in = l->in;
    char why[512], reason[600];
    struct sample_meta meta;
    size_t mark = b->samples.len;
    if (sample_format_row(obj, in->limits, &b->samples, &meta, why, sizeof(why)) == 0) {
        if (admit_endpoint(l, b, &meta, why, sizeof(why)) == 0) {
            b->n_samples++;
            batch_add_day(b, util_day_of(meta.ts_us));
            rollup_add(l->rollup, &meta);
            note_commit(l, b, &meta);
            return;
        }
        b->samples.len = mark;
    }
    if (index < 0) {
        intake_dead_letter(in, b, in->topic, mc->partition, mc->offset, -1, why, mc->payload,
                           mc->len);
        return;
    }
    snprintf(reason, sizeof(reason), "sample %ld: %s", index, why);
    char *raw = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    intake_dead_letter(in, b, in->topic, mc->partition, mc->offset, index, reason, raw ? raw : "",
                       raw ? strlen(raw) : 0);
    free(raw);
}

static void lane_message(struct lane *l, struct batch *b, const struct intake_msg *mc)
{
    struct intake *in = l->in;
    char reason[512];
    if (!mc->payload || mc->len == 0) {
        intake_dead_letter(in, b, in->topic, mc->partition, mc->offset, -1, "message: empty", "",
                           0);
        return;
    }
    if ((int64_t)mc->len > in->cfg->max_message_bytes) {
        snprintf(reason, sizeof(reason),
                 "message: %zu bytes exceeds ingest.max_message_bytes (%lld)", mc->len,
                 (long long)in->cfg->max_message_bytes);
        intake_dead_letter(in, b, in->topic, mc->partition, mc->offset, -1, reason, mc->payload,
                           mc->len);
        return;
    }
    json_error_t jerr;
    jarena_begin(); /* the parsed values only: dead letters' json_dumps allocate outside */
    json_t *root = json_loadb(mc->payload, mc->len, 0, &jerr);
    jarena_end();
    if (!root) {
        jarena_reset();
        snprintf(reason, sizeof(reason), "message: invalid JSON at byte %d: %s", jerr.position,
                 jerr.text);
        intake_dead_letter(in, b, in->topic, mc->partition, mc->offset, -1, reason, mc->payload,
                           mc->len);
        return;
    }
    if (json_is_array(root)) {
        size_t i;
        json_t *el;
        json_array_foreach(root, i, el) lane_sample(l, b, mc, el, (long)i);
    } else {
        lane_sample(l, b, mc, root, -1);
    }
    json_decref(root);
    jarena_reset();
}

/* Takes the chunk's next message until none is left. */
static void lane_parse(struct lane *l, struct batch *out)
{
    struct intake *in = l->in;
    for (;;) {
        size_t i = atomic_fetch_add(&in->next_msg, 1);
        if (i >= in->n_msgs)
            break;
        lane_message(l, out, &in->msgs[i]);
    }
}

void intake_messages(struct intake *in, struct batch *b, const char *topic,
                     const struct intake_msg *msgs, size_t n, const struct sample_limits *limits)
{
    if (n == 0)
        return;
    in->topic = topic;
    in->msgs = msgs;
    in->n_msgs = n;
    in->limits = limits;
    atomic_store(&in->next_msg, 0);
    size_t workers = n > 1 ? in->n_lanes - 1 : 0;
    if (workers > 0) {
        pthread_mutex_lock(&in->job_lock);
        in->lanes_busy = workers;
        in->job_seq++;
        pthread_cond_broadcast(&in->job_cv);
        pthread_mutex_unlock(&in->job_lock);
    }
    lane_parse(&in->lanes[0], b);
    if (workers > 0) {
        pthread_mutex_lock(&in->job_lock);
        while (in->lanes_busy > 0)
            pthread_cond_wait(&in->done_cv, &in->job_lock);
        pthread_mutex_unlock(&in->job_lock);
        for (size_t i = 1; i < in->n_lanes; i++) {
            batch_absorb(b, &in->lanes[i].part);
            batch_reset(&in->lanes[i].part);
        }
    }
    b->n_messages += n;
    in->msgs = NULL;
    in->n_msgs = 0;
}
