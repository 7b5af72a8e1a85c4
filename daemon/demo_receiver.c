/* `regressd demo`: the local alert receiver (see demo.h). A real HTTP server on 127.0.0.1, on a
 * port the kernel picks, so the alert delivery loop sends over real HTTP exactly as it would to
 * a webhook endpoint or to Slack. Requests are kept in memory (the first DEMO_RECEIVED_MAX);
 * the demo reads copies of them from its own thread. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "demo.h"
#include "regressd/log.h"

#define RECEIVER_MAX_BODY (1 << 20)
#define RECEIVER_CONNECTION_TIMEOUT_S 10u

struct demo_receiver {
    struct MHD_Daemon *mhd;
    unsigned port;
    pthread_mutex_t lock;
    struct demo_received kept[DEMO_RECEIVED_MAX];
    size_t n_kept;
};

/* The body as it arrives, between libmicrohttpd's calls. */
struct receiver_request {
    struct buf body;
    bool too_large;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(res, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return ret;
}

static bool is_alert_path(const char *url)
{
    return strcmp(url, DEMO_WEBHOOK_PATH) == 0 || strcmp(url, DEMO_SLACK_PATH) == 0;
}

static void keep(struct demo_receiver *r, struct MHD_Connection *conn, const char *url,
                 const struct receiver_request *rq)
{
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    pthread_mutex_lock(&r->lock);
    if (r->n_kept < DEMO_RECEIVED_MAX) {
        struct demo_received *q = &r->kept[r->n_kept++];
        snprintf(q->path, sizeof(q->path), "%s", url);
        q->idempotency_key = key ? xstrdup(key) : NULL;
        q->body = xstrndup(rq->body.data ? rq->body.data : "", rq->body.len);
        q->at_mono_us = util_mono_us();
    }
    pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    struct receiver_request *rq = *state;
    if (!rq) {
        *state = xcalloc(1, sizeof(*rq));
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->body.len + *upload_size > RECEIVER_MAX_BODY)
            rq->too_large = true;
        else
            buf_append(&rq->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0 || !is_alert_path(url))
        return respond(conn, MHD_HTTP_NOT_FOUND, "{\"ok\":false}");
    if (rq->too_large)
        return respond(conn, MHD_HTTP_CONTENT_TOO_LARGE, "{\"ok\":false}");
    keep(cls, conn, url, rq);
    return respond(conn, MHD_HTTP_OK, "{\"ok\":true}");
}

static void request_done(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    struct receiver_request *rq = *state;
    if (rq) {
        buf_free(&rq->body);
        free(rq);
        *state = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    log_warn("demo alert receiver: %s", line);
}

struct demo_receiver *demo_receiver_start(char *err, size_t errlen)
{
    struct demo_receiver *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, r,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        RECEIVER_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        r->mhd ? MHD_get_daemon_info(r->mhd, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || !info->port) {
        snprintf(err, errlen, "the alert receiver cannot listen on 127.0.0.1");
        demo_receiver_stop(r);
        return NULL;
    }
    r->port = info->port;
    return r;
}

unsigned demo_receiver_port(const struct demo_receiver *r)
{
    return r->port;
}

size_t demo_receiver_copy(struct demo_receiver *r, struct demo_received *out, size_t max)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n_kept < max ? r->n_kept : max;
    for (size_t i = 0; i < n; i++) {
        const struct demo_received *q = &r->kept[i];
        out[i] = *q;
        out[i].idempotency_key = q->idempotency_key ? xstrdup(q->idempotency_key) : NULL;
        out[i].body = xstrdup(q->body);
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

void demo_received_clear(struct demo_received *q)
{
    free(q->idempotency_key);
    free(q->body);
    memset(q, 0, sizeof(*q));
}

void demo_receiver_stop(struct demo_receiver *r)
{
    if (!r)
        return;
    if (r->mhd)
        MHD_stop_daemon(r->mhd);
    for (size_t i = 0; i < r->n_kept; i++)
        demo_received_clear(&r->kept[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
