/* Unit tests of alerting/: the webhook body against CONTRACT section 4 field by field, titles,
 * identities, Slack Block Kit (parsed back, limits, hostile text), Alertmanager bodies, the
 * overflow summary, text helpers and the retry backoff. No database, no network. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../alerting/alert_int.h"
#include "check.h"
#include "regressd/alert.h"

#define CREATED_US 1795255200123456LL /* 2026-11-21T10:00:00.123456Z */

static const char deploy_report[] =
    "{\"kind\":\"deploy\",\"service\":\"web\",\"deploy_id\":7,"
    "\"baseline\":{\"label\":\"commit 3f2a9c1e\",\"commit\":\"3f2a9c1e\","
    "\"from\":\"2026-11-21T09:00:00Z\",\"to\":\"2026-11-21T11:00:00Z\",\"samples\":52110,"
    "\"users\":20113},"
    "\"candidate\":{\"label\":\"commit 8b01d7aa\",\"commit\":\"8b01d7aa\","
    "\"from\":\"2026-11-21T10:00:00Z\",\"to\":\"2026-11-21T11:00:00Z\",\"samples\":50877,"
    "\"users\":19920},"
    "\"confidence\":0.95,\"verdict\":\"regression\",\"results\":["
    "{\"metric\":\"instructions_per_user\",\"endpoint\":null,\"flag\":null,\"baseline\":9.81e8,"
    "\"candidate\":1.003e9,\"delta_pct\":2.24,\"ci_low_pct\":1.10,\"ci_high_pct\":3.39,"
    "\"p_value\":0.0002,\"samples_baseline\":52110,\"samples_candidate\":50877,"
    "\"verdict\":\"regression\",\"gates\":true},"
    "{\"metric\":\"instructions_per_request\",\"endpoint\":\"feed/other\",\"flag\":null,"
    "\"baseline\":1.5e6,\"candidate\":1.5e6,\"delta_pct\":0.1,\"ci_low_pct\":-1,"
    "\"ci_high_pct\":1.2,\"p_value\":0.8,\"samples_baseline\":2,\"samples_candidate\":3,"
    "\"verdict\":\"no_change\",\"gates\":true},"
    "{\"metric\":\"latency_us_mean\",\"endpoint\":null,\"flag\":null,\"baseline\":1000,"
    "\"candidate\":1100,\"delta_pct\":10,\"ci_low_pct\":5,\"ci_high_pct\":15,\"p_value\":0.001,"
    "\"samples_baseline\":2,\"samples_candidate\":3,\"verdict\":\"regression\",\"gates\":false}"
    "]}";

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    CHECK_MSG(j != NULL, "JSON: %s", e.text);
    return j;
}

/* A regression result with the given endpoint and flag (JSON text or "null"). */
static json_t *result(const char *metric, const char *endpoint, double delta, const char *flag)
{
    json_t *r =
        json_pack("{s:s, s:s?, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:i, s:i}", "metric", metric,
                  "endpoint", endpoint, "baseline", 100.0, "candidate", 100.0 + delta, "delta_pct",
                  delta, "ci_low_pct", delta - 1.0, "ci_high_pct", delta + 1.0, "p_value", 0.001,
                  "verdict", "regression", "samples_baseline", 5000, "samples_candidate", 5000);
    json_object_set_new(r, "flag", parse(flag));
    return r;
}

static json_t *report_with(const char *kind, json_t *results)
{
    json_t *r = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:f, s:o}", "kind",
                          kind, "service", "web", "baseline", "label", "same hour a day earlier",
                          "from", "2026-11-20T09:00:00Z", "to", "2026-11-20T10:00:00Z", "candidate",
                          "label", "2026-11-21 09:00-10:00", "from", "2026-11-21T09:00:00Z", "to",
                          "2026-11-21T10:00:00Z", "confidence", 0.95, "results", results);
    return r;
}

static void check_number(const json_t *o, const char *key, double want)
{
    const json_t *v = json_object_get(o, key);
    CHECK_MSG(json_is_number(v), "%s is not a number", key);
    CHECK_NEAR(json_number_value(v), want, 1e-12);
}

/* ---- webhook body ---- */

