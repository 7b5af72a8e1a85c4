/* Private to the traffic generator (traffic*.c): the model, the random numbers, the renderer and
 * the ground-truth accounting share these structures. */
#ifndef REGRESSD_TRAFFIC_INT_H
#define REGRESSD_TRAFFIC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "regressd/traffic.h"
#include "regressd/util.h"

/* xoshiro256** seeded through splitmix64: fast, and the same numbers on every platform. */
struct trng {
    uint64_t s[4];
    double spare; /* second normal of the last polar pair */
    bool has_spare;
};

void traffic_rng_seed(struct trng *r, uint64_t seed);
double traffic_rng_normal(struct trng *r);
uint64_t traffic_mix64(uint64_t x); /* splitmix64 finaliser: a stateless hash */

static inline uint64_t trng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t trng_next(struct trng *r)
{
    uint64_t *s = r->s;
    uint64_t result = trng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = trng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double trng_uniform(struct trng *r)
{
    return (double)(trng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0 (multiply-shift; bias below 2^-32 for the n used here). */
static inline uint32_t trng_below(struct trng *r, uint32_t n)
{
    return (uint32_t)(((trng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Walker's alias table: draws index i with probability w[i] / sum(w) in O(1). */
struct alias {
    uint32_t n;
    float *prob;
    uint32_t *alias;
};

void traffic_alias_build(struct alias *a, const double *w, uint32_t n);
void traffic_alias_free(struct alias *a);

static inline uint32_t alias_draw(const struct alias *a, struct trng *r)
{
    if (a->n == 1)
        return 0;
    uint64_t x = trng_next(r);
    uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)a->n) >> 32);
    float u = (float)(x & 0xffffff) * 0x1.0p-24f;
    return u < a->prob[i] ? i : a->alias[i];
}

/* A pre-rendered JSON fragment such as `,"endpoint":"/feed"`. */
struct frag {
    char *s;
    size_t len;
};

struct t_endpoint {
    char *name;
    struct frag frag;
    double log_median, sigma;               /* instructions: lognormal */
    double db_log_median, cache_log_median; /* microseconds */
};

struct t_deploy {
    int commit, prev_commit;
    int64_t at_us, rolling_us;
};

struct t_service {
    char *name;
    struct frag frag; /* ,"service":"web" */
    int endpoint_count;
    struct t_endpoint *endpoints;
    struct alias endpoint_mix;
    int commit_count; /* commits[0] serves at start */
    char **commits;
    struct frag *commit_frags;
    int deploy_count; /* sorted by at_us */
    struct t_deploy *deploys;
    int deploys_started; /* deploys with at_us <= the current time */
    int host_count;
    struct frag *host_frags; /* ,"host":"web-017","region":"…","cluster":"…" */
    /* truth: [endpoint][commit] and [endpoint][flag][slot] with slot 0 = value, 1 = other */
    uint64_t *cell_n;
    double *cell_sum;
    uint64_t *flag_n;
    double *flag_sum;
};

struct t_flag {
    char *name, *value, *other;
    double fraction;
    uint64_t salt;
    struct frag on, off; /* "name":"value" */
};

/* A plant compiled against each service: endpoint index (-1 any, -2 none), and for commit plants
 * the candidate and baseline commit indexes (-1 none / any other). */
struct t_plant {
    struct traffic_plant p; /* strings owned */
    int *endpoint;          /* [service] */
    int *commit;            /* [service] */
    int *baseline;          /* [service] */
    int flag, flag_slot;
    bool service_any;
    int service;
    /* truth per (service, endpoint), indexed by traffic.endpoint_offset[service] + endpoint */
    struct plant_acc *acc;
};

struct plant_acc {
    uint64_t cand_n, base_n;
    double cand_sum, base_sum;
};

struct t_sample {
    int64_t ts_us;
    int service, endpoint, commit, host;
    uint32_t user;
    uint64_t instructions;
    int64_t latency_us, db_us, cache_us;
    int status;
    bool epoch_ms;
};

struct traffic {
    struct traffic_config cfg; /* pointers into cfg are not kept */
    struct trng rng;
    int service_count;
    struct t_service *services;
    size_t *endpoint_offset; /* [service]: first flat endpoint index */
    size_t endpoint_total;
    struct alias service_mix;
    int flag_count;
    struct t_flag *flags;
    int plant_count;
    struct t_plant *plants;
    /* users */
    uint32_t user_count;
    struct alias user_mix;
    float *user_factor;
    uint16_t *user_flags; /* bit f: flag f has its value */
    /* time: cumulative rate per bin, so sample i sits at the (i + u)/N quantile */
    int64_t bin_us;
    size_t bin_count;
    double *cum;
    size_t bin_pos;
    uint64_t produced;
    int64_t last_ts_us;
    /* rendering */
    struct frag sample_rate;
    int64_t day_cached;
    char day_prefix[16]; /* "2026-11-21T" */
    /* truth */
    uint64_t messages, malformed_messages;
    uint64_t malformed_by_kind[TRAFFIC_BAD_KINDS];
    struct traffic_cell *truth_cells;
    struct traffic_flag_cell *truth_flag_cells;
    struct traffic_plant_truth *truth_plants;
};

/* traffic.c: 1 if plant p applies to s, 0 if s is in its baseline, -1 if neither. */
int traffic_plant_match(const struct traffic *t, const struct t_plant *p, const struct t_sample *s);

/* traffic_model.c: building the model. */
int traffic_model_build(struct traffic *t, char *err, size_t errlen);
void traffic_model_free(struct traffic *t);
void traffic_frag_set(struct frag *f, const char *fmt_prefix, const char *value);
void traffic_json_str(struct buf *out, const char *s);

/* traffic_render.c */
void traffic_render_sample(struct traffic *t, const struct t_sample *s, struct buf *out);
void traffic_render_bad(struct traffic *t, const struct t_sample *s,
                        enum traffic_malformed_kind kind, struct buf *out);
void traffic_user_id(uint32_t user, char out[16]);

/* traffic_truth.c */
void traffic_truth_count(struct traffic *t, const struct t_sample *s);
void traffic_truth_free(struct traffic *t);

#endif
