# Deploy checks on synthetic traffic through the real ingest (generator -> mock Kafka ->
# `regressd run` -> rollups), then `regressd check`:
#   web: commit c1 with +6 % on /feed and /search    -> exit 1, both flagged, intervals hold 6 %,
#                                                       no other endpoint flagged
#   api: commit c3, unchanged                         -> exit 0
#   web: commit c9, three minutes of data             -> exit 3 (also with a bounded --wait)
#   an unknown commit                                 -> exit 3; bad options -> exit 2
# Deploys are recorded automatically from the first samples of each commit; the `deploy`
# command then takes over the automatic record. --day-amplitude 0: instructions per user is
# compared over adjacent hours (see include/regressd/detector.h), which a daily rhythm in
# per-user activity would confound.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.deploys 64
start_daemon d1

# Event time: the three hours before now, starting on a 10-minute boundary so that the
# windows (10-minute blocks) fall the same way on every run.
now_s=$(date +%s)
start_s=$(((now_s - 3 * 3600) / 600 * 600))
"$REGRESSD" generate --brokers "$BROKER" --topic it.deploys --quiet --seed 7 --samples 300000 \
    --start $((start_s * 1000)) --end $(((now_s - 60) * 1000)) --services web,api \
    --users 20000 --day-amplitude 0 --commit c0 \
    --deploy web:c1@+70m/10m --deploy api:c3@+70m/10m --deploy web:c9@-3m \
    --plant 'service=web,endpoint=/feed:+6%@commit=c1' \
    --plant 'service=web,endpoint=/search:+6%@commit=c1' \
    --truth "$WORK/truth.json" || fail "generator failed"
wait_until "300000 samples stored" 240 samples_at_least 300000

# Automatic deploys: one per new commit, baseline = the commit before it.
[ "$(q "SELECT string_agg(service || ':' || \"commit\" || '<' || baseline_commit || ':' || source, ' ' ORDER BY service, \"commit\") FROM deploys")" = \
    "api:c3<c0:auto web:c1<c0:auto web:c9<c1:auto" ] || { q "SELECT * FROM deploys"; fail "automatic deploys"; }

check() { # EXPECTED_STATUS NAME regressd-check-args...
    local want=$1 name=$2 rc=0
    shift 2
    "$REGRESSD" check --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$WORK/$name.json" "$WORK/$name.err"; fail "$name: exit $rc, want $want"; }
}
flagged() { jq -r '[.results[] | select(.verdict == "regression") | .endpoint // .metric] | sort | join(",")' "$WORK/$1.json"; }

# --- the planted regression
check 1 web_c1 --service web --commit c1
[ "$(jq -r .verdict "$WORK/web_c1.json")" = regression ] || fail "web c1: verdict"
# Flagged: exactly the two planted endpoints (the service-level result may be flagged too, as
# the plants move instructions per user by about 3.7 %, but no other endpoint).
got=$(jq -r '[.results[] | select(.verdict == "regression" and .endpoint != null) | .endpoint] | sort | join(",")' "$WORK/web_c1.json")
[ "$got" = "/feed,/search" ] || fail "web c1: flagged endpoints \"$got\", want /feed,/search"
for ep in /feed /search; do
    jq -e --arg ep "$ep" '.results[] | select(.endpoint == $ep) | .ci_low_pct <= 6 and .ci_high_pct >= 6' \
        "$WORK/web_c1.json" >/dev/null || fail "web c1: the interval of $ep does not contain 6%"
done
n=$(jq '[.results[] | select(.metric == "instructions_per_request")] | length' "$WORK/web_c1.json")
[ "$n" -ge 10 ] || fail "web c1: only $n endpoint results"
# CONTRACT shape: numbers are numbers or null, never NaN
jq -e '.kind == "deploy" and .service == "web" and (.baseline.samples | type) == "number"
       and (.candidate.users | type) == "number" and .confidence == 0.95
       and all(.results[]; (.delta_pct | type) as $t | $t == "number" or $t == "null")' \
    "$WORK/web_c1.json" >/dev/null || fail "web c1: JSON shape"
! grep -qi 'nan' "$WORK/web_c1.json" || fail "web c1: NaN in JSON"
# the human report: sorted by impact, with "where it happened"
"$REGRESSD" check --service web --commit c1 >"$WORK/web_c1.txt" && fail "text check must exit 1" || true
grep -q '^where it happened: ' "$WORK/web_c1.txt" || fail "web c1: no decomposition"
first=$(awk '/^  (regression|no_change|improvement|inconclusive) / && /\/[a-z]/ {print; exit}' "$WORK/web_c1.txt")
echo "$first" | grep -q '/search' || { cat "$WORK/web_c1.txt"; fail "web c1: /search (largest impact) not first"; }

# --- an unchanged deploy
check 0 api_c3 --service api --commit c3
[ -z "$(flagged api_c3)" ] || fail "api c3: flagged $(flagged api_c3)"

# --- too little post-deploy data: inconclusive, also after a bounded --wait
check 3 web_c9 --service web --commit c9
t0=$SECONDS
check 3 web_c9_wait --service web --commit c9 --wait 3s
[ $((SECONDS - t0)) -ge 2 ] && [ $((SECONDS - t0)) -le 20 ] || fail "--wait 3s took $((SECONDS - t0))s"
check 3 unknown --service web --commit nope
check 2 usage --service 'w b' --commit c1
check 2 usage2 --service web
check 2 usage3 --service web --commit c1 --wait soon

# --- an explicit baseline: c1 against itself is a usage error, api c3 against c0 is the same
check 2 self --service web --commit c1 --baseline c1
check 0 api_c3_explicit --service api --commit c3 --baseline c0
[ "$(jq -c '[.results[].delta_pct]' "$WORK/api_c3.json")" = "$(jq -c '[.results[].delta_pct]' "$WORK/api_c3_explicit.json")" ] ||
    fail "explicit baseline gives another result"

# --- the deploy hook takes over the automatic record of the same commit
id=$("$REGRESSD" deploy --service web --commit c9) || fail "deploy command failed"
[ "$(q "SELECT source FROM deploys WHERE id = $id")" = hook ] || fail "hook did not take over the auto deploy"
[ "$(q "SELECT count(*) FROM deploys WHERE \"commit\" = 'c9'")" -eq 1 ] || fail "second deploy row for c9"
id2=$("$REGRESSD" deploy --service web --commit c10 --at "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[ "$(q "SELECT baseline_commit FROM deploys WHERE id = $id2")" = c9 ] || fail "baseline of a hook deploy"
id3=$("$REGRESSD" deploy --service web --commit c11 --baseline c0 --at $((now_s * 1000)))
[ "$(q "SELECT baseline_commit FROM deploys WHERE id = $id3")" = c0 ] || fail "explicit baseline of a hook deploy"
"$REGRESSD" deploy --service web --commit c12 --at yesterday 2>/dev/null && fail "bad --at accepted" || true

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exited non-zero"
log "ok: regression found on /feed and /search, unchanged deploy passes, little data is inconclusive"
