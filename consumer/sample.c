/* One sample (CONTRACT section 1) → one COPY text row.
 *
 * This is the ingest hot path, so the work per sample is: one pass over the object's fields to
 * find the known ones (unknown ones are skipped), a table-driven validation of each into plain
 * values on the stack, then the row appended in column order straight from jansson's strings.
 * Only flags are validated while being written (their entries are walked once); a failure there
 * truncates out back to where the row began. Nothing is allocated per sample except in the rare
 * case of flags whose JSON text contains a backslash (see finish_flags). */
#include "regressd/sample.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sample_field {
    F_TS,
    F_SERVICE,
    F_ENDPOINT,
    F_COMMIT,
    F_USER_ID,
    F_INSTRUCTIONS,
    F_LATENCY_US,
    F_DB_US,
    F_CACHE_US,
    F_STATUS,
    F_HOST,
    F_REGION,
    F_CLUSTER,
    F_SAMPLE_RATE,
    F_FLAGS,
    F_COUNT
};

enum field_kind { K_TS, K_STRING, K_USER_ID, K_INT, K_RATE, K_FLAGS };

/* Byte rules for strings. Every string goes into a PostgreSQL text column, which cannot hold
 * NUL (jansson lets "\u0000" through when decoding with JSON_ALLOW_NUL), so all rules reject it. */
enum str_rule { STR_NO_NUL, STR_NO_CTRL, STR_SERVICE };

struct field_spec {
    const char *name;
    enum field_kind kind;
    bool required;
    enum str_rule rule; /* K_STRING, K_USER_ID */
    int64_t min, max;   /* K_STRING, K_USER_ID: length in bytes; K_INT: value */
};

/* In column order (user_hash, derived, follows user_id). */
static const struct field_spec field_specs[F_COUNT] = {
    [F_TS] = {.name = "ts", .kind = K_TS, .required = true},
    [F_SERVICE] = {.name = "service",
                   .kind = K_STRING,
                   .required = true,
                   .rule = STR_SERVICE,
                   .min = 1,
                   .max = SAMPLE_SERVICE_MAX},
    [F_ENDPOINT] = {.name = "endpoint",
                    .kind = K_STRING,
                    .required = true,
                    .rule = STR_NO_CTRL,
                    .min = 1,
                    .max = SAMPLE_ENDPOINT_MAX},
    [F_COMMIT] = {.name = "commit",
                  .kind = K_STRING,
                  .required = true,
                  .rule = STR_NO_CTRL,
                  .min = 1,
                  .max = SAMPLE_COMMIT_MAX},
    [F_USER_ID] = {.name = "user_id", .kind = K_USER_ID, .max = SAMPLE_USER_ID_MAX},
    [F_INSTRUCTIONS] = {.name = "instructions",
                        .kind = K_INT,
                        .required = true,
                        .max = SAMPLE_INSTRUCTIONS_LIMIT - 1},
    [F_LATENCY_US] = {.name = "latency_us", .kind = K_INT, .max = INT64_MAX},
    [F_DB_US] = {.name = "db_us", .kind = K_INT, .max = INT64_MAX},
    [F_CACHE_US] = {.name = "cache_us", .kind = K_INT, .max = INT64_MAX},
    [F_STATUS] = {.name = "status", .kind = K_INT, .min = 100, .max = 599},
    [F_HOST] = {.name = "host", .kind = K_STRING, .max = SAMPLE_LABEL_MAX},
    [F_REGION] = {.name = "region", .kind = K_STRING, .max = SAMPLE_LABEL_MAX},
    [F_CLUSTER] = {.name = "cluster", .kind = K_STRING, .max = SAMPLE_LABEL_MAX},
    [F_SAMPLE_RATE] = {.name = "sample_rate", .kind = K_RATE},
    [F_FLAGS] = {.name = "flags", .kind = K_FLAGS},
};

/* A validated field. s/len for strings (text[] holds rendered numbers), i for integers and ts,
 * d for the sample rate. */
struct field_value {
    const char *s;
    size_t len;
    int64_t i;
    double d;
    char text[32];
};

struct sample_values {
    uint32_t present; /* bit per enum sample_field */
    struct field_value v[F_COUNT];
};

