# Upgrading a database: migration 006 turns the per-bucket rows of rollups and rollup_flags,
# as migrations 001-005 stored them, into one row per key with bucket arrays. The sums per
# (key, bucket) are unchanged, the views and functions that readers use give them back, and the
# trigger that marks late rows still fires.
source "$(dirname "$0")/lib.sh"
new_db
SQL_DIR=$(cd "$(dirname "$0")/../../sql" && pwd)

# The schema as `regressd migrate` left it before 006, recorded the way it records it.
q "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                   applied_at timestamptz NOT NULL DEFAULT now())"
for f in "$SQL_DIR"/00[1-5]_*.sql; do
    name=$(basename "$f")
    psql -d "$DB" -Xq -v ON_ERROR_STOP=1 -1 -f "$f" \
        -c "INSERT INTO schema_migrations VALUES (${name:0:3}::int, '$name')" >/dev/null ||
        fail "applying $name"
done

# Old rows: 2 endpoints x 2 commits x 3 minutes, every third bucket, the even ones stored twice
# (two batches), a key in one bucket only; flag rows likewise over two blocks.
q "INSERT INTO rollups
   SELECT 'web', 'e' || e, 'c' || c, timestamptz '2026-01-01 00:00Z' + m * interval '1 minute', b,
          b + e, b * 1000.5 + c, b * b + 0.25, b, b * 2.5, b * 3.5, e * 7, c * 11
     FROM generate_series(1, 2) e, generate_series(1, 2) c, generate_series(0, 2) m,
          generate_series(0, 63, 3) b, generate_series(1, 2) d
    WHERE d = 1 OR b % 2 = 0"
q "INSERT INTO rollups VALUES ('web', 'lone', 'c1', '2026-01-01 00:05Z', 17, 1, 2, 4, 0, 0, 0, 0, 0)"
q "INSERT INTO rollup_flags
   SELECT 'web', 'e' || e, 'f' || f, 'v' || v, timestamptz '2026-01-01 00:00Z' + k * interval '10 minutes',
          b, b + v, b * 10.5 + f, b, b * 0.5
     FROM generate_series(1, 2) e, generate_series(1, 2) f, generate_series(1, 2) v,
          generate_series(0, 1) k, generate_series(1, 63, 5) b, generate_series(1, 2) d
    WHERE d = 1 OR b % 3 = 0"
q "CREATE TABLE want_rollups AS
   SELECT service, endpoint, \"commit\", minute, bucket, sum(requests) r, sum(instructions) i,
          sum(instructions_sq) i2, sum(latency_n) ln, sum(latency_us) l, sum(latency_sq) l2,
          sum(db_us) db, sum(cache_us) ca
     FROM rollups GROUP BY 1, 2, 3, 4, 5"
q "CREATE TABLE want_flags AS
   SELECT service, endpoint, flag, value, block, bucket, sum(requests) r, sum(instructions) i,
          sum(latency_n) ln, sum(latency_us) l
     FROM rollup_flags GROUP BY 1, 2, 3, 4, 5, 6"
