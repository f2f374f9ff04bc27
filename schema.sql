-- Herald schema, version 1. Later changes are numbered migration steps in
-- app/store/migrate.go, tracked with PRAGMA user_version.
-- Times are unix milliseconds (UTC); JSON columns hold compact JSON text.

-- Every event Herald acknowledged. seq is the catch-up cursor for GET /events.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    event        TEXT    NOT NULL,
    timestamp    INTEGER NOT NULL,            -- when it happened (from the body, or ingest time)
    data         TEXT    NOT NULL,            -- the event's data object
    contact_id   TEXT    NOT NULL DEFAULT '', -- data.contact.id, for filters and conversation memory
    content_hash TEXT    NOT NULL,            -- sha256 of event+data: tells a retry from a conflicting reuse of an id
    source       TEXT    NOT NULL DEFAULT 'api', -- api, source (pulled by reconcile), test
    created_at   INTEGER NOT NULL
);
CREATE INDEX events_contact ON events (contact_id, seq);
CREATE INDEX events_created ON events (created_at);

-- A summary is made once per event and reused by every attempt and webhook.
CREATE TABLE event_summaries (
    event_id   TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    summary    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Conversation memory: the messages a contact exchanged, for summaries and
-- Slack. Dropped in step 4: the conversation is read from events since.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    direction  TEXT    NOT NULL DEFAULT 'inbound',
    channel    TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);
CREATE INDEX messages_contact ON messages (contact_id, id);
CREATE INDEX messages_at ON messages (at);

CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    name                TEXT    NOT NULL DEFAULT '',
    url                 TEXT    NOT NULL DEFAULT '',
    sink                TEXT    NOT NULL DEFAULT 'webhook',
    plugin              TEXT    NOT NULL DEFAULT '',
    config              TEXT    NOT NULL DEFAULT '{}',
    events              TEXT    NOT NULL DEFAULT '[]',
    tags                TEXT    NOT NULL DEFAULT '[]',
    generate_summary    INTEGER NOT NULL DEFAULT 0,
    enabled             INTEGER NOT NULL DEFAULT 1,
    auto_replay         INTEGER NOT NULL DEFAULT 1,
    headers             TEXT    NOT NULL DEFAULT '{}',
    secret              TEXT    NOT NULL,
    previous_secret     TEXT    NOT NULL DEFAULT '',
    previous_expires_at INTEGER NOT NULL DEFAULT 0,
    disabled_reason     TEXT    NOT NULL DEFAULT '',
    failing_since       INTEGER NOT NULL DEFAULT 0, -- first failure since the last success; 0 when healthy
    last_success_at     INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- The outbox: one row per (event, webhook), created in the event's transaction.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,             -- dlv_ + ULID: sorts by creation
    event_id         TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL DEFAULT 'pending', -- pending, in_flight, succeeded, failed, cancelled
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    cycle_start      INTEGER NOT NULL DEFAULT 0,   -- attempt_count when the current retry cycle began
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    trigger          TEXT    NOT NULL DEFAULT 'auto', -- what the next attempt is logged as
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    last_duration_ms INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (event_id, webhook_id)
);
-- The claim query: due pending deliveries of one webhook, oldest first.
-- Partial indexes: only rows in that state are indexed, so a delivery that
-- moves on leaves them instead of being rewritten in each.
CREATE INDEX deliveries_claim ON deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_status ON deliveries (webhook_id, status, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER NOT NULL DEFAULT 0,
    response_body TEXT    NOT NULL DEFAULT '',  -- first 16 KiB
    error         TEXT    NOT NULL DEFAULT '',
    trigger       TEXT    NOT NULL DEFAULT 'auto'
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, number);

-- API tokens, stored as SHA-256 hashes; the value is shown once.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    scope      TEXT    NOT NULL, -- admin or ingest
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0
);

-- Small persistent settings: the source cursor, bootstrap flags.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE reconcile_runs (
    id          TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    trigger     TEXT    NOT NULL DEFAULT 'cron', -- cron or manual
    steps       TEXT    NOT NULL DEFAULT '{}',   -- what each step found and did
    error       TEXT    NOT NULL DEFAULT ''
);
