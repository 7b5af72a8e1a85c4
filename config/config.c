/* Table-driven configuration. Every key has a type, bounds and an environment name derived
 * mechanically: "kafka.brokers" -> REGRESSD_KAFKA_BROKERS. */
#include "regressd/config.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/log.h"

enum key_type { KEY_STRING, KEY_SECRET, KEY_INT, KEY_DURATION, KEY_DOUBLE, KEY_LOG_LEVEL };

struct key_def {
    const char *name;
    enum key_type type;
    size_t offset;
    const char *def;
    double min, max; /* KEY_INT, KEY_DOUBLE; KEY_DURATION in seconds */
    const char *help;
};

#define OFF(field) offsetof(struct config, field)

static const struct key_def keys[] = {
    {"kafka.brokers", KEY_STRING, OFF(kafka_brokers), "localhost:9092", 0, 0,
     "Kafka bootstrap servers"},
    {"kafka.topic", KEY_STRING, OFF(kafka_topic), "perf.samples", 0, 0, "samples topic"},
    {"kafka.group", KEY_STRING, OFF(kafka_group), "regressd", 0, 0, "consumer group id"},
    {"postgres.dsn", KEY_SECRET, OFF(postgres_dsn), "", 0, 0,
     "libpq connection string or URI; empty: libpq defaults and PG* variables"},
    {"http.listen", KEY_STRING, OFF(http_listen), "127.0.0.1:8719", 0, 0,
     "host:port of the HTTP API; empty disables it"},
    {"http.token", KEY_SECRET, OFF(http_token), "", 0, 0, "bearer token required for writes"},
    {"ingest.batch_max_samples", KEY_INT, OFF(batch_max_samples), "20000", 1, 1e7,
     "a batch (one PostgreSQL transaction) closes once it holds this many samples, checked "
     "after each chunk of up to 64 messages"},
    {"ingest.parse_threads", KEY_INT, OFF(parse_threads), "2", 1, 64,
     "threads parsing and validating messages (the polling thread is one of them)"},
    {"ingest.batch_max_wait", KEY_DURATION, OFF(batch_max_wait_us), "250ms", 0.001, 3600,
     "longest a sample waits in a batch"},
    {"ingest.max_message_bytes", KEY_INT, OFF(max_message_bytes), "1048576", 1024, 1 << 30,
     "larger Kafka messages become dead letters"},
    {"ingest.dead_letter_raw_max", KEY_INT, OFF(dead_letter_raw_max), "65536", 0, 1 << 30,
     "bytes of a dead message kept in dead_letters.raw"},
    {"ingest.max_services", KEY_INT, OFF(max_services), "1000", 1, 1e7,
     "distinct services accepted; samples of further ones become dead letters"},
    {"ingest.max_endpoints_per_service", KEY_INT, OFF(max_endpoints_per_service), "5000", 1, 1e7,
     "distinct endpoints accepted per service; further ones become dead letters"},
    {"ingest.max_event_age", KEY_DURATION, OFF(max_event_age_us), "35d", 60, 3650.0 * 86400,
     "samples with older event times become dead letters"},
    {"ingest.max_event_future", KEY_DURATION, OFF(max_event_future_us), "1h", 1, 86400 * 7,
     "samples further in the future become dead letters"},
    {"ingest.db_retry_max", KEY_DURATION, OFF(db_retry_max_us), "30s", 0.01, 3600,
     "cap of the backoff between PostgreSQL reconnection attempts"},
    {"shutdown_timeout", KEY_DURATION, OFF(shutdown_timeout_us), "30s", 0.1, 3600,
     "how long SIGTERM waits for the batch in flight"},
    {"confidence", KEY_DOUBLE, OFF(confidence), "0.95", 0.5, 0.9999,
     "confidence level of intervals; q = 1 - confidence for false discovery control"},
    {"min_effect_pct", KEY_DOUBLE, OFF(min_effect_pct), "1.0", 0, 1000,
     "smallest relative change worth an alert, in percent"},
    {"webhook.url", KEY_SECRET, OFF(webhook_url), "", 0, 0, "generic webhook receiver"},
    {"slack.webhook_url", KEY_SECRET, OFF(slack_webhook_url), "", 0, 0, "Slack incoming webhook"},
    {"alertmanager.url", KEY_SECRET, OFF(alertmanager_url), "", 0, 0, "Alertmanager base URL"},
    {"log.level", KEY_LOG_LEVEL, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
    {"deploy.baseline_window", KEY_DURATION, OFF(deploy_baseline_window_us), "1h", 600, 7 * 86400,
     "baseline commit's traffic compared: this long before the deploy (and its traffic during "
     "the candidate window)"},
    {"deploy.candidate_window", KEY_DURATION, OFF(deploy_candidate_window_us), "1h", 600, 7 * 86400,
     "new commit's traffic compared: this long from the deploy"},
    {"deploy.settle", KEY_DURATION, OFF(deploy_settle_us), "3m", 1, 86400,
     "the daemon checks a deploy this long after its candidate window ended"},
    {"deploy.check_interval", KEY_DURATION, OFF(deploy_check_interval_us), "30s", 0.1, 3600,
     "how often the daemon looks for deploys to check and blocks to compact"},
    {"detector.min_samples", KEY_INT, OFF(detector_min_samples), "1000", 2, 1e12,
     "requests per side below which a result is inconclusive"},
    {"detector.min_users", KEY_INT, OFF(detector_min_users), "100", 2, 1e12,
     "users per side below which a result is inconclusive"},
    {"detector.max_ci_width_pct", KEY_DOUBLE, OFF(detector_max_ci_width_pct), "10", 0, 1e6,
     "a no-change interval wider than this (points of percent) is inconclusive; 0: off"},
    {"detector.buckets", KEY_INT, OFF(detector_buckets), "64", 2, 64,
     "user buckets B for the variance: 64 or a divisor of it"},
    {"detector.min_effect_endpoints", KEY_STRING, OFF(detector_min_effect_endpoints), "", 0, 0,
     "per-endpoint minimum effects: `GLOB=PCT, ...`, first match wins, else min_effect_pct"},
    {"trend.coverage_pct", KEY_DOUBLE, OFF(trend_coverage_pct), "90", 1, 100,
     "trends compare the heaviest endpoints (by instructions) until they carry this share of "
     "the service's instructions"},
    {"trend.max_endpoints", KEY_INT, OFF(trend_max_endpoints), "50", 1, 100000,
     "and at most this many of them"},
    {"trend.flag_shift_pct", KEY_DOUBLE, OFF(trend_flag_shift_pct), "5", 0.1, 100,
     "a flag value whose share of requests moved by this many points between a trend's windows "
     "is named as a suspect"},
    {"flags.window", KEY_DURATION, OFF(flags_window_us), "1h", 600, 7 * 86400,
     "window of `flags` and of the hourly flag scan"},
    {"flags.min_share_pct", KEY_DOUBLE, OFF(flags_min_share_pct), "1", 0.01, 49,
     "a flag value on less than this share of an endpoint's requests (or more than 100 minus "
     "it) is inconclusive there: no comparison group"},
    {"flags.max_values", KEY_INT, OFF(flags_max_values), "200", 1, 100000,
     "flag values a scan compares (the most requested first); the rest are counted"},
    {"schedule.jobs", KEY_STRING, OFF(schedule_jobs), "hourly,daily,weekly,flags,retention", 0, 0,
     "jobs `run` schedules: any of hourly, daily, weekly, flags, retention; empty: none"},
    {"schedule.clock", KEY_STRING, OFF(schedule_clock), "wall", 0, 0,
     "wall: jobs follow the clock; event: they follow the newest event time stored (replays, "
     "backfills)"},
    {"schedule.settle", KEY_DURATION, OFF(schedule_settle_us), "5m", 0, 86400,
     "a job's window is analysed this long after it ended (late samples)"},
    {"schedule.max_catchup", KEY_DURATION, OFF(schedule_max_catchup_us), "7d", 3600, 90 * 86400,
     "runs missed while no daemon ran are made up for when one starts, up to this far back"},
    {"retention.samples", KEY_DURATION, OFF(retention_samples_us), "14d", 86400, 3650.0 * 86400,
     "raw samples (and dead letters) older than this are dropped, whole days"},
    {"retention.rollups", KEY_DURATION, OFF(retention_rollups_us), "400d", 86400, 3650.0 * 86400,
     "rollups older than this are deleted"},
    {"alert.poll_interval", KEY_DURATION, OFF(alert_poll_interval_us), "1s", 0.05, 60,
     "how often the delivery loop looks for due alerts and retries the delivery lock"},
    {"alert.connect_timeout", KEY_DURATION, OFF(alert_connect_timeout_us), "5s", 0.1, 300,
     "connect timeout of one delivery request"},
    {"alert.timeout", KEY_DURATION, OFF(alert_timeout_us), "10s", 0.1, 600,
     "total timeout of one delivery request"},
    {"alert.retry_initial", KEY_DURATION, OFF(alert_retry_initial_us), "5s", 0.01, 3600,
     "first retry delay of a failed delivery; doubles per attempt, with jitter"},
    {"alert.retry_max", KEY_DURATION, OFF(alert_retry_max_us), "10m", 0.01, 86400,
     "longest retry delay"},
    {"alert.deadline", KEY_DURATION, OFF(alert_deadline_us), "24h", 1, 30 * 86400,
     "a delivery still failing this long after the alert was released is given up"},
    {"alert.max_per_service", KEY_INT, OFF(alert_max_per_service), "10", 0, 1e6,
     "messages to people (webhook, Slack) per service per alert.cap_window; the overflow is "
     "summarised in the next message; 0: no cap"},
    {"alert.cap_window", KEY_DURATION, OFF(alert_cap_window_us), "1h", 1, 7 * 86400,
     "the window of alert.max_per_service"},
    {"alert.alertmanager_ttl", KEY_DURATION, OFF(alert_alertmanager_ttl_us), "24h", 60, 30 * 86400,
     "endsAt of a firing Alertmanager alert: this long after it is sent"},
};

/* librdkafka properties regressd sets itself; the user sets them through regressd's keys. */
static const char *const managed_kafka_props[] = {
    "bootstrap.servers",        "metadata.broker.list", "group.id",     "enable.auto.commit",
    "enable.auto.offset.store", "enable.partition.eof", "rebalance_cb", "offset_commit_cb",
};

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static void env_name(const char *key, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "REGRESSD_");
    for (const char *p = key; *p && n + 1 < outlen; p++)
        out[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static int parse_int(const char *value, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *value, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* String keys whose value is one word of a list, or (lists) comma-separated words of it. */
static const struct {
    const char *key;
    bool list;
    const char *const words[6];
} choices[] = {
    {"schedule.jobs", true, {"hourly", "daily", "weekly", "flags", "retention", NULL}},
    {"schedule.clock", false, {"wall", "event", NULL}},
};

static bool is_word_of(const char *const *words, const char *w, size_t len)
{
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == len && strncmp(words[i], w, len) == 0)
            return true;
    return false;
}

static int check_choice(const char *key, const char *value, char *err, size_t errlen)
{
    for (size_t c = 0; c < REGRESSD_ARRAY_LEN(choices); c++) {
        if (strcmp(choices[c].key, key) != 0)
            continue;
        const char *p = value;
        do {
            p += strspn(p, " \t");
            size_t len = strcspn(p, choices[c].list ? ", \t" : "");
            if ((len || !choices[c].list) && !is_word_of(choices[c].words, p, len)) {
                struct buf w = {0};
                for (size_t i = 0; choices[c].words[i]; i++)
                    buf_printf(&w, "%s%s", i ? ", " : "", choices[c].words[i]);
                snprintf(err, errlen, "must be %s of: %s", choices[c].list ? "a list" : "one",
                         buf_cstr(&w));
                buf_free(&w);
                return -1;
            }
            p += len;
            p += strspn(p, " \t");
        } while (choices[c].list && *p == ',' && *++p);
    }
    return 0;
}

/* Whether a comma-separated schedule.jobs-like list names word. */
bool config_list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static int set_typed(struct config *cfg, const struct key_def *k, const char *value, char *err,
                     size_t errlen)
{
    char *base = (char *)cfg + k->offset;
    int64_t iv;
    double dv;
    switch (k->type) {
    case KEY_STRING:
        if (check_choice(k->name, value, err, errlen) < 0)
            return -1;
        /* fall through */
    case KEY_SECRET:
        free(*(char **)base);
        *(char **)base = xstrdup(value);
        return 0;
    case KEY_INT:
        if (parse_int(value, &iv) < 0 || iv < k->min || iv > k->max) {
            snprintf(err, errlen, "must be an integer from %.0f to %.0f", k->min, k->max);
            return -1;
        }
        *(int64_t *)base = iv;
        return 0;
    case KEY_DURATION:
        if (util_parse_duration(value, &iv) < 0 || iv < k->min * 1e6 || iv > k->max * 1e6) {
            snprintf(err, errlen,
                     "must be a duration like 250ms, 90s, 30m, 1h, 1d, 1w, from %gs "
                     "to %gs",
                     k->min, k->max);
            return -1;
        }
        *(int64_t *)base = iv;
        return 0;
    case KEY_DOUBLE:
        if (parse_double(value, &dv) < 0 || dv < k->min || dv > k->max) {
            snprintf(err, errlen, "must be a number from %g to %g", k->min, k->max);
            return -1;
        }
        *(double *)base = dv;
        return 0;
    case KEY_LOG_LEVEL:
        if ((iv = log_level_parse(value)) < 0) {
            snprintf(err, errlen, "must be error, warn, info or debug");
            return -1;
        }
        *(int *)base = (int)iv;
        return 0;
    }
    return -1;
}

static int set_kafka_prop(struct config *cfg, const char *prop, const char *value, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(managed_kafka_props); i++) {
        if (strcmp(prop, managed_kafka_props[i]) == 0) {
            snprintf(err, errlen, "is managed by regressd (use kafka.brokers / kafka.group)");
            return -1;
        }
    }
    /* Let librdkafka judge the property now, so a typo fails before anything starts. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, prop, value, kerr, sizeof(kerr));
    rd_kafka_conf_destroy(conf);
    if (res != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "rejected by librdkafka: %s", kerr);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        if (strcmp(cfg->kafka_props[i].key, prop) == 0) {
            free(cfg->kafka_props[i].value);
            cfg->kafka_props[i].value = xstrdup(value);
            return 0;
        }
    }
    cfg->kafka_props =
        xrealloc(cfg->kafka_props, (cfg->n_kafka_props + 1) * sizeof(*cfg->kafka_props));
    cfg->kafka_props[cfg->n_kafka_props].key = xstrdup(prop);
    cfg->kafka_props[cfg->n_kafka_props].value = xstrdup(value);
    cfg->n_kafka_props++;
    return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, const char *origin,
               char *err, size_t errlen)
{
    char why[512];
    const struct key_def *k = find_key(key);
    int rc;
    if (k)
        rc = set_typed(cfg, k, value, why, sizeof(why));
    else if (strncmp(key, "kafka.", 6) == 0 && key[6])
        rc = set_kafka_prop(cfg, key + 6, value, why, sizeof(why));
    else {
        snprintf(why, sizeof(why), "unknown key");
        rc = -1;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s: %s: %s", origin, key, why);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* A value may be written bare or in double quotes (to keep leading/trailing spaces or '#'). */
static char *unquote(char *v)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        return v + 1;
    }
    char *hash = strstr(v, " #");
    if (hash)
        *hash = '\0';
    return trim(v);
}