keys=$(q "SELECT count(DISTINCT (service, endpoint, \"commit\", minute)) FROM rollups")
flag_keys=$(q "SELECT count(DISTINCT (service, endpoint, flag, value, block)) FROM rollup_flags")
requests_by_flag=$(q "SELECT string_agg(flag || '=' || value || ':' || requests, ' ' ORDER BY flag, value)
                      FROM regressd_flag_requests('web', '2026-01-01', '2026-01-02')")

"$REGRESSD" migrate >"$WORK/migrate.log" 2>&1 || fail "regressd migrate: $(cat "$WORK/migrate.log")"
grep -q "006_rollup_arrays.sql" "$WORK/migrate.log" || fail "006 not applied: $(cat "$WORK/migrate.log")"
[ "$(q 'SELECT max(version) FROM schema_migrations')" -ge 6 ] || fail "006 not recorded"

[ "$(q 'SELECT count(*) FROM rollups')" -eq "$keys" ] || fail "not one rollups row per key"
[ "$(q 'SELECT count(*) FROM rollup_flags')" -eq "$flag_keys" ] || fail "not one rollup_flags row per key"
[ "$(q "SELECT buckets::text || requests::text FROM rollups WHERE endpoint = 'lone'")" = "{17}{1}" ] ||
    fail "the one-bucket key: $(q "SELECT * FROM rollups WHERE endpoint = 'lone'")"
diff=$(q "SELECT count(*) FROM rollups WHERE $(bucket_arrays_malformed requests instructions \
          instructions_sq latency_n latency_us latency_sq db_us cache_us)")
[ "$diff" -eq 0 ] || fail "$diff rollups rows have malformed bucket arrays"
diff=$(q "SELECT count(*) FROM rollup_flags
          WHERE $(bucket_arrays_malformed requests instructions latency_n latency_us)")
[ "$diff" -eq 0 ] || fail "$diff rollup_flags rows have malformed bucket arrays"

diff=$(q "WITH g AS (SELECT service, endpoint, \"commit\", minute, bucket, sum(requests) r,
                            sum(instructions) i, sum(instructions_sq) i2, sum(latency_n) ln,
                            sum(latency_us) l, sum(latency_sq) l2, sum(db_us) db, sum(cache_us) ca
                       FROM rollup_buckets GROUP BY 1, 2, 3, 4, 5)
          SELECT count(*) FROM want_rollups w FULL JOIN g USING (service, endpoint, \"commit\", minute, bucket)
           WHERE (w.r, w.i, w.i2, w.ln, w.l, w.l2, w.db, w.ca)
                 IS DISTINCT FROM (g.r, g.i, g.i2, g.ln, g.l, g.l2, g.db, g.ca)")
[ "$diff" -eq 0 ] || fail "rollup_buckets differ from the old rows on $diff (key, bucket)s"
flag_diff() { # TABLE-EXPRESSION of per-bucket flag rows
    q "WITH g AS (SELECT service, endpoint, flag, value, block, bucket, sum(requests) r,
                         sum(instructions) i, sum(latency_n) ln, sum(latency_us) l
                    FROM ($1) x GROUP BY 1, 2, 3, 4, 5, 6)
       SELECT count(*) FROM want_flags w FULL JOIN g USING (service, endpoint, flag, value, block, bucket)
        WHERE (w.r, w.i, w.ln, w.l) IS DISTINCT FROM (g.r, g.i, g.ln, g.l)"
}
diff=$(flag_diff "SELECT * FROM rollup_flag_buckets")
[ "$diff" -eq 0 ] || fail "rollup_flag_buckets differ from the old rows on $diff (key, bucket)s"
got=$(q "SELECT string_agg(flag || '=' || value || ':' || requests, ' ' ORDER BY flag, value)
         FROM regressd_flag_requests('web', '2026-01-01', '2026-01-02')")
[ "$got" = "$requests_by_flag" ] || fail "regressd_flag_requests: $got, want $requests_by_flag"

# Merging the first block moves its rows into rollup_flag_blocks; the sums stay the same.
q "SELECT regressd_merge_flag_block('2026-01-01 00:00Z', '{web}')" >/dev/null
[ "$(q "SELECT count(*) FROM rollup_flags WHERE block = '2026-01-01 00:00Z'")" -eq 0 ] ||
    fail "the merged block's rows are still in rollup_flags"
diff=$(flag_diff "SELECT * FROM rollup_flag_buckets UNION ALL
                  SELECT service, endpoint, flag, value, block, u.* FROM rollup_flag_blocks,
                         unnest(buckets, requests, instructions, latency_n, latency_us)
                         AS u(bucket, requests, instructions, latency_n, latency_us)")
[ "$diff" -eq 0 ] || fail "after merging a block, the flag sums differ on $diff (key, bucket)s"
got=$(q "SELECT string_agg(flag || '=' || value || ':' || requests, ' ' ORDER BY flag, value)
         FROM regressd_flag_requests('web', '2026-01-01', '2026-01-02')")
[ "$got" = "$requests_by_flag" ] || fail "regressd_flag_requests after a merge: $got, want $requests_by_flag"

# A late row in the new layout marks its block for recompaction, as before.
q "INSERT INTO rollups VALUES ('web', 'e1', 'c1', '2026-01-01 00:31Z', '{5}', '{1}', '{1}', '{1}',
                              '{0}', '{0}', '{0}', '{0}', '{0}')"
[ "$(q "SELECT count(*) FROM rollup_block_dirty WHERE service = 'web' AND block = '2026-01-01 00:30Z'")" -eq 1 ] ||
    fail "a late rollups row did not mark its block dirty"
"$REGRESSD" migrate >"$WORK/migrate2.log" 2>&1 || fail "second regressd migrate failed"
[ "$(q 'SELECT count(*) FROM rollups')" -eq $((keys + 1)) ] || fail "re-running migrate changed rollups"
log "ok: $keys rollup keys and $flag_keys flag keys as bucket arrays, sums unchanged"
