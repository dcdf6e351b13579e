package watcher

import (
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
	// RefusedMerkle is counted by backends whose block txid list does
	// not match the block's merkle root.
	RefusedMerkle = "block txids do not match merkle root"
)

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
