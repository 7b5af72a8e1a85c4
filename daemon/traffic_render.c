/* Hand-formatted JSON for generated samples (valid and deliberately broken). The hot path
 * reserves an upper bound once and writes through a pointer: no printf, no jansson. */
#include <stdlib.h>
#include <string.h>

#include "traffic_int.h"

#define RENDER_SLACK 1024 /* numbers, ts, user id, keys, broken variants */
#define LONG_ENDPOINT_MIN 257

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static char *put_2(char *p, unsigned v)
{
    *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

void traffic_user_id(uint32_t user, char out[16])
{
    static const char hex[] = "0123456789abcdef";
    /* murmur3's finaliser is a bijection: distinct users get distinct ids */
    uint32_t h = user;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    out[0] = 'u';
    for (int i = 0; i < 8; i++)
        out[1 + i] = hex[(h >> (28 - 4 * i)) & 15];
    out[9] = '\0';
}

/* "2026-11-21T10:00:00.123Z" with the date part cached per day. */
static char *put_rfc3339(struct traffic *t, char *p, int64_t us)
{
    int64_t day = util_day_of(us);
    if (day != t->day_cached) {
        int y;
        unsigned m, d;
        util_civil_from_days(day, &y, &m, &d);
        char *q = t->day_prefix;
        q = put_2(q, (unsigned)y / 100);
        q = put_2(q, (unsigned)y % 100);
        *q++ = '-';
        q = put_2(q, m);
        *q++ = '-';
        q = put_2(q, d);
        *q++ = 'T';
        t->day_cached = day;
    }
    int64_t tod_ms = (us - day * INT64_C(86400000000)) / 1000;
    *p++ = '"';
    p = put(p, t->day_prefix, 11);
    p = put_2(p, (unsigned)(tod_ms / 3600000));
    *p++ = ':';
    p = put_2(p, (unsigned)(tod_ms / 60000 % 60));
    *p++ = ':';
    p = put_2(p, (unsigned)(tod_ms / 1000 % 60));
    *p++ = '.';
    *p++ = (char)('0' + tod_ms % 1000 / 100);
    p = put_2(p, (unsigned)(tod_ms % 100));
    p = PUT_LIT(p, "Z\"");
    return p;
}

static int64_t floor_ms(int64_t us)
{
    return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

static char *put_ts(struct traffic *t, char *p, const struct t_sample *s, int bad, unsigned v)
{
    if (bad == TRAFFIC_BAD_MISSING_FIELD && v % 5 == 0)
        return PUT_LIT(p, "\"schema\":1"); /* an unknown field keeps the object well-formed */
    p = PUT_LIT(p, "\"ts\":");
    if (bad == TRAFFIC_BAD_WRONG_TYPE && v % 4 == 2)
        return PUT_LIT(p, "true");
    if (bad == TRAFFIC_BAD_TS)
        return v % 2 ? PUT_LIT(p, "\"yesterday at noon\"") : PUT_LIT(p, "\"2026-13-45T25:61:00Z\"");
    if (s->epoch_ms)
        return put_i64(p, floor_ms(s->ts_us));
    return put_rfc3339(t, p, s->ts_us);
}

static char *put_endpoint(char *p, const struct t_endpoint *e, int bad, unsigned v)
{
    if (bad == TRAFFIC_BAD_MISSING_FIELD && v % 5 == 2)
        return p;
    if (bad != TRAFFIC_BAD_LONG_ENDPOINT)
        return put(p, e->frag.s, e->frag.len);
    size_t n = LONG_ENDPOINT_MIN + v % 300;
    p = PUT_LIT(p, ",\"endpoint\":\"/");
    memset(p, 'x', n - 1);
    p += n - 1;
    *p++ = '"';
    return p;
}

static char *put_ids(struct traffic *t, char *p, const struct t_sample *s, int bad, unsigned v)
{
    const struct t_service *sv = &t->services[s->service];
    bool missing = bad == TRAFFIC_BAD_MISSING_FIELD;
    if (bad == TRAFFIC_BAD_WRONG_TYPE && v % 4 == 1)
        p = PUT_LIT(p, ",\"service\":42");
    else if (!(missing && v % 5 == 1))
        p = put(p, sv->frag.s, sv->frag.len);
    p = put_endpoint(p, &sv->endpoints[s->endpoint], bad, v);
    if (!(missing && v % 5 == 3))
        p = put(p, sv->commit_frags[s->commit].s, sv->commit_frags[s->commit].len);
    char uid[16];
    traffic_user_id(s->user, uid);
    p = PUT_LIT(p, ",\"user_id\":\"");
    p = put(p, uid, 9);
    *p++ = '"';
    return p;
}

static char *put_instructions(char *p, const struct t_sample *s, int bad, unsigned v)
{
    if (bad == TRAFFIC_BAD_MISSING_FIELD && v % 5 == 4)
        return p;
    p = PUT_LIT(p, ",\"instructions\":");
    switch (bad) {
    case TRAFFIC_BAD_WRONG_TYPE:
        if (v % 4 == 0) {
            *p++ = '"';
            p = put_u64(p, s->instructions);
            *p++ = '"';
            return p;
        }
        if (v % 4 == 3) {
            p = put_u64(p, s->instructions);
            return PUT_LIT(p, ".5");
        }
        break;
    case TRAFFIC_BAD_NEGATIVE_INSTRUCTIONS:
        *p++ = '-';
        break;
    case TRAFFIC_BAD_HUGE_INSTRUCTIONS:
        return put_u64(p, (UINT64_C(1) << 53) + v % 1000);
    default:
        break;
    }
    return put_u64(p, s->instructions);
}

static char *put_numbers(char *p, const struct t_sample *s, int bad, unsigned v)
{
    p = put_instructions(p, s, bad, v);
    p = PUT_LIT(p, ",\"latency_us\":");
    p = put_i64(p, s->latency_us);
    p = PUT_LIT(p, ",\"db_us\":");
    p = put_i64(p, s->db_us);
    p = PUT_LIT(p, ",\"cache_us\":");
    p = put_i64(p, s->cache_us);
    p = PUT_LIT(p, ",\"status\":");
    if (bad == TRAFFIC_BAD_STATUS)
        return v % 2 ? PUT_LIT(p, "42") : PUT_LIT(p, "700");
    return put_i64(p, s->status);
}

static char *put_flags(struct traffic *t, char *p, const struct t_sample *s, int bad)
{
    if (bad == TRAFFIC_BAD_NESTED_FLAG)
        return PUT_LIT(p, ",\"flags\":{\"experiment\":{\"arm\":\"b\"}}");
    uint16_t bits = t->user_flags[s->user];
    bool open = false;
    for (int f = 0; f < t->flag_count; f++) {
        const struct t_flag *fl = &t->flags[f];
        const struct frag *fr = (bits >> f) & 1 ? &fl->on : fl->other ? &fl->off : NULL;
        if (!fr)
            continue;
        p = open ? PUT_LIT(p, ",") : PUT_LIT(p, ",\"flags\":{");
        open = true;
        p = put(p, fr->s, fr->len);
    }
    if (open)
        *p++ = '}';
    return p;
}

static size_t render_bound(const struct traffic *t, const struct t_sample *s)
{
    const struct t_service *sv = &t->services[s->service];
    size_t n = sv->frag.len + sv->endpoints[s->endpoint].frag.len +
               sv->commit_frags[s->commit].len + sv->host_frags[s->host].len + t->sample_rate.len +
               RENDER_SLACK;
    for (int f = 0; f < t->flag_count; f++)
        n += t->flags[f].on.len + t->flags[f].off.len + 1;
    return n;
}

static void render(struct traffic *t, const struct t_sample *s, struct buf *out, int bad,
                   unsigned v)
{
    buf_reserve(out, render_bound(t, s));
    char *start = out->data + out->len;
    char *p = start;
    *p++ = '{';
    p = put_ts(t, p, s, bad, v);
    p = put_ids(t, p, s, bad, v);
    p = put_numbers(p, s, bad, v);
    const struct frag *host = &t->services[s->service].host_frags[s->host];
    p = put(p, host->s, host->len);
    p = put(p, t->sample_rate.s, t->sample_rate.len);
    p = put_flags(t, p, s, bad);
    *p++ = '}';
    out->len += (size_t)(p - start);
}

void traffic_render_sample(struct traffic *t, const struct t_sample *s, struct buf *out)
{
    render(t, s, out, TRAFFIC_BAD_KINDS, 0);
}

/* Printable garbage with some bytes >= 0x80 (invalid UTF-8); never '\n' or NUL. */
static void render_not_json(struct traffic *t, struct buf *out)
{
    static const char *const heads[] = {"GET /feed HTTP/1.1", "<html><body>", "ts=2026 svc=web",
                                        "\x01\x02\x03 binary"};
    buf_append_str(out, heads[trng_below(&t->rng, 4)]);
    int n = 8 + (int)trng_below(&t->rng, 40);
    for (int i = 0; i < n; i++) {
        unsigned c = 0x20 + trng_below(&t->rng, 0xe0);
        buf_append_char(out, (char)c);
    }
}

void traffic_render_bad(struct traffic *t, const struct t_sample *s,
                        enum traffic_malformed_kind kind, struct buf *out)
{
    unsigned v = (unsigned)trng_next(&t->rng);
    buf_reset(out);
    if (kind == TRAFFIC_BAD_NOT_JSON) {
        render_not_json(t, out);
        return;
    }
    render(t, s, out, kind == TRAFFIC_BAD_TRUNCATED_JSON ? TRAFFIC_BAD_KINDS : (int)kind, v);
    if (kind == TRAFFIC_BAD_TRUNCATED_JSON) /* keep 1 .. len-1 bytes: never a whole object */
        out->len = 1 + v % (out->len - 1);
}
