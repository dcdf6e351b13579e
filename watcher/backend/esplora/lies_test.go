package esplora

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/watcher/backend/esplora/esploratest"
	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// lyingFront is an HTTP front of an esploratest server that, once armed,
// rewrites the transactions of /txs pages with lie.
type lyingFront struct {
	upstream string
	lie      atomic.Pointer[func(tx map[string]any)]
}

func (f *lyingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := http.Get(f.upstream + r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if lie := f.lie.Load(); lie != nil && res.StatusCode == http.StatusOK && strings.Contains(r.URL.Path, "/txs") {
		var txs []map[string]any
		if err := json.Unmarshal(body, &txs); err == nil {
			for _, tx := range txs {
				(*lie)(tx)
			}
			body, _ = json.Marshal(txs)
		}
	}
	w.Header().Set("Content-Type", res.Header.Get("Content-Type"))
	w.WriteHeader(res.StatusCode)
	w.Write(body)
}

// dump returns the store's full dump.
func dump(t *testing.T, st *store.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := st.Dump(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJSONLieRefused: a server whose history page states other output
// values or scripts than the raw transaction it serves is refused; the
// refusal is counted, and the store is byte for byte what it was.
func TestJSONLieRefused(t *testing.T) {
	node := chaintest.StartTB(t, chaintest.Options{})
	nt := node.T(t)
	a, other := nt.NewKey(chaintest.P2WPKH), nt.NewKey(chaintest.P2TR)
	nt.Pay(chaintest.Output{Script: a.Script, Value: btcutil.SatoshiPerBitcoin})
	nt.Mine()
	front := &lyingFront{upstream: esploratest.Start(t, node).URL}
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		lie  func(tx map[string]any)
	}{
		{"inflated value", func(tx map[string]any) {
			for _, o := range tx["vout"].([]any) {
				o := o.(map[string]any)
				o["value"] = o["value"].(float64) + 1e8
			}
		}},
		{"other script", func(tx map[string]any) {
			o := tx["vout"].([]any)[0].(map[string]any)
			o["scriptpubkey"] = strings.Repeat("51", 1+len(o["scriptpubkey"].(string))/2)
		}},
		{"output dropped", func(tx map[string]any) {
			vout := tx["vout"].([]any)
			tx["vout"] = vout[:len(vout)-1]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front.lie.Store(nil)
			st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			c := newTestClient(t, srv.URL, Config{})
			eng := watcher.NewEngine(c, st, []watcher.Script{a.Script}, nil)
			if _, err := eng.Sync(t.Context()); err != nil {
				t.Fatalf("honest sync: %v", err)
			}
			before := dump(t, st)

			// A new payment, listed with a lie.
			nt.Pay(chaintest.Output{Script: a.Script, Value: 2 * btcutil.SatoshiPerBitcoin},
				chaintest.Output{Script: other.Script, Value: 1000})
			nt.Mine()
			front.lie.Store(&tt.lie)
			_, err = eng.Sync(t.Context())
			if err == nil || !strings.Contains(err.Error(), "disagrees with the history page") {
				t.Fatalf("lying sync: %v, want the raw transaction refused", err)
			}
			if n := c.Refused()[RefusedClaim]; n != 1 {
				t.Errorf("refusals %s, want 1 %q", c.Refused(), RefusedClaim)
			}
			if after := dump(t, st); !bytes.Equal(before, after) {
				t.Errorf("the store changed after a refused sync")
			}

			// Once honest again, the same client syncs.
			front.lie.Store(nil)
			if _, err := eng.Sync(t.Context()); err != nil {
				t.Fatalf("honest sync after the lie: %v", err)
			}
		})
	}
}
