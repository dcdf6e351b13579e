package electrum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// TestUntouchedHistoryRefused: a server that lists, in one script's
// history, a confirmed transaction that pays and spends only another
// watched script is refused by the engine; the refusal is counted on the
// client, and the store is byte for byte what it was.
func TestUntouchedHistoryRefused(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	a, b := nt.NewKey(chaintest.P2WPKH), nt.NewKey(chaintest.P2PKH)
	nt.Pay(chaintest.Output{Script: a.Script, Value: btcutil.SatoshiPerBitcoin})
	toB := nt.Pay(chaintest.Output{Script: b.Script, Value: 3 * btcutil.SatoshiPerBitcoin})
	nt.Mine()
	height := nt.Height()

	ch := electrumtest.NewChainHandler(node)
	aHash := watcher.Script(a.Script).ElectrumHash()
	var lying atomic.Bool
	srv := electrumtest.Start(t, nil, func(ctx context.Context, method string, params []json.RawMessage) (any, any) {
		res, werr := ch.Handle(ctx, method, params)
		if !lying.Load() || werr != nil || method != "blockchain.scripthash.get_history" || len(params) == 0 ||
			!bytes.Equal(params[0], []byte(`"`+aHash+`"`)) {
			return res, werr
		}
		raw, _ := json.Marshal(res)
		var items []map[string]any
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, electrumtest.WireError{Code: 1, Message: err.Error()}
		}
		// B's payment, listed first (oldest) in A's history.
		items = append([]map[string]any{{"height": height, "tx_hash": toB.TxHash().String()}}, items...)
		return items, nil
	})
	c, err := New(Config{URL: "tcp://" + srv.Addr()}, node.Params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng := watcher.NewEngine(c, st, []watcher.Script{a.Script, b.Script}, nil)
	if _, err := eng.Sync(t.Context()); err != nil {
		t.Fatalf("honest sync: %v", err)
	}
	var before bytes.Buffer
	if err := st.Dump(t.Context(), &before); err != nil {
		t.Fatal(err)
	}

	nt.Pay(chaintest.Output{Script: a.Script, Value: 2 * btcutil.SatoshiPerBitcoin})
	nt.Mine()
	lying.Store(true)
	_, err = eng.Sync(t.Context())
	if !errors.Is(err, watcher.ErrRefused) || !strings.Contains(err.Error(), toB.TxHash().String()) {
		t.Fatalf("lying sync: %v, want the history refused naming %s", err, toB.TxHash())
	}
	if n := c.Refused()[watcher.RefusedUntouched]; n != 1 {
		t.Errorf("refusals %s, want 1 %q", c.Refused(), watcher.RefusedUntouched)
	}
	var after bytes.Buffer
	if err := st.Dump(t.Context(), &after); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Error("the store changed after a refused sync")
	}

	lying.Store(false)
	if _, err := eng.Sync(t.Context()); err != nil {
		t.Fatalf("honest sync after the lie: %v", err)
	}
}
