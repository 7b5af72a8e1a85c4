/* The renderings of a deploy report: the CONTRACT's `check --json` object and the human table
 * with "where it happened". A number that cannot be computed is JSON null, never NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/detector.h"

#define REPORT_TOP_PARTS 20 /* endpoints listed in the JSON decomposition */
#define REPORT_TEXT_PARTS 5 /* and in the text */

json_t *detector_json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_ts(int64_t us)
{
    char ts[UTIL_TS_BUFLEN];
    util_format_ts(us, ts);
    return json_string(ts);
}

static json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static bool is_deploy(const struct detector_report *r)
{
    return strcmp(r->kind, "deploy") == 0;
}

/* "commit 8b01d7aa", or the side's label (trends, flags). */
static void side_label(const struct detector_report *r, int s, char *out, size_t outlen)
{
    if (r->label[s])
        snprintf(out, outlen, "%s", r->label[s]);
    else
        snprintf(out, outlen, "commit %s", r->commit[s] ? r->commit[s] : "(unknown)");
}

static json_t *side_json(const struct detector_report *r, int s)
{
    json_t *o = json_object();
    char label[256];
    side_label(r, s, label, sizeof(label));
    json_object_set_new(o, "label", json_string(label));
    if (is_deploy(r))
        json_object_set_new(o, "commit", json_str_or_null(r->commit[s]));
    json_object_set_new(o, "from", json_ts(r->from[s]));
    json_object_set_new(o, "to", json_ts(r->to[s]));
    json_object_set_new(o, "samples", json_integer((json_int_t)r->samples[s]));
    json_object_set_new(o, "users", json_integer((json_int_t)r->users[s]));
    if (r->user_to[s] > r->user_from[s]) {
        json_t *w = json_object();
        json_object_set_new(w, "from", json_ts(r->user_from[s]));
        json_object_set_new(w, "to", json_ts(r->user_to[s]));
        json_object_set_new(o, "user_window", w);
    } else {
        json_object_set_new(o, "user_window", json_null());
    }
    return o;
}

static json_t *pct_or_null(bool ok, double fraction)
{
    return ok ? detector_json_number(100.0 * fraction) : json_null();
}

static json_t *result_json(const struct detector_result *res)
{
    const struct stats_comparison *c = &res->res.cmp;
    const struct stats_input *in = &res->in;
    json_t *o = json_object();
    json_object_set_new(o, "metric", json_string(detector_metric_name(res->metric)));
    json_object_set_new(o, "endpoint", json_str_or_null(res->endpoint));
    if (res->flag_name)
        json_object_set_new(o, "flag",
                            json_pack("{ssss}", "name", res->flag_name, "value",
                                      res->flag_value ? res->flag_value : ""));
    else
        json_object_set_new(o, "flag", json_null());
    json_object_set_new(o, "baseline",
                        in->base.ok ? detector_json_number(in->base.ratio) : json_null());
    json_object_set_new(o, "candidate",
                        in->cand.ok ? detector_json_number(in->cand.ratio) : json_null());
    json_object_set_new(o, "delta_pct", pct_or_null(c->ok, c->delta));
    json_object_set_new(o, "ci_low_pct", pct_or_null(c->ok, c->ci_low));
    json_object_set_new(o, "ci_high_pct", pct_or_null(c->ok, c->ci_high));
    json_object_set_new(o, "p_value", c->ok ? detector_json_number(c->p_value) : json_null());
    json_object_set_new(o, "samples_baseline", json_integer((json_int_t)in->base_samples));
    json_object_set_new(o, "samples_candidate", json_integer((json_int_t)in->cand_samples));
    json_object_set_new(o, "verdict", json_string(stats_verdict_name(res->res.verdict)));
    json_object_set_new(o, "reason", json_string(stats_reason_name(res->res.reason)));
    json_object_set_new(o, "q_value",
                        res->res.tested ? detector_json_number(res->res.q_value) : json_null());
    json_object_set_new(o, "min_effect_pct", detector_json_number(100.0 * res->min_effect));
    json_object_set_new(o, "users_baseline", json_integer((json_int_t)in->base_users));
    json_object_set_new(o, "users_candidate", json_integer((json_int_t)in->cand_users));
    json_object_set_new(o, "gates", json_boolean(res->gates));
    json_object_set_new(o, "note", json_str_or_null(res->note));
    return o;
}

