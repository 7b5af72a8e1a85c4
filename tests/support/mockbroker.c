/* mockbroker: a Kafka-protocol broker for tests, the demo and benches.
 *
 *   mockbroker [--brokers N] [--topic NAME:PARTITIONS]... [--port-file FILE]
 *
 * Starts librdkafka's mock cluster (rdkafka_mock.h) on loopback, creates the given topics, prints
 * the bootstrap address as one line on stdout (and writes it to FILE, atomically through a
 * temporary file, so a waiting test never reads half a line), then runs until SIGTERM or SIGINT
 * and exits 0. The mock cluster speaks the real protocol (produce, fetch, metadata, consumer
 * groups with a coordinator, offset commits), so kcat and librdkafka clients connect to it like
 * to any broker. The cluster itself is daemon/mockkafka.c (also used in-process by `regressd
 * demo`); include/regressd/mockkafka.h lists its limits: a few MiB kept per partition, and the
 * consumer-group join delays that tests restarting consumers must allow for (session.timeout.ms
 * about 6000).
 *
 * Exit status: 0 after a signal, 2 on a usage error, 1 if the cluster cannot be started. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regressd/mockkafka.h"
#include "regressd/util.h"

#define MOCKBROKER_MAX_TOPICS 64

struct mock_topic {
    char *name;
    int partitions;
};

struct mock_options {
    int brokers;
    const char *port_file;
    struct mock_topic topics[MOCKBROKER_MAX_TOPICS];
    int topic_count;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mockbroker [--brokers N] [--topic NAME:PARTITIONS]... "
            "[--port-file FILE]\n"
            "Starts a librdkafka mock Kafka cluster on loopback, prints its bootstrap\n"
            "address on stdout and runs until SIGTERM/SIGINT.\n"
            "  --brokers N              number of brokers (1-%d, default 1)\n"
            "  --topic NAME:PARTITIONS  create a topic (repeatable; other topics are\n"
            "                           auto-created on first use)\n"
            "  --port-file FILE         also write the bootstrap address to FILE\n",
            MOCKKAFKA_MAX_BROKERS);
}

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_topic(const char *arg, struct mock_topic *t)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    if (parse_int(colon + 1, 1, MOCKKAFKA_MAX_PARTITIONS, &t->partitions) < 0)
        return -1;
    t->name = xstrndup(arg, (size_t)(colon - arg));
    return 0;
}

/* Returns 0 ok, 1 for --help, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct mock_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return 1;
        if (i + 1 >= argc) {
            fprintf(stderr, "mockbroker: unknown option or missing value: %s\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--brokers")) {
            if (parse_int(v, 1, MOCKKAFKA_MAX_BROKERS, &o->brokers) < 0) {
                fprintf(stderr, "mockbroker: --brokers: bad value '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--topic")) {
            if (o->topic_count == MOCKBROKER_MAX_TOPICS ||
                parse_topic(v, &o->topics[o->topic_count]) < 0) {
                fprintf(stderr, "mockbroker: --topic: bad value '%s' (want NAME:PARTITIONS)\n", v);
                return -1;
            }
            o->topic_count++;
        } else if (!strcmp(a, "--port-file")) {
            o->port_file = v;
        } else {
            fprintf(stderr, "mockbroker: unknown option: %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* Writes "ADDR\n" to path through path.tmp + rename, so readers see all of it or nothing. */
static int write_port_file(const char *path, const char *addr)
{
    struct buf tmp = {0};
    buf_printf(&tmp, "%s.tmp", path);
    int rc = -1;
    FILE *f = fopen(buf_cstr(&tmp), "w");
    if (!f) {
        fprintf(stderr, "mockbroker: %s: %s\n", buf_cstr(&tmp), strerror(errno));
        goto done;
    }
    int werr = fprintf(f, "%s\n", addr) < 0;
    if (fclose(f) != 0 || werr) {
        fprintf(stderr, "mockbroker: writing %s failed\n", buf_cstr(&tmp));
        goto done;
    }
    if (rename(buf_cstr(&tmp), path) != 0) {
        fprintf(stderr, "mockbroker: rename to %s: %s\n", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    buf_free(&tmp);
    return rc;
}

static int create_topics(struct mockkafka *m, const struct mock_options *o)
{
    char err[512];
    for (int i = 0; i < o->topic_count; i++) {
        if (mockkafka_topic_create(m, o->topics[i].name, o->topics[i].partitions, err,
                                   sizeof(err)) < 0) {
            fprintf(stderr, "mockbroker: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Sleeps in 50 ms steps until a signal sets the flag. The mock cluster runs in its own thread;
 * its host handle is polled so its queue does not grow. */
static void run_until_signal(struct mockkafka *m)
{
    const struct timespec step = {0, 50 * 1000 * 1000};
    while (!stop_requested) {
        mockkafka_poll(m);
        nanosleep(&step, NULL);
    }
}

static int serve(const struct mock_options *o)
{
    char err[512];
    int rc = 1;
    struct mockkafka *m = mockkafka_new(o->brokers, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "mockbroker: %s\n", err);
        goto done;
    }
    if (create_topics(m, o) < 0)
        goto done;
    const char *addr = mockkafka_bootstraps(m);
    if (o->port_file && write_port_file(o->port_file, addr) < 0)
        goto done;
    printf("%s\n", addr);
    fflush(stdout);
    run_until_signal(m);
    rc = 0;
done:
    mockkafka_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    struct mock_options o = {.brokers = 1};
    install_signals();
    int prc = parse_args(argc, argv, &o);
    int rc;
    if (prc != 0) {
        usage(prc > 0 ? stdout : stderr);
        rc = prc > 0 ? 0 : 2;
    } else {
        rc = serve(&o);
    }
    for (int i = 0; i < o.topic_count; i++)
        free(o.topics[i].name);
    return rc;
}
