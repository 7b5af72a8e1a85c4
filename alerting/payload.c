/* The generic webhook body (CONTRACT section 4) and the alert's title, from a report in the
 * `check --json` shape. Slack and Alertmanager bodies are rendered from this body later. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"
#include "regressd/alert.h"

/* The numbers a regression carries into the alert, in the contract's order. */
static const char *const regression_fields[] = {
    "metric",      "endpoint", "flag",     "delta_pct", "ci_low_pct",
    "ci_high_pct", "p_value",  "baseline", "candidate",
};

static bool is_regression(const json_t *result)
{
    const char *verdict = json_string_value(json_object_get(result, "verdict"));
    const json_t *gates = json_object_get(result, "gates");
    return verdict && strcmp(verdict, "regression") == 0 && !json_is_false(gates);
}

static json_t *copy_or_null(const json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

json_t *alert_regressions(const json_t *report)
{
    json_t *out = json_array();
    const json_t *results = json_object_get(report, "results");
    size_t i;
    const json_t *res;
    json_array_foreach(results, i, res)
    {
        if (!json_is_object(res) || !is_regression(res))
            continue;
        json_t *o = json_object();
        for (size_t f = 0; f < REGRESSD_ARRAY_LEN(regression_fields); f++)
            json_object_set_new(o, regression_fields[f],
                                copy_or_null(json_object_get(res, regression_fields[f])));
        json_array_append_new(out, o);
    }
    return out;
}

static const char *str_field(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The side of a report as the alert shows it: its label, and commit/from/to when present. */
static json_t *side_new(const json_t *side)
{
    static const char *const keys[] = {"commit", "from", "to"};
    json_t *o = json_object();
    const char *label = str_field(side, "label");
    json_object_set_new(o, "label", label ? json_string(label) : json_null());
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        const json_t *v = json_object_get(side, keys[i]);
        if (json_is_string(v))
            json_object_set_new(o, keys[i], json_deep_copy(v));
    }
    return o;
}

static const char *metric_words(const char *metric)
{
    if (!metric)
        return "CPU efficiency";
    if (strcmp(metric, "instructions_per_user") == 0)
        return "instructions per user";
    if (strcmp(metric, "instructions_per_request") == 0)
        return "instructions per request";
    if (strcmp(metric, "latency_us_mean") == 0)
        return "mean latency";
    return metric;
}

/* The regression the title leads with: the service's instructions per user when it regressed,
 * else the largest change. */
static const json_t *lead_regression(const json_t *regressions)
{
    const json_t *best = NULL;
    double best_delta = -INFINITY;
    size_t i;
    const json_t *r;
    json_array_foreach(regressions, i, r)
    {
        const char *metric = str_field(r, "metric");
        if (metric && strcmp(metric, "instructions_per_user") == 0 &&
            json_is_null(json_object_get(r, "endpoint")))
            return r;
        double d = json_number_value(json_object_get(r, "delta_pct"));
        if (!best || d > best_delta) {
            best = r;
            best_delta = d;
        }
    }
    return best;
}

/* " after deploy 8b01d7aa", " with ranker=v2", " vs <baseline label>". */
static void title_context(const json_t *report, const json_t *lead, struct buf *t)
{
    const char *kind = str_field(report, "kind");
    const json_t *cand = json_object_get(report, "candidate");
    const json_t *flag = json_object_get(lead, "flag");
    if (kind && strcmp(kind, "deploy") == 0) {
        const char *commit = str_field(cand, "commit");
        if (commit)
            buf_printf(t, " after deploy %.12s", commit);
        else if (str_field(cand, "label"))
            buf_printf(t, " after deploy of %s", str_field(cand, "label"));
    } else if (json_is_object(flag)) {
        buf_printf(t, " with %s=", str_field(flag, "name") ? str_field(flag, "name") : "?");
        const json_t *v = json_object_get(flag, "value");
        char *vs = json_is_string(v) ? xstrdup(json_string_value(v))
                                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_append_str(t, vs ? vs : "?");
        free(vs);
    } else {
        const char *base = str_field(json_object_get(report, "baseline"), "label");
        if (base)
            buf_printf(t, " vs %s", base);
    }
}

char *alert_title(const json_t *report, const json_t *regressions)
{
    struct buf t = {0};
    const char *service = str_field(report, "service");
    const json_t *lead = lead_regression(regressions);
    buf_printf(&t, "%s: ", service ? service : "?");
    if (!lead) {
        buf_append_str(&t, "no regression");
    } else {
        char pct[32];
        const json_t *d = json_object_get(lead, "delta_pct");
        if (json_is_number(d) && isfinite(json_number_value(d)))
            snprintf(pct, sizeof(pct), "%+.*f%%", fabs(json_number_value(d)) < 0.1 ? 2 : 1,
                     json_number_value(d));
        else
            snprintf(pct, sizeof(pct), "regressed");
        buf_printf(&t, "%s %s", metric_words(str_field(lead, "metric")), pct);
        if (str_field(lead, "endpoint"))
            buf_printf(&t, " on %s", str_field(lead, "endpoint"));
        title_context(report, lead, &t);
        if (json_array_size(regressions) > 1)
            buf_printf(&t, " (+%zu more)", json_array_size(regressions) - 1);
    }
    /* Characters, then bytes: a title fits both ALERT_TITLE_MAX bytes and Slack's header. */
    char *clipped = alert_text_clip(buf_cstr(&t), ALERT_TITLE_MAX);
    buf_free(&t);
    while (strlen(clipped) > ALERT_TITLE_MAX) {
        char *shorter = alert_text_clip(clipped, alert_utf8_len(clipped) - 1);
        free(clipped);
        clipped = shorter;
    }
    return clipped;
}

static void set_regressions(json_t *o, json_t *regressions)
{
    size_t n = json_array_size(regressions);
    if (n > ALERT_MAX_REGRESSIONS) {
        json_t *kept = json_array();
        for (size_t i = 0; i < ALERT_MAX_REGRESSIONS; i++)
            json_array_append(kept, json_array_get(regressions, i));
        json_object_set_new(o, "regressions", kept);
        json_object_set_new(o, "regressions_omitted",
                            json_integer((json_int_t)(n - ALERT_MAX_REGRESSIONS)));
    } else {
        json_object_set(o, "regressions", regressions);
    }
}

json_t *alert_payload_new(const json_t *report, int64_t alert_id, const char *dedup_key,
                          int64_t created_us)
{
    const char *kind = str_field(report, "kind"), *service = str_field(report, "service");
    if (!kind || !service)
        return NULL;
    json_t *regressions = alert_regressions(report);
    char *title = alert_title(report, regressions);
    char id[32], ts[UTIL_TS_BUFLEN];
    snprintf(id, sizeof(id), "%lld", (long long)alert_id);
    util_format_ts(created_us, ts);
    json_t *o = json_object();
    json_object_set_new(o, "alert_id", json_string(id));
    json_object_set_new(o, "dedup_key", json_string(dedup_key));
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "service", json_string(service));
    json_object_set_new(o, "title", json_string(title));
    json_object_set_new(o, "baseline", side_new(json_object_get(report, "baseline")));
    json_object_set_new(o, "candidate", side_new(json_object_get(report, "candidate")));
    json_object_set_new(o, "confidence", copy_or_null(json_object_get(report, "confidence")));
    set_regressions(o, regressions);
    json_object_set_new(o, "created_at", json_string(ts));
    if (json_object_get(report, "suspects"))
        json_object_set_new(o, "suspects", json_deep_copy(json_object_get(report, "suspects")));
    if (json_is_integer(json_object_get(report, "deploy_id")))
        json_object_set_new(o, "deploy_id", json_deep_copy(json_object_get(report, "deploy_id")));
    json_decref(regressions);
    free(title);
    return o;
}