static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096], origin[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        snprintf(origin, sizeof(origin), "%s:%d", path, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s: expected `key = value`", origin);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = config_set(cfg, trim(s), unquote(trim(eq + 1)), origin, err, errlen);
    }
    fclose(f);
    return rc;
}

static int load_env(struct config *cfg, char *err, size_t errlen)
{
    char name[128];
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        env_name(keys[i].name, name, sizeof(name));
        const char *v = getenv(name);
        if (v && config_set(cfg, keys[i].name, v, name, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_overrides(struct config *cfg, char *const *ov, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(ov[i], '=');
        if (!eq) {
            snprintf(err, errlen, "-o %s: expected key=value", ov[i]);
            return -1;
        }
        char *key = xstrndup(ov[i], (size_t)(eq - ov[i]));
        int rc = config_set(cfg, key, eq + 1, "-o", err, errlen);
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int config_load(struct config *cfg, const char *path, char *const *overrides, size_t n_overrides,
                char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        if (config_set(cfg, keys[i].name, keys[i].def, "default", err, errlen) < 0)
            return -1;
    }
    if (path && load_file(cfg, path, err, errlen) < 0)
        return -1;
    if (load_env(cfg, err, errlen) < 0)
        return -1;
    if (load_overrides(cfg, overrides, n_overrides, err, errlen) < 0)
        return -1;
    if (cfg->kafka_brokers[0] == '\0' || cfg->kafka_topic[0] == '\0' ||
        cfg->kafka_group[0] == '\0') {
        snprintf(err, errlen, "kafka.brokers, kafka.topic and kafka.group must not be empty");
        return -1;
    }
    return 0;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        if (keys[i].type == KEY_STRING || keys[i].type == KEY_SECRET) {
            char **p = (char **)((char *)cfg + keys[i].offset);
            free(*p);
            *p = NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    cfg->kafka_props = NULL;
    cfg->n_kafka_props = 0;
}

/* In the largest unit that divides it, as it would be written in the file: 35d, 250ms. */
static void dump_duration(int64_t us, struct buf *out)
{
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"w", INT64_C(604800000000)}, {"d", INT64_C(86400000000)},
                 {"h", INT64_C(3600000000)},   {"m", INT64_C(60000000)},
                 {"s", INT64_C(1000000)},      {"ms", INT64_C(1000)}};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(units); i++) {
        if (us % units[i].us == 0) {
            buf_printf(out, "%lld%s", (long long)(us / units[i].us), units[i].unit);
            return;
        }
    }
    buf_printf(out, "%.3fms", (double)us / 1000.0);
}

/* librdkafka properties that hold credentials: masked when the configuration is printed. */
static bool kafka_prop_is_secret(const char *prop)
{
    static const char *const words[] = {
        "password", "secret", "oauthbearer", "ssl.key.pem", "ssl.certificate.pem", "sasl.username"};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(words); i++)
        if (strstr(prop, words[i]))
            return true;
    return false;
}

