# SIGKILL the daemon at several random moments during a 200k-sample ingest and restart it:
# in the end exactly the produced rows are stored, none twice.
source "$(dirname "$0")/lib.sh"
new_db
# 16 partitions keep each partition well under the mock cluster's ~5 MiB retention.
start_broker it.crash 16
total=200000
gen_samples 0 $total 100 >"$WORK/messages"
produce "$WORK/messages"

# Small batches: many transactions, so kills land mid-COPY, mid-commit and between batches.
opts=(-o ingest.batch_max_samples=3000 -o ingest.batch_max_wait=50ms)
kills=0
for round in 1 2 3 4 5; do
    start_daemon "run$round" "${opts[@]}"
    # Let it get going (past startup and the group join), then kill it somewhere in the middle.
    wait_until "round $round makes progress" 60 grep -q "assigned" "$WORK/run$round.log"
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    kills=$((kills + 1))
    log "killed round $round at $(count_samples) stored samples"
done
[ "$(count_samples)" -lt $total ] || log "note: ingest finished before the last kill"

start_daemon final "${opts[@]}"
wait_until "all $total samples" 120 samples_at_least $total
sleep 1
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "final daemon exited non-zero"

got=$(count_samples)
distinct=$(q "SELECT count(DISTINCT user_id) FROM samples")
[ "$got" -eq $total ] || fail "stored $got samples, want $total"
[ "$distinct" -eq $total ] || fail "$((got - distinct)) duplicates"
[ "$(q 'SELECT count(*) FROM dead_letters')" -eq 0 ] || fail "unexpected dead letters"
[ "$(q 'SELECT sum(next_offset) FROM kafka_offsets')" -eq $((total / 100)) ] || fail "offsets"
check_rollups_match_samples
log "ok: $kills kills, $got samples exactly once"
