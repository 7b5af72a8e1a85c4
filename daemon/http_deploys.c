/* The deploy API (CONTRACT section 3):
 *   POST /v1/deploys  {"service", "commit", "at"?, "baseline"?}  ->  201 {"id": N}
 *       (the same id, also 201, when the service's latest deploy already is that commit: a
 *       retried hook records nothing new; CONTRACT section 3 promises 201 to every caller)
 *   GET  /v1/deploys/{id}  ->  200 the deploy and, once decided, its report (check --json shape)
 * Errors are JSON {"error": "..."}: 400 bad request, 404 unknown deploy, 405 wrong method,
 * 503 PostgreSQL unavailable. Each request opens its own connection: the server's polling
 * thread calls this, deploy hooks are rare, and nothing is left open at shutdown. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/db.h"
#include "regressd/detector.h"
#include "regressd/http.h"
#include "regressd/log.h"

#define DEPLOYS_PATH "/v1/deploys"

static void reply_json(struct http_reply *reply, unsigned status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(body);
    reply->status = status;
    reply->content_type = "application/json";
    buf_append_str(&reply->body, s ? s : "{}");
    buf_append_char(&reply->body, '\n');
    free(s);
}

static void reply_error(struct http_reply *reply, unsigned status, const char *msg)
{
    reply_json(reply, status, json_pack("{s:s}", "error", msg));
}

/* "at": RFC 3339 string or integer epoch milliseconds. */
static int parse_at(json_t *v, int64_t *at, char *err, size_t errlen)
{
    if (json_is_integer(v)) {
        json_int_t ms = json_integer_value(v);
        if (ms < 0 || ms > INT64_MAX / 1000) {
            snprintf(err, errlen, "at: epoch milliseconds out of range");
            return -1;
        }
        *at = (int64_t)ms * 1000;
        return 0;
    }
    if (json_is_string(v) &&
        util_parse_rfc3339(json_string_value(v), json_string_length(v), at) == 0)
        return 0;
    snprintf(err, errlen, "at: expected an RFC 3339 string or epoch milliseconds");
    return -1;
}

static const char *string_field(json_t *body, const char *key, bool required, char *err,
                                size_t errlen)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v)) {
        if (required)
            snprintf(err, errlen, "%s: required", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

struct post_body {
    const char *service, *commit, *baseline;
    bool has_at;
    int64_t at;
};

static int parse_post(json_t *body, struct post_body *pb, char *err, size_t errlen)
{
    memset(pb, 0, sizeof(*pb));
    err[0] = '\0';
    if (!json_is_object(body)) {
        snprintf(err, errlen, "body: expected a JSON object");
        return -1;
    }
    pb->service = string_field(body, "service", true, err, errlen);
    if (err[0] || detector_check_name("service", pb->service, true, err, errlen) < 0)
        return -1;
    pb->commit = string_field(body, "commit", true, err, errlen);
    if (err[0] || detector_check_name("commit", pb->commit, false, err, errlen) < 0)
        return -1;
    pb->baseline = string_field(body, "baseline", false, err, errlen);
    if (err[0] ||
        (pb->baseline && detector_check_name("baseline", pb->baseline, false, err, errlen) < 0))
        return -1;
    json_t *at = json_object_get(body, "at");
    pb->has_at = at && !json_is_null(at);
    return pb->has_at ? parse_at(at, &pb->at, err, errlen) : 0;
}

static void handle_post(const struct config *cfg, const struct http_request *req,
                        struct http_reply *reply)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    struct post_body pb;
    char err[1024];
    if (!body) {
        snprintf(err, sizeof(err), "body: invalid JSON: %s", jerr.text);
        reply_error(reply, 400, err);
        return;
    }
    if (parse_post(body, &pb, err, sizeof(err)) < 0) {
        reply_error(reply, 400, err);
        json_decref(body);
        return;
    }
    PGconn *conn = db_connect(cfg->postgres_dsn, err, sizeof(err));
    int64_t id;
    bool created;
    if (!conn || detector_deploy_record(conn, pb.service, pb.commit, pb.has_at ? &pb.at : NULL,
                                        pb.baseline, &id, &created, err, sizeof(err)) < 0) {
        log_error("POST %s: %s", DEPLOYS_PATH, err);
        reply_error(reply, 503, "cannot record the deploy: PostgreSQL unavailable");
    } else {
        log_info("deploy %lld: service %s commit %s (%s)", (long long)id, pb.service, pb.commit,
                 created ? "recorded" : "already recorded");
        reply_json(reply, 201, json_pack("{s:I}", "id", (json_int_t)id));
    }
    PQfinish(conn);
    json_decref(body);
}

static json_t *ts_or_null(int64_t us, bool present)
{
    char ts[UTIL_TS_BUFLEN];
    if (!present)
        return json_null();
    util_format_ts(us, ts);
    return json_string(ts);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *deploy_json(const struct detector_deploy *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)d->id));
    json_object_set_new(o, "service", str_or_null(d->service));
    json_object_set_new(o, "commit", str_or_null(d->commit));
    json_object_set_new(o, "baseline_commit", str_or_null(d->baseline));
    json_object_set_new(o, "deployed_at", ts_or_null(d->deployed_at_us, true));
    json_object_set_new(o, "source", str_or_null(d->source));
    json_object_set_new(o, "created_at", ts_or_null(d->created_at_us, true));
    json_object_set_new(o, "verdict", str_or_null(d->verdict));
    json_object_set_new(o, "decided_at", ts_or_null(d->decided_at_us, d->verdict != NULL));
    json_t *report = d->report ? json_loads(d->report, 0, NULL) : NULL;
    json_object_set_new(o, "report", report ? report : json_null());
    return o;
}

/* "/v1/deploys/<digits>" -> id; -1 when the rest is not a positive integer. */
static int64_t parse_id(const char *rest)
{
    char *end;
    if (*rest < '0' || *rest > '9')
        return -1;
    errno = 0;
    long long v = strtoll(rest, &end, 10);
    return errno || *end || v <= 0 ? -1 : (int64_t)v;
}

static void handle_get(const struct config *cfg, int64_t id, struct http_reply *reply)
{
    char err[1024];
    struct detector_deploy d;
    bool found = false;
    PGconn *conn = db_connect(cfg->postgres_dsn, err, sizeof(err));
    if (!conn || detector_deploy_get(conn, id, &d, &found, err, sizeof(err)) < 0) {
        log_error("GET %s/%lld: %s", DEPLOYS_PATH, (long long)id, err);
        reply_error(reply, 503, "cannot read the deploy: PostgreSQL unavailable");
    } else if (!found) {
        reply_error(reply, 404, "no such deploy");
    } else {
        reply_json(reply, 200, deploy_json(&d));
    }
    if (found)
        detector_deploy_clear(&d);
    PQfinish(conn);
}

bool http_deploys_route(const struct config *cfg, const struct http_request *req,
                        struct http_reply *reply)
{
    size_t n = strlen(DEPLOYS_PATH);
    if (strncmp(req->url, DEPLOYS_PATH, n) != 0)
        return false;
    const char *rest = req->url + n;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(req->method, "POST") == 0)
            handle_post(cfg, req, reply);
        else
            reply_error(reply, 405, "use POST to record a deploy");
        return true;
    }
    if (*rest != '/')
        return false;
    int64_t id = parse_id(rest + 1);
    if (id < 0)
        reply_error(reply, 404, "no such deploy");
    else if (!get)
        reply_error(reply, 405, "use GET to read a deploy");
    else
        handle_get(cfg, id, reply);
    return true;
}
