/* Synthetic traffic: contract-shaped samples (CONTRACT section 1) for tests, benches and
 * `regressd demo`, with a ground truth of what was planted in them.
 *
 * The model, per service: E endpoints with a Zipf-like request mix (endpoint k gets weight
 * 1/(k+1)); instructions per request lognormal with an endpoint-specific median and sigma, times
 * a stable per-user factor, times every planted change that applies; latency = CPU time (from
 * the instructions) + db_us + cache_us. Users are sampled by user (sample_rate is the same for
 * all): each of U users has a heavy-tailed (lognormal) activity weight and every request picks
 * its user by weight, so a user's request count is a Poisson mixture with a long tail. Event
 * times run through [start, end) in order, denser by day than by night; deploys switch hosts to
 * a new commit, one host after the other during a rolling period. Flags are per user and
 * stable. Everything is a function of the seed: the same config gives the same bytes.
 *
 * Usage: traffic_config_init(), set fields, traffic_new(), call traffic_next_message() until it
 * returns 0, read traffic_truth() or print it, traffic_free(). */
#ifndef REGRESSD_TRAFFIC_H
#define REGRESSD_TRAFFIC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "regressd/util.h"

#define TRAFFIC_MAX_SERVICES 64
#define TRAFFIC_MAX_ENDPOINTS 100000
#define TRAFFIC_MAX_FLAGS 16
#define TRAFFIC_MAX_DEPLOYS 256
#define TRAFFIC_MAX_PLANTS 256
#define TRAFFIC_MAX_USERS 10000000
#define TRAFFIC_MAX_BATCH 100000

struct traffic_service {
    const char *name;   /* 1-64 bytes of [A-Za-z0-9._:/-] */
    double weight;      /* share of requests relative to the other services; <= 0 means 1 */
    int endpoints;      /* <= 0: the config's default */
    const char *commit; /* serving at start; NULL: 12 hex digits derived from seed and name */
};

struct traffic_deploy {
    const char *service; /* NULL: every service */
    const char *commit;
    int64_t at_us;
    int64_t rolling_us; /* hosts switch one by one over this period; 0: all at at_us */
};

/* Users whose stable hash falls in `fraction` get name=value; the others get name=other, or no
 * such flag when other is NULL. "true"/"false" are written as JSON booleans, anything else as a
 * string. */
struct traffic_flag {
    const char *name;
    const char *value;
    const char *other;
    double fraction;
};

enum traffic_plant_kind {
    TRAFFIC_PLANT_COMMIT, /* requests served by `commit` */
    TRAFFIC_PLANT_FLAG,   /* requests with flag `flag` = `value` */
    TRAFFIC_PLANT_WINDOW, /* requests with from_us <= ts < to_us */
};

/* A multiplicative change of instructions per request. Changes that apply together multiply. */
struct traffic_plant {
    enum traffic_plant_kind kind;
    const char *service;  /* NULL: every service */
    const char *endpoint; /* NULL: every endpoint */
    double factor;        /* 1.06 = +6 % */
    const char *commit;
    const char *flag;
    const char *value;
    int64_t from_us, to_us;
};

struct traffic_config {
    uint64_t seed;
    uint64_t stream_seed;     /* requests' draws; 0: seed (users, endpoints stay from seed) */
    int64_t start_us, end_us; /* event times fall in [start, end) */
    uint64_t samples;         /* valid samples to produce */
    int users;                /* user population */
    int endpoints;            /* per service, unless the service says otherwise */
    int hosts;                /* per service */
    int batch;                /* samples per message: 1 = one object, > 1 = a JSON array */
    double malformed;         /* fraction of messages that are malformed (added, not replacing) */
    double epoch_ms_fraction; /* fraction of samples whose ts is integer epoch ms */
    double day_amplitude;     /* traffic rate 1 + a*cos(...): peak 15:00 UTC, trough 03:00 */
    double user_sigma;        /* sigma of the per-user lognormal instructions factor */
    double activity_sigma;    /* sigma of the per-user lognormal activity weight */
    double sample_rate;       /* written into every sample */
    const struct traffic_service *services; /* NULL: one service "web" */
    size_t service_count;
    const struct traffic_deploy *deploys;
    size_t deploy_count;
    const struct traffic_flag *flags;
    size_t flag_count;
    const struct traffic_plant *plants;
    size_t plant_count;
};

