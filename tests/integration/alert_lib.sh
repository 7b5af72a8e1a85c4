# Shared by the alert integration tests (test_alert_*.sh), sourced after lib.sh: reports in the
# `check --json` shape, the outbox through tests/support/alert_tool, the loopback webhook
# receiver, the delivery loop, and Debian's prometheus-alertmanager. Every wait is bounded.

SUPPORT_DIR=$(dirname "$MOCKBROKER")
ALERT_TOOL="$SUPPORT_DIR/alert_tool"
WEBHOOK_RECEIVER="$SUPPORT_DIR/webhook_receiver"
ALERTMANAGER=/usr/bin/prometheus-alertmanager

# Quick retries, so a test sees several attempts in seconds.
ALERT_FAST=(-o alert.poll_interval=100ms -o alert.connect_timeout=1s -o alert.timeout=1s
    -o alert.retry_initial=200ms -o alert.retry_max=1s)

migrate() { "$REGRESSD" migrate >>"$WORK/migrate.log" 2>&1 || fail "regressd migrate failed"; }

# report FILE KIND SERVICE BASE_LABEL CAND_LABEL HOUR [ENDPOINT:DELTA]...: a report whose
# candidate window is HOUR:00-HOUR+1:00 on 2026-11-21 and the baseline a day earlier; every
# ENDPOINT:DELTA[:VERDICT] is an instructions_per_request result, a regression unless VERDICT
# says otherwise ("-" for the service level, instructions_per_user), plus one no_change result
# that must never be alerted.
report() {
    local file=$1 kind=$2 service=$3 base=$4 cand=$5 hour=$6
    shift 6
    local results="[]" spec ep delta verdict
    for spec in "$@" "feed/steady:0.1:no_change"; do
        IFS=: read -r ep delta verdict <<<"$spec"
        results=$(jq -c --arg ep "$ep" --argjson d "$delta" --arg v "${verdict:-regression}" '. + [{
            metric: (if $ep == "-" then "instructions_per_user" else "instructions_per_request" end),
            endpoint: (if $ep == "-" then null else $ep end), flag: null,
            baseline: 1.0e6, candidate: (1.0e6 * (1 + $d / 100)), delta_pct: $d,
            ci_low_pct: ($d - 1), ci_high_pct: ($d + 1), p_value: 0.0001,
            samples_baseline: 50000, samples_candidate: 50000,
            verdict: $v}]' \
            <<<"$results")
    done
    jq -n --arg kind "$kind" --arg service "$service" --arg base "$base" --arg cand "$cand" \
        --arg h0 "$(printf '%02d' "$hour")" --arg h1 "$(printf '%02d' $((hour + 1)))" \
        --argjson results "$results" '{
        kind: $kind, service: $service,
        baseline: {label: $base, from: "2026-11-20T\($h0):00:00Z", to: "2026-11-20T\($h1):00:00Z",
                   samples: 50000, users: 20000},
        candidate: {label: $cand, from: "2026-11-21T\($h0):00:00Z", to: "2026-11-21T\($h1):00:00Z",
                    samples: 50000, users: 20000},
        confidence: 0.95,
        verdict: (if ($results | map(select(.verdict == "regression")) | length) > 0
                  then "regression" else "no_change" end),
        results: $results}' >"$file"
}

# enqueue FILE [--rollback]: prints the alert id (0: not alerted).
enqueue() { "$ALERT_TOOL" enqueue "$@" 2>>"$WORK/enqueue.log" || fail "alert_tool enqueue $*"; }
resolve() { "$ALERT_TOOL" resolve "$1" 2>>"$WORK/enqueue.log" || fail "alert_tool resolve $1"; }

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no free port found"
}

# start_receiver NAME [webhook_receiver options]: records into $WORK/NAME.jsonl; sets RPORT.
start_receiver() {
    local name=$1
    shift
    "$WEBHOOK_RECEIVER" --out "$WORK/$name.jsonl" "$@" >"$WORK/$name.port" 2>"$WORK/$name.log" &
    PIDS+=($!)
    wait_until "receiver $name" 10 test -s "$WORK/$name.port"
    RPORT=$(head -n 1 "$WORK/$name.port")
    [ "$RPORT" -gt 0 ] || fail "receiver $name has no port"
}

# start_deliverer NAME [options]: a process running the delivery loop; sets DELIVERER_PID.
# ALERT_DELIVERER=run (default): `regressd run` against a mock broker, the real daemon;
# ALERT_DELIVERER=tool: tests/support/alert_tool deliver, which runs only
# alert_loop_start/stop.
start_deliverer() {
    local name=$1
    shift
    if [ "${ALERT_DELIVERER:-run}" = run ]; then
        [ -n "${BROKER:-}" ] || start_broker "it.alerts.$$" 1
        "$REGRESSD" -o http.listen= -o log.level=info -o kafka.session.timeout.ms=6000 \
            "${ALERT_FAST[@]}" "$@" run >>"$WORK/$name.log" 2>&1 &
    else
        "$ALERT_TOOL" -o log.level=info "${ALERT_FAST[@]}" "$@" deliver >>"$WORK/$name.log" 2>&1 &
    fi
    DELIVERER_PID=$!
    PIDS+=($DELIVERER_PID)
}

# received NAME PATH [STATUS]: requests the receiver recorded on PATH (with that answer).
received() {
    jq -s --arg p "$2" --argjson s "${3:-0}" \
        'map(select(.path == $p and ($s == 0 or .status == $s))) | length' "$WORK/$1.jsonl"
}

received_is() { [ "$(received "$1" "$2")" = "$3" ]; }

delivered() { [ "$(q "SELECT delivered_at IS NOT NULL FROM alerts WHERE id = $1")" = t ]; }

# start_alertmanager: Debian's prometheus-alertmanager on loopback, clustering off; sets AMURL.
start_alertmanager() {
    [ -x "$ALERTMANAGER" ] || fail "$ALERTMANAGER missing: apt-get install prometheus-alertmanager"
    mkdir -p "$WORK/am"
    printf 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n' >"$WORK/am/am.yml"
    local port
    for attempt in 1 2 3; do
        port=$(free_port)
        "$ALERTMANAGER" --config.file="$WORK/am/am.yml" --storage.path="$WORK/am/data" \
            --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
            >>"$WORK/alertmanager.log" 2>&1 &
        local pid=$!
        PIDS+=($pid)
        AMURL="http://127.0.0.1:$port"
        local deadline=$((SECONDS + 20))
        while [ $SECONDS -lt $deadline ] && kill -0 $pid 2>/dev/null; do
            curl -sf "$AMURL/-/ready" >/dev/null 2>&1 && return 0
            sleep 0.2
        done
        kill -9 $pid 2>/dev/null || true
        log "alertmanager did not start on port $port (attempt $attempt)"
    done
    fail "cannot start prometheus-alertmanager"
}

# am_alerts FILTER: the active alerts Alertmanager lists, selected by a jq filter, counted.
am_alerts() {
    curl -sf "$AMURL/api/v2/alerts" | jq "[.[] | select($1)] | length"
}
am_count_is() { [ "$(am_alerts "$1")" = "$2" ]; }
