/* bench_ingest: regressd's ingest throughput against the raw COPY ceiling, in one run.
 *
 *   bench_ingest [--samples K] [--per-message N] [--partitions P] [--compression CODEC]
 *                [--endpoints E] [--span DURATION] [--seed S] [--timeout SECS] [--regressd PATH]
 *                [--keep-db] [-o KEY=VALUE]...
 *
 * Needs a PostgreSQL server in the PG* environment: run it under pg_virtualenv (scripts/bench.sh
 * does). What one run does:
 *  1. creates a database with a unique name and migrates it (dropped again on every exit path);
 *  2. starts librdkafka's mock cluster in this process with a topic of P partitions. The mock
 *     keeps about 5 MiB per partition and silently drops older data, so P defaults to enough
 *     partitions for K samples, and the low watermarks are checked after producing;
 *  3. produces K contract-shaped samples from the traffic generator (arrays of N per message,
 *     round-robin over the partitions) with a real librdkafka producer, and times it;
 *  4. runs the real `regressd run` as a child process (configuration defaults plus the -o
 *     overrides) and times it from its start until its /metrics reports all K samples stored.
 *     /metrics is scraped every 20 ms; the first scrape that shows a committed batch ends the
 *     group join. Batch latency percentiles are interpolated linearly inside the buckets of
 *     regressd_batch_latency_seconds, as Prometheus' histogram_quantile does. Peak RSS is the
 *     child's VmHWM. CPU seconds of regressd, of its PostgreSQL backends and of this process
 *     (which hosts the mock broker) come from /proc and getrusage;
 *  5. checks the stored rows: exactly K, no dead letters, the generator's sum of instructions;
 *  6. measures the ceiling: the same binary COPY rows (sample_format_row on the same regenerated
 *     messages, cut into batches of ingest.batch_max_samples as the consumer cuts them) COPYed
 *     over one libpq connection into a fresh table LIKE samples (same partitions, same indexes),
 *     one transaction per batch, the rows prepared in memory before the clock starts;
 *  7. prints a report with the targets of issue 2 and PASS/MISS per line.
 *
 * Exit status: 0 whatever the numbers (a bench, not a test); 1 when the run itself failed (rows
 * lost or duplicated, regressd died, a wait timed out, interrupted); 2 on a usage error. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "regressd/config.h"
#include "regressd/db.h"
#include "regressd/sample.h"
#include "regressd/traffic.h"
#include "regressd/util.h"

#ifndef BENCH_REGRESSD_PATH
#define BENCH_REGRESSD_PATH "regressd"
#endif

#define TARGET_RATE 150000.0
#define TARGET_RATIO 0.6
#define TARGET_RSS_MB 150.0
#define POLL_US 20000
#define STALL_US (60 * INT64_C(1000000))
#define STOP_GRACE_US (20 * INT64_C(1000000))
#define MOCK_BYTES_PER_PARTITION (3 << 20) /* of the mock's ~5 MiB, with room to spare */
#define HIST_MAX 40
#define MAX_BACKENDS 8

static volatile sig_atomic_t interrupted;

struct options {
    uint64_t samples;
    int per_message;
    int endpoints;  /* per service; 0: the traffic generator's default */
    int partitions; /* 0: from samples and compression */
    const char *compression;
    int64_t span_us;
    uint64_t seed;
    int timeout_s;
    const char *regressd;
    char **overrides;
    size_t n_overrides;
    bool keep_db;
};

struct hist {
    double le[HIST_MAX];
    double cum[HIST_MAX];
    int n;
    double sum, count;
};

struct produce_result {
    uint64_t messages, samples, bytes;
    double gen_s, total_s;
    double instructions_sum; /* ground truth from the generator */
};

struct drain_result {
    double join_s, total_s, after_join_s;
    uint64_t stored_at_join, batches;
    struct hist hist;
    long hwm_kb;
    double cpu_regressd, cpu_main, cpu_backends, cpu_self, cpu_server, busy_cores;
    char threads[512]; /* CPU of regressd's other threads, for the report */
    pid_t pid;
    int backend_pids[MAX_BACKENDS];
    int n_backends;
    int exit_status;
    int64_t rollup_rows;
};

struct ceiling_result {
    uint64_t rows;
    size_t batches;
    double secs, backend_cpu_s;
    int backend_pid;
    int64_t indexes_samples, indexes_raw;
};

struct bench {
    struct options opt;
    struct config cfg; /* what regressd runs with: defaults, environment, -o overrides */
    int64_t start_us, end_us;
    char dbname[64];
    char topic[64];
    char group[64];
    char workdir[64];
    char logpath[128];
    PGconn *admin, *conn;
    rd_kafka_t *mock_host;
    rd_kafka_mock_cluster_t *mock;
    char *brokers;
    pid_t child;
    int http_port;
    CURL *curl;
    struct produce_result prod;
    struct drain_result drain;
    struct ceiling_result ceil;
    bool statements; /* pg_stat_statements is loaded: report regressd's statements */
    struct buf statements_text;
};

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- small helpers -------------------------------------------------------------------------- */

static double secs_since(int64_t mono_us)
{
    return (double)(util_mono_us() - mono_us) / 1e6;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

struct proc_stat {
    int ppid;
    double cpu_s;      /* utime + stime */
    double children_s; /* cutime + cstime: children that exited and were waited for */
};

/* Reads a /proc/.../stat file; -1 if unreadable. */
static int read_stat(const char *path, struct proc_stat *out)
{
    char text[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    unsigned long long ut, st;
    long long cut, cst;
    /* After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime. */
    if (!p || sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                     &out->ppid, &ut, &st, &cut, &cst) != 5)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    out->cpu_s = (double)(ut + st) / hz;
    out->children_s = (double)(cut + cst) / hz;
    return 0;
}

static double stat_cpu_s(const char *path)
{
    struct proc_stat ps;
    return read_stat(path, &ps) == 0 ? ps.cpu_s : -1;
}

/* CPU seconds of a process tree one level deep: the PostgreSQL server, i.e. the postmaster,
 * its live children and the ones that exited. */
static double server_cpu_s(int postmaster)
{
    char path[64];
    struct proc_stat ps;
    snprintf(path, sizeof(path), "/proc/%d/stat", postmaster);
    if (read_stat(path, &ps) < 0)
        return -1;
    double total = ps.cpu_s + ps.children_s;
    DIR *dir = opendir("/proc");
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (read_stat(path, &ps) == 0 && ps.ppid == postmaster)
            total += ps.cpu_s;
    }
    if (dir)
        closedir(dir);
    return total;
}

