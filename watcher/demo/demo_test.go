package demo_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/btcd"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
	"github.com/treasurywatch/treasurywatch/watcher/demo"
)

// blockTime is the header time of the block at height.
func blockTime(t *testing.T, n *chaintest.Node, height int64) time.Time {
	t.Helper()
	tn := n.T(t)
	var hdr struct {
		Time int64 `json:"time"`
	}
	if err := json.Unmarshal(tn.RawRequest("getblockheader", tn.BlockHash(height).String(), true), &hdr); err != nil {
		t.Fatal(err)
	}
	return time.Unix(hdr.Time, 0)
}

// TestBuild writes the demo history, then syncs it with the real engine
// through the btcd backend and checks what the dashboard will show: a
// year of block time, activity at every disclosed address, every flow
// kind, and exactly one unconfirmed payment.
func TestBuild(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{InitialBlocks: -1})
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	began := time.Now()
	sc, err := demo.Build(t.Context(), node, began.Add(-400*24*time.Hour), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build: %v, %d blocks, %d purchases, %d events", time.Since(began), sc.Height, sc.Purchases, len(sc.Events))

	tip := node.T(t).Height()
	if tip != sc.Height {
		t.Errorf("tip %d, scenario says %d", tip, sc.Height)
	}
	first, last := blockTime(t, node, 1), blockTime(t, node, tip)
	if span := last.Sub(first); span < 365*24*time.Hour {
		t.Errorf("blocks span %v (%s to %s), want at least a year", span, first, last)
	}
	if !first.Equal(sc.First) || !last.Equal(sc.Last) {
		t.Errorf("scenario says %s to %s, chain %s to %s", sc.First, sc.Last, first, last)
	}
	if sc.Purchases < 300 {
		t.Errorf("%d daily purchases, want a year's worth", sc.Purchases)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "demo.toml")
	toml := sc.WatchlistTOML(node, filepath.Join(dir, "demo.db"))
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Logf("watchlist:\n%s", toml)
	}
	wl, err := watcher.LoadWatchlist(path)
	if err != nil {
		t.Fatalf("watchlist:\n%s\n%v", toml, err)
	}
	if len(wl.Entities) != len(sc.Entities) {
		t.Fatalf("watchlist has %d entities, scenario %d", len(wl.Entities), len(sc.Entities))
	}
	kinds := map[chaintest.Kind]bool{}
	for _, e := range sc.Entities {
		if e.Country != "ZZ" || !strings.Contains(e.Name, "demo") {
			t.Errorf("entity %q (%s) does not look fictitious", e.Name, e.Country)
		}
		for _, a := range e.Addresses {
			kinds[a.Key.Kind] = true
			if !strings.HasPrefix(a.Source, "https://example.org/disclosures/") {
				t.Errorf("%s: source %q", a.Address, a.Source)
			}
		}
	}
	if e := sc.Entity(demo.OfficeID); e == nil || len(e.Addresses) < 3 {
		t.Errorf("office: %+v", e)
	}
	if len(kinds) != len(chaintest.Kinds) {
		t.Errorf("address kinds %v, want all of %v", kinds, chaintest.Kinds)
	}

	client, err := btcd.New(btcd.Config{URL: "http://" + node.RPCAddr, User: node.User, Password: node.Pass}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	st, err := store.Open(t.Context(), wl.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	synced := time.Now()
	res, err := watcher.NewEngine(client, st, wl.Scripts(), nil).Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first sync: %v, %d txs", time.Since(synced), res.FetchedTxs)
	if res.Tip.Height != tip {
		t.Errorf("synced to %d, tip %d", res.Tip.Height, tip)
	}

	ledger := watcher.NewLedger(st, wl)
	bal, err := ledger.Balances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range bal.Entities {
		for _, a := range e.Addresses {
			if a.TxCount == 0 {
				t.Errorf("%s %s (%s): no transactions", e.ID, a.Address, a.Label)
			}
		}
		// Only today's purchase is pending: btcd forgot the mined
		// transactions of the past blocks.
		if pending := e.UnconfirmedSat != 0; pending != (e.ID == demo.OfficeID) {
			t.Errorf("%s: unconfirmed %d sat", e.ID, e.UnconfirmedSat)
		}
		t.Logf("%s: %d sat confirmed, %d unconfirmed", e.ID, e.ConfirmedSat, e.UnconfirmedSat)
	}

	want := map[string][]watcher.Flow{
		demo.OfficeID:   {watcher.Inflow, watcher.Outflow, watcher.Internal, watcher.Mixed},
		demo.CourtID:    {watcher.Inflow, watcher.Outflow, watcher.Internal},
		demo.MinistryID: {watcher.Inflow, watcher.Internal},
	}
	for id, flows := range want {
		h, err := ledger.EntityHistory(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		count := map[watcher.Flow]int{}
		for _, tx := range h.Txs {
			count[tx.Kind]++
		}
		t.Logf("%s: %d txs %v", id, len(h.Txs), count)
		for _, f := range flows {
			if count[f] == 0 {
				t.Errorf("%s: no %s transaction (%v)", id, f, count)
			}
		}
		at := map[string]int64{}
		for _, tx := range h.Txs {
			at[tx.Txid] = tx.Height
		}
		for _, ev := range sc.Events {
			if ev.Height > 0 && slices.Contains(ev.Entities, id) && at[ev.Txid.String()] != ev.Height {
				t.Errorf("%s: event %q (%s) at height %d in the ledger, scenario says %d", id, ev.What, ev.Txid, at[ev.Txid.String()], ev.Height)
			}
		}
		if n := len(h.Txs); n > 0 && h.Txs[n-1].BalanceSat < 0 {
			t.Errorf("%s: negative balance %d", id, h.Txs[n-1].BalanceSat)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{InitialBlocks: 1})
	if _, err := demo.Build(t.Context(), node, time.Now().Add(-400*24*time.Hour), nil); err == nil {
		t.Error("Build on a node with blocks succeeded")
	}
	if _, err := demo.Build(t.Context(), node, time.Now().Add(-24*time.Hour), nil); err == nil {
		t.Error("Build over one day succeeded")
	}
}
