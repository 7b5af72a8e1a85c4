/* `regressd generate`: synthetic samples with planted changes, to stdout (JSON lines for
 * `kcat -P`) or straight to Kafka, and the ground truth of what was planted. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/traffic.h"
#include "regressd/util.h"

#define GEN_MAX_KAFKA_PROPS 64
#define GEN_FLUSH_TIMEOUT_MS 30000

static const char generate_help[] =
    "usage: regressd generate [OPTIONS] (--stdout | --brokers ADDR [--topic T] | --null)\n"
    "\n"
    "Writes synthetic, contract-shaped samples (CONTRACT section 1) with planted changes, and\n"
    "prints the ground truth of what it produced and planted (a table on stderr; JSON with\n"
    "--truth). The same options and seed give the same bytes.\n"
    "\n"
    "Output:\n"
    "  --stdout              one Kafka message per line (pipe into `kcat -P -b BROKER -t TOPIC`)\n"
    "  --brokers ADDR        produce to Kafka with librdkafka\n"
    "  --topic T             topic for --brokers (default perf.samples)\n"
    "  --kafka KEY=VALUE     librdkafka producer property (repeatable)\n"
    "  --null                generate and discard (measures the generator)\n"
    "  --truth FILE          write the ground truth as JSON to FILE\n"
    "  --quiet               no ground-truth table and no rate line on stderr\n"
    "\n"
    "Volume and time (times: RFC 3339, epoch ms, +DURATION after start or -DURATION before\n"
    "end; durations 90s, 30m, 1h, 1d, 1w):\n"
    "  --seed N              random seed (default 1)\n"
    "  --stream-seed N       seed of the requests only: the same users and endpoints with\n"
    "                        other draws, e.g. for a second window of the same population\n"
    "  --samples N           valid samples to produce (default 100000)\n"
    "  --rate R              instead of --samples: R samples per second of event time\n"
    "  --start T, --end T    event-time window [start, end) (default: --duration before now)\n"
    "  --duration D          window length (default 6h)\n"
    "  --batch N             samples per message; 1 = one JSON object, else an array (default "
    "100)\n"
    "  --malformed F         fraction of messages that are malformed, a mix of kinds: truncated "
    "or\n"
    "                        non-JSON, missing field, wrong type, negative or >= 2^53 "
    "instructions,\n"
    "                        over-long endpoint, bad ts, bad status, nested flag (default 0)\n"
    "\n"
    "Model:\n"
    "  --services LIST       comma-separated service names (default web)\n"
    "  --endpoints E         endpoints per service (default 12): /feed, /search, /profile, ...\n"
    "  --users U             user population (default 10000)\n"
    "  --hosts H             hosts per service (default 24)\n"
    "  --commit C            commit serving at start (default derived from the seed)\n"
    "  --deploy [SERVICE:]COMMIT@AT[/ROLLING]\n"
    "                        deploy COMMIT at AT to SERVICE (default all); hosts switch one by\n"
    "                        one over ROLLING. Repeatable. e.g. --deploy 8b01d7aa@+3h/10m\n"
    "  --flag NAME=VALUE:FRACTION[/OTHER]\n"
    "                        FRACTION of users (per user, stable) get NAME=VALUE, the others\n"
    "                        NAME=OTHER or no flag. e.g. --flag new_ranker=on:0.3/off\n"
    "  --plant TARGET:CHANGE@WHEN\n"
    "                        multiply instructions per request. TARGET: endpoint=NAME (or just\n"
    "                        /NAME), service=S, service=S,endpoint=NAME, or * for all.\n"
    "                        CHANGE: +6%, -2.5%, x1.06. WHEN: commit=C, flag=NAME=VALUE,\n"
    "                        window=FROM/TO. Repeatable. e.g.\n"
    "                          --plant '/feed:+6%@commit=8b01d7aa'\n"
    "                          --plant 'endpoint=/search:+10%@flag=new_ranker=on'\n"
    "                          --plant '*:+3%@window=+4h/+5h'\n"
    "  --epoch-ms F          fraction of samples with ts as integer epoch ms (default 0.1)\n"
    "  --day-amplitude A     daily rhythm, rate 1 +- A, peak 15:00 UTC (default 0.5)\n"
    "  --user-sigma S        per-user instructions factor, lognormal sigma (default 0.25)\n"
    "  --activity-sigma S    per-user activity weight, lognormal sigma (default 1.2)\n"
    "  --sample-rate R       sample_rate written into samples (default 0.01)\n"
    "\n"
    "Exit status: 0 ok, 1 output or delivery failure (or interrupted), 2 usage error.\n";

enum gen_output { GEN_OUT_NONE, GEN_OUT_STDOUT, GEN_OUT_KAFKA, GEN_OUT_NULL };

struct gen_opts {
    struct traffic_config cfg;
    enum gen_output output;
    const char *brokers, *topic, *truth_path;
    const char *kafka_props[GEN_MAX_KAFKA_PROPS];
    int kafka_prop_count;
    bool quiet;
    const char *start, *end, *duration, *rate, *services, *commit;
    /* raw specs, resolved once the window and the services are known */
    const char *deploy_specs[TRAFFIC_MAX_DEPLOYS];
    const char *flag_specs[TRAFFIC_MAX_FLAGS];
    const char *plant_specs[TRAFFIC_MAX_PLANTS];
    int deploy_count, flag_count, plant_count;
    /* resolved */
    struct traffic_service services_v[TRAFFIC_MAX_SERVICES];
    struct traffic_deploy deploys_v[TRAFFIC_MAX_DEPLOYS];
    struct traffic_flag flags_v[TRAFFIC_MAX_FLAGS];
    struct traffic_plant plants_v[TRAFFIC_MAX_PLANTS];
    struct traffic_strings strings; /* what the resolved specs point to */
    char *services_copy;
    struct traffic_producer *producer; /* --brokers */
};

