# Shared by the integration tests: a unique database, a mock Kafka broker, daemons in the
# background, bounded waits, and cleanup of everything on exit.
set -euo pipefail

: "${REGRESSD:?path to the regressd binary}"
: "${MOCKBROKER:?path to the mockbroker helper}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/regressd-it.XXXXXX")
PIDS=()
DB=""
TEST_NAME=$(basename "$0" .sh)

log() { echo "[$TEST_NAME] $*"; }

dump_logs() {
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "---- $(basename "$f") (last 40 lines)"
        tail -n 40 "$f"
    done
}

fail() {
    echo "FAIL [$TEST_NAME]: $*"
    dump_logs
    exit 1
}

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$DB" ]; then dropdb --if-exists "$DB" 2>/dev/null || true; fi
    [ $rc -eq 0 ] && rm -rf "$WORK"
    [ $rc -ne 0 ] && echo "work directory kept: $WORK"
    exit $rc
}
trap cleanup EXIT

# A real PostgreSQL is required: the suite runs under pg_virtualenv (scripts/test.sh).
require_postgres() {
    psql -Atqc 'SELECT 1' postgres >/dev/null 2>&1 ||
        fail "no PostgreSQL reachable (PGHOST=${PGHOST:-unset}); run the suite through scripts/test.sh"
}

new_db() {
    require_postgres
    DB="regressd_it_${TEST_NAME}_$$"
    createdb "$DB"
    export REGRESSD_POSTGRES_DSN="dbname=$DB"
}

q() { psql -d "$DB" -Atqc "$1"; }

# start_broker TOPIC PARTITIONS: exports BROKER and REGRESSD_KAFKA_{BROKERS,TOPIC}.
start_broker() {
    "$MOCKBROKER" --topic "$1:$2" >"$WORK/broker.addr" 2>"$WORK/broker.log" &
    PIDS+=($!)
    wait_until "mock broker address" 10 test -s "$WORK/broker.addr"
    BROKER=$(head -n 1 "$WORK/broker.addr")
    export REGRESSD_KAFKA_BROKERS="$BROKER" REGRESSD_KAFKA_TOPIC="$1"
    export REGRESSD_KAFKA_GROUP="it-$TEST_NAME-$$"
}

# wait_until DESCRIPTION SECONDS COMMAND...: polls every 0.2 s, fails after SECONDS.
wait_until() {
    local what=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s waiting for: $what"
        sleep 0.2
    done
}

# start_daemon NAME [regressd options...]: runs `regressd run`; sets DAEMON_PID.
start_daemon() {
    local name=$1
    shift
    "$REGRESSD" -o http.listen= -o ingest.db_retry_max=1s -o log.level=info \
        -o kafka.session.timeout.ms=6000 -o kafka.heartbeat.interval.ms=500 "$@" run \
        >>"$WORK/$name.log" 2>&1 &
    DAEMON_PID=$!
    PIDS+=($DAEMON_PID)
}

# gen_samples FIRST COUNT PER_MESSAGE: COUNT valid samples as "key<TAB>json" lines, arrays of
# PER_MESSAGE (1: single objects). user_id u<n> is unique per sample, so duplicates show. Event
# times go back 1 ms per sample (wrapping after an hour). Flags of every kind: ranker
# (string, always), beta (boolean, 2 in 3), cohort (integer, 1 in 4), ratio (a real spelled in
# JSON unlike its stored text, 1 in 5) and, 1 in 11, a name and value with characters that COPY
# and JSON escape.
gen_samples() {
    awk -v first="$1" -v count="$2" -v per="$3" -v now="$(date +%s%3N)" 'BEGIN {
        split("0.1 2.50 1e-7 1E21", reals, " ");
        n = first; last = first + count;
        while (n < last) {
            line = (per == 1) ? "" : "[";
            for (i = 0; i < per && n < last; i++) {
                f = sprintf("\"ranker\":\"v%d\"", n % 2);
                if (n % 3 != 2) f = f ",\"beta\":" (n % 3 ? "false" : "true");
                if (n % 4 == 0) f = f sprintf(",\"cohort\":%d", n % 7 - 3);
                if (n % 5 == 0) f = f ",\"ratio\":" reals[int(n / 5) % 4 + 1];
                if (n % 11 == 0) f = f ",\"odd\\t\\\\name\":\"a\\\"b\\nc 日本\"";
                s = sprintf("{\"ts\":%.0f,\"service\":\"web\",\"endpoint\":\"feed/%d\",\"commit\":\"c1\",\"instructions\":%.0f,\"user_id\":\"u%.0f\",\"latency_us\":%d,\"flags\":{%s}}", now - (n % 3600000), n % 5, 1000000 + n, n, 100 + n % 50, f);
                line = line (i ? "," : "") s;
                n++;
            }
            if (per != 1) line = line "]";
            printf "k%d\t%s\n", n, line;
        }
    }'
}

