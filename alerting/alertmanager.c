/* Alertmanager v2 body (POST /api/v2/alerts): one alert per regression of an alert payload.
 * An alert's identity in Alertmanager is its label set, so the labels name what regressed
 * (service, endpoint, metric, and the flag or the trend's offset) and the numbers go into
 * annotations. endsAt makes the alert resolve on its own; the lifecycle posts it again with
 * endsAt = the resolution time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"
#include "regressd/alert.h"

#define AM_LABEL_MAX 512 /* characters of a label value */

static const char *str_field(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void set_clipped(json_t *o, const char *key, const char *value)
{
    char *v = alert_text_clip(value, AM_LABEL_MAX);
    json_object_set_new(o, key, json_string(v));
    free(v);
}

static char *flag_text(const json_t *flag)
{
    const json_t *v = json_object_get(flag, "value");
    char *vs = json_is_string(v) ? xstrdup(json_string_value(v))
                                 : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    struct buf b = {0};
    buf_printf(&b, "%s=%s", str_field(flag, "name") ? str_field(flag, "name") : "?", vs ? vs : "?");
    free(vs);
    char *s = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

/* A trend's offset ("1d", "1w") from the sides' windows, or "" when unknown. */
static void offset_of(const json_t *payload, char *out, size_t outlen)
{
    const char *bf = str_field(json_object_get(payload, "baseline"), "from");
    const char *cf = str_field(json_object_get(payload, "candidate"), "from");
    int64_t b, c;
    out[0] = '\0';
    if (bf && cf && util_parse_rfc3339(bf, strlen(bf), &b) == 0 &&
        util_parse_rfc3339(cf, strlen(cf), &c) == 0 && c > b)
        util_format_duration((c - b) / 1000000, out, outlen);
}

static json_t *labels_of(const json_t *payload, const json_t *r)
{
    const char *kind = str_field(payload, "kind");
    const char *endpoint = str_field(r, "endpoint");
    json_t *l = json_object();
    json_object_set_new(l, "alertname", json_string("PerfRegression"));
    set_clipped(l, "service", str_field(payload, "service"));
    set_clipped(l, "endpoint", endpoint && endpoint[0] ? endpoint : "(service)");
    set_clipped(l, "kind", kind);
    set_clipped(l, "metric", str_field(r, "metric") ? str_field(r, "metric") : "unknown");
    if (json_is_object(json_object_get(r, "flag"))) {
        char *f = flag_text(json_object_get(r, "flag"));
        set_clipped(l, "flag", f);
        free(f);
    }
    char offset[32];
    offset_of(payload, offset, sizeof(offset));
    if (kind && strcmp(kind, "trend") == 0 && offset[0])
        json_object_set_new(l, "offset", json_string(offset));
    return l;
}

static void set_number(json_t *a, const char *key, const json_t *v)
{
    char text[64];
    if (json_is_number(v))
        snprintf(text, sizeof(text), "%.6g", json_number_value(v));
    else
        snprintf(text, sizeof(text), "n/a");
    json_object_set_new(a, key, json_string(text));
}

static json_t *annotations_of(const json_t *payload, const json_t *r)
{
    static const char *const numbers[] = {"delta_pct", "ci_low_pct", "ci_high_pct",
                                          "p_value",   "baseline",   "candidate"};
    char delta[32], lo[32], hi[32];
    alert_format_pct(json_object_get(r, "delta_pct"), delta, sizeof(delta));
    alert_format_pct(json_object_get(r, "ci_low_pct"), lo, sizeof(lo));
    alert_format_pct(json_object_get(r, "ci_high_pct"), hi, sizeof(hi));
    struct buf d = {0};
    buf_printf(&d, "%s %s [%s, %s] from %s to %s",
               str_field(r, "metric") ? str_field(r, "metric") : "?", delta, lo, hi,
               str_field(json_object_get(payload, "baseline"), "label")
                   ? str_field(json_object_get(payload, "baseline"), "label")
                   : "?",
               str_field(json_object_get(payload, "candidate"), "label")
                   ? str_field(json_object_get(payload, "candidate"), "label")
                   : "?");
    json_t *a = json_object();
    set_clipped(a, "summary", str_field(payload, "title") ? str_field(payload, "title") : "");
    set_clipped(a, "description", buf_cstr(&d));
    buf_free(&d);
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(numbers); i++)
        set_number(a, numbers[i], json_object_get(r, numbers[i]));
    set_clipped(a, "baseline_label", str_field(json_object_get(payload, "baseline"), "label"));
    set_clipped(a, "candidate_label", str_field(json_object_get(payload, "candidate"), "label"));
    set_clipped(a, "alert_id", str_field(payload, "alert_id"));
    set_clipped(a, "dedup_key", str_field(payload, "dedup_key"));
    return a;
}

json_t *alert_alertmanager_body(const json_t *payload, int64_t starts_us, int64_t ends_us)
{
    char starts[UTIL_TS_BUFLEN], ends[UTIL_TS_BUFLEN];
    util_format_ts(starts_us, starts);
    /* Alertmanager rejects an alert that ends before it starts. */
    util_format_ts(ends_us > starts_us ? ends_us : starts_us + 1000, ends);
    json_t *out = json_array();
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(payload, "regressions"), i, r)
    {
        json_t *alert = json_object();
        json_object_set_new(alert, "labels", labels_of(payload, r));
        json_object_set_new(alert, "annotations", annotations_of(payload, r));
        json_object_set_new(alert, "startsAt", json_string(starts));
        json_object_set_new(alert, "endsAt", json_string(ends));
        json_array_append_new(out, alert);
    }
    return out;
}
