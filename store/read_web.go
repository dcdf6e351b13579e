package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

// BlockAtOrBefore returns the highest stored block at or below maxHeight
// whose header time is at or before t; ok=false when the ledger knows no
// such block. The dashboard compares balances with this block ("change
// over 30 days"), so that the comparison, too, is stated at a block.
// Blocks holding no ledger transaction are not all stored, but no balance
// changes in them, so the balance at the returned block is the balance at
// the last chain block before t.
func (s *Store) BlockAtOrBefore(ctx context.Context, t time.Time, maxHeight int64) (b Block, ok bool, err error) {
	var hash []byte
	var bt int64
	err = s.db.QueryRowContext(ctx, `SELECT height, hash, time FROM blocks
		WHERE time <= ? AND height <= ? ORDER BY height DESC LIMIT 1`, t.Unix(), maxHeight).Scan(&b.Height, &hash, &bt)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, false, nil
	}
	if err != nil {
		return Block{}, false, fmt.Errorf("store: block before %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	copy(b.Hash[:], hash)
	b.Time = time.Unix(bt, 0).UTC()
	return b, true, nil
}

const queryLastActivity = `
SELECT x.script_id, b.height, b.hash, b.time
FROM (SELECT st.script_id AS script_id, MAX(t.height) AS h
      FROM script_txs st JOIN txs t INDEXED BY txs_web ON t.txid = st.txid
      WHERE t.height <= ?
      GROUP BY st.script_id) x
JOIN blocks b ON b.height = x.h`

// LastActivity returns, per script id, the block of the script's last
// confirmed transaction at or below height: the "last activity" column of
// the dashboard, in one query however many addresses are watched.
func (s *Store) LastActivity(ctx context.Context, height int64) (map[int64]Block, error) {
	rows, err := s.db.QueryContext(ctx, queryLastActivity, height)
	if err != nil {
		return nil, fmt.Errorf("store: last activity: %w", err)
	}
	defer rows.Close()
	out := map[int64]Block{}
	for rows.Next() {
		var id, t int64
		var b Block
		var hash []byte
		if err := rows.Scan(&id, &b.Height, &hash, &t); err != nil {
			return nil, fmt.Errorf("store: last activity: %w", err)
		}
		copy(b.Hash[:], hash)
		b.Time = time.Unix(t, 0).UTC()
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: last activity: %w", err)
	}
	return out, nil
}

// queryHistoryRows reads one row per (script, transaction) from
// script_history, which holds the block and transaction columns beside
// the script's: one range scan per script in chain order, with no join
// and no GROUP BY or ORDER BY (SQLite would answer them with temporary
// B-trees; the rows are summed and merged in Go).
const queryHistoryRows = `
SELECT txid, height, block_hash, time, pos, received, spent, n_in, n_out, tx_n_in, tx_n_out, out_total, coinbase
FROM script_history
WHERE script_id IN (%s) AND height >= ? AND height <= ?`

// HistoryForPages returns the same transactions as History, in the same
// order and with the same sums, for the dashboard: the rows are read in
// one pass and summed and ordered in Go, which is several times faster on
// an entity with thousands of transactions than letting SQLite group and
// sort them.
func (s *Store) HistoryForPages(ctx context.Context, scriptIDs []int64, height int64) ([]HistoryTx, error) {
	return s.HistoryBetween(ctx, scriptIDs, 0, height)
}

// HistoryBetween is HistoryForPages restricted to the blocks from height
// lo to hi: the rows of one page of flows, read without the rest.
func (s *Store) HistoryBetween(ctx context.Context, scriptIDs []int64, lo, hi int64) ([]HistoryTx, error) {
	if len(scriptIDs) == 0 {
		return nil, nil
	}
	args, marks := idArgs(scriptIDs)
	// The number of rows, from the key of script_history alone, so that
	// the rows are read into one allocation rather than a growing slice.
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM script_history WHERE script_id IN (`+marks+
		`) AND height >= ? AND height <= ?`, append(args, lo, hi)...).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	out, err := s.historyRows(ctx, fmt.Sprintf(queryHistoryRows, marks), append(args, lo, hi), n)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	idx := chainOrder(len(out), func(i int32) (int64, int64, *chainhash.Hash) { return out[i].Height, out[i].Pos, &out[i].Txid })
	// A transaction touching several of the scripts has one row each:
	// they are now adjacent, and are summed into one.
	sorted := make([]HistoryTx, 0, len(out))
	for _, i := range idx {
		r := &out[i]
		if n := len(sorted); n > 0 && sorted[n-1].Txid == r.Txid {
			p := &sorted[n-1]
			p.Received += r.Received
			p.Spent += r.Spent
			p.OwnIn += r.OwnIn
			p.OwnOut += r.OwnOut
			continue
		}
		sorted = append(sorted, *r)
	}
	return sorted, nil
}

// chainOrder returns the indexes 0..n-1 in chain order (height, position,
// txid) of the rows key describes. Sorting indexes moves 4 bytes, not the
// whole row.
func chainOrder(n int, key func(int32) (height, pos int64, txid *chainhash.Hash)) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		ha, pa, ta := key(i)
		hb, pb, tb := key(j)
		return cmp.Or(cmp.Compare(ha, hb), cmp.Compare(pa, pb), bytes.Compare(ta[:], tb[:]))
	})
	return idx
}

// idArgs returns script ids as query arguments and their placeholders.
func idArgs(ids []int64) ([]any, string) {
	args := make([]any, 0, len(ids)+2)
	for _, id := range ids {
		args = append(args, id)
	}
	return args, strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
}

// queryBalancesForPages answers queryBalances without its join: the
// confirmed figures from script_history, the unconfirmed ones as each
// script's total over script_txs minus its confirmed total (a row of
// script_txs is either confirmed, and in script_history, or not). Both
// tables are read in key order, grouped by their first key column.
const queryBalancesForPages = `
SELECT a.script_id, COALESCE(h.confirmed, 0), a.total - COALESCE(h.ever, 0), COALESCE(h.n, 0), COALESCE(h.last, -1)
FROM (SELECT script_id, SUM(received - spent) AS total FROM script_txs GROUP BY script_id) a
LEFT JOIN (SELECT script_id,
                  SUM(CASE WHEN height <= ?1 THEN received - spent ELSE 0 END) AS confirmed,
                  SUM(received - spent) AS ever,
                  COUNT(CASE WHEN height <= ?1 THEN 1 END) AS n,
                  MAX(CASE WHEN height <= ?1 THEN height END) AS last
           FROM script_history GROUP BY script_id) h ON h.script_id = a.script_id`

// BalancesForPages returns what Balances returns, read for the dashboard,
// which reads every balance again after each sync.
func (s *Store) BalancesForPages(ctx context.Context, height int64) (map[int64]Balance, error) {
	rows, err := s.db.QueryContext(ctx, queryBalancesForPages, height)
	if err != nil {
		return nil, fmt.Errorf("store: balances: %w", err)
	}
	defer rows.Close()
	out := map[int64]Balance{}
	for rows.Next() {
		var id int64
		var b Balance
		if err := rows.Scan(&id, &b.Confirmed, &b.Unconfirmed, &b.TxCount, &b.LastHeight); err != nil {
			return nil, fmt.Errorf("store: balances: %w", err)
		}
		out[id] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: balances: %w", err)
	}
	return out, nil
}

// BlocksAtHeights returns the stored blocks at the given heights, by
// height; heights without a stored block are absent. With the LastHeight
// of BalancesForPages it gives every address's last activity without a
// second pass over the ledger.
func (s *Store) BlocksAtHeights(ctx context.Context, heights []int64) (map[int64]Block, error) {
	out := make(map[int64]Block, len(heights))
	if len(heights) == 0 {
		return out, nil
	}
	args := make([]any, len(heights))
	for i, h := range heights {
		args[i] = h
	}
	q := `SELECT height, hash, time FROM blocks WHERE height IN (` + strings.TrimSuffix(strings.Repeat("?,", len(heights)), ",") + `)`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b Block
		var hash []byte
		var t int64
		if err := rows.Scan(&b.Height, &hash, &t); err != nil {
			return nil, fmt.Errorf("store: blocks: %w", err)
		}
		copy(b.Hash[:], hash)
		b.Time = time.Unix(t, 0).UTC()
		out[b.Height] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blocks: %w", err)
	}
	return out, nil
}

// historyRows reads queryHistoryRows' rows through rawQuery.
func (s *Store) historyRows(ctx context.Context, q string, args []any, capHint int) ([]HistoryTx, error) {
	out := make([]HistoryTx, 0, capHint)
	var n [13]int64 // the integer columns, all but txid and block hash
	err := s.rawQuery(ctx, q, args, 13, func(v []driver.Value) error {
		for i := range v {
			if i == 0 || i == 2 {
				continue
			}
			x, ok := v[i].(int64)
			if !ok {
				return fmt.Errorf("column %d is %T, not an integer", i, v[i])
			}
			n[i] = x
		}
		h := HistoryTx{Height: n[1], Time: time.Unix(n[3], 0).UTC(), Pos: n[4], Received: n[5], Spent: n[6],
			OwnIn: n[7], OwnOut: n[8], NIn: n[9], NOut: n[10], OutTotal: n[11], Coinbase: n[12] != 0}
		txid, ok1 := v[0].([]byte)
		bh, ok2 := v[2].([]byte)
		if !ok1 || !ok2 || len(txid) != len(h.Txid) || len(bh) != len(h.BlockHash) {
			return fmt.Errorf("txid or block hash is not %d bytes", len(h.Txid))
		}
		copy(h.Txid[:], txid)
		copy(h.BlockHash[:], bh)
		out = append(out, h)
		return nil
	})
	return out, err
}

// rawQuery runs q on the driver's connection itself and calls row with
// each row's ncols values: reading ten thousand rows through
// database/sql's Scan (a conversion by reflection per value) costs a
// fifth more than the query.
func (s *Store) rawQuery(ctx context.Context, q string, args []any, ncols int, row func([]driver.Value) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the SQLite driver cannot query")
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		if n := len(rows.Columns()); n != ncols {
			return fmt.Errorf("query gives %d columns, want %d", n, ncols)
		}
		v := make([]driver.Value, ncols)
		for {
			if err := rows.Next(v); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := row(v); err != nil {
				return err
			}
		}
	})
}
