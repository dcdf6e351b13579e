package watcher

import (
	"context"
	"errors"
	"fmt"
)

// ErrRefused marks a backend answer the engine refused as a lie or an
// inconsistency (a transaction that does not hash to its txid, a history
// listing a transaction that does not touch its script). Nothing of the
// answer is stored; the sync fails and the last published ledger stays.
var ErrRefused = errors.New("backend answer refused")

// Reasons the engine refuses an answer, as counted by Refuser.Refused.
const (
	RefusedTxid      = "tx does not hash to its txid"
	RefusedUntouched = "listed tx does not touch its script"
	RefusedHeight    = "block at another height"
	RefusedAboveTip  = "height above the tip"
	// RefusedMerkle is counted by backends whose block txid list does
	// not match the block's merkle root.
	RefusedMerkle = "block txids do not match merkle root"
)

// checkAbove is asked when a history placed a transaction above this
// sync's tip, at height highest (0: none did). A block mined since the tip
// was read explains that, and the transaction is left for the next sync;
// so the tip is read again, and a height still above it is refused: the
// backend states a block it does not have.
func (e *Engine) checkAbove(ctx context.Context, highest int64) error {
	if highest == 0 {
		return nil
	}
	tip, err := e.backend.Tip(ctx)
	if err != nil {
		return fmt.Errorf("tip: %w", err)
	}
	if highest > tip.Height {
		return e.refuse(RefusedAboveTip, "backend placed a transaction at height %d, above its tip at %d", highest, tip.Height)
	}
	return nil
}

// refuse counts a refused answer on the backend (when it is a Refuser),
// logs it, and returns the error that fails the sync.
func (e *Engine) refuse(reason, format string, args ...any) error {
	if r, ok := e.backend.(Refuser); ok {
		r.Refuse(reason)
	}
	err := fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrRefused)
	e.logger.Warn("backend answer refused", "backend", e.backend.Name(), "reason", reason, "err", err)
	return err
}
