/* The HTTP API served by `regressd run` (libmicrohttpd, its own thread). Prefix http_. */
#ifndef REGRESSD_HTTP_H
#define REGRESSD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "regressd/config.h"
#include "regressd/consumer.h"
#include "regressd/util.h"

struct http_server;

/* A request routed to a module's handler: the body is complete and the bearer token (for
 * writes) already checked. */
struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;    /* path only, e.g. "/v1/deploys/42" */
    const char *body;   /* NUL-terminated; "" when none */
    size_t body_len;
};

struct http_reply {
    unsigned status;
    const char *content_type; /* static string; default application/json */
    struct buf body;          /* owned by the server, freed after sending */
};

/* Deploy API (daemon/http_deploys.c): POST /v1/deploys, GET /v1/deploys/{id}. Returns true
 * when it handled the request (reply filled), false when the URL is not its own. */
bool http_deploys_route(const struct config *cfg, const struct http_request *req,
                        struct http_reply *reply);
/* Alerts API (daemon/http_alerts.c): GET /v1/alerts. Same contract as above. */
bool http_alerts_route(const struct config *cfg, const struct http_request *req,
                       struct http_reply *reply);

/* Listens on cfg->http_listen, "host:port" (IPv4 or [IPv6]); writes need cfg->http_token. The
 * consumer may be NULL (health then fails). Returns NULL with the reason on error. */
struct http_server *http_start(const struct config *cfg, struct consumer *consumer, char *err,
                               size_t errlen);
void http_stop(struct http_server *s);

struct alert_loop;
/* Adds the alert delivery loop's counters to /metrics (s may be NULL). */
void http_set_alert_loop(struct http_server *s, struct alert_loop *loop);

struct scheduler;
/* Adds the schedule's gauges and counters to /metrics (s may be NULL). Call
 * http_set_scheduler(s, NULL) before stopping the scheduler. */
void http_set_scheduler(struct http_server *s, struct scheduler *schedule);

/* Splits "host:port" / "[v6]:port"; 0 on success. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned *port);

#endif
