# The deploy hook over HTTP and the daemon's own checks:
#   POST /v1/deploys -> 201 {"id"}, the same deploy again -> 201 with the same id, bad bodies
#   -> 400, no token -> 401; GET /v1/deploys/{id} -> the deploy, 404 for an unknown one.
#   A hook recorded before the samples keeps the automatic record away; once the window is
#   complete the daemon decides it: deploys.verdict, the report in GET, a findings row.
#   A commit seen without a hook becomes an automatic deploy and is decided too.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.deploy_api 64
port=$((20000 + RANDOM % 20000))
token=it-secret-$$
start_daemon d1 -o "http.listen=127.0.0.1:$port" -o "http.token=$token" \
    -o deploy.check_interval=1s -o deploy.settle=1s
url=http://127.0.0.1:$port
wait_until "HTTP up" 30 curl -s -o /dev/null "$url/metrics"

post() { # BODY [TOKEN] -> prints "STATUS BODY"
    curl -s -o "$WORK/post.out" -w '%{http_code}' -X POST -H "Authorization: Bearer ${2-$token}" \
        -H 'Content-Type: application/json' --data "$1" "$url/v1/deploys"
    printf ' %s' "$(cat "$WORK/post.out")"
}
expect_status() { # WANT "STATUS BODY" WHAT
    [ "${2%% *}" = "$1" ] || fail "$3: got ${2}, want status $1"
}

now_s=$(date +%s)
start_s=$(((now_s - 4 * 3600) / 600 * 600))
deploy_ms=$(((start_s + 70 * 60) * 1000))

# --- errors
expect_status 401 "$(post '{"service":"web","commit":"c1"}' wrong)" "wrong token"
expect_status 400 "$(post '{"service":"web"}')" "missing commit"
expect_status 400 "$(post '{"service":"w b","commit":"c1"}')" "bad service"
expect_status 400 "$(post '{"service":"web","commit":"c1","at":"yesterday"}')" "bad at"
expect_status 400 "$(post 'not json')" "invalid JSON"
expect_status 400 "$(post '[1]')" "not an object"
expect_status 404 "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/deploys/999")" "unknown id"
expect_status 404 "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/deploys/abc")" "bad id"
expect_status 405 "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/deploys")" "GET on the collection"

# --- the hook, before any sample: explicit baseline and time
r=$(post "{\"service\":\"web\",\"commit\":\"c1\",\"baseline\":\"c0\",\"at\":$deploy_ms}")
expect_status 201 "$r" "record c1"
id=$(echo "${r#* }" | jq -r .id)
[ "$id" -gt 0 ] || fail "no id in $r"
r=$(post '{"service":"web","commit":"c1"}')
expect_status 201 "$r" "the same deploy again"
[ "$(echo "${r#* }" | jq -r .id)" = "$id" ] || fail "a retried hook got another id: $r"
curl -s "$url/v1/deploys/$id" >"$WORK/get1.json"
jq -e --arg at "$(date -u -d @$((deploy_ms / 1000)) +%Y-%m-%dT%H:%M:%S)" \
    '.service == "web" and .commit == "c1" and .baseline_commit == "c0" and .source == "hook"
     and .verdict == null and .report == null and (.deployed_at | startswith($at))' \
    "$WORK/get1.json" >/dev/null || { cat "$WORK/get1.json"; fail "GET before the verdict"; }

# --- traffic: web gets c1 (with the hook) and later c2 (automatic); +6 % on /feed in c1
"$REGRESSD" generate --brokers "$BROKER" --topic it.deploy_api --quiet --seed 11 \
    --samples 250000 --start $((start_s * 1000)) --end $(((now_s - 60) * 1000)) \
    --users 20000 --day-amplitude 0 --commit c0 --deploy "c1@$deploy_ms/10m" \
    --deploy c2@+140m/5m --plant '/feed:+6%@commit=c1' || fail "generator failed"
wait_until "250000 samples stored" 240 samples_at_least 250000
[ "$(q "SELECT count(*) FROM deploys WHERE \"commit\" = 'c1'")" -eq 1 ] || fail "c1 recorded twice"

# --- the daemon decides both deploys once their windows are complete
wait_until "both deploys decided" 120 bash -c "[ \$(psql -d $DB -Atqc 'SELECT count(*) FROM deploys WHERE verdict IS NOT NULL') -eq 2 ]"
curl -s "$url/v1/deploys/$id" >"$WORK/get2.json"
jq -e '.verdict == "regression" and .report.kind == "deploy" and .report.verdict == "regression"
       and .report.deploy_id == .id and (.decided_at | type) == "string"
       and any(.report.results[]; .endpoint == "/feed" and .verdict == "regression")' \
    "$WORK/get2.json" >/dev/null || { jq . "$WORK/get2.json"; fail "GET after the verdict"; }
auto=$(q "SELECT id FROM deploys WHERE \"commit\" = 'c2' AND source = 'auto' AND baseline_commit = 'c1'")
[ -n "$auto" ] || { q "SELECT * FROM deploys"; fail "no automatic deploy of c2 against c1"; }
# c2 drops the +6 % again: an improvement on /feed, never a regression
[ "$(q "SELECT verdict FROM deploys WHERE id = $auto")" != regression ] || fail "c2 decided as a regression"
# one findings row per decided deploy, with the same report
[ "$(q "SELECT count(*) FROM findings WHERE kind = 'deploy'")" -eq 2 ] || fail "findings rows"
[ "$(q "SELECT f.verdict = d.verdict AND f.report = d.report AND f.service = 'web' FROM findings f JOIN deploys d ON d.id = f.deploy_id WHERE d.id = $id")" = t ] ||
    fail "finding differs from the deploy"
# the CLI, for the same deploy, gives the same results as the stored report
"$REGRESSD" check --service web --commit c1 --json >"$WORK/cli.json" || true
[ "$(jq -c '[.results[] | [.endpoint, .verdict, .delta_pct]]' "$WORK/cli.json")" = \
  "$(jq -c '[.report.results[] | [.endpoint, .verdict, .delta_pct]]' "$WORK/get2.json")" ] ||
    fail "check --json and the stored report differ"
[ "$(q 'SELECT count(*) FROM rollup_block_state')" -gt 0 ] || fail "the daemon compacted no block"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exited non-zero"

# without the compacted blocks, a check reads the minute rollups and gets the same numbers
q 'DELETE FROM rollup_block_state' >/dev/null
"$REGRESSD" check --service web --commit c1 --json >"$WORK/cli2.json" || true
[ "$(jq -c '[.results[] | [.endpoint, .delta_pct, .ci_low_pct]]' "$WORK/cli.json")" = \
  "$(jq -c '[.results[] | [.endpoint, .delta_pct, .ci_low_pct]]' "$WORK/cli2.json")" ] ||
    fail "compacted and minute rollups give different results"
log "ok: hook, GET, daemon verdicts, findings"
