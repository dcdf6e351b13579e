package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
)

// TestBackendsAgree observes one real chain through every backend and
// requires the CLI's JSON to be byte-identical: the engine, not a backend,
// computes balances and flows, so the protocols may only differ in how
// they deliver the same chain.
func TestBackendsAgree(t *testing.T) {
	s := buildScenario(t)
	s.page(t, 130)
	s.unconfirmed(t)
	esp := esploratest.Start(t, s.n.Node)
	ele := electrumtest.Start(t, nil, electrumtest.NewChainHandler(s.n.Node).Handle)

	backends := map[string]string{
		"btcd":     fmt.Sprintf("kind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n", s.n.RPCAddr, s.n.User, s.n.Pass),
		"esplora":  fmt.Sprintf("kind = \"esplora\"\nurl = %q\nrate_per_second = 1000\n", esp.URL),
		"electrum": fmt.Sprintf("kind = \"electrum\"\nurl = \"tcp://%s\"\n", ele.Addr()),
	}
	cfgs := map[string]string{}
	for name, b := range backends {
		cfgs[name] = writeWatchlistWith(t, t.TempDir(), b, name+".db", s.entities)
	}
	compare := func(t *testing.T) {
		t.Helper()
		for _, cfg := range cfgs {
			mustCLI(t, "sync", "-config", cfg, "-log-level", "warn")
		}
		queries := [][]string{{"balances", "-json"}}
		for _, e := range s.entities {
			queries = append(queries, []string{"history", "-entity", e.id, "-json"})
			for _, k := range e.keys {
				queries = append(queries, []string{"history", "-address", k.Address.String(), "-json"})
			}
		}
		for _, q := range queries {
			want := mustCLI(t, append([]string{q[0], "-config", cfgs["btcd"]}, q[1:]...)...)
			for name, cfg := range cfgs {
				if name == "btcd" {
					continue
				}
				if got := mustCLI(t, append([]string{q[0], "-config", cfg}, q[1:]...)...); got != want {
					t.Errorf("%v: %s differs from btcd:\n%s\n--- btcd:\n%s", q, name, got, want)
				}
			}
		}
		// Not only the answers: the stored ledgers are the same rows.
		want := dumpDB(t, filepath.Join(filepath.Dir(cfgs["btcd"]), "btcd.db"))
		for name, cfg := range cfgs {
			if got := dumpDB(t, filepath.Join(filepath.Dir(cfg), name+".db")); got != want {
				t.Errorf("%s ledger differs from btcd's:\n%s\n--- btcd:\n%s", name, got, want)
			}
		}
	}
	compare(t)
	s.check(t, cfgs["esplora"])
	s.check(t, cfgs["electrum"])

	t.Run("after reorg", func(t *testing.T) {
		tip := s.n.Height()
		s.n.Invalidate(s.n.BlockHash(tip - 1))
		s.n.Generate(3)
		compare(t)
		s.check(t, cfgs["esplora"])
		s.check(t, cfgs["electrum"])
	})
}
