-- Movement alerts. A rule (identified by what it says, AlertConfig.Key)
-- starts at the tip it was first checked at, so that switching alerts on
-- over years of history does not announce every old flow.
CREATE TABLE alert_rules (
    rule         TEXT    PRIMARY KEY,
    since_height INTEGER NOT NULL, -- synced tip at the rule's first check
    created_at   INTEGER NOT NULL  -- unix seconds UTC
) STRICT;

-- One row per flow a rule announced: what was said (kind, amount at which
-- block), whether it still stands, and how its delivery went. A flow that
-- a reorg removed is retracted; should it confirm again, a new row (and a
-- new message id) announces it.
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    rule         TEXT    NOT NULL REFERENCES alert_rules(rule),
    entity       TEXT    NOT NULL,
    txid         BLOB    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('inflow', 'outflow', 'internal', 'mixed')),
    amount       INTEGER NOT NULL, -- the entity's delta, satoshis (negative when it lost coins)
    fee          INTEGER,          -- satoshis; NULL when not every input was the entity's
    height       INTEGER NOT NULL,
    block_hash   BLOB    NOT NULL,
    block_time   INTEGER NOT NULL, -- block header time, unix seconds UTC
    -- pending: the alert is not yet delivered everywhere; sent; retracting:
    -- the retraction is not yet delivered everywhere; retracted
    state        TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sent', 'retracting', 'retracted')),
    -- channels that took the message of the current state, comma-separated
    delivered    TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    retracted_at INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0, -- delivery tries, all channels and messages
    last_error   TEXT    NOT NULL DEFAULT '',
    CHECK ((state IN ('sent', 'retracting', 'retracted')) = (sent_at IS NOT NULL)),
    CHECK ((state = 'retracted') = (retracted_at IS NOT NULL))
) STRICT;

-- A flow is announced once per rule while its announcement stands.
CREATE UNIQUE INDEX alerts_standing ON alerts(rule, entity, txid) WHERE state <> 'retracted';