static json_t *where_json(const struct detector_decomposition *dec)
{
    if (!dec->ok)
        return json_null();
    json_t *o = json_object(), *eps = json_array();
    json_object_set_new(o, "per_user_pct", detector_json_number(100.0 * dec->per_user));
    json_object_set_new(o, "per_request_pct", detector_json_number(100.0 * dec->per_request));
    json_object_set_new(o, "mix_pct", detector_json_number(100.0 * dec->mix));
    json_object_set_new(o, "requests_per_user_pct",
                        detector_json_number(100.0 * dec->requests_per_user));
    for (size_t i = 0; i < dec->n_parts && i < REPORT_TOP_PARTS; i++) {
        const struct detector_part *pt = &dec->parts[i];
        json_t *e = json_object();
        json_object_set_new(e, "endpoint", json_string(pt->endpoint));
        json_object_set_new(e, "delta_pct", detector_json_number(100.0 * pt->delta));
        json_object_set_new(e, "rate_pct", detector_json_number(100.0 * pt->rate));
        json_object_set_new(e, "mix_pct", detector_json_number(100.0 * pt->mix));
        json_array_append_new(eps, e);
    }
    json_object_set_new(o, "endpoints", eps);
    return o;
}

json_t *detector_report_json(const struct detector_report *r)
{
    json_t *o = json_object(), *results = json_array();
    json_object_set_new(o, "kind", json_string(r->kind));
    json_object_set_new(o, "service", json_string(r->service));
    if (is_deploy(r)) {
        json_object_set_new(o, "deploy_id",
                            r->deploy_id ? json_integer(r->deploy_id) : json_null());
        json_object_set_new(o, "deployed_at", json_ts(r->deployed_at_us));
    } else {
        char d[32];
        util_format_duration(r->window_us / 1000000, d, sizeof(d));
        json_object_set_new(o, "window", json_string(d));
        util_format_duration(r->offset_us / 1000000, d, sizeof(d));
        json_object_set_new(o, "offset", r->offset_us ? json_string(d) : json_null());
    }
    json_object_set_new(o, "baseline", side_json(r, DETECTOR_BASE));
    json_object_set_new(o, "candidate", side_json(r, DETECTOR_CAND));
    json_object_set_new(o, "confidence", detector_json_number(r->confidence));
    json_object_set_new(o, "complete", json_boolean(r->complete));
    json_object_set_new(o, "verdict", json_string(stats_verdict_name(r->verdict)));
    json_object_set_new(o, "verdict_reason", json_str_or_null(r->verdict_reason));
    for (size_t i = 0; i < r->n_results; i++)
        json_array_append_new(results, result_json(&r->results[i]));
    json_object_set_new(o, "results", results);
    json_object_set_new(o, "endpoints_skipped", json_integer((json_int_t)r->endpoints_skipped));
    if (strcmp(r->kind, "trend") == 0) {
        json_object_set_new(o, "endpoints_not_compared",
                            json_integer((json_int_t)r->endpoints_light));
        json_object_set_new(o, "suspects", r->suspects ? json_incref(r->suspects) : json_array());
    }
    if (strcmp(r->kind, "flag") == 0) {
        json_object_set_new(o, "flag_values", json_integer((json_int_t)r->flag_values));
        json_object_set_new(o, "flag_values_not_compared",
                            json_integer((json_int_t)r->flag_values_dropped));
    }
    json_object_set_new(o, "where", where_json(&r->dec));
    return o;
}

char *detector_json_dumps(const json_t *j, bool pretty)
{
    char *s = json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_REAL_PRECISION(10));
    if (!s) {
        fprintf(stderr, "regressd: out of memory rendering a report\n");
        abort();
    }
    return s;
}

char *detector_report_dumps(const struct detector_report *r, bool pretty)
{
    json_t *j = detector_report_json(r);
    char *s = detector_json_dumps(j, pretty);
    json_decref(j);
    return s;
}

/* ---- text ---- */

