/* `regressd demo`: what PostgreSQL holds, checked against the generator's ground truth (stage 4),
 * and where to look next (stage 9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "regressd/db.h"

#define REPORT_TOP 5

static PGresult *query(struct demo *d, const char *sql, char *err, size_t errlen)
{
    return db_query(d->conn, sql, 0, NULL, err, errlen);
}

static uint64_t u64_at(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoull(PQgetvalue(res, row, col), NULL, 10);
}

/* ---- stage 4: the counts against the truth --------------------------------------------------- */

struct stored_counts {
    uint64_t samples, dead, rollups, partitions, offsets, endpoints;
};

static int load_counts(struct demo *d, struct stored_counts *c, char *err, size_t errlen)
{
    PGresult *res =
        query(d,
              "SELECT (SELECT count(*) FROM samples), (SELECT count(*) FROM dead_letters),"
              " (SELECT count(*) FROM rollups),"
              " (SELECT count(*) FROM kafka_offsets WHERE consumer_group = '" DEMO_GROUP
              "'), (SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets"
              " WHERE consumer_group = '" DEMO_GROUP "'),"
              " (SELECT count(*) FROM endpoints)",
              err, errlen);
    if (!res)
        return -1;
    *c = (struct stored_counts){u64_at(res, 0, 0), u64_at(res, 0, 1), u64_at(res, 0, 2),
                                u64_at(res, 0, 3), u64_at(res, 0, 4), u64_at(res, 0, 5)};
    PQclear(res);
    return 0;
}

static const char *verdict_mark(bool ok)
{
    return ok ? "ok" : "MISMATCH";
}

/* Per (endpoint, commit) sample counts against the truth's cells; returns the cells that differ
 * (or -1 on a query error). */
static long cells_differing(struct demo *d, size_t *cells, char *err, size_t errlen)
{
    struct traffic_truth tr;
    traffic_truth(d->traffic, &tr);
    PGresult *res =
        query(d, "SELECT endpoint, \"commit\", count(*) FROM samples GROUP BY 1, 2", err, errlen);
    if (!res)
        return -1;
    long differ = 0;
    int rows = PQntuples(res);
    for (size_t i = 0; i < tr.cell_count; i++) {
        const struct traffic_cell *cell = &tr.cells[i];
        uint64_t got = 0;
        for (int r = 0; r < rows; r++)
            if (!strcmp(PQgetvalue(res, r, 0), cell->endpoint) &&
                !strcmp(PQgetvalue(res, r, 1), cell->commit))
                got = u64_at(res, r, 2);
        differ += got != cell->samples;
    }
    if ((size_t)rows != tr.cell_count)
        differ += labs((long)rows - (long)tr.cell_count);
    *cells = tr.cell_count;
    PQclear(res);
    return differ;
}

static int print_counts(struct demo *d, bool *ok, char *err, size_t errlen)
{
    struct traffic_truth tr;
    traffic_truth(d->traffic, &tr);
    struct stored_counts c;
    if (load_counts(d, &c, err, errlen) < 0)
        return -1;
    size_t cells = 0;
    long differ = cells_differing(d, &cells, err, errlen);
    if (differ < 0)
        return -1;
    char a[32], b[32];
    bool s_ok = c.samples == tr.valid_samples, d_ok = c.dead == tr.malformed_messages;
    bool o_ok = c.offsets == d->produced.messages;
    demo_say(d, 4, "database %s holds:", d->dbname);
    printf("    samples        %11s  %-8s %s valid samples generated: none lost, none duplicated\n",
           demo_count(c.samples, a), verdict_mark(s_ok), demo_count(tr.valid_samples, b));
    printf("                                        per (endpoint, commit): %zu of %zu counts as "
           "generated\n",
           cells - (size_t)differ, cells);
    printf("    dead_letters   %11s  %-8s %s malformed messages generated\n", demo_count(c.dead, a),
           verdict_mark(d_ok), demo_count(tr.malformed_messages, b));
    printf("    kafka_offsets  %11s  %-8s next offsets of %llu partitions sum to the %s messages "
           "produced\n",
           demo_count(c.offsets, a), verdict_mark(o_ok), (unsigned long long)c.partitions,
           demo_count(d->produced.messages, b));
    printf(
        "    rollups        %11s  rows of per-minute sums (arrays over the user buckets), stored "
        "in the samples' transactions\n",
        demo_count(c.rollups, a));
    printf("    endpoints      %11s  distinct endpoints seen\n", demo_count(c.endpoints, a));
    *ok = s_ok && d_ok && o_ok && differ == 0;
    d->stored_ok = *ok;
    d->stored_samples = c.samples;
    d->stored_dead = c.dead;
    if (!*ok)
        snprintf(err, errlen,
                 "PostgreSQL does not hold what was generated (see the MISMATCH "
                 "lines)");
    return 0;
}

