package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// chain is a regtest chain with back-dated blocks, a watchlist of two
// entities and a ledger synced from it by the real engine, plus the
// test's own account of every watched output (the expectations never come
// from the code under test).
type chain struct {
	node   *chaintest.Node
	tn     chaintest.T
	client *btcd.Client
	wl     *watcher.Watchlist
	st     *store.Store
	owner  map[string]string // script -> entity id
	// coins are the outputs paying watched scripts, by outpoint.
	coins map[wire.OutPoint]coin
	// deltas are script deltas with the height they were mined at.
	deltas []delta
	// txs are the watched transactions as the test built them, by txid.
	txs  map[chainhash.Hash]*builtTx
	pend []*builtTx
	// blocks[h] is the block at height h as the test mined it.
	blocks map[int64]store.Block
}

type coin struct {
	script string
	value  int64
}

type delta struct {
	script string
	height int64
	sat    int64
}

// builtTx is a transaction the test made, with the flow it is meant to be
// for each entity it touches.
type builtTx struct {
	tx     *wire.MsgTx
	kinds  map[string]watcher.Flow
	height int64
	block  store.Block
	// inValue is the value of each input spending a watched output.
	inValue map[int]int64
}

// base is the first back-dated block's time: fixed, so that the chain,
// hence the report, is the same on every run.
var base = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func startChain(t *testing.T) *chain {
	t.Helper()
	node := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1, Seed: "report-test"})
	c := &chain{node: node, tn: node.T(t), owner: map[string]string{}, coins: map[wire.OutPoint]coin{},
		txs: map[chainhash.Hash]*builtTx{}, blocks: map[int64]store.Block{}}
	var err error
	c.client, err = btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.client.Close() })
	return c
}

// mineAt mines the pending transactions in a block at time at and books
// their effects.
func (c *chain) mineAt(t *testing.T, at time.Time) store.Block {
	t.Helper()
	hash := c.tn.MineAt(at)
	b := store.Block{Height: c.tn.Height(), Hash: hash, Time: at.UTC()}
	c.blocks[b.Height] = b
	for _, p := range c.pend {
		p.height, p.block = b.Height, b
		txid := p.tx.TxHash()
		p.inValue = map[int]int64{}
		for i, in := range p.tx.TxIn {
			if v, ok := c.coins[in.PreviousOutPoint]; ok {
				p.inValue[i] = v.value
				c.deltas = append(c.deltas, delta{v.script, b.Height, -v.value})
			}
		}
		for i, o := range p.tx.TxOut {
			if _, ok := c.owner[string(o.PkScript)]; ok {
				op := wire.OutPoint{Hash: txid, Index: uint32(i)}
				c.coins[op] = coin{string(o.PkScript), o.Value}
				c.deltas = append(c.deltas, delta{string(o.PkScript), b.Height, o.Value})
			}
		}
		c.txs[txid] = p
	}
	c.pend = nil
	return b
}

// pay and spend broadcast a transaction meant to be of the given flow
// for each entity it touches.
func (c *chain) pay(t *testing.T, kinds map[string]watcher.Flow, outs ...chaintest.Output) *wire.MsgTx {
	t.Helper()
	tx := c.tn.Pay(outs...)
	c.pend = append(c.pend, &builtTx{tx: tx, kinds: kinds})
	return tx
}

func (c *chain) spend(t *testing.T, kinds map[string]watcher.Flow, in []chaintest.Coin, fee btcutil.Amount, outs ...chaintest.Output) *wire.MsgTx {
	t.Helper()
	tx := c.tn.Spend(in, outs, fee)
	c.pend = append(c.pend, &builtTx{tx: tx, kinds: kinds})
	return tx
}

// balance is the test's own balance of script at height.
func (c *chain) balance(script string, height int64) int64 {
	var sum int64
	for _, d := range c.deltas {
		if d.script == script && d.height <= height {
			sum += d.sat
		}
	}
	return sum
}

// writeWatchlist writes and loads a watchlist naming the entities'
// keys, with a name that needs escaping.
func (c *chain) writeWatchlist(t *testing.T, entities []testEntity) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "network = \"regtest\"\n[store]\npath = %q\n[[backends]]\nkind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n",
		filepath.Join(dir, "ledger.db"), c.node.RPCAddr, c.node.User, c.node.Pass)
	for _, e := range entities {
		fmt.Fprintf(&b, "[[entities]]\nid = %q\nname = %q\ncountry = %q\n", e.id, e.name, e.country)
		for i, k := range e.keys {
			fmt.Fprintf(&b, "[[entities.addresses]]\naddress = %q\nlabel = \"%s wallet %d\"\nsource = \"https://example.org/disclosure\"\n",
				k.Address.String(), e.id, i+1)
			c.owner[string(k.Script)] = e.id
		}
	}
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	wl, err := watcher.LoadWatchlist(path)
	if err != nil {
		t.Fatal(err)
	}
	c.wl = wl
	c.st, err = store.Open(t.Context(), wl.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.st.Close() })
}

type testEntity struct {
	id, name, country string
	keys              []*chaintest.Key
}

// sync brings the ledger up to the node's tip with the real engine.
func (c *chain) sync(t *testing.T) {
	t.Helper()
	c.tn.DropMined()
	if _, err := watcher.NewEngine(c.client, c.st, c.wl.Scripts(), nil).Sync(t.Context()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// build is report.Build or Fatal.
func (c *chain) build(t *testing.T, spec report.Spec, opt report.Options) *report.Report {
	t.Helper()
	r, err := report.Build(t.Context(), c.st, c.wl, spec, opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// files renders every format or fails.
func files(t *testing.T, r *report.Report) map[string][]byte {
	t.Helper()
	fs, err := r.Files(report.Formats)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range fs {
		out[f.Name] = f.Data
	}
	return out
}
