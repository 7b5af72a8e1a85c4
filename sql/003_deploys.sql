-- Deploys and their verdicts, findings for alerting, and the detector's 10-minute rollup blocks.

-- ---- deploys ---------------------------------------------------------------------------------

-- One row per deploy of a service: recorded by the hook (`regressd deploy`, POST /v1/deploys)
-- or automatically when a commit shows up in samples for the first time (trigger on commits).
-- The daemon fills verdict, decided_at and report once the post-deploy window is complete.
CREATE TABLE deploys (
    id               bigserial   PRIMARY KEY,
    service          text        NOT NULL,
    "commit"         text        NOT NULL,
    -- the commit compared against; NULL when none is known (the check is then inconclusive)
    baseline_commit  text,
    deployed_at      timestamptz NOT NULL,
    verdict          text CHECK (verdict IN ('regression', 'improvement', 'no_change',
                                             'inconclusive')),
    source           text        NOT NULL DEFAULT 'hook' CHECK (source IN ('hook', 'auto')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    -- the `check --json` report the verdict came from
    report           jsonb
);
CREATE INDEX deploys_service_deployed_at ON deploys (service, deployed_at);
CREATE INDEX deploys_service_commit ON deploys (service, "commit");
CREATE INDEX deploys_undecided ON deploys (deployed_at) WHERE verdict IS NULL;

-- What a check found, for alerting to pick up (one row per decided deploy; trend and flag jobs
-- add their own kinds).
CREATE TABLE findings (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('deploy', 'trend', 'flag')),
    service     text        NOT NULL,
    deploy_id   bigint      REFERENCES deploys (id) ON DELETE CASCADE,
    verdict     text        NOT NULL CHECK (verdict IN ('regression', 'improvement', 'no_change',
                                                        'inconclusive')),
    report      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX findings_deploy_once ON findings (deploy_id) WHERE deploy_id IS NOT NULL;
CREATE INDEX findings_created_at ON findings (created_at);

-- The commit a deploy of `commit` at `at` is compared against: the commit of the service's
-- latest other deploy at or before `at`, else the commit first seen most recently before `at`.
CREATE FUNCTION regressd_deploy_baseline(p_service text, p_commit text, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT d."commit" FROM deploys d
          WHERE d.service = p_service AND d.deployed_at <= p_at AND d."commit" <> p_commit
          ORDER BY d.deployed_at DESC, d.id DESC LIMIT 1),
        (SELECT c."commit" FROM commits c
          WHERE c.service = p_service AND c.first_ts < p_at AND c."commit" <> p_commit
          ORDER BY c.first_ts DESC LIMIT 1))
$$;

-- Records a deploy from the hook. When the service's latest deploy is already of this commit
-- (a retried hook, or the hook arriving after the automatic record), that deploy is returned
-- instead (created = false); while it is undecided, an explicit p_at or p_baseline replaces its
-- values and it becomes a 'hook' deploy. p_at NULL: now(). p_baseline NULL: see
-- regressd_deploy_baseline. Concurrent hooks of a service are serialised.
CREATE FUNCTION regressd_record_deploy(p_service text, p_commit text, p_at timestamptz,
                                       p_baseline text, OUT id bigint, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    latest deploys%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('regressd.deploys'), hashtext(p_service));
    SELECT * INTO latest FROM deploys d WHERE d.service = p_service
     ORDER BY d.deployed_at DESC, d.id DESC LIMIT 1;
    IF FOUND AND latest."commit" = p_commit THEN
        IF latest.verdict IS NULL THEN
            UPDATE deploys d SET source = 'hook',
                   deployed_at = coalesce(p_at, d.deployed_at),
                   baseline_commit = coalesce(p_baseline, d.baseline_commit)
             WHERE d.id = latest.id;
        END IF;
        id := latest.id;
        created := false;
        RETURN;
    END IF;
    p_at := coalesce(p_at, now());
    INSERT INTO deploys (service, "commit", baseline_commit, deployed_at, source)
    VALUES (p_service, p_commit,
            coalesce(p_baseline, regressd_deploy_baseline(p_service, p_commit, p_at)), p_at, 'hook')
    RETURNING deploys.id INTO id;
    created := true;
END
$$;

-- A commit seen for the first time is an automatic deploy at its first sample's event time,
-- unless a deploy of it exists already or nothing is known to compare it with (the first commit
-- of a service is where regressd started, not a deploy). This runs inside ingest's transaction
-- and takes no lock: a hook recorded in the same instant may make a second row, which the next
-- hook call for that commit merges with (see regressd_record_deploy).
CREATE FUNCTION regressd_auto_deploy() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    base text;
BEGIN
    IF EXISTS (SELECT 1 FROM deploys d WHERE d.service = NEW.service
                                         AND d."commit" = NEW."commit") THEN
        RETURN NULL;
    END IF;
    base := regressd_deploy_baseline(NEW.service, NEW."commit", NEW.first_ts);
    IF base IS NOT NULL THEN
        INSERT INTO deploys (service, "commit", baseline_commit, deployed_at, source)
        VALUES (NEW.service, NEW."commit", base, NEW.first_ts, 'auto');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER commits_auto_deploy AFTER INSERT ON commits
    FOR EACH ROW EXECUTE FUNCTION regressd_auto_deploy();

