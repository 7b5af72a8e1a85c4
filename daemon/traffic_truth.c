/* Ground truth of the traffic generator: what it produced (counts and instruction sums per
 * service/endpoint/commit and per flag value) and what it planted, as a table or as JSON. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traffic_int.h"

static size_t flag_index(const struct traffic *t, int endpoint, int flag, int slot)
{
    return ((size_t)endpoint * (size_t)t->flag_count + (size_t)flag) * 2 + (size_t)slot;
}

void traffic_truth_count(struct traffic *t, const struct t_sample *s)
{
    struct t_service *sv = &t->services[s->service];
    double instr = (double)s->instructions;
    size_t c = (size_t)s->endpoint * (size_t)sv->commit_count + (size_t)s->commit;
    sv->cell_n[c]++;
    sv->cell_sum[c] += instr;
    uint16_t bits = t->user_flags[s->user];
    for (int f = 0; f < t->flag_count; f++) {
        int slot = (bits >> f) & 1 ? 0 : 1;
        if (slot == 1 && !t->flags[f].other)
            continue;
        size_t i = flag_index(t, s->endpoint, f, slot);
        sv->flag_n[i]++;
        sv->flag_sum[i] += instr;
    }
    for (int i = 0; i < t->plant_count; i++) {
        struct t_plant *p = &t->plants[i];
        int m = traffic_plant_match(t, p, s);
        struct plant_acc *a = &p->acc[t->endpoint_offset[s->service] + (size_t)s->endpoint];
        if (m == 1) {
            a->cand_n++;
            a->cand_sum += instr;
        } else if (m == 0) {
            a->base_n++;
            a->base_sum += instr;
        }
    }
}

void traffic_truth_free(struct traffic *t)
{
    free(t->truth_cells);
    free(t->truth_flag_cells);
    free(t->truth_plants);
    t->truth_cells = NULL;
    t->truth_flag_cells = NULL;
    t->truth_plants = NULL;
}

static size_t collect_cells(struct traffic *t)
{
    size_t n = 0, cap = 16;
    struct traffic_cell *cells = xmalloc(cap * sizeof(*cells));
    for (int i = 0; i < t->service_count; i++) {
        const struct t_service *s = &t->services[i];
        for (int e = 0; e < s->endpoint_count; e++)
            for (int c = 0; c < s->commit_count; c++) {
                size_t k = (size_t)e * (size_t)s->commit_count + (size_t)c;
                if (!s->cell_n[k])
                    continue;
                if (n == cap)
                    cells = xrealloc(cells, (cap *= 2) * sizeof(*cells));
                cells[n++] = (struct traffic_cell){s->name, s->endpoints[e].name, s->commits[c],
                                                   s->cell_n[k], s->cell_sum[k]};
            }
    }
    t->truth_cells = cells;
    return n;
}

static size_t collect_flag_cells(struct traffic *t)
{
    size_t n = 0, cap = 16;
    struct traffic_flag_cell *cells = xmalloc(cap * sizeof(*cells));
    for (int i = 0; i < t->service_count; i++) {
        const struct t_service *s = &t->services[i];
        for (int e = 0; e < s->endpoint_count; e++)
            for (int f = 0; f < t->flag_count; f++)
                for (int slot = 0; slot < 2; slot++) {
                    size_t k = flag_index(t, e, f, slot);
                    if (!s->flag_n[k])
                        continue;
                    if (n == cap)
                        cells = xrealloc(cells, (cap *= 2) * sizeof(*cells));
                    const struct t_flag *fl = &t->flags[f];
                    cells[n++] = (struct traffic_flag_cell){
                        s->name,      s->endpoints[e].name, fl->name, slot ? fl->other : fl->value,
                        s->flag_n[k], s->flag_sum[k]};
                }
    }
    t->truth_flag_cells = cells;
    return n;
}

/* The baseline commit's name when every service the plant applies to has the same one. */
static const char *plant_baseline_name(const struct traffic *t, const struct t_plant *p)
{
    const char *name = NULL;
    for (int i = 0; i < t->service_count; i++) {
        if (p->endpoint[i] == -2 || p->baseline[i] < 0)
            continue;
        const char *b = t->services[i].commits[p->baseline[i]];
        if (name && strcmp(name, b))
            return NULL;
        name = b;
    }
    return name;
}

