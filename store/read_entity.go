package store

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// EntityTx is one confirmed transaction of a set of scripts (an entity's
// addresses), summed over the scripts it touches, with only what the
// dashboard's aggregates need (balance series, monthly flows, counts):
// the block hash, amounts apart and fee of a transaction are read for the
// few shown, through HistoryBetween.
type EntityTx struct {
	Txid   chainhash.Hash
	Height int64
	Pos    int64
	Time   int64 // block header time, unix seconds UTC
	Delta  int64 // received minus spent by the scripts
	// Inputs spending and outputs paying the scripts, and the
	// transaction's inputs and outputs: its flow kind.
	OwnIn, OwnOut, NIn, NOut int64
}

// queryEntityRows reads six columns per (script, transaction) row
// rather than HistoryBetween's thirteen: on ten thousand rows, reading
// each value out of the driver costs more than the scan. Values travel in
// pairs of 32 bits: height and position plus one (a position is -1 while
// unknown), and input and output counts (a transaction has far fewer
// than 2^31 inputs or outputs); count pairs of several rows are summed as
// they are.
const queryEntityRows = `
SELECT txid, (height << 32) | (pos + 1), time, received - spent, (n_in << 32) | n_out, (tx_n_in << 32) | tx_n_out
FROM script_history
WHERE script_id IN (%s) AND height <= ?`

// low32 masks the low half of a pair.
const low32 = 1<<32 - 1

// EntityTxs returns the confirmed transactions of scripts at or below
// height, in the order of HistoryForPages (height, position, txid), one
// per transaction: HistoryForPages' transactions with fewer columns.
func (s *Store) EntityTxs(ctx context.Context, scriptIDs []int64, height int64) ([]EntityTx, error) {
	if len(scriptIDs) == 0 {
		return nil, nil
	}
	args, marks := idArgs(scriptIDs)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM script_history WHERE script_id IN (`+marks+
		`) AND height <= ?`, append(args, height)...).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: entity transactions: %w", err)
	}
	rows := make([]EntityTx, 0, n)
	var x [6]int64
	err := s.rawQuery(ctx, fmt.Sprintf(queryEntityRows, marks), append(args, height), 6, func(v []driver.Value) error {
		for i := 1; i < len(v); i++ {
			n, ok := v[i].(int64)
			if !ok {
				return fmt.Errorf("column %d is %T, not an integer", i, v[i])
			}
			x[i] = n
		}
		r := EntityTx{Height: x[1] >> 32, Pos: x[1]&low32 - 1, Time: x[2], Delta: x[3], OwnIn: x[4], NIn: x[5]}
		txid, ok := v[0].([]byte)
		if !ok || len(txid) != len(r.Txid) {
			return fmt.Errorf("txid is not %d bytes", len(r.Txid))
		}
		copy(r.Txid[:], txid)
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: entity transactions: %w", err)
	}
	idx := chainOrder(len(rows), func(i int32) (int64, int64, *chainhash.Hash) {
		return rows[i].Height, rows[i].Pos, &rows[i].Txid
	})
	out := make([]EntityTx, 0, len(rows))
	for _, i := range idx {
		r := &rows[i]
		if k := len(out); k > 0 && out[k-1].Txid == r.Txid {
			out[k-1].Delta += r.Delta
			out[k-1].OwnIn += r.OwnIn // both counts of the pair
			continue
		}
		out = append(out, *r)
	}
	// The pairs apart: OwnIn and NIn hold (inputs << 32 | outputs).
	for i := range out {
		r := &out[i]
		r.OwnIn, r.OwnOut = r.OwnIn>>32, r.OwnIn&low32
		r.NIn, r.NOut = r.NIn>>32, r.NIn&low32
	}
	return out, nil
}