static volatile sig_atomic_t gen_stop;

static void gen_on_signal(int sig)
{
    (void)sig;
    gen_stop = 1;
}

static int usage_error(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "regressd generate: %s%s%s%s%s\n", opt, value ? ": bad value '" : "",
            value ? value : "", value ? "'" : "", why ? why : "");
    fprintf(stderr, "Try 'regressd generate --help'.\n");
    return -1;
}

/* ---- numbers and times ---------------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || !*s)
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* ---- numeric options, table-driven -------------------------------------------------------- */

enum num_type { NUM_U64, NUM_INT, NUM_DOUBLE };

struct num_opt {
    const char *name;
    enum num_type type;
    size_t offset;
    double min, max;
};

#define CFG_FIELD(f) offsetof(struct traffic_config, f)

static const struct num_opt num_opts[] = {
    {"--seed", NUM_U64, CFG_FIELD(seed), 0, 0},
    {"--stream-seed", NUM_U64, CFG_FIELD(stream_seed), 0, 0},
    {"--samples", NUM_U64, CFG_FIELD(samples), 0, 0},
    {"--users", NUM_INT, CFG_FIELD(users), 1, TRAFFIC_MAX_USERS},
    {"--endpoints", NUM_INT, CFG_FIELD(endpoints), 1, TRAFFIC_MAX_ENDPOINTS},
    {"--hosts", NUM_INT, CFG_FIELD(hosts), 1, 10000},
    {"--batch", NUM_INT, CFG_FIELD(batch), 1, TRAFFIC_MAX_BATCH},
    {"--malformed", NUM_DOUBLE, CFG_FIELD(malformed), 0, 0.9},
    {"--epoch-ms", NUM_DOUBLE, CFG_FIELD(epoch_ms_fraction), 0, 1},
    {"--day-amplitude", NUM_DOUBLE, CFG_FIELD(day_amplitude), 0, 0.99},
    {"--user-sigma", NUM_DOUBLE, CFG_FIELD(user_sigma), 0, 3},
    {"--activity-sigma", NUM_DOUBLE, CFG_FIELD(activity_sigma), 0, 4},
    {"--sample-rate", NUM_DOUBLE, CFG_FIELD(sample_rate), 1e-9, 1},
};

static int set_num(struct traffic_config *cfg, const struct num_opt *n, const char *v)
{
    char *field = (char *)cfg + n->offset;
    uint64_t u;
    double d;
    switch (n->type) {
    case NUM_U64:
        if (!parse_u64(v, &u))
            return usage_error(n->name, v, " (want a non-negative integer)");
        memcpy(field, &u, sizeof(u));
        return 0;
    case NUM_INT:
        if (!parse_u64(v, &u) || (double)u < n->min || (double)u > n->max)
            return usage_error(n->name, v, " (integer out of range)");
        int i = (int)u;
        memcpy(field, &i, sizeof(i));
        return 0;
    case NUM_DOUBLE:
        if (traffic_parse_number(v, &d) != 0 || !(d >= n->min && d <= n->max))
            return usage_error(n->name, v, " (number out of range)");
        memcpy(field, &d, sizeof(d));
        return 0;
    }
    return -1;
}

/* ---- the other options ---------------------------------------------------------------------- */

