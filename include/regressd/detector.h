/* Deploy verdicts: the parameters of a check (from the configuration), a deploy's data loaded
 * from the rollups, the comparison, and its JSON and human renderings; plus the deploys table
 * and the compaction of rollups into 10-minute blocks. Prefix detector_.
 *
 * SQL lives in detector/window.c (loading a check's data), detector/deploys.c (the deploys and
 * findings tables) and detector/compact.c (rollup blocks); detector/check.c and
 * detector/report.c are pure, over struct detector_data.
 *
 * Windows of a deploy at T (all boundaries on 10-minute blocks, see sql/003_deploys.sql):
 *   Tb = T rounded down to a block, Ce = T + candidate_window rounded up, Bs = Tb −
 *   baseline_window (rounded up to blocks).
 *   - per request (every endpoint, and the service's latency): candidate = the new commit's
 *     traffic in [Tb, Ce); baseline = the baseline commit's traffic in [Bs, Ce), i.e. the window
 *     before the deploy plus, during a rolling deploy, its traffic in the same minutes as the
 *     candidate (time-of-day effects cancel there). Requests are the units of these ratios, so
 *     a user whose requests are split between the two commits during the rollout biases
 *     neither side.
 *   - per user (the service's instructions per user): a user's requests are split between the
 *     commits during a rolling deploy, so per-user sums are only comparable over windows that
 *     one commit served alone, of equal length (distinct users grow with the window). From the
 *     per-block request shares (over all the service's commits): S = the first block where the
 *     candidate serves > 0.5 % of the requests (rollout start); [R, E) = the first run of
 *     complete blocks from max(S, Tb) where it serves ≥ 99.5 % (ended by a later deploy);
 *     [S0, S) = the run of blocks before S where the baseline commit serves ≥ 99.5 %. Candidate
 *     = [R, R + L), baseline = [S − L, S), L = min(E − R, S − S0). (0.5 % of a user's requests
 *     on another commit biases per-user sums by about 0.5 % at most.) These windows are
 *     adjacent, not concurrent: a trend in activity per user across the hour (the morning
 *     ramp) is not cancelled and shows as a change of instructions per user.
 *
 * Verdict of a deploy (exit status of `check`):
 *   regression    any instructions result (per user or per request) is a regression;
 *   inconclusive  otherwise, when the service's instructions per user is inconclusive;
 *   improvement   otherwise, when the service's instructions per user is an improvement;
 *   no_change     otherwise.
 * Latency results are reported (and take part in Benjamini–Hochberg) but never set the verdict:
 * latency depends on load and downstream services as much as on the commit. */
#ifndef REGRESSD_DETECTOR_H
#define REGRESSD_DETECTOR_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/config.h"
#include "regressd/stats.h"
#include "regressd/util.h"

#define DETECTOR_BLOCK_US (600LL * 1000000LL)
#define DETECTOR_MAX_BUCKETS 64
/* A block is pure for a commit when it serves at least this share of the two commits' requests. */
#define DETECTOR_PURE_SHARE 0.995

enum { DETECTOR_BASE = 0, DETECTOR_CAND = 1 };

/* ---- parameters ---- */

struct detector_effect {
    char *pattern;     /* fnmatch(3) glob over endpoint names */
    double min_effect; /* fraction */
};

struct detector_params {
    struct stats_rule rule; /* confidence, min_effect (global), max_ci_width, min samples/users */
    int buckets;            /* B: 64 or a divisor of it; bucket = (user_hash & 63) % B */
    int64_t baseline_window_us;
    int64_t candidate_window_us;
    int64_t settle_us;
    struct detector_effect *effects; /* per-endpoint minimum effects, first match wins */
    size_t n_effects;
    /* trends and flags (detector/trend.c, detector/flags.c) */
    double trend_coverage;      /* fraction of the service's instructions the endpoints carry */
    size_t trend_max_endpoints; /* and at most this many endpoints */
    double trend_flag_shift;    /* a flag value's share moving this much is a suspect */
    int64_t flags_window_us;    /* default window of a flag scan */
    double flags_min_share;     /* a value on less (or more than 1 − it) is inconclusive */
    size_t flags_max_values;    /* flag values compared, most requested first */
};

