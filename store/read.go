package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// ScriptID returns the id of a registered script; ok=false if the script
// was never synced.
func (s *Store) ScriptID(ctx context.Context, script []byte) (id int64, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT id FROM scripts WHERE script = ?`, script).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: script id: %w", err)
	}
	return id, true, nil
}

// Balance is one script's standing as of a block.
type Balance struct {
	Confirmed   int64 // satoshis, transactions at or below the block
	Unconfirmed int64 // satoshis, mempool delta (may be negative)
	TxCount     int64 // confirmed transactions
	// LastHeight is the height of the last confirmed transaction, -1 if none.
	LastHeight int64
	LastTime   time.Time
}

const queryBalances = `
SELECT st.script_id,
       COALESCE(SUM(CASE WHEN t.height <= ?1 THEN st.received - st.spent END), 0),
       COALESCE(SUM(CASE WHEN t.height IS NULL THEN st.received - st.spent END), 0),
       COUNT(CASE WHEN t.height <= ?1 THEN 1 END),
       COALESCE(MAX(CASE WHEN t.height <= ?1 THEN t.height END), -1)
FROM script_txs st JOIN txs t ON t.txid = st.txid
GROUP BY st.script_id`

// Balances returns the balance of every script with ledger rows, by id,
// as of the block at height.
func (s *Store) Balances(ctx context.Context, height int64) (map[int64]Balance, error) {
	rows, err := s.db.QueryContext(ctx, queryBalances, height)
	if err != nil {
		return nil, fmt.Errorf("store: balances: %w", err)
	}
	defer rows.Close()
	out := map[int64]Balance{}
	for rows.Next() {
		var id int64
		var b Balance
		if err := rows.Scan(&id, &b.Confirmed, &b.Unconfirmed, &b.TxCount, &b.LastHeight); err != nil {
			return nil, err
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// HistoryTx is one confirmed transaction as seen from a set of scripts
// (one address, or every address of an entity): the sums over those
// scripts, and the transaction's own totals, enough to classify the flow.
type HistoryTx struct {
	Txid      chainhash.Hash
	Height    int64
	BlockHash chainhash.Hash
	Time      time.Time
	Pos       int64
	Received  int64 // paid to the scripts
	Spent     int64 // spent from the scripts
	OwnIn     int64 // inputs spending the scripts' outputs
	OwnOut    int64 // outputs paying the scripts
	NIn, NOut int64
	OutTotal  int64
	Coinbase  bool
}

const queryHistory = `
SELECT t.txid, t.height, t.block_hash, b.time, t.pos,
       SUM(st.received), SUM(st.spent), SUM(st.n_in), SUM(st.n_out),
       t.n_in, t.n_out, t.out_total, t.coinbase
FROM script_txs st
JOIN txs t ON t.txid = st.txid
JOIN blocks b ON b.hash = t.block_hash
WHERE st.script_id IN (%s) AND t.height <= ?
GROUP BY t.txid
ORDER BY t.height, t.pos, t.txid`

// History returns the confirmed transactions touching any of scriptIDs up
// to height, oldest first and in block order within a block.
func (s *Store) History(ctx context.Context, scriptIDs []int64, height int64) ([]HistoryTx, error) {
	if len(scriptIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(scriptIDs)+1)
	for _, id := range scriptIDs {
		args = append(args, id)
	}
	args = append(args, height)
	q := fmt.Sprintf(queryHistory, strings.TrimSuffix(strings.Repeat("?,", len(scriptIDs)), ","))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []HistoryTx
	for rows.Next() {
		var h HistoryTx
		var txid, bh []byte
		var t int64
		var cb int
		if err := rows.Scan(&txid, &h.Height, &bh, &t, &h.Pos, &h.Received, &h.Spent, &h.OwnIn, &h.OwnOut,
			&h.NIn, &h.NOut, &h.OutTotal, &cb); err != nil {
			return nil, err
		}
		copy(h.Txid[:], txid)
		copy(h.BlockHash[:], bh)
		h.Time = time.Unix(t, 0).UTC()
		h.Coinbase = cb != 0
		out = append(out, h)
	}
	return out, rows.Err()
}

// KnownPositions returns the stored block position of those of txids that
// have one, keyed by txid, with the block they are positioned in.
func (s *Store) KnownPositions(ctx context.Context, txids []chainhash.Hash) (map[chainhash.Hash]Placed, error) {
	out := map[chainhash.Hash]Placed{}
	stmt, err := s.db.PrepareContext(ctx, `SELECT block_hash, pos FROM txs WHERE txid = ? AND pos >= 0`)
	if err != nil {
		return nil, fmt.Errorf("store: positions: %w", err)
	}
	defer stmt.Close()
	for _, id := range txids {
		var bh []byte
		var p Placed
		err := stmt.QueryRowContext(ctx, id[:]).Scan(&bh, &p.Pos)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: position of %s: %w", id, err)
		}
		copy(p.Block[:], bh)
		out[id] = p
	}
	return out, nil
}

// Placed is a transaction's position in a block.
type Placed struct {
	Block chainhash.Hash
	Pos   int64
}