static int add_spec(const char **list, int *count, int max, const char *opt, const char *v)
{
    if (*count >= max)
        return usage_error(opt, NULL, ": given too many times");
    list[(*count)++] = v;
    return 0;
}

static int set_output(struct gen_opts *o, enum gen_output out, const char *opt)
{
    if (o->output != GEN_OUT_NONE && o->output != out)
        return usage_error(opt, NULL, ": choose one of --stdout, --brokers, --null");
    o->output = out;
    return 0;
}

/* Options with a value other than the numeric ones; 1 if name is not one of them. */
static int set_string_opt(struct gen_opts *o, const char *name, const char *v)
{
    const char **slot = !strcmp(name, "--topic")      ? &o->topic
                        : !strcmp(name, "--truth")    ? &o->truth_path
                        : !strcmp(name, "--start")    ? &o->start
                        : !strcmp(name, "--end")      ? &o->end
                        : !strcmp(name, "--duration") ? &o->duration
                        : !strcmp(name, "--rate")     ? &o->rate
                        : !strcmp(name, "--services") ? &o->services
                        : !strcmp(name, "--commit")   ? &o->commit
                                                      : NULL;
    if (slot) {
        *slot = v;
        return 0;
    }
    if (!strcmp(name, "--brokers")) {
        o->brokers = v;
        return set_output(o, GEN_OUT_KAFKA, name);
    }
    if (!strcmp(name, "--kafka")) {
        if (!strchr(v, '='))
            return usage_error(name, v, " (want KEY=VALUE)");
        return add_spec(o->kafka_props, &o->kafka_prop_count, GEN_MAX_KAFKA_PROPS, name, v);
    }
    if (!strcmp(name, "--deploy"))
        return add_spec(o->deploy_specs, &o->deploy_count, TRAFFIC_MAX_DEPLOYS, name, v);
    if (!strcmp(name, "--flag"))
        return add_spec(o->flag_specs, &o->flag_count, TRAFFIC_MAX_FLAGS, name, v);
    if (!strcmp(name, "--plant"))
        return add_spec(o->plant_specs, &o->plant_count, TRAFFIC_MAX_PLANTS, name, v);
    return 1;
}

/* Returns 0, 1 for --help, -1 on a usage error. */
static int parse_flag_opt(struct gen_opts *o, const char *a)
{
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
        return 1;
    if (!strcmp(a, "--stdout"))
        return set_output(o, GEN_OUT_STDOUT, a);
    if (!strcmp(a, "--null"))
        return set_output(o, GEN_OUT_NULL, a);
    if (!strcmp(a, "--quiet")) {
        o->quiet = true;
        return 0;
    }
    return 2;
}

static int parse_value_opt(struct gen_opts *o, const char *name, const char *v)
{
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(num_opts); i++)
        if (!strcmp(name, num_opts[i].name))
            return set_num(&o->cfg, &num_opts[i], v);
    int rc = set_string_opt(o, name, v);
    return rc == 1 ? usage_error(name, NULL, ": unknown option") : rc;
}

/* Accepts --name value and --name=value. argv[0] is the command name. */
static int parse_args(int argc, char **argv, struct gen_opts *o)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        int rc = parse_flag_opt(o, a);
        if (rc != 2) {
            if (rc != 0)
                return rc;
            continue;
        }
        char *eq = strchr(a, '=');
        const char *v;
        char name[64];
        if (strncmp(a, "--", 2) != 0)
            return usage_error(a, NULL, ": unexpected argument");
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else if (i + 1 < argc) {
            snprintf(name, sizeof(name), "%s", a);
            v = argv[++i];
        } else {
            return usage_error(a, NULL, ": missing value");
        }
        if (parse_value_opt(o, name, v) < 0)
            return -1;
    }
    return 0;
}

/* ---- window, services, deploys, flags, plants ----------------------------------------------- */

static int resolve_window(struct gen_opts *o)
{
    int64_t dur = INT64_C(6) * 3600 * 1000000, start, end;
    if (o->duration && util_parse_duration(o->duration, &dur) != 0)
        return usage_error("--duration", o->duration, NULL);
    if (o->end && util_parse_time(o->end, &end) != 0)
        return usage_error("--end", o->end, " (want RFC 3339 or epoch ms)");
    if (o->start && util_parse_time(o->start, &start) != 0)
        return usage_error("--start", o->start, " (want RFC 3339 or epoch ms)");
    if (!o->end)
        end = o->start ? start + dur : util_now_us() / 1000000 * 1000000;
    if (!o->start)
        start = end - dur;
    if (end <= start)
        return usage_error("--end", o->end ? o->end : "", " (must be after --start)");
    o->cfg.start_us = start;
    o->cfg.end_us = end;
    if (o->rate) {
        double r;
        if (traffic_parse_number(o->rate, &r) != 0 || !(r > 0))
            return usage_error("--rate", o->rate, NULL);
        o->cfg.samples = (uint64_t)(r * (double)(end - start) / 1e6 + 0.5);
    }
    return 0;
}