/* Candidate mean, and the baseline mean re-weighted to the candidate's endpoint mix: per
 * endpoint the baseline's mean, weighted by the candidate's request count there. Endpoints
 * without samples on both sides are left out of both means. */
static void plant_means(const struct traffic *t, const struct t_plant *p,
                        struct traffic_plant_truth *pt)
{
    double cand_sum = 0, base_expect = 0;
    uint64_t cand_n = 0;
    for (size_t i = 0; i < t->endpoint_total; i++) {
        const struct plant_acc *a = &p->acc[i];
        pt->candidate_samples += a->cand_n;
        pt->baseline_samples += a->base_n;
        if (!a->cand_n || !a->base_n)
            continue;
        cand_n += a->cand_n;
        cand_sum += a->cand_sum;
        base_expect += (double)a->cand_n * (a->base_sum / (double)a->base_n);
    }
    pt->candidate_mean = cand_n ? cand_sum / (double)cand_n : 0;
    pt->baseline_mean = cand_n ? base_expect / (double)cand_n : 0;
}

void traffic_truth(struct traffic *t, struct traffic_truth *out)
{
    traffic_truth_free(t);
    memset(out, 0, sizeof(*out));
    out->messages = t->messages;
    out->valid_samples = t->produced;
    out->malformed_messages = t->malformed_messages;
    memcpy(out->malformed_by_kind, t->malformed_by_kind, sizeof(out->malformed_by_kind));
    out->cell_count = collect_cells(t);
    out->cells = t->truth_cells;
    out->flag_cell_count = collect_flag_cells(t);
    out->flag_cells = t->truth_flag_cells;
    t->truth_plants = xcalloc((size_t)t->plant_count + 1, sizeof(*t->truth_plants));
    for (int i = 0; i < t->plant_count; i++) {
        const struct t_plant *p = &t->plants[i];
        struct traffic_plant_truth *pt = &t->truth_plants[i];
        pt->plant = &p->p;
        pt->baseline_commit = p->p.kind == TRAFFIC_PLANT_COMMIT ? plant_baseline_name(t, p) : NULL;
        plant_means(t, p, pt);
    }
    out->plants = t->truth_plants;
    out->plant_count = (size_t)t->plant_count;
}

/* ---- readable table ------------------------------------------------------------------------- */

static void describe_plant(const struct traffic_plant *p, char *out, size_t len)
{
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN];
    const char *svc = p->service ? p->service : "*";
    const char *ep = p->endpoint ? p->endpoint : "*";
    switch (p->kind) {
    case TRAFFIC_PLANT_COMMIT:
        snprintf(out, len, "%s %s commit=%s", svc, ep, p->commit);
        break;
    case TRAFFIC_PLANT_FLAG:
        snprintf(out, len, "%s %s flag %s=%s", svc, ep, p->flag, p->value);
        break;
    case TRAFFIC_PLANT_WINDOW:
        util_format_ts(p->from_us, from);
        util_format_ts(p->to_us, to);
        snprintf(out, len, "%s %s window %s..%s", svc, ep, from, to);
        break;
    }
}

static void print_counts(const struct traffic_truth *tr, FILE *out)
{
    fprintf(out, "messages %" PRIu64 ", valid samples %" PRIu64 ", malformed messages %" PRIu64,
            tr->messages, tr->valid_samples, tr->malformed_messages);
    const char *sep = " (";
    for (int k = 0; k < TRAFFIC_BAD_KINDS; k++)
        if (tr->malformed_by_kind[k]) {
            fprintf(out, "%s%s %" PRIu64, sep, traffic_malformed_kind_name(k),
                    tr->malformed_by_kind[k]);
            sep = ", ";
        }
    fprintf(out, "%s\n", tr->malformed_messages ? ")" : "");
    fprintf(out, "%-12s %-24s %-16s %10s %14s\n", "service", "endpoint", "commit", "samples",
            "mean_instr");
    for (size_t i = 0; i < tr->cell_count; i++) {
        const struct traffic_cell *c = &tr->cells[i];
        fprintf(out, "%-12s %-24s %-16s %10" PRIu64 " %14.4g\n", c->service, c->endpoint, c->commit,
                c->samples, c->instructions_sum / (double)c->samples);
    }
}

