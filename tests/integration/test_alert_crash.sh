# SIGKILL the delivering process after an alert is stored but before it is delivered (here in
# the middle of its HTTP request): after a restart it is delivered, once. An alert stored while
# no process delivers goes out after the restart too. Only the holder of the advisory lock
# delivers, and when it dies another process takes over.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/alert_lib.sh"
new_db
migrate

# The first webhook request hangs for 30 s (answered 503 then): the deliverer is killed while
# it waits. Its timeout (3 s) and lease (connect + timeout + 5 s) bound the retry.
start_receiver rec --stall /hook=1:30
hook="http://127.0.0.1:$RPORT/hook"
opts=(-o webhook.url="$hook" -o alert.timeout=3s)

report "$WORK/a.json" deploy web "commit a0" "commit a1" 10 feed/a:5
a=$(enqueue "$WORK/a.json")
start_deliverer d1 "${opts[@]}"
wait_until "the first request in flight" 30 received_is rec /hook 1
kill -9 "$DELIVERER_PID"
wait "$DELIVERER_PID" 2>/dev/null || true
[ "$(q "SELECT delivered_at IS NULL AND attempts = 1 FROM alerts WHERE id = $a")" = t ] ||
    fail "after SIGKILL: $(q "SELECT * FROM alert_deliveries")"

report "$WORK/b.json" deploy web "commit a1" "commit a2" 11 feed/b:5
b=$(enqueue "$WORK/b.json") # stored while nobody delivers
[ "$(q "SELECT released_at IS NULL FROM alerts WHERE id = $b")" = t ] || fail "b released by a dead process"

start_deliverer d2 "${opts[@]}"
d2=$DELIVERER_PID
wait_until "b delivered after the restart" 30 delivered "$b"
wait_until "a delivered after its lease" 60 delivered "$a"

# A second process while d2 holds the lock: it must not deliver.
start_deliverer d3 "${opts[@]}"
d3=$DELIVERER_PID
sleep 2
grep -q "holds the delivery lock" "$WORK/d3.log" && fail "two processes hold the delivery lock"
# The holder dies: d3 takes over and delivers what comes next.
kill -9 "$d2"
wait "$d2" 2>/dev/null || true
wait_until "d3 takes the lock" 30 grep -q "holds the delivery lock" "$WORK/d3.log"
report "$WORK/c.json" deploy web "commit a2" "commit a3" 12 feed/c:5
c=$(enqueue "$WORK/c.json")
wait_until "c delivered by the new holder" 30 delivered "$c"
grep -q "alert $c delivered to webhook" "$WORK/d3.log" || fail "c not delivered by d3"
sleep 1

# Exactly one success per dedup_key; a had one lost attempt and one good one.
for id in $a $b $c; do
    key=$(q "SELECT dedup_key FROM alerts WHERE id = $id")
    n=$(jq -s --arg k "$key" 'map(select(.status == 200 and .headers["idempotency-key"] == $k)) | length' \
        "$WORK/rec.jsonl")
    [ "$n" = 1 ] || fail "alert $id: $n successful deliveries, want 1"
done
[ "$(received rec /hook)" = 4 ] || fail "webhook got $(received rec /hook) requests, want 4"
[ "$(q "SELECT attempts FROM alert_deliveries WHERE alert_id = $a")" = 2 ] ||
    fail "the killed attempt is not counted"
[ "$(q "SELECT count(*) FROM alerts WHERE delivered_at IS NULL")" = 0 ] || fail "undelivered alerts"
kill -TERM "$d3"
wait "$d3" || fail "d3 exited $?"
log "ok"
