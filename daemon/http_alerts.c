/* The alerts API: GET /v1/alerts (the newest 100 alerts with their delivery state per receiver)
 * and GET /v1/alerts/{id} (one alert with its payload and every attempt). The JSON is built by
 * regressd_alert_json() in sql/004_alerts.sql. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/db.h"
#include "regressd/http.h"
#include "regressd/log.h"

static void reply_json(struct http_reply *reply, unsigned status, const char *json)
{
    reply->status = status;
    reply->content_type = "application/json";
    buf_append_str(&reply->body, json);
    buf_append_char(&reply->body, '\n');
}

static void reply_error(struct http_reply *reply, unsigned status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    reply_json(reply, status, text ? text : "{\"error\":\"?\"}");
    free(text);
    json_decref(o);
}

static const char list_sql[] =
    "SELECT jsonb_build_object('alerts', coalesce(jsonb_agg(regressd_alert_json(a)"
    " ORDER BY a.id DESC), '[]'::jsonb))::text"
    " FROM (SELECT * FROM alerts ORDER BY id DESC LIMIT 100) a";

static const char one_sql[] =
    "SELECT (regressd_alert_json(a) || jsonb_build_object('payload', a.payload,"
    " 'attempts', coalesce((SELECT jsonb_agg(jsonb_build_object('receiver', t.receiver,"
    "   'event', t.event, 'attempt', t.attempt, 'started_at', regressd_rfc3339(t.started_at),"
    "   'duration_ms', round(t.duration_ms::numeric, 1), 'http_status', t.http_status,"
    "   'error', t.error) ORDER BY t.id)"
    "  FROM (SELECT * FROM alert_attempts WHERE alert_id = a.id ORDER BY id DESC"
    "        LIMIT 200) t), '[]'::jsonb)))::text"
    " FROM alerts a WHERE a.id = $1";

/* Runs a query whose one row and column is the JSON answer; 404 when it has no row. */
static void answer(const struct config *cfg, const char *sql, const char *id,
                   struct http_reply *reply)
{
    char err[512];
    PGconn *conn = db_connect(cfg->postgres_dsn, err, sizeof(err));
    if (!conn) {
        reply_error(reply, 503, err);
        return;
    }
    const char *params[] = {id};
    PGresult *res = db_query(conn, sql, id ? 1 : 0, id ? params : NULL, err, sizeof(err));
    if (!res) {
        log_warn("GET /v1/alerts: %s", err);
        reply_error(reply, 503, err);
    } else if (PQntuples(res) == 0) {
        reply_error(reply, 404, "no such alert");
    } else {
        reply_json(reply, 200, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    PQfinish(conn);
}

/* "/v1/alerts/123" -> "123"; NULL when the rest is not a positive decimal id. */
static const char *alert_id_of(const char *rest)
{
    if (rest[0] != '/' || !rest[1] || strlen(rest + 1) > 18)
        return NULL;
    for (const char *p = rest + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return NULL;
    return rest + 1;
}

bool http_alerts_route(const struct config *cfg, const struct http_request *req,
                       struct http_reply *reply)
{
    static const char prefix[] = "/v1/alerts";
    if (strncmp(req->url, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *rest = req->url + sizeof(prefix) - 1;
    bool list = rest[0] == '\0' || strcmp(rest, "/") == 0;
    const char *id = list ? NULL : alert_id_of(rest);
    if (!list && !id)
        return rest[0] == '/' ? (reply_error(reply, 404, "no such alert"), true) : false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        reply_error(reply, 405, "alerts are read-only: use GET");
        return true;
    }
    answer(cfg, list ? list_sql : one_sql, id, reply);
    return true;
}
