package watcher_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestBlockAtTime mines back-dated blocks whose times go backwards now and
// then (as the consensus rules allow) and checks BlockAtTime against a
// plain scan of the times the test itself gave the blocks.
func TestBlockAtTime(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	tn := node.T(t)
	client := newBtcdClient(t, node)

	base := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Hour)
	genesis := chaincfg.RegressionNetParams.GenesisBlock.Header.Timestamp
	times := []time.Time{genesis} // times[h] is block h's header time
	hashes := []chainhash.Hash{*chaincfg.RegressionNetParams.GenesisHash}
	const blocks = 40
	for h := 1; h <= blocks; h++ {
		at := base.Add(time.Duration(h) * 10 * time.Minute)
		switch h {
		case 21, 22: // earlier than block 20, still after the median of the 11 before
			at = base.Add(time.Duration(19*10+h-20) * time.Minute)
		case 30: // earlier than 27..29
			at = base.Add(26*10*time.Minute + 30*time.Second)
		}
		times = append(times, at)
		hashes = append(hashes, tn.MineAt(at))
	}

	// want is the last block at or below maxHeight whose time is <= at.
	want := func(at time.Time, maxHeight int64) int64 {
		best := int64(-1)
		for h := int64(0); h <= maxHeight && h < int64(len(times)); h++ {
			if !times[h].After(at) {
				best = h
			}
		}
		return best
	}
	type query struct {
		name      string
		at        time.Time
		maxHeight int64
	}
	queries := []query{
		{"before the first block", genesis.Add(-time.Second), blocks},
		{"at the genesis", genesis, blocks},
		{"long after the tip", base.Add(365 * 24 * time.Hour), blocks},
		{"max height above the tip", base.Add(365 * 24 * time.Hour), blocks + 100},
		{"negative max height means tip", base.Add(365 * 24 * time.Hour), -1},
		{"capped by max height", base.Add(365 * 24 * time.Hour), 17},
		{"capped below a back-dated block", times[21], 20},
		{"back-dated after a later block", times[21], blocks},
		{"between back-dated blocks", times[22].Add(-time.Second), blocks},
		{"just before the back-dated 30", times[30].Add(-time.Second), blocks},
	}
	for h := 1; h <= blocks; h++ {
		queries = append(queries,
			query{fmt.Sprintf("at block %d", h), times[h], blocks},
			query{fmt.Sprintf("just before block %d", h), times[h].Add(-time.Second), blocks})
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			max := q.maxHeight
			if max < 0 || max > blocks {
				max = blocks
			}
			wantH := want(q.at, max)
			before := client.Calls()
			got, err := watcher.BlockAtTime(t.Context(), client, q.at, q.maxHeight)
			// A binary search, the genesis, the last block, and 11
			// neighbours plus each back-dated block met among them (two
			// at most here): the cost grows with the log of the height.
			if n, bound := client.Calls().Sub(before)["getblockhash"], int64(math.Ceil(math.Log2(blocks+1)))+2+11+2; n > bound {
				t.Errorf("%d getblockhash calls, want at most %d", n, bound)
			}
			if wantH < 0 {
				if err == nil {
					t.Fatalf("got block %d, want an error: no block is that old", got.Height)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Height != wantH || got.Hash != hashes[wantH] || !got.Time.Equal(times[wantH]) {
				t.Fatalf("got block %d %s at %v, want %d %s at %v", got.Height, got.Hash, got.Time,
					wantH, hashes[wantH], times[wantH])
			}
		})
	}
}