/* ---- stage 4: tops --------------------------------------------------------------------------- */

static int print_dead_letters(struct demo *d, char *err, size_t errlen)
{
    /* Reasons name the offending value: group by the field they are about ("sample 3: " is the
     * position inside an array), with one reason as an example. */
    PGresult *res = query(d,
                          "SELECT field, count(*), left(min(reason), 64) FROM"
                          " (SELECT regexp_replace(reason, '^(sample [0-9]+: )?([^:]*):.*$', '\\2')"
                          " AS field, reason FROM dead_letters) r"
                          " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
                          err, errlen);
    if (!res)
        return -1;
    printf("\n    dead letters by reason (top %d, with an example):\n", REPORT_TOP);
    for (int r = 0; r < PQntuples(res); r++)
        printf("      %6s  %-14s %s\n", PQgetvalue(res, r, 1), PQgetvalue(res, r, 0),
               PQgetvalue(res, r, 2));
    PQclear(res);
    return 0;
}

static int print_endpoints(struct demo *d, char *err, size_t errlen)
{
    PGresult *res = query(d,
                          "SELECT endpoint, sum(requests), sum(instructions) / sum(requests)"
                          " FROM rollup_buckets GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
                          err, errlen);
    if (!res)
        return -1;
    printf("\n    samples per endpoint (top %d, from the rollups):\n", REPORT_TOP);
    printf("      %-20s %12s  %22s\n", "endpoint", "samples", "instructions/request");
    for (int r = 0; r < PQntuples(res); r++) {
        char a[32];
        printf("      %-20s %12s  %22.4g\n", PQgetvalue(res, r, 0),
               demo_count(u64_at(res, r, 1), a), strtod(PQgetvalue(res, r, 2), NULL));
    }
    PQclear(res);
    return 0;
}

static bool have_deploys(struct demo *d)
{
    char err[256];
    PGresult *res = query(d, "SELECT to_regclass('deploys') IS NOT NULL", err, sizeof(err));
    bool yes = res && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return yes;
}

