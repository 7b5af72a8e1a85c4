-- Rollup rows as arrays over the user buckets. Each batch writes one rollups row per
-- (service, endpoint, commit, minute) and one rollup_flags row per (service, endpoint, flag,
-- value, block) it saw, with the sums of the key's non-empty buckets as arrays aligned with
-- `buckets` (ascending), the layout of rollup_blocks. One row per bucket, as before, meant up to
-- 64 times as many rows, and their heap and index inserts were most of ingest's time in
-- PostgreSQL. Rows stay partial aggregates: readers sum every row of a key. Readers that want a
-- row per bucket read the views rollup_buckets and rollup_flag_buckets.
--
-- toast_tuple_target: a key with all 64 buckets is a row of about 4.6 kB (2.5 kB in
-- rollup_flags). Past the default 2 kB target, every such row would be compressed and moved out
-- of line into the TOAST table, at the cost of more inserts than the rows save.

ALTER TABLE rollups RENAME TO rollups_by_bucket;
CREATE TABLE rollups (
    service          text               NOT NULL,
    endpoint         text               NOT NULL,
    "commit"         text               NOT NULL,
    minute           timestamptz        NOT NULL,
    buckets          smallint[]         NOT NULL,
    requests         bigint[]           NOT NULL,
    instructions     double precision[] NOT NULL, -- sums
    instructions_sq  double precision[] NOT NULL, -- sums of squares
    latency_n        bigint[]           NOT NULL, -- requests that carried latency_us
    latency_us       double precision[] NOT NULL, -- sums
    latency_sq       double precision[] NOT NULL, -- sums of squares
    db_us            double precision[] NOT NULL, -- sums
    cache_us         double precision[] NOT NULL  -- sums
) WITH (toast_tuple_target = 8160);
INSERT INTO rollups
SELECT service, endpoint, "commit", minute, array_agg(bucket ORDER BY bucket),
       array_agg(r ORDER BY bucket), array_agg(i ORDER BY bucket), array_agg(i2 ORDER BY bucket),
       array_agg(ln ORDER BY bucket), array_agg(l ORDER BY bucket), array_agg(l2 ORDER BY bucket),
       array_agg(db ORDER BY bucket), array_agg(ca ORDER BY bucket)
  FROM (SELECT service, endpoint, "commit", minute, bucket, sum(requests) r, sum(instructions) i,
               sum(instructions_sq) i2, sum(latency_n) ln, sum(latency_us) l, sum(latency_sq) l2,
               sum(db_us) db, sum(cache_us) ca
          FROM rollups_by_bucket GROUP BY service, endpoint, "commit", minute, bucket) s
 GROUP BY service, endpoint, "commit", minute;
DROP TABLE rollups_by_bucket; -- with its indexes and its trigger
CREATE INDEX rollups_service_commit_minute ON rollups (service, "commit", minute);
CREATE INDEX rollups_service_minute ON rollups (service, minute);
-- Created after the copy above: the rows it moved were marked (or compacted) when first stored.
CREATE TRIGGER rollups_mark_late AFTER INSERT ON rollups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION regressd_mark_late_rollups();

-- The arrays are unnested in the select list, in lockstep (they have the same length): cheaper
-- than unnest() in FROM, which stores each row's elements in a tuplestore first. Conditions on
-- the key columns still reach the table's indexes.
CREATE VIEW rollup_buckets AS
SELECT service, endpoint, "commit", minute, unnest(buckets) AS bucket,
       unnest(requests) AS requests, unnest(instructions) AS instructions,
       unnest(instructions_sq) AS instructions_sq, unnest(latency_n) AS latency_n,
       unnest(latency_us) AS latency_us, unnest(latency_sq) AS latency_sq,
       unnest(db_us) AS db_us, unnest(cache_us) AS cache_us
  FROM rollups;