static int resolve_services(struct gen_opts *o)
{
    if (!o->services && !o->commit)
        return 0;
    o->services_copy = xstrdup(o->services ? o->services : "web");
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(o->services_copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == TRAFFIC_MAX_SERVICES)
            return usage_error("--services", o->services, " (too many)");
        o->services_v[n++] = (struct traffic_service){.name = tok, .commit = o->commit};
    }
    if (!n)
        return usage_error("--services", o->services, NULL);
    o->cfg.services = o->services_v;
    o->cfg.service_count = n;
    return 0;
}

static int spec_error(const char *opt, const char *spec, const char *why)
{
    char paren[300];
    snprintf(paren, sizeof(paren), " (%s)", why);
    return usage_error(opt, spec, paren);
}

static int resolve_specs(struct gen_opts *o)
{
    char err[256];
    int64_t from = o->cfg.start_us, to = o->cfg.end_us;
    const char *services = o->services ? o->services : "web";
    for (int i = 0; i < o->deploy_count; i++)
        if (traffic_parse_deploy(o->deploy_specs[i], services, from, to, &o->deploys_v[i],
                                 &o->strings, err, sizeof(err)) < 0)
            return spec_error("--deploy", o->deploy_specs[i], err);
    for (int i = 0; i < o->flag_count; i++)
        if (traffic_parse_flag(o->flag_specs[i], &o->flags_v[i], &o->strings, err, sizeof(err)) < 0)
            return spec_error("--flag", o->flag_specs[i], err);
    for (int i = 0; i < o->plant_count; i++)
        if (traffic_parse_plant(o->plant_specs[i], from, to, &o->plants_v[i], &o->strings, err,
                                sizeof(err)) < 0)
            return spec_error("--plant", o->plant_specs[i], err);
    o->cfg.deploys = o->deploys_v;
    o->cfg.deploy_count = (size_t)o->deploy_count;
    o->cfg.flags = o->flags_v;
    o->cfg.flag_count = (size_t)o->flag_count;
    o->cfg.plants = o->plants_v;
    o->cfg.plant_count = (size_t)o->plant_count;
    return 0;
}

static void gen_opts_free(struct gen_opts *o)
{
    traffic_strings_free(&o->strings);
    free(o->services_copy);
    traffic_producer_free(o->producer);
}

/* ---- outputs -------------------------------------------------------------------------------- */

struct gen_stats {
    uint64_t messages, samples, bytes, failed;
    int64_t started_us;
};

