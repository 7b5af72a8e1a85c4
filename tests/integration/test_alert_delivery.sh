# Alerts reach a webhook that fails the first requests with 500 and a Slack endpoint that stalls
# past the timeout: each arrives after recovery, exactly once with a 2xx per receiver and
# dedup_key, every attempt recorded; the same finding group is not alerted twice; an alert
# whose transaction rolls back does not exist; no URL is logged; GET /v1/alerts shows it all.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/alert_lib.sh"
new_db
migrate

start_receiver rec --fail /hook=3 --stall /slack=2:4
hook="http://127.0.0.1:$RPORT/hook"
slack="http://127.0.0.1:$RPORT/slack"

report "$WORK/r1.json" deploy web "commit 3f2a9c1e" "commit 8b01d7aa" 10 -:2.24 feed/home:6.5
id=$(enqueue "$WORK/r1.json")
[ "$id" -gt 0 ] || fail "no alert for a report with regressions"
[ "$(enqueue "$WORK/r1.json")" = 0 ] || fail "the same finding group was alerted twice"
report "$WORK/r2.json" deploy web "commit 8b01d7aa" "commit 77aa0000" 11 feed/x:3
[ "$(enqueue "$WORK/r2.json" --rollback)" -gt 0 ] || fail "rolled-back enqueue returned no id"
report "$WORK/none.json" deploy web "commit a" "commit b" 12
[ "$(enqueue "$WORK/none.json")" = 0 ] || fail "a report without regression was alerted"
[ "$(q 'SELECT count(*) FROM alerts')" = 1 ] || fail "want exactly one alert row"
key=$(q "SELECT dedup_key FROM alerts WHERE id = $id")

start_deliverer d1 -o webhook.url="$hook" -o slack.webhook_url="$slack"
wait_until "alert $id delivered to both receivers" 60 delivered "$id"

# The webhook: 3 × 500 then one 200; Slack: 2 stalled (timed out) then one 200.
[ "$(received rec /hook)" = 4 ] || fail "webhook got $(received rec /hook) requests, want 4"
[ "$(received rec /hook 200)" = 1 ] || fail "webhook: want exactly one 200"
[ "$(received rec /slack)" = 3 ] || fail "slack got $(received rec /slack) requests, want 3"
[ "$(received rec /slack 200)" = 1 ] || fail "slack: want exactly one 200"
[ "$(q "SELECT string_agg(receiver || '=' || attempts || '/' || state, ',' ORDER BY receiver)
        FROM alert_deliveries WHERE alert_id = $id")" = "slack=3/delivered,webhook=4/delivered" ] ||
    fail "delivery state: $(q "SELECT receiver, attempts, state FROM alert_deliveries")"
[ "$(q "SELECT count(*) FROM alert_attempts WHERE alert_id = $id")" = 7 ] || fail "attempts not recorded"
[ "$(q "SELECT count(*) FROM alert_attempts WHERE receiver = 'slack' AND http_status IS NULL
        AND error ILIKE '%timeout%'")" = 2 ] || fail "the stalled attempts are not recorded as timeouts"
[ "$(q "SELECT attempts FROM alerts WHERE id = $id")" = 7 ] || fail "alerts.attempts is not the sum"
[ -n "$(q "SELECT last_error FROM alerts WHERE id = $id")" ] || fail "alerts.last_error empty"

# The webhook request: headers and the body of CONTRACT section 4, field by field.
jq -s 'map(select(.path == "/hook" and .status == 200)) | .[0]' "$WORK/rec.jsonl" >"$WORK/hook.json"
[ "$(jq -r '.headers["idempotency-key"]' "$WORK/hook.json")" = "$key" ] || fail "Idempotency-Key"
jq -e '.headers["content-type"] == "application/json" and .method == "POST"' "$WORK/hook.json" \
    >/dev/null || fail "method or content type"
