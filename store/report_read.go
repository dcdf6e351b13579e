package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BlockAtHeight returns the stored block at height; ok=false when the
// ledger stores none there (blocks holding no ledger transaction are not
// all stored). Reports use it to check that the blocks they are anchored
// at are still the ledger's chain.
func (s *Store) BlockAtHeight(ctx context.Context, height int64) (b Block, ok bool, err error) {
	var hash []byte
	var t int64
	err = s.db.QueryRowContext(ctx, `SELECT height, hash, time FROM blocks WHERE height = ?`, height).Scan(&b.Height, &hash, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, false, nil
	}
	if err != nil {
		return Block{}, false, fmt.Errorf("store: block at height %d: %w", height, err)
	}
	copy(b.Hash[:], hash)
	b.Time = time.Unix(t, 0).UTC()
	return b, true, nil
}
