/* The traffic generator's model: services, endpoints, commits and deploys, hosts, flags,
 * plants, users and the daily rhythm, built once from the config (validated here). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traffic_int.h"

#define TRAFFIC_BIN_MIN_US (60 * INT64_C(1000000))
#define TRAFFIC_MAX_BINS 1000000
#define TRAFFIC_MAX_HOSTS 10000

static const char *const endpoint_names[] = {
    "/feed",          "/search",   "/profile",      "/messages",    "/notifications",
    "/photos/upload", "/comments", "/likes",        "/friends",     "/settings",
    "/groups",        "/events",   "/marketplace",  "/video/watch", "/stories",
    "/login",         "/checkout", "/ads/insights", "/pages",       "/api/graphql",
};
static const char *const regions[] = {"us-east-1", "eu-west-1", "ap-southeast-1"};

/* ---- small helpers ---------------------------------------------------------------------- */

void traffic_json_str(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_append_char(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_append_char(out, '\\');
            buf_append_char(out, (char)*p);
        } else if (*p < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            buf_append(out, esc, sizeof(esc));
        } else {
            buf_append_char(out, (char)*p);
        }
    }
    buf_append_char(out, '"');
}

/* f = prefix + value as a JSON string, e.g. traffic_frag_set(f, ",\"endpoint\":", "/feed"). */
void traffic_frag_set(struct frag *f, const char *prefix, const char *value)
{
    struct buf b = {0};
    buf_append_str(&b, prefix);
    traffic_json_str(&b, value);
    buf_cstr(&b);
    f->s = b.data;
    f->len = b.len;
}

static void frag_free(struct frag *f)
{
    free(f->s);
    f->s = NULL;
}

static double log_uniform(struct trng *r, double lo, double hi)
{
    return log(lo) + trng_uniform(r) * (log(hi) - log(lo));
}

