package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// runCLI runs the command line in-process and returns what it printed.
func runCLI(tb testing.TB, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	var out, errb bytes.Buffer
	code = Run(tb.Context(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs the command line and fails the test unless it exits 0.
func mustCLI(tb testing.TB, args ...string) string {
	tb.Helper()
	out, errs, code := runCLI(tb, args...)
	if code != 0 {
		tb.Fatalf("treasurywatch %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// entitySpec is an entity of a generated watchlist.
type entitySpec struct {
	id   string
	keys []*chaintest.Key
}

// writeWatchlist writes a regtest watchlist for node's btcd into dir.
func writeWatchlist(tb testing.TB, dir string, node *chaintest.Node, db string, entities []entitySpec) string {
	tb.Helper()
	backend := fmt.Sprintf("kind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n", node.RPCAddr, node.User, node.Pass)
	return writeWatchlistWith(tb, dir, backend, db, entities)
}

// writeWatchlistWith writes a regtest watchlist with the given [[backends]]
// body into dir.
func writeWatchlistWith(tb testing.TB, dir, backend, db string, entities []entitySpec) string {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "network = \"regtest\"\n[store]\npath = %q\n[[backends]]\n%s", db, backend)
	for _, e := range entities {
		fmt.Fprintf(&b, "[[entities]]\nid = %q\nname = \"Entity %s\"\n", e.id, e.id)
		for i, k := range e.keys {
			fmt.Fprintf(&b, "[[entities.addresses]]\naddress = %q\nlabel = \"%s %d\"\n", k.Address.String(), k.Kind, i)
		}
	}
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// model is the test's own account of what it did to the watched scripts,
// kept from the transactions it built: the expected ledger.
type model struct {
	watched map[string]bool
	coins   map[wire.OutPoint]coinOf
	txs     []modelTx
}

type coinOf struct {
	script string
	value  int64
}

type modelTx struct {
	txid   chainhash.Hash
	delta  map[string]int64 // script -> net satoshis
	ownIn  map[string]int64
	ownOut map[string]int64
	nIn    int64
	nOut   int64
}

func newModel(keys ...*chaintest.Key) *model {
	m := &model{watched: map[string]bool{}, coins: map[wire.OutPoint]coinOf{}}
	for _, k := range keys {
		m.watched[string(k.Script)] = true
	}
	return m
}

// add records a transaction the test broadcast.
func (m *model) add(tx *wire.MsgTx) {
	mt := modelTx{txid: tx.TxHash(), delta: map[string]int64{}, ownIn: map[string]int64{}, ownOut: map[string]int64{},
		nIn: int64(len(tx.TxIn)), nOut: int64(len(tx.TxOut))}
	for _, in := range tx.TxIn {
		if c, ok := m.coins[in.PreviousOutPoint]; ok {
			mt.delta[c.script] -= c.value
			mt.ownIn[c.script]++
		}
	}
	for i, o := range tx.TxOut {
		if m.watched[string(o.PkScript)] {
			m.coins[wire.OutPoint{Hash: mt.txid, Index: uint32(i)}] = coinOf{string(o.PkScript), o.Value}
			mt.delta[string(o.PkScript)] += o.Value
			mt.ownOut[string(o.PkScript)]++
		}
	}
	if len(mt.ownIn)+len(mt.ownOut) > 0 {
		m.txs = append(m.txs, mt)
	}
}

// placed is where the node says a transaction is.
type placed struct {
	height int64
	pos    int
	hash   string
	time   int64
}

// placement asks the node where each model transaction is; unconfirmed
// ones are absent from the map.
func placement(tb testing.TB, n chaintest.T, m *model) map[chainhash.Hash]placed {
	tb.Helper()
	out := map[chainhash.Hash]placed{}
	blocks := map[string]struct {
		height int64
		time   int64
		txids  []string
	}{}
	for _, mt := range m.txs {
		var raw struct {
			BlockHash string `json:"blockhash"`
		}
		if err := json.Unmarshal(n.RawRequest("getrawtransaction", mt.txid.String(), 1), &raw); err != nil {
			tb.Fatal(err)
		}
		if raw.BlockHash == "" {
			continue
		}
		b, ok := blocks[raw.BlockHash]
		if !ok {
			var blk struct {
				Height int64    `json:"height"`
				Time   int64    `json:"time"`
				Tx     []string `json:"tx"`
			}
			if err := json.Unmarshal(n.RawRequest("getblock", raw.BlockHash, 1), &blk); err != nil {
				tb.Fatal(err)
			}
			b.height, b.time, b.txids = blk.Height, blk.Time, blk.Tx
			blocks[raw.BlockHash] = b
		}
		pos := -1
		for i, id := range b.txids {
			if id == mt.txid.String() {
				pos = i
			}
		}
		out[mt.txid] = placed{height: b.height, pos: pos, hash: raw.BlockHash, time: b.time}
	}
	return out
}