static int print_commits(struct demo *d, char *err, size_t errlen)
{
    bool deploys = have_deploys(d);
    PGresult *res =
        query(d,
              deploys ? "SELECT c.\"commit\", to_char(c.first_ts, 'HH24:MI:SS'), d.id,"
                        " d.baseline_commit, d.source"
                        " FROM commits c LEFT JOIN deploys d USING (service, \"commit\")"
                        " ORDER BY c.first_ts"
                      : "SELECT \"commit\", to_char(first_ts, 'HH24:MI:SS'), NULL,"
                        " NULL, NULL FROM commits ORDER BY first_ts",
              err, errlen);
    if (!res)
        return -1;
    printf("\n    commits seen (a commit's first sample is an automatic deploy):\n");
    for (int r = 0; r < PQntuples(res); r++) {
        printf("      %-14s first sample at %s  ", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        if (!PQgetisnull(res, r, 2))
            printf("deploy #%s (%s), baseline %s\n", PQgetvalue(res, r, 2), PQgetvalue(res, r, 4),
                   PQgetvalue(res, r, 3));
        else
            printf("%s\n", r == 0 ? "(the first commit: where regressd started)" : "");
    }
    PQclear(res);
    return 0;
}

int demo_report_stored(struct demo *d, char *err, size_t errlen)
{
    bool ok = false;
    char qerr[512];
    if (print_counts(d, &ok, err, errlen) < 0)
        return -1;
    if (print_dead_letters(d, qerr, sizeof(qerr)) < 0 ||
        print_endpoints(d, qerr, sizeof(qerr)) < 0 || print_commits(d, qerr, sizeof(qerr)) < 0) {
        snprintf(err, errlen, "%s", qerr);
        return -1;
    }
    fflush(stdout);
    return ok ? 0 : -1;
}

/* ---- the ground truth ------------------------------------------------------------------------ */

static void describe_plant(const struct traffic_plant_truth *pt, char *out, size_t len)
{
    const struct traffic_plant *p = pt->plant;
    if (p->kind == TRAFFIC_PLANT_COMMIT)
        snprintf(out, len, "%s on commit %s vs %s", p->endpoint ? p->endpoint : "every endpoint",
                 p->commit, pt->baseline_commit ? pt->baseline_commit : "the one before");
    else if (p->kind == TRAFFIC_PLANT_FLAG)
        snprintf(out, len, "%s with %s=%s vs without", p->endpoint ? p->endpoint : "every endpoint",
                 p->flag, p->value);
    else
        snprintf(out, len, "%s in a time window", p->endpoint ? p->endpoint : "every endpoint");
}

void demo_report_truth(struct demo *d)
{
    struct traffic_truth tr;
    traffic_truth(d->traffic, &tr);
    printf("\n    ground truth planted by the generator (the data's own means, per request):\n");
    for (size_t i = 0; i < tr.plant_count; i++) {
        const struct traffic_plant_truth *pt = &tr.plants[i];
        char what[200], a[32], b[32];
        describe_plant(pt, what, sizeof(what));
        printf("      %+6.2f%%  %-44s in the data %+6.2f%% (%s vs %s samples)\n",
               100 * (pt->plant->factor - 1), what,
               pt->baseline_mean > 0 ? 100 * (pt->candidate_mean / pt->baseline_mean - 1) : 0.0,
               demo_count(pt->candidate_samples, a), demo_count(pt->baseline_samples, b));
    }
    printf("      malformed messages by kind:");
    for (int k = 0; k < TRAFFIC_BAD_KINDS; k++)
        if (tr.malformed_by_kind[k])
            printf(" %s %llu", traffic_malformed_kind_name((enum traffic_malformed_kind)k),
                   (unsigned long long)tr.malformed_by_kind[k]);
    printf("\n");
    fflush(stdout);
}

/* ---- stage 9: where to look next ------------------------------------------------------------- */

static const char next_sql[] =
    "      -- the heaviest endpoints of the last hour, from the per-minute rollups\n"
    "      SELECT endpoint, sum(requests) AS requests,\n"
    "             round(sum(instructions) / sum(requests)) AS instructions_per_request\n"
    "        FROM rollup_buckets WHERE minute >= now() - interval '1 hour'\n"
    "       GROUP BY endpoint ORDER BY sum(instructions) DESC LIMIT 5;\n"
    "      -- one endpoint on both commits, straight from the samples\n"
    "      SELECT \"commit\", count(*), round(avg(instructions)) AS mean_instructions\n"
    "        FROM samples WHERE endpoint = '/feed' GROUP BY 1;\n"
    "      -- the flag rollout: /profile with and without new_ranker=on\n"
    "      SELECT flags->>'new_ranker' AS new_ranker, count(*), round(avg(instructions))\n"
    "        FROM samples WHERE endpoint = '/profile' GROUP BY 1;\n"
    "      -- why messages were rejected, and where they were on Kafka\n"
    "      SELECT reason, kafka_partition, kafka_offset, left(encode(raw, 'escape'), 60)\n"
    "        FROM dead_letters ORDER BY id LIMIT 5;\n"
    "      -- the alerts and how their delivery went, receiver by receiver\n"
    "      SELECT a.id, a.kind, d.receiver, d.state, d.attempts, d.delivered_at\n"
    "        FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id ORDER BY a.id;\n";

/* The path of this executable, for commands to copy; "regressd" when unknown. */
static void self_path(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0)
        snprintf(out, len, "regressd");
    else
        out[n] = '\0';
}

