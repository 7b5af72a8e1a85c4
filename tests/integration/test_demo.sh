# `regressd demo --quick`, the newcomer's first command in CI mode: it exits 0, PostgreSQL holds
# exactly the generated samples and one dead letter per malformed message (counted here, in the
# kept database, not taken from the demo's word), and the deploy check reports both planted
# regressions and nothing else. Then a second demo is interrupted mid-ingest (SIGINT, as Ctrl-C):
# while it runs its /metrics and /healthz answer, and it exits 130 leaving no database behind.
source "$(dirname "$0")/lib.sh"
require_postgres

num() { tr -d ,; } # "300,000" -> 300000
dbname_in() { sed -n 's/.*database \(regressd_demo_[0-9]*\) created.*/\1/p' "$1" | head -n 1; }

# ---- 1. the CI run, keeping its database ----------------------------------------------------
rc=0
timeout 120 "$REGRESSD" demo --quick --keep >"$WORK/demo.log" 2>&1 || rc=$?
DB=$(dbname_in "$WORK/demo.log") # lib.sh drops it on exit
[ $rc -eq 0 ] || { cat "$WORK/demo.log"; fail "demo --quick exited $rc"; }
[ -n "$DB" ] || fail "demo did not name its database"

generated=$(sed -n 's/^ *samples .* ok *\([0-9,]*\) valid samples generated.*/\1/p' "$WORK/demo.log" | num)
malformed=$(sed -n 's/^ *dead_letters .* ok *\([0-9,]*\) malformed messages generated.*/\1/p' "$WORK/demo.log" | num)
[ "$generated" = 300000 ] || fail "demo reports $generated generated samples, --quick makes 300000"
by_kind=$(sed -n 's/.*malformed messages by kind: //p' "$WORK/demo.log" | tr ' ' '\n' | awk '/^[0-9]+$/ {s += $1} END {print s + 0}')
[ "$malformed" -gt 0 ] && [ "$by_kind" = "$malformed" ] ||
    fail "malformed messages: $malformed, by kind: $by_kind"

[ "$(count_samples)" -eq "$generated" ] || fail "samples: $(count_samples), generated $generated"
[ "$(q 'SELECT count(*) FROM dead_letters')" -eq "$malformed" ] ||
    fail "dead letters: $(q 'SELECT count(*) FROM dead_letters'), malformed messages $malformed"
[ "$(q 'SELECT sum(requests) FROM rollups')" -eq "$generated" ] || fail "rollups do not sum to the samples"
messages=$(sed -n 's/.*all \([0-9,]*\) messages .* produced and stored.*/\1/p' "$WORK/demo.log" | num)
[ "$(q "SELECT sum(next_offset) FROM kafka_offsets WHERE consumer_group = 'regressd-demo'")" -eq "$messages" ] ||
    fail "kafka_offsets do not cover the $messages messages produced"

# The check: both planted commit regressions, no other endpoint, and the verdict recorded.
for ep in /feed /search; do
    grep -Eq "^ +\+6\.00% on $ep +-> regression, " "$WORK/demo.log" || fail "planted regression on $ep not reported"
done
! grep -q "also reported, not planted" "$WORK/demo.log" || fail "the check reported an unplanted regression"
grep -q "^regressd demo: done after .*: 300,000 of 300,000 samples stored, $malformed dead letters; the deploy check found 2 of 2 planted regressions$" "$WORK/demo.log" ||
    fail "closing line: $(tail -n 1 "$WORK/demo.log")"
[ "$(q "SELECT verdict FROM deploys WHERE \"commit\" = '8b01d7aa'")" = regression ] ||
    fail "deploy verdict not recorded as regression"
log "ok: $generated samples and $malformed dead letters stored, both planted regressions reported"

# ---- 2. interrupted mid-ingest -------------------------------------------------------------
"$REGRESSD" demo --samples 2000000 >"$WORK/demo-interrupted.log" 2>&1 &
pid=$!
PIDS+=($pid)
wait_until "the demo storing samples" 60 grep -q "stored [1-9]" "$WORK/demo-interrupted.log"
url=$(sed -n 's/.*HTTP API: \(http:[^ ]*\)\/metrics.*/\1/p' "$WORK/demo-interrupted.log")
[ -n "$url" ] || fail "no HTTP URL printed"
curl -sf "$url/metrics" | grep -Eq '^regressd_samples_stored_total [1-9]' || fail "$url/metrics"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" = 200 ] || fail "$url/healthz is not 200"
kill -INT "$pid"
wait_until "the interrupted demo to exit" 45 bash -c "! kill -0 $pid"
rc=0
wait "$pid" || rc=$?
[ $rc -eq 130 ] || fail "interrupted demo exited $rc, want 130"
grep -q "^regressd demo: interrupted after" "$WORK/demo-interrupted.log" || fail "no interrupted line"
intdb=$(dbname_in "$WORK/demo-interrupted.log")
[ -n "$intdb" ] || fail "interrupted demo did not name its database"
[ "$(psql -Atqc "SELECT count(*) FROM pg_database WHERE datname = '$intdb'" postgres)" -eq 0 ] ||
    fail "interrupted demo left database $intdb behind"
log "ok: interrupted demo exited 130 and dropped $intdb"