# produce FILE: one message per line, "key<TAB>value".
produce() {
    kcat -P -b "$BROKER" -t "$REGRESSD_KAFKA_TOPIC" -K $'\t' -z lz4 -X message.max.bytes=8000000 \
        -l "$1"
}

count_samples() { q "SELECT count(*) FROM samples"; }
samples_at_least() { [ "$(count_samples)" -ge "$1" ]; }

# A WHERE condition true for a row whose bucket arrays are not what ingest writes: buckets
# non-empty, strictly ascending and in 0..63, every named column an array of the same length.
bucket_arrays_malformed() {
    local cond="cardinality(buckets) = 0 OR buckets[1] < 0 OR buckets[cardinality(buckets)] > 63
                OR buckets <> (SELECT array_agg(DISTINCT b ORDER BY b) FROM unnest(buckets) b)" col
    for col in "$@"; do
        cond="$cond OR cardinality($col) <> cardinality(buckets)"
    done
    echo "$cond"
}

# Rollups are written in the same transaction as the samples they summarise: after any crash
# or outage they must still agree with samples exactly.
check_rollups_match_samples() {
    local diff
    diff=$(q "WITH s AS (SELECT service, endpoint, \"commit\", date_trunc('minute', ts) AS minute,
                               user_hash & 63 AS bucket, count(*) AS n, sum(instructions) AS instr,
                               count(latency_us) AS lat_n, coalesce(sum(latency_us), 0) AS lat
                        FROM samples GROUP BY 1, 2, 3, 4, 5),
                   r AS (SELECT service, endpoint, \"commit\", minute, bucket, sum(requests) AS n,
                                sum(instructions) AS instr, sum(latency_n) AS lat_n,
                                sum(latency_us) AS lat
                         FROM rollup_buckets GROUP BY 1, 2, 3, 4, 5)
              SELECT count(*) FROM s FULL JOIN r USING (service, endpoint, \"commit\", minute, bucket)
              WHERE s.n IS DISTINCT FROM r.n OR s.instr IS DISTINCT FROM r.instr::numeric
                 OR s.lat_n IS DISTINCT FROM r.lat_n OR s.lat IS DISTINCT FROM r.lat::numeric")
    [ "$diff" -eq 0 ] || fail "rollups disagree with samples on $diff keys"
    diff=$(q "SELECT count(*) FROM rollups
              WHERE $(bucket_arrays_malformed requests instructions instructions_sq latency_n \
                      latency_us latency_sq db_us cache_us)")
    [ "$diff" -eq 0 ] || fail "$diff rollups rows have malformed bucket arrays"
    diff=$(q "WITH s AS (SELECT DISTINCT service, \"commit\", date_trunc('minute', ts) AS minute, user_hash FROM samples),
                   r AS (SELECT DISTINCT service, \"commit\", minute, unnest(user_hashes) AS user_hash FROM rollup_users)
              SELECT count(*) FROM s FULL JOIN r USING (service, \"commit\", minute, user_hash)
              WHERE s.user_hash IS NULL OR r.user_hash IS NULL")
    [ "$diff" -eq 0 ] || fail "rollup_users disagree with samples on $diff users"
    [ "$(q 'SELECT count(*) FROM (SELECT DISTINCT service, "commit" FROM samples) s')" -eq \
        "$(q 'SELECT count(*) FROM commits')" ] || fail "commits table does not list every commit"
    check_flag_rollups_match_samples
}

# The flag rollups against the samples' flags column as PostgreSQL reads it (jsonb_each, the
# value's text), per 10-minute block since the epoch. The traffic must carry flags, or this
# would check nothing.
check_flag_rollups_match_samples() {
    local flagged diff
    flagged=$(q "SELECT count(*) FROM samples WHERE flags <> '{}'")
    [ "$flagged" -gt 0 ] || fail "no sample carries flags: the flag rollups go unchecked"
    local sample_flags="SELECT s.*, f.key AS flag, f.value #>> '{}' AS value,
                               to_timestamp(floor(extract(epoch FROM s.ts) / 600) * 600) AS block
                        FROM samples s, jsonb_each(s.flags) f"
    diff=$(q "WITH s AS (SELECT service, endpoint, flag, value, block, user_hash & 63 AS bucket,
                               count(*) AS n, sum(instructions) AS instr,
                               count(latency_us) AS lat_n, coalesce(sum(latency_us), 0) AS lat
                        FROM ($sample_flags) sf GROUP BY 1, 2, 3, 4, 5, 6),
                   r AS (SELECT service, endpoint, flag, value, block, bucket, sum(requests) AS n,
                                sum(instructions) AS instr, sum(latency_n) AS lat_n,
                                sum(latency_us) AS lat
                         FROM (SELECT service, endpoint, flag, value, block, bucket, requests,
                                      instructions, latency_n, latency_us FROM rollup_flag_buckets
                               UNION ALL
                               SELECT service, endpoint, flag, value, block, u.* FROM rollup_flag_blocks,
                                      unnest(buckets, requests, instructions, latency_n, latency_us)
                                      AS u(bucket, requests, instructions, latency_n, latency_us)) f
                         GROUP BY 1, 2, 3, 4, 5, 6)
              SELECT count(*) FROM s FULL JOIN r USING (service, endpoint, flag, value, block, bucket)
              WHERE s.n IS DISTINCT FROM r.n OR s.instr IS DISTINCT FROM r.instr::numeric
                 OR s.lat_n IS DISTINCT FROM r.lat_n OR s.lat IS DISTINCT FROM r.lat::numeric")
    [ "$diff" -eq 0 ] || fail "rollup_flags disagree with samples on $diff keys"
    diff=$(q "SELECT count(*) FROM rollup_flags
              WHERE $(bucket_arrays_malformed requests instructions latency_n latency_us)")
    [ "$diff" -eq 0 ] || fail "$diff rollup_flags rows have malformed bucket arrays"
    diff=$(q "WITH s AS (SELECT DISTINCT service, flag, value, block, user_hash FROM ($sample_flags) sf),
                   r AS (SELECT DISTINCT service, flag, value, block, unnest(user_hashes) AS user_hash
                         FROM rollup_flag_users)
              SELECT count(*) FROM s FULL JOIN r USING (service, flag, value, block, user_hash)
              WHERE s.user_hash IS NULL OR r.user_hash IS NULL")
    [ "$diff" -eq 0 ] || fail "rollup_flag_users disagree with samples on $diff users"
    # Each row's hashes are distinct (their order is the uint32 one from ingest, int4 after a
    # merge: readers do not rely on it).
    diff=$(q "SELECT count(*) FROM rollup_flag_users
              WHERE cardinality(user_hashes) <> (SELECT count(DISTINCT h) FROM unnest(user_hashes) h)")
    [ "$diff" -eq 0 ] || fail "$diff rollup_flag_users rows repeat a user hash"
    log "flag rollups agree with $flagged flagged samples ($(q 'SELECT count(*) FROM rollup_flags') rows, $(q 'SELECT count(*) FROM rollup_flag_blocks') merged, $(q "SELECT count(DISTINCT (flag, value)) FROM rollup_flag_users") flag values)"
}