static void print_flags(const struct traffic_truth *tr, FILE *out)
{
    if (!tr->flag_cell_count)
        return;
    fprintf(out, "%-12s %-24s %-24s %10s %14s\n", "service", "endpoint", "flag", "samples",
            "mean_instr");
    for (size_t i = 0; i < tr->flag_cell_count; i++) {
        const struct traffic_flag_cell *c = &tr->flag_cells[i];
        char fv[160];
        snprintf(fv, sizeof(fv), "%s=%s", c->flag, c->value);
        fprintf(out, "%-12s %-24s %-24s %10" PRIu64 " %14.4g\n", c->service, c->endpoint, fv,
                c->samples, c->instructions_sum / (double)c->samples);
    }
}

static void print_plants(const struct traffic_truth *tr, FILE *out)
{
    for (size_t i = 0; i < tr->plant_count; i++) {
        const struct traffic_plant_truth *p = &tr->plants[i];
        char what[512];
        describe_plant(p->plant, what, sizeof(what));
        double realised = p->baseline_mean > 0 ? p->candidate_mean / p->baseline_mean : 0;
        fprintf(out,
                "planted %+.2f%% on %s%s%s: data %+.2f%% (candidate %" PRIu64
                " samples, baseline %" PRIu64 ")\n",
                100 * (p->plant->factor - 1), what, p->baseline_commit ? " vs commit=" : "",
                p->baseline_commit ? p->baseline_commit : "", 100 * (realised - 1),
                p->candidate_samples, p->baseline_samples);
    }
}

void traffic_truth_print(struct traffic *t, FILE *out)
{
    struct traffic_truth tr;
    char from[UTIL_TS_BUFLEN], to[UTIL_TS_BUFLEN];
    traffic_truth(t, &tr);
    util_format_ts(t->cfg.start_us, from);
    util_format_ts(t->cfg.end_us, to);
    fprintf(out, "ground truth: seed %" PRIu64 ", event time %s .. %s, %u users\n", t->cfg.seed,
            from, to, t->user_count);
    for (int i = 0; i < t->service_count; i++) {
        const struct t_service *s = &t->services[i];
        fprintf(out, "service %s: commit %s at start", s->name, s->commits[0]);
        for (int d = 0; d < s->deploy_count; d++) {
            util_format_ts(s->deploys[d].at_us, from);
            fprintf(out, "; deploy %s at %s (rolling %" PRId64 " s)",
                    s->commits[s->deploys[d].commit], from, s->deploys[d].rolling_us / 1000000);
        }
        fputc('\n', out);
    }
    for (int f = 0; f < t->flag_count; f++)
        fprintf(out, "flag %s=%s for %.1f%% of users%s%s\n", t->flags[f].name, t->flags[f].value,
                100 * t->flags[f].fraction, t->flags[f].other ? ", others " : "",
                t->flags[f].other ? t->flags[f].other : "");
    print_counts(&tr, out);
    print_flags(&tr, out);
    print_plants(&tr, out);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static json_t *json_ts(int64_t us)
{
    char s[UTIL_TS_BUFLEN];
    util_format_ts(us, s);
    return json_string(s);
}

static json_t *json_model(const struct traffic *t)
{
    json_t *services = json_array();
    for (int i = 0; i < t->service_count; i++) {
        const struct t_service *s = &t->services[i];
        json_t *eps = json_array(), *deploys = json_array();
        for (int e = 0; e < s->endpoint_count; e++)
            json_array_append_new(eps,
                                  json_pack("{s:s, s:f, s:f}", "name", s->endpoints[e].name,
                                            "median_instructions", exp(s->endpoints[e].log_median),
                                            "sigma", s->endpoints[e].sigma));
        for (int d = 0; d < s->deploy_count; d++)
            json_array_append_new(deploys,
                                  json_pack("{s:s, s:s, s:o, s:I}", "commit",
                                            s->commits[s->deploys[d].commit], "baseline",
                                            s->commits[s->deploys[d].prev_commit], "at",
                                            json_ts(s->deploys[d].at_us), "rolling_s",
                                            (json_int_t)(s->deploys[d].rolling_us / 1000000)));
        json_array_append_new(services,
                              json_pack("{s:s, s:s, s:o, s:o}", "name", s->name, "initial_commit",
                                        s->commits[0], "endpoints", eps, "deploys", deploys));
    }
    return services;
}

static json_t *json_cells(const struct traffic_truth *tr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < tr->cell_count; i++) {
        const struct traffic_cell *c = &tr->cells[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:f}", "service", c->service,
                                           "endpoint", c->endpoint, "commit", c->commit, "samples",
                                           (json_int_t)c->samples, "instructions_sum",
                                           c->instructions_sum));
    }
    return a;
}