struct ctx {
    struct buf *out;
    char *err;
    size_t errlen;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *type_name(const json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

#define EXCERPT_MAX 40 /* bytes of escaped user data quoted in a reason */
#define EXCERPT_BUFLEN (EXCERPT_MAX + 8)

/* Quotes user data for a reason: '"' and '\' escaped, control bytes as \xHH, at most
 * EXCERPT_MAX bytes of output, cut on a UTF-8 character boundary (reasons are stored as text)
 * and marked with "..." when cut. Returns dst. */
static const char *excerpt(char dst[EXCERPT_BUFLEN], const char *s, size_t len)
{
    size_t o = 1, i = 0;
    dst[0] = '"';
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[5] = {'\\', (char)ch, 0, 0, 0};
        size_t n = 2;
        if (ch < 0x20 || ch == 0x7f)
            n = (size_t)snprintf(e, sizeof(e), "\\x%02x", ch);
        else if (ch != '"' && ch != '\\')
            n = 1;
        if (n == 1)
            e[0] = (char)ch;
        if (o - 1 + n > EXCERPT_MAX)
            break;
        memcpy(dst + o, e, n);
        o += n;
    }
    /* Stopped inside a multi-byte character: drop the part of it already written. */
    while (i < len && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) {
        i--;
        o--;
    }
    memcpy(dst + o, i < len ? "\"..." : "\"", i < len ? 5 : 2);
    return dst;
}

/* Index of the first byte breaking rule, or len. */
static size_t first_bad_byte(const char *s, size_t len, enum str_rule rule)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok;
        if (rule == STR_SERVICE)
            ok = (unsigned)((ch | 0x20) - 'a') < 26 || (unsigned)(ch - '0') < 10 || ch == '.' ||
                 ch == '_' || ch == ':' || ch == '/' || ch == '-';
        else if (rule == STR_NO_CTRL)
            ok = ch >= 0x20 && ch != 0x7f;
        else
            ok = ch != 0;
        if (!ok)
            return i;
    }
    return len;
}

static int check_bytes(struct ctx *c, const struct field_spec *spec, const char *s, size_t len)
{
    if ((int64_t)len < spec->min || (int64_t)len > spec->max) {
        if (spec->min > 0)
            return fail(c, "%s: must be %lld-%lld bytes, got %zu", spec->name, (long long)spec->min,
                        (long long)spec->max, len);
        return fail(c, "%s: must be at most %lld bytes, got %zu", spec->name, (long long)spec->max,
                    len);
    }
    size_t bad = first_bad_byte(s, len, spec->rule);
    if (bad == len)
        return 0;
    unsigned char ch = (unsigned char)s[bad];
    if (spec->rule == STR_SERVICE && ch >= 0x20 && ch < 0x7f)
        return fail(c, "%s: character '%c' at offset %zu is not in [A-Za-z0-9._:/-]", spec->name,
                    ch, bad);
    if (spec->rule == STR_SERVICE)
        return fail(c, "%s: byte 0x%02x at offset %zu is not in [A-Za-z0-9._:/-]", spec->name, ch,
                    bad);
    if (spec->rule == STR_NO_CTRL)
        return fail(c, "%s: control character 0x%02x at offset %zu", spec->name, ch, bad);
    return fail(c, "%s: NUL byte at offset %zu", spec->name, bad);
}

static int check_string(struct ctx *c, const struct field_spec *spec, const json_t *v,
                        struct field_value *fv)
{
    if (!json_is_string(v))
        return fail(c, "%s: must be a string, got %s", spec->name, type_name(v));
    fv->s = json_string_value(v);
    fv->len = json_string_length(v);
    return check_bytes(c, spec, fv->s, fv->len);
}

/* The shortest "%.*g" text of d that reads back as d; dst has 32 bytes. Returns the length. */
static size_t format_real(char dst[32], double d)
{
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(dst, 32, "%.*g", prec, d);
        if (strtod(dst, NULL) == d)
            break;
    }
    return (size_t)n;
}

static int check_user_id(struct ctx *c, const struct field_spec *spec, const json_t *v,
                         struct field_value *fv)
{
    if (json_is_integer(v)) {
        fv->len = util_format_i64(fv->text, json_integer_value(v));
        fv->s = fv->text;
        return 0;
    }
    if (!json_is_string(v))
        return fail(c, "%s: must be a string or an integer, got %s", spec->name, type_name(v));
    return check_string(c, spec, v, fv);
}

