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

// queryHistoryRows reads one row per (script, transaction): no GROUP BY
// and no ORDER BY, which SQLite would answer with two temporary B-trees;
// txs through the covering index txs_web (without INDEXED BY the planner
// takes the txid key and reads every transaction's row, raw bytes and
// all); and blocks joined by height (their key) rather than by hash. The
// hash is still compared, with the index on it disabled by the unary +.
const queryHistoryRows = `
SELECT t.txid, t.height, t.block_hash, b.time, t.pos,
       st.received, st.spent, st.n_in, st.n_out,
       t.n_in, t.n_out, t.out_total, t.coinbase
FROM script_txs st
JOIN txs t INDEXED BY txs_web ON t.txid = st.txid
JOIN blocks b ON b.height = t.height AND +b.hash = t.block_hash
WHERE st.script_id IN (%s) AND t.height <= ?`

// HistoryForPages returns the same transactions as History, in the same
// order and with the same sums, for the dashboard: the rows are read in
// one pass and summed and ordered in Go, which is several times faster on
// an entity with thousands of transactions than letting SQLite group and
// sort them.
func (s *Store) HistoryForPages(ctx context.Context, scriptIDs []int64, height int64) ([]HistoryTx, error) {
	if len(scriptIDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(scriptIDs)+1)
	for _, id := range scriptIDs {
		args = append(args, id)
	}
	args = append(args, height)
	marks := strings.TrimSuffix(strings.Repeat("?,", len(scriptIDs)), ",")
	// The number of rows, from the key of script_txs alone, so that the
	// rows are read into one allocation rather than a growing slice.
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM script_txs WHERE script_id IN (`+marks+`)`,
		args[:len(scriptIDs)]...).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	out, err := s.historyRows(ctx, fmt.Sprintf(queryHistoryRows, marks), args, n)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	// Sorted through an index, so that the sort moves 4 bytes, not the
	// whole row.
	idx := make([]int32, len(out))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &out[i], &out[j]
		return cmp.Or(cmp.Compare(a.Height, b.Height), cmp.Compare(a.Pos, b.Pos), bytes.Compare(a.Txid[:], b.Txid[:]))
	})
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

// queryBalancesForPages is queryBalances reading txs through the covering
// index txs_web, so that no transaction's row (raw bytes and all) is read.
var queryBalancesForPages = strings.Replace(queryBalances, "JOIN txs t ON", "JOIN txs t INDEXED BY txs_web ON", 1)

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

// historyRows runs queryHistoryRows on the driver's connection itself:
// reading ten thousand rows through database/sql's Scan (a conversion
// by reflection per value) costs a fifth more than the query.
func (s *Store) historyRows(ctx context.Context, q string, args []any, capHint int) ([]HistoryTx, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	out := make([]HistoryTx, 0, capHint)
	err = conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the SQLite driver cannot query")
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		v := make([]driver.Value, 13)
		for {
			if err := rows.Next(v); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			var n [13]int64 // the integer columns, all but txid and block hash
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
		}
	})
	return out, err
}