static void test_webhook_contract(void)
{
    json_t *report = parse(deploy_report);
    json_t *p = alert_payload_new(report, 42, "deploy:web:abc", CREATED_US);
    CHECK(p != NULL);
    CHECK_STR(json_string_value(json_object_get(p, "alert_id")), "42");
    CHECK_STR(json_string_value(json_object_get(p, "dedup_key")), "deploy:web:abc");
    CHECK_STR(json_string_value(json_object_get(p, "kind")), "deploy");
    CHECK_STR(json_string_value(json_object_get(p, "service")), "web");
    CHECK_STR(json_string_value(json_object_get(p, "title")),
              "web: instructions per user +2.2% after deploy 8b01d7aa");
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "baseline"), "label")),
              "commit 3f2a9c1e");
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "candidate"), "label")),
              "commit 8b01d7aa");
    check_number(p, "confidence", 0.95);
    CHECK_STR(json_string_value(json_object_get(p, "created_at")), "2026-11-21T10:00:00.123456Z");
    /* Only the gating regression: no_change and the informative latency result stay out. */
    const json_t *regs = json_object_get(p, "regressions");
    CHECK_INT(json_array_size(regs), 1);
    const json_t *r = json_array_get(regs, 0);
    CHECK_STR(json_string_value(json_object_get(r, "metric")), "instructions_per_user");
    CHECK(json_is_null(json_object_get(r, "endpoint")));
    CHECK(json_is_null(json_object_get(r, "flag")));
    check_number(r, "delta_pct", 2.24);
    check_number(r, "ci_low_pct", 1.10);
    check_number(r, "ci_high_pct", 3.39);
    check_number(r, "p_value", 0.0002);
    check_number(r, "baseline", 9.81e8);
    check_number(r, "candidate", 1.003e9);
    CHECK_INT(json_object_size(r), 9); /* exactly the contract's fields */
    json_decref(p);
    json_decref(report);
}

static void test_no_regression(void)
{
    json_t *report = report_with("trend", json_array());
    json_t *regs = alert_regressions(report);
    CHECK_INT(json_array_size(regs), 0);
    json_decref(regs);
    json_object_del(report, "kind");
    CHECK(alert_payload_new(report, 1, "k", CREATED_US) == NULL);
    json_decref(report);
}

static void test_titles(void)
{
    static const struct {
        const char *kind, *endpoint, *flag;
        double delta;
        const char *want;
    } cases[] = {
        {"trend", "feed/home", "null", 3.14,
         "web: instructions per request +3.1% on feed/home vs same hour a day earlier"},
        {"flag", "feed/home", "{\"name\":\"ranker\",\"value\":\"v2\"}", 4.0,
         "web: instructions per request +4.0% on feed/home with ranker=v2"},
        {"flag", "a", "{\"name\":\"beta\",\"value\":true}", 0.05,
         "web: instructions per request +0.05% on a with beta=true"},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++) {
        json_t *report = report_with(
            cases[i].kind, json_pack("[o]", result("instructions_per_request", cases[i].endpoint,
                                                   cases[i].delta, cases[i].flag)));
        json_t *regs = alert_regressions(report);
        char *t = alert_title(report, regs);
        CHECK_STR(t, cases[i].want);
        free(t);
        json_decref(regs);
        json_decref(report);
    }
}

static void test_many_regressions(void)
{
    json_t *results = json_array();
    for (int i = 0; i < ALERT_MAX_REGRESSIONS + 100; i++) {
        char ep[32];
        snprintf(ep, sizeof(ep), "endpoint/%d", i);
        json_array_append_new(results, result("instructions_per_request", ep, 2.0 + i, "null"));
    }
    json_t *report = report_with("trend", results);
    json_t *p = alert_payload_new(report, 1, "k", CREATED_US);
    CHECK_INT(json_array_size(json_object_get(p, "regressions")), ALERT_MAX_REGRESSIONS);
    CHECK_INT(json_integer_value(json_object_get(p, "regressions_omitted")), 100);
    char *t = json_string_value(json_object_get(p, "title"))
                  ? xstrdup(json_string_value(json_object_get(p, "title")))
                  : NULL;
    CHECK_STR(t, "web: instructions per request +601.0% on endpoint/599 vs same hour a day "
                 "earlier (+599 more)");
    free(t);
    json_decref(p);
    json_decref(report);
}

/* ---- identities ---- */

