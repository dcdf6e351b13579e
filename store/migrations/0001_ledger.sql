-- The ledger: every transaction touching a watched script, with its block,
-- and per script the amounts it received and spent in it. Balances and
-- flows are derived from these rows; nothing here is a polled snapshot.

CREATE TABLE scripts (
    id            INTEGER PRIMARY KEY,
    script        BLOB    NOT NULL UNIQUE,
    -- opaque change-detection status from the backend (Electrum status
    -- hash, Esplora counters); NULL forces a history fetch
    status        TEXT,
    -- the tip at which this script's history was last complete
    synced_height INTEGER,
    synced_hash   BLOB
) STRICT;

CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    hash   BLOB    NOT NULL UNIQUE,
    time   INTEGER NOT NULL -- block header time, unix seconds UTC
) STRICT;

CREATE TABLE txs (
    txid       BLOB    PRIMARY KEY,
    -- NULL while unconfirmed
    block_hash BLOB    REFERENCES blocks(hash) ON DELETE CASCADE,
    height     INTEGER,
    -- position in its block, -1 while unknown
    pos        INTEGER NOT NULL DEFAULT -1,
    n_in       INTEGER NOT NULL,
    n_out      INTEGER NOT NULL,
    out_total  INTEGER NOT NULL,
    coinbase   INTEGER NOT NULL,
    raw        BLOB    NOT NULL,
    first_seen INTEGER NOT NULL,
    CHECK ((block_hash IS NULL) = (height IS NULL))
) STRICT;

CREATE INDEX txs_height ON txs(height, pos);
CREATE INDEX txs_block ON txs(block_hash);

-- What one transaction did to one script.
CREATE TABLE script_txs (
    script_id INTEGER NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    txid      BLOB    NOT NULL REFERENCES txs(txid) ON DELETE CASCADE,
    received  INTEGER NOT NULL, -- sum of outputs paying the script
    spent     INTEGER NOT NULL, -- sum of inputs spending outputs paid to it
    n_in      INTEGER NOT NULL, -- inputs spending its outputs
    n_out     INTEGER NOT NULL, -- outputs paying it
    PRIMARY KEY (script_id, txid)
) STRICT, WITHOUT ROWID;

CREATE INDEX script_txs_txid ON script_txs(txid);

-- Every output paid to a watched script: a later input spending one of
-- these is the script's spend, with no foreign prevout ever fetched.
CREATE TABLE outputs (
    txid      BLOB    NOT NULL REFERENCES txs(txid) ON DELETE CASCADE,
    vout      INTEGER NOT NULL,
    script_id INTEGER NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    value     INTEGER NOT NULL,
    PRIMARY KEY (txid, vout)
) STRICT, WITHOUT ROWID;

CREATE INDEX outputs_script ON outputs(script_id);

-- The last completed sync: readers see the ledger as of this block.
CREATE TABLE sync_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    height     INTEGER NOT NULL,
    hash       BLOB    NOT NULL,
    time       INTEGER NOT NULL,
    synced_at  INTEGER NOT NULL,
    generation INTEGER NOT NULL
) STRICT;

-- Mempool txids already inspected (btcd), so a re-sync fetches only new ones.
CREATE TABLE mempool_seen (
    txid BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- One row per sync attempt, for operators and the dashboard.
CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    backend     TEXT    NOT NULL,
    height      INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'running', -- running | ok | failed
    error       TEXT    NOT NULL DEFAULT ''
) STRICT;