ALTER TABLE rollup_flags RENAME TO rollup_flags_by_bucket;
CREATE TABLE rollup_flags (
    service       text               NOT NULL,
    endpoint      text               NOT NULL,
    flag          text               NOT NULL,
    value         text               NOT NULL,
    block         timestamptz        NOT NULL,
    buckets       smallint[]         NOT NULL,
    requests      bigint[]           NOT NULL,
    instructions  double precision[] NOT NULL,
    latency_n     bigint[]           NOT NULL,
    latency_us    double precision[] NOT NULL
) WITH (toast_tuple_target = 8160);
INSERT INTO rollup_flags
SELECT service, endpoint, flag, value, block, array_agg(bucket ORDER BY bucket),
       array_agg(r ORDER BY bucket), array_agg(i ORDER BY bucket), array_agg(ln ORDER BY bucket),
       array_agg(l ORDER BY bucket)
  FROM (SELECT service, endpoint, flag, value, block, bucket, sum(requests) r,
               sum(instructions) i, sum(latency_n) ln, sum(latency_us) l
          FROM rollup_flags_by_bucket GROUP BY service, endpoint, flag, value, block, bucket) s
 GROUP BY service, endpoint, flag, value, block;
DROP TABLE rollup_flags_by_bucket;
CREATE INDEX rollup_flags_service_block ON rollup_flags (service, block);

CREATE VIEW rollup_flag_buckets AS
SELECT service, endpoint, flag, value, block, unnest(buckets) AS bucket,
       unnest(requests) AS requests, unnest(instructions) AS instructions,
       unnest(latency_n) AS latency_n, unnest(latency_us) AS latency_us
  FROM rollup_flags;

-- User hashes are random 32-bit values: compression gains nothing but costs every insert a
-- pglz pass over arrays of thousands of hashes. Stored out of line as they are instead.
ALTER TABLE rollup_users ALTER COLUMN user_hashes SET STORAGE EXTERNAL;
ALTER TABLE rollup_flag_users ALTER COLUMN user_hashes SET STORAGE EXTERNAL;

-- As in 005, for the array rows: the DELETE returns rows of several batches, summed per bucket.
CREATE OR REPLACE FUNCTION regressd_merge_flag_block(b timestamptz, services text[])
RETURNS void LANGUAGE sql AS $$
    WITH d AS (DELETE FROM rollup_flags WHERE service = ANY (services) AND block = b RETURNING *),
    g AS (SELECT d.service, d.endpoint, d.flag, d.value, d.block, u.bucket, sum(u.r) AS r,
                 sum(u.i) AS i, sum(u.ln) AS ln, sum(u.l) AS l
            FROM d, unnest(d.buckets, d.requests, d.instructions, d.latency_n, d.latency_us)
                        AS u(bucket, r, i, ln, l)
           GROUP BY d.service, d.endpoint, d.flag, d.value, d.block, u.bucket)
    INSERT INTO rollup_flag_blocks
    SELECT service, endpoint, flag, value, block, array_agg(bucket ORDER BY bucket),
           array_agg(r ORDER BY bucket), array_agg(i ORDER BY bucket),
           array_agg(ln ORDER BY bucket), array_agg(l ORDER BY bucket)
      FROM g GROUP BY service, endpoint, flag, value, block;
    WITH d AS (DELETE FROM rollup_flag_users WHERE service = ANY (services) AND block = b
               RETURNING *)
    INSERT INTO rollup_flag_users
    SELECT service, flag, value, block, array_agg(DISTINCT h ORDER BY h)
      FROM d, unnest(user_hashes) h GROUP BY service, flag, value, block;
$$;

CREATE OR REPLACE FUNCTION regressd_flag_requests(p_service text, lo timestamptz, hi timestamptz)
RETURNS TABLE (flag text, value text, requests numeric) LANGUAGE sql STABLE AS $$
    SELECT flag, value, sum(r) FROM (
        SELECT f.flag, f.value, (SELECT sum(x) FROM unnest(f.requests) x) AS r FROM rollup_flags f
         WHERE f.service = p_service AND f.block >= lo AND f.block < hi
        UNION ALL
        SELECT f.flag, f.value, (SELECT sum(x) FROM unnest(f.requests) x) FROM rollup_flag_blocks f
         WHERE f.service = p_service AND f.block >= lo AND f.block < hi) s
     GROUP BY flag, value
$$;