/* From the configuration; validates buckets and the endpoint patterns. Free with
 * detector_params_free (also after an error). */
int detector_params_init(struct detector_params *p, const struct config *cfg, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;
void detector_params_free(struct detector_params *p);

/* Parses "GLOB=PCT, GLOB=PCT" (whitespace around items ignored; PCT in percent, >= 0). An empty
 * spec gives none. Caller frees with detector_effects_free. */
int detector_effects_parse(const char *spec, struct detector_effect **out, size_t *n, char *err,
                           size_t errlen) REGRESSD_MUST_CHECK;
void detector_effects_free(struct detector_effect *e, size_t n);

/* The minimum effect (fraction) of an endpoint: the first matching pattern's, else the rule's. */
double detector_min_effect(const struct detector_params *p, const char *endpoint);

/* us rounded down to a 10-minute block (also for negative times). */
int64_t detector_floor_block(int64_t us);

/* ---- windows ---- */

struct detector_windows {
    int64_t deployed_at; /* T */
    int64_t base_from;   /* Bs */
    int64_t cand_from;   /* Tb */
    int64_t to;          /* Ce: both per-request windows end here */
};

void detector_windows_of(const struct detector_params *p, int64_t deployed_at_us,
                         struct detector_windows *w);

/* ---- a deploy's data (detector/window.c) ---- */

struct detector_endpoint_data {
    char *name;
    bool light; /* trends: not among the heaviest endpoints, not compared (but decomposed) */
    double requests[2][DETECTOR_MAX_BUCKETS]; /* [side][bucket] */
    double instructions[2][DETECTOR_MAX_BUCKETS];
};

struct detector_side {
    char *commit;
    int64_t from_us, to_us; /* per-request window */
    double samples;         /* requests in it */
    int64_t users;          /* distinct users in it */
    double latency_n[DETECTOR_MAX_BUCKETS];
    double latency_us[DETECTOR_MAX_BUCKETS];
    /* per-user window; empty (from == to) when there is none */
    int64_t user_from_us, user_to_us;
    double user_requests[DETECTOR_MAX_BUCKETS];
    double user_instructions[DETECTOR_MAX_BUCKETS];
    double user_users[DETECTOR_MAX_BUCKETS]; /* distinct users per bucket */
};

struct detector_data {
    int buckets;
    struct detector_windows win;
    int64_t now_us;
    bool complete;         /* now >= the candidate window's end */
    bool candidate_seen;   /* the candidate commit has traffic in its window */
    const char *user_note; /* why there is no per-user window (static), or NULL */
    struct detector_side side[2];
    struct detector_endpoint_data *endpoints; /* sorted by name */
    size_t n_endpoints;
};

/* Loads everything a check needs: rollups of both commits (whole compacted blocks from
 * rollup_blocks, the rest from the minute tables). now_us decides which blocks are complete. */
int detector_load(PGconn *conn, const struct detector_params *p, const char *service,
                  const char *base_commit, const char *cand_commit, int64_t deployed_at_us,
                  int64_t now_us, struct detector_data *out, char *err,
                  size_t errlen) REGRESSD_MUST_CHECK;
void detector_data_free(struct detector_data *d);

/* ---- one window of a service over all its commits (detector/span.c) ---- */

struct detector_span_endpoint {
    char *name;
    double requests[DETECTOR_MAX_BUCKETS];
    double instructions[DETECTOR_MAX_BUCKETS];
};

struct detector_span {
    int64_t from_us, to_us;                /* on 10-minute blocks */
    double samples;                        /* requests in the window */
    int64_t users;                         /* distinct users in the window */
    double requests[DETECTOR_MAX_BUCKETS]; /* per bucket, over every endpoint */
    double instructions[DETECTOR_MAX_BUCKETS];
    double users_b[DETECTOR_MAX_BUCKETS]; /* distinct users per bucket */
    double latency_n[DETECTOR_MAX_BUCKETS];
    double latency_us[DETECTOR_MAX_BUCKETS];
    struct detector_span_endpoint *endpoints; /* sorted by name */
    size_t n_endpoints;
};

/* Loading a span (detector/span.c, inside the caller's snapshot) is private to detector/: see
 * detector_trend and detector_flags_load. */
void detector_span_free(struct detector_span *s);

/* ---- the comparison (detector/check.c) ---- */

enum detector_metric {
    DETECTOR_PER_USER,    /* instructions_per_user, service level */
    DETECTOR_PER_REQUEST, /* instructions_per_request, per endpoint */
    DETECTOR_LATENCY,     /* latency_us_mean, service level */
};
const char *detector_metric_name(enum detector_metric m);

struct detector_result {
    enum detector_metric metric;
    char *endpoint;   /* NULL: service level */
    char *flag_name;  /* flag results: the flag value compared (with it against without it) */
    char *flag_value; /* NULL otherwise */
    bool gates;       /* counts for the deploy's verdict */
    double min_effect;
    struct stats_input in;
    struct stats_result res;
    double contribution; /* endpoints: rate part of the per-request change (fraction); else 0 */
    const char *note;    /* static, or NULL */
};

struct detector_part {
    char *endpoint;   /* owned */
    double delta;     /* the endpoint's own per-request change; NAN when not computable */
    double rate, mix; /* see stats_contribution: fractions of the baseline per request */
};

/* "Where it happened": the per-user change = per-request change (endpoint rates + request mix,
 * on the concurrent windows) combined with the change of requests per user (the remainder). */
struct detector_decomposition {
    bool ok;
    double per_user;             /* NAN without a per-user result */
    double per_request;          /* service-level instructions per request, I1/I0 − 1 */
    double mix;                  /* Σ mix parts */
    double requests_per_user;    /* (1 + per_user)/(1 + per_request) − 1; NAN without per_user */
    struct detector_part *parts; /* sorted by |rate|, largest first */
    size_t n_parts;
};

struct detector_report {
    char *kind; /* "deploy", "trend" or "flag" */
    char *service;
    int64_t deploy_id; /* 0: no deploy recorded */
    int64_t deployed_at_us;
    char *commit[2]; /* deploys: baseline, candidate; baseline NULL when unknown */
    char *label[2];  /* trends and flags: what each side is; NULL: "commit <commit>" */
    struct detector_windows win;
    int64_t from[2], to[2];       /* each side's (per-request) window */
    int64_t window_us, offset_us; /* trends and flags: the job's window and offset */
    json_t *suspects;             /* trends: deploys and flag changes in between; or NULL */
    int64_t user_from[2], user_to[2];
    double samples[2];
    int64_t users[2];
    double confidence;
    bool complete;
    enum stats_verdict verdict;
    char *verdict_reason; /* one line, why */
    const char *user_note;
    struct detector_result *results; /* service level first, then endpoints by impact */
    size_t n_results;
    size_t endpoints_skipped;   /* endpoints without min_samples on both sides */
    size_t endpoints_light;     /* trends: endpoints outside the heaviest, not compared */
    size_t flag_values;         /* flag scans: flag values compared */
    size_t flag_values_dropped; /* and seen but beyond flags.max_values */
    struct detector_decomposition dec;
};

/* Compares the two sides of d. Caller frees. NULL with the reason only for invalid parameters. */
struct detector_report *detector_check(const struct detector_params *p,
                                       const struct detector_data *d, const char *service,
                                       char *err, size_t errlen);

/* A report without data: inconclusive for `reason` (no baseline commit, nothing recorded). */
struct detector_report *detector_report_empty(const struct detector_params *p, const char *service,
                                              const char *base_commit, const char *cand_commit,
                                              int64_t deployed_at_us, const char *reason);
void detector_report_free(struct detector_report *r);

/* Exit status of `check` for a verdict (CONTRACT section 2): 0, 1 or 3. */
int detector_exit_status(enum stats_verdict v);

/* ---- trends (detector/trend.c) ---- */

/* The windows of a trend: candidate [at − window, at), baseline the same offset earlier, at
 * rounded down to a 10-minute block. window and offset must be whole blocks, offset ≥ window;
 * -1 with the reason (naming --window or --offset) otherwise. */
int detector_trend_windows(int64_t at_us, int64_t window_us, int64_t offset_us, int64_t from[2],
                           int64_t to[2], char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* The two windows as the sides of a check (pure): per-user windows are the whole windows;
 * endpoints outside the heaviest (trend_coverage, trend_max_endpoints) are marked light. */
void detector_trend_data(const struct detector_params *p, const struct detector_span *base,
                         const struct detector_span *cand, int64_t now_us,
                         struct detector_data *out);

/* Loads, compares and names the suspects: the report of `regressd trend` (kind "trend", verdict
 * rule of a deploy). NULL with the reason for invalid windows or a database error. */
struct detector_report *detector_trend(PGconn *conn, const struct detector_params *p,
                                       const char *service, int64_t window_us, int64_t offset_us,
                                       int64_t at_us, int64_t now_us, char *err, size_t errlen);

/* ---- flag scans (detector/flags.c) ---- */

/* Requests of one endpoint that carried a flag value. */
struct detector_flag_endpoint {
    size_t endpoint; /* index into the span's endpoints */
    double requests[DETECTOR_MAX_BUCKETS];
    double instructions[DETECTOR_MAX_BUCKETS];
};

/* One flag value seen in the window: the requests that carried it, per endpoint and over the
 * service, and the distinct users they came from. */
struct detector_flag_value {
    char *flag, *value;
    char *key; /* internal lookup key */
    double samples;
    double requests[DETECTOR_MAX_BUCKETS];
    double instructions[DETECTOR_MAX_BUCKETS];
    double users_b[DETECTOR_MAX_BUCKETS];
    int64_t users;
    struct detector_flag_endpoint *endpoints;
    size_t n_endpoints, cap;
    uint32_t *slot; /* internal: span endpoint -> index + 1 into endpoints */
};

struct detector_flags_data {
    struct detector_span span;          /* the whole window */
    struct detector_flag_value *values; /* most requested first, at most flags_max_values */
    size_t n_values;
    size_t values_dropped; /* seen beyond flags_max_values */
    int64_t now_us;
};

/* Loads the window [from_us, to_us) (on blocks) of a service and its flag rollups, in one
 * snapshot. */
int detector_flags_load(PGconn *conn, const struct detector_params *p, const char *service,
                        int64_t from_us, int64_t to_us, int64_t now_us,
                        struct detector_flags_data *out, char *err,
                        size_t errlen) REGRESSD_MUST_CHECK;
void detector_flags_data_free(struct detector_flags_data *fd);

/* Compares, for every flag value, requests with it against the same endpoint's requests without
 * it, and users who had it against users who did not (instructions per user), all results in
 * one Benjamini–Hochberg family. A value on less than flags_min_share (or more than 1 − it) of
 * the users, or of an endpoint's requests, gives an inconclusive result there (no comparison
 * group). A user seen both with and without the value counts as a user with it; their requests
 * without it stay on the other side (flags are meant per user: gatekeepers, experiments).
 * Verdict: regression when any instructions result is one; else inconclusive when values were
 * seen but none could be tested; else improvement when any result is one; else no_change. Pure;
 * NULL with the reason only for invalid parameters. */
struct detector_report *detector_flags_check(const struct detector_params *p,
                                             const struct detector_flags_data *fd,
                                             const char *service, char *err, size_t errlen);

/* `regressd flags`: the window [at − window, at) (at rounded down to a block; window a whole
 * number of blocks) loaded and compared. */
struct detector_report *detector_flags(PGconn *conn, const struct detector_params *p,
                                       const char *service, int64_t window_us, int64_t at_us,
                                       int64_t now_us, char *err, size_t errlen);

/* ---- renderings (detector/report.c) ---- */

/* The CONTRACT's `check --json` object (plus extra fields). Numbers that cannot be computed are
 * null. Caller json_decref()s. */
json_t *detector_report_json(const struct detector_report *r);
/* A report's JSON (detector_report_json) as text, numbers with 10 significant digits; caller
 * frees. */
char *detector_json_dumps(const json_t *j, bool pretty);
/* detector_report_json as text (numbers with 10 significant digits); caller frees. */
char *detector_report_dumps(const struct detector_report *r, bool pretty);
/* Human-readable: header, the results table sorted by impact, "where it happened". */
void detector_report_text(const struct detector_report *r, struct buf *out);
/* A finite number, or JSON null. New reference. */
json_t *detector_json_number(double v);

/* ---- deploys (detector/deploys.c) ---- */

struct detector_deploy {
    int64_t id; /* 0: not recorded (taken from the commits table) */
    char *service;
    char *commit;
    char *baseline; /* NULL: unknown */
    int64_t deployed_at_us;
    char *source;  /* "hook", "auto", or "seen" when not recorded */
    char *verdict; /* NULL: undecided */
    int64_t created_at_us, decided_at_us;
    char *report; /* JSON text, NULL until decided */
};
void detector_deploy_clear(struct detector_deploy *d);

/* CONTRACT section 1's rules for a service (1-64 bytes of [A-Za-z0-9._:/-]) and a commit (1-64
 * printable bytes); 0, or -1 with the reason naming `what`. */
int detector_check_name(const char *what, const char *value, bool service, char *err,
                        size_t errlen) REGRESSD_MUST_CHECK;

/* Records a deploy (regressd_record_deploy in SQL). at_us NULL: now; baseline NULL: the previous
 * deploy's commit. *created is false when the same deploy was recorded before. */
int detector_deploy_record(PGconn *conn, const char *service, const char *commit,
                           const int64_t *at_us, const char *baseline, int64_t *id, bool *created,
                           char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* The deploy with that id; *found false when there is none. */
int detector_deploy_get(PGconn *conn, int64_t id, struct detector_deploy *out, bool *found,
                        char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* The latest deploy of (service, commit), or when none is recorded the commit's first sample
 * from the commits table (id 0, source "seen", baseline by the same rule as a deploy); *found
 * false when neither exists. */
int detector_deploy_find(PGconn *conn, const char *service, const char *commit,
                         struct detector_deploy *out, bool *found, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;

/* Up to max undecided deploys whose candidate window ended settle ago, oldest first. */
int detector_deploys_due(PGconn *conn, const struct detector_params *p, int64_t now_us,
                         int64_t *ids, size_t max, size_t *n, char *err,
                         size_t errlen) REGRESSD_MUST_CHECK;

/* Cheap probes before a check: *passed when ingest has moved past the candidate window of a
 * deploy of `commit` at deployed_at_us (the service has rollups at or after its end), *seen when
 * the commit has rollups in that window. */
int detector_ingest_passed(PGconn *conn, const struct detector_params *p, const char *service,
                           const char *commit, int64_t deployed_at_us, bool *passed, bool *seen,
                           char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Stores the verdict and report of deploy id and its findings row: one statement, to run in
 * the caller's transaction (the daemon adds the alert for the same report, see
 * daemon/deploy_checker.h). *stored is false when the deploy was decided meanwhile (nothing
 * written). */
int detector_deploy_store(PGconn *conn, int64_t id, const struct detector_report *r, bool *stored,
                          char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* detector_deploy_store in a transaction of its own (no alert). */
int detector_deploy_decide(PGconn *conn, int64_t id, const struct detector_report *r, char *err,
                           size_t errlen) REGRESSD_MUST_CHECK;

/* ---- compaction (detector/compact.c) ---- */

/* Blocks are compacted this long after their end (the late-row trigger marks rows that arrive
 * over a minute after it). */
#define DETECTOR_COMPACT_DELAY_US (180LL * 1000000LL)

/* Compacts up to max_blocks blocks that ended DETECTOR_COMPACT_DELAY_US before now_us and are
 * not compacted yet, oldest first, then recompacts up to max_blocks dirty (service, block)s.
 * *done counts both. */
int detector_compact(PGconn *conn, int64_t now_us, int max_blocks, int *done, char *err,
                     size_t errlen) REGRESSD_MUST_CHECK;

#endif
