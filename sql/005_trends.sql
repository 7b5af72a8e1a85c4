-- Flag rollups, the trend/flag schedule's runs, and retention.

-- ---- flag rollups ----------------------------------------------------------------------------
--
-- Written by the consumer in the ingest transaction, like the other rollups (exactly-once).
-- One row per batch and (service, endpoint, flag, value, 10-minute block, user bucket): the
-- requests that carried flag = value and their sums. "Requests without the value" are the
-- endpoint's rollups minus these. value is the flag's text as stored in samples.flags (strings
-- as they are, booleans "true"/"false", numbers in their JSON spelling).
CREATE TABLE rollup_flags (
    service       text             NOT NULL,
    endpoint      text             NOT NULL,
    flag          text             NOT NULL,
    value         text             NOT NULL,
    block         timestamptz      NOT NULL,
    bucket        smallint         NOT NULL,
    requests      bigint           NOT NULL,
    instructions  double precision NOT NULL,
    latency_n     bigint           NOT NULL,
    latency_us    double precision NOT NULL
);
CREATE INDEX rollup_flags_service_block ON rollup_flags (service, block);

-- The user hashes that carried flag = value, per (service, flag, value, block).
CREATE TABLE rollup_flag_users (
    service      text        NOT NULL,
    flag         text        NOT NULL,
    value        text        NOT NULL,
    block        timestamptz NOT NULL,
    user_hashes  integer[]   NOT NULL
);
CREATE INDEX rollup_flag_users_service_block ON rollup_flag_users (service, block);

-- Merged flag rows of closed blocks: one row per (service, endpoint, flag, value, block) with
-- the sums per user bucket as arrays aligned with `buckets` (as rollup_blocks), 64 times fewer
-- rows for a flag scan to read. A block merged again (late rows) adds another row: readers sum
-- every row of a key, here and in rollup_flags.
CREATE TABLE rollup_flag_blocks (
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
);
CREATE INDEX rollup_flag_blocks_service_block ON rollup_flag_blocks (service, block);

-- Moves the flag rows of one closed block, for some services, from rollup_flags into
-- rollup_flag_blocks and merges their user rows; the rollup compaction (detector/compact.c)
-- calls it with every block it compacts, in its transaction. Rows that ingest adds meanwhile
-- (not in the DELETE's snapshot) or later stay in rollup_flags until the block is merged again.
CREATE FUNCTION regressd_merge_flag_block(b timestamptz, services text[]) RETURNS void
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM rollup_flags WHERE service = ANY (services) AND block = b RETURNING *),
    g AS (SELECT service, endpoint, flag, value, block, bucket, sum(requests) AS r,
                 sum(instructions) AS i, sum(latency_n) AS ln, sum(latency_us) AS l
            FROM d GROUP BY service, endpoint, flag, value, block, bucket)
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

-- Requests per flag value of a service in [lo, hi), from both flag tables (flag scans rank
-- the values by it; trends compare the shares of two windows).
CREATE FUNCTION regressd_flag_requests(p_service text, lo timestamptz, hi timestamptz)
RETURNS TABLE (flag text, value text, requests numeric) LANGUAGE sql STABLE AS $$
    SELECT flag, value, sum(r) FROM (
        SELECT f.flag, f.value, f.requests::numeric AS r FROM rollup_flags f
         WHERE f.service = p_service AND f.block >= lo AND f.block < hi
        UNION ALL
        SELECT f.flag, f.value, (SELECT sum(x) FROM unnest(f.requests) x) FROM rollup_flag_blocks f
         WHERE f.service = p_service AND f.block >= lo AND f.block < hi) s
     GROUP BY flag, value
$$;

-- ---- the schedule ----------------------------------------------------------------------------
--
-- One row per job run that finished, keyed by the end of the window it analysed (its slot).
-- job: "trend:1h:1d" (window 1h against 1 day earlier), "trend:1h:1w", "trend:1d:1w",
-- "trend:1w:1w", "flags:1h", "retention". The daemon holding the schedule lock runs every slot
-- after the latest one here (up to schedule.max_catchup back), so a stop leaves no gap and the
-- key makes a slot run once.
CREATE TABLE job_runs (
    job          text        NOT NULL,
    slot         timestamptz NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    services     integer     NOT NULL DEFAULT 0,
    regressions  integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (job, slot)
);

-- Trend and flag findings carry their job and slot; one per (job, slot, service), so a run that
-- crashed half-way is completed without repeating the services it had stored.
ALTER TABLE findings ADD COLUMN job text;
ALTER TABLE findings ADD COLUMN slot timestamptz;
CREATE UNIQUE INDEX findings_job_once ON findings (job, slot, service) WHERE job IS NOT NULL;

-- ---- retention -------------------------------------------------------------------------------

-- Drops the samples partitions whose whole day ended before `before`; returns their names.
CREATE FUNCTION regressd_drop_samples_before(before timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('regressd.samples_partitions'));
    FOR part IN
        SELECT c.relname FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_p[0-9]{8}$'
           AND (to_date(substr(c.relname, 10), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
               <= before
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
END
$$;