static int check_int(struct ctx *c, const struct field_spec *spec, const json_t *v,
                     struct field_value *fv)
{
    if (!json_is_integer(v))
        return fail(c, "%s: must be an integer, got %s", spec->name, type_name(v));
    fv->i = json_integer_value(v);
    if (fv->i < spec->min)
        return fail(c, "%s: must be >= %lld, got %lld", spec->name, (long long)spec->min,
                    (long long)fv->i);
    if (fv->i > spec->max)
        return fail(c, "%s: must be <= %lld, got %lld", spec->name, (long long)spec->max,
                    (long long)fv->i);
    return 0;
}

static int check_rate(struct ctx *c, const json_t *v, struct field_value *fv)
{
    if (!json_is_number(v))
        return fail(c, "sample_rate: must be a number, got %s", type_name(v));
    fv->d = json_number_value(v);
    if (fv->d > 0 && fv->d <= 1)
        return 0;
    size_t n = json_is_integer(v) ? util_format_i64(fv->text, json_integer_value(v))
                                  : format_real(fv->text, fv->d);
    fv->text[n] = '\0';
    return fail(c, "sample_rate: must be > 0 and <= 1, got %s", fv->text);
}

static int check_ts_range(struct ctx *c, int64_t ts, const struct sample_limits *lim)
{
    if (ts >= lim->min_ts_us && ts <= lim->max_ts_us)
        return 0;
    char t[UTIL_TS_BUFLEN], lo[UTIL_TS_BUFLEN], hi[UTIL_TS_BUFLEN];
    util_format_ts(ts, t);
    util_format_ts(lim->min_ts_us, lo);
    util_format_ts(lim->max_ts_us, hi);
    return fail(c, "ts: %s is outside the accepted range [%s, %s]", t, lo, hi);
}

static int check_ts(struct ctx *c, const json_t *v, const struct sample_limits *lim,
                    struct field_value *fv)
{
    char q[EXCERPT_BUFLEN];
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (util_parse_rfc3339(s, len, &fv->i) != 0)
            return fail(c, "ts: not a valid RFC 3339 timestamp: %s", excerpt(q, s, len));
    } else if (json_is_integer(v)) {
        json_int_t ms = json_integer_value(v);
        if (ms < 0 || ms > INT64_MAX / 1000)
            return fail(c, "ts: epoch milliseconds out of range, got %lld", (long long)ms);
        fv->i = ms * 1000;
    } else {
        return fail(c, "ts: must be an RFC 3339 string or integer epoch milliseconds, got %s",
                    type_name(v));
    }
    return check_ts_range(c, fv->i, lim);
}

static int check_field(struct ctx *c, enum sample_field f, const json_t *v,
                       const struct sample_limits *lim, struct field_value *fv)
{
    const struct field_spec *spec = &field_specs[f];
    switch (spec->kind) {
    case K_TS:
        return check_ts(c, v, lim, fv);
    case K_STRING:
        return check_string(c, spec, v, fv);
    case K_USER_ID:
        return check_user_id(c, spec, v, fv);
    case K_INT:
        return check_int(c, spec, v, fv);
    case K_RATE:
        return check_rate(c, v, fv);
    case K_FLAGS:
        if (!json_is_object(v))
            return fail(c, "flags: must be an object, got %s", type_name(v));
        if (json_object_size(v) > SAMPLE_FLAGS_MAX)
            return fail(c, "flags: %zu entries, at most %d allowed", json_object_size(v),
                        SAMPLE_FLAGS_MAX);
        return 0;
    }
    return fail(c, "%s: internal error", spec->name);
}

#define KEY_IS(lit) (len == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

/* The known field a key names, or -1. */
static int field_of_key(const char *key, size_t len)
{
    switch (len ? key[0] : 0) {
    case 't':
        return KEY_IS("ts") ? F_TS : -1;
    case 's':
        return KEY_IS("service")       ? F_SERVICE
               : KEY_IS("status")      ? F_STATUS
               : KEY_IS("sample_rate") ? F_SAMPLE_RATE
                                       : -1;
    case 'e':
        return KEY_IS("endpoint") ? F_ENDPOINT : -1;
    case 'c':
        return KEY_IS("commit")     ? F_COMMIT
               : KEY_IS("cache_us") ? F_CACHE_US
               : KEY_IS("cluster")  ? F_CLUSTER
                                    : -1;
    case 'u':
        return KEY_IS("user_id") ? F_USER_ID : -1;
    case 'i':
        return KEY_IS("instructions") ? F_INSTRUCTIONS : -1;
    case 'l':
        return KEY_IS("latency_us") ? F_LATENCY_US : -1;
    case 'd':
        return KEY_IS("db_us") ? F_DB_US : -1;
    case 'h':
        return KEY_IS("host") ? F_HOST : -1;
    case 'r':
        return KEY_IS("region") ? F_REGION : -1;
    case 'f':
        return KEY_IS("flags") ? F_FLAGS : -1;
    }
    return -1;
}

