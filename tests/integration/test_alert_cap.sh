# Quiet: at most alert.max_per_service messages per service per alert.cap_window go to people;
# the overflow is held and summarised in the service's next message, not dropped. Other
# services are not affected; Alertmanager (which throttles on its own) still gets every alert.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/alert_lib.sh"
new_db
migrate
start_receiver rec
am="http://127.0.0.1:$RPORT/am"

# Five finding groups of web (distinct deploys) and one of api, stored before delivery starts.
ids=()
for i in 1 2 3 4 5; do
    report "$WORK/w$i.json" deploy web "commit w$((i - 1))" "commit w$i" $((i + 5)) "feed/$i:3"
    ids+=("$(enqueue "$WORK/w$i.json")")
done
report "$WORK/api.json" deploy api "commit p0" "commit p1" 10 "login:4"
api=$(enqueue "$WORK/api.json")

start_deliverer d1 -o webhook.url="http://127.0.0.1:$RPORT/hook" -o alertmanager.url="$am" \
    -o alert.max_per_service=2 -o alert.cap_window=6s
hooks() { jq -s 'map(select(.path == "/hook" and .status == 200) | .body | fromjson)' "$WORK/rec.jsonl"; }
web_msgs() { hooks | jq '[.[] | select(.service == "web")] | length'; }
web_msgs_are() { [ "$(web_msgs)" = "$1" ]; }
wait_until "api's message" 30 delivered "$api"
wait_until "two messages for web" 30 web_msgs_are 2
sleep 1
[ "$(web_msgs)" = 2 ] || fail "the cap let $(web_msgs) messages through"
[ "$(q "SELECT count(*) FROM alerts WHERE service = 'web' AND suppressed")" = 3 ] || fail "want 3 held"
[ "$(received rec /am/api/v2/alerts 200)" = 6 ] ||
    fail "Alertmanager got $(received rec /am/api/v2/alerts 200) alerts, want all 6"

# When the window has room again the newest held alert goes out carrying the other two.
wait_until "the overflow message" 30 web_msgs_are 3
hooks | jq -e --arg last "${ids[4]}" --arg a "${ids[3]}" --arg b "${ids[2]}" '
    [.[] | select(.service == "web")][2] | .alert_id == $last and .overflow.count == 2
    and ([.overflow.alerts[].alert_id] == [$a, $b])
    and (.overflow.alerts[0].title | startswith("web: "))' >/dev/null ||
    fail "overflow summary: $(hooks | jq -c '.[-1].overflow')"
[ "$(q "SELECT string_agg(summarised_in::text, ',') FROM alerts WHERE suppressed")" = "${ids[4]},${ids[4]}" ] ||
    fail "held alerts not marked as summarised"
q "SELECT id, suppressed, summarised_in, delivered_at IS NOT NULL FROM alerts ORDER BY id" >"$WORK/state"
sleep 1
[ "$(web_msgs)" = 3 ] || fail "more messages than the cap and one summary"
[ "$(received rec /hook 200)" = 4 ] || fail "want 4 webhook messages in all"
kill -TERM "$DELIVERER_PID"
wait "$DELIVERER_PID" || fail "deliverer exited $?"
log "ok"
