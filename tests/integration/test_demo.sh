# `regressd demo --quick`, the newcomer's first command in CI mode: it exits 0, PostgreSQL holds
# exactly the generated samples and one dead letter per malformed message (counted here, in the
# kept database, not taken from the demo's word), the deploy check and the trend report both
# planted commit regressions and nothing else (the trend naming the deploy), the flag scan
# reports new_ranker=on on /profile and nothing else, and the alerts reached the demo's
# receiver (in the kept database: delivered to both receivers). Then a second demo is
# interrupted mid-ingest (SIGINT, as Ctrl-C): while it runs its /metrics and /healthz answer,
# and it exits 130 leaving no database behind.
source "$(dirname "$0")/lib.sh"
require_postgres

num() { tr -d ,; } # "300,000" -> 300000
dbname_in() { sed -n 's/.*database \(regressd_demo_[0-9]*\) created.*/\1/p' "$1" | head -n 1; }
# stage N: the demo's output from the heading of stage N to the next stage's
stage() { sed -n "/^ *[0-9.]*s \[$1\/9 /,/^ *[0-9.]*s \[$(($1 + 1))\/9 /p" "$WORK/demo.log"; }

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
[ "$(q 'SELECT sum(requests) FROM rollup_buckets')" -eq "$generated" ] || fail "rollups do not sum to the samples"
messages=$(sed -n 's/.*all \([0-9,]*\) messages .* produced and stored.*/\1/p' "$WORK/demo.log" | num)
[ "$(q "SELECT sum(next_offset) FROM kafka_offsets WHERE consumer_group = 'regressd-demo'")" -eq "$messages" ] ||
    fail "kafka_offsets do not cover the $messages messages produced"

# The check (stage 5) and the trend (stage 6): both planted commit regressions, no other
# endpoint; the check's verdict recorded, the trend naming the deploy among its suspects.
for n in 5 6; do
    stage $n >"$WORK/stage$n.out"
    for ep in /feed /search; do
        grep -Eq "^ +\+6\.00% on $ep +-> regression, " "$WORK/stage$n.out" ||
            fail "stage $n: planted regression on $ep not reported"
    done
    ! grep -q "also reported, not planted" "$WORK/stage$n.out" || fail "stage $n reported an unplanted regression"
done
[ "$(q "SELECT verdict FROM deploys WHERE \"commit\" = '8b01d7aa'")" = regression ] ||
    fail "deploy verdict not recorded as regression"
grep -q "^ *- deploy of 8b01d7aa at .*, verdict regression$" "$WORK/stage6.out" || fail "trend suspects do not name the deploy"
grep -q "the deploy of 8b01d7aa among the suspects -> named$" "$WORK/stage6.out" || fail "trend: deploy not named"

# The flag scan (stage 7): new_ranker=on on /profile, and no other regression in its table.
stage 7 >"$WORK/stage7.out"
grep -Eq '^ +\+10\.00% on /profile with new_ranker=on -> regression, ' "$WORK/stage7.out" ||
    fail "flag scan: new_ranker=on on /profile not reported"
rows=$(grep -Ec '^ +regression +[-+]' "$WORK/stage7.out" || true)
[ "$rows" -eq 1 ] && grep -Eq '^ +regression +\+[0-9.]+% .* new_ranker=on /profile ' "$WORK/stage7.out" ||
    fail "flag scan: $rows regression rows, want only new_ranker=on /profile"
! grep -q "also reported, not planted" "$WORK/stage7.out" || fail "flag scan reported an unplanted regression"
[ "$(q "SELECT count(*) FROM findings WHERE kind IN ('trend', 'flag') AND verdict = 'regression'")" -eq 2 ] ||
    fail "trend and flag findings not stored as regressions"

# The alerts (stage 8): one per analysis, each received as webhook and as Slack message; in the
# kept database delivered to both receivers (delivered_at set by the delivery loop).
stage 8 >"$WORK/stage8.out"
grep -Eq '^ +#[0-9]+ +deploy +web: .*after deploy 8b01d7aa' "$WORK/stage8.out" || fail "no deploy alert listed"
[ "$(grep -c 'webhook received  Slack received  delivered_at set' "$WORK/stage8.out")" -eq 3 ] ||
    fail "not every alert reached the receiver"
grep -q '^ *title: web: .* after deploy 8b01d7aa' "$WORK/stage8.out" || fail "no webhook title line of the deploy alert"
grep -Eq '^ +\| /feed +instr/req +\+' "$WORK/stage8.out" || fail "the Slack rendering lacks the regressions table"
grep -q '^ *| Suspects: deploy of 8b01d7aa' "$WORK/stage8.out" || fail "the Slack rendering lacks the trend's suspects"
[ "$(q "SELECT string_agg(kind, ',' ORDER BY id) FROM alerts")" = deploy,trend,flag ] ||
    fail "alerts: $(q "SELECT string_agg(kind, ',' ORDER BY id) FROM alerts")"
[ "$(q "SELECT count(*) FROM alerts WHERE kind = 'deploy' AND delivered_at IS NOT NULL")" -eq 1 ] ||
    fail "the deploy alert has no delivered_at"
[ "$(q "SELECT count(*) FROM alert_deliveries WHERE state = 'delivered' AND receiver IN ('webhook', 'slack')")" -eq 6 ] ||
    fail "alert deliveries: $(q "SELECT string_agg(alert_id || ' ' || receiver || ' ' || state, '; ') FROM alert_deliveries")"

grep -q "^regressd demo: done after .*: 300,000 of 300,000 samples stored, $malformed dead letters; the deploy check found 2 of 2, the trend found 2 of 2, the flag scan found 1 of 1 planted regressions; 3 of 3 alerts reached the receiver$" "$WORK/demo.log" ||
    fail "closing line: $(tail -n 1 "$WORK/demo.log")"
log "ok: $generated samples and $malformed dead letters stored; check, trend and flag scan found their plants; 3 alerts delivered"

# ---- 2. interrupted mid-ingest -------------------------------------------------------------
"$REGRESSD" demo --samples 2000000 >"$WORK/demo-interrupted.log" 2>&1 &
pid=$!
PIDS+=($pid)
wait_until "the demo storing samples" 60 grep -q "stored [1-9]" "$WORK/demo-interrupted.log"
url=$(sed -n 's/.*HTTP API: \(http:[^ ]*\)\/metrics.*/\1/p' "$WORK/demo-interrupted.log")
[ -n "$url" ] || fail "no HTTP URL printed"
curl -sf "$url/metrics" >"$WORK/metrics.txt" || fail "$url/metrics"
grep -Eq '^regressd_samples_stored_total [1-9]' "$WORK/metrics.txt" || fail "$url/metrics: nothing stored"
grep -q '^regressd_alert_delivery_leader ' "$WORK/metrics.txt" || fail "$url/metrics: no alert delivery loop"
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