/* The one pass over the object: the known fields' values, NULL where absent. */
static void collect_fields(const json_t *obj, const json_t *v[F_COUNT])
{
    json_t *o = (json_t *)obj; /* jansson's iterator API is not const-correct */
    for (int i = 0; i < F_COUNT; i++)
        v[i] = NULL;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        int f = field_of_key(json_object_iter_key(it), json_object_iter_key_len(it));
        if (f >= 0)
            v[f] = json_object_iter_value(it);
    }
}

static int validate_fields(struct ctx *c, const json_t *v[F_COUNT], const struct sample_limits *lim,
                           struct sample_values *sv)
{
    sv->present = 0;
    for (int f = 0; f < F_COUNT; f++) {
        const struct field_spec *spec = &field_specs[f];
        if (!v[f] || (json_is_null(v[f]) && !spec->required)) {
            if (spec->required)
                return fail(c, "%s: required field is missing", spec->name);
            continue;
        }
        if (check_field(c, (enum sample_field)f, v[f], lim, &sv->v[f]) != 0)
            return -1;
        sv->present |= UINT32_C(1) << f;
    }
    return 0;
}

uint32_t sample_user_hash(const char *user_id, size_t user_id_len, const char *host,
                          size_t host_len, int64_t ts_us)
{
    if (user_id)
        return util_hash32(user_id, user_id_len);
    /* No user: hash the host's bytes followed by ts_us as 8 little-endian bytes, so that such
     * requests spread over buckets like independent users. */
    unsigned char stack[SAMPLE_LABEL_MAX + 8];
    unsigned char *p = host_len <= SAMPLE_LABEL_MAX ? stack : xmalloc(host_len + 8);
    if (host_len)
        memcpy(p, host, host_len);
    for (int i = 0; i < 8; i++)
        p[host_len + (size_t)i] = (unsigned char)((uint64_t)ts_us >> (8 * i));
    uint32_t h = util_hash32(p, host_len + 8);
    if (p != stack)
        free(p);
    return h;
}

/* Binary COPY: every field is a big-endian int32 length (-1: NULL) followed by its bytes in
 * the type's binary form. The callers reserve room first. */
static char *put_be16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
    return p + 2;
}

static char *put_be32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (24 - 8 * i));
    return p + 4;
}

static char *put_be64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (56 - 8 * i));
    return p + 8;
}

static char *field_null(char *p)
{
    return put_be32(p, UINT32_MAX);
}

static char *field_bytes(char *p, const char *s, size_t len)
{
    p = put_be32(p, (uint32_t)len);
    if (len)
        memcpy(p, s, len);
    return p + len;
}

static char *field_i64(char *p, int64_t v)
{
    return put_be64(put_be32(p, 8), (uint64_t)v);
}

static uint32_t values_user_hash(const struct sample_values *sv)
{
    bool has_user = sv->present & (UINT32_C(1) << F_USER_ID);
    bool has_host = sv->present & (UINT32_C(1) << F_HOST);
    const struct field_value *u = &sv->v[F_USER_ID], *h = &sv->v[F_HOST];
    return sample_user_hash(has_user ? u->s : NULL, has_user ? u->len : 0, has_host ? h->s : NULL,
                            has_host ? h->len : 0, sv->v[F_TS].i);
}

/* The field count and every column before flags. Strings go as they are (validation has
 * rejected NUL; jansson has checked UTF-8), so there is nothing to escape. */
