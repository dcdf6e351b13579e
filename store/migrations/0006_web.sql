-- What the dashboard reads, made cheap to read.
--
-- Covering indexes: the history, balance and last-activity queries join
-- script_txs to txs and blocks by key and read a few small columns. Without
-- them every joined row is a lookup into the txs table, whose rows carry
-- the raw transaction, so an entity with many transactions reads most of
-- the file.
CREATE INDEX txs_web ON txs(txid, height, pos, block_hash, n_in, n_out, out_total, coinbase);
CREATE INDEX blocks_web ON blocks(hash, time);

-- Finds the newest price fetch of a currency in one step: a new stored
-- price, current or historical, makes the pages read prices again.
CREATE INDEX prices_fetched ON prices(currency, fetched_at);

-- Days whose historical price the source was asked for and did not have,
-- so the background backfill does not ask again before retry_after.
CREATE TABLE price_misses (
    currency    TEXT    NOT NULL,
    day         INTEGER NOT NULL, -- 00:00 UTC of the day, Unix seconds
    retry_after INTEGER NOT NULL, -- Unix seconds
    PRIMARY KEY (currency, day)
) STRICT, WITHOUT ROWID;