static void test_identities(void)
{
    json_t *report = parse(deploy_report);
    json_t *regs = alert_regressions(report);
    json_t *items = alert_items(regs);
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(json_string_value(json_array_get(items, 0)), "[\"instructions_per_user\",null,null]");
    char *scope = alert_scope("deploy", "web", report);
    CHECK_STR(scope, "[\"deploy\",\"web\"]");
    free(scope);
    char *m = alert_dedup_material("deploy", "web", report, items);
    CHECK_STR(m, "[\"deploy\",\"web\",\"commit 3f2a9c1e\",\"commit 8b01d7aa\"]");
    free(m);
    json_decref(items);
    json_decref(regs);
    json_decref(report);

    json_t *flag = report_with("flag", json_pack("[o]", result("instructions_per_request", "e", 3,
                                                               "{\"value\":\"v2\",\"name\":"
                                                               "\"ranker\"}")));
    regs = alert_regressions(flag);
    items = alert_items(regs);
    CHECK_STR(json_string_value(json_array_get(items, 0)),
              "[\"instructions_per_request\",\"e\",{\"name\":\"ranker\",\"value\":\"v2\"}]");
    scope = alert_scope("trend", "web", flag);
    CHECK_STR(scope, "[\"trend\",\"web\",3600,86400]");
    free(scope);
    m = alert_dedup_material("flag", "web", flag, items);
    CHECK(strstr(m, "\"2026-11-21T09:00:00Z\"") != NULL); /* the window */
    CHECK(strstr(m, "ranker") != NULL);                   /* the flag */
    free(m);
    json_decref(items);
    json_decref(regs);
    json_decref(flag);

    /* Items are sorted and unique, whatever the report's order. */
    regs = json_pack("[o, o, o]", result("m", "b", 1, "null"), result("m", "a", 1, "null"),
                     result("m", "b", 2, "null"));
    items = alert_items(regs);
    char *dump = json_dumps(items, JSON_COMPACT);
    CHECK_STR(dump, "[\"[\\\"m\\\",\\\"a\\\",null]\",\"[\\\"m\\\",\\\"b\\\",null]\"]");
    free(dump);
    json_decref(items);
    json_decref(regs);

    char svc[80];
    alert_key_service("we b\r\nX-Evil: 1", svc, sizeof(svc));
    CHECK_STR(svc, "we_b__X-Evil:_1"); /* no CR/LF can reach the Idempotency-Key header */
}

/* ---- Slack ---- */

/* Walks a Block Kit body: every text object has a type, and Slack's limits hold. */
static void check_text_object(const json_t *t, size_t max_chars)
{
    const char *type = json_string_value(json_object_get(t, "type"));
    const char *text = json_string_value(json_object_get(t, "text"));
    CHECK(type && (strcmp(type, "plain_text") == 0 || strcmp(type, "mrkdwn") == 0));
    CHECK(text && text[0]);
    if (text)
        CHECK_MSG(alert_utf8_len(text) <= max_chars, "%zu chars > %zu", alert_utf8_len(text),
                  max_chars);
    /* Only our own newlines in plain text: a field "Name\nvalue" has exactly one. */
    if (text && type && strcmp(type, "plain_text") == 0) {
        const char *nl = strchr(text, '\n');
        CHECK(!nl || !strchr(nl + 1, '\n'));
    }
}

/* The code block: one opening and one closing fence, nothing that Slack would parse. */
static void check_table(const char *text)
{
    size_t len = strlen(text);
    CHECK(strncmp(text, "```\n", 4) == 0);
    CHECK(len >= 3 && strcmp(text + len - 3, "```") == 0);
    const char *inner = text + 3;
    const char *fence = strstr(inner, "```");
    CHECK(fence == text + len - 3);
    CHECK(strchr(text, '<') == NULL && strchr(text, '>') == NULL);
}