static json_t *json_flag_cells(const struct traffic_truth *tr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < tr->flag_cell_count; i++) {
        const struct traffic_flag_cell *c = &tr->flag_cells[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I, s:f}", "service", c->service,
                                           "endpoint", c->endpoint, "flag", c->flag, "value",
                                           c->value, "samples", (json_int_t)c->samples,
                                           "instructions_sum", c->instructions_sum));
    }
    return a;
}

static json_t *json_plant(const struct traffic_plant_truth *pt)
{
    static const char *const kinds[] = {"commit", "flag", "window"};
    const struct traffic_plant *p = pt->plant;
    json_t *o = json_pack("{s:s, s:o, s:o, s:f, s:f}", "kind", kinds[p->kind], "service",
                          p->service ? json_string(p->service) : json_null(), "endpoint",
                          p->endpoint ? json_string(p->endpoint) : json_null(), "factor", p->factor,
                          "delta_pct", 100 * (p->factor - 1));
    if (p->kind == TRAFFIC_PLANT_COMMIT) {
        json_object_set_new(o, "commit", json_string(p->commit));
        json_object_set_new(o, "baseline_commit",
                            pt->baseline_commit ? json_string(pt->baseline_commit) : json_null());
    } else if (p->kind == TRAFFIC_PLANT_FLAG) {
        json_object_set_new(o, "flag", json_pack("{s:s, s:s}", "name", p->flag, "value", p->value));
    } else {
        json_object_set_new(o, "from", json_ts(p->from_us));
        json_object_set_new(o, "to", json_ts(p->to_us));
    }
    json_object_set_new(o, "candidate",
                        json_pack("{s:I, s:f}", "samples", (json_int_t)pt->candidate_samples,
                                  "mean_instructions", pt->candidate_mean));
    json_object_set_new(o, "baseline",
                        json_pack("{s:I, s:f}", "samples", (json_int_t)pt->baseline_samples,
                                  "mean_instructions", pt->baseline_mean));
    double r = pt->baseline_mean > 0 ? pt->candidate_mean / pt->baseline_mean : 0;
    json_object_set_new(o, "data_delta_pct", r > 0 ? json_real(100 * (r - 1)) : json_null());
    return o;
}

static json_t *json_flags(const struct traffic *t)
{
    json_t *a = json_array();
    for (int f = 0; f < t->flag_count; f++) {
        const struct t_flag *fl = &t->flags[f];
        json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:f}", "name", fl->name, "value",
                                           fl->value, "other",
                                           fl->other ? json_string(fl->other) : json_null(),
                                           "fraction", fl->fraction));
    }
    return a;
}

void traffic_truth_json(struct traffic *t, struct buf *out)
{
    struct traffic_truth tr;
    traffic_truth(t, &tr);
    json_t *bad = json_object();
    for (int k = 0; k < TRAFFIC_BAD_KINDS; k++)
        json_object_set_new(bad, traffic_malformed_kind_name(k),
                            json_integer((json_int_t)tr.malformed_by_kind[k]));
    json_t *plants = json_array();
    for (size_t i = 0; i < tr.plant_count; i++)
        json_array_append_new(plants, json_plant(&tr.plants[i]));
    json_t *root = json_pack(
        "{s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "seed",
        (json_int_t)t->cfg.seed, "start", json_ts(t->cfg.start_us), "end", json_ts(t->cfg.end_us),
        "users", (json_int_t)t->user_count, "messages", (json_int_t)tr.messages, "valid_samples",
        (json_int_t)tr.valid_samples, "malformed_messages", (json_int_t)tr.malformed_messages,
        "malformed_by_kind", bad, "services", json_model(t), "flags", json_flags(t), "cells",
        json_cells(&tr), "flag_cells", json_flag_cells(&tr), "plants", plants);
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (s)
        buf_append_str(out, s);
    free(s);
    json_decref(root);
}
