/* Routes: GET /healthz, GET /metrics, and the module APIs (deploys). Requests other than GET
 * and HEAD are writes: they need `Authorization: Bearer TOKEN` when http.token is set. */
#include "regressd/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "regressd/alert.h"
#include "regressd/log.h"
#include "regressd/util.h"
#include "scheduler.h"

#define HTTP_MAX_BODY (1 << 20)

struct http_server {
    struct MHD_Daemon *mhd;
    const struct config *cfg;
    struct consumer *consumer;
    struct alert_loop *_Atomic alerts;
    struct scheduler *_Atomic schedule;
};

/* Per-request state between libmicrohttpd's calls: the body as it arrives. */
struct request_state {
    struct buf body;
    bool too_large;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", content_type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *s)
{
    return respond(conn, status, "text/plain; charset=utf-8", s, strlen(s));
}

static enum MHD_Result handle_healthz(struct http_server *s, struct MHD_Connection *conn)
{
    bool ok = s->consumer && consumer_healthy(s->consumer);
    return respond_text(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        ok ? "ok\n" : "unhealthy: not consuming or PostgreSQL unreachable\n");
}

static enum MHD_Result handle_metrics(struct http_server *s, struct MHD_Connection *conn)
{
    struct buf out = {0};
    if (s->consumer)
        consumer_metrics(s->consumer, &out);
    struct alert_loop *alerts = atomic_load(&s->alerts);
    if (alerts)
        alert_loop_metrics(alerts, &out);
    scheduler_metrics(atomic_load(&s->schedule), &out);
    buf_printf(&out,
               "# HELP regressd_up Whether the daemon is healthy.\n"
               "# TYPE regressd_up gauge\nregressd_up %d\n",
               s->consumer && consumer_healthy(s->consumer) ? 1 : 0);
    enum MHD_Result r =
        respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    buf_free(&out);
    return r;
}

static bool is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Constant-time comparison, so the token cannot be guessed byte by byte from timings. */
static bool token_matches(const char *given, const char *want)
{
    size_t n = strlen(want), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static bool authorized(struct http_server *s, struct MHD_Connection *conn)
{
    const char *token = s->cfg->http_token;
    if (!token || !token[0])
        return true;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    return auth && strncmp(auth, "Bearer ", 7) == 0 && token_matches(auth + 7, token);
}

static enum MHD_Result route(struct http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, struct request_state *rs)
{
    if (!is_write(method) && strcmp(url, "/healthz") == 0)
        return handle_healthz(s, conn);
    if (!is_write(method) && strcmp(url, "/metrics") == 0)
        return handle_metrics(s, conn);
    if (rs->too_large)
        return respond_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    if (is_write(method) && !authorized(s, conn))
        return respond_text(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token\n");
    struct http_request req = {method, url, buf_cstr(&rs->body), rs->body.len};
    struct http_reply reply = {0, NULL, {0}};
    if (!http_deploys_route(s->cfg, &req, &reply) && !http_alerts_route(s->cfg, &req, &reply))
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    enum MHD_Result r = respond(conn, reply.status ? reply.status : MHD_HTTP_OK,
                                reply.content_type ? reply.content_type : "application/json",
                                reply.body.data ? reply.body.data : "", reply.body.len);
    buf_free(&reply.body);
    return r;
}

static enum MHD_Result dispatch(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_size, void **state)
{
    (void)version;
    struct http_server *s = cls;
    struct request_state *rs = *state;
    if (!rs) {
        /* First call per request: headers only. */
        *state = xcalloc(1, sizeof(*rs));
        return MHD_YES;
    }
    if (*upload_size) {
        if (rs->body.len + *upload_size > HTTP_MAX_BODY)
            rs->too_large = true;
        else
            buf_append(&rs->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return route(s, conn, url, method, rs);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    struct request_state *rs = *state;
    if (rs) {
        buf_free(&rs->body);
        free(rs);
        *state = NULL;
    }
}

int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    const char *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -1;
        h = listen + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - listen);
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || p > 65535 || hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    log_warn("http: %s", line);
}

struct http_server *http_start(const struct config *cfg, struct consumer *consumer, char *err,
                               size_t errlen)
{
    const char *listen = cfg->http_listen;
    char host[256];
    unsigned port;
    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (http_parse_listen(listen, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "http.listen: expected host:port, got \"%s\"", listen);
        return NULL;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &v4->sin_addr) ==
        1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "http.listen: \"%s\" is not an IP address", host);
        return NULL;
    }
    struct http_server *s = xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->consumer = consumer;
    s->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, dispatch, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, request_done,
                              NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "http.listen: cannot listen on %s", listen);
        http_stop(s);
        return NULL;
    }
    log_info("HTTP API listening on %s", listen);
    return s;
}

void http_set_scheduler(struct http_server *s, struct scheduler *schedule)
{
    if (s)
        atomic_store(&s->schedule, schedule);
}

void http_set_alert_loop(struct http_server *s, struct alert_loop *loop)
{
    if (s)
        atomic_store(&s->alerts, loop);
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    free(s);
}