static const json_t *validate_slack(const json_t *body)
{
    /* Round trip: what goes over the wire parses back to the same document. */
    char *wire = json_dumps(body, JSON_COMPACT);
    CHECK(wire != NULL);
    json_t *back = wire ? json_loads(wire, 0, NULL) : NULL;
    CHECK(back && json_equal(back, body));
    json_decref(back);
    free(wire);
    const char *fallback = json_string_value(json_object_get(body, "text"));
    CHECK(fallback && !strchr(fallback, '<') && !strchr(fallback, '>'));
    const json_t *blocks = json_object_get(body, "blocks");
    CHECK(json_is_array(blocks) && json_array_size(blocks) <= 50);
    const json_t *table = NULL;
    size_t i;
    const json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        CHECK(type != NULL);
        if (!type)
            continue;
        if (strcmp(type, "header") == 0) {
            check_text_object(json_object_get(b, "text"), 150);
            CHECK_STR(json_string_value(json_object_get(json_object_get(b, "text"), "type")),
                      "plain_text");
        } else if (strcmp(type, "section") == 0) {
            const json_t *fields = json_object_get(b, "fields"), *text = json_object_get(b, "text");
            CHECK(fields || text);
            CHECK(json_array_size(fields) <= 10);
            size_t k;
            const json_t *f;
            json_array_foreach(fields, k, f) check_text_object(f, 2000);
            if (text) {
                check_text_object(text, 3000);
                const char *tt = json_string_value(json_object_get(text, "type"));
                if (tt && strcmp(tt, "mrkdwn") == 0) {
                    table = text;
                    check_table(json_string_value(json_object_get(text, "text")));
                }
            }
        } else if (strcmp(type, "context") == 0) {
            const json_t *els = json_object_get(b, "elements");
            CHECK(json_array_size(els) >= 1 && json_array_size(els) <= 10);
            size_t k;
            const json_t *e;
            json_array_foreach(els, k, e) check_text_object(e, 3000);
        } else {
            CHECK_MSG(0, "unexpected block type %s", type);
        }
    }
    CHECK(table != NULL);
    return table;
}

static void test_slack_basic(void)
{
    json_t *report = parse(deploy_report);
    json_t *p = alert_payload_new(report, 42, "deploy:web:abc", CREATED_US);
    json_t *s = alert_slack_body(p);
    const json_t *table = validate_slack(s);
    const char *text = json_string_value(json_object_get(table, "text"));
    CHECK(strstr(text, "(service)") != NULL);
    CHECK(strstr(text, "instr/user") != NULL);
    CHECK(strstr(text, "+2.24%") != NULL);
    CHECK(strstr(text, "[+1.10%, +3.39%]") != NULL);
    const json_t *header = json_array_get(json_object_get(s, "blocks"), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(header, "text"), "text")),
              "web: instructions per user +2.2% after deploy 8b01d7aa");
    char *dump = json_dumps(s, JSON_COMPACT);
    CHECK(strstr(dump, "commit 3f2a9c1e") && strstr(dump, "commit 8b01d7aa"));
    free(dump);
    json_decref(s);
    json_decref(p);
    json_decref(report);
}

static void test_slack_hostile(void)
{
    static const char *const endpoints[] = {
        "say \"hi\" \\ 'there'",
        "new\nline\r\ttab",
        "*bold* _it_ ~strike~ `code`",
        "```",
        "<!channel> <@U123> <http://evil.example|click> & &amp;",
        "emoji \xF0\x9F\x99\x82 and \xE6\xBC\xA2\xE5\xAD\x97 \xE2\x80\xA8 sep",
    };
    json_t *results = json_array();
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(endpoints); i++)
        json_array_append_new(results,
                              result("instructions_per_request", endpoints[i], 2.0 + (double)i,
                                     "{\"name\":\"f`\\n<x>\",\"value\":\"*v*\"}"));
    /* Very long ones: ASCII, and 4-byte characters (cutting must land on a boundary). */
    struct buf longa = {0}, longu = {0};
    for (int i = 0; i < 20000; i++)
        buf_append_char(&longa, 'x');
    for (int i = 0; i < 5000; i++)
        buf_append_str(&longu, "\xF0\x9F\x99\x82");
    json_array_append_new(results,
                          result("instructions_per_request", buf_cstr(&longa), 50, "null"));
    json_array_append_new(results,
                          result("instructions_per_request", buf_cstr(&longu), 60, "null"));
    json_t *report = report_with("trend", results);
    json_object_set_new(json_object_get(report, "baseline"), "label",
                        json_string("base\nline *x* <!here> ```"));
    json_object_set_new(report, "suspects",
                        json_pack("[s, {s:s}, {s:i}]", "deploy abc\n<!channel>", "commit",
                                  buf_cstr(&longa), "n", 3));
    json_t *p = alert_payload_new(report, 7, "trend:web:k", CREATED_US);
    CHECK(p != NULL);
    const char *title = json_string_value(json_object_get(p, "title"));
    CHECK(title && strlen(title) <= ALERT_TITLE_MAX && !strchr(title, '\n'));
    json_t *s = alert_slack_body(p);
    CHECK(s != NULL);
    if (s) {
        const json_t *table = validate_slack(s);
        const char *text = json_string_value(json_object_get(table, "text"));
        CHECK(strstr(text, "&lt;!channel&gt;") != NULL);
        CHECK(strstr(text, "say \"hi\"") != NULL);
        CHECK(strstr(text, "new line") != NULL);
        /* Labels are plain text: cleaned of control characters, not interpreted. */
        const json_t *fields =
            json_object_get(json_array_get(json_object_get(s, "blocks"), 1), "fields");
        CHECK_STR(json_string_value(json_object_get(json_array_get(fields, 0), "text")),
                  "Baseline\nbase line *x* <!here> ```");
        CHECK_STR(json_string_value(json_object_get(json_array_get(fields, 0), "type")),
                  "plain_text");
        /* Every row of the table is one line: rows = regressions + the column header. */
        size_t lines = 0;
        for (const char *c = text; *c; c++)
            lines += *c == '\n';
        CHECK_INT(lines, 1 + 1 + json_array_size(json_object_get(p, "regressions")));
    }
    json_t *am = alert_alertmanager_body(p, CREATED_US, CREATED_US + 3600000000LL);
    CHECK_INT(json_array_size(am), json_array_size(json_object_get(p, "regressions")));
    char *wire = json_dumps(am, JSON_COMPACT);
    CHECK(wire != NULL && strlen(wire) < 200000);
    free(wire);
    json_decref(am);
    json_decref(s);
    json_decref(p);
    json_decref(report);
    buf_free(&longa);
    buf_free(&longu);
}

