package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
      FROM script_txs st JOIN txs t ON t.txid = st.txid
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
