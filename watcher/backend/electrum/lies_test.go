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

// historyLie rewrites the items of a get_history answer.
type historyLie func(items []map[string]any) []map[string]any

// lieFixture is a regtest chain served by an electrumtest server that,
// once armed, rewrites the history of script a with its lie, and an
// engine following scripts a and b that has synced once honestly.
type lieFixture struct {
	nt     chaintest.T
	a, b   *chaintest.Key
	toB    string // txid of a confirmed payment to b only
	client *Client
	st     *store.Store
	eng    *watcher.Engine
	lie    atomic.Pointer[historyLie]
}

func newLieFixture(t *testing.T) *lieFixture {
	t.Helper()
	node := chaintest.StartTB(t, chaintest.Options{})
	fx := &lieFixture{nt: node.T(t)}
	fx.a, fx.b = fx.nt.NewKey(chaintest.P2WPKH), fx.nt.NewKey(chaintest.P2PKH)
	fx.nt.Pay(chaintest.Output{Script: fx.a.Script, Value: btcutil.SatoshiPerBitcoin})
	fx.toB = fx.nt.Pay(chaintest.Output{Script: fx.b.Script, Value: 3 * btcutil.SatoshiPerBitcoin}).TxHash().String()
	fx.nt.Mine()

	ch := electrumtest.NewChainHandler(node)
	aHash := `"` + watcher.Script(fx.a.Script).ElectrumHash() + `"`
	srv := electrumtest.Start(t, nil, func(ctx context.Context, method string, params []json.RawMessage) (any, any) {
		res, werr := ch.Handle(ctx, method, params)
		lie := fx.lie.Load()
		if lie == nil || werr != nil || method != "blockchain.scripthash.get_history" || len(params) == 0 || string(params[0]) != aHash {
			return res, werr
		}
		raw, _ := json.Marshal(res)
		var items []map[string]any
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, electrumtest.WireError{Code: 1, Message: err.Error()}
		}
		return (*lie)(items), nil
	})
	var err error
	if fx.client, err = New(Config{URL: "tcp://" + srv.Addr()}, node.Params, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.client.Close() })
	if fx.st, err = store.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.st.Close() })
	fx.eng = watcher.NewEngine(fx.client, fx.st, []watcher.Script{fx.a.Script, fx.b.Script}, nil)
	if _, err := fx.eng.Sync(t.Context()); err != nil {
		t.Fatalf("honest sync: %v", err)
	}
	return fx
}

func (fx *lieFixture) dump(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := fx.st.Dump(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// refused pays a (so a's history is read again), arms lie, syncs, and
// checks that the sync is refused for reason, mentioning want, with the
// store byte for byte as it was; then an honest sync works again.
func (fx *lieFixture) refused(t *testing.T, lie historyLie, reason, want string) {
	t.Helper()
	before := fx.dump(t)
	fx.nt.Pay(chaintest.Output{Script: fx.a.Script, Value: 2 * btcutil.SatoshiPerBitcoin})
	fx.nt.Mine()
	fx.lie.Store(&lie)
	_, err := fx.eng.Sync(t.Context())
	if !errors.Is(err, watcher.ErrRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("lying sync: %v, want it refused (%s)", err, want)
	}
	if n := fx.client.Refused()[reason]; n != 1 {
		t.Errorf("refusals %s, want 1 %q", fx.client.Refused(), reason)
	}
	if !bytes.Equal(before, fx.dump(t)) {
		t.Error("the store changed after a refused sync")
	}
	fx.lie.Store(nil)
	if _, err := fx.eng.Sync(t.Context()); err != nil {
		t.Fatalf("honest sync after the lie: %v", err)
	}
}

// TestUntouchedHistoryRefused: a server that lists, in one script's
// history, a confirmed transaction that pays and spends only another
// watched script is refused by the engine.
func TestUntouchedHistoryRefused(t *testing.T) {
	fx := newLieFixture(t)
	height := fx.nt.Height()
	fx.refused(t, func(items []map[string]any) []map[string]any {
		// b's payment, listed first (oldest) in a's history.
		return append([]map[string]any{{"height": height, "tx_hash": fx.toB}}, items...)
	}, watcher.RefusedUntouched, fx.toB)
}

// TestAboveTipRefused: a server that places a transaction in a block
// above its own tip is refused by the engine (a block mined meanwhile
// would explain a height one above the tip read first, not one the
// server still does not have when asked again).
func TestAboveTipRefused(t *testing.T) {
	fx := newLieFixture(t)
	fx.refused(t, func(items []map[string]any) []map[string]any {
		last := items[len(items)-1]
		last["height"] = last["height"].(float64) + 100
		return items
	}, watcher.RefusedAboveTip, "above its tip")
}