static void test_slack_many_rows(void)
{
    json_t *results = json_array();
    for (int i = 0; i < 700; i++) {
        char ep[64];
        snprintf(ep, sizeof(ep), "api/v1/some/rather/long/endpoint/name/%d", i);
        json_array_append_new(results, result("instructions_per_request", ep, 1.5, "null"));
    }
    json_t *report = report_with("deploy", results);
    json_t *p = alert_payload_new(report, 1, "k", CREATED_US);
    json_t *s = alert_slack_body(p);
    const json_t *table = validate_slack(s);
    const char *text = json_string_value(json_object_get(table, "text"));
    CHECK(strstr(text, "more\n```") != NULL);
    CHECK(strlen(text) <= 3000);
    json_decref(s);
    json_decref(p);
    json_decref(report);
}

static void test_slack_overflow(void)
{
    json_t *report = parse(deploy_report);
    json_t *p = alert_payload_new(report, 9, "deploy:web:x", CREATED_US);
    json_object_set_new(p, "overflow",
                        parse("{\"count\":3,\"since\":\"2026-11-21T09:10:00.000000Z\","
                              "\"alerts\":[{\"alert_id\":\"8\",\"title\":\"web: held one <!here>"
                              "\"},{\"alert_id\":\"7\",\"title\":\"web: held two\"}]}"));
    json_t *s = alert_slack_body(p);
    validate_slack(s);
    char *dump = json_dumps(s, JSON_COMPACT);
    CHECK(strstr(dump, "Also 3 more alert(s) for web since 2026-11-21T09:10:00.000000Z") != NULL);
    CHECK(strstr(dump, "web: held one") && strstr(dump, "web: held two"));
    free(dump);
    json_decref(s);
    json_decref(p);
    json_decref(report);
}

/* ---- Alertmanager ---- */

