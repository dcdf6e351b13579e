package watcher

import (
	"context"
	"time"
)

// BlockAtOrBefore returns the last block known to the ledger, at or below
// the published block as, whose time is at or before t; nil when the
// ledger knows no block that old. The dashboard's "change over 30 days"
// compares the balance at this block with the balance at as, so both ends
// of the comparison are stated at a block an auditor can look up.
func (l *Ledger) BlockAtOrBefore(ctx context.Context, as AsOf, t time.Time) (*AsOf, error) {
	b, ok, err := l.store.BlockAtOrBefore(ctx, t, as.Height)
	if err != nil || !ok {
		return nil, err
	}
	return &AsOf{Height: b.Height, Hash: b.Hash.String(), Time: b.Time}, nil
}

// LastActivity returns, by address as written in the watchlist, the block
// of the address's last confirmed transaction at or below the published
// block as. Addresses without a confirmed transaction are absent.
func (l *Ledger) LastActivity(ctx context.Context, as AsOf) (map[string]AsOf, error) {
	byID, err := l.store.LastActivity(ctx, as.Height)
	if err != nil {
		return nil, err
	}
	out := map[string]AsOf{}
	for _, e := range l.wl.Entities {
		for _, a := range e.Addresses {
			id, ok, err := l.store.ScriptID(ctx, a.Address.Script)
			if err != nil {
				return nil, err
			}
			if b, found := byID[id]; ok && found {
				out[a.Address.Text] = AsOf{Height: b.Height, Hash: b.Hash.String(), Time: b.Time}
			}
		}
	}
	return out, nil
}
