package watcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestVerifierDifferentChains cross-checks two real btcd nodes. Connected,
// they serve one chain and the ledger is published with its verification.
// Apart, each mines its own block at the same height: the sources report
// different chains, so the new block is held back and one incident names
// both hashes. Reconnected, they agree on the longer chain: it is
// published and the incident resolved.
func TestVerifierDifferentChains(t *testing.T) {
	t.Parallel()
	node1 := chaintest.StartTB(t, chaintest.Options{Listen: true})
	node2 := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	n1, n2 := node1.T(t), node2.T(t)
	n2.Connect(node1)
	chaintest.WaitSyncTB(t, node1, node2)
	s := n1.NewKey(chaintest.P2WPKH)
	n1.Pay(chaintest.Output{Script: s.Script, Value: 500_000})
	n1.Mine()
	chaintest.WaitSyncTB(t, node1, node2)

	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "network = \"regtest\"\nverify = \"all\"\n")
	for _, n := range []*chaintest.Node{node1, node2} {
		fmt.Fprintf(&b, "[[backends]]\nkind = \"btcd\"\nurl = \"http://%s\"\nuser = %q\npassword = %q\n", n.RPCAddr, n.User, n.Pass)
	}
	fmt.Fprintf(&b, "[[entities]]\nid = \"reserve\"\nname = \"Reserve\"\n[[entities.addresses]]\naddress = %q\n", s.Address.String())
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	wl, err := watcher.LoadWatchlist(path)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	sources := []watcher.Source{
		{Backend: newBtcdClient(t, node1), Name: "btcd one", Kind: "btcd"},
		{Backend: newBtcdClient(t, node2), Name: "btcd two", Kind: "btcd"},
	}
	v, err := watcher.NewVerifier(wl, st, sources, wl.Verify.Need(len(wl.Backends)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	ledger := watcher.NewLedger(st, wl)
	published := func() (int64, int64) {
		t.Helper()
		bal, err := ledger.Balances(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return bal.AsOf.Height, bal.Entities[0].ConfirmedSat
	}

	out, err := v.Sync(t.Context())
	h1 := n1.Height()
	if err != nil || out.Verified == nil || out.Verified.Height != h1 || len(out.Verified.Sources) != 2 || out.Held() {
		t.Fatalf("first sync: %+v, %v", out, err)
	}
	if h, sat := published(); h != h1 || sat != 500_000 {
		t.Fatalf("published block %d, %d sat; want %d, 500000", h, sat, h1)
	}

	n2.Disconnect(node1)
	n1.Pay(chaintest.Output{Script: s.Script, Value: 1_000})
	fork1 := n1.Mine()
	fork2 := n2.Mine()
	for i := range 2 {
		out, err = v.Sync(t.Context())
		if err != nil || !out.Held() || out.Opened != (i == 0) {
			t.Fatalf("sync %d apart: %+v, %v; want held, opened only the first time", i, out, err)
		}
	}
	inc := out.Incident
	if inc.Entity != "" || inc.Height != h1+1 || len(inc.Figures) != 2 ||
		inc.Figures[0].Hash != fork1 || inc.Figures[1].Hash != fork2 || !strings.Contains(inc.Summary, "different blocks") {
		t.Errorf("incident %+v", inc)
	}
	if h, sat := published(); h != h1 || sat != 500_000 {
		t.Errorf("held sync published block %d, %d sat; want %d, 500000", h, sat, h1)
	}

	n1.Mine()
	n2.Connect(node1)
	chaintest.WaitSyncTB(t, node1, node2)
	out, err = v.Sync(t.Context())
	h3 := n1.Height()
	if err != nil || out.Held() || out.Verified == nil || out.Verified.Height != h3 {
		t.Fatalf("sync after reconnecting: %+v, %v", out, err)
	}
	if h, sat := published(); h != h3 || sat != 501_000 {
		t.Errorf("published block %d, %d sat; want %d, 501000", h, sat, h3)
	}
	all, err := st.Incidents(t.Context(), 10)
	if err != nil || len(all) != 1 || all[0].ResolvedAt.IsZero() {
		t.Errorf("incidents %+v, %v; want one, resolved", all, err)
	}
}