static void dump_value(const struct config *cfg, const struct key_def *k, struct buf *out)
{
    const char *base = (const char *)cfg + k->offset;
    switch (k->type) {
    case KEY_STRING:
        buf_append_str(out, *(char *const *)base);
        break;
    case KEY_SECRET:
        buf_append_str(out, (*(char *const *)base)[0] ? "(set)" : "");
        break;
    case KEY_INT:
        buf_printf(out, "%lld", (long long)*(const int64_t *)base);
        break;
    case KEY_DURATION:
        dump_duration(*(const int64_t *)base, out);
        break;
    case KEY_DOUBLE:
        buf_printf(out, "%g", *(const double *)base);
        break;
    case KEY_LOG_LEVEL: {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        buf_append_str(out, names[*(const int *)base]);
        break;
    }
    }
}

void config_dump(const struct config *cfg, struct buf *out)
{
    char name[128];
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        env_name(keys[i].name, name, sizeof(name));
        buf_printf(out, "%-34s = ", keys[i].name);
        dump_value(cfg, &keys[i], out);
        buf_printf(out, "    # %s; env %s\n", keys[i].help, name);
    }
    for (size_t i = 0; i < cfg->n_kafka_props; i++)
        buf_printf(out, "kafka.%s = %s\n", cfg->kafka_props[i].key,
                   kafka_prop_is_secret(cfg->kafka_props[i].key) ? "(set)"
                                                                 : cfg->kafka_props[i].value);
}

char *config_redact_dsn(const char *dsn)
{
    struct buf b = {0};
    const char *p = dsn;
    /* key=value form: password=... up to whitespace (or a quoted value). */
    const char *pw = strstr(p, "password=");
    const char *at = strchr(p, '@');
    if (pw) {
        buf_append(&b, p, (size_t)(pw - p) + 9);
        buf_append_str(&b, "***");
        const char *e = pw + 9;
        if (*e == '\'') {
            for (e++; *e && *e != '\''; e++)
                if (*e == '\\' && e[1])
                    e++;
            if (*e)
                e++;
        } else {
            while (*e && !isspace((unsigned char)*e))
                e++;
        }
        buf_append_str(&b, e);
    } else if (strstr(p, "://") && at) {
        /* URI form: scheme://user:password@host */
        const char *creds = strstr(p, "://") + 3;
        const char *colon = memchr(creds, ':', (size_t)(at - creds));
        if (colon) {
            buf_append(&b, p, (size_t)(colon - p) + 1);
            buf_append_str(&b, "***");
            buf_append_str(&b, at);
        } else {
            buf_append_str(&b, p);
        }
    } else {
        buf_append_str(&b, p);
    }
    buf_cstr(&b);
    return b.data;
}
