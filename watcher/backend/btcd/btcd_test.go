package btcd

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/backendtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// newClient returns a Client for node with cfg's optional fields, closed
// when the test ends.
func newClient(t testing.TB, node *chaintest.Node, cfg Config) *Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = "http://" + node.RPCAddr
	}
	if cfg.User == "" && cfg.Password == "" {
		cfg.User, cfg.Password = node.User, node.Pass
	}
	c, err := New(cfg, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		// Small pages and batches put page boundaries inside blocks
		// and inside the mempool part of a history.
		{"page7", Config{PageSize: 7, Concurrency: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			backendtest.Run(t, func(t *testing.T, node *chaintest.Node) watcher.Backend {
				return newClient(t, node, tc.cfg)
			})
		})
	}
}

// TestCheckNetworkErrors holds CheckNetwork to one clear sentence per way a
// node can be unusable.
func TestCheckNetworkErrors(t *testing.T) {
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	for _, tc := range []struct {
		name   string
		opts   chaintest.Options // nil Params: no node is started
		start  bool
		cfg    func(t *testing.T, node *chaintest.Node) Config
		want   string // the whole message, with %s for the URL
		kind   error
		params *chaincfg.Params
	}{{
		name: "unreachable",
		cfg:  func(t *testing.T, _ *chaintest.Node) Config { return Config{URL: "http://" + closedPort(t)} },
		want: "btcd at %s: connection refused — is it running?",
		kind: ErrUnreachable,
	}, {
		name:  "wrong password",
		start: true,
		opts:  chaintest.Options{InitialBlocks: -1},
		cfg: func(_ *testing.T, node *chaintest.Node) Config {
			return Config{URL: "http://" + node.RPCAddr, User: node.User, Password: "wrong"}
		},
		want: "btcd at %s: authentication failed (check user/password)",
		kind: ErrAuth,
	}, {
		name:  "no addrindex",
		start: true,
		opts:  chaintest.Options{InitialBlocks: -1, NoAddrIndex: true},
		want:  "btcd at %s runs without --addrindex; start it with --addrindex --txindex",
		kind:  ErrMissingIndex,
	}, {
		// btcd turns --txindex on for --addrindex, so a node without
		// --txindex lacks both; the fake-server test covers the
		// --txindex message itself.
		name:  "no txindex",
		start: true,
		opts:  chaintest.Options{InitialBlocks: -1, NoTxIndex: true},
		want:  "btcd at %s runs without --addrindex; start it with --addrindex --txindex",
		kind:  ErrMissingIndex,
	}, {
		name:  "other network",
		start: true,
		opts:  chaintest.Options{InitialBlocks: -1, Params: &chaincfg.SimNetParams},
		want:  "btcd at %s is on simnet but the watchlist's network is regtest; refusing to sync",
		kind:  ErrWrongNetwork,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var node *chaintest.Node
			cfg := Config{}
			if tc.start {
				node = chaintest.StartTB(t, tc.opts)
				cfg = Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}
			}
			if tc.cfg != nil {
				cfg = tc.cfg(t, node)
			}
			c, err := New(cfg, &chaincfg.RegressionNetParams, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams)
			want := strings.Replace(tc.want, "%s", c.url, 1)
			if err == nil || err.Error() != want {
				t.Fatalf("CheckNetwork error:\n got %v\nwant %s", err, want)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error does not wrap %v", tc.kind)
			}
		})
	}
}

// TestCalls holds the client to its cost in RPC calls: an unchanged tip
// and mempool (a sync with nothing new) cost two, cached block headers are
// never asked again, and batches cost one HTTP request.
func TestCalls(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	key := nt.NewKey(chaintest.P2WPKH)
	var txids []chainhash.Hash
	for range 3 {
		txids = append(txids, nt.Pay(chaintest.Output{Script: key.Script, Value: 100_000}).TxHash())
		nt.Mine()
	}
	c := newClient(t, node, Config{})
	ctx := t.Context()

	// cost runs fn and returns the calls and HTTP requests it made.
	cost := func(fn func() error) (CallCounts, int64) {
		t.Helper()
		before, req := c.Calls(), c.Requests()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return c.Calls().Sub(before), c.Requests() - req
	}
	var tip watcher.BlockRef
	for _, tc := range []struct {
		name     string
		fn       func() error
		calls    string // CallCounts.String()
		requests int64
	}{
		{"check network", func() error { return c.CheckNetwork(ctx, node.Params) },
			"getblockchaininfo=1 getblockhash=1 searchrawtransactions=1", 1},
		{"first tip", func() (err error) { tip, err = c.Tip(ctx); return err },
			"getbestblock=1 getblockheader=1", 2},
		{"same tip", func() (err error) { _, err = c.Tip(ctx); return err },
			"getbestblock=1", 1},
		{"no-change re-sync", func() error {
			if _, err := c.Tip(ctx); err != nil {
				return err
			}
			_, err := c.MempoolTxids(ctx)
			return err
		}, "getbestblock=1 getrawmempool=1", 2},
		{"known block", func() (err error) { _, err = c.BlockAt(ctx, tip.Height); return err },
			"getblockhash=1", 1},
		{"first history", func() (err error) { _, err = c.Histories(ctx, []watcher.Script{key.Script}); return err },
			"getblockheader=2 searchrawtransactions=1", 2}, // the third block is the tip, cached
		{"same history", func() (err error) { _, err = c.Histories(ctx, []watcher.Script{key.Script}); return err },
			"searchrawtransactions=1", 1},
		{"transactions", func() (err error) { _, err = c.Transactions(ctx, txids); return err },
			"getrawtransaction=3", 1},
	} {
		calls, requests := cost(tc.fn)
		if calls.String() != tc.calls || requests != tc.requests {
			t.Errorf("%s: %s in %d requests, want %s in %d", tc.name, calls, requests, tc.calls, tc.requests)
		}
	}
	if total := c.Calls().Total(); total != 16 {
		t.Errorf("Calls().Total() = %d, want 16", total)
	}
}

func TestHistoriesRejectsScriptsWithoutAddress(t *testing.T) {
	c, err := New(Config{URL: "http://127.0.0.1:1"}, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]watcher.Script{
		"op_return": {0x6a, 0x04, 1, 2, 3, 4},
		"empty":     {},
		"1-of-1 bare multisig": append(append([]byte{0x51, 0x21, 0x02}, make([]byte, 32)...),
			0x51, 0xae),
	} {
		_, err := c.Histories(context.Background(), []watcher.Script{script})
		if err == nil || !strings.Contains(err.Error(), "btcd's address index cannot follow it") {
			t.Errorf("%s: error %v, want a refusal", name, err)
		}
	}
	if n := c.Calls().Total(); n != 0 {
		t.Errorf("refused scripts cost %d calls", n)
	}
}
