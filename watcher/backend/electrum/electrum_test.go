package electrum

import (
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/backendtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// newClient returns a Client for the server at addr with cfg's optional
// fields, closed when the test ends.
func newClient(t testing.TB, addr string, cfg Config) *Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = "tcp://" + addr
	}
	c, err := New(cfg, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConformance runs the backend suite with the client talking to the
// test server, which answers from the suite's real regtest chain.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		protocol string
	}{
		{"defaults", Config{}, "1.4"},
		// Small batches put batch boundaries inside blocks (for
		// id_from_pos) and make several batches in flight at once;
		// protocol 1.6 answers blockchain.block.headers with a list.
		{"batch7", Config{BatchSize: 7}, "1.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			backendtest.Run(t, func(t *testing.T, node *chaintest.Node) watcher.Backend {
				ch := electrumtest.NewChainHandler(node)
				ch.Protocol = tc.protocol
				srv := electrumtest.Start(t, nil, ch.Handle)
				c := newClient(t, srv.Addr(), tc.cfg)
				t.Cleanup(func() { t.Logf("%s: %d messages, calls: %s", tc.name, c.Requests(), c.Calls()) })
				return c
			})
		})
	}
}
