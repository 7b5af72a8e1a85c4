/* Traffic generator: random numbers, drawing one request from the model, and the message loop.
 * The model is built in traffic_model.c, rendered to JSON in traffic_render.c and counted in
 * traffic_truth.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traffic_int.h"

#define TRAFFIC_INSTRUCTIONS_MAX ((double)((INT64_C(1) << 53) - 1))
#define TRAFFIC_INSTRUCTIONS_PER_US 2500.0 /* ~2.5 GHz at one instruction per cycle */

/* ---- random numbers ------------------------------------------------------------------------- */

uint64_t traffic_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void traffic_rng_seed(struct trng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = traffic_mix64(seed);
    }
    r->has_spare = false;
    r->spare = 0;
}

/* Marsaglia's polar method; each call to the loop succeeds with probability pi/4. */
double traffic_rng_normal(struct trng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2 * trng_uniform(r) - 1;
        v = 2 * trng_uniform(r) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double m = sqrt(-2 * log(s) / s);
    r->spare = v * m;
    r->has_spare = true;
    return u * m;
}

/* Vose's construction of Walker's alias table. */
void traffic_alias_build(struct alias *a, const double *w, uint32_t n)
{
    a->n = n;
    a->prob = xmalloc(n * sizeof(*a->prob));
    a->alias = xmalloc(n * sizeof(*a->alias));
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    double *p = xmalloc(n * sizeof(*p));
    uint32_t *small = xmalloc(n * sizeof(*small));
    uint32_t *large = xmalloc(n * sizeof(*large));
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * n / sum;
        if (p[i] < 1)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[--nl];
        a->prob[s] = (float)p[s];
        a->alias[s] = l;
        p[l] = (p[l] + p[s]) - 1;
        if (p[l] < 1)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    while (nl) {
        uint32_t l = large[--nl];
        a->prob[l] = 1.0f;
        a->alias[l] = l;
    }
    while (ns) {
        uint32_t s = small[--ns];
        a->prob[s] = 1.0f;
        a->alias[s] = s;
    }
    free(p);
    free(small);
    free(large);
}

void traffic_alias_free(struct alias *a)
{
    free(a->prob);
    free(a->alias);
    a->prob = NULL;
    a->alias = NULL;
    a->n = 0;
}

/* ---- one request ---------------------------------------------------------------------------- */

/* Event time of valid sample number `produced`: the (i + u)/N quantile of the day-shaped rate,
 * so times come in order and the count is exact. */
static int64_t next_time(struct traffic *t)
{
    double total = t->cum[t->bin_count];
    double m = ((double)t->produced + trng_uniform(&t->rng)) / (double)t->cfg.samples * total;
    while (t->bin_pos + 1 < t->bin_count && t->cum[t->bin_pos + 1] <= m)
        t->bin_pos++;
    size_t k = t->bin_pos;
    int64_t from = t->cfg.start_us + (int64_t)k * t->bin_us;
    int64_t to = from + t->bin_us < t->cfg.end_us ? from + t->bin_us : t->cfg.end_us;
    double width = t->cum[k + 1] - t->cum[k];
    double frac = width > 0 ? (m - t->cum[k]) / width : 0;
    int64_t ts = from + (int64_t)(frac * (double)(to - from));
    if (ts < from)
        ts = from;
    if (ts >= to)
        ts = to - 1;
    return ts;
}

/* The commit a host serves at ts: the latest deploy this host has switched to. Hosts switch in
 * index order over the rolling period. ts never decreases between calls. */
static int commit_at(struct t_service *s, int host, int64_t ts)
{
    while (s->deploys_started < s->deploy_count && s->deploys[s->deploys_started].at_us <= ts)
        s->deploys_started++;
    for (int d = s->deploys_started - 1; d >= 0; d--) {
        const struct t_deploy *dp = &s->deploys[d];
        double share = (host + 0.5) / s->host_count;
        if (dp->at_us + (int64_t)((double)dp->rolling_us * share) <= ts)
            return dp->commit;
    }
    return 0;
}

int traffic_plant_match(const struct traffic *t, const struct t_plant *p, const struct t_sample *s)
{
    int e = p->endpoint[s->service];
    if (e == -2 || (e >= 0 && e != s->endpoint))
        return -1;
    switch (p->p.kind) {
    case TRAFFIC_PLANT_COMMIT: {
        int base = p->baseline[s->service];
        if (s->commit == p->commit[s->service])
            return 1;
        return base < 0 || base == s->commit ? 0 : -1;
    }
    case TRAFFIC_PLANT_FLAG: {
        bool has = (t->user_flags[s->user] >> p->flag) & 1;
        return p->flag_slot == 0 ? has : !has;
    }
    case TRAFFIC_PLANT_WINDOW:
        return s->ts_us >= p->p.from_us && s->ts_us < p->p.to_us;
    }
    return -1;
}

static double plant_factor(const struct traffic *t, const struct t_sample *s)
{
    double f = 1;
    for (int i = 0; i < t->plant_count; i++)
        if (traffic_plant_match(t, &t->plants[i], s) == 1)
            f *= t->plants[i].p.factor;
    return f;
}

