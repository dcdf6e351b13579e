package web

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// synthLedger is a ledger written straight into a store, without a chain:
// one entity ("big") with two addresses and n transactions, one per block,
// spread evenly from start to end. It cycles through the four flows, so
// that time windows, months and every kind can be checked against the
// generator's own account (txs), and pages can be measured at scale.
type synthLedger struct {
	wl  *watcher.Watchlist
	st  *store.Store
	txs []synthTx
	tip store.Block
}

// synthTx is the generator's account of one transaction, from the entity's
// side.
type synthTx struct {
	height int64
	time   time.Time
	kind   watcher.Flow
	delta  int64
	fee    int64 // -1 when unknown
}

// buildSynth writes n transactions between start and end into a new store
// in tb's temporary directory.
func buildSynth(tb testing.TB, n int, start, end time.Time) *synthLedger {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	var addrs [2]string
	for i := range addrs {
		prog := sha256.Sum256([]byte{byte(i)})
		a, err := address.NewAddressWitnessPubKeyHash(prog[:20], &chaincfg.RegressionNetParams)
		if err != nil {
			tb.Fatal(err)
		}
		addrs[i] = a.EncodeAddress()
	}
	toml := fmt.Sprintf(`network = "regtest"
[store]
path = "synth.db"
[[backends]]
kind = "esplora"
url = "http://127.0.0.1:3002"
[[entities]]
id = "big"
name = "Big Treasury"
country = "SV"
[[entities.addresses]]
address = %q
label = "Hot"
source = "https://example.org/hot"
[[entities.addresses]]
address = %q
label = "Cold"
source = "https://example.org/cold"
`, addrs[0], addrs[1])
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		tb.Fatal(err)
	}
	wl, err := watcher.LoadWatchlist(path)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(ctx, wl.Store.Path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	scripts := wl.Scripts()
	ids, err := st.EnsureScripts(ctx, [][]byte{scripts[0], scripts[1]})
	if err != nil {
		tb.Fatal(err)
	}
	hot, cold := ids[0], ids[1]
	l := &synthLedger{wl: wl, st: st}
	var step store.Step
	step.Txs = make([]store.Tx, 0, n)
	span := end.Sub(start)
	var balHot int64
	for i := range n {
		h := int64(i + 1)
		at := start.Add(time.Duration(span.Seconds()*float64(i)/float64(max(1, n-1))) * time.Second).Truncate(time.Second)
		var bh chainhash.Hash
		binary.BigEndian.PutUint64(bh[:], uint64(h))
		bh = sha256.Sum256(bh[:])
		step.Blocks = append(step.Blocks, store.Block{Height: h, Hash: bh, Time: at})
		// A valid serialized transaction, unique per i.
		mtx := wire.NewMsgTx(2)
		mtx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: bh, Index: uint32(i)}, nil, nil))
		mtx.AddTxOut(wire.NewTxOut(int64(1000+i), scripts[0]))
		raw := make([]byte, 0, mtx.SerializeSize())
		buf := &sliceWriter{raw}
		if err := mtx.Serialize(buf); err != nil {
			tb.Fatal(err)
		}
		txid := mtx.TxHash()
		tx := store.Tx{Txid: txid, Height: h, BlockHash: bh, Pos: -1, Raw: buf.b}
		st := synthTx{height: h, time: at, fee: -1}
		value := int64(100_000 + (i%7)*10_000)
		switch i % 10 {
		case 0, 1, 2, 3, 4, 9: // inflow to hot (9: to cold)
			id := hot
			if i%10 == 9 {
				id = cold
			} else {
				balHot += value
			}
			tx.NIn, tx.NOut, tx.OutTotal = 1, 2, value+5000
			step.Rows = append(step.Rows, store.Row{ScriptID: id, Txid: txid, Received: value, NOut: 1})
			st.kind, st.delta = watcher.Inflow, value
		case 5: // outflow from hot
			spent := balHot / 4
			balHot -= spent
			tx.NIn, tx.NOut, tx.OutTotal = 1, 1, spent-300
			step.Rows = append(step.Rows, store.Row{ScriptID: hot, Txid: txid, Spent: spent, NIn: 1})
			st.kind, st.delta, st.fee = watcher.Outflow, -spent, 300
		case 6, 7: // internal: hot to cold
			spent := balHot / 5
			balHot -= spent
			tx.NIn, tx.NOut, tx.OutTotal = 1, 1, spent-200
			step.Rows = append(step.Rows, store.Row{ScriptID: hot, Txid: txid, Spent: spent, NIn: 1},
				store.Row{ScriptID: cold, Txid: txid, Received: spent - 200, NOut: 1})
			st.kind, st.delta, st.fee = watcher.Internal, -200, 200
		case 8: // mixed: hot and an outsider pay together, change to hot
			spent := balHot / 3
			balHot += 1000 - spent
			tx.NIn, tx.NOut, tx.OutTotal = 2, 2, spent+50_000
			step.Rows = append(step.Rows, store.Row{ScriptID: hot, Txid: txid, Spent: spent, Received: 1000, NIn: 1, NOut: 1})
			st.kind, st.delta = watcher.Mixed, 1000-spent
		}
		step.Txs = append(step.Txs, tx)
		l.txs = append(l.txs, st)
	}
	l.tip = step.Blocks[len(step.Blocks)-1]
	step.Publish = &l.tip
	step.Now = end
	if err := st.Apply(ctx, step); err != nil {
		tb.Fatal(err)
	}
	l.wl = wl
	return l
}

