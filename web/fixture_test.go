package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// regtestLedger is a ledger synced by the real engine from a real btcd on
// regtest, with every flow the dashboard must explain: inflows, an
// internal consolidation, an outflow with change, a mixed transaction, a
// payment between two entities, and an unconfirmed payment.
type regtestLedger struct {
	node  *chaintest.Node
	wl    *watcher.Watchlist
	st    *store.Store
	dir   string
	kinds map[string]map[string]watcher.Flow // entity -> txid -> flow
	// pending is the unconfirmed payment to alpha.
	pending string
}

// The regtest ledger is built once per test binary (btcd and a sync take
// a few seconds) and only read by the tests; TestMain tears it down.
var fixture struct {
	once sync.Once
	l    *regtestLedger
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.l != nil {
		fixture.l.st.Close()
		fixture.l.node.Close()
		os.RemoveAll(fixture.l.dir)
	}
	os.Exit(code)
}

// regtest returns the shared ledger, building it on first use.
func regtest(tb testing.TB) *regtestLedger {
	tb.Helper()
	fixture.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		fixture.l, fixture.err = buildRegtest(ctx)
	})
	if fixture.err != nil {
		tb.Fatal(fixture.err)
	}
	return fixture.l
}

func buildRegtest(ctx context.Context) (l *regtestLedger, err error) {
	dir, err := os.MkdirTemp("", "web-test-")
	if err != nil {
		return nil, err
	}
	n, err := chaintest.Start(ctx, chaintest.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	l = &regtestLedger{node: n, dir: dir, kinds: map[string]map[string]watcher.Flow{"alpha": {}, "beta": {}}}
	defer func() {
		if err != nil {
			n.Close()
			os.RemoveAll(dir)
		}
	}()
	var keys []*chaintest.Key
	for _, kind := range []chaintest.Kind{chaintest.P2PKH, chaintest.P2WPKH, chaintest.P2TR, chaintest.P2WSH, chaintest.P2WPKH, chaintest.P2WPKH} {
		k, err := n.NewKey(kind)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	a1, a2, a3, b1, b2, outsider := keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
	const btc = btcutil.Amount(1e8)
	out := func(k *chaintest.Key, v btcutil.Amount) chaintest.Output {
		return chaintest.Output{Script: k.Script, Value: v}
	}
	flows := func(tx *wire.MsgTx, f map[string]watcher.Flow) {
		for e, k := range f {
			l.kinds[e][tx.TxHash().String()] = k
		}
	}
	var steps []func() error
	var tx1, tx2, tx3 *wire.MsgTx
	pay := func(dst **wire.MsgTx, f map[string]watcher.Flow, outs ...chaintest.Output) func() error {
		return func() error {
			tx, err := n.Pay(ctx, outs...)
			if err == nil {
				flows(tx, f)
				if dst != nil {
					*dst = tx
				}
			}
			return err
		}
	}
	spend := func(dst **wire.MsgTx, f map[string]watcher.Flow, in func() []chaintest.Coin, fee btcutil.Amount, outs ...chaintest.Output) func() error {
		return func() error {
			tx, err := n.Spend(ctx, in(), outs, fee)
			if err == nil {
				flows(tx, f)
				if dst != nil {
					*dst = tx
				}
			}
			return err
		}
	}
	mine := func() error { _, err := n.Mine(ctx); return err }
	steps = append(steps,
		pay(&tx1, map[string]watcher.Flow{"alpha": watcher.Inflow, "beta": watcher.Inflow},
			out(a1, 1*btc), out(a2, 2*btc), out(b1, 3*btc)),
		pay(&tx2, map[string]watcher.Flow{"beta": watcher.Inflow}, out(b2, 70_000_000)),
		pay(&tx3, nil, out(outsider, 40_000_000)),
		mine,
		// alpha consolidates: only the fee leaves.
		spend(nil, map[string]watcher.Flow{"alpha": watcher.Internal},
			func() []chaintest.Coin { return chaintest.CoinsOf(tx1, a1.Script) }, 10_000, out(a3, btc-10_000)),
		// beta pays out, with change to its other wallet.
		spend(nil, map[string]watcher.Flow{"beta": watcher.Outflow},
			func() []chaintest.Coin { return chaintest.CoinsOf(tx1, b1.Script) }, 20_000, out(outsider, btc), out(b2, 2*btc-20_000)),
		// alpha and an outsider pay together.
		spend(nil, map[string]watcher.Flow{"alpha": watcher.Mixed}, func() []chaintest.Coin {
			return append(chaintest.CoinsOf(tx1, a2.Script), chaintest.CoinsOf(tx3, outsider.Script)...)
		}, 15_000, out(outsider, 230_000_000), out(a2, 9_985_000)),
		// beta pays alpha: an outflow for one, an inflow for the other.
		spend(nil, map[string]watcher.Flow{"alpha": watcher.Inflow, "beta": watcher.Outflow},
			func() []chaintest.Coin { return chaintest.CoinsOf(tx2, b2.Script) }, 10_000, out(a3, 69_990_000)),
		mine,
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	pending, err := n.Pay(ctx, out(a3, 10_000_000))
	if err != nil {
		return nil, err
	}
	l.pending = pending.TxHash().String()

	var b strings.Builder
	fmt.Fprintf(&b, "network = \"regtest\"\n[store]\npath = %q\n[[backends]]\nkind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n",
		filepath.Join(dir, "ledger.db"), n.RPCAddr, n.User, n.Pass)
	fmt.Fprintf(&b, "[[entities]]\nid = \"alpha\"\nname = \"Alpha <Treasury> & Co\"\ncountry = \"SV\"\n")
	for i, k := range []*chaintest.Key{a1, a2, a3} {
		fmt.Fprintf(&b, "[[entities.addresses]]\naddress = %q\nlabel = \"Alpha wallet %d <b>\"\nsource = \"https://example.org/disclosure?a=%d&b=<x>\"\n",
			k.Address.String(), i, i)
	}
	fmt.Fprintf(&b, "[[entities]]\nid = \"beta\"\nname = \"Beta Seized Coins\"\n")
	for i, k := range []*chaintest.Key{b1, b2} {
		fmt.Fprintf(&b, "[[entities.addresses]]\naddress = %q\nlabel = \"Beta %d\"\n", k.Address.String(), i)
	}
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	if l.wl, err = watcher.LoadWatchlist(path); err != nil {
		return nil, err
	}
	if l.st, err = store.Open(ctx, l.wl.Store.Path); err != nil {
		return nil, err
	}
	client, err := btcd.New(btcd.Config{URL: "http://" + n.RPCAddr, User: n.User, Password: n.Pass}, n.Params, nil)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if _, err := watcher.NewEngine(client, l.st, l.wl.Scripts(), nil).Sync(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// newServer returns a server over the shared ledger with its own registry.
func newServer(tb testing.TB, l *regtestLedger, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg, l.wl, l.st, prometheus.NewRegistry(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// get requests path from h and returns the response and its body.
func get(tb testing.TB, h http.Handler, method, path string, header ...string) (*http.Response, string) {
	tb.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// mustGet requests path and fails unless the answer is 200.
func mustGet(tb testing.TB, h http.Handler, path string) string {
	tb.Helper()
	res, body := get(tb, h, http.MethodGet, path)
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d\n%s", path, res.StatusCode, body)
	}
	return body
}