/* How to run the queries on this demo's data, honestly: the database may be dropped, and under
 * pg_virtualenv the whole cluster goes when its command exits. */
static void print_sql_access(struct demo *d)
{
    bool virtualenv = getenv("PG_CLUSTER_CONF_ROOT") != NULL;
    const char *host = d->conn ? PQhost(d->conn) : NULL;
    const char *port = d->conn ? PQport(d->conn) : NULL;
    char where[300] = "", exe[512];
    self_path(exe, sizeof(exe));
    if (host && port)
        snprintf(where, sizeof(where), " -h %s -p %s", host, port);
    if (d->opt.keep && !virtualenv) {
        printf("    on this demo's data (kept; `dropdb%s %s` removes it):\n"
               "      psql%s -d %s\n",
               where, d->dbname, where, d->dbname);
    } else if (d->opt.keep) {
        printf(
            "    on this demo's data, while the pg_virtualenv that runs this PostgreSQL lives (in "
            "a\n"
            "    `pg_virtualenv -t bash` shell: until you leave it; under scripts/demo.sh: it "
            "ends\n"
            "    with the demo):\n"
            "      psql -d %s\n",
            d->dbname);
    } else if (virtualenv) {
        printf(
            "    on this demo's data: the demo drops its database as it ends, and pg_virtualenv\n"
            "    removes its cluster; to keep both, run the demo in a pg_virtualenv shell:\n"
            "      pg_virtualenv -t bash\n"
            "      %s demo --keep\n"
            "      psql -d regressd_demo_<pid>\n",
            exe);
    } else {
        printf("    on this demo's data: the demo drops its database as it ends; to keep it:\n"
               "      %s demo --keep\n",
               exe);
    }
}

void demo_report_next(struct demo *d)
{
    printf("\n");
    demo_say(d, DEMO_STAGE_NEXT, "where to look next");
    printf(
        "    SQL: samples (one row per sample, daily partitions), rollup_buckets and rollup_users\n"
        "    (per-minute sums: always GROUP BY), dead_letters, kafka_offsets, commits, "
        "endpoints%s. E.g.:\n",
        have_deploys(d) ? ",\n    deploys (with the verdict), findings (every report), "
                          "alerts, alert_deliveries, alert_attempts"
                        : "");
    fputs(next_sql, stdout);
    print_sql_access(d);
    if (d->http_url[0])
        printf("    HTTP: while it ran, the demo served %s/metrics (Prometheus text: consumed,\n"
               "    stored, dead-lettered, lag, batch latency, alert deliveries) and /healthz, as "
               "`regressd run`\n    does on http.listen.\n",
               d->http_url);
    printf("    commands, against your own Kafka and PostgreSQL (README.md, "
           "config/regressd.conf.example):\n"
           "      regressd run                                           consume, check deploys, "
           "run the\n"
           "                                                             scheduled jobs, send "
           "alerts, serve HTTP\n"
           "      regressd deploy --service %s --commit C               record a deploy (the "
           "hook)\n"
           "      regressd check --service %s --commit %s         the check above; exit 1: "
           "regression\n"
           "      regressd trend --service %s --window 1h --offset 1d   the hourly trend, by "
           "hand\n"
           "      regressd flags --service %s                            the hourly flag scan, by "
           "hand\n"
           "      regressd generate --help                               this synthetic traffic\n"
           "    alerts go to webhook.url, slack.webhook_url and alertmanager.url.\n",
           DEMO_SERVICE, DEMO_SERVICE, DEMO_NEW_COMMIT, DEMO_SERVICE, DEMO_SERVICE);
    fflush(stdout);
}
