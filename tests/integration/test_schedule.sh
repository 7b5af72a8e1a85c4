# The schedule inside `regressd run`, on the event-time clock (schedule.clock = event), so that
# hours of event time pass in seconds:
#   two daemons of one group: one runs the schedule; every hourly slot runs once, no gaps
#   both stopped, three more hours of traffic, one daemon back: the missed slots are run, once
#   retention: an old samples partition is dropped, old rollups deleted, recent data kept
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.sched 64
opts=(-o schedule.clock=event -o schedule.jobs=hourly,flags -o schedule.settle=1s
    -o deploy.check_interval=1s)
start_daemon d1 "${opts[@]}"
pid1=$DAEMON_PID
start_daemon d2 "${opts[@]}"
pid2=$DAEMON_PID

now_s=$(date +%s)
t0=$((now_s / 3600 * 3600 - 30 * 3600))
gen() { # FROM_S TO_S STREAM_SEED
    "$REGRESSD" generate --brokers "$BROKER" --topic it.sched --quiet --seed 5 --stream-seed "$3" \
        --samples 30000 --users 3000 --day-amplitude 0 --flag ranker=v2:0.5/v1 \
        --start $(($1 * 1000)) --end $(($2 * 1000)) || fail "generator failed"
}
# the slots of a job, as hours since t0, space separated
slots() { q "SELECT string_agg(((extract(epoch FROM slot)::bigint - $t0) / 3600)::text, ' ' ORDER BY slot) FROM job_runs WHERE job = '$1'"; }
# true when the job's slots are consecutive hours ending at hour $2
consecutive_to() {
    local s
    s=$(slots "$1")
    [ -n "$s" ] && [ "${s##* }" -eq "$2" ] || return 1
    local prev=""
    for h in $s; do
        [ -z "$prev" ] || [ "$h" -eq $((prev + 1)) ] || return 1
        prev=$h
    done
}

# hours 0-3 of event time (and 5 minutes of hour 3, so that hour 3 is known to be over)
gen "$t0" $((t0 + 3 * 3600 + 300)) 1
wait_until "30000 samples stored" 120 samples_at_least 30000
wait_until "the hourly trend ran for hour 3" 120 consecutive_to trend:1h:1d 3
wait_until "the 1-week trend ran for hour 3" 60 consecutive_to trend:1h:1w 3
wait_until "the flag scan ran for hour 3" 60 consecutive_to flags:1h 3
leaders=$(cat "$WORK/d1.log" "$WORK/d2.log" | grep -c 'this daemon runs the scheduled jobs')
[ "$leaders" -eq 1 ] || fail "$leaders daemons ran the schedule"
for job in trend:1h:1d flags:1h; do
    [ "$(q "SELECT count(*) FROM findings WHERE job = '$job'")" -eq "$(q "SELECT count(*) FROM job_runs WHERE job = '$job'")" ] ||
        fail "$job: not one finding per run of the one service"
done
[ "$(q "SELECT count(DISTINCT kind) FROM findings WHERE job IS NOT NULL")" -eq 2 ] || fail "findings kinds"
first=$(slots trend:1h:1d)
first=${first%% *}

kill -TERM "$pid1" "$pid2"
wait "$pid1" || fail "d1 exited non-zero"
wait "$pid2" || fail "d2 exited non-zero"

# three more hours while no daemon runs, then one daemon again, with retention on
gen $((t0 + 3 * 3600 + 300)) $((t0 + 6 * 3600 + 300)) 2
q "SELECT regressd_ensure_samples_partition(current_date - 25)" >/dev/null
q "INSERT INTO samples (ts, service, endpoint, \"commit\", user_hash, instructions)
   VALUES (now() - interval '25 days', 'web', '/feed', 'old', 1, 1)"
q "INSERT INTO rollups VALUES ('web', '/feed', 'old', date_trunc('minute', now() - interval '500 days'),
   '{1}', '{1}', '{1}', '{1}', '{0}', '{0}', '{0}', '{0}', '{0}')"
q "INSERT INTO rollup_flags VALUES ('web', '/feed', 'f', 'v', now() - interval '500 days', '{1}', '{1}', '{1}', '{0}', '{0}')"
old_part=samples_p$(date -u -d '25 days ago' +%Y%m%d)
[ "$(q "SELECT to_regclass('$old_part') IS NOT NULL")" = t ] || fail "old partition not created"
port=$((20000 + RANDOM % 20000))
start_daemon d3 "${opts[@]/hourly,flags/hourly,flags,retention}" -o retention.samples=20d \
    -o http.listen=127.0.0.1:$port
partition_gone() { [ "$(q "SELECT to_regclass('$old_part') IS NULL")" = t ]; }
wait_until "retention dropped $old_part" 60 partition_gone
wait_until "60000 samples stored" 120 samples_at_least 60000
wait_until "the hourly trend caught up to hour 6" 120 consecutive_to trend:1h:1d 6
wait_until "the flag scan caught up to hour 6" 60 consecutive_to flags:1h 6
got=$(slots trend:1h:1d)
[ "${got%% *}" -eq "$first" ] || fail "slots before the stop changed: $got"
[ "$(q "SELECT count(*) FROM (SELECT job, slot, service FROM findings WHERE job IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" -eq 0 ] ||
    fail "a slot was analysed twice"
[ "$(q "SELECT count(*) FROM rollups WHERE \"commit\" = 'old'")" -eq 0 ] || fail "old rollups kept"
[ "$(q "SELECT count(*) FROM rollup_flags WHERE flag = 'f'")" -eq 0 ] || fail "old flag rollups kept"
[ "$(q "SELECT count(*) FROM samples")" -eq 60000 ] || fail "retention dropped recent samples"
[ "$(q "SELECT count(*) FROM job_runs WHERE job = 'retention'")" -ge 1 ] || fail "retention not recorded"
# /metrics: this daemon leads and counts its runs (three catch-up hours of the hourly trend)
curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "no /metrics"
grep -q '^regressd_schedule_leader 1$' "$WORK/metrics.txt" || fail "metrics: not the schedule leader"
runs=$(sed -n 's/^regressd_job_runs_total{job="trend:1h:1d"} //p' "$WORK/metrics.txt")
[ "${runs:-0}" -ge 3 ] || fail "metrics: $runs hourly trend runs, want at least 3"
last=$(sed -n 's/^regressd_job_last_slot_timestamp_seconds{job="trend:1h:1d"} //p' "$WORK/metrics.txt")
[ "$last" -eq $((t0 + 6 * 3600)) ] || fail "metrics: last slot $last, want $((t0 + 6 * 3600))"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "d3 exited non-zero"
log "ok: one daemon ran every hourly slot once, caught up after a stop; retention dropped old data"
