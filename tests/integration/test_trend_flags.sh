# Trends and flag scans on synthetic traffic through the real ingest (generator -> mock Kafka ->
# `regressd run` -> rollups and flag rollups), then `regressd trend` and `regressd flags`:
#   two hours a day apart, the same users and endpoints (one seed), other draws (stream seeds);
#   web: +5 % on /feed in the later hour         -> trend finds /feed only, interval holds 5 %
#   api: new_ranker=on (half the users) +10 % on /search in both hours
#                                                -> flags finds new_ranker=on on /search only
#   dark_mode=true (30 % of users), no effect    -> nothing
#   api's trend (nothing changed)                -> exit 0
#   suspects: a deploy of web between the windows, and beta=on (40 % of users, new in the later
#   hour)
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.trend 64
start_daemon d1 -o deploy.check_interval=1s

# The later hour ends on a 10-minute boundary at least 10 minutes ago.
now_s=$(date +%s)
end_s=$((now_s / 600 * 600 - 600))
cand_start=$((end_s - 3600))
base_start=$((cand_start - 86400))
common=(--brokers "$BROKER" --topic it.trend --quiet --seed 11 --services web,api --users 20000
    --day-amplitude 0 --commit c0 --flag new_ranker=on:0.5/off --flag dark_mode=true:0.3
    --plant 'service=api,endpoint=/search:+10%@flag=new_ranker=on')
"$REGRESSD" generate "${common[@]}" --stream-seed 1 --samples 200000 \
    --start $((base_start * 1000)) --end $(((base_start + 3600) * 1000)) ||
    fail "generator failed (earlier hour)"
"$REGRESSD" generate "${common[@]}" --stream-seed 2 --samples 200000 --flag beta=on:0.4 \
    --start $((cand_start * 1000)) --end $((end_s * 1000)) \
    --plant "service=web,endpoint=/feed:+5%@window=$((cand_start * 1000))/$((end_s * 1000))" ||
    fail "generator failed (later hour)"
wait_until "400000 samples stored" 240 samples_at_least 400000
check_rollups_match_samples
# The daemon compacts closed blocks (and merges their flag rows into bucket arrays): the
# comparisons below read merged blocks, and the merged rows must still agree with samples.
compacted_to() { [ "$(q "SELECT coalesce(max(extract(epoch FROM block))::bigint, 0) FROM rollup_block_state")" -ge "$1" ]; }
wait_until "blocks compacted up to the end of the later hour" 180 compacted_to $((end_s - 600))
[ "$(q 'SELECT count(*) FROM rollup_flag_blocks')" -gt 0 ] || fail "no flag rows merged"
check_rollups_match_samples
"$REGRESSD" deploy --service web --commit c5 --at $(((end_s - 43200) * 1000)) >/dev/null ||
    fail "deploy command failed"

at=$(date -u -d "@$end_s" +%Y-%m-%dT%H:%M:%SZ)
run() { # EXPECTED_STATUS NAME regressd-args...
    local want=$1 name=$2 rc=0
    shift 2
    "$REGRESSD" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$WORK/$name.out" "$WORK/$name.err"; fail "$name: exit $rc, want $want"; }
}

# --- trend: the planted endpoint only
run 1 trend_web trend --service web --window 1h --offset 1d --at "$at" --json
f="$WORK/trend_web.out"
got=$(jq -r '[.results[] | select(.verdict == "regression" and .endpoint != null) | .endpoint] | sort | join(",")' "$f")
[ "$got" = /feed ] || fail "trend web: regressed endpoints \"$got\", want /feed"
jq -e '.results[] | select(.endpoint == "/feed") | .ci_low_pct <= 5 and .ci_high_pct >= 5' "$f" >/dev/null ||
    fail "trend web: the interval of /feed does not contain 5%"
jq -e --arg a "$(date -u -d "@$cand_start" +%Y-%m-%dT%H:%M:%S)" --arg b "$(date -u -d "@$base_start" +%Y-%m-%dT%H:%M:%S)" \
    '.kind == "trend" and .window == "1h" and .offset == "1d" and (.candidate.from | startswith($a))
     and (.baseline.from | startswith($b)) and .candidate.samples > 50000 and .baseline.samples > 50000
     and ([.results[] | select(.metric == "instructions_per_request")] | length) >= 5
     and .results[0].metric == "instructions_per_user"' "$f" >/dev/null ||
    { jq 'del(.results)' "$f"; fail "trend web: report shape or windows"; }
