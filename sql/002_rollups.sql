-- Rollups written by the consumer in the same transaction as the samples they summarise, so
-- they are exactly-once too. Rows are partial aggregates (one per batch and key): readers
-- always GROUP BY, and a compaction job may merge rows of the same key at any time.
--
-- bucket = user_hash & 63: the user bucket (64 buckets) that the detector's cluster-robust
-- variance is computed over.

CREATE TABLE rollups (
    service          text             NOT NULL,
    endpoint         text             NOT NULL,
    "commit"         text             NOT NULL,
    minute           timestamptz      NOT NULL,
    bucket           smallint         NOT NULL,
    requests         bigint           NOT NULL,
    instructions     double precision NOT NULL, -- sum
    instructions_sq  double precision NOT NULL, -- sum of squares
    latency_n        bigint           NOT NULL, -- requests that carried latency_us
    latency_us       double precision NOT NULL, -- sum
    latency_sq       double precision NOT NULL, -- sum of squares
    db_us            double precision NOT NULL, -- sum
    cache_us         double precision NOT NULL  -- sum
);
CREATE INDEX rollups_service_commit_minute ON rollups (service, "commit", minute);
CREATE INDEX rollups_service_minute ON rollups (service, minute);

-- Distinct users per (service, commit, minute): the user_hash values seen, one row per batch
-- and key. A window's active users per bucket are counted over the window itself (distinct
-- users do not add up across minutes): count(DISTINCT h) over the window's arrays.
CREATE TABLE rollup_users (
    service      text        NOT NULL,
    "commit"     text        NOT NULL,
    minute       timestamptz NOT NULL,
    user_hashes  integer[]   NOT NULL
);
CREATE INDEX rollup_users_service_commit_minute ON rollup_users (service, "commit", minute);
CREATE INDEX rollup_users_service_minute ON rollup_users (service, minute);

-- Every (service, commit) seen in samples, with the event time of its first sample. A new
-- row is how an automatic deploy is detected (see the deploys migration).
CREATE TABLE commits (
    service      text        NOT NULL,
    "commit"     text        NOT NULL,
    first_ts     timestamptz NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, "commit")
);
