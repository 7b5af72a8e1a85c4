/* The outbox: turning a report into one `alerts` row inside the caller's transaction, the
 * identities that keep a finding group from being alerted twice, and the trend lifecycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"
#include "regressd/alert.h"
#include "regressd/db.h"
#include "regressd/log.h"

char *alert_item_key(const json_t *regression)
{
    json_t *a = json_array();
    static const char *const keys[] = {"metric", "endpoint", "flag"};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        const json_t *v = json_object_get(regression, keys[i]);
        json_array_append_new(a, v ? json_deep_copy(v) : json_null());
    }
    char *s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(a);
    if (!s)
        abort(); /* only allocation can fail here */
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *alert_items(const json_t *regressions)
{
    size_t n = json_array_size(regressions);
    char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = alert_item_key(json_array_get(regressions, i));
    qsort(keys, n, sizeof(*keys), cmp_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(keys[i], keys[i - 1]) != 0)
            json_array_append_new(out, json_string(keys[i]));
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    return out;
}

static bool side_time(const json_t *report, const char *side, const char *key, int64_t *us)
{
    const char *s = json_string_value(json_object_get(json_object_get(report, side), key));
    return s && util_parse_rfc3339(s, strlen(s), us) == 0;
}

static bool is_deploy(const char *kind)
{
    return strcmp(kind, "deploy") == 0;
}

static char *dump_compact(json_t *a)
{
    char *s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(a);
    if (!s)
        abort();
    return s;
}

char *alert_scope(const char *kind, const char *service, const json_t *report)
{
    json_t *a = json_pack("[ss]", kind, service);
    if (!is_deploy(kind)) {
        int64_t cf, ct, bf;
        bool cand = side_time(report, "candidate", "from", &cf) &&
                    side_time(report, "candidate", "to", &ct);
        bool base = cand && side_time(report, "baseline", "from", &bf);
        json_array_append_new(a, cand ? json_integer((ct - cf) / 1000000) : json_null());
        json_array_append_new(a, base ? json_integer((cf - bf) / 1000000) : json_null());
    }
    return dump_compact(a);
}

static json_t *side_value(const json_t *report, const char *side, const char *key)
{
    const json_t *v = json_object_get(json_object_get(report, side), key);
    return json_is_string(v) ? json_deep_copy(v) : json_null();
}

char *alert_dedup_material(const char *kind, const char *service, const json_t *report,
                           const json_t *items)
{
    json_t *a = json_pack("[ss]", kind, service);
    json_array_append_new(a, side_value(report, "baseline", "label"));
    json_array_append_new(a, side_value(report, "candidate", "label"));
    if (!is_deploy(kind)) {
        static const char *const keys[] = {"from", "to"};
        for (int s = 0; s < 2; s++)
            for (size_t k = 0; k < 2; k++)
                json_array_append_new(a, side_value(report, s ? "candidate" : "baseline", keys[k]));
    }
    if (strcmp(kind, "flag") == 0)
        json_array_append_new(a, json_deep_copy(items));
    return dump_compact(a);
}

void alert_key_service(const char *service, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = service; *p && n < 64 && n + 1 < outlen; p++)
        out[n++] = (strchr("._:/-", *p) || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9'))
                       ? *p
                       : '_';
    out[n] = '\0';
}

static bool known_kind(const char *kind)
{
    return strcmp(kind, "deploy") == 0 || strcmp(kind, "trend") == 0 || strcmp(kind, "flag") == 0;
}

/* What enqueue and resolve both need from a report. */
struct alert_facts {
    const char *kind, *service;
    json_t *regressions;
    json_t *items;
    char *items_json;
    char *scope;
};

static int facts_init(struct alert_facts *f, const char *kind, const char *service,
                      const json_t *report, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind ? kind : json_string_value(json_object_get(report, "kind"));
    f->service = service ? service : json_string_value(json_object_get(report, "service"));
    json_t *probe = f->service ? json_string(f->service) : NULL; /* NULL: not UTF-8 */
    bool ok = json_is_object(report) && f->kind && known_kind(f->kind) && probe && f->service[0];
    json_decref(probe);
    if (!ok) {
        snprintf(err, errlen, "alert: the report needs a kind (deploy, trend, flag) and a service");
        return -1;
    }
    f->regressions = alert_regressions(report);
    f->items = alert_items(f->regressions);
    f->items_json = json_dumps(f->items, JSON_COMPACT | JSON_ENSURE_ASCII);
    f->scope = alert_scope(f->kind, f->service, report);
    return 0;
}

static void facts_free(struct alert_facts *f)
{
    json_decref(f->regressions);
    json_decref(f->items);
    free(f->items_json);
    free(f->scope);
}

/* Trend and flag runs: true when unresolved alerts of the scope already cover every regression
 * (serialised per scope for the rest of the transaction). */