static void draw_costs(struct traffic *t, struct t_sample *s)
{
    struct trng *r = &t->rng;
    const struct t_endpoint *e = &t->services[s->service].endpoints[s->endpoint];
    double z = traffic_rng_normal(r);
    double instr = exp(e->log_median + e->sigma * z) * t->user_factor[s->user];
    instr *= plant_factor(t, s);
    instr = instr < 1 ? 1 : instr > TRAFFIC_INSTRUCTIONS_MAX ? TRAFFIC_INSTRUCTIONS_MAX : instr;
    s->instructions = (uint64_t)llround(instr);
    double cpu = instr / TRAFFIC_INSTRUCTIONS_PER_US * exp(0.1 * traffic_rng_normal(r));
    double db = exp(e->db_log_median + 0.5 * e->sigma * z + 0.6 * traffic_rng_normal(r));
    double cache = exp(e->cache_log_median + 0.5 * traffic_rng_normal(r));
    s->db_us = (int64_t)db;
    s->cache_us = (int64_t)cache;
    s->latency_us = (int64_t)(cpu + db + cache + 150);
}

static void draw_sample(struct traffic *t, struct t_sample *s, int64_t ts)
{
    struct trng *r = &t->rng;
    s->ts_us = ts;
    s->service = (int)alias_draw(&t->service_mix, r);
    struct t_service *sv = &t->services[s->service];
    s->user = alias_draw(&t->user_mix, r);
    s->endpoint = (int)alias_draw(&sv->endpoint_mix, r);
    s->host = (int)trng_below(r, (uint32_t)sv->host_count);
    s->commit = commit_at(sv, s->host, ts);
    draw_costs(t, s);
    double u = trng_uniform(r);
    s->status = u < 0.965 ? 200 : u < 0.975 ? 302 : u < 0.99 ? 404 : 500;
    s->epoch_ms = trng_uniform(r) < t->cfg.epoch_ms_fraction;
}

/* ---- messages ------------------------------------------------------------------------------- */

static void next_bad(struct traffic *t, struct buf *out, struct traffic_msg_info *info)
{
    struct t_sample s;
    enum traffic_malformed_kind kind = trng_below(&t->rng, TRAFFIC_BAD_KINDS);
    int64_t ts = t->produced ? t->last_ts_us : t->cfg.start_us;
    draw_sample(t, &s, ts);
    traffic_render_bad(t, &s, kind, out);
    traffic_user_id(s.user, info->key);
    info->malformed = true;
    info->kind = kind;
    t->malformed_messages++;
    t->malformed_by_kind[kind]++;
}

static void next_batch(struct traffic *t, struct buf *out, struct traffic_msg_info *info)
{
    uint64_t left = t->cfg.samples - t->produced;
    int n = left < (uint64_t)t->cfg.batch ? (int)left : t->cfg.batch;
    bool array = t->cfg.batch > 1;
    if (array)
        buf_append_char(out, '[');
    for (int i = 0; i < n; i++) {
        struct t_sample s;
        if (i)
            buf_append_char(out, ',');
        draw_sample(t, &s, next_time(t));
        traffic_render_sample(t, &s, out);
        traffic_truth_count(t, &s);
        t->last_ts_us = s.ts_us;
        t->produced++;
        if (i == 0)
            traffic_user_id(s.user, info->key);
    }
    if (array)
        buf_append_char(out, ']');
    info->samples = n;
}

int traffic_next_message(struct traffic *t, struct buf *out, struct traffic_msg_info *info)
{
    struct traffic_msg_info scratch;
    if (!info)
        info = &scratch;
    memset(info, 0, sizeof(*info));
    buf_reset(out);
    if (t->produced >= t->cfg.samples)
        return 0;
    t->messages++;
    if (t->cfg.malformed > 0 && trng_uniform(&t->rng) < t->cfg.malformed)
        next_bad(t, out, info);
    else
        next_batch(t, out, info);
    return 1;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

void traffic_config_init(struct traffic_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->end_us = INT64_C(1795219200) * 1000000; /* 2026-11-21T00:00:00Z */
    cfg->start_us = cfg->end_us - INT64_C(6) * 3600 * 1000000;
    cfg->samples = 100000;
    cfg->users = 10000;
    cfg->endpoints = 12;
    cfg->hosts = 24;
    cfg->batch = 100;
    cfg->epoch_ms_fraction = 0.1;
    cfg->day_amplitude = 0.5;
    cfg->user_sigma = 0.25;
    cfg->activity_sigma = 1.2;
    cfg->sample_rate = 0.01;
}

struct traffic *traffic_new(const struct traffic_config *cfg, char *err, size_t errlen)
{
    struct traffic *t = xcalloc(1, sizeof(*t));
    /* The builders read the caller's arrays through t->cfg; nothing keeps them afterwards. */
    t->cfg = *cfg;
    traffic_rng_seed(&t->rng, cfg->stream_seed ? cfg->stream_seed : cfg->seed);
    int rc = traffic_model_build(t, err, errlen);
    t->cfg.services = NULL;
    t->cfg.deploys = NULL;
    t->cfg.flags = NULL;
    t->cfg.plants = NULL;
    if (rc < 0) {
        traffic_free(t);
        return NULL;
    }
    return t;
}

void traffic_free(struct traffic *t)
{
    if (!t)
        return;
    traffic_model_free(t);
    traffic_truth_free(t);
    free(t);
}

const char *traffic_endpoint_name(const struct traffic *t, int service, int k)
{
    if (service < 0 || service >= t->service_count)
        return NULL;
    const struct t_service *s = &t->services[service];
    return k >= 0 && k < s->endpoint_count ? s->endpoints[k].name : NULL;
}

const char *traffic_malformed_kind_name(enum traffic_malformed_kind kind)
{
    static const char *const names[TRAFFIC_BAD_KINDS] = {
        "truncated_json",
        "not_json",
        "missing_field",
        "wrong_type",
        "negative_instructions",
        "huge_instructions",
        "long_endpoint",
        "bad_ts",
        "bad_status",
        "nested_flag",
    };
    return (unsigned)kind < TRAFFIC_BAD_KINDS ? names[kind] : "unknown";
}
