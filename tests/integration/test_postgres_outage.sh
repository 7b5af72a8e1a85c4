# Stop PostgreSQL for 10 s in the middle of an ingest: the daemon keeps retrying, reports 503
# on /healthz, logs the outage once, and in the end every sample is stored exactly once.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.outage 8
cluster=$(pg_lsclusters -h | awk -v port="${PGPORT:-5432}" '$3 == port {print $1 " " $2; exit}')
[ -n "$cluster" ] || fail "cannot find the PostgreSQL cluster on port ${PGPORT:-5432}"
# Whatever happens, leave the cluster running for the tests after this one.
restart_postgres() { pg_ctlcluster $cluster start 2>/dev/null || true; }
trap 'restart_postgres; cleanup' EXIT

port=$((20000 + RANDOM % 20000))
start_daemon d1 -o http.listen=127.0.0.1:$port -o ingest.batch_max_samples=2000
total=100000
# Produce while consuming, in five slices, so part of the traffic arrives during the outage.
for i in 0 1 2 3 4; do
    gen_samples $((i * 20000)) 20000 100 >"$WORK/slice$i"
done
produce "$WORK/slice0"
wait_until "first rows" 60 samples_at_least 1
wait_until "healthy" 20 bash -c "curl -sf http://127.0.0.1:$port/healthz"

log "stopping PostgreSQL ($cluster)"
pg_ctlcluster $cluster stop -m fast
produce "$WORK/slice1"
produce "$WORK/slice2"
sleep 5
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
[ "$code" = 503 ] || fail "/healthz answered $code during the outage, want 503"
sleep 5
pg_ctlcluster $cluster start
log "PostgreSQL back"
produce "$WORK/slice3"
produce "$WORK/slice4"
wait_until "all $total samples" 120 samples_at_least $total
sleep 1
wait_until "healthy again" 20 bash -c "curl -sf http://127.0.0.1:$port/healthz"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exited non-zero"

[ "$(count_samples)" -eq $total ] || fail "stored $(count_samples), want $total"
[ "$(q 'SELECT count(DISTINCT user_id) FROM samples')" -eq $total ] || fail "duplicates"
down=$(grep -c "PostgreSQL: .*retrying" "$WORK/d1.log" || true)
[ "$down" -le 2 ] || fail "outage logged $down times; want once per state change"
[ "$down" -ge 1 ] || fail "outage not logged"
grep -q "PostgreSQL: connected" "$WORK/d1.log" || fail "recovery not logged"
check_rollups_match_samples
log "ok: $total samples exactly once across a 10 s outage"
