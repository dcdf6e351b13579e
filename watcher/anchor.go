package watcher

import (
	"context"
	"fmt"
	"time"
)

// mtpWindow is the number of blocks whose median time a new block's time
// must exceed (consensus: "median time past" of the last 11 blocks).
const mtpWindow = 11

// BlockAtTime returns the last block of the backend's best chain, at or
// below maxHeight, whose header time is <= t: the block a scheduled
// report's instant is stated at, chosen from the chain itself rather than
// from what the ledger happens to store. A negative maxHeight, or one above
// the tip, means the tip.
//
// Block times are not monotonic: a block's time only has to exceed the
// median of the 11 before it. A binary search finds a block at or before t
// followed by one after it; the blocks after that are then read one by one
// until 11 in a row are later than t, because from there on every median,
// hence every later block, is later than t too.
func BlockAtTime(ctx context.Context, b Backend, t time.Time, maxHeight int64) (BlockRef, error) {
	tip, err := b.Tip(ctx)
	if err != nil {
		return BlockRef{}, fmt.Errorf("block at %s: %w", t.UTC().Format(time.RFC3339), err)
	}
	if maxHeight < 0 || maxHeight > tip.Height {
		maxHeight = tip.Height
	}
	cache := map[int64]BlockRef{tip.Height: tip}
	at := func(h int64) (BlockRef, error) {
		if r, ok := cache[h]; ok {
			return r, nil
		}
		r, err := b.BlockAt(ctx, h)
		if err != nil {
			return BlockRef{}, fmt.Errorf("block at %s: height %d: %w", t.UTC().Format(time.RFC3339), h, err)
		}
		cache[h] = r
		return r, nil
	}
	after := func(r BlockRef) bool { return r.Time.After(t) }

	last, err := at(maxHeight)
	if err != nil || !after(last) {
		return last, err
	}
	lo, err := at(0)
	if err != nil {
		return BlockRef{}, err
	}
	if after(lo) {
		return BlockRef{}, fmt.Errorf("block at %s: the chain's first block is later (%s)",
			t.UTC().Format(time.RFC3339), lo.Time.UTC().Format(time.RFC3339))
	}
	// Invariant: block lo is at or before t, block hi after it.
	hi := maxHeight
	for hi-lo.Height > 1 {
		mid := lo.Height + (hi-lo.Height)/2
		r, err := at(mid)
		if err != nil {
			return BlockRef{}, err
		}
		if after(r) {
			hi = mid
		} else {
			lo = r
		}
	}
	best, run := lo, 1 // block hi is after t
	for h := hi + 1; h <= maxHeight && run < mtpWindow; h++ {
		r, err := at(h)
		if err != nil {
			return BlockRef{}, err
		}
		if after(r) {
			run++
		} else {
			best, run = r, 0
		}
	}
	return best, nil
}
