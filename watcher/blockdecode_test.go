package watcher

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestDecodeBlockBoundsAllocation decodes blocks whose declared counts
// cannot fit their bytes — a huge transaction count, or one hostile
// transaction inside — and real regtest blocks: the first are refused with
// little memory, the others decode exactly as Deserialize decodes them.
func TestDecodeBlockBoundsAllocation(t *testing.T) {
	header := strings.Repeat("00", 80)
	hostile := map[string]string{
		"transaction count": header + "ff00e1f50500000000", // 100,000,000 transactions
	}
	for name, tx := range hugeCountTxs {
		hostile["a transaction with huge "+name] = header + "01" + tx
	}
	for name, h := range hostile {
		t.Run(name, func(t *testing.T) {
			raw, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			refusedCheaply(t, raw, func() error { _, err := DecodeBlock(raw); return err })
			if err := new(wire.MsgBlock).Deserialize(bytes.NewReader(raw)); err == nil {
				t.Error("Deserialize accepts what DecodeBlock refuses")
			}
		})
	}

	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k1, k2 := n.NewKey(chaintest.P2WPKH), n.NewKey(chaintest.P2TR)
	fund := n.Pay(chaintest.Output{Script: k1.Script, Value: 5_000_000}, chaintest.Output{Script: k2.Script, Value: 1_000_000})
	n.Mine()
	n.Spend(chaintest.CoinsOf(fund, k1.Script), []chaintest.Output{{Script: k2.Script, Value: 4_990_000}}, 10_000)
	tip := n.Mine()
	for _, hash := range []string{tip.String(), n.BlockHash(1).String()} {
		var h string
		if err := json.Unmarshal(n.RawRequest("getblock", hash, 0), &h); err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBlock(raw)
		if err != nil {
			t.Fatalf("block %s: %v", hash, err)
		}
		var want wire.MsgBlock
		if err := want.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if got.BlockHash() != want.BlockHash() || len(got.Transactions) != len(want.Transactions) {
			t.Errorf("block %s decoded as %s with %d txs, want %s with %d", hash, got.BlockHash(), len(got.Transactions),
				want.BlockHash(), len(want.Transactions))
		}
	}
}
