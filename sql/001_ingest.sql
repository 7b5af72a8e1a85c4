-- Ingest: raw samples (partitioned by event day), dead letters, and the Kafka offsets that are
-- committed in the same transaction as the rows they cover.

CREATE TABLE samples (
    ts            timestamptz      NOT NULL,
    service       text             NOT NULL,
    endpoint      text             NOT NULL,
    "commit"      text             NOT NULL,
    user_id       text,
    -- stable hash of user_id (or host + ts without one); bucket = user_hash mod B
    user_hash     integer          NOT NULL,
    instructions  bigint           NOT NULL,
    latency_us    bigint,
    db_us         bigint,
    cache_us      bigint,
    status        smallint,
    host          text,
    region        text,
    cluster       text,
    sample_rate   double precision NOT NULL DEFAULT 1,
    flags         jsonb            NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (ts);

COMMENT ON TABLE samples IS 'one row per valid sample; daily partitions samples_pYYYYMMDD';

-- Creates the day's partition if it is missing. Safe to call concurrently from several
-- daemons: creation is serialised by an advisory lock and re-checked under it.
CREATE FUNCTION regressd_ensure_samples_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('samples_p%s', to_char(day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('regressd.samples_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF samples FOR VALUES FROM (%L) TO (%L)',
                   part,
                   (day::timestamp AT TIME ZONE 'UTC'),
                   ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN true;
END
$$;

CREATE TABLE dead_letters (
    id               bigserial   PRIMARY KEY,
    received_at      timestamptz NOT NULL DEFAULT now(),
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    -- position inside an array message; NULL when the whole message was rejected
    sample_index     integer,
    reason           text        NOT NULL,
    -- the rejected message (or array element), cut at ingest.dead_letter_raw_max bytes
    raw              bytea       NOT NULL,
    raw_bytes        integer     NOT NULL
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);

CREATE TABLE kafka_offsets (
    consumer_group   text        NOT NULL,
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- Every (service, endpoint) ever accepted: bounds the endpoints per service against hostile
-- producers, and lists endpoints for dashboards without scanning samples.
CREATE TABLE endpoints (
    service     text        NOT NULL,
    endpoint    text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, endpoint)
);
