# SIGTERM mid-ingest: the daemon finishes the batch in flight, stores its offsets in the same
# transaction and exits 0; a restart resumes exactly there.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.term 8
total=100000
gen_samples 0 $total 100 >"$WORK/messages"
produce "$WORK/messages"

start_daemon d1 -o ingest.batch_max_samples=2000
wait_until "some rows" 60 samples_at_least 1
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "SIGTERM: exit status $?, want 0"
grep -q "consumer stopped" "$WORK/d1.log" || fail "no clean shutdown logged"

stored=$(count_samples)
messages=$(q 'SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets')
# Arrays of 100: stored rows and stored offsets must describe the same messages.
[ "$stored" -eq $((messages * 100)) ] || fail "stored $stored samples but offsets cover $messages messages"
log "stopped with $stored samples stored"

start_daemon d2
wait_until "all $total samples" 120 samples_at_least $total
sleep 1
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "second daemon exited non-zero"
[ "$(count_samples)" -eq $total ] || fail "stored $(count_samples), want $total"
[ "$(q 'SELECT count(DISTINCT user_id) FROM samples')" -eq $total ] || fail "duplicates"
check_rollups_match_samples
log "ok"
