-- Cross-checks of the ledger against independent backends. A sync is
-- published only when enough backends report the same balances at the
-- same block; each such agreement is recorded, and each disagreement is an
-- incident that holds the disputed figures back until a later sync agrees.

CREATE TABLE verifications (
    id         INTEGER PRIMARY KEY,
    height     INTEGER NOT NULL,
    hash       BLOB    NOT NULL,
    -- the backends that agreed (primary first), one per line, redacted
    sources    TEXT    NOT NULL,
    n_sources  INTEGER NOT NULL,
    checked_at INTEGER NOT NULL, -- unix seconds UTC
    UNIQUE (height, hash)
) STRICT;

CREATE TABLE verify_incidents (
    id          INTEGER PRIMARY KEY,
    opened_at   INTEGER NOT NULL,
    -- the last sync that still saw the disagreement
    seen_at     INTEGER NOT NULL,
    -- NULL while the incident holds data back
    resolved_at INTEGER,
    height      INTEGER NOT NULL, -- the block compared at
    -- the entity whose balances differ; '' when the backends' blocks
    -- at that height differ (different chains)
    entity      TEXT    NOT NULL,
    summary     TEXT    NOT NULL
) STRICT;

CREATE INDEX verify_incidents_open ON verify_incidents(resolved_at);

-- What each backend reported in an incident.
CREATE TABLE verify_incident_figures (
    incident_id   INTEGER NOT NULL REFERENCES verify_incidents(id) ON DELETE CASCADE,
    backend       TEXT    NOT NULL,
    hash          BLOB    NOT NULL, -- its block at the incident's height
    confirmed_sat INTEGER NOT NULL,
    PRIMARY KEY (incident_id, backend)
) STRICT;