static double proc_cpu_s(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    return stat_cpu_s(path);
}

/* CPU seconds per thread of pid into out: the main thread (returned), librdkafka's rdk:*
 * threads summed, every other thread that used CPU by name. */
static double thread_cpu(pid_t pid, struct buf *out)
{
    char path[96], comm[32];
    double main_s = 0, rdk_s = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, tid);
        double cpu = stat_cpu_s(path);
        snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, tid);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(comm, sizeof(comm), f))
            snprintf(comm, sizeof(comm), "?");
        if (f)
            fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        if (tid == pid)
            main_s = cpu;
        else if (strncmp(comm, "rdk:", 4) == 0)
            rdk_s += cpu;
        else if (cpu >= 0.05)
            buf_printf(out, ", %s[%d] %.2f s", comm, tid, cpu);
    }
    if (dir)
        closedir(dir);
    buf_printf(out, ", librdkafka threads %.2f s", rdk_s);
    return main_s;
}

/* Peak resident set of a process in kB (VmHWM); -1 if unreadable. */
static long proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
static void machine_jiffies(unsigned long long *busy, unsigned long long *total)
{
    unsigned long long v[8] = {0};
    *busy = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return;
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* all but idle and iowait */
    *total = *busy + v[3] + v[4];
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A loopback TCP port that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- PostgreSQL ----------------------------------------------------------------------------- */

static PGconn *pg_open(const char *dbname, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {dbname, "bench_ingest", "10", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "PostgreSQL (dbname=%s): %s", dbname, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* One value of a one-row query as an integer; -1 with the reason on error. */
static int64_t pg_int(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *res = db_query(c, sql, 0, NULL, err, errlen);
    if (!res)
        return -1;
    int64_t v = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                    ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                    : -1;
    PQclear(res);
    return v;
}

static double pg_double(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *res = db_query(c, sql, 0, NULL, err, errlen);
    if (!res)
        return NAN;
    double v =
        PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strtod(PQgetvalue(res, 0, 0), NULL) : NAN;
    PQclear(res);
    return v;
}

static int db_setup(struct bench *b, char *err, size_t errlen)
{
    b->admin = pg_open("postgres", err, errlen);
    if (!b->admin)
        return -1;
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
    if (db_exec(b->admin, sql, err, errlen) < 0)
        return -1;
    b->conn = pg_open(b->dbname, err, errlen);
    if (!b->conn)
        return -1;
    int applied = 0;
    return db_migrate(b->conn, &applied, err, errlen);
}

static void db_teardown(struct bench *b)
{
    PQfinish(b->conn);
    b->conn = NULL;
    if (b->admin && b->dbname[0] && !b->opt.keep_db) {
        char sql[128], err[512];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", b->dbname);
        if (db_exec(b->admin, sql, err, sizeof(err)) < 0)
            fprintf(stderr, "bench_ingest: cannot drop database %s: %s\n", b->dbname, err);
    } else if (b->opt.keep_db && b->dbname[0]) {
        fprintf(stderr, "bench_ingest: database %s kept\n", b->dbname);
    }
    PQfinish(b->admin);
    b->admin = NULL;
}

/* A checkpoint before each timed phase, so neither inherits the other's dirty buffers. */
static void checkpoint(struct bench *b)
{
    char err[512];
    if (db_exec(b->conn, "CHECKPOINT", err, sizeof(err)) < 0)
        fprintf(stderr, "bench_ingest: CHECKPOINT failed (%s); continuing\n", err);
}

/* ---- traffic and the mock cluster ----------------------------------------------------------- */

static const struct traffic_flag bench_flags[] = {
    {"checkout_v2", "true", "false", 0.3},
    {"ranker", "v2", "v1", 0.5},
    {"new_cache", "on", NULL, 0.2},
};

/* Endpoints of the service: --endpoints, else the generator's default. */
static int endpoints_of(const struct bench *b)
{
    struct traffic_config tc;
    traffic_config_init(&tc);
    return b->opt.endpoints > 0 ? b->opt.endpoints : tc.endpoints;
}

/* The same configuration for the producer and the ceiling, so both see the same bytes. */
static struct traffic *traffic_open(const struct bench *b, char *err, size_t errlen)
{
    struct traffic_config tc;
    traffic_config_init(&tc);
    tc.seed = b->opt.seed;
    tc.samples = b->opt.samples;
    tc.batch = b->opt.per_message;
    if (b->opt.endpoints > 0)
        tc.endpoints = b->opt.endpoints;
    tc.start_us = b->start_us;
    tc.end_us = b->end_us;
    tc.users = 100000;
    tc.flags = bench_flags;
    tc.flag_count = REGRESSD_ARRAY_LEN(bench_flags);
    return traffic_new(&tc, err, errlen);
}

static int mock_start(struct bench *b, char *err, size_t errlen)
{
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "client.id", "bench-mock", kerr, sizeof(kerr)) ||
        rd_kafka_conf_set(conf, "log_level", "3", kerr, sizeof(kerr))) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "mock host config: %s", kerr);
        return -1;
    }
    b->mock_host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!b->mock_host) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "mock host: %s", kerr);
        return -1;
    }
    b->mock = rd_kafka_mock_cluster_new(b->mock_host, 1);
    if (!b->mock) {
        snprintf(err, errlen, "cannot start the mock cluster");
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(b->mock, b->topic, b->opt.partitions, 1);
    if (e) {
        snprintf(err, errlen, "creating topic %s: %s", b->topic, rd_kafka_err2str(e));
        return -1;
    }
    b->brokers = xstrdup(rd_kafka_mock_cluster_bootstraps(b->mock));
    return 0;
}

static void mock_stop(struct bench *b)
{
    if (b->mock)
        rd_kafka_mock_cluster_destroy(b->mock);
    b->mock = NULL;
    if (b->mock_host)
        rd_kafka_destroy(b->mock_host);
    b->mock_host = NULL;
}

/* ---- producing ------------------------------------------------------------------------------ */

struct delivery {
    uint64_t failed;
    rd_kafka_resp_err_t first;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct delivery *d = opaque;
    if (m->err && d->failed++ == 0)
        d->first = m->err;
}

