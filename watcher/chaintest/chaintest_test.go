package chaintest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// searched is what searchrawtransactions says about one transaction.
type searched struct {
	Txid          string `json:"txid"`
	BlockHash     string `json:"blockhash"`
	Confirmations uint64 `json:"confirmations"`
}

func search(t *testing.T, n *Node, k *Key) []searched {
	t.Helper()
	raw := n.T(t).RawRequest("searchrawtransactions", k.Address.EncodeAddress(), 1, 0, 1000)
	var res []searched
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// wantConfirmed checks that the address's history is exactly txs, all in blocks.
func wantConfirmed(t *testing.T, n *Node, k *Key, txs ...*wire.MsgTx) {
	t.Helper()
	got := search(t, n, k)
	var ids, want []string
	for _, s := range got {
		ids = append(ids, s.Txid)
		if s.BlockHash == "" || s.Confirmations == 0 {
			t.Errorf("%v %s: tx %s not confirmed: %+v", k.Kind, k.Address, s.Txid, s)
		}
	}
	for _, tx := range txs {
		want = append(want, tx.TxHash().String())
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("%v %s: history %v, want %v", k.Kind, k.Address, ids, want)
	}
}

func TestPayAndSpendEveryKind(t *testing.T) {
	start := time.Now()
	n := StartTB(t, Options{})
	tn := n.T(t)
	t.Logf("start with %d blocks: %v", DefaultInitialBlocks, time.Since(start))
	if h := tn.Height(); h != DefaultInitialBlocks {
		t.Fatalf("height %d, want %d", h, DefaultInitialBlocks)
	}

	keys := map[Kind]*Key{}
	pays := map[Kind]*wire.MsgTx{}
	for _, kind := range Kinds {
		keys[kind] = tn.NewKey(kind)
		pays[kind] = tn.Pay(Output{keys[kind].Script, btcutil.Amount(1e8)})
	}
	// Unconfirmed payments sit in the mempool.
	var mempool []string
	if err := json.Unmarshal(tn.RawRequest("getrawmempool"), &mempool); err != nil {
		t.Fatal(err)
	}
	if len(mempool) != len(Kinds) {
		t.Fatalf("mempool has %d txs, want %d", len(mempool), len(Kinds))
	}
	tn.Mine()

	sink := tn.NewKey(P2WPKH)
	const fee = btcutil.Amount(2000)
	spend := func(kinds ...Kind) *wire.MsgTx {
		var in []Coin
		var sum btcutil.Amount
		for _, kind := range kinds {
			c := CoinsOf(pays[kind], keys[kind].Script)
			if len(c) != 1 || c[0].Value != 1e8 {
				t.Fatalf("%v: coins %+v", kind, c)
			}
			in = append(in, c...)
			sum += c[0].Value
		}
		return tn.Spend(in, []Output{{sink.Script, sum - fee}}, fee)
	}
	spends := map[Kind]*wire.MsgTx{}
	for _, kind := range []Kind{P2PKH, P2WPKH, P2WSH} {
		spends[kind] = spend(kind)
	}
	mixed := spend(P2SHMultisig, P2TR)
	spends[P2SHMultisig], spends[P2TR] = mixed, mixed
	tn.Mine()

	for _, kind := range Kinds {
		wantConfirmed(t, n, keys[kind], pays[kind], spends[kind])
	}
	wantConfirmed(t, n, sink, spends[P2PKH], spends[P2WPKH], spends[P2WSH], mixed)
	// The typed client works too.
	txid := mixed.TxHash()
	if res, err := n.Client.GetRawTransactionVerbose(&txid); err != nil || res.Confirmations != 1 {
		t.Errorf("rpcclient getrawtransaction: %+v, %v", res, err)
	}
	if len(mixed.TxIn) != 2 {
		t.Errorf("mixed spend has %d inputs", len(mixed.TxIn))
	}

	// Spend rejects a fee that does not add up and a coin it has no key for.
	c := CoinsOf(spends[P2PKH], sink.Script)
	if _, err := n.Spend(t.Context(), c, []Output{{sink.Script, c[0].Value - 1000}}, 999); err == nil {
		t.Error("Spend with a wrong fee succeeded")
	}
	foreign := c[0]
	foreign.Script = []byte{0x51}
	if _, err := n.Spend(t.Context(), []Coin{foreign}, []Output{{sink.Script, c[0].Value - 1000}}, 1000); err == nil {
		t.Error("Spend of a foreign script succeeded")
	}
}

// TestManyPaysWithoutMining checks that Pay keeps finding coins without
// chaining unconfirmed change deeper than the mempool limit.
func TestManyPaysWithoutMining(t *testing.T) {
	n := StartTB(t, Options{InitialBlocks: 101}) // two mature coinbases
	tn := n.T(t)
	k := tn.NewKey(P2TR)
	var paid int
	for i := range 100 {
		_, err := n.Pay(t.Context(), Output{k.Script, 10000})
		if errors.Is(err, ErrNoFunds) {
			paid = i
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two coinbases, each the root of a chain of at most 20 transactions.
	if paid != 2*maxUnconfirmedDepth {
		t.Errorf("paid %d times before running dry, want %d", paid, 2*maxUnconfirmedDepth)
	}
	tn.Mine()
	tn.Pay(Output{k.Script, 10000})
	tn.Mine()
	if got := len(search(t, n, k)); got != paid+1 {
		t.Errorf("%d txs, want %d", got, paid+1)
	}
}

func TestInvalidateReconsider(t *testing.T) {
	n := StartTB(t, Options{})
	tn := n.T(t)
	k := tn.NewKey(P2WPKH)
	pay := tn.Pay(Output{k.Script, 5e7})
	b := tn.Mine()
	h := tn.Height()

	tn.Invalidate(b)
	if got := tn.Height(); got != h-1 {
		t.Fatalf("height after invalidate %d, want %d", got, h-1)
	}
	var mempool []string
	json.Unmarshal(tn.RawRequest("getrawmempool"), &mempool)
	if !slices.Contains(mempool, pay.TxHash().String()) {
		t.Fatalf("disconnected payment not back in mempool: %v", mempool)
	}
	// The wallet rescanned: a new payment must not double-spend the old one.
	pay2 := tn.Pay(Output{k.Script, 5e7})
	alt := tn.Generate(2)
	if got := tn.BlockHash(h); got == b || got != alt[0] {
		t.Fatalf("getblockhash(%d) = %s, want the new branch %s", h, got, alt[0])
	}
	wantConfirmed(t, n, k, pay, pay2)

	// The old block is a valid fork again after reconsider, but the new
	// branch is longer and stays best.
	tn.Reconsider(b)
	if got := tn.BlockHash(h); got != alt[0] {
		t.Fatalf("after reconsider getblockhash(%d) = %s, want %s", h, got, alt[0])
	}
	var tips []struct {
		Hash   string `json:"hash"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(tn.RawRequest("getchaintips"), &tips); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(tips, func(tip struct {
		Hash   string `json:"hash"`
		Status string `json:"status"`
	}) bool {
		return tip.Hash == b.String() && tip.Status == "valid-fork"
	}) {
		t.Errorf("old block not a valid fork: %+v", tips)
	}

	// Invalidate the new branch: the old block becomes best again.
	tn.Invalidate(alt[0])
	if got := tn.BlockHash(h); got != b {
		t.Fatalf("getblockhash(%d) = %s, want the old block %s", h, got, b)
	}
	tn.Pay(Output{k.Script, 1e6}) // the wallet follows
	tn.Mine()
}

func TestFundMany(t *testing.T) {
	n := StartTB(t, Options{InitialBlocks: -1}) // FundMany mines what it needs
	tn := n.T(t)
	var keys []*Key
	var scripts [][]byte
	for _, kind := range Kinds {
		k := tn.NewKey(kind)
		keys = append(keys, k)
		scripts = append(scripts, k.Script)
	}
	start := time.Now()
	tn.FundMany(scripts, 3, 20000)
	t.Logf("FundMany 5x3: %v, height %d", time.Since(start), tn.Height())
	for _, k := range keys {
		got := search(t, n, k)
		if len(got) != 3 {
			t.Errorf("%v: %d txs, want 3", k.Kind, len(got))
		}
		for _, s := range got {
			if s.BlockHash == "" {
				t.Errorf("%v: %s unconfirmed", k.Kind, s.Txid)
			}
		}
	}
	// The wallet still pays afterwards.
	tn.Pay(Output{keys[0].Script, 1e6})
	tn.Mine()
}

func TestTwoNodesReorg(t *testing.T) {
	a := StartTB(t, Options{Listen: true})
	b := StartTB(t, Options{Listen: true, InitialBlocks: -1})
	ta, tb := a.T(t), b.T(t)
	tb.Connect(a)
	WaitSyncTB(t, a, b)
	if ta.Height() != tb.Height() {
		t.Fatal("heights differ after sync")
	}
	tb.Disconnect(a)
	k := ta.NewKey(P2WPKH)
	pay := ta.Pay(Output{k.Script, 1e7})
	lost := ta.Mine()
	tb.Generate(2)
	tb.Connect(a)
	WaitSyncTB(t, a, b)
	h := ta.Height()
	if got := ta.BlockHash(h - 1); got == lost {
		t.Fatal("a did not reorg to b's longer chain")
	}
	// The payment went back to a's mempool; mining on a confirms it again.
	ta.Mine()
	WaitSyncTB(t, a, b)
	wantConfirmed(t, b, k, pay)
}

func TestOptions(t *testing.T) {
	t.Run("NoAddrIndex", func(t *testing.T) {
		n := StartTB(t, Options{NoAddrIndex: true, InitialBlocks: -1})
		_, err := n.RawRequest(t.Context(), "searchrawtransactions", n.MinerKey().Address.EncodeAddress())
		var rpcErr *btcjson.RPCError
		if !errors.As(err, &rpcErr) {
			t.Fatalf("searchrawtransactions without --addrindex: %v", err)
		}
		t.Logf("btcd says: %v", rpcErr)
	})
	t.Run("NoTxIndex", func(t *testing.T) {
		n := StartTB(t, Options{NoTxIndex: true, InitialBlocks: 1})
		tn := n.T(t)
		var blk struct {
			Tx []string `json:"tx"`
		}
		json.Unmarshal(tn.RawRequest("getblock", tn.BlockHash(1).String()), &blk)
		_, err := n.RawRequest(t.Context(), "getrawtransaction", blk.Tx[0])
		if err == nil {
			t.Fatal("getrawtransaction of a confirmed tx worked without --txindex")
		}
		t.Logf("btcd says: %v", err)
	})
	t.Run("SimNet", func(t *testing.T) {
		n := StartTB(t, Options{Params: &chaincfg.SimNetParams, InitialBlocks: 3})
		var info struct {
			Chain  string `json:"chain"`
			Blocks int64  `json:"blocks"`
		}
		json.Unmarshal(n.T(t).RawRequest("getblockchaininfo"), &info)
		if info.Chain != "simnet" || info.Blocks != 3 {
			t.Errorf("getblockchaininfo = %+v", info)
		}
		genesis := n.T(t).BlockHash(0)
		if genesis != *chaincfg.SimNetParams.GenesisHash || genesis == *chaincfg.RegressionNetParams.GenesisHash {
			t.Errorf("genesis %s", genesis)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		if _, err := Start(t.Context(), Options{Params: &chaincfg.MainNetParams}); err == nil {
			t.Fatal("mainnet accepted")
		}
	})
}

func TestCloseIsIdempotent(t *testing.T) {
	n, err := Start(t.Context(), Options{InitialBlocks: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Height(t.Context()); err == nil {
		t.Error("RPC still answers after Close")
	}
}

// BenchmarkFundMany1000x10 measures the benchmark-sized funding: 10,000
// payment transactions to 1,000 scripts.
func BenchmarkFundMany1000x10(b *testing.B) {
	for b.Loop() {
		n := StartTB(b, Options{InitialBlocks: -1})
		scripts := make([][]byte, 1000)
		for i := range scripts {
			k, err := n.NewKey(Kinds[i%len(Kinds)])
			if err != nil {
				b.Fatal(err)
			}
			scripts[i] = k.Script
		}
		start := time.Now()
		n.T(b).FundMany(scripts, 10, 20000)
		b.Logf("FundMany 1000x10: %v, height %d", time.Since(start), n.T(b).Height())
		n.Close()
	}
}
