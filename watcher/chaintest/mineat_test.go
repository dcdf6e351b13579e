package chaintest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// headerTime returns the time getblockheader reports for hash.
func headerTime(t *testing.T, n *Node, hash chainhash.Hash) time.Time {
	t.Helper()
	var hdr struct {
		Time   int64 `json:"time"`
		Height int64 `json:"height"`
	}
	if err := json.Unmarshal(n.T(t).RawRequest("getblockheader", hash.String(), true), &hdr); err != nil {
		t.Fatal(err)
	}
	return time.Unix(hdr.Time, 0)
}

// rawBlock returns the block with hash, decoded.
func rawBlock(t *testing.T, n *Node, hash chainhash.Hash) *wire.MsgBlock {
	t.Helper()
	b, err := decodeBlock(n.T(t).RawRequest("getblock", hash.String(), 0))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mempoolIDs(t *testing.T, n *Node) []string {
	t.Helper()
	var ids []string
	if err := json.Unmarshal(n.T(t).RawRequest("getrawmempool"), &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

func txids(block *wire.MsgBlock) []chainhash.Hash {
	var out []chainhash.Hash
	for _, tx := range block.Transactions {
		out = append(out, tx.TxHash())
	}
	return out
}

func TestMineAt(t *testing.T) {
	n := StartTB(t, Options{InitialBlocks: -1})
	tn := n.T(t)
	base := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }

	start := time.Now()
	var hashes []chainhash.Hash
	for i := range 110 {
		hashes = append(hashes, tn.MineAt(at(i)))
	}
	t.Logf("110 blocks with MineAt: %v", time.Since(start))
	if h := tn.Height(); h != 110 {
		t.Fatalf("height %d, want 110", h)
	}
	for i, h := range hashes {
		if got := headerTime(t, n, h); !got.Equal(at(i)) {
			t.Fatalf("block %d: time %v, want %v", i+1, got, at(i))
		}
		if got := tn.BlockHash(int64(i + 1)); got != h {
			t.Fatalf("getblockhash(%d) = %s, want %s", i+1, got, h)
		}
	}

	// The wallet learnt the coinbases: ten are mature at height 110.
	wpkh, tr := tn.NewKey(P2WPKH), tn.NewKey(P2TR)
	payW := tn.Pay(Output{wpkh.Script, 1e8})
	payT := tn.Pay(Output{tr.Script, 2e8})
	paidAt := at(110)
	b := tn.MineAt(paidAt)
	if got := headerTime(t, n, b); !got.Equal(paidAt) {
		t.Errorf("payment block time %v, want %v", got, paidAt)
	}
	block := rawBlock(t, n, b)
	ids := txids(block)
	if len(ids) != 3 || !slices.Contains(ids, payW.TxHash()) || !slices.Contains(ids, payT.TxHash()) {
		t.Fatalf("payment block holds %v, want the coinbase and %s, %s", ids, payW.TxHash(), payT.TxHash())
	}
	// Coinbase = subsidy + fees; the payments spend 50 BTC coinbases.
	var fees int64
	for _, tx := range []*wire.MsgTx{payW, payT} {
		fees += 50e8 * int64(len(tx.TxIn))
		for _, o := range tx.TxOut {
			fees -= o.Value
		}
	}
	if got := block.Transactions[0].TxOut[0].Value; got != 50e8+fees {
		t.Errorf("coinbase pays %d, want 50 BTC + %d fees", got, fees)
	}
	for _, k := range []*Key{wpkh, tr} {
		for _, s := range search(t, n, k) {
			if s.BlockHash != "" && s.BlockHash != b.String() {
				t.Errorf("%v: %s in block %s, want %s", k.Kind, s.Txid, s.BlockHash, b)
			}
		}
	}

	// btcd keeps the mined payments in its mempool while its tip is a
	// month old; MineAt must not mine them twice.
	if got := mempoolIDs(t, n); len(got) != 2 {
		t.Logf("btcd's mempool after a past block: %v (expected the 2 mined payments)", got)
	}
	empty := tn.MineAt(at(111))
	if got := txids(rawBlock(t, n, empty)); len(got) != 1 {
		t.Fatalf("block after the payments holds %d txs, want only the coinbase", len(got))
	}

	// Witness inputs (P2WPKH, P2TR) need the witness commitment; a child
	// in the same block as its parent comes after it.
	sink := tn.NewKey(P2WPKH)
	in := append(CoinsOf(payW, wpkh.Script), CoinsOf(payT, tr.Script)...)
	spend := tn.Spend(in, []Output{{sink.Script, 3e8 - 1000}}, 1000)
	child := tn.Spend(CoinsOf(spend, sink.Script), []Output{{wpkh.Script, 3e8 - 2000}}, 1000)
	wb := tn.MineAt(at(112))
	ids = txids(rawBlock(t, n, wb))
	if len(ids) != 3 || ids[1] != spend.TxHash() || ids[2] != child.TxHash() {
		t.Fatalf("witness block holds %v, want coinbase, %s, %s", ids, spend.TxHash(), child.TxHash())
	}

	// Out-of-order, equal-to-median and far-future times are refused.
	for _, bad := range []time.Time{at(100), at(107), time.Now().Add(3 * time.Hour)} {
		if _, err := n.MineAt(t.Context(), bad); !errors.Is(err, ErrBlockTime) {
			t.Errorf("MineAt(%v): %v, want ErrBlockTime", bad, err)
		} else {
			t.Logf("MineAt(%v): %v", bad, err)
		}
	}

	// DropMined forgets the mined transactions btcd kept and keeps the
	// unconfirmed one, although it spends a mined one's output.
	pending := tn.Spend(CoinsOf(child, wpkh.Script), []Output{{tr.Script, 3e8 - 3000}}, 1000)
	if got := len(mempoolIDs(t, n)); got != 5 {
		t.Logf("mempool before DropMined: %d txs (expected 4 mined + 1 pending)", got)
	}
	height := tn.Height()
	start = time.Now()
	tn.DropMined()
	t.Logf("DropMined over %d blocks: %v", height-110, time.Since(start))
	if tn.Height() != height || tn.BlockHash(height) != wb {
		t.Fatalf("after DropMined: tip %d %s, want %d %s", tn.Height(), tn.BlockHash(height), height, wb)
	}
	if got := mempoolIDs(t, n); !slices.Equal(got, []string{pending.TxHash().String()}) {
		t.Fatalf("mempool after DropMined %v, want only %s", got, pending.TxHash())
	}
	tn.Pay(Output{tr.Script, 1e6}) // the wallet still pays
	if b := tn.MineAt(at(113)); len(rawBlock(t, n, b).Transactions) != 3 {
		t.Errorf("block after DropMined does not hold the 2 pending txs")
	}

	// Past the first halving (regtest: every 150 blocks) the coinbase
	// pays the halved subsidy.
	for i := 114; tn.Height() < 150; i++ {
		tn.MineAt(at(i))
	}
	last := rawBlock(t, n, tn.BlockHash(150))
	if got := last.Transactions[0].TxOut[0].Value; got != int64(25*btcutil.SatoshiPerBitcoin) {
		t.Errorf("coinbase at height 150 pays %d, want 25 BTC", got)
	}
	// A plain generate still works on top.
	tn.Mine()
}
