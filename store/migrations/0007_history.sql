-- The confirmed ledger, one row per (script, transaction), with the block
-- and transaction columns the dashboard reads copied in, in chain order.
--
-- An entity's page reads its whole confirmed history: through script_txs
-- that is one lookup into txs and one into blocks per row, which costs
-- most of the read on an entity with thousands of transactions. Here it
-- is one range scan per script, already in chain order, and the balances
-- of every script are a scan in key order, with no join.
--
-- Kept by triggers on the three tables it is derived from, so that every
-- write (a sync step, positions found later, a reorg's rollback, cascades,
-- restored backups migrated here) keeps it equal to
--   script_txs JOIN txs JOIN blocks ON (height, hash)
-- with no write path able to forget it. Unconfirmed transactions have no
-- row.

CREATE TABLE script_history (
    script_id  INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    pos        INTEGER NOT NULL,
    txid       BLOB    NOT NULL,
    time       INTEGER NOT NULL, -- block header time, unix seconds UTC
    block_hash BLOB    NOT NULL,
    received   INTEGER NOT NULL, -- as script_txs
    spent      INTEGER NOT NULL,
    n_in       INTEGER NOT NULL,
    n_out      INTEGER NOT NULL,
    tx_n_in    INTEGER NOT NULL, -- as txs
    tx_n_out   INTEGER NOT NULL,
    out_total  INTEGER NOT NULL,
    coinbase   INTEGER NOT NULL,
    PRIMARY KEY (script_id, height, pos, txid)
) STRICT, WITHOUT ROWID;

CREATE INDEX script_history_txid ON script_history(txid);

INSERT INTO script_history
SELECT st.script_id, t.height, t.pos, t.txid, b.time, t.block_hash, st.received, st.spent, st.n_in, st.n_out,
       t.n_in, t.n_out, t.out_total, t.coinbase
FROM script_txs st
JOIN txs t ON t.txid = st.txid
JOIN blocks b ON b.height = t.height AND b.hash = t.block_hash;

-- What one script did in one transaction.
CREATE TRIGGER script_history_row_insert AFTER INSERT ON script_txs BEGIN
    INSERT INTO script_history
    SELECT NEW.script_id, t.height, t.pos, t.txid, b.time, t.block_hash, NEW.received, NEW.spent, NEW.n_in, NEW.n_out,
           t.n_in, t.n_out, t.out_total, t.coinbase
    FROM txs t JOIN blocks b ON b.height = t.height AND b.hash = t.block_hash
    WHERE t.txid = NEW.txid;
END;

CREATE TRIGGER script_history_row_update AFTER UPDATE ON script_txs
WHEN OLD.script_id IS NOT NEW.script_id OR OLD.txid IS NOT NEW.txid OR OLD.received IS NOT NEW.received
    OR OLD.spent IS NOT NEW.spent OR OLD.n_in IS NOT NEW.n_in OR OLD.n_out IS NOT NEW.n_out
BEGIN
    DELETE FROM script_history WHERE txid = OLD.txid AND script_id = OLD.script_id;
    INSERT INTO script_history
    SELECT NEW.script_id, t.height, t.pos, t.txid, b.time, t.block_hash, NEW.received, NEW.spent, NEW.n_in, NEW.n_out,
           t.n_in, t.n_out, t.out_total, t.coinbase
    FROM txs t JOIN blocks b ON b.height = t.height AND b.hash = t.block_hash
    WHERE t.txid = NEW.txid;
END;

CREATE TRIGGER script_history_row_delete AFTER DELETE ON script_txs BEGIN
    DELETE FROM script_history WHERE txid = OLD.txid AND script_id = OLD.script_id;
END;

-- A transaction confirmed, moved to another block or position, or
-- dropped (directly or with its block).
CREATE TRIGGER script_history_tx_insert AFTER INSERT ON txs BEGIN
    INSERT INTO script_history
    SELECT st.script_id, NEW.height, NEW.pos, NEW.txid, b.time, NEW.block_hash, st.received, st.spent, st.n_in, st.n_out,
           NEW.n_in, NEW.n_out, NEW.out_total, NEW.coinbase
    FROM script_txs st JOIN blocks b ON b.height = NEW.height AND b.hash = NEW.block_hash
    WHERE st.txid = NEW.txid;
END;

CREATE TRIGGER script_history_tx_update AFTER UPDATE ON txs
WHEN OLD.txid IS NOT NEW.txid OR OLD.height IS NOT NEW.height OR OLD.block_hash IS NOT NEW.block_hash
    OR OLD.pos IS NOT NEW.pos OR OLD.n_in IS NOT NEW.n_in OR OLD.n_out IS NOT NEW.n_out
    OR OLD.out_total IS NOT NEW.out_total OR OLD.coinbase IS NOT NEW.coinbase
BEGIN
    DELETE FROM script_history WHERE txid = OLD.txid;
    INSERT INTO script_history
    SELECT st.script_id, NEW.height, NEW.pos, NEW.txid, b.time, NEW.block_hash, st.received, st.spent, st.n_in, st.n_out,
           NEW.n_in, NEW.n_out, NEW.out_total, NEW.coinbase
    FROM script_txs st JOIN blocks b ON b.height = NEW.height AND b.hash = NEW.block_hash
    WHERE st.txid = NEW.txid;
END;

CREATE TRIGGER script_history_tx_delete AFTER DELETE ON txs BEGIN
    DELETE FROM script_history WHERE txid = OLD.txid;
END;

-- A block stored again with another hash or time, stored after its
-- transactions, or removed.
CREATE TRIGGER script_history_block_insert AFTER INSERT ON blocks BEGIN
    DELETE FROM script_history WHERE txid IN (SELECT txid FROM txs WHERE height = NEW.height);
    INSERT INTO script_history
    SELECT st.script_id, t.height, t.pos, t.txid, NEW.time, t.block_hash, st.received, st.spent, st.n_in, st.n_out,
           t.n_in, t.n_out, t.out_total, t.coinbase
    FROM txs t JOIN script_txs st ON st.txid = t.txid
    WHERE t.height = NEW.height AND t.block_hash = NEW.hash;
END;

CREATE TRIGGER script_history_block_update AFTER UPDATE ON blocks
WHEN OLD.height IS NOT NEW.height OR OLD.hash IS NOT NEW.hash OR OLD.time IS NOT NEW.time
BEGIN
    DELETE FROM script_history WHERE txid IN (SELECT txid FROM txs WHERE height IN (OLD.height, NEW.height));
    INSERT INTO script_history
    SELECT st.script_id, t.height, t.pos, t.txid, b.time, t.block_hash, st.received, st.spent, st.n_in, st.n_out,
           t.n_in, t.n_out, t.out_total, t.coinbase
    FROM txs t JOIN script_txs st ON st.txid = t.txid
    JOIN blocks b ON b.height = t.height AND b.hash = t.block_hash
    WHERE t.height IN (OLD.height, NEW.height);
END;

CREATE TRIGGER script_history_block_delete AFTER DELETE ON blocks BEGIN
    DELETE FROM script_history WHERE txid IN (SELECT txid FROM txs WHERE height = OLD.height);
END;