jq -r .body "$WORK/hook.json" >"$WORK/body.json"
jq -e --arg id "$id" --arg key "$key" '
    .alert_id == $id and .dedup_key == $key and .kind == "deploy" and .service == "web"
    and .title == "web: instructions per user +2.2% after deploy of commit 8b01d7aa (+1 more)"
    and .baseline.label == "commit 3f2a9c1e" and .candidate.label == "commit 8b01d7aa"
    and .confidence == 0.95 and (.created_at | test("^2[0-9-]+T[0-9:.]+Z$"))
    and (.regressions | length) == 2
    and (.regressions[0] | keys) == ["baseline","candidate","ci_high_pct","ci_low_pct",
                                      "delta_pct","endpoint","flag","metric","p_value"]
    and .regressions[0].metric == "instructions_per_user" and .regressions[0].endpoint == null
    and .regressions[0].delta_pct == 2.24 and .regressions[0].ci_low_pct == 1.24
    and .regressions[0].ci_high_pct == 3.24 and .regressions[0].p_value == 0.0001
    and .regressions[1].endpoint == "feed/home" and .regressions[1].flag == null' \
    "$WORK/body.json" >/dev/null || fail "webhook body: $(cat "$WORK/body.json")"
# The same body as stored in the outbox.
[ "$(jq -S -c . "$WORK/body.json")" = "$(q "SELECT payload FROM alerts WHERE id = $id" | jq -S -c .)" ] ||
    fail "webhook body differs from alerts.payload"
# Slack got Block Kit.
jq -s 'map(select(.path == "/slack" and .status == 200)) | .[0].body | fromjson' "$WORK/rec.jsonl" |
    jq -e '(.blocks | length) >= 4 and .blocks[0].type == "header" and (.text | length) > 0' \
        >/dev/null || fail "slack body is not Block Kit"

# A second alert while running: delivered at once, once.
report "$WORK/r3.json" deploy web "commit 8b01d7aa" "commit 99bb0000" 13 feed/y:4
id3=$(enqueue "$WORK/r3.json")
wait_until "alert $id3 delivered" 30 delivered "$id3"
sleep 2 # nothing more may arrive
[ "$(received rec /hook)" = 5 ] && [ "$(received rec /slack)" = 4 ] ||
    fail "extra requests: hook $(received rec /hook), slack $(received rec /slack)"
jq -s -e 'map(select(.path == "/hook" and .status == 200) | .headers["idempotency-key"])
           | length == 2 and length == (unique | length)' "$WORK/rec.jsonl" >/dev/null ||
    fail "the webhook got a dedup_key twice"
jq -s -e 'map(select(.path == "/slack" and .status == 200) | .body | fromjson
              | .blocks[-1].elements[0].text) | length == 2 and length == (unique | length)' \
    "$WORK/rec.jsonl" >/dev/null || fail "slack got an alert twice"

# Secrets stay out of the logs: receivers are named by kind, never by URL.
grep -q "127.0.0.1:$RPORT" "$WORK/d1.log" && fail "a receiver URL was logged"
grep -q "delivered to webhook" "$WORK/d1.log" || fail "deliveries not logged by receiver kind"

# SIGTERM stops the loop quickly.
start=$SECONDS
kill -TERM "$DELIVERER_PID"
wait "$DELIVERER_PID" || fail "deliverer exited $?"
[ $((SECONDS - start)) -le 5 ] || fail "the delivery loop took $((SECONDS - start)) s to stop"

# GET /v1/alerts through `regressd run`.
[ -n "${BROKER:-}" ] || start_broker it.alerts 1
port=$(free_port)
start_daemon http -o http.listen=127.0.0.1:$port
wait_until "HTTP API" 30 curl -sf "http://127.0.0.1:$port/v1/alerts"
curl -sf "http://127.0.0.1:$port/v1/alerts" >"$WORK/list.json"
jq -e --argjson id "$id" --arg key "$key" '
    (.alerts | length) == 2 and .alerts[0].id > .alerts[1].id
    and (.alerts[] | select(.id == $id) | .dedup_key == $key and .state == "delivered"
         and .attempts == 7 and .regressions == 2
         and ([.deliveries[] | "\(.receiver)=\(.state)/\(.attempts)"] ==
              ["slack=delivered/3", "webhook=delivered/4"]))' "$WORK/list.json" >/dev/null ||
    fail "GET /v1/alerts: $(cat "$WORK/list.json")"
curl -sf "http://127.0.0.1:$port/v1/alerts/$id" | jq -e --arg key "$key" '
    .payload.dedup_key == $key and (.attempts | length) == 7
    and ([.attempts[] | select(.receiver == "webhook") | .http_status] == [500, 500, 500, 200])' \
    >/dev/null || fail "GET /v1/alerts/$id"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/alerts/999999")
[ "$code" = 404 ] || fail "unknown alert: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$port/v1/alerts")
[ "$code" = 405 ] || fail "POST /v1/alerts: HTTP $code"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "regressd run exited $?"
log "ok"