static rd_kafka_t *producer_new(struct bench *b, struct delivery *d, char *err, size_t errlen)
{
    const char *props[][2] = {
        {"bootstrap.servers", b->brokers},
        {"client.id", "bench-producer"},
        {"linger.ms", "20"},
        {"batch.num.messages", "100000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"queue.buffering.max.messages", "1000000"},
        {"compression.codec", b->opt.compression},
        {"log_level", "3"},
    };
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(props); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], kerr, sizeof(kerr))) {
            snprintf(err, errlen, "producer %s: %s", props[i][0], kerr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "producer: %s", kerr);
    }
    return rk;
}

/* Queues one message, waiting while the local queue is full. */
static int produce_one(struct bench *b, rd_kafka_t *rk, int32_t partition, const struct buf *msg,
                       const char *key, int64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(b->topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(msg->data, msg->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(err, errlen, "produce: %s", rd_kafka_err2str(e));
            return -1;
        }
        if (interrupted || util_mono_us() > deadline) {
            snprintf(err, errlen, "produce: %s", interrupted ? "interrupted" : "timed out");
            return -1;
        }
        rd_kafka_poll(rk, 50);
    }
}

static int flush_producer(rd_kafka_t *rk, int64_t deadline, char *err, size_t errlen)
{
    while (rd_kafka_flush(rk, 200) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        if (interrupted || util_mono_us() > deadline) {
            snprintf(err, errlen, "flushing the producer: %s",
                     interrupted ? "interrupted" : "timed out");
            return -1;
        }
    }
    return 0;
}

/* Fails when the mock dropped anything: every partition must still start at offset 0, and the
 * partitions together must hold every message. */
static int check_watermarks(struct bench *b, rd_kafka_t *rk, char *err, size_t errlen)
{
    int64_t held = 0;
    for (int32_t p = 0; p < b->opt.partitions; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, b->topic, p, &lo, &hi, 10000);
        if (e) {
            snprintf(err, errlen, "watermarks of partition %d: %s", (int)p, rd_kafka_err2str(e));
            return -1;
        }
        if (lo != 0) {
            snprintf(err, errlen,
                     "the mock broker dropped the first %lld message(s) of partition %d (it "
                     "keeps ~5 MiB per partition): use more --partitions",
                     (long long)lo, (int)p);
            return -1;
        }
        held += hi;
    }
    if ((uint64_t)held != b->prod.messages) {
        snprintf(err, errlen, "the topic holds %lld messages, %llu were produced", (long long)held,
                 (unsigned long long)b->prod.messages);
        return -1;
    }
    return 0;
}

static void record_truth(struct bench *b, struct traffic *t)
{
    struct traffic_truth tr;
    traffic_truth(t, &tr);
    b->prod.instructions_sum = 0;
    for (size_t i = 0; i < tr.cell_count; i++)
        b->prod.instructions_sum += tr.cells[i].instructions_sum;
}

static int produce_messages(struct bench *b, rd_kafka_t *rk, struct traffic *t, char *err,
                            size_t errlen)
{
    struct buf msg = {0};
    struct traffic_msg_info info;
    int64_t deadline = util_mono_us() + (int64_t)b->opt.timeout_s * 1000000;
    int64_t gen_us = 0;
    int rc = 0;
    for (;;) {
        int64_t g0 = util_mono_us();
        int more = traffic_next_message(t, &msg, &info);
        gen_us += util_mono_us() - g0;
        if (!more)
            break;
        int32_t partition = (int32_t)(b->prod.messages % (uint64_t)b->opt.partitions);
        rc = produce_one(b, rk, partition, &msg, info.key, deadline, err, errlen);
        if (rc < 0)
            break;
        b->prod.messages++;
        b->prod.samples += (uint64_t)info.samples;
        b->prod.bytes += msg.len;
        rd_kafka_poll(rk, 0);
    }
    if (rc == 0)
        rc = flush_producer(rk, deadline, err, errlen);
    b->prod.gen_s = (double)gen_us / 1e6;
    buf_free(&msg);
    return rc;
}

static int produce_all(struct bench *b, char *err, size_t errlen)
{
    struct delivery d = {0};
    struct traffic *t = NULL;
    rd_kafka_t *rk = producer_new(b, &d, err, errlen);
    int rc = -1;
    if (!rk)
        goto done;
    t = traffic_open(b, err, errlen);
    if (!t)
        goto done;
    int64_t t0 = util_mono_us();
    if (produce_messages(b, rk, t, err, errlen) < 0)
        goto done;
    b->prod.total_s = secs_since(t0);
    if (d.failed) {
        snprintf(err, errlen, "%llu message(s) not delivered, first: %s",
                 (unsigned long long)d.failed, rd_kafka_err2str(d.first));
        goto done;
    }
    record_truth(b, t);
    rc = check_watermarks(b, rk, err, errlen);
done:
    traffic_free(t);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* ---- regressd as a child process ------------------------------------------------------------ */

static char **child_argv(struct bench *b)
{
    size_t n = 0, cap = 2 * b->opt.n_overrides + 16;
    char **argv = xcalloc(cap, sizeof(char *));
    struct buf s = {0};
    argv[n++] = xstrdup(b->opt.regressd);
    for (size_t i = 0; i < b->opt.n_overrides; i++) {
        argv[n++] = xstrdup("-o");
        argv[n++] = xstrdup(b->opt.overrides[i]);
    }
    /* The bench's own keys come last so that they win. */
    char dsn[96], listen[32];
    snprintf(dsn, sizeof(dsn), "dbname=%s", b->dbname);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", b->http_port);
    const char *keys[] = {"kafka.brokers", "kafka.topic", "kafka.group", "postgres.dsn",
                          "http.listen"};
    const char *vals[] = {b->brokers, b->topic, b->group, dsn, listen};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(keys); i++) {
        buf_reset(&s);
        buf_printf(&s, "%s=%s", keys[i], vals[i]);
        argv[n++] = xstrdup("-o");
        argv[n++] = xstrdup(buf_cstr(&s));
    }
    argv[n++] = xstrdup("run");
    buf_free(&s);
    return argv;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static int start_regressd(struct bench *b, char *err, size_t errlen)
{
    int fd = open(b->logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", b->logpath, strerror(errno));
        return -1;
    }
    char **argv = child_argv(b);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Dies with the bench, whatever way the bench ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int saved = errno;
    close(fd);
    free_argv(argv);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(saved));
        return -1;
    }
    b->child = pid;
    return 0;
}