static int write_stdout(struct traffic *t, struct gen_stats *st)
{
    struct buf msg = {0};
    struct traffic_msg_info info;
    while (!gen_stop && traffic_next_message(t, &msg, &info) > 0) {
        buf_append_char(&msg, '\n');
        if (fwrite(msg.data, 1, msg.len, stdout) != msg.len)
            break;
        st->messages++;
        st->samples += (uint64_t)info.samples;
        st->bytes += msg.len - 1;
    }
    buf_free(&msg);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "regressd generate: writing to stdout: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int write_null(struct traffic *t, struct gen_stats *st)
{
    struct buf msg = {0};
    struct traffic_msg_info info;
    while (!gen_stop && traffic_next_message(t, &msg, &info) > 0) {
        st->messages++;
        st->samples += (uint64_t)info.samples;
        st->bytes += msg.len;
    }
    buf_free(&msg);
    return 0;
}

/* Creates the producer up front, so a bad --kafka property is a usage error. */
static int resolve_kafka(struct gen_opts *o)
{
    char err[768];
    if (o->output != GEN_OUT_KAFKA)
        return 0;
    o->producer =
        traffic_producer_new(o->brokers, o->topic ? o->topic : "perf.samples", o->kafka_props,
                             (size_t)o->kafka_prop_count, err, sizeof(err));
    if (!o->producer) {
        fprintf(stderr, "regressd generate: --brokers/--kafka: %s\n", err);
        return -1;
    }
    return 0;
}

static int write_kafka(struct gen_opts *o, struct traffic *t, struct gen_stats *st)
{
    char err[512];
    int rc = traffic_producer_send(o->producer, t, 0, &gen_stop, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "regressd generate: %s\n", err);
    int left = traffic_producer_flush(o->producer, GEN_FLUSH_TIMEOUT_MS);
    struct traffic_produce_stats ps;
    traffic_producer_stats(o->producer, &ps);
    st->messages = ps.messages;
    st->samples = ps.samples;
    st->bytes = ps.bytes;
    st->failed = ps.failed;
    if (ps.failed)
        fprintf(stderr, "regressd generate: delivery failed: %s (%llu message(s))\n",
                traffic_producer_error(o->producer), (unsigned long long)ps.failed);
    if (left > 0) {
        fprintf(stderr, "regressd generate: %d messages not delivered after %d s\n", left,
                GEN_FLUSH_TIMEOUT_MS / 1000);
        st->failed += (uint64_t)left;
    }
    return rc < 0 || st->failed ? -1 : 0;
}

/* ---- the command ---------------------------------------------------------------------------- */

static int write_truth(struct traffic *t, const struct gen_opts *o)
{
    if (!o->quiet)
        traffic_truth_print(t, stderr);
    if (!o->truth_path)
        return 0;
    struct buf json = {0};
    traffic_truth_json(t, &json);
    buf_append_char(&json, '\n');
    FILE *f = fopen(o->truth_path, "w");
    bool ok = f && fwrite(json.data, 1, json.len, f) == json.len;
    if (f && fclose(f) != 0)
        ok = false;
    buf_free(&json);
    if (!ok)
        fprintf(stderr, "regressd generate: writing %s: %s\n", o->truth_path, strerror(errno));
    return ok ? 0 : -1;
}

static void print_rate(const struct gen_stats *st)
{
    double secs = (double)(util_mono_us() - st->started_us) / 1e6;
    fprintf(stderr,
            "generated %llu messages, %llu valid samples, %.1f MB in %.2f s: %.0f samples/s%s\n",
            (unsigned long long)st->messages, (unsigned long long)st->samples,
            (double)st->bytes / 1e6, secs, secs > 0 ? (double)st->samples / secs : 0.0,
            gen_stop ? " (interrupted)" : "");
}

/* traffic_new names the n-th deploy, flag or plant; name the option and its value instead. */
static void report_model_error(const struct gen_opts *o, const char *err)
{
    static const char *const kinds[] = {"deploy", "flag", "plant"};
    const char *const *specs[] = {o->deploy_specs, o->flag_specs, o->plant_specs};
    const int counts[] = {o->deploy_count, o->flag_count, o->plant_count};
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(kinds[k]);
        int n, used = 0;
        if (strncmp(err, kinds[k], len) || sscanf(err + len, " %d:%n", &n, &used) != 1 || !used ||
            n < 1 || n > counts[k])
            continue;
        fprintf(stderr, "regressd generate: --%s '%s':%s\n", kinds[k], specs[k][n - 1],
                err + len + (size_t)used);
        return;
    }
    fprintf(stderr, "regressd generate: %s\n", err);
}

static int run(struct gen_opts *o)
{
    char err[512];
    struct traffic *t = traffic_new(&o->cfg, err, sizeof(err));
    if (!t) {
        report_model_error(o, err);
        return 2;
    }
    struct gen_stats st = {.started_us = util_mono_us()};
    int rc = o->output == GEN_OUT_STDOUT  ? write_stdout(t, &st)
             : o->output == GEN_OUT_KAFKA ? write_kafka(o, t, &st)
                                          : write_null(t, &st);
    if (!o->quiet)
        print_rate(&st);
    if (write_truth(t, o) < 0)
        rc = -1;
    traffic_free(t);
    return rc < 0 || gen_stop ? 1 : 0;
}

/* Runs with SIGINT/SIGTERM stopping generation early (the flush still happens). */
static int run_with_signals(struct gen_opts *o)
{
    struct sigaction sa = {.sa_handler = gen_on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    gen_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = run(o);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    struct gen_opts *o = xcalloc(1, sizeof(*o));
    traffic_config_init(&o->cfg);
    int rc = parse_args(argc, argv, o);
    if (rc == 1) {
        fputs(generate_help, stdout);
        rc = 0;
    } else if (rc == 0 && o->output == GEN_OUT_NONE) {
        usage_error("output", NULL, ": choose one of --stdout, --brokers ADDR, --null");
        rc = 2;
    } else if (rc < 0 || resolve_window(o) < 0 || resolve_services(o) < 0 || resolve_specs(o) < 0 ||
               resolve_kafka(o) < 0) {
        rc = 2;
    } else {
        rc = run_with_signals(o);
    }
    gen_opts_free(o);
    free(o);
    return rc;
}