-- If ingest learns of an earlier first sample, an undecided automatic deploy moves with it.
CREATE FUNCTION regressd_auto_deploy_earlier() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE deploys d SET deployed_at = NEW.first_ts
     WHERE d.service = NEW.service AND d."commit" = NEW."commit" AND d.source = 'auto'
       AND d.verdict IS NULL AND d.deployed_at > NEW.first_ts;
    RETURN NULL;
END
$$;
CREATE TRIGGER commits_auto_deploy_earlier AFTER UPDATE OF first_ts ON commits
    FOR EACH ROW WHEN (NEW.first_ts < OLD.first_ts)
    EXECUTE FUNCTION regressd_auto_deploy_earlier();

-- ---- 10-minute rollup blocks -----------------------------------------------------------------
--
-- A deploy check over 500 endpoints reads (endpoint, bucket) sums of two hours; from per-minute
-- rollups that is up to 130 × 500 × 64 rows, from blocks 13 × 500. The detector's compaction job (run by the daemon
-- holding the deploy-checker lock) merges every closed 10-minute block into the tables below,
-- and readers take whole blocks from here and everything else (the open block, blocks not yet
-- compacted or marked dirty) from the minute tables. A block is "clean" for a service when
-- rollup_block_state has it and rollup_block_dirty does not.
--
-- Late data: a statement trigger on the minute tables marks (service, block) dirty when rows
-- arrive for a block that ended more than a minute before (clock time); the job recompacts
-- dirty blocks. Blocks are compacted only three minutes after their end, so a row that escapes
-- the mark would have to sit in an uncommitted ingest transaction for two minutes.

-- The block of a minute. Readers call it on every minute row, so it must be inlined into their
-- queries: date_bin (PostgreSQL 14+) is immutable; on 13, the same arithmetic in UTC.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE $f$CREATE FUNCTION regressd_block_of(ts timestamptz) RETURNS timestamptz
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS 'SELECT date_bin(''10 minutes'', ts, ''1970-01-01 00:00:00+00'')'$f$;
    ELSE
        EXECUTE $f$CREATE FUNCTION regressd_block_of(ts timestamptz) RETURNS timestamptz
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS 'SELECT (date_trunc(''hour'', ts AT TIME ZONE ''UTC'')
                        + floor(date_part(''minute'', ts AT TIME ZONE ''UTC'') / 10)
                          * interval ''10 minutes'') AT TIME ZONE ''UTC'''$f$;
    END IF;
END
$$;

-- One row per (service, endpoint, commit, block): the block's sums per user bucket, as arrays
-- aligned with `buckets` (the non-empty buckets, ascending). A deploy check then reads one row
-- per endpoint and block instead of one per bucket.
CREATE TABLE rollup_blocks (
    service          text               NOT NULL,
    endpoint         text               NOT NULL,
    "commit"         text               NOT NULL,
    block            timestamptz        NOT NULL,
    buckets          smallint[]         NOT NULL,
    requests         bigint[]           NOT NULL,
    instructions     double precision[] NOT NULL,
    instructions_sq  double precision[] NOT NULL,
    latency_n        bigint[]           NOT NULL,
    latency_us       double precision[] NOT NULL,
    latency_sq       double precision[] NOT NULL,
    db_us            double precision[] NOT NULL,
    cache_us         double precision[] NOT NULL,
    PRIMARY KEY (service, "commit", block, endpoint)
);

-- Per (service, commit, block, bucket) over all endpoints: what the service-level results and
-- the rollout detection read.
CREATE TABLE rollup_block_totals (
    service       text             NOT NULL,
    "commit"      text             NOT NULL,
    block         timestamptz      NOT NULL,
    bucket        smallint         NOT NULL,
    requests      bigint           NOT NULL,
    instructions  double precision NOT NULL,
    latency_n     bigint           NOT NULL,
    latency_us    double precision NOT NULL
);
CREATE INDEX rollup_block_totals_key ON rollup_block_totals (service, "commit", block);

-- Distinct user hashes per (service, commit, block), sorted.
CREATE TABLE rollup_block_users (
    service      text        NOT NULL,
    "commit"     text        NOT NULL,
    block        timestamptz NOT NULL,
    user_hashes  integer[]   NOT NULL,
    PRIMARY KEY (service, "commit", block)
);

-- Blocks compacted (for every service that had rows in them).
CREATE TABLE rollup_block_state (
    block         timestamptz PRIMARY KEY,
    compacted_at  timestamptz NOT NULL DEFAULT now()
);

-- Marks are only ever inserted (no conflicts, no row locks in ingest's transactions); the job
-- deletes the marks it has seen, up to the largest id, after recompacting. A mark committed
-- later (even with a smaller id) was invisible to that DELETE and stays.
CREATE TABLE rollup_block_dirty (
    id         bigserial   PRIMARY KEY,
    service    text        NOT NULL,
    block      timestamptz NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rollup_block_dirty_key ON rollup_block_dirty (service, block);

-- Cheap for current data: only rows for blocks that ended over a minute ago are marked.
CREATE FUNCTION regressd_mark_late_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_block_dirty (service, block)
    SELECT DISTINCT n.service, regressd_block_of(n.minute)
      FROM new_rows n
     WHERE n.minute < clock_timestamp() - interval '1 minute'
       AND regressd_block_of(n.minute) < clock_timestamp() - interval '11 minutes';
    RETURN NULL;
END
$$;
CREATE TRIGGER rollups_mark_late AFTER INSERT ON rollups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION regressd_mark_late_rollups();
CREATE TRIGGER rollup_users_mark_late AFTER INSERT ON rollup_users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION regressd_mark_late_rollups();