static void test_alertmanager(void)
{
    json_t *results = json_pack("[o, o]", result("instructions_per_user", NULL, 2.5, "null"),
                                result("instructions_per_request", "feed/home", 4.0, "null"));
    json_t *report = report_with("trend", results);
    json_t *p = alert_payload_new(report, 5, "trend:web:k", CREATED_US);
    json_t *am = alert_alertmanager_body(p, CREATED_US, CREATED_US + 3600000000LL);
    CHECK_INT(json_array_size(am), 2);
    const json_t *a0 = json_array_get(am, 0), *a1 = json_array_get(am, 1);
    const json_t *l0 = json_object_get(a0, "labels"), *l1 = json_object_get(a1, "labels");
    CHECK_STR(json_string_value(json_object_get(l0, "alertname")), "PerfRegression");
    CHECK_STR(json_string_value(json_object_get(l0, "service")), "web");
    CHECK_STR(json_string_value(json_object_get(l0, "endpoint")), "(service)");
    CHECK_STR(json_string_value(json_object_get(l0, "kind")), "trend");
    CHECK_STR(json_string_value(json_object_get(l0, "metric")), "instructions_per_user");
    CHECK_STR(json_string_value(json_object_get(l0, "offset")), "1d");
    CHECK_STR(json_string_value(json_object_get(l1, "endpoint")), "feed/home");
    CHECK_STR(json_string_value(json_object_get(l1, "metric")), "instructions_per_request");
    const json_t *ann = json_object_get(a1, "annotations");
    CHECK_STR(json_string_value(json_object_get(ann, "delta_pct")), "4");
    CHECK_STR(json_string_value(json_object_get(ann, "ci_low_pct")), "3");
    CHECK_STR(json_string_value(json_object_get(ann, "dedup_key")), "trend:web:k");
    CHECK_STR(json_string_value(json_object_get(a1, "startsAt")), "2026-11-21T10:00:00.123456Z");
    CHECK_STR(json_string_value(json_object_get(a1, "endsAt")), "2026-11-21T11:00:00.123456Z");
    json_decref(am);
    /* Never ends before it starts. */
    am = alert_alertmanager_body(p, CREATED_US, CREATED_US - 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(am, 0), "endsAt")),
              "2026-11-21T10:00:00.124456Z");
    json_decref(am);
    json_decref(p);
    json_decref(report);

    report = report_with("flag", json_pack("[o]", result("instructions_per_request", "e", 3,
                                                         "{\"name\":\"ranker\",\"value\":2}")));
    p = alert_payload_new(report, 6, "flag:web:k", CREATED_US);
    am = alert_alertmanager_body(p, CREATED_US, CREATED_US + 1000000);
    const json_t *l = json_object_get(json_array_get(am, 0), "labels");
    CHECK_STR(json_string_value(json_object_get(l, "flag")), "ranker=2");
    CHECK_STR(json_string_value(json_object_get(l, "kind")), "flag");
    CHECK(json_object_get(l, "offset") == NULL);
    json_decref(am);
    json_decref(p);
    json_decref(report);
}

/* ---- text and backoff ---- */

static void test_text(void)
{
    CHECK_INT(alert_utf8_len("a\xC3\xA9\xF0\x9F\x99\x82"), 3);
    CHECK_INT(alert_utf8_prefix("a\xC3\xA9\xF0\x9F\x99\x82z", 2), 3);
    CHECK_INT(alert_utf8_prefix("ab", 5), 2);
    char *c = alert_text_clip("abcdef", 4);
    CHECK_STR(c, "abc\xE2\x80\xA6");
    free(c);
    c = alert_text_clip("a\nb\tc", 10);
    CHECK_STR(c, "a b c");
    free(c);
    struct buf b = {0};
    CHECK_INT(alert_text_append(&b, "<a&`b>", 10, ALERT_TEXT_CODE), 6);
    CHECK_STR(buf_cstr(&b), "&lt;a&amp;'b&gt;");
    buf_free(&b);
    char d[32];
    static const struct {
        int64_t s;
        const char *want;
    } durations[] = {{604800, "1w"}, {86400, "1d"}, {7200, "2h"}, {90, "90s"}, {1800, "30m"}};
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(durations); i++) {
        util_format_duration(durations[i].s, d, sizeof(d));
        CHECK_STR(d, durations[i].want);
    }
    json_t *n = json_real(-1.234);
    alert_format_pct(n, d, sizeof(d));
    CHECK_STR(d, "-1.23%");
    alert_format_pct(json_null(), d, sizeof(d));
    CHECK_STR(d, "n/a");
    json_decref(n);
}

static void test_backoff(void)
{
    static const struct {
        int attempt;
        double rand01;
        int64_t retry_after, want;
    } cases[] = {
        {1, 0.0, 0, 500000},        {1, 0.999999, 0, 999999},     {2, 0.0, 0, 1000000},
        {3, 0.0, 0, 2000000},       {10, 0.0, 0, 5000000},        {100, 0.999999, 0, 9999995},
        {1, 0.0, 7000000, 7000000}, {1, 0.0, 60000000, 10000000},
    };
    for (size_t i = 0; i < REGRESSD_ARRAY_LEN(cases); i++)
        CHECK_INT(alert_backoff(cases[i].attempt, 1000000, 10000000, cases[i].retry_after,
                                cases[i].rand01),
                  cases[i].want);
}

int main(void)
{
    test_webhook_contract();
    test_no_regression();
    test_titles();
    test_many_regressions();
    test_identities();
    test_slack_basic();
    test_slack_hostile();
    test_slack_many_rows();
    test_slack_overflow();
    test_alertmanager();
    test_text();
    test_backoff();
    return check_summary();
}