static int covered(PGconn *conn, const struct alert_facts *f, bool *yes, char *err, size_t errlen)
{
    const char *params[] = {f->scope, f->items_json};
    PGresult *res = db_query(conn,
                             "SELECT pg_advisory_xact_lock(hashtext('regressd.alerts'),"
                             " hashtext($1))",
                             1, params, err, errlen);
    if (!res)
        return -1;
    PQclear(res);
    res = db_query(conn,
                   "SELECT coalesce((SELECT array_agg(i) FROM alerts a, unnest(a.items) i"
                   " WHERE a.scope = $1 AND a.resolved_at IS NULL), '{}')"
                   " @> ARRAY(SELECT jsonb_array_elements_text($2::jsonb))",
                   2, params, err, errlen);
    if (!res)
        return -1;
    *yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

/* The next id and the dedup_key, computed by PostgreSQL (SHA-256 of the material). */
static int next_id_and_key(PGconn *conn, const struct alert_facts *f, const json_t *report,
                           int64_t *id, char *key, size_t keylen, char *err, size_t errlen)
{
    char svc[80];
    alert_key_service(f->service, svc, sizeof(svc));
    char *material = alert_dedup_material(f->kind, f->service, report, f->items);
    const char *params[] = {f->kind, svc, material};
    PGresult *res = db_query(conn,
                             "SELECT nextval(pg_get_serial_sequence('alerts', 'id')),"
                             " $1 || ':' || $2 || ':' ||"
                             " left(encode(sha256(convert_to($3, 'UTF8')), 'hex'), 32)",
                             3, params, err, errlen);
    free(material);
    if (!res)
        return -1;
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(key, keylen, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

static int insert_alert(PGconn *conn, const struct alert_facts *f, const json_t *report,
                        int64_t *alert_id, char *err, size_t errlen)
{
    int64_t id;
    char key[160], idtext[32], ts[UTIL_TS_BUFLEN];
    if (next_id_and_key(conn, f, report, &id, key, sizeof(key), err, errlen) < 0)
        return -1;
    int64_t now = util_now_us();
    /* The caller may have named kind and service instead of the report. */
    json_t *named = json_copy((json_t *)report);
    json_object_set_new(named, "kind", json_string(f->kind));
    json_object_set_new(named, "service", json_string(f->service));
    json_t *payload = alert_payload_new(named, id, key, now);
    json_decref(named);
    char *text = json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(payload);
    if (!text)
        abort();
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    util_format_ts(now, ts);
    const char *params[] = {idtext, key, f->kind, f->service, text, ts, f->scope, f->items_json};
    PGresult *res = db_query(
        conn,
        "INSERT INTO alerts (id, dedup_key, kind, service, payload, created_at, scope, items)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6::timestamptz, $7,"
        " ARRAY(SELECT jsonb_array_elements_text($8::jsonb)))"
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        8, params, err, errlen);
    free(text);
    if (!res)
        return -1;
    *alert_id = PQntuples(res) ? id : 0;
    PQclear(res);
    if (*alert_id)
        log_info("alert %lld queued: %s", (long long)id, key);
    else
        log_debug("alert %s exists already; not alerted again", key);
    return 0;
}

int alert_enqueue(PGconn *conn, const char *kind, const char *service, const json_t *report,
                  int64_t *alert_id, char *err, size_t errlen)
{
    struct alert_facts f;
    int64_t id = 0;
    int rc = -1;
    if (facts_init(&f, kind, service, report, err, errlen) < 0)
        goto done;
    if (json_array_size(f.regressions) == 0) {
        rc = 0;
        goto done;
    }
    if (!is_deploy(f.kind)) {
        bool yes = false;
        if (covered(conn, &f, &yes, err, errlen) < 0)
            goto done;
        if (yes) {
            log_debug("alert: %s regressions of %s are covered by unresolved alerts", f.kind,
                      f.service);
            rc = 0;
            goto done;
        }
    }
    rc = insert_alert(conn, &f, report, &id, err, errlen);
done:
    facts_free(&f); /* zeroed by facts_init even when it fails */
    if (alert_id)
        *alert_id = rc == 0 ? id : 0;
    return rc;
}

/* Identities of the results a run still finds or cannot rule out (regression, inconclusive):
 * an endpoint without enough data this hour does not resolve its alert. JSON text; caller
 * frees. */
static char *present_items(const json_t *report)
{
    json_t *present = json_array();
    size_t i;
    const json_t *res;
    json_array_foreach(json_object_get(report, "results"), i, res)
    {
        const char *v = json_string_value(json_object_get(res, "verdict"));
        if (v && (strcmp(v, "regression") == 0 || strcmp(v, "inconclusive") == 0))
            json_array_append(present, (json_t *)res);
    }
    json_t *items = alert_items(present);
    char *text = json_dumps(items, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(items);
    json_decref(present);
    if (!text)
        abort();
    return text;
}

int alert_resolve_absent(PGconn *conn, const json_t *report, int *resolved, char *err,
                         size_t errlen)
{
    struct alert_facts f;
    int n = 0, rc = -1;
    char *present = NULL;
    if (facts_init(&f, NULL, NULL, report, err, errlen) < 0)
        goto done;
    rc = 0;
    if (is_deploy(f.kind))
        goto done; /* a deploy's alert is about that deploy: nothing later resolves it */
    present = present_items(report);
    const char *params[] = {f.scope, present};
    PGresult *res = db_query(conn,
                             "SELECT regressd_alert_resolve_absent($1,"
                             " ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))",
                             2, params, err, errlen);
    if (!res) {
        rc = -1;
        goto done;
    }
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        log_info("alert %s resolved: %s regressions of %s no longer found", PQgetvalue(res, i, 0),
                 f.kind, f.service);
    PQclear(res);
done:
    free(present);
    facts_free(&f);
    if (resolved)
        *resolved = n;
    return rc;
}
