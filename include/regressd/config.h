/* Configuration: defaults, then a file of `key = value` lines, then REGRESSD_* environment
 * variables, then -o key=value overrides from the command line. Keys `kafka.<property>` other
 * than regressd's own are passed straight to librdkafka and validated by it. A bad key or value
 * is named in the error. */
#ifndef REGRESSD_CONFIG_H
#define REGRESSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

struct config_kv {
    char *key; /* without the "kafka." prefix */
    char *value;
};

struct config {
    /* kafka */
    char *kafka_brokers;
    char *kafka_topic;
    char *kafka_group;
    struct config_kv *kafka_props;
    size_t n_kafka_props;
    /* postgres */
    char *postgres_dsn;
    /* http */
    char *http_listen;
    char *http_token;
    /* ingest */
    int64_t batch_max_samples;
    int64_t parse_threads;
    int64_t batch_max_wait_us;
    int64_t max_message_bytes;
    int64_t dead_letter_raw_max;
    int64_t max_services;
    int64_t max_endpoints_per_service;
    int64_t max_event_age_us;
    int64_t max_event_future_us;
    int64_t db_retry_max_us;
    int64_t shutdown_timeout_us;
    /* detector */
    double confidence;
    double min_effect_pct;
    /* alerting */
    char *webhook_url;
    char *slack_webhook_url;
    char *alertmanager_url;
    /* logging */
    int log_level;
    /* deploy checks (detector) */
    int64_t deploy_baseline_window_us;
    int64_t deploy_candidate_window_us;
    int64_t deploy_settle_us;
    int64_t deploy_check_interval_us;
    int64_t detector_min_samples;
    int64_t detector_min_users;
    double detector_max_ci_width_pct;
    int64_t detector_buckets;
    char *detector_min_effect_endpoints;
    /* trends, flags, the schedule and retention */
    double trend_coverage_pct;
    int64_t trend_max_endpoints;
    double trend_flag_shift_pct;
    int64_t flags_window_us;
    double flags_min_share_pct;
    int64_t flags_max_values;
    char *schedule_jobs;
    char *schedule_clock;
    int64_t schedule_settle_us;
    int64_t schedule_max_catchup_us;
    int64_t retention_samples_us;
    int64_t retention_rollups_us;
    /* alert delivery (alerting/) */
    int64_t alert_poll_interval_us;
    int64_t alert_connect_timeout_us;
    int64_t alert_timeout_us;
    int64_t alert_retry_initial_us;
    int64_t alert_retry_max_us;
    int64_t alert_deadline_us;
    int64_t alert_max_per_service;
    int64_t alert_cap_window_us;
    int64_t alert_alertmanager_ttl_us;
};

/* Fills cfg with defaults, then applies the file (NULL: none), the environment and the
 * overrides ("key=value" strings). On error writes the reason, naming the key and where it
 * came from, and returns -1; cfg must still be freed. */
int config_load(struct config *cfg, const char *path, char *const *overrides, size_t n_overrides,
                char *err, size_t errlen) REGRESSD_MUST_CHECK;
void config_free(struct config *cfg);

/* Sets one key from a string; `origin` names the source in errors ("file.conf:12"). */
int config_set(struct config *cfg, const char *key, const char *value, const char *origin,
               char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Writes every key, its current value (secrets masked) and its environment name. */
void config_dump(const struct config *cfg, struct buf *out);

/* Whether a comma-separated list (schedule.jobs) names word. */
bool config_list_has(const char *list, const char *word);

/* The DSN with any password replaced by "***", for logs. Caller frees. */
char *config_redact_dsn(const char *dsn);

#endif