/* True while the child runs; once it has exited, records its status and forgets it. */
static bool child_running(struct bench *b)
{
    int st;
    if (b->child <= 0)
        return false;
    if (waitpid(b->child, &st, WNOHANG) != b->child)
        return true;
    b->drain.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    b->child = 0;
    return false;
}

/* SIGTERM, a bounded wait for the clean shutdown, then SIGKILL. */
static void stop_regressd(struct bench *b)
{
    if (b->child <= 0)
        return;
    kill(b->child, SIGTERM);
    int64_t deadline = util_mono_us() + STOP_GRACE_US;
    while (child_running(b) && util_mono_us() < deadline)
        sleep_us(20000);
    if (child_running(b)) {
        fprintf(stderr, "bench_ingest: regressd did not stop within %d s; killing it\n",
                (int)(STOP_GRACE_US / 1000000));
        kill(b->child, SIGKILL);
        int st;
        waitpid(b->child, &st, 0);
        b->drain.exit_status = 128 + SIGKILL;
        b->child = 0;
    }
}

static void print_log_tail(const struct bench *b)
{
    FILE *f = fopen(b->logpath, "r");
    if (!f)
        return;
    char *lines[20] = {0};
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        free(lines[n % 20]);
        lines[n % 20] = xstrdup(line);
        n++;
    }
    fclose(f);
    fprintf(stderr, "---- last lines of %s\n", b->logpath);
    for (size_t i = n > 20 ? n - 20 : 0; i < n; i++)
        fputs(lines[i % 20], stderr);
    for (size_t i = 0; i < 20; i++)
        free(lines[i]);
}

/* ---- /metrics ------------------------------------------------------------------------------- */

static size_t curl_sink(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

static int metrics_fetch(struct bench *b, struct buf *out)
{
    buf_reset(out);
    curl_easy_setopt(b->curl, CURLOPT_WRITEDATA, out);
    long code = 0;
    if (curl_easy_perform(b->curl) != CURLE_OK)
        return -1;
    curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &code);
    buf_cstr(out);
    return code == 200 ? 0 : -1;
}

static bool metric_value(const char *text, const char *name, double *out)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            *out = strtod(p + n + 1, NULL);
            return true;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