static void put_columns(struct buf *out, const struct sample_values *sv, uint32_t user_hash)
{
    size_t need = 2 + SAMPLE_COPY_NCOLUMNS * 4 + 8 * 8;
    for (int f = F_SERVICE; f < F_FLAGS; f++)
        if ((sv->present & (UINT32_C(1) << f)) &&
            (field_specs[f].kind == K_STRING || field_specs[f].kind == K_USER_ID))
            need += sv->v[f].len;
    buf_reserve(out, need);
    char *p = out->data + out->len;
    p = put_be16(p, SAMPLE_COPY_NCOLUMNS);
    p = field_i64(p, sv->v[F_TS].i - UTIL_PG_EPOCH_US);
    for (int f = F_TS + 1; f < F_FLAGS; f++) {
        const struct field_value *fv = &sv->v[f];
        bool present = sv->present & (UINT32_C(1) << f);
        if (f == F_SAMPLE_RATE) {
            union {
                double d;
                uint64_t u;
            } rate = {.d = present ? fv->d : 1.0};
            p = put_be64(put_be32(p, 8), rate.u);
        } else if (!present) {
            p = field_null(p);
        } else if (f == F_STATUS) {
            p = put_be16(put_be32(p, 2), (uint16_t)fv->i);
        } else if (field_specs[f].kind == K_INT) {
            p = field_i64(p, fv->i);
        } else {
            p = field_bytes(p, fv->s, fv->len);
        }
        if (f == F_USER_ID)
            p = put_be32(put_be32(p, 4), user_hash); /* int4 with the hash's bits */
    }
    out->len = (size_t)(p - out->data);
}

int sample_flag_value_text(const json_t *v, char text[SAMPLE_FLAG_TEXT_BUFLEN], const char **s,
                           size_t *len)
{
    *s = text;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    case JSON_TRUE:
        *s = "true";
        *len = 4;
        return 0;
    case JSON_FALSE:
        *s = "false";
        *len = 5;
        return 0;
    case JSON_INTEGER:
        *len = util_format_i64(text, json_integer_value(v));
        return 0;
    case JSON_REAL:
        *len = format_real(text, json_real_value(v));
        return 0;
    default:
        return -1;
    }
}

/* One flag's value as text (sample_flag_value_text), validated. */
static int flag_value_text(struct ctx *c, const char *key, size_t key_len, const json_t *v,
                           char text[SAMPLE_FLAG_TEXT_BUFLEN], const char **s, size_t *len)
{
    char q[EXCERPT_BUFLEN];
    if (sample_flag_value_text(v, text, s, len) != 0)
        return fail(c, "flags: value of %s must be a string, boolean or number, got %s",
                    excerpt(q, key, key_len), type_name(v));
    if (!json_is_string(v))
        return 0;
    if (*len > SAMPLE_FLAG_VALUE_MAX)
        return fail(c, "flags: value of %s is %zu bytes, at most %d allowed",
                    excerpt(q, key, key_len), *len, SAMPLE_FLAG_VALUE_MAX);
    if (memchr(*s, '\0', *len))
        return fail(c, "flags: value of %s contains a NUL byte", excerpt(q, key, key_len));
    return 0;
}

static int put_flag(struct ctx *c, const char *key, size_t key_len, const json_t *v)
{
    char q[EXCERPT_BUFLEN], text[SAMPLE_FLAG_TEXT_BUFLEN];
    if (key_len < 1 || key_len > SAMPLE_FLAG_KEY_MAX)
        return fail(c, "flags: key %s is %zu bytes, must be 1-%d", excerpt(q, key, key_len),
                    key_len, SAMPLE_FLAG_KEY_MAX);
    if (memchr(key, '\0', key_len))
        return fail(c, "flags: key %s contains a NUL byte", excerpt(q, key, key_len));
    const char *s;
    size_t len = 0;
    if (flag_value_text(c, key, key_len, v, text, &s, &len) != 0)
        return -1;
    json_escape_append(c->out, key, key_len);
    buf_append_char(c->out, ':');
    json_escape_append(c->out, s, len);
    return 0;
}

/* The flags column: jsonb's binary form, a version byte (1) and the JSON text; NULL flags (the
 * field absent) is the empty object. */
static int put_flags(struct ctx *c, const json_t *flags)
{
    json_t *o = (json_t *)flags;
    buf_reserve(c->out, 6);
    size_t len_at = c->out->len;
    c->out->len += 4;
    c->out->data[c->out->len++] = 1;
    size_t start = c->out->len;
    buf_append_char(c->out, '{');
    for (void *it = o ? json_object_iter(o) : NULL; it; it = json_object_iter_next(o, it)) {
        if (c->out->len > start + 1)
            buf_append_char(c->out, ',');
        if (put_flag(c, json_object_iter_key(it), json_object_iter_key_len(it),
                     json_object_iter_value(it)) != 0)
            return -1;
    }
    buf_append_char(c->out, '}');
    put_be32(c->out->data + len_at, (uint32_t)(c->out->len - len_at - 4));
    return 0;
}