static void text_side(const struct detector_report *r, int s, struct buf *out)
{
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN], label[256];
    util_format_ts(r->from[s], from);
    util_format_ts(r->to[s], to);
    side_label(r, s, label, sizeof(label));
    const char *side = s == DETECTOR_BASE ? "baseline" : "candidate";
    if (strcmp(r->kind, "trend") == 0) /* the label holds the window */
        buf_printf(out, "  %-9s  %-50s %10.0f samples  %8lld users\n", side, label, r->samples[s],
                   (long long)r->users[s]);
    else if (strcmp(r->kind, "flag") == 0) /* both sides: the whole window */
        buf_printf(out, "  %-9s  %s\n", side, label);
    else
        buf_printf(out, "  %-9s  %-32.32s %.16s .. %.16s  %10.0f samples  %8lld users\n", side,
                   label, from, to, r->samples[s], (long long)r->users[s]);
}

static void text_title(const struct detector_report *r, struct buf *out)
{
    char w[32], o[32];
    util_format_duration(r->window_us / 1000000, w, sizeof(w));
    util_format_duration(r->offset_us / 1000000, o, sizeof(o));
    if (strcmp(r->kind, "trend") == 0) {
        buf_printf(out, "%s: trend, the last %s against the same %s %s earlier", r->service, w, w,
                   o);
    } else if (strcmp(r->kind, "flag") == 0) {
        char f[UTIL_TS_BUFLEN], t[UTIL_TS_BUFLEN];
        util_format_ts(r->from[1], f);
        util_format_ts(r->to[1], t);
        buf_printf(out,
                   "%s: flag scan over %s (%.16sZ..%.16sZ, %.0f samples, %lld users), %zu flag "
                   "value(s) compared",
                   r->service, w, f, t, r->samples[1], (long long)r->users[1], r->flag_values);
        if (r->flag_values_dropped)
            buf_printf(out, " (%zu more not compared: flags.max_values)", r->flag_values_dropped);
    } else {
        char at[UTIL_TS_BUFLEN];
        util_format_ts(r->deployed_at_us, at);
        buf_printf(out, "%s: commit %s against %s, deployed %.19sZ", r->service,
                   r->commit[1] ? r->commit[1] : "(unknown)",
                   r->commit[0] ? r->commit[0] : "(no baseline)", at);
        if (r->deploy_id)
            buf_printf(out, " (deploy %lld)", (long long)r->deploy_id);
    }
}

static void text_suspects(const struct detector_report *r, struct buf *out)
{
    if (strcmp(r->kind, "trend") != 0)
        return;
    size_t n = r->suspects ? json_array_size(r->suspects) : 0;
    if (n == 0) {
        buf_printf(out, "  suspects: no deploy and no flag change between the windows\n");
        return;
    }
    buf_printf(out, "  suspects (between the windows):\n");
    for (size_t i = 0; i < n; i++) {
        const char *l = json_string_value(json_object_get(json_array_get(r->suspects, i), "label"));
        buf_printf(out, "    - %s\n", l ? l : "?");
    }
}

static void text_header(const struct detector_report *r, struct buf *out)
{
    text_title(r, out);
    buf_printf(out, "\nverdict: %s — %s\n", stats_verdict_name(r->verdict),
               r->verdict_reason ? r->verdict_reason : "");
    text_side(r, DETECTOR_BASE, out);
    text_side(r, DETECTOR_CAND, out);
    if (is_deploy(r) && r->user_to[0] > r->user_from[0]) {
        char f0[UTIL_TS_BUFLEN], f1[UTIL_TS_BUFLEN];
        util_format_ts(r->user_from[0], f0);
        util_format_ts(r->user_from[1], f1);
        buf_printf(out,
                   "  per-user windows of %lld min: baseline from %.16s, candidate from %.16s\n",
                   (long long)((r->user_to[0] - r->user_from[0]) / 60000000), f0, f1);
    } else if (r->user_note) {
        buf_printf(out, "  no per-user windows: %s\n", r->user_note);
    }
    text_suspects(r, out);
    buf_printf(out, "  confidence %g%%%s", 100.0 * r->confidence,
               r->complete ? "" : "; the candidate window is not complete yet");
    if (r->endpoints_skipped)
        buf_printf(out, "; %zu result(s) without enough samples not shown", r->endpoints_skipped);
    if (r->endpoints_light)
        buf_printf(out, "; %zu light endpoint(s) not compared", r->endpoints_light);
    buf_append_char(out, '\n');
}

