# Debian's prometheus-alertmanager on loopback: a deploy's regressions show up in its
# GET /api/v2/alerts, one alert per regression with the contract's labels. Trend lifecycle: a
# later run that still finds the regression does not alert again; a run that no longer finds
# it resolves the alert and Alertmanager is told (it drops out of the active alerts); when it
# comes back, it is a new alert.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/alert_lib.sh"
new_db
migrate
start_alertmanager
start_receiver rec
start_deliverer d1 -o alertmanager.url="$AMURL/" -o webhook.url="http://127.0.0.1:$RPORT/hook"

report "$WORK/deploy.json" deploy web "commit 3f2a9c1e" "commit 8b01d7aa" 10 -:2.2 feed/home:6.5
d=$(enqueue "$WORK/deploy.json")
web_deploy='.labels.alertname == "PerfRegression" and .labels.service == "web" and .labels.kind == "deploy"'
wait_until "the deploy's alerts in Alertmanager" 30 am_count_is "$web_deploy" 2
am_count_is "$web_deploy"' and .labels.endpoint == "(service)" and .labels.metric == "instructions_per_user"' 1 ||
    fail "service-level alert labels"
am_count_is "$web_deploy"' and .labels.endpoint == "feed/home" and .labels.metric == "instructions_per_request"
             and .annotations.delta_pct == "6.5" and .annotations.dedup_key != null' 1 ||
    fail "endpoint alert labels/annotations: $(curl -s "$AMURL/api/v2/alerts")"
am_count_is "$web_deploy"' and .status.state == "active" and (.endsAt > .startsAt)' 2 || fail "not active"

# Trend runs, hourly, offset one day (scope: trend, web, 1h, 1d).
trend='.labels.kind == "trend" and .labels.endpoint == "feed/a" and .labels.offset == "1d"'
report "$WORK/t10.json" trend web "same hour a day earlier" "10:00-11:00" 10 feed/a:4
[ "$(resolve "$WORK/t10.json")" = 0 ] || fail "nothing to resolve yet"
t1=$(enqueue "$WORK/t10.json")
[ "$t1" -gt 0 ] || fail "trend regression not alerted"
wait_until "the trend alert in Alertmanager" 30 am_count_is "$trend" 1

report "$WORK/t11.json" trend web "same hour a day earlier" "11:00-12:00" 11 feed/a:4.5
[ "$(resolve "$WORK/t11.json")" = 0 ] || fail "resolved although still present"
[ "$(enqueue "$WORK/t11.json")" = 0 ] || fail "a persisting trend regression was alerted again"

# Not enough data this hour: no all-clear.
report "$WORK/t12.json" trend web "same hour a day earlier" "12:00-13:00" 12 feed/a:0:inconclusive
[ "$(resolve "$WORK/t12.json")" = 0 ] || fail "resolved by an inconclusive run"
[ "$(enqueue "$WORK/t12.json")" = 0 ] || fail "an inconclusive run was alerted"

report "$WORK/t125.json" trend web "same hour a day earlier" "12:00-13:00 (2)" 12
[ "$(resolve "$WORK/t125.json")" = 1 ] || fail "the absent regression was not resolved"
[ "$(enqueue "$WORK/t125.json")" = 0 ] || fail "a run without regression was alerted"
[ "$(q "SELECT resolved_at IS NOT NULL FROM alerts WHERE id = $t1")" = t ] || fail "not marked resolved"
wait_until "Alertmanager told of the resolution" 30 am_count_is "$trend" 0
[ "$(q "SELECT state FROM alert_deliveries WHERE alert_id = $t1 AND event = 'resolved'")" = delivered ] ||
    fail "the resolution delivery is not recorded"
am_count_is "$web_deploy" 2 || fail "the deploy's alerts were resolved too"
# The webhook got the trend alert once and no resolution message.
[ "$(received rec /hook 200)" = 2 ] || fail "webhook got $(received rec /hook 200) messages, want 2"

report "$WORK/t13.json" trend web "same hour a day earlier" "13:00-14:00" 13 feed/a:5
t2=$(enqueue "$WORK/t13.json")
[ "$t2" -gt "$t1" ] || fail "a regression that came back was not alerted"
wait_until "the new trend alert in Alertmanager" 30 am_count_is "$trend" 1
# Deploy alerts are about one deploy: a trend run never resolves them.
[ "$(q "SELECT count(*) FROM alerts WHERE kind = 'deploy' AND resolved_at IS NULL")" = 1 ] ||
    fail "a deploy alert was resolved"

grep -q "$AMURL" "$WORK/d1.log" && fail "the Alertmanager URL was logged"
kill -TERM "$DELIVERER_PID"
wait "$DELIVERER_PID" || fail "deliverer exited $?"
log "ok"
