/* Slack incoming-webhook body (Block Kit) of an alert payload.
 *
 * Everything that came from the data (endpoints, labels, flag values, suspects, titles) is text
 * someone else chose: it goes into plain_text objects (no formatting, no mentions), or into the
 * code block of the table with & < > escaped and backticks replaced, so it can neither close
 * the block nor ping a channel. Newlines and other control characters become spaces. Slack's
 * limits (header 150 characters, section text 3000, field 2000, 50 blocks) are kept with
 * margins, cutting on character boundaries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"
#include "regressd/alert.h"

#define SLACK_HEADER_MAX 150
#define SLACK_TABLE_MAX 2900 /* bytes of the code block; the limit is 3000 characters */
#define SLACK_FIELD_MAX 300
#define SLACK_TEXT_MAX 2000
#define SLACK_ENDPOINT_COL 40

static json_t *plain(const char *text, size_t max_chars)
{
    char *clipped = alert_text_clip(text && text[0] ? text : "-", max_chars);
    json_t *o = json_pack("{s:s, s:s, s:b}", "type", "plain_text", "text", clipped, "emoji", 0);
    free(clipped);
    return o;
}

static json_t *header_block(const json_t *payload)
{
    const char *title = json_string_value(json_object_get(payload, "title"));
    return json_pack("{s:s, s:o}", "type", "header", "text",
                     plain(title ? title : "regressd alert", SLACK_HEADER_MAX));
}

/* "Name\nvalue": the one newline is ours, the value's own control characters are cleaned. */
static json_t *field(const char *name, const char *value)
{
    struct buf b = {0};
    buf_printf(&b, "%s\n", name);
    alert_text_append(&b, value && value[0] ? value : "-", SLACK_FIELD_MAX, ALERT_TEXT_PLAIN);
    json_t *o =
        json_pack("{s:s, s:s, s:b}", "type", "plain_text", "text", buf_cstr(&b), "emoji", 0);
    buf_free(&b);
    return o;
}

static const char *label_of(const json_t *payload, const char *side)
{
    return json_string_value(json_object_get(json_object_get(payload, side), "label"));
}

static json_t *labels_block(const json_t *payload)
{
    char conf[32] = "-";
    const json_t *c = json_object_get(payload, "confidence");
    if (json_is_number(c))
        snprintf(conf, sizeof(conf), "%g%%", 100.0 * json_number_value(c));
    json_t *fields = json_array();
    json_array_append_new(fields, field("Baseline", label_of(payload, "baseline")));
    json_array_append_new(fields, field("Candidate", label_of(payload, "candidate")));
    json_array_append_new(fields,
                          field("Kind", json_string_value(json_object_get(payload, "kind"))));
    json_array_append_new(fields, field("Confidence", conf));
    return json_pack("{s:s, s:o}", "type", "section", "fields", fields);
}

static const char *metric_short(const char *metric)
{
    if (!metric)
        return "?";
    if (strcmp(metric, "instructions_per_user") == 0)
        return "instr/user";
    if (strcmp(metric, "instructions_per_request") == 0)
        return "instr/req";
    if (strcmp(metric, "latency_us_mean") == 0)
        return "latency";
    return metric;
}

/* The endpoint cell's source text: the endpoint (or "(service)") and the flag. Caller frees. */
static char *endpoint_text(const json_t *r)
{
    struct buf b = {0};
    const char *ep = json_string_value(json_object_get(r, "endpoint"));
    buf_append_str(&b, ep ? ep : "(service)");
    const json_t *flag = json_object_get(r, "flag");
    if (json_is_object(flag)) {
        const json_t *v = json_object_get(flag, "value");
        char *vs = json_is_string(v) ? xstrdup(json_string_value(v))
                                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        const char *name = json_string_value(json_object_get(flag, "name"));
        buf_printf(&b, " [%s=%s]", name ? name : "?", vs ? vs : "?");
        free(vs);
    }
    char *s = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

static void pad(struct buf *b, size_t shown, size_t width)
{
    for (size_t i = shown; i < width; i++)
        buf_append_char(b, ' ');
}

/* One table row; the endpoint cell is cut to SLACK_ENDPOINT_COL characters. */
static void table_row(struct buf *row, const json_t *r, size_t width)
{
    char *ep = endpoint_text(r);
    char delta[32], lo[32], hi[32], metric[16];
    pad(row, alert_text_append(row, ep, width, ALERT_TEXT_CODE), width);
    free(ep);
    snprintf(metric, sizeof(metric), "%.12s",
             metric_short(json_string_value(json_object_get(r, "metric"))));
    alert_format_pct(json_object_get(r, "delta_pct"), delta, sizeof(delta));
    alert_format_pct(json_object_get(r, "ci_low_pct"), lo, sizeof(lo));
    alert_format_pct(json_object_get(r, "ci_high_pct"), hi, sizeof(hi));
    buf_append_str(row, "  ");
    pad(row, alert_text_append(row, metric, 12, ALERT_TEXT_CODE), 12);
    buf_printf(row, "  %9s  [%s, %s]\n", delta, lo, hi);
}

static size_t endpoint_width(const json_t *regressions)
{
    size_t width = 8, i;
    const json_t *r;
    json_array_foreach(regressions, i, r)
    {
        char *ep = endpoint_text(r);
        size_t n = alert_utf8_len(ep);
        free(ep);
        if (n > width)
            width = n;
        if (width >= SLACK_ENDPOINT_COL)
            return SLACK_ENDPOINT_COL;
    }
    return width;
}

/* The regressions as a fixed-width table in a code block, as many rows as fit. */
static json_t *table_block(const json_t *payload)
{
    const json_t *regs = json_object_get(payload, "regressions");
    size_t width = endpoint_width(regs), n = json_array_size(regs), shown = 0;
    struct buf t = {0}, row = {0};
    buf_append_str(&t, "```\n");
    pad(&t, alert_text_append(&t, "endpoint", width, ALERT_TEXT_CODE), width);
    buf_printf(&t, "  %-12s  %9s  %s\n", "metric", "change", "interval");
    for (; shown < n; shown++) {
        buf_reset(&row);
        table_row(&row, json_array_get(regs, shown), width);
        if (t.len + row.len + 64 > SLACK_TABLE_MAX)
            break;
        buf_append(&t, row.data, row.len);
    }
    size_t more =
        n - shown + (size_t)json_integer_value(json_object_get(payload, "regressions_omitted"));
    if (more)
        buf_printf(&t, "... and %zu more\n", more);
    buf_append_str(&t, "```");
    json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type", "mrkdwn",
                          "text", buf_cstr(&t));
    buf_free(&t);
    buf_free(&row);
    return o;
}

