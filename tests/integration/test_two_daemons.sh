# Two daemons in one consumer group split the partitions; one joins late and the other leaves
# mid-ingest (two rebalances); every sample is stored exactly once.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.group 16
total=200000
gen_samples 0 $total 100 >"$WORK/messages"
produce "$WORK/messages"

opts=(-o ingest.batch_max_samples=3000 -o ingest.batch_max_wait=50ms)
start_daemon a "${opts[@]}"
a=$DAEMON_PID
wait_until "a assigned" 60 grep -q "assigned" "$WORK/a.log"
start_daemon b "${opts[@]}"
b=$DAEMON_PID
wait_until "b assigned" 60 grep -q "assigned" "$WORK/b.log"
kill -TERM $a
wait $a || fail "daemon a exited non-zero"
wait_until "all $total samples" 120 samples_at_least $total
sleep 1
kill -TERM $b
wait $b || fail "daemon b exited non-zero"

[ "$(count_samples)" -eq $total ] || fail "stored $(count_samples), want $total"
[ "$(q 'SELECT count(DISTINCT user_id) FROM samples')" -eq $total ] || fail "duplicates"
[ "$(q 'SELECT sum(next_offset) FROM kafka_offsets')" -eq $((total / 100)) ] || fail "offsets"
grep -q "assigned 16 partition" "$WORK/b.log" || fail "b never took over all partitions"
check_rollups_match_samples
log "ok: $total samples exactly once across two rebalances"