enum traffic_malformed_kind {
    TRAFFIC_BAD_TRUNCATED_JSON,
    TRAFFIC_BAD_NOT_JSON,
    TRAFFIC_BAD_MISSING_FIELD,
    TRAFFIC_BAD_WRONG_TYPE,
    TRAFFIC_BAD_NEGATIVE_INSTRUCTIONS,
    TRAFFIC_BAD_HUGE_INSTRUCTIONS,
    TRAFFIC_BAD_LONG_ENDPOINT,
    TRAFFIC_BAD_TS,
    TRAFFIC_BAD_STATUS,
    TRAFFIC_BAD_NESTED_FLAG,
    TRAFFIC_BAD_KINDS
};

/* What one message holds. A malformed message holds no valid sample: it is one dead letter. */
struct traffic_msg_info {
    bool malformed;
    enum traffic_malformed_kind kind; /* when malformed */
    int samples;                      /* valid samples in the message */
    char key[32];                     /* user id of its first sample, a Kafka message key */
};

/* Ground truth, cumulative over the messages produced so far. */
struct traffic_cell {
    const char *service, *endpoint, *commit;
    uint64_t samples;
    double instructions_sum;
};

struct traffic_flag_cell {
    const char *service, *endpoint, *flag, *value;
    uint64_t samples;
    double instructions_sum;
};

/* A plant's factor and what the data shows: mean instructions per request of the requests it
 * applies to (candidate) against the comparable ones (baseline): for a commit, the same
 * endpoints on the commit deployed before it; for a flag, the requests without flag = value;
 * for a window, the requests outside it. The baseline mean is re-weighted to the candidate's
 * endpoint mix (each endpoint's baseline mean, weighted by the candidate's requests there), so
 * candidate_mean / baseline_mean estimates the factor. Other plants on the same requests
 * confound it. Sample counts are raw. */
struct traffic_plant_truth {
    const struct traffic_plant *plant; /* the traffic's own copy */
    const char *baseline_commit;       /* COMMIT: NULL if several or none */
    uint64_t candidate_samples, baseline_samples;
    double candidate_mean, baseline_mean; /* 0 without samples */
};

struct traffic_truth {
    uint64_t messages;
    uint64_t valid_samples;
    uint64_t malformed_messages;
    uint64_t malformed_by_kind[TRAFFIC_BAD_KINDS];
    const struct traffic_cell *cells; /* non-empty (service, endpoint, commit) cells */
    size_t cell_count;
    const struct traffic_flag_cell *flag_cells; /* non-empty (service, endpoint, flag, value) */
    size_t flag_cell_count;
    const struct traffic_plant_truth *plants;
    size_t plant_count;
};

struct traffic;

/* Defaults: seed 1, the 6 hours before 2026-11-21T00:00Z, 100000 samples, 10000 users,
 * 12 endpoints, 24 hosts, batch 100, no malformed messages, 10 % epoch-ms timestamps, day
 * amplitude 0.5, user sigma 0.25, activity sigma 1.2, sample rate 0.01, one service "web". */
void traffic_config_init(struct traffic_config *cfg);

/* Validates cfg and builds the model; copies everything it needs from cfg. Returns NULL with the
 * reason in err (naming the bad field or value). Caller frees with traffic_free (NULL is a
 * no-op). Memory: about 16 bytes per user plus the truth tables. */
struct traffic *traffic_new(const struct traffic_config *cfg, char *err, size_t errlen);
void traffic_free(struct traffic *t);

/* Replaces out's content with the next message (no trailing newline; never contains '\n' or
 * NUL, so JSON lines are safe). Returns 1, or 0 when every sample has been produced. info may be
 * NULL. */
int traffic_next_message(struct traffic *t, struct buf *out, struct traffic_msg_info *info);

/* Fills out; its arrays stay valid until the next traffic_truth* call or traffic_free (a
 * snapshot: later messages do not update it). */
void traffic_truth(struct traffic *t, struct traffic_truth *out);
/* A readable table of the ground truth. */
void traffic_truth_print(struct traffic *t, FILE *out);
/* The ground truth (and the model: endpoints, deploys, flags) as one JSON object. */
void traffic_truth_json(struct traffic *t, struct buf *out);

/* Name of endpoint k (0 = most requested) of a service with the given index, as generated. */
const char *traffic_endpoint_name(const struct traffic *t, int service, int k);
const char *traffic_malformed_kind_name(enum traffic_malformed_kind kind);

