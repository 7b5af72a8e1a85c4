-- Alerts: the outbox (one row per finding group worth telling people about), the delivery
-- state of every receiver, and every delivery attempt.
--
-- Life of an alert (alerting/, include/regressd/alert.h):
--   1. alert_enqueue() inserts it in the transaction that stores the findings; dedup_key is
--      unique, so the same finding group found again is not alerted again.
--   2. The delivery loop (the daemon holding the alerts advisory lock) releases it:
--      regressd_alert_release() applies the per-service message cap and creates one
--      alert_deliveries row per configured receiver.
--   3. One worker per receiver claims due deliveries (FOR UPDATE SKIP LOCKED plus a lease, so
--      no transaction stays open during an HTTP request), sends, and records the attempt;
--      failures are retried with backoff until the delivery's deadline.
--   4. Trend and flag alerts are resolved when a later run of the same scope no longer finds
--      any of their regressions (regressd_alert_resolve_absent); Alertmanager is then told.

-- "2026-11-21T10:00:00.123456Z" whatever the session's TimeZone.
CREATE FUNCTION regressd_rfc3339(ts timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE TABLE alerts (
    id             bigserial   PRIMARY KEY,
    -- "<kind>:<service>:<hash of what the finding group is about>"; sent as Idempotency-Key
    dedup_key      text        NOT NULL UNIQUE,
    kind           text        NOT NULL CHECK (kind IN ('deploy', 'trend', 'flag')),
    service        text        NOT NULL,
    -- the generic webhook body (CONTRACT section 4); Slack and Alertmanager bodies derive from it
    payload        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- summaries of alert_deliveries (kept by a trigger): when every receiver got the alert,
    -- attempts over all receivers, the latest error as "receiver: error"
    delivered_at   timestamptz,
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    -- what the alert is about across runs: kind, service and the job's window lengths (JSON)
    scope          text        NOT NULL,
    -- its regressions' identities: [metric, endpoint, flag] as compact JSON text
    items          text[]      NOT NULL,
    -- set by the delivery loop: when it decided the alert, and when it went to people
    released_at    timestamptz,
    sent_at        timestamptz,
    -- held by the per-service cap: only Alertmanager got it; summarised_in is the alert whose
    -- message carried its summary
    suppressed     boolean     NOT NULL DEFAULT false,
    summarised_in  bigint      REFERENCES alerts (id) ON DELETE SET NULL,
    resolved_at    timestamptz
);
CREATE INDEX alerts_created_at ON alerts (created_at);
CREATE INDEX alerts_queued ON alerts (created_at, id) WHERE released_at IS NULL;
CREATE INDEX alerts_service_sent ON alerts (service, sent_at);
CREATE INDEX alerts_held ON alerts (service, created_at) WHERE suppressed AND summarised_in IS NULL;
CREATE INDEX alerts_active_scope ON alerts (scope) WHERE resolved_at IS NULL;

CREATE TABLE alert_deliveries (
    alert_id         bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    receiver         text        NOT NULL CHECK (receiver IN ('webhook', 'slack', 'alertmanager')),
    -- 'resolved': telling Alertmanager that a firing alert ended
    event            text        NOT NULL DEFAULT 'firing' CHECK (event IN ('firing', 'resolved')),
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- retried until then; afterwards 'failed' with last_error
    deadline_at      timestamptz NOT NULL,
    -- a claimed delivery is invisible to other workers until then (a worker that dies mid-send
    -- leaves it to be retried)
    lease_until      timestamptz,
    last_error       text,
    last_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    PRIMARY KEY (alert_id, receiver, event)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (receiver, next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE alert_attempts (
    id           bigserial        PRIMARY KEY,
    alert_id     bigint           NOT NULL,
    receiver     text             NOT NULL,
    event        text             NOT NULL,
    attempt      integer          NOT NULL,
    started_at   timestamptz      NOT NULL,
    duration_ms  double precision NOT NULL,
    -- NULL: no HTTP answer (connection refused, timeout)
    http_status  integer,
    -- NULL: delivered
    error        text,
    FOREIGN KEY (alert_id, receiver, event) REFERENCES alert_deliveries ON DELETE CASCADE
);
CREATE INDEX alert_attempts_alert ON alert_attempts (alert_id);

-- Keeps alerts.delivered_at / attempts / last_error in step with the deliveries. The alert row
-- is locked first, so the summary (a new statement, a new snapshot) sees every committed
-- delivery of the alert even when two receivers' workers finish at the same moment.
CREATE FUNCTION regressd_alert_summarise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM alerts WHERE id = NEW.alert_id FOR UPDATE;
    UPDATE alerts a
       SET attempts = s.attempts, last_error = s.last_error, delivered_at = s.delivered_at
      FROM (SELECT coalesce(sum(d.attempts), 0)::integer AS attempts,
                   (SELECT e.receiver || ': ' || e.last_error FROM alert_deliveries e
                     WHERE e.alert_id = NEW.alert_id AND e.last_error IS NOT NULL
                     ORDER BY e.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error,
                   CASE WHEN bool_and(d.state = 'delivered') FILTER (WHERE d.event = 'firing')
                        THEN max(d.delivered_at) FILTER (WHERE d.event = 'firing') END
                       AS delivered_at
              FROM alert_deliveries d WHERE d.alert_id = NEW.alert_id) s
     WHERE a.id = NEW.alert_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_deliveries_summarise AFTER INSERT OR UPDATE ON alert_deliveries
    FOR EACH ROW EXECUTE FUNCTION regressd_alert_summarise();

-- Messages to people (webhook, Slack) a service got within p_window.
CREATE FUNCTION regressd_alert_sent_recently(p_service text, p_window interval)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM alerts
     WHERE service = p_service AND sent_at > now() - p_window AND NOT suppressed
$$;

-- Sends alert p_id to p_receivers: its message carries the summary of the service's held
-- alerts not summarised yet (newest 20 listed, all counted).
CREATE FUNCTION regressd_alert_send(p_id bigint, p_receivers text[], p_deadline interval)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a alerts%ROWTYPE;
    held jsonb;
BEGIN
    SELECT * INTO a FROM alerts WHERE id = p_id FOR UPDATE;
    WITH h AS (UPDATE alerts SET summarised_in = p_id
                WHERE service = a.service AND suppressed AND summarised_in IS NULL AND id <> p_id
                RETURNING id, dedup_key, kind, payload ->> 'title' AS title, created_at)
    SELECT CASE WHEN count(*) > 0 THEN jsonb_build_object(
               'count', count(*),
               'since', regressd_rfc3339(min(created_at)),
               'alerts', to_jsonb((array_agg(jsonb_build_object(
                   'alert_id', id::text, 'dedup_key', dedup_key, 'kind', kind, 'title', title,
                   'created_at', regressd_rfc3339(created_at)) ORDER BY created_at DESC, id DESC))[1:20]))
           END
      INTO held FROM h;
    UPDATE alerts
       SET released_at = coalesce(released_at, now()), sent_at = now(), suppressed = false,
           payload = CASE WHEN held IS NULL THEN payload
                          ELSE payload || jsonb_build_object('overflow', held) END
     WHERE id = p_id;
    -- A held alert already has its Alertmanager delivery: leave that row alone (a worker may be
    -- updating it, and waiting for it here while holding the alert row would deadlock).
    INSERT INTO alert_deliveries (alert_id, receiver, event, deadline_at)
    SELECT p_id, r, 'firing', now() + p_deadline FROM unnest(p_receivers) r
     WHERE NOT EXISTS (SELECT 1 FROM alert_deliveries d
                        WHERE d.alert_id = p_id AND d.receiver = r AND d.event = 'firing')
    ON CONFLICT DO NOTHING;
END
$$;

-- Holds alert p_id (over the cap): decided, not sent to people; Alertmanager, which groups and
-- throttles on its own and must see every alert for the lifecycle, still gets it.
CREATE FUNCTION regressd_alert_hold(p_id bigint, p_receivers text[], p_deadline interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alerts SET released_at = now(), suppressed = true WHERE id = p_id;
    INSERT INTO alert_deliveries (alert_id, receiver, event, deadline_at)
    SELECT p_id, r, 'firing', now() + p_deadline FROM unnest(p_receivers) r
     WHERE r = 'alertmanager'
    ON CONFLICT DO NOTHING;
END
$$;

-- The delivery loop's decision step (run under its advisory lock, so one at a time): up to
-- p_limit queued alerts, oldest first, are sent or held by the cap of p_cap messages per
-- service per p_window (p_cap 0: no cap); then, for every service with held alerts not yet
-- summarised and room under the cap, the newest held alert is sent carrying the summary of the
-- others, so the overflow is told rather than dropped. Returns how many alerts it decided.
CREATE FUNCTION regressd_alert_release(p_receivers text[], p_cap integer, p_window interval,
                                       p_deadline interval, p_limit integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    a record;
    n integer := 0;
BEGIN
    FOR a IN SELECT id, service FROM alerts WHERE released_at IS NULL
              ORDER BY created_at, id LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        IF p_cap > 0 AND regressd_alert_sent_recently(a.service, p_window) >= p_cap THEN
            PERFORM regressd_alert_hold(a.id, p_receivers, p_deadline);
        ELSE
            PERFORM regressd_alert_send(a.id, p_receivers, p_deadline);
        END IF;
        n := n + 1;
    END LOOP;
    FOR a IN SELECT DISTINCT ON (service) id, service FROM alerts
              WHERE suppressed AND summarised_in IS NULL
              ORDER BY service, created_at DESC, id DESC LIMIT p_limit LOOP
        IF p_cap = 0 OR regressd_alert_sent_recently(a.service, p_window) < p_cap THEN
            PERFORM regressd_alert_send(a.id, p_receivers, p_deadline);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Lifecycle (trend and flag jobs): every unresolved alert of p_scope none of whose regressions
-- is among p_present (identities as in alerts.items) is resolved; where Alertmanager was sent
-- the alert, it is told (a 'resolved' delivery with the firing delivery's retry allowance).
-- Returns the ids resolved.
CREATE FUNCTION regressd_alert_resolve_absent(p_scope text, p_present text[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH r AS (UPDATE alerts SET resolved_at = now()
                WHERE scope = p_scope AND resolved_at IS NULL AND NOT (items && p_present)
                RETURNING id),
         q AS (INSERT INTO alert_deliveries (alert_id, receiver, event, deadline_at)
               SELECT d.alert_id, 'alertmanager', 'resolved', now() + (d.deadline_at - d.created_at)
                 FROM alert_deliveries d JOIN r ON r.id = d.alert_id
                WHERE d.receiver = 'alertmanager' AND d.event = 'firing'
               ON CONFLICT DO NOTHING)
    SELECT id FROM r ORDER BY id;
END
$$;

-- One alert and its delivery state per receiver, as GET /v1/alerts shows it. state: queued (not
-- decided yet), held (over the cap), summarised (held, told in alert summarised_in's message),
-- sending, delivered (every receiver), failed (a receiver gave up).
CREATE FUNCTION regressd_alert_json(a alerts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'dedup_key', a.dedup_key, 'kind', a.kind, 'service', a.service,
        'title', a.payload ->> 'title',
        'state', CASE WHEN a.released_at IS NULL THEN 'queued'
                      WHEN a.suppressed AND a.summarised_in IS NOT NULL THEN 'summarised'
                      WHEN a.suppressed THEN 'held'
                      WHEN a.delivered_at IS NOT NULL THEN 'delivered'
                      WHEN EXISTS (SELECT 1 FROM alert_deliveries d
                                    WHERE d.alert_id = a.id AND d.state = 'failed') THEN 'failed'
                      ELSE 'sending' END,
        'regressions', jsonb_array_length(coalesce(a.payload -> 'regressions', '[]')),
        'created_at', regressd_rfc3339(a.created_at),
        'released_at', regressd_rfc3339(a.released_at),
        'sent_at', regressd_rfc3339(a.sent_at),
        'delivered_at', regressd_rfc3339(a.delivered_at),
        'resolved_at', regressd_rfc3339(a.resolved_at),
        'summarised_in', a.summarised_in,
        'attempts', a.attempts, 'last_error', a.last_error,
        'deliveries', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'receiver', d.receiver, 'event', d.event, 'state', d.state,
                       'attempts', d.attempts,
                       'next_attempt_at', CASE WHEN d.state = 'pending'
                                               THEN regressd_rfc3339(d.next_attempt_at) END,
                       'deadline_at', regressd_rfc3339(d.deadline_at),
                       'last_attempt_at', regressd_rfc3339(d.last_attempt_at),
                       'delivered_at', regressd_rfc3339(d.delivered_at),
                       'last_error', d.last_error) ORDER BY d.receiver, d.event)
              FROM alert_deliveries d WHERE d.alert_id = a.id), '[]'::jsonb))
$$;
