# A bad key or value is named in the error and the daemon exits 2 before touching anything.
source "$(dirname "$0")/lib.sh"
new_db

expect_config_error() { # EXPECTED_TEXT regressd-args...
    local want=$1
    shift
    set +e
    "$REGRESSD" "$@" run >"$WORK/out.log" 2>&1
    local rc=$?
    set -e
    [ $rc -eq 2 ] || fail "regressd $*: exit $rc, want 2"
    grep -qF -- "$want" "$WORK/out.log" || fail "regressd $*: error does not name \"$want\": $(cat "$WORK/out.log")"
}
expect_config_error "ingest.batch_max_samples" -o ingest.batch_max_samples=0
expect_config_error "ingest.batch_max_wait" -o ingest.batch_max_wait=soon
expect_config_error "no.such.key" -o no.such.key=1
expect_config_error "kafka.no.such.property" -o kafka.no.such.property=1
expect_config_error "kafka.group.id" -o kafka.group.id=x
expect_config_error "confidence" -o confidence=1.5
REGRESSD_MIN_EFFECT_PCT=-3 expect_config_error "REGRESSD_MIN_EFFECT_PCT" 
printf 'kafka.topic = ok\nlog.level = loud\n' >"$WORK/bad.conf"
expect_config_error "bad.conf:2: log.level" -c "$WORK/bad.conf"
expect_config_error "http.listen" -o http.listen=nowhere
expect_config_error "schedule.clock: must be one of: wall, event" -o schedule.clock=monotonic
expect_config_error "schedule.jobs: must be a list of: hourly" -o schedule.jobs=hourly,yearly
expect_config_error "flags.min_share_pct" -o flags.min_share_pct=60
expect_config_error "retention.samples" -o retention.samples=1h
[ "$(q "SELECT count(*) FROM pg_tables WHERE tablename IN ('samples', 'schema_migrations')")" -eq 0 ] ||
    fail "a rejected configuration touched the database"

# A good file is read: keys, comments, quoted values.
printf '# comment\nkafka.topic = "from file"   \nlog.level = debug # trailing comment\n' >"$WORK/good.conf"
"$REGRESSD" -c "$WORK/good.conf" --print-config >"$WORK/cfg.log"
grep -q '^kafka.topic *= from file ' "$WORK/cfg.log" || fail "file value not applied"
# (Output goes to a file first: grep -q closing the pipe early would fail the pipeline.)
REGRESSD_KAFKA_TOPIC=env "$REGRESSD" -c "$WORK/good.conf" --print-config >"$WORK/cfg.log"
grep -q '^kafka.topic *= env ' "$WORK/cfg.log" || fail "environment does not override the file"
REGRESSD_KAFKA_TOPIC=env "$REGRESSD" -c "$WORK/good.conf" -o kafka.topic=flag --print-config >"$WORK/cfg.log"
grep -q '^kafka.topic *= flag ' "$WORK/cfg.log" || fail "-o does not override the environment"
"$REGRESSD" -o postgres.dsn='postgresql://u:hunter2@h/db' --print-config >"$WORK/cfg.log"
grep -q hunter2 "$WORK/cfg.log" && fail "a secret was printed"
"$REGRESSD" -o kafka.sasl.password=hunter2 -o kafka.sasl.mechanisms=PLAIN --print-config >"$WORK/cfg.log"
grep -q hunter2 "$WORK/cfg.log" && fail "a Kafka password was printed"
grep -q '^kafka.sasl.mechanisms = PLAIN$' "$WORK/cfg.log" || fail "kafka.* properties not printed"
# The shipped example file is valid as it stands.
"$REGRESSD" -c "$(dirname "$0")/../../config/regressd.conf.example" --print-config >/dev/null ||
    fail "config/regressd.conf.example does not load"
log "ok"