/* ---- the text syntax of `regressd generate`, for the CLI and the demo ---------------------
 * Parsed structs point into copies owned by a struct traffic_strings (zero-initialised; free
 * with traffic_strings_free once the traffic is built). Parsers return 0, or -1 with what is
 * wrong in err. Times (AT, FROM, TO): RFC 3339, epoch ms, +DURATION after start_us or
 * -DURATION before end_us. */
struct traffic_strings {
    char **v;
    size_t n, cap;
};
void traffic_strings_free(struct traffic_strings *owned);

/* A number, or a percentage ("30%" -> 0.3). */
int traffic_parse_number(const char *s, double *out) REGRESSD_MUST_CHECK;
int traffic_parse_when(const char *s, int64_t start_us, int64_t end_us,
                       int64_t *out_us) REGRESSD_MUST_CHECK;
/* [SERVICE:]COMMIT@AT[/ROLLING]; SERVICE: counts only if it is in `services` (comma-separated),
 * otherwise the whole prefix is the commit. e.g. "8b01d7aa@+3h/10m", "api:8b01d7aa@-1h". */
int traffic_parse_deploy(const char *spec, const char *services, int64_t start_us, int64_t end_us,
                         struct traffic_deploy *out, struct traffic_strings *owned, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;
/* NAME=VALUE:FRACTION[/OTHER], e.g. "new_ranker=on:0.3/off", "beta=true:10%". */
int traffic_parse_flag(const char *spec, struct traffic_flag *out, struct traffic_strings *owned,
                       char *err, size_t errlen) REGRESSD_MUST_CHECK;
/* TARGET:CHANGE@WHEN. TARGET: endpoint=NAME, /NAME, service=S, service=S,endpoint=NAME or *.
 * CHANGE: +6%, -2.5%, x1.06. WHEN: commit=C, flag=NAME=VALUE, window=FROM/TO.
 * e.g. "/feed:+6%@commit=8b01d7aa", "*:+3%@window=+4h/+5h". */
int traffic_parse_plant(const char *spec, int64_t start_us, int64_t end_us,
                        struct traffic_plant *out, struct traffic_strings *owned, char *err,
                        size_t errlen) REGRESSD_MUST_CHECK;

/* ---- producing to Kafka (daemon/traffic_produce.c), for `generate` and the demo ------------
 * A librdkafka producer of traffic messages, each keyed by its first sample's user id. Delivery
 * reports are served inside traffic_producer_send/poll/flush, on the caller's thread. */
struct traffic_producer;

struct traffic_produce_stats {
    uint64_t messages;  /* handed to librdkafka */
    uint64_t samples;   /* valid samples in them */
    uint64_t bytes;     /* payload bytes */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* delivery reported failure */
};

/* Throughput defaults (linger.ms 5, large batches and queues, log_level 4), then
 * bootstrap.servers = brokers, then props ("KEY=VALUE", in order). Returns NULL with the reason
 * in err: a bad property is named as "KEY=VALUE: why". Caller frees. */
struct traffic_producer *traffic_producer_new(const char *brokers, const char *topic,
                                              const char *const *props, size_t n_props, char *err,
                                              size_t errlen);
/* Destroys the producer; messages still in flight are dropped (flush first). NULL is a no-op. */
void traffic_producer_free(struct traffic_producer *p);

/* Produces t's next messages, at most max_messages of them (0: no limit), waiting (bounded) while
 * librdkafka's queue is full. Returns 1 when t has more (the limit was reached or *stop became
 * non-zero; stop may be NULL), 0 when t is exhausted, -1 when a message could not be enqueued
 * (reason in err). */
int traffic_producer_send(struct traffic_producer *p, struct traffic *t, uint64_t max_messages,
                          volatile sig_atomic_t *stop, char *err,
                          size_t errlen) REGRESSD_MUST_CHECK;
/* Serves delivery reports, waiting up to timeout_ms for the first one. */
void traffic_producer_poll(struct traffic_producer *p, int timeout_ms);
/* Waits up to timeout_ms until every message is delivered or failed; returns how many are still
 * in flight. */
int traffic_producer_flush(struct traffic_producer *p, int timeout_ms);
void traffic_producer_stats(const struct traffic_producer *p, struct traffic_produce_stats *out);
/* The reason of the first failed delivery, or NULL. */
const char *traffic_producer_error(const struct traffic_producer *p);

/* `regressd generate`: see `regressd generate --help`. Exit 0 ok, 1 delivery/IO failure,
 * 2 usage error. */
int cmd_generate(int argc, char **argv);

#endif