static int64_t optional_int(const struct sample_values *sv, enum sample_field f)
{
    return (sv->present & (UINT32_C(1) << f)) ? sv->v[f].i : -1;
}

int sample_format_row(const json_t *obj, const struct sample_limits *limits, struct buf *out,
                      struct sample_meta *meta, char *err, size_t errlen)
{
    struct ctx c = {.out = out, .err = err, .errlen = errlen};
    const json_t *v[F_COUNT];
    struct sample_values sv;
    if (!json_is_object(obj))
        return fail(&c, "sample: must be a JSON object, got %s", type_name(obj));
    collect_fields(obj, v);
    if (validate_fields(&c, v, limits, &sv) != 0)
        return -1;
    size_t start = out->len;
    uint32_t user_hash = values_user_hash(&sv);
    put_columns(out, &sv, user_hash);
    if (put_flags(&c, (sv.present & (UINT32_C(1) << F_FLAGS)) ? v[F_FLAGS] : NULL) != 0) {
        out->len = start;
        return -1;
    }
    if (meta) {
        *meta = (struct sample_meta){
            .ts_us = sv.v[F_TS].i,
            .service = sv.v[F_SERVICE].s,
            .service_len = sv.v[F_SERVICE].len,
            .endpoint = sv.v[F_ENDPOINT].s,
            .endpoint_len = sv.v[F_ENDPOINT].len,
            .commit = sv.v[F_COMMIT].s,
            .commit_len = sv.v[F_COMMIT].len,
            .user_hash = user_hash,
            .instructions = sv.v[F_INSTRUCTIONS].i,
            .latency_us = optional_int(&sv, F_LATENCY_US),
            .db_us = optional_int(&sv, F_DB_US),
            .cache_us = optional_int(&sv, F_CACHE_US),
            .flags = json_object_size(v[F_FLAGS]) ? v[F_FLAGS] : NULL,
        };
    }
    return 0;
}

/* How a byte is written in COPY text: 0 as is, 'o' as three octal digits, else '\' + this. */
static char copy_escape_of(unsigned char ch)
{
    switch (ch) {
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    case '\v':
        return 'v';
    }
    return ch < 0x20 || ch == 0x7f ? 'o' : 0;
}

static void put_copy_escape(struct buf *out, unsigned char ch)
{
    char e[4] = {'\\', copy_escape_of(ch), 0, 0};
    if (e[1] != 'o') {
        buf_append(out, e, 2);
        return;
    }
    /* Always three digits, so that a digit after it cannot join the escape. */
    e[1] = (char)('0' + (ch >> 6));
    e[2] = (char)('0' + ((ch >> 3) & 7));
    e[3] = (char)('0' + (ch & 7));
    buf_append(out, e, 4);
}

void copy_escape_append(struct buf *out, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '\\' && ch != 0x7f)
            continue;
        buf_append(out, s + run, i - run);
        put_copy_escape(out, ch);
        run = i + 1;
    }
    buf_append(out, s + run, len - run);
}

static void put_json_escape(struct buf *out, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    switch (ch) {
    case '"':
    case '\\':
        e[1] = (char)ch;
        break;
    case '\b':
        e[1] = 'b';
        break;
    case '\f':
        e[1] = 'f';
        break;
    case '\n':
        e[1] = 'n';
        break;
    case '\r':
        e[1] = 'r';
        break;
    case '\t':
        e[1] = 't';
        break;
    default:
        memcpy(e + 1, "u00", 3);
        e[4] = hex[ch >> 4];
        e[5] = hex[ch & 15];
        buf_append(out, e, 6);
        return;
    }
    buf_append(out, e, 2);
}

void json_escape_append(struct buf *out, const char *s, size_t len)
{
    size_t run = 0;
    buf_append_char(out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        buf_append(out, s + run, i - run);
        put_json_escape(out, ch);
        run = i + 1;
    }
    buf_append(out, s + run, len - run);
    buf_append_char(out, '"');
}
