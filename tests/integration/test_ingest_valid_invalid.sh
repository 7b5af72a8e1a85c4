# N valid + M invalid samples produced -> exactly N rows in samples, exactly the invalid ones
# in dead_letters with their reasons; the endpoint cap dead-letters the excess.
source "$(dirname "$0")/lib.sh"
new_db
start_broker it.samples 4

now=$(date +%s%3N)
{
    gen_samples 0 500 1       # 500 single objects
    gen_samples 500 1000 10   # 100 arrays of 10
    # 20 arrays of 10 whose 4th element has negative instructions: 180 valid, 20 invalid. Event
    # times 7 minutes apart span several 10-minute flag blocks; the invalid elements' flags must
    # not reach the flag rollups.
    for i in $(seq 0 19); do
        printf 'bad%d\t[' "$i"
        for j in $(seq 0 9); do
            n=$((10000 + i * 10 + j))
            instr=$((j == 3 ? -5 : 1000))
            [ "$j" -gt 0 ] && printf ','
            printf '{"ts":%d,"service":"web","endpoint":"feed/1","commit":"c1","instructions":%d,"user_id":"u%d","flags":{"beta":%s,"step":%d}}' \
                "$((now - j * 420000))" "$instr" "$n" "$([ $((j % 2)) -eq 0 ] && echo true || echo false)" "$j"
        done
        printf ']\n'
    done
    # 8 endpoints of another service, cap is 5 per service: 3 samples dead-lettered
    for e in $(seq 0 7); do
        printf 'cap%d\t{"ts":%d,"service":"capped","endpoint":"e%d","commit":"c1","instructions":1,"user_id":"cap%d","flags":{"cap":"e%d"}}\n' \
            "$e" "$now" "$e" "$e" "$e"
    done
    # malformed messages, one of each kind
    printf 'm1\tnot json at all\n'
    printf 'm2\t{"ts":%d,"service":"web","endpoint":"x"\n' "$now"                 # truncated
    printf 'm3\t{"ts":%d,"service":"web","endpoint":"x","commit":"c"}\n' "$now"  # no instructions
    printf 'm4\t{"ts":%d,"service":"web","endpoint":"x","commit":"c","instructions":"12"}\n' "$now"
    printf 'm5\t{"ts":%d,"service":"w b","endpoint":"x","commit":"c","instructions":1}\n' "$now"
    printf 'm6\t{"ts":"yesterday","service":"web","endpoint":"x","commit":"c","instructions":1}\n'
    printf 'm7\t{"ts":%d,"service":"web","endpoint":"x","commit":"c","instructions":9007199254740992}\n' "$now"
    printf 'm8\t{"ts":%d,"service":"web","endpoint":"x","commit":"c","instructions":1,"flags":{"a":{"b":1}}}\n' "$now"
    printf 'm9\t42\n'
} >"$WORK/messages"
# A 2 MB message: larger than ingest.max_message_bytes (1 MiB).
{ printf 'big\t{"ts":%d,"service":"web","endpoint":"' "$now"; head -c 2000000 /dev/zero | tr '\0' 'a'; printf '","commit":"c","instructions":1}\n'; } >>"$WORK/messages"
produce "$WORK/messages"

start_daemon d1 -o ingest.max_endpoints_per_service=5
expected_samples=$((500 + 1000 + 180 + 5))
expected_dead=$((20 + 3 + 10))
wait_until "all rows stored" 60 bash -c "[ \$(psql -d $DB -Atqc 'SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM dead_letters)') -ge $((expected_samples + expected_dead)) ]"
sleep 1 # anything extra (a duplicate) would arrive now
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exited non-zero"

[ "$(count_samples)" -eq $expected_samples ] || fail "samples: got $(count_samples), want $expected_samples"
[ "$(q 'SELECT count(DISTINCT user_id) FROM samples')" -eq $expected_samples ] || fail "duplicate samples"
[ "$(q 'SELECT count(*) FROM dead_letters')" -eq $expected_dead ] ||
    fail "dead letters: got $(q 'SELECT count(*) FROM dead_letters'), want $expected_dead"

expect_reason() { # PATTERN COUNT
    local got
    got=$(q "SELECT count(*) FROM dead_letters WHERE reason ~ '$1'")
    [ "$got" -eq "$2" ] || { q "SELECT reason FROM dead_letters"; fail "reason /$1/: got $got, want $2"; }
}
expect_reason '^sample 3: instructions: ' 20
expect_reason '^endpoint: service already has 5 distinct endpoints' 3
expect_reason '^message: invalid JSON' 3 # m1, m2 and m9 (a bare number)
expect_reason '^instructions: ' 3        # missing, string, 2^53
expect_reason '^service: ' 1
expect_reason '^ts: ' 1
expect_reason '^flags' 1
expect_reason '^message: 20000[0-9]+ bytes exceeds ingest.max_message_bytes' 1
# dead letters keep the bad element itself, with its position
[ "$(q "SELECT count(*) FROM dead_letters WHERE sample_index = 3 AND convert_from(raw, 'UTF8') LIKE '%\"instructions\":-5%'")" -eq 20 ] ||
    fail "dead letters of array elements do not hold the element"
[ "$(q "SELECT max(raw_bytes) > 2000000 AND max(length(raw)) = 65536 FROM dead_letters")" = t ] ||
    fail "oversized message: raw not capped or size not recorded"
# typed columns and flags
[ "$(q "SELECT flags->>'ranker' FROM samples WHERE user_id = 'u1'")" = v1 ] || fail "flags not stored"
[ "$(q "SELECT count(*) FROM endpoints WHERE service = 'capped'")" -eq 5 ] || fail "endpoints table"
# offsets: one row per partition that got messages, summing to the number of messages
msgs=$(wc -l <"$WORK/messages")
[ "$(q 'SELECT sum(next_offset) FROM kafka_offsets')" -eq "$msgs" ] || fail "offsets do not cover all $msgs messages"
check_rollups_match_samples
log "ok: $expected_samples samples, $expected_dead dead letters"