/* A suspect as one line: a string, else its label/commit/name, else compact JSON. */
static void suspect_text(const json_t *s, struct buf *b)
{
    static const char *const keys[] = {"label", "commit", "name", "endpoint"};
    if (json_is_string(s)) {
        buf_append_str(b, json_string_value(s));
        return;
    }
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        const char *v = json_string_value(json_object_get(s, keys[i]));
        if (v) {
            buf_append_str(b, v);
            return;
        }
    }
    char *dump = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
    buf_append_str(b, dump ? dump : "?");
    free(dump);
}

static json_t *suspects_block(const json_t *suspects)
{
    struct buf b = {0};
    buf_append_str(&b, "Suspects: ");
    if (json_is_array(suspects)) {
        size_t i;
        const json_t *s;
        json_array_foreach(suspects, i, s)
        {
            if (i == 10) {
                buf_printf(&b, "; and %zu more", json_array_size(suspects) - 10);
                break;
            }
            buf_append_str(&b, i ? "; " : "");
            suspect_text(s, &b);
        }
    } else {
        suspect_text(suspects, &b);
    }
    json_t *o =
        json_pack("{s:s, s:o}", "type", "section", "text", plain(buf_cstr(&b), SLACK_TEXT_MAX));
    buf_free(&b);
    return o;
}

static json_t *context_block(const char *text)
{
    return json_pack("{s:s, s:[o]}", "type", "context", "elements", plain(text, SLACK_TEXT_MAX));
}

/* "Also 3 more alerts for web since …, held by the per-service cap: title; title". */
static json_t *overflow_block(const json_t *payload, const json_t *overflow)
{
    struct buf b = {0};
    const json_t *alerts = json_object_get(overflow, "alerts");
    const char *since = json_string_value(json_object_get(overflow, "since"));
    buf_printf(&b, "Also %lld more alert(s) for %s since %s, held by the per-service cap: ",
               (long long)json_integer_value(json_object_get(overflow, "count")),
               json_string_value(json_object_get(payload, "service")), since ? since : "?");
    size_t i;
    const json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *title = json_string_value(json_object_get(a, "title"));
        buf_printf(&b, "%s%s", i ? "; " : "", title ? title : "?");
    }
    json_t *o = context_block(buf_cstr(&b));
    buf_free(&b);
    return o;
}

static json_t *footer_block(const json_t *payload)
{
    char text[256];
    const char *id = json_string_value(json_object_get(payload, "alert_id"));
    const char *kind = json_string_value(json_object_get(payload, "kind"));
    const char *at = json_string_value(json_object_get(payload, "created_at"));
    snprintf(text, sizeof(text), "regressd alert %s, %s, %s", id ? id : "?", kind ? kind : "?",
             at ? at : "?");
    return context_block(text);
}

json_t *alert_slack_body(const json_t *payload)
{
    json_t *blocks = json_array();
    json_array_append_new(blocks, header_block(payload));
    json_array_append_new(blocks, labels_block(payload));
    json_array_append_new(blocks, table_block(payload));
    const json_t *suspects = json_object_get(payload, "suspects");
    if (suspects && !json_is_null(suspects))
        json_array_append_new(blocks, suspects_block(suspects));
    const json_t *overflow = json_object_get(payload, "overflow");
    if (json_is_object(overflow))
        json_array_append_new(blocks, overflow_block(payload, overflow));
    json_array_append_new(blocks, footer_block(payload));
    /* The notification text is mrkdwn: escaped so that no <!channel> or link gets through. */
    const char *title = json_string_value(json_object_get(payload, "title"));
    struct buf fallback = {0};
    alert_text_append(&fallback, title ? title : "regressd alert", SLACK_TEXT_MAX, ALERT_TEXT_CODE);
    json_t *o = json_pack("{s:s, s:o}", "text", buf_cstr(&fallback), "blocks", blocks);
    buf_free(&fallback);
    return o;
}