static bool valid_service_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("._:/-", c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_text(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int find_service(const struct traffic *t, const char *name)
{
    for (int i = 0; i < t->service_count; i++)
        if (!strcmp(t->services[i].name, name))
            return i;
    return -1;
}

static int find_endpoint(const struct t_service *s, const char *name)
{
    for (int i = 0; i < s->endpoint_count; i++)
        if (!strcmp(s->endpoints[i].name, name))
            return i;
    return -1;
}

static int find_commit(const struct t_service *s, const char *name)
{
    for (int i = 0; i < s->commit_count; i++)
        if (!strcmp(s->commits[i], name))
            return i;
    return -1;
}

static int add_commit(struct t_service *s, const char *name)
{
    int c = find_commit(s, name);
    if (c >= 0)
        return c;
    c = s->commit_count++;
    s->commits[c] = xstrdup(name);
    traffic_frag_set(&s->commit_frags[c], ",\"commit\":", name);
    return c;
}

/* ---- config checks ------------------------------------------------------------------------ */

static int check_numbers(const struct traffic_config *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->end_us <= c->start_us)
        bad = "end must be after start";
    else if (c->users < 1 || c->users > TRAFFIC_MAX_USERS)
        bad = "users must be 1..10000000";
    else if (c->endpoints < 1 || c->endpoints > TRAFFIC_MAX_ENDPOINTS)
        bad = "endpoints must be 1..100000";
    else if (c->hosts < 1 || c->hosts > TRAFFIC_MAX_HOSTS)
        bad = "hosts must be 1..10000";
    else if (c->batch < 1 || c->batch > TRAFFIC_MAX_BATCH)
        bad = "batch must be 1..100000";
    else if (!(c->malformed >= 0 && c->malformed <= 0.9))
        bad = "malformed must be a fraction in [0, 0.9]";
    else if (!(c->epoch_ms_fraction >= 0 && c->epoch_ms_fraction <= 1))
        bad = "epoch_ms_fraction must be in [0, 1]";
    else if (!(c->day_amplitude >= 0 && c->day_amplitude < 1))
        bad = "day_amplitude must be in [0, 1)";
    else if (!(c->user_sigma >= 0 && c->user_sigma <= 3))
        bad = "user_sigma must be in [0, 3]";
    else if (!(c->activity_sigma >= 0 && c->activity_sigma <= 4))
        bad = "activity_sigma must be in [0, 4]";
    else if (!(c->sample_rate > 0 && c->sample_rate <= 1))
        bad = "sample_rate must be in (0, 1]";
    else if (c->service_count > TRAFFIC_MAX_SERVICES || c->deploy_count > TRAFFIC_MAX_DEPLOYS ||
             c->flag_count > TRAFFIC_MAX_FLAGS || c->plant_count > TRAFFIC_MAX_PLANTS)
        bad = "too many services, deploys, flags or plants (limits 64, 256, 16, 256)";
    if (bad)
        snprintf(err, errlen, "%s", bad);
    return bad ? -1 : 0;
}

/* ---- services, endpoints, hosts ----------------------------------------------------------- */

static void build_endpoints(struct traffic *t, struct t_service *s, int idx)
{
    struct trng r;
    traffic_rng_seed(&r, t->cfg.seed ^ traffic_mix64(0x656e64706f696e74ULL + (uint64_t)idx));
    s->endpoints = xcalloc((size_t)s->endpoint_count, sizeof(*s->endpoints));
    double *w = xmalloc((size_t)s->endpoint_count * sizeof(*w));
    for (int k = 0; k < s->endpoint_count; k++) {
        struct t_endpoint *e = &s->endpoints[k];
        char name[64];
        if ((size_t)k < REGRESSD_ARRAY_LEN(endpoint_names))
            snprintf(name, sizeof(name), "%s", endpoint_names[k]);
        else
            snprintf(name, sizeof(name), "/api/v2/resource_%d", k);
        e->name = xstrdup(name);
        traffic_frag_set(&e->frag, ",\"endpoint\":", name);
        e->log_median = log_uniform(&r, 2e7, 8e8);
        e->sigma = 0.35 + 0.55 * trng_uniform(&r);
        e->db_log_median = log_uniform(&r, 300, 20000);
        e->cache_log_median = log_uniform(&r, 50, 1500);
        w[k] = 1.0 / (k + 1);
    }
    traffic_alias_build(&s->endpoint_mix, w, (uint32_t)s->endpoint_count);
    free(w);
}

static void build_hosts(struct traffic *t, struct t_service *s)
{
    s->host_count = t->cfg.hosts;
    s->host_frags = xcalloc((size_t)s->host_count, sizeof(*s->host_frags));
    for (int h = 0; h < s->host_count; h++) {
        struct buf b = {0};
        char host[96];
        snprintf(host, sizeof(host), "%s-%03d", s->name, h);
        buf_append_str(&b, ",\"host\":");
        traffic_json_str(&b, host);
        buf_printf(&b, ",\"region\":\"%s\",\"cluster\":\"prod-%c\"", regions[h % 3],
                   'a' + (h / 3) % 4);
        buf_cstr(&b);
        s->host_frags[h].s = b.data;
        s->host_frags[h].len = b.len;
    }
}

static int build_service(struct traffic *t, int idx, const struct traffic_service *cs, char *err,
                         size_t errlen)
{
    struct t_service *s = &t->services[idx];
    if (!cs->name || !valid_service_name(cs->name)) {
        snprintf(err, errlen, "service %d: name must be 1-64 bytes of [A-Za-z0-9._:/-]", idx + 1);
        return -1;
    }
    if (find_service(t, cs->name) >= 0) {
        snprintf(err, errlen, "service %s given twice", cs->name);
        return -1;
    }
    s->name = xstrdup(cs->name);
    traffic_frag_set(&s->frag, ",\"service\":", cs->name);
    s->endpoint_count = cs->endpoints > 0 ? cs->endpoints : t->cfg.endpoints;
    if (s->endpoint_count > TRAFFIC_MAX_ENDPOINTS) {
        snprintf(err, errlen, "service %s: endpoints must be 1..100000", cs->name);
        return -1;
    }
    build_endpoints(t, s, idx);
    build_hosts(t, s);
    s->commits = xcalloc(t->cfg.deploy_count + 1, sizeof(*s->commits));
    s->commit_frags = xcalloc(t->cfg.deploy_count + 1, sizeof(*s->commit_frags));
    char initial[32];
    if (cs->commit && !valid_text(cs->commit, 64)) {
        snprintf(err, errlen, "service %s: commit must be 1-64 printable bytes", cs->name);
        return -1;
    }
    snprintf(
        initial, sizeof(initial), "%012llx",
        (unsigned long long)(traffic_mix64(t->cfg.seed ^ util_hash32(cs->name, strlen(cs->name))) &
                             0xffffffffffffULL));
    add_commit(s, cs->commit ? cs->commit : initial);
    return 0;
}

static int build_services(struct traffic *t, char *err, size_t errlen)
{
    static const struct traffic_service web = {.name = "web"};
    const struct traffic_service *list = t->cfg.service_count ? t->cfg.services : &web;
    size_t n = t->cfg.service_count ? t->cfg.service_count : 1;
    t->services = xcalloc(n, sizeof(*t->services));
    double *w = xmalloc(n * sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        if (build_service(t, (int)i, &list[i], err, errlen) < 0) {
            t->service_count = (int)i + 1;
            free(w);
            return -1;
        }
        t->service_count = (int)i + 1;
        w[i] = list[i].weight > 0 ? list[i].weight : 1.0;
    }
    traffic_alias_build(&t->service_mix, w, (uint32_t)n);
    free(w);
    return 0;
}

/* ---- deploys -------------------------------------------------------------------------------- */

static void add_deploy(struct t_service *s, const struct traffic_deploy *d)
{
    int i = s->deploy_count++;
    /* insertion keeps config order among equal times */
    while (i > 0 && s->deploys[i - 1].at_us > d->at_us) {
        s->deploys[i] = s->deploys[i - 1];
        i--;
    }
    s->deploys[i] = (struct t_deploy){.commit = -1, .at_us = d->at_us, .rolling_us = d->rolling_us};
    s->deploys[i].commit = add_commit(s, d->commit);
}

static int build_deploys(struct traffic *t, char *err, size_t errlen)
{
    for (int i = 0; i < t->service_count; i++)
        t->services[i].deploys = xcalloc(t->cfg.deploy_count + 1, sizeof(struct t_deploy));
    for (size_t k = 0; k < t->cfg.deploy_count; k++) {
        const struct traffic_deploy *d = &t->cfg.deploys[k];
        int only = d->service ? find_service(t, d->service) : -1;
        if (d->service && only < 0) {
            snprintf(err, errlen, "deploy %zu: unknown service %s", k + 1, d->service);
            return -1;
        }
        if (!valid_text(d->commit, 64) || d->rolling_us < 0) {
            snprintf(err, errlen, "deploy %zu: commit must be 1-64 printable bytes, rolling >= 0",
                     k + 1);
            return -1;
        }
        for (int i = 0; i < t->service_count; i++)
            if (only < 0 || only == i)
                add_deploy(&t->services[i], d);
    }
    for (int i = 0; i < t->service_count; i++) {
        struct t_service *s = &t->services[i];
        for (int j = 0; j < s->deploy_count; j++)
            s->deploys[j].prev_commit = j ? s->deploys[j - 1].commit : 0;
    }
    return 0;
}

/* ---- flags ---------------------------------------------------------------------------------- */

static void flag_frag(struct frag *f, const char *name, const char *value)
{
    struct buf b = {0};
    traffic_json_str(&b, name);
    buf_append_char(&b, ':');
    if (!strcmp(value, "true") || !strcmp(value, "false"))
        buf_append_str(&b, value);
    else
        traffic_json_str(&b, value);
    buf_cstr(&b);
    f->s = b.data;
    f->len = b.len;
}

static int build_flags(struct traffic *t, char *err, size_t errlen)
{
    t->flags = xcalloc(t->cfg.flag_count + 1, sizeof(*t->flags));
    for (size_t k = 0; k < t->cfg.flag_count; k++) {
        const struct traffic_flag *cf = &t->cfg.flags[k];
        if (!valid_text(cf->name, 64) || !valid_text(cf->value, 64) ||
            (cf->other && !valid_text(cf->other, 64)) ||
            !(cf->fraction >= 0 && cf->fraction <= 1)) {
            snprintf(err, errlen,
                     "flag %zu: name and values must be 1-64 printable bytes, fraction in [0, 1]",
                     k + 1);
            return -1;
        }
        for (int j = 0; j < t->flag_count; j++)
            if (!strcmp(t->flags[j].name, cf->name)) {
                snprintf(err, errlen, "flag %s given twice", cf->name);
                return -1;
            }
        struct t_flag *f = &t->flags[t->flag_count++];
        f->name = xstrdup(cf->name);
        f->value = xstrdup(cf->value);
        f->other = cf->other ? xstrdup(cf->other) : NULL;
        f->fraction = cf->fraction;
        f->salt = traffic_mix64(util_hash32(cf->name, strlen(cf->name)) + 0x666c6167ULL);
        flag_frag(&f->on, f->name, f->value);
        if (f->other)
            flag_frag(&f->off, f->name, f->other);
    }
    return 0;
}

/* ---- users ---------------------------------------------------------------------------------- */

static void build_users(struct traffic *t)
{
    uint32_t n = (uint32_t)t->cfg.users;
    struct trng r;
    traffic_rng_seed(&r, t->cfg.seed ^ 0x7573657273ULL);
    double *w = xmalloc(n * sizeof(*w));
    t->user_factor = xmalloc(n * sizeof(*t->user_factor));
    t->user_flags = xcalloc(n, sizeof(*t->user_flags));
    double us = t->cfg.user_sigma, as = t->cfg.activity_sigma;
    for (uint32_t u = 0; u < n; u++) {
        w[u] = exp(as * traffic_rng_normal(&r));
        t->user_factor[u] = (float)exp(us * traffic_rng_normal(&r) - us * us / 2);
        for (int f = 0; f < t->flag_count; f++) {
            double h = (double)(traffic_mix64(t->flags[f].salt ^ u) >> 11) * 0x1.0p-53;
            if (h < t->flags[f].fraction)
                t->user_flags[u] |= (uint16_t)(1u << f);
        }
    }
    t->user_count = n;
    traffic_alias_build(&t->user_mix, w, n);
    free(w);
}

/* ---- daily rhythm --------------------------------------------------------------------------- */

static double day_rate(const struct traffic *t, int64_t us)
{
    const int64_t day = INT64_C(86400000000);
    int64_t tod = ((us % day) + day) % day;
    double hours = (double)tod / 3.6e9;
    return 1.0 + t->cfg.day_amplitude * cos(2 * M_PI * (hours - 15.0) / 24.0);
}

static void build_time(struct traffic *t)
{
    int64_t span = t->cfg.end_us - t->cfg.start_us;
    int64_t bin = span / TRAFFIC_MAX_BINS + 1;
    t->bin_us = bin < TRAFFIC_BIN_MIN_US ? TRAFFIC_BIN_MIN_US : bin;
    t->bin_count = (size_t)((span + t->bin_us - 1) / t->bin_us);
    t->cum = xmalloc((t->bin_count + 1) * sizeof(*t->cum));
    t->cum[0] = 0;
    for (size_t k = 0; k < t->bin_count; k++) {
        int64_t from = t->cfg.start_us + (int64_t)k * t->bin_us;
        int64_t to = from + t->bin_us < t->cfg.end_us ? from + t->bin_us : t->cfg.end_us;
        t->cum[k + 1] = t->cum[k] + day_rate(t, from + (to - from) / 2) * (double)(to - from);
    }
}

/* ---- plants --------------------------------------------------------------------------------- */

static int plant_flag(struct traffic *t, struct t_plant *p, char *err, size_t errlen, size_t k)
{
    for (int f = 0; f < t->flag_count; f++) {
        if (strcmp(t->flags[f].name, p->p.flag))
            continue;
        p->flag = f;
        if (!strcmp(t->flags[f].value, p->p.value))
            p->flag_slot = 0;
        else if (t->flags[f].other && !strcmp(t->flags[f].other, p->p.value))
            p->flag_slot = 1;
        else
            break;
        return 0;
    }
    snprintf(err, errlen, "plant %zu: no flag %s with value %s is generated", k + 1, p->p.flag,
             p->p.value);
    return -1;
}

/* Resolves the plant against service i; returns whether it can apply there. */
static bool plant_compile_service(struct traffic *t, struct t_plant *p, int i)
{
    struct t_service *s = &t->services[i];
    p->endpoint[i] = p->p.endpoint ? find_endpoint(s, p->p.endpoint) : -1;
    p->commit[i] = p->baseline[i] = -1;
    if (!p->service_any && p->service != i)
        p->endpoint[i] = -2;
    if (p->endpoint[i] == -2 || (p->p.endpoint && p->endpoint[i] < 0)) {
        p->endpoint[i] = -2;
        return false;
    }
    if (p->p.kind != TRAFFIC_PLANT_COMMIT)
        return true;
    p->commit[i] = find_commit(s, p->p.commit);
    if (p->commit[i] < 0) {
        p->endpoint[i] = -2;
        return false;
    }
    for (int d = 0; d < s->deploy_count; d++)
        if (s->deploys[d].commit == p->commit[i]) {
            p->baseline[i] = s->deploys[d].prev_commit;
            break;
        }
    return true;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void plant_copy(struct traffic *t, struct t_plant *p, const struct traffic_plant *cp)
{
    p->p = *cp;
    p->p.service = dup_or_null(cp->service);
    p->p.endpoint = dup_or_null(cp->endpoint);
    p->p.commit = dup_or_null(cp->commit);
    p->p.flag = dup_or_null(cp->flag);
    p->p.value = dup_or_null(cp->value);
    p->endpoint = xcalloc((size_t)t->service_count, sizeof(int));
    p->commit = xcalloc((size_t)t->service_count, sizeof(int));
    p->baseline = xcalloc((size_t)t->service_count, sizeof(int));
    p->service_any = cp->service == NULL;
    p->service = cp->service ? find_service(t, cp->service) : -1;
}

static const char *plant_check(const struct traffic_plant *cp, const struct t_plant *p)
{
    if (!(cp->factor > 0 && cp->factor < 100))
        return "factor must be in (0, 100)";
    if (cp->service && p->service < 0)
        return "unknown service";
    switch (cp->kind) {
    case TRAFFIC_PLANT_COMMIT:
        return cp->commit ? NULL : "a commit plant needs a commit";
    case TRAFFIC_PLANT_FLAG:
        return cp->flag && cp->value ? NULL : "a flag plant needs a flag and a value";
    case TRAFFIC_PLANT_WINDOW:
        return cp->from_us < cp->to_us ? NULL : "a window plant needs from < to";
    }
    return "unknown kind";
}

static int build_plant(struct traffic *t, size_t k, char *err, size_t errlen)
{
    const struct traffic_plant *cp = &t->cfg.plants[k];
    struct t_plant *p = &t->plants[t->plant_count++];
    plant_copy(t, p, cp);
    const char *bad = plant_check(cp, p);
    if (bad) {
        snprintf(err, errlen, "plant %zu: %s", k + 1, bad);
        return -1;
    }
    if (cp->kind == TRAFFIC_PLANT_FLAG && plant_flag(t, p, err, errlen, k) < 0)
        return -1;
    bool applies = false;
    for (int i = 0; i < t->service_count; i++)
        applies |= plant_compile_service(t, p, i);
    if (!applies) {
        bool commit = cp->kind == TRAFFIC_PLANT_COMMIT;
        snprintf(err, errlen, "plant %zu: no generated service%s%s%s%s%s", k + 1,
                 cp->endpoint ? " has endpoint " : "", cp->endpoint ? cp->endpoint : "",
                 !commit        ? ""
                 : cp->endpoint ? " and commit "
                                : " has commit ",
                 commit ? cp->commit : "",
                 commit ? " (a commit is the one serving at start or a deployed one)" : "");
        return -1;
    }
    return 0;
}

/* ---- whole model ---------------------------------------------------------------------------- */

static void alloc_truth(struct traffic *t)
{
    t->endpoint_offset = xcalloc((size_t)t->service_count, sizeof(*t->endpoint_offset));
    for (int i = 0; i < t->service_count; i++) {
        t->endpoint_offset[i] = t->endpoint_total;
        t->endpoint_total += (size_t)t->services[i].endpoint_count;
    }
    for (int p = 0; p < t->plant_count; p++)
        t->plants[p].acc = xcalloc(t->endpoint_total, sizeof(struct plant_acc));
    for (int i = 0; i < t->service_count; i++) {
        struct t_service *s = &t->services[i];
        size_t cells = (size_t)s->endpoint_count * (size_t)s->commit_count;
        size_t fcells = (size_t)s->endpoint_count * (size_t)(t->flag_count ? t->flag_count : 1) * 2;
        s->cell_n = xcalloc(cells, sizeof(*s->cell_n));
        s->cell_sum = xcalloc(cells, sizeof(*s->cell_sum));
        s->flag_n = xcalloc(fcells, sizeof(*s->flag_n));
        s->flag_sum = xcalloc(fcells, sizeof(*s->flag_sum));
    }
}

int traffic_model_build(struct traffic *t, char *err, size_t errlen)
{
    if (check_numbers(&t->cfg, err, errlen) < 0 || build_services(t, err, errlen) < 0 ||
        build_deploys(t, err, errlen) < 0 || build_flags(t, err, errlen) < 0)
        return -1;
    t->plants = xcalloc(t->cfg.plant_count + 1, sizeof(*t->plants));
    for (size_t k = 0; k < t->cfg.plant_count; k++)
        if (build_plant(t, k, err, errlen) < 0)
            return -1;
    build_users(t);
    build_time(t);
    alloc_truth(t);
    char rate[32];
    snprintf(rate, sizeof(rate), "%.6g", t->cfg.sample_rate);
    struct buf b = {0};
    buf_printf(&b, ",\"sample_rate\":%s", rate);
    buf_cstr(&b);
    t->sample_rate.s = b.data;
    t->sample_rate.len = b.len;
    t->day_cached = INT64_MIN;
    return 0;
}

static void service_free(struct t_service *s)
{
    for (int k = 0; k < s->endpoint_count && s->endpoints; k++) {
        free(s->endpoints[k].name);
        frag_free(&s->endpoints[k].frag);
    }
    free(s->endpoints);
    traffic_alias_free(&s->endpoint_mix);
    for (int c = 0; c < s->commit_count; c++) {
        free(s->commits[c]);
        frag_free(&s->commit_frags[c]);
    }
    free(s->commits);
    free(s->commit_frags);
    free(s->deploys);
    for (int h = 0; h < s->host_count; h++)
        frag_free(&s->host_frags[h]);
    free(s->host_frags);
    free(s->cell_n);
    free(s->cell_sum);
    free(s->flag_n);
    free(s->flag_sum);
    free(s->name);
    frag_free(&s->frag);
}

static void plant_free(struct t_plant *p)
{
    free((char *)p->p.service);
    free((char *)p->p.endpoint);
    free((char *)p->p.commit);
    free((char *)p->p.flag);
    free((char *)p->p.value);
    free(p->endpoint);
    free(p->commit);
    free(p->baseline);
    free(p->acc);
}

void traffic_model_free(struct traffic *t)
{
    for (int i = 0; i < t->service_count; i++)
        service_free(&t->services[i]);
    free(t->services);
    free(t->endpoint_offset);
    traffic_alias_free(&t->service_mix);
    for (int f = 0; f < t->flag_count; f++) {
        free(t->flags[f].name);
        free(t->flags[f].value);
        free(t->flags[f].other);
        frag_free(&t->flags[f].on);
        frag_free(&t->flags[f].off);
    }
    free(t->flags);
    for (int p = 0; p < t->plant_count; p++)
        plant_free(&t->plants[p]);
    free(t->plants);
    traffic_alias_free(&t->user_mix);
    free(t->user_factor);
    free(t->user_flags);
    free(t->cum);
    frag_free(&t->sample_rate);
}