jq -e '[.suspects[] | select(.type == "deploy" and .commit == "c5")] | length == 1' "$f" >/dev/null ||
    fail "trend web: the deploy of c5 is not a suspect"
jq -e '[.suspects[] | select(.type == "flag" and .name == "beta" and .value == "on")] | length == 1' "$f" >/dev/null ||
    fail "trend web: beta=on is not a suspect"
jq -e '[.suspects[] | select(.type == "flag" and .name != "beta")] | length == 0' "$f" >/dev/null ||
    fail "trend web: a flag whose share did not move is a suspect"
! grep -qi nan "$f" || fail "trend web: NaN in JSON"
run 1 trend_web_text trend --service web --window 1h --offset 1d --at "$at"
grep -q 'suspects (between the windows)' "$WORK/trend_web_text.out" || fail "trend text: no suspects"
grep -q '^  regression .*/feed' "$WORK/trend_web_text.out" || fail "trend text: no /feed regression"

# --- trend: nothing changed on api (the flag effect is in both hours)
run 0 trend_api trend --service api --window 1h --offset 1d --at "$at" --json
[ "$(jq '[.results[] | select(.verdict == "regression")] | length' "$WORK/trend_api.out")" -eq 0 ] ||
    fail "trend api: a regression on unchanged traffic"

# --- flags: exactly new_ranker=on, on /search (its users' per-user cost may show it too)
run 1 flags_api flags --service api --window 1h --at "$at" --json
f="$WORK/flags_api.out"
got=$(jq -r '[.results[] | select(.verdict == "regression") | "\(.flag.name)=\(.flag.value)"] | unique | join(",")' "$f")
[ "$got" = new_ranker=on ] || fail "flags api: regressed flag values \"$got\", want new_ranker=on"
got=$(jq -r '[.results[] | select(.verdict == "regression" and .endpoint != null) | .endpoint] | join(",")' "$f")
[ "$got" = /search ] || fail "flags api: regressed endpoints \"$got\", want /search"
jq -e '.results[] | select(.endpoint == "/search" and .flag.name == "new_ranker" and .flag.value == "on") | .ci_low_pct <= 10 and .ci_high_pct >= 10' "$f" >/dev/null ||
    fail "flags api: the interval of /search with new_ranker=on does not contain 10%"
jq -e '.kind == "flag" and .flag_values >= 3 and ([.results[] | select(.flag.name == "dark_mode")] | length) > 0
       and all(.results[]; .flag != null)' "$f" >/dev/null || fail "flags api: report shape"
! grep -qi nan "$f" || fail "flags api: NaN in JSON"

# --- flags: web has no flag effect (beta is new, dark_mode and new_ranker do nothing there)
run 0 flags_web flags --service web --window 1h --at "$at" --json
[ "$(jq '[.results[] | select(.verdict == "regression")] | length' "$WORK/flags_web.out")" -eq 0 ] ||
    fail "flags web: a regression without any flag effect"

# --- a flag on (almost) everyone is inconclusive, not compared: min_share 45% makes the 50/50
# split of new_ranker lopsided nowhere, the 30% of dark_mode lopsided everywhere
run 1 flags_share -o flags.min_share_pct=35 flags --service api --window 1h --at "$at" --json
jq -e '[.results[] | select(.flag.name == "dark_mode")] | all(.verdict == "inconclusive" and (.note | test("comparison group")))' \
    "$WORK/flags_share.out" >/dev/null || fail "flags: a lopsided value was compared"

# --- usage errors
run 2 u1 trend --service web --window 1h
run 2 u2 trend --service web --window 7m --offset 1d
run 2 u3 trend --service web --window 1d --offset 1h
run 2 u4 flags --service web --offset 1d
run 2 u5 flags --service 'w b'
run 2 u6 trend --service web --window 1h --offset 1d --at yesterday

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exited non-zero"
log "ok: trend finds the planted endpoint and names the suspects, flags finds the planted value"
