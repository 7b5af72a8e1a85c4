/* The small text syntax of `regressd generate` for deploys, flags and planted changes (see
 * traffic.h), shared by the CLI and the demo. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/traffic.h"

/* Copies [s, s+n) into a string owned by `owned`. */
static char *own(struct traffic_strings *owned, const char *s, size_t n)
{
    if (owned->n == owned->cap) {
        owned->cap = owned->cap ? owned->cap * 2 : 16;
        owned->v = xrealloc(owned->v, owned->cap * sizeof(*owned->v));
    }
    return owned->v[owned->n++] = xstrndup(s, n);
}

void traffic_strings_free(struct traffic_strings *owned)
{
    for (size_t i = 0; i < owned->n; i++)
        free(owned->v[i]);
    free(owned->v);
    memset(owned, 0, sizeof(*owned));
}

int traffic_parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    if (*end == '%' && end[1] == '\0') {
        v /= 100;
        end++;
    }
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int traffic_parse_when(const char *s, int64_t start_us, int64_t end_us, int64_t *out_us)
{
    int64_t d;
    if (*s == '+' && util_parse_duration(s + 1, &d) == 0) {
        *out_us = start_us + d;
        return 0;
    }
    if (*s == '-' && util_parse_duration(s + 1, &d) == 0) {
        *out_us = end_us - d;
        return 0;
    }
    return util_parse_time(s, out_us);
}

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

static bool in_list(const char *list, const char *name, size_t len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, name, len))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

int traffic_parse_deploy(const char *spec, const char *services, int64_t start_us, int64_t end_us,
                         struct traffic_deploy *d, struct traffic_strings *owned, char *err,
                         size_t errlen)
{
    const char *at = strrchr(spec, '@');
    if (!at || at == spec)
        return fail(err, errlen, "want [SERVICE:]COMMIT@AT[/ROLLING]");
    const char *colon = memchr(spec, ':', (size_t)(at - spec));
    const char *commit = spec;
    memset(d, 0, sizeof(*d));
    if (colon && in_list(services, spec, (size_t)(colon - spec))) {
        d->service = own(owned, spec, (size_t)(colon - spec));
        commit = colon + 1;
    }
    d->commit = own(owned, commit, (size_t)(at - commit));
    const char *slash = strchr(at + 1, '/');
    char *when = own(owned, at + 1, slash ? (size_t)(slash - at - 1) : strlen(at + 1));
    if (traffic_parse_when(when, start_us, end_us, &d->at_us) != 0)
        return fail(err, errlen, "bad time after '@'");
    if (slash && util_parse_duration(slash + 1, &d->rolling_us) != 0)
        return fail(err, errlen, "bad rolling duration after '/'");
    return 0;
}

int traffic_parse_flag(const char *spec, struct traffic_flag *f, struct traffic_strings *owned,
                       char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    const char *colon = strrchr(spec, ':');
    if (!eq || !colon || colon < eq || eq == spec)
        return fail(err, errlen, "want NAME=VALUE:FRACTION[/OTHER]");
    memset(f, 0, sizeof(*f));
    f->name = own(owned, spec, (size_t)(eq - spec));
    f->value = own(owned, eq + 1, (size_t)(colon - eq - 1));
    const char *slash = strchr(colon + 1, '/');
    char *frac = own(owned, colon + 1, slash ? (size_t)(slash - colon - 1) : strlen(colon + 1));
    f->other = slash ? own(owned, slash + 1, strlen(slash + 1)) : NULL;
    if (traffic_parse_number(frac, &f->fraction) != 0 || !(f->fraction >= 0 && f->fraction <= 1))
        return fail(err, errlen, "fraction must be in [0, 1] or 0%..100%");
    return 0;
}

/* TARGET: endpoint=NAME | /NAME | service=S | service=S,endpoint=NAME | * */
static int parse_target(const char *s, size_t n, struct traffic_plant *p,
                        struct traffic_strings *owned)
{
    const char *end = s + n;
    if (n == 1 && *s == '*')
        return 0;
    if (*s == '/') {
        p->endpoint = own(owned, s, n);
        return 0;
    }
    if (n > 8 && !strncmp(s, "service=", 8)) {
        const char *comma = memchr(s, ',', n);
        const char *svc_end = comma ? comma : end;
        p->service = own(owned, s + 8, (size_t)(svc_end - s - 8));
        if (!comma)
            return 0;
        s = comma + 1;
    }
    if (end - s > 9 && !strncmp(s, "endpoint=", 9)) {
        p->endpoint = own(owned, s + 9, (size_t)(end - s - 9));
        return 0;
    }
    return -1;
}

/* CHANGE: +6% | -2.5% | x1.06 */
static int parse_change(const char *s, double *factor)
{
    double v;
    size_t n = strlen(s);
    if ((*s == 'x' || *s == '*') && traffic_parse_number(s + 1, &v) == 0 && v > 0) {
        *factor = v;
        return 0;
    }
    if ((*s == '+' || *s == '-') && n > 1 && s[n - 1] == '%' && traffic_parse_number(s, &v) == 0 &&
        v > -1) {
        *factor = 1 + v; /* the '%' already divided by 100 */
        return 0;
    }
    return -1;
}

/* WHEN: commit=C | flag=NAME=VALUE | window=FROM/TO */
static int parse_condition(const char *w, int64_t start_us, int64_t end_us, struct traffic_plant *p,
                           struct traffic_strings *owned)
{
    if (!strncmp(w, "commit=", 7) && w[7]) {
        p->kind = TRAFFIC_PLANT_COMMIT;
        p->commit = own(owned, w + 7, strlen(w + 7));
        return 0;
    }
    const char *eq = strncmp(w, "flag=", 5) ? NULL : strchr(w + 5, '=');
    if (eq && eq > w + 5) {
        p->kind = TRAFFIC_PLANT_FLAG;
        p->flag = own(owned, w + 5, (size_t)(eq - w - 5));
        p->value = own(owned, eq + 1, strlen(eq + 1));
        return 0;
    }
    const char *slash = strchr(w, '/');
    if (!strncmp(w, "window=", 7) && slash) {
        p->kind = TRAFFIC_PLANT_WINDOW;
        char *from = own(owned, w + 7, (size_t)(slash - w - 7));
        if (traffic_parse_when(from, start_us, end_us, &p->from_us) == 0 &&
            traffic_parse_when(slash + 1, start_us, end_us, &p->to_us) == 0 &&
            p->from_us < p->to_us)
            return 0;
    }
    return -1;
}

int traffic_parse_plant(const char *spec, int64_t start_us, int64_t end_us, struct traffic_plant *p,
                        struct traffic_strings *owned, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    const char *at = strrchr(spec, '@');
    const char *colon = NULL;
    for (const char *c = spec; at && c < at; c++)
        if (*c == ':')
            colon = c;
    if (!colon || colon == spec)
        return fail(err, errlen, "want TARGET:CHANGE@WHEN");
    char *change = own(owned, colon + 1, (size_t)(at - colon - 1));
    if (parse_target(spec, (size_t)(colon - spec), p, owned) < 0)
        return fail(err, errlen, "TARGET: endpoint=NAME, /NAME, service=S[,endpoint=NAME] or *");
    if (parse_change(change, &p->factor) < 0)
        return fail(err, errlen, "CHANGE: +6%, -2.5% or x1.06");
    if (parse_condition(at + 1, start_us, end_us, p, owned) < 0)
        return fail(err, errlen, "WHEN: commit=C, flag=NAME=VALUE or window=FROM/TO");
    return 0;
}