static void text_result(const struct detector_result *res, struct buf *out)
{
    const struct stats_comparison *c = &res->res.cmp;
    char name[160];
    if (res->flag_name)
        snprintf(name, sizeof(name), "%.40s=%.24s %s", res->flag_name,
                 res->flag_value ? res->flag_value : "",
                 res->endpoint ? res->endpoint : "(per user)");
    else if (res->endpoint)
        snprintf(name, sizeof(name), "%s", res->endpoint);
    else
        snprintf(name, sizeof(name), "%s",
                 res->metric == DETECTOR_PER_USER ? "(service) instructions per user"
                                                  : "(service) mean latency, info");
    buf_printf(out, "  %-12s ", stats_verdict_name(res->res.verdict));
    if (c->ok)
        buf_printf(out, "%+8.2f%%  [%+7.2f%%, %+7.2f%%]  %8.2g  ", 100.0 * c->delta,
                   100.0 * c->ci_low, 100.0 * c->ci_high, c->p_value);
    else
        buf_printf(out, "%9s  %20s  %8s  ", "-", "-", "-");
    buf_printf(out, "%-36s %9lld / %-9lld", name, (long long)res->in.base_samples,
               (long long)res->in.cand_samples);
    if (res->res.verdict == STATS_INCONCLUSIVE)
        buf_printf(out, " (%s)",
                   res->note && res->res.reason == STATS_REASON_NOT_COMPUTABLE
                       ? res->note
                       : stats_reason_name(res->res.reason));
    buf_append_char(out, '\n');
}

static void text_part(double pts, double total, const char *what, struct buf *out)
{
    buf_printf(out, "  %+7.2f pts", 100.0 * pts);
    if (fabs(total) >= 0.001)
        buf_printf(out, " %5.0f%%", 100.0 * pts / total);
    buf_printf(out, "  %s\n", what);
}

/* Points of the per-user change: the per-request parts scaled by the requests-per-user factor
 * (they then add up exactly), or of the per-request change without a per-user result. */
static void text_where(const struct detector_report *r, struct buf *out)
{
    const struct detector_decomposition *dec = &r->dec;
    if (!dec->ok)
        return;
    bool per_user = isfinite(dec->per_user) && isfinite(dec->requests_per_user);
    double total = per_user ? dec->per_user : dec->per_request;
    double scale = per_user ? 1.0 + dec->requests_per_user : 1.0, rest = 0.0;
    buf_printf(out, "\nwhere it happened: %+.2f%% per %s (%+.2f%% per request)\n", 100.0 * total,
               per_user ? "user" : "request", 100.0 * dec->per_request);
    for (size_t i = 0; i < dec->n_parts; i++) {
        const struct detector_part *pt = &dec->parts[i];
        if (i >= REPORT_TEXT_PARTS) {
            rest += pt->rate * scale;
            continue;
        }
        char what[320];
        if (isfinite(pt->delta))
            snprintf(what, sizeof(what), "%s (%+.2f%% per request)", pt->endpoint,
                     100.0 * pt->delta);
        else
            snprintf(what, sizeof(what), "%s", pt->endpoint);
        text_part(pt->rate * scale, total, what, out);
    }
    if (dec->n_parts > REPORT_TEXT_PARTS)
        text_part(rest, total, "other endpoints", out);
    text_part(dec->mix * scale, total, "request mix (shares of endpoints)", out);
    if (per_user)
        text_part(dec->requests_per_user, total, "requests per user", out);
}

void detector_report_text(const struct detector_report *r, struct buf *out)
{
    text_header(r, out);
    if (r->n_results == 0)
        return;
    buf_printf(out, "\n  %-12s %9s  %-20s  %8s  %-36s %s\n", "verdict", "delta", "interval", "p",
               "metric / endpoint", "samples base / cand");
    for (size_t i = 0; i < r->n_results; i++)
        text_result(&r->results[i], out);
    text_where(r, out);
}