// sliceWriter collects serialized bytes.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// balanceAtHeight is the generator's balance after block h.
func (l *synthLedger) balanceAtHeight(h int64) int64 {
	var b int64
	for _, t := range l.txs {
		if t.height <= h {
			b += t.delta
		}
	}
	return b
}

// lastBlockAtOrBefore is the generator's highest block with time <= at.
func (l *synthLedger) lastBlockAtOrBefore(at time.Time) int64 {
	h := int64(-1)
	for _, t := range l.txs {
		if !t.time.After(at) {
			h = t.height
		}
	}
	return h
}

// extend appends k inflows to the hot address, one block each, a second
// apart after the tip, and publishes the new tip: a sync, as readers see
// it.
func (l *synthLedger) extend(tb testing.TB, k int) {
	tb.Helper()
	ctx := context.Background()
	scripts := l.wl.Scripts()
	ids, err := l.st.EnsureScripts(ctx, [][]byte{scripts[0]})
	if err != nil {
		tb.Fatal(err)
	}
	var step store.Step
	for range k {
		h := l.tip.Height + 1
		var bh chainhash.Hash
		binary.BigEndian.PutUint64(bh[:], uint64(h))
		bh = sha256.Sum256(bh[:])
		l.tip = store.Block{Height: h, Hash: bh, Time: l.tip.Time.Add(time.Second)}
		step.Blocks = append(step.Blocks, l.tip)
		mtx := wire.NewMsgTx(2)
		mtx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: bh}, nil, nil))
		mtx.AddTxOut(wire.NewTxOut(50_000, scripts[0]))
		buf := &sliceWriter{}
		if err := mtx.Serialize(buf); err != nil {
			tb.Fatal(err)
		}
		txid := mtx.TxHash()
		step.Txs = append(step.Txs, store.Tx{Txid: txid, Height: h, BlockHash: bh, Pos: -1, NIn: 1, NOut: 1,
			OutTotal: 50_000, Raw: buf.b})
		step.Rows = append(step.Rows, store.Row{ScriptID: ids[0], Txid: txid, Received: 50_000, NOut: 1})
		l.txs = append(l.txs, synthTx{height: h, time: l.tip.Time, kind: watcher.Inflow, delta: 50_000, fee: -1})
	}
	tip := l.tip
	step.Publish, step.Now = &tip, tip.Time
	if err := l.st.Apply(ctx, step); err != nil {
		tb.Fatal(err)
	}
}