static void parse_hist(const char *text, const char *name, struct hist *h)
{
    char prefix[128], key[128];
    snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
    size_t n = strlen(prefix);
    memset(h, 0, sizeof(*h));
    for (const char *p = text; p && *p && h->n < HIST_MAX;) {
        const char *close = strncmp(p, prefix, n) == 0 ? strstr(p + n, "\"} ") : NULL;
        if (close) {
            h->le[h->n] = strncmp(p + n, "+Inf", 4) == 0 ? INFINITY : strtod(p + n, NULL);
            h->cum[h->n++] = strtod(close + 3, NULL);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    snprintf(key, sizeof(key), "%s_sum", name);
    metric_value(text, key, &h->sum);
    snprintf(key, sizeof(key), "%s_count", name);
    metric_value(text, key, &h->count);
}

/* The q-quantile, interpolated linearly inside its bucket (Prometheus' histogram_quantile).
 * In the +Inf bucket it returns the last finite bound, which the report prints as "> x". */
static double hist_quantile(const struct hist *h, double q)
{
    if (h->n == 0 || h->cum[h->n - 1] <= 0)
        return NAN;
    double rank = q * h->cum[h->n - 1];
    for (int i = 0; i < h->n; i++) {
        if (h->cum[i] < rank)
            continue;
        if (isinf(h->le[i]))
            return i > 0 ? h->le[i - 1] : NAN;
        double lo = i > 0 ? h->le[i - 1] : 0, prev = i > 0 ? h->cum[i - 1] : 0;
        double in_bucket = h->cum[i] - prev;
        return in_bucket > 0 ? lo + (h->le[i] - lo) * (rank - prev) / in_bucket : h->le[i];
    }
    return NAN;
}

/* ---- draining ------------------------------------------------------------------------------- */

struct progress {
    double stored, dead, batches;
};

static bool read_progress(struct bench *b, struct buf *text, struct progress *p)
{
    return metrics_fetch(b, text) == 0 &&
           metric_value(text->data, "regressd_samples_stored_total", &p->stored) &&
           metric_value(text->data, "regressd_dead_letters_total", &p->dead) &&
           metric_value(text->data, "regressd_batches_total", &p->batches);
}

/* Polls /metrics until all K samples are stored; every wait bounded. */
static int wait_drained(struct bench *b, int64_t t0, char *err, size_t errlen)
{
    struct buf text = {0};
    struct progress p = {0};
    int64_t deadline = t0 + (int64_t)b->opt.timeout_s * 1000000, t_first = -1;
    int64_t last_change = t0;
    double last_stored = -1;
    int rc = -1;
    for (;;) {
        if (interrupted || !child_running(b) || util_mono_us() > deadline) {
            snprintf(err, errlen, "%s after %.1f s (%.0f of %llu samples stored)",
                     interrupted     ? "interrupted"
                     : b->child <= 0 ? "regressd exited"
                                     : "timed out (--timeout)",
                     secs_since(t0), p.stored, (unsigned long long)b->opt.samples);
            break;
        }
        int64_t now = util_mono_us();
        if (read_progress(b, &text, &p)) {
            if (p.batches > 0 && t_first < 0) {
                t_first = now;
                b->drain.stored_at_join = (uint64_t)p.stored;
            }
            if (p.dead > 0) {
                snprintf(err, errlen, "%.0f dead letter(s): regressd rejected generated samples",
                         p.dead);
                break;
            }
            if (p.stored >= (double)b->opt.samples) {
                b->drain.total_s = (double)(now - t0) / 1e6;
                b->drain.join_s = (double)(t_first - t0) / 1e6;
                b->drain.after_join_s = (double)(now - t_first) / 1e6;
                b->drain.batches = (uint64_t)p.batches;
                rc = 0;
                break;
            }
            if (p.stored != last_stored)
                last_change = now;
            last_stored = p.stored;
        }
        if (now - last_change > STALL_US) {
            snprintf(err, errlen, "no progress for %d s (%.0f of %llu samples stored)",
                     (int)(STALL_US / 1000000), p.stored, (unsigned long long)b->opt.samples);
            break;
        }
        sleep_us(POLL_US);
    }
    buf_free(&text);
    return rc;
}

/* regressd's PostgreSQL backends: every session on the bench database but the bench's own. */
static void find_backends(struct bench *b)
{
    char err[512];
    PGresult *res = db_query(b->conn,
                             "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                             "AND pid <> pg_backend_pid() ORDER BY pid",
                             0, NULL, err, sizeof(err));
    b->drain.n_backends = 0;
    b->drain.cpu_backends = 0;
    for (int i = 0; res && i < PQntuples(res) && i < MAX_BACKENDS; i++) {
        int pid = atoi(PQgetvalue(res, i, 0));
        double s = proc_cpu_s(pid);
        b->drain.backend_pids[b->drain.n_backends++] = pid;
        b->drain.cpu_backends += s > 0 ? s : 0;
    }
    PQclear(res);
}

/* What only a live regressd can tell: peak RSS, CPU, the histogram, its backends. */
static void snapshot_child(struct bench *b)
{
    struct buf text = {0};
    b->drain.hwm_kb = proc_hwm_kb(b->child);
    b->drain.cpu_regressd = proc_cpu_s(b->child);
    struct buf threads = {0};
    b->drain.cpu_main = thread_cpu(b->child, &threads);
    snprintf(b->drain.threads, sizeof(b->drain.threads), "%s", buf_cstr(&threads));
    buf_free(&threads);
    if (metrics_fetch(b, &text) == 0)
        parse_hist(text.data, "regressd_batch_latency_seconds", &b->drain.hist);
    find_backends(b);
    buf_free(&text);
}

/* With pg_stat_statements loaded (scripts/bench.sh loads it), the statements regressd ran
 * while draining show where its PostgreSQL time goes; without it the report says so. */
static void statements_reset(struct bench *b)
{
    char err[512];
    PGresult *res = NULL;
    b->statements =
        db_exec(b->conn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", err, sizeof(err)) ==
            0 &&
        (res = db_query(b->conn, "SELECT pg_stat_statements_reset()", 0, NULL, err, sizeof(err)));
    PQclear(res);
}

static void statements_collect(struct bench *b)
{
    char err[512];
    if (!b->statements)
        return;
    PGresult *res = db_query(
        b->conn,
        "SELECT total_exec_time, calls, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat%' "
        "ORDER BY total_exec_time DESC LIMIT 8",
        0, NULL, err, sizeof(err));
    for (int i = 0; res && i < PQntuples(res); i++)
        buf_printf(&b->statements_text, "    %8.0f ms %6s calls %8s rows  %s\n",
                   strtod(PQgetvalue(res, i, 0), NULL), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
}

static int drain(struct bench *b, char *err, size_t errlen)
{
    unsigned long long busy0, total0, busy1, total1;
    checkpoint(b);
    struct proc_stat backend;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", PQbackendPID(b->conn));
    int postmaster = read_stat(path, &backend) == 0 ? backend.ppid : -1;
    machine_jiffies(&busy0, &total0);
    statements_reset(b);
    double self0 = self_cpu_s(), server0 = server_cpu_s(postmaster);
    int64_t t0 = util_mono_us();
    if (start_regressd(b, err, errlen) < 0)
        return -1;
    b->drain.pid = b->child;
    int rc = wait_drained(b, t0, err, errlen);
    machine_jiffies(&busy1, &total1);
    b->drain.cpu_self = self_cpu_s() - self0;
    b->drain.cpu_server = server_cpu_s(postmaster) - server0;
    if (total1 > total0)
        b->drain.busy_cores = (double)(busy1 - busy0) / (double)(total1 - total0) *
                              (double)sysconf(_SC_NPROCESSORS_ONLN);
    if (rc == 0)
        snapshot_child(b);
    stop_regressd(b);
    statements_collect(b);
    if (rc < 0)
        print_log_tail(b);
    return rc;
}

/* Exactly K rows, none rejected, the generator's instructions: nothing lost or duplicated. */
static int verify_stored(struct bench *b, char *err, size_t errlen)
{
    int64_t rows = pg_int(b->conn, "SELECT count(*) FROM samples", err, errlen);
    int64_t dead = pg_int(b->conn, "SELECT count(*) FROM dead_letters", err, errlen);
    double instr = pg_double(b->conn, "SELECT sum(instructions)::float8 FROM samples", err, errlen);
    b->drain.rollup_rows = pg_int(b->conn, "SELECT count(*) FROM rollups", err, errlen);
    if (rows < 0 || dead < 0 || isnan(instr))
        return -1;
    if ((uint64_t)rows != b->opt.samples || dead != 0) {
        snprintf(err, errlen, "samples holds %lld rows and dead_letters %lld, expected %llu and 0",
                 (long long)rows, (long long)dead, (unsigned long long)b->opt.samples);
        return -1;
    }
    if (fabs(instr - b->prod.instructions_sum) > 1e-9 * b->prod.instructions_sum) {
        snprintf(err, errlen, "sum of instructions %.17g differs from the generator's %.17g", instr,
                 b->prod.instructions_sum);
        return -1;
    }
    return 0;
}

/* ---- the raw COPY ceiling ------------------------------------------------------------------- */

/* bench_raw_samples: LIKE samples with its indexes, and a partition for every one of samples'. */
static int raw_table_create(struct bench *b, char *err, size_t errlen)
{
    if (db_exec(
            b->conn,
            "CREATE TABLE bench_raw_samples (LIKE samples INCLUDING ALL) PARTITION BY RANGE (ts)",
            err, errlen) < 0)
        return -1;
    PGresult *res = db_query(b->conn,
                             "SELECT format('CREATE TABLE %I PARTITION OF bench_raw_samples %s', "
                             "'bench_raw_' || c.relname, pg_get_expr(c.relpartbound, c.oid)) "
                             "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                             "WHERE i.inhparent = 'samples'::regclass",
                             0, NULL, err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        rc = db_exec(b->conn, PQgetvalue(res, i, 0), err, errlen);
    PQclear(res);
    b->ceil.indexes_samples = pg_int(
        b->conn, "SELECT count(*) FROM pg_index WHERE indrelid = 'samples'::regclass", err, errlen);
    b->ceil.indexes_raw = pg_int(
        b->conn, "SELECT count(*) FROM pg_index WHERE indrelid = 'bench_raw_samples'::regclass",
        err, errlen);
    return rc;
}

/* Appends a message's rows as the consumer formats them; counts them into *rows. */
static int format_message(const struct buf *msg, const struct sample_limits *lim, struct buf *out,
                          size_t *rows, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(msg->data, msg->len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "generated message is not JSON: %s", jerr.text);
        return -1;
    }
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *obj = json_is_array(root) ? json_array_get(root, i) : root;
        struct sample_meta meta;
        char why[512];
        rc = sample_format_row(obj, lim, out, &meta, why, sizeof(why));
        if (rc < 0)
            snprintf(err, errlen, "generated sample rejected: %s", why);
        else
            (*rows)++;
    }
    json_decref(root);
    return rc;
}

/* All rows in one buffer; cuts[i] is the end of batch i. A batch closes at the first message
 * boundary at or past ingest.batch_max_samples rows, as the consumer closes its batches. */
static int ceiling_rows(struct bench *b, struct buf *rows, size_t **cuts, size_t *n_cuts, char *err,
                        size_t errlen)
{
    struct traffic *t = traffic_open(b, err, errlen);
    if (!t)
        return -1;
    struct sample_limits lim = {util_now_us() - b->cfg.max_event_age_us,
                                util_now_us() + b->cfg.max_event_future_us};
    struct buf msg = {0};
    size_t in_batch = 0, cap = 0;
    int rc = 0;
    *n_cuts = 0;
    while (rc == 0 && traffic_next_message(t, &msg, NULL)) {
        rc = format_message(&msg, &lim, rows, &in_batch, err, errlen);
        if (rc == 0 && (int64_t)in_batch >= b->cfg.batch_max_samples) {
            if (*n_cuts == cap) {
                cap = cap ? 2 * cap : 64;
                *cuts = xrealloc(*cuts, cap * sizeof(**cuts));
            }
            (*cuts)[(*n_cuts)++] = rows->len;
            b->ceil.rows += in_batch;
            in_batch = 0;
        }
    }
    if (rc == 0 && in_batch > 0) {
        *cuts = xrealloc(*cuts, (*n_cuts + 1) * sizeof(**cuts));
        (*cuts)[(*n_cuts)++] = rows->len;
        b->ceil.rows += in_batch;
    }
    buf_free(&msg);
    traffic_free(t);
    return rc;
}

/* COPY of one batch, sent as the consumer's writer sends it. */
static int copy_batch(PGconn *c, const char *data, size_t len, char *err, size_t errlen)
{
    return db_copy_in(
        c, "COPY bench_raw_samples (" SAMPLE_COPY_COLUMNS ") FROM STDIN " SAMPLE_COPY_OPTIONS, data,
        len, true, err, errlen);
}

static int ceiling_copy(struct bench *b, const struct buf *rows, const size_t *cuts, size_t n_cuts,
                        char *err, size_t errlen)
{
    b->ceil.backend_pid = PQbackendPID(b->conn);
    double cpu0 = proc_cpu_s(b->ceil.backend_pid);
    int64_t t0 = util_mono_us();
    size_t from = 0;
    for (size_t i = 0; i < n_cuts; i++) {
        if (interrupted) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        if (db_exec(b->conn, "BEGIN", err, errlen) < 0 ||
            copy_batch(b->conn, rows->data + from, cuts[i] - from, err, errlen) < 0 ||
            db_exec(b->conn, "COMMIT", err, errlen) < 0)
            return -1;
        from = cuts[i];
    }
    b->ceil.secs = secs_since(t0);
    b->ceil.backend_cpu_s = proc_cpu_s(b->ceil.backend_pid) - cpu0;
    b->ceil.batches = n_cuts;
    return 0;
}

static int ceiling(struct bench *b, char *err, size_t errlen)
{
    struct buf rows = {0};
    size_t *cuts = NULL, n_cuts = 0;
    int rc = -1;
    if (raw_table_create(b, err, errlen) < 0 ||
        ceiling_rows(b, &rows, &cuts, &n_cuts, err, errlen) < 0)
        goto done;
    checkpoint(b);
    if (ceiling_copy(b, &rows, cuts, n_cuts, err, errlen) < 0)
        goto done;
    int64_t n = pg_int(b->conn, "SELECT count(*) FROM bench_raw_samples", err, errlen);
    if (n < 0 || (uint64_t)n != b->opt.samples) {
        snprintf(err, errlen, "raw table holds %lld rows, expected %llu", (long long)n,
                 (unsigned long long)b->opt.samples);
        goto done;
    }
    rc = 0;
done:
    buf_free(&rows);
    free(cuts);
    return rc;
}

/* ---- report --------------------------------------------------------------------------------- */

static const char *verdict(bool pass)
{
    return pass ? "PASS" : "MISS";
}

static void print_latency(const struct hist *h)
{
    double p50 = hist_quantile(h, 0.5), p99 = hist_quantile(h, 0.99);
    double top = h->n > 1 ? h->le[h->n - 2] : NAN;
    printf("  batch latency p50 / p99      %s%.3f s / %s%.3f s   (first message in -> commit; "
           "interpolated in /metrics buckets; mean %.3f s over %.0f batches)\n",
           p50 >= top ? "> " : "", p50, p99 >= top ? "> " : "", p99,
           h->count > 0 ? h->sum / h->count : NAN, h->count);
}

static void print_config(const struct bench *b)
{
    printf("  regressd configuration       ingest.batch_max_samples %lld, ingest.batch_max_wait "
           "%.0f ms; overrides:",
           (long long)b->cfg.batch_max_samples, (double)b->cfg.batch_max_wait_us / 1000.0);
    for (size_t i = 0; i < b->opt.n_overrides; i++)
        printf(" %s", b->opt.overrides[i]);
    printf("%s\n", b->opt.n_overrides ? "" : " none");
}

/* CPU per sample, which other jobs on the machine disturb less than wall time, and the rate
 * it allows on idle cores: the busiest thread, the backend, and all of it spread over every
 * core (the mock broker left out: in production it runs elsewhere). */
static void print_cpu_per_sample(const struct bench *b)
{
    const struct drain_result *d = &b->drain;
    double k = (double)b->opt.samples, cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double r = d->cpu_regressd / k, m = d->cpu_main / k, be = d->cpu_backends / k;
    double raw = b->ceil.backend_cpu_s / (double)b->ceil.rows;
    double bound = fmin(cores / (r + be), fmin(1 / m, 1 / be));
    printf("  CPU per sample               regressd %.2f us (main thread %.2f us%s), its "
           "backends %.2f us, ceiling backend %.2f us\n",
           r * 1e6, m * 1e6, d->threads, be * 1e6, raw * 1e6);
    printf("  rate these CPU costs allow   %8.0f samples/s on %.0f idle cores (min of main "
           "thread, backend, total / cores)\n",
           bound, cores);
}

static void print_report(const struct bench *b)
{
    const struct produce_result *p = &b->prod;
    const struct drain_result *d = &b->drain;
    const struct ceiling_result *c = &b->ceil;
    double k = (double)b->opt.samples;
    double e2e = k / d->total_s, after = (k - (double)d->stored_at_join) / d->after_join_s;
    double raw = (double)c->rows / c->secs;
    double rss_mb = (double)d->hwm_kb / 1024.0;
    int server = PQserverVersion(b->conn);
    printf("\n== regressd ingest bench: %ld CPU(s), PostgreSQL %d.%d, librdkafka %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), server / 10000, server % 10000, rd_kafka_version_str());
    printf("  samples (K)                  %llu in %llu messages of %d, %.0f B/sample, %.1f MB; "
           "%d partitions, compression %s; event times over %.0f min; %d endpoints\n",
           (unsigned long long)p->samples, (unsigned long long)p->messages, b->opt.per_message,
           (double)p->bytes / k, (double)p->bytes / 1e6, b->opt.partitions, b->opt.compression,
           (double)(b->end_us - b->start_us) / 60e6, endpoints_of(b));
    print_config(b);
    printf("  producer                     %.0f samples/s, %.1f MB/s (%.2f s, of which generating "
           "%.2f s)\n",
           k / p->total_s, (double)p->bytes / 1e6 / p->total_s, p->total_s, p->gen_s);
    printf("  group join                   %.2f s (regressd start -> first committed batch; "
           "%llu samples in it)\n",
           d->join_s, (unsigned long long)d->stored_at_join);
    printf("  end to end                   %8.0f samples/s  (%.2f s)   target >= %.0f  %s\n", e2e,
           d->total_s, TARGET_RATE, verdict(e2e >= TARGET_RATE));
    printf("  end to end after the join    %8.0f samples/s  (%.2f s)   target >= %.0f  %s\n", after,
           d->after_join_s, TARGET_RATE, verdict(after >= TARGET_RATE));
    printf(
        "  raw COPY ceiling             %8.0f rows/s     (binary COPY as regressd sends it; %.2f "
        "s, %zu batches, %lld index(es) on samples, %lld on the copy; backend CPU %.2f s)\n",
        raw, c->secs, c->batches, (long long)c->indexes_samples, (long long)c->indexes_raw,
        c->backend_cpu_s);
    printf("  ratio end to end / ceiling   %8.2f                     target >= %.2f  %s\n",
           e2e / raw, TARGET_RATIO, verdict(e2e / raw >= TARGET_RATIO));
    printf("  ratio after join / ceiling   %8.2f                     target >= %.2f  %s\n",
           after / raw, TARGET_RATIO, verdict(after / raw >= TARGET_RATIO));
    print_latency(&d->hist);
    printf("  peak RSS of regressd         %8.1f MB   (VmHWM)          target <= %.0f    %s\n",
           rss_mb, TARGET_RSS_MB, verdict(d->hwm_kb > 0 && rss_mb <= TARGET_RSS_MB));
    double pg_rest = d->cpu_server - d->cpu_backends;
    double others = d->busy_cores * d->total_s - d->cpu_regressd - d->cpu_server - d->cpu_self;
    printf("  CPU while draining           regressd %.2f s, its PostgreSQL backends %.2f s, other "
           "PostgreSQL processes %.2f s, bench + mock broker %.2f s, rest of the machine %.2f s; "
           "busy %.2f of %ld cores over %.2f s\n",
           d->cpu_regressd, d->cpu_backends, pg_rest > 0 ? pg_rest : 0, d->cpu_self,
           others > 0 ? others : 0, d->busy_cores, sysconf(_SC_NPROCESSORS_ONLN), d->total_s);
    print_cpu_per_sample(b);
    printf(
        "  verified                     %llu rows = K, 0 dead letters, sum of instructions as "
        "generated; %lld rollup rows; %llu batches of %.0f samples on average; regressd exit %d\n",
        (unsigned long long)b->opt.samples, (long long)d->rollup_rows,
        (unsigned long long)d->batches, k / (double)d->batches, d->exit_status);
    if (b->statements)
        printf("  regressd's statements        (pg_stat_statements, by total time)\n%.*s",
               (int)b->statements_text.len, b->statements_text.data ? b->statements_text.data : "");
    else
        printf("  regressd's statements        pg_stat_statements not loaded (scripts/bench.sh "
               "loads it)\n");
    printf("  processes                    regressd pid %d, backends", (int)d->pid);
    for (int i = 0; i < d->n_backends; i++)
        printf(" %d", d->backend_pids[i]);
    printf(", ceiling backend %d\n", c->backend_pid);
}

/* ---- options and main ----------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_ingest [options] [-o KEY=VALUE]...\n"
            "Measures regressd draining K samples from a mock Kafka broker into PostgreSQL\n"
            "(PG* environment; run under pg_virtualenv) against a plain COPY of the same rows.\n"
            "  --samples K          samples to produce (default 1000000)\n"
            "  --per-message N      samples per message, a JSON array (default 100)\n"
            "  --partitions P       topic partitions (default: enough for the mock's ~5 MiB "
            "each)\n"
            "  --compression C      producer compression: none, lz4, zstd, ... (default none)\n"
            "  --endpoints E        endpoints of the service (default: the traffic generator's)\n"
            "  --span DURATION      event times spread over this period (default 10m)\n"
            "  --seed S             traffic seed (default 1)\n"
            "  --timeout SECS       bound on producing and on draining (default 900)\n"
            "  --regressd PATH      the regressd binary (default: the one built with this)\n"
            "  --keep-db            keep the database for inspection\n"
            "  -o KEY=VALUE         regressd configuration override (repeatable)\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_option(struct options *o, int ch, const char *v)
{
    uint64_t u;
    switch (ch) {
    case 'k':
        return parse_u64(v, 1, UINT64_C(1) << 40, &o->samples);
    case 'n':
        if (parse_u64(v, 1, TRAFFIC_MAX_BATCH, &u) < 0)
            return -1;
        o->per_message = (int)u;
        return 0;
    case 'p':
        if (parse_u64(v, 1, 4096, &u) < 0)
            return -1;
        o->partitions = (int)u;
        return 0;
    case 'e':
        if (parse_u64(v, 1, 100000, &u) < 0)
            return -1;
        o->endpoints = (int)u;
        return 0;
    case 'c':
        o->compression = v;
        return 0;
    case 's':
        return util_parse_duration(v, &o->span_us);
    case 'S':
        return parse_u64(v, 0, UINT64_MAX, &o->seed);
    case 't':
        if (parse_u64(v, 1, 86400, &u) < 0)
            return -1;
        o->timeout_s = (int)u;
        return 0;
    case 'r':
        o->regressd = v;
        return 0;
    case 'K':
        o->keep_db = true;
        return 0;
    case 'o':
        o->overrides[o->n_overrides++] = (char *)v;
        return 0;
    }
    return -1;
}

/* 0 ok, 1 --help, -1 usage error (reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"samples", required_argument, NULL, 'k'},
                                          {"per-message", required_argument, NULL, 'n'},
                                          {"partitions", required_argument, NULL, 'p'},
                                          {"compression", required_argument, NULL, 'c'},
                                          {"endpoints", required_argument, NULL, 'e'},
                                          {"span", required_argument, NULL, 's'},
                                          {"seed", required_argument, NULL, 'S'},
                                          {"timeout", required_argument, NULL, 't'},
                                          {"regressd", required_argument, NULL, 'r'},
                                          {"keep-db", no_argument, NULL, 'K'},
                                          {"help", no_argument, NULL, 'h'},
                                          {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        if (ch == 'h')
            return 1;
        if (ch == '?' || parse_option(o, ch, optarg) < 0) {
            if (ch != '?')
                fprintf(stderr, "bench_ingest: bad value for %s: '%s'\n", argv[optind - 2], optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench_ingest: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Enough partitions that none holds more than MOCK_BYTES_PER_PARTITION, assuming ~400 bytes a
 * sample uncompressed and ~100 compressed; at least 64. */
static int default_partitions(const struct options *o)
{
    double per_sample = strcmp(o->compression, "none") == 0 ? 400 : 100;
    double need = ceil((double)o->samples * per_sample / MOCK_BYTES_PER_PARTITION);
    return need < 64 ? 64 : need > 4096 ? 4096 : (int)need;
}

static int bench_init(struct bench *b, char *err, size_t errlen)
{
    if (config_load(&b->cfg, NULL, b->opt.overrides, b->opt.n_overrides, err, errlen) < 0)
        return -1;
    long long tag = (long long)(util_now_us() % 1000000000);
    snprintf(b->dbname, sizeof(b->dbname), "bench_ingest_%d_%lld", (int)getpid(), tag);
    snprintf(b->topic, sizeof(b->topic), "bench.samples.%d.%lld", (int)getpid(), tag);
    snprintf(b->group, sizeof(b->group), "bench-ingest-%d-%lld", (int)getpid(), tag);
    snprintf(b->workdir, sizeof(b->workdir), "/tmp/bench_ingest.XXXXXX");
    if (!mkdtemp(b->workdir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        b->workdir[0] = '\0';
        return -1;
    }
    snprintf(b->logpath, sizeof(b->logpath), "%s/regressd.log", b->workdir);
    b->end_us = util_now_us();
    b->start_us = b->end_us - b->opt.span_us;
    b->http_port = free_port();
    b->curl = curl_easy_init();
    if (b->http_port < 0 || !b->curl) {
        snprintf(err, errlen, "cannot set up the /metrics client");
        return -1;
    }
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", b->http_port);
    curl_easy_setopt(b->curl, CURLOPT_URL, url);
    curl_easy_setopt(b->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b->curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(b->curl, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(b->curl, CURLOPT_WRITEFUNCTION, curl_sink);
    return 0;
}

/* Every exit path comes through here: the child, the mock, the database, the files. */
static void bench_cleanup(struct bench *b, bool keep_log)
{
    if (b->child > 0) {
        kill(b->child, SIGKILL);
        int st;
        waitpid(b->child, &st, 0);
        b->child = 0;
    }
    mock_stop(b);
    db_teardown(b);
    if (b->curl)
        curl_easy_cleanup(b->curl);
    if (b->workdir[0] && !keep_log) {
        unlink(b->logpath);
        rmdir(b->workdir);
    } else if (b->workdir[0]) {
        fprintf(stderr, "bench_ingest: regressd's log kept in %s\n", b->logpath);
    }
    free(b->brokers);
    buf_free(&b->statements_text);
    config_free(&b->cfg);
}

static void step(const char *what)
{
    fprintf(stderr, "bench_ingest: %s\n", what);
}

static int bench_run(struct bench *b, char *err, size_t errlen)
{
    step("creating and migrating the database");
    if (db_setup(b, err, errlen) < 0)
        return -1;
    step("starting the mock Kafka cluster");
    if (mock_start(b, err, errlen) < 0)
        return -1;
    step("producing");
    if (produce_all(b, err, errlen) < 0)
        return -1;
    step("running regressd until every sample is stored");
    if (drain(b, err, errlen) < 0)
        return -1;
    mock_stop(b); /* frees the broker's copy of the data before the ceiling */
    if (verify_stored(b, err, errlen) < 0)
        return -1;
    step("measuring the raw COPY ceiling");
    return ceiling(b, err, errlen);
}

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof(b));
    b.opt = (struct options){.samples = 1000000,
                             .per_message = 100,
                             .compression = "none",
                             .span_us = 600 * INT64_C(1000000),
                             .seed = 1,
                             .timeout_s = 900,
                             .regressd = BENCH_REGRESSD_PATH,
                             .overrides = xcalloc((size_t)argc + 1, sizeof(char *))};
    int prc = parse_args(argc, argv, &b.opt);
    if (prc != 0) {
        usage(prc > 0 ? stdout : stderr);
        free(b.opt.overrides);
        return prc > 0 ? 0 : 2;
    }
    if (b.opt.partitions == 0)
        b.opt.partitions = default_partitions(&b.opt);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char err[2048] = "";
    int rc = bench_init(&b, err, sizeof(err)) == 0 && bench_run(&b, err, sizeof(err)) == 0 ? 0 : 1;
    if (rc == 0)
        print_report(&b);
    else
        fprintf(stderr, "bench_ingest: FAILED: %s\n", err);
    bench_cleanup(&b, rc != 0);
    curl_global_cleanup();
    free(b.opt.overrides);
    return rc;
}
