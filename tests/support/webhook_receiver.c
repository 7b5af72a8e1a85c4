/* webhook_receiver: a real HTTP receiver on loopback for the alert tests.
 *
 *   webhook_receiver --out FILE [--port N] [--fail PATH=K]... [--stall PATH=K:SECONDS]...
 *
 * Listens on 127.0.0.1 (port 0: any free port), prints the port as one line on stdout, and runs
 * until SIGTERM or SIGINT. Every request is recorded when it arrives, as one JSON line in FILE:
 *   {"seq": 1, "at": "…", "method": "POST", "path": "/hook", "headers": {"idempotency-key": …},
 *    "body": "…", "status": 200, "stalled": false}
 * where status is the answer it is going to get. Per path, the first K requests of --fail get
 * 500; the first K of --stall wait SECONDS (bounded, cut short by a signal) and then get 503,
 * so a client with a shorter timeout sees a timeout and never a success. Other requests get 200
 * with {"ok":true}. Header names are lower-cased.
 *
 * Exit status: 0 after a signal, 2 on a usage error, 1 if it cannot listen. */
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regressd/util.h"

#define MAX_RULES 16
#define MAX_BODY (4 << 20)
#define MAX_STALL_S 600

struct rule {
    char *path;
    int fail;     /* first K requests get 500 */
    int stall;    /* first K requests stall */
    int stall_ms; /* for this long */
    int seen;     /* requests so far */
};

struct receiver {
    FILE *out;
    pthread_mutex_t lock;
    struct rule rules[MAX_RULES];
    int n_rules;
    long seq;
};

struct request {
    struct buf body;
    bool too_large;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static struct rule *rule_for(struct receiver *r, const char *path, bool create)
{
    for (int i = 0; i < r->n_rules; i++)
        if (strcmp(r->rules[i].path, path) == 0)
            return &r->rules[i];
    if (!create || r->n_rules == MAX_RULES)
        return NULL;
    struct rule *ru = &r->rules[r->n_rules++];
    ru->path = xstrdup(path);
    return ru;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    char name[256];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof(name); i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    json_object_set_new(cls, name, json_string(value ? value : ""));
    return MHD_YES;
}

/* Decides the answer (status, stall) and records the request, under the lock. */
static int decide_and_record(struct receiver *r, struct MHD_Connection *conn, const char *method,
                             const char *path, struct request *rq, int *stall_ms)
{
    json_t *headers = json_object();
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
    json_t *body = json_stringn(rq->body.data ? rq->body.data : "", rq->body.len);
    pthread_mutex_lock(&r->lock);
    struct rule *ru = rule_for(r, path, false);
    int n = ru ? ru->seen++ : 0, status = 200;
    *stall_ms = 0;
    if (rq->too_large)
        status = 413;
    else if (ru && n < ru->stall) {
        *stall_ms = ru->stall_ms;
        status = 503;
    } else if (ru && n < ru->stall + ru->fail)
        status = 500;
    char at[UTIL_TS_BUFLEN];
    util_format_ts(util_now_us(), at);
    json_t *line =
        json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:i, s:b}", "seq", (json_int_t)++r->seq, "at", at,
                  "method", method, "path", path, "headers", headers, "body",
                  body ? body : json_null(), "status", status, "stalled", *stall_ms > 0);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        fprintf(r->out, "%s\n", text);
        fflush(r->out);
    }
    pthread_mutex_unlock(&r->lock);
    free(text);
    json_decref(line);
    return status;
}

static void stall(int ms)
{
    for (int slept = 0; slept < ms && !stop_requested; slept += 50)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
}

static enum MHD_Result respond(struct MHD_Connection *conn, int status)
{
    static const char ok[] = "{\"ok\":true}", bad[] = "{\"ok\":false}";
    const char *text = status == 200 ? ok : bad;
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(res, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, res);
    MHD_destroy_response(res);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    struct request *rq = *state;
    if (!rq) {
        *state = xcalloc(1, sizeof(*rq));
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->body.len + *upload_size > MAX_BODY)
            rq->too_large = true;
        else
            buf_append(&rq->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    int stall_ms;
    int status = decide_and_record(cls, conn, method, url, rq, &stall_ms);
    stall(stall_ms);
    return respond(conn, status);
}

static void done(void *cls, struct MHD_Connection *conn, void **state,
                 enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    struct request *rq = *state;
    if (rq) {
        buf_free(&rq->body);
        free(rq);
        *state = NULL;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: webhook_receiver --out FILE [--port N] [--fail PATH=K]... "
                    "[--stall PATH=K:SECONDS]...\n");
    return 2;
}

/* "PATH=K" or "PATH=K:SECONDS" into the path's rule. */
static int parse_rule(struct receiver *r, const char *arg, bool is_stall)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || arg[0] != '/')
        return -1;
    char *path = xstrndup(arg, (size_t)(eq - arg)), *end;
    struct rule *ru = rule_for(r, path, true);
    free(path);
    long k = strtol(eq + 1, &end, 10);
    if (!ru || k < 0 || k > 1000000)
        return -1;
    if (!is_stall) {
        ru->fail = (int)k;
        return *end ? -1 : 0;
    }
    double secs = *end == ':' ? strtod(end + 1, &end) : -1;
    if (*end || secs <= 0 || secs > MAX_STALL_S)
        return -1;
    ru->stall = (int)k;
    ru->stall_ms = (int)(secs * 1000);
    return 0;
}

static int parse_args(struct receiver *r, int argc, char **argv, const char **out, int *port)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--out") == 0)
            *out = v;
        else if (strcmp(a, "--port") == 0)
            *port = atoi(v);
        else if (strcmp(a, "--fail") == 0 || strcmp(a, "--stall") == 0) {
            if (parse_rule(r, v, strcmp(a, "--stall") == 0) < 0)
                return -1;
        } else
            return -1;
    }
    return *out && *port >= 0 && *port < 65536 ? 0 : -1;
}

static struct MHD_Daemon *listen_loopback(struct receiver *r, int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL, NULL,
        handle, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, done,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(MAX_STALL_S + 60), MHD_OPTION_END);
}

int main(int argc, char **argv)
{
    struct receiver r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.lock, NULL);
    const char *out = NULL;
    int port = 0, rc = 0;
    if (parse_args(&r, argc, argv, &out, &port) < 0)
        return usage();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    r.out = fopen(out, "a");
    struct MHD_Daemon *d = r.out ? listen_loopback(&r, port) : NULL;
    if (!d) {
        fprintf(stderr, "webhook_receiver: cannot %s\n", r.out ? "listen" : "open the output");
        rc = 1;
        goto done;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("%u\n", info ? (unsigned)info->port : 0u);
    fflush(stdout);
    while (!stop_requested)
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    MHD_stop_daemon(d);
done:
    if (r.out)
        fclose(r.out);
    for (int i = 0; i < r.n_rules; i++)
        free(r.rules[i].path);
    pthread_mutex_destroy(&r.lock);
    return rc;
}
