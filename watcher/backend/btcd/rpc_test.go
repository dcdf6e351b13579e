package btcd

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// handler answers one JSON-RPC method of the fake server.
type handler func(params []json.RawMessage) (any, *btcjson.RPCError)

// fakeBtcd serves JSON-RPC (single and batch) from handlers, for the
// failures a real btcd cannot be made to show: no --txindex alone, a
// bitcoind, TLS mistakes, hangs, lies.
type fakeBtcd map[string]handler

func (f fakeBtcd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	type req struct {
		ID     uint64            `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	answer := func(q req) map[string]any {
		h, ok := f[q.Method]
		if !ok || h == nil {
			return map[string]any{"id": q.ID, "result": nil, "error": btcjson.ErrRPCMethodNotFound}
		}
		res, rerr := h(q.Params)
		if rerr != nil {
			return map[string]any{"id": q.ID, "result": nil, "error": rerr}
		}
		return map[string]any{"id": q.ID, "result": res, "error": nil}
	}
	var out any
	if bytes.HasPrefix(body, []byte("[")) {
		var qs []req
		json.Unmarshal(body, &qs)
		var as []map[string]any
		for _, q := range qs {
			as = append(as, answer(q))
		}
		out = as
	} else {
		var q req
		json.Unmarshal(body, &q)
		out = answer(q)
	}
	json.NewEncoder(w).Encode(out)
}

// regtestNode is a fake that passes CheckNetwork as a regtest btcd would.
func regtestNode() fakeBtcd {
	return fakeBtcd{
		"getblockchaininfo": func([]json.RawMessage) (any, *btcjson.RPCError) {
			return map[string]any{"chain": "regtest"}, nil
		},
		"getblockhash": func([]json.RawMessage) (any, *btcjson.RPCError) {
			return chaincfg.RegressionNetParams.GenesisHash.String(), nil
		},
		"searchrawtransactions": func([]json.RawMessage) (any, *btcjson.RPCError) {
			return nil, &btcjson.RPCError{Code: btcjson.ErrRPCNoTxInfo, Message: "No information available about address"}
		},
	}
}

// with returns f with method answered by h.
func (f fakeBtcd) with(method string, h handler) fakeBtcd {
	g := fakeBtcd{}
	for k, v := range f {
		g[k] = v
	}
	g[method] = h
	return g
}

func fakeClient(t *testing.T, url string, cfg Config) *Client {
	t.Helper()
	cfg.URL = url
	c, err := New(cfg, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFakeServerErrors(t *testing.T) {
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body); <-r.Context().Done() })
	plain := httptest.NewServer(regtestNode())
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(regtestNode())
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS mistakes below are on purpose
	secure.StartTLS()
	t.Cleanup(secure.Close)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})

	for _, tc := range []struct {
		name    string
		handler http.Handler // nil: use url
		url     string
		cfg     Config
		want    string // the message after "btcd at URL"; "" for success
		kind    error
	}{
		{name: "healthy", handler: regtestNode()},
		{name: "no txindex", handler: regtestNode().with("searchrawtransactions", func([]json.RawMessage) (any, *btcjson.RPCError) {
			return nil, &btcjson.RPCError{Code: btcjson.ErrRPCMisc, Message: "Transaction index must be enabled (--txindex)"}
		}), want: " runs without --txindex; start it with --addrindex --txindex", kind: ErrMissingIndex},
		{name: "bitcoind", handler: regtestNode().with("searchrawtransactions", nil), kind: ErrMissingIndex,
			want: " does not know searchrawtransactions; treasurywatch needs btcd (not bitcoind) started with --addrindex --txindex"},
		{name: "another regtest", handler: regtestNode().with("getblockhash", func([]json.RawMessage) (any, *btcjson.RPCError) {
			return chainhash.Hash{1}.String(), nil
		}), kind: ErrWrongNetwork,
			want: " is on a regtest chain with genesis block " + chainhash.Hash{1}.String() + ", not the watchlist's " +
				chaincfg.RegressionNetParams.GenesisHash.String() + "; refusing to sync"},
		{name: "not JSON", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }),
			want: ": 3×getblockchaininfo: the answer is not JSON-RPC (is this btcd's RPC port?)", kind: ErrUnreachable},
		{name: "not found", handler: http.NotFoundHandler(), kind: ErrUnreachable,
			want: `: 3×getblockchaininfo: unexpected HTTP status "404 Not Found" (is this btcd's RPC port?)`},
		{name: "timeout", handler: hang, cfg: Config{Timeout: 50 * time.Millisecond},
			want: ": no answer to 3×getblockchaininfo within 50ms", kind: ErrUnreachable},
		{name: "tls trusted", url: secure.URL, cfg: Config{TLSCert: certPEM}},
		{name: "tls untrusted", url: secure.URL, kind: ErrUnreachable,
			want: ": its TLS certificate is not trusted; give btcd's rpc.cert as the TLS certificate"},
		{name: "http to https", url: strings.Replace(secure.URL, "https:", "http:", 1), kind: ErrUnreachable,
			want: ": the server speaks HTTPS; use an https:// URL"},
		{name: "https to http", url: strings.Replace(plain.URL, "http:", "https:", 1), kind: ErrUnreachable,
			want: ": the server does not speak TLS; use an http:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			c := fakeClient(t, url, tc.cfg)
			err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams)
			want := tc.want
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckNetwork: %v", err)
			case tc.want == "":
			case err == nil || err.Error() != "btcd at "+c.url+want:
				t.Fatalf("CheckNetwork error:\n got %v\nwant btcd at %s%s", err, c.url, want)
			case !errors.Is(err, tc.kind):
				t.Errorf("error does not wrap %v", tc.kind)
			}
		})
	}
}

func TestCallerContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body); <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	c := fakeClient(t, srv.URL, Config{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Tip(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		t.Errorf("Tip with an expiring context: %v; want the caller's deadline, not btcd's fault", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Tip returned after %v, long past the caller's deadline", d)
	}
}

func TestRetryWhenBusy(t *testing.T) {
	var n atomic.Int32
	node := regtestNode()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "503 Too busy.  Try again later.", http.StatusServiceUnavailable)
			return
		}
		node.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := fakeClient(t, srv.URL, Config{})
	if err := c.CheckNetwork(t.Context(), &chaincfg.RegressionNetParams); err != nil {
		t.Fatal(err)
	}
	if got := c.Calls()["getblockchaininfo"]; got != 2 || c.Requests() != 2 {
		t.Errorf("getblockchaininfo called %d times in %d requests, want 2 in 2 (one retry)", got, c.Requests())
	}
}

func TestRefusesLies(t *testing.T) {
	var tx wire.MsgTx
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{9}}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(1, []byte{0x51}))
	var buf bytes.Buffer
	tx.Serialize(&buf)
	node := regtestNode().with("getrawtransaction", func([]json.RawMessage) (any, *btcjson.RPCError) {
		return hex.EncodeToString(buf.Bytes()), nil
	})
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	c := fakeClient(t, srv.URL, Config{})
	asked := chainhash.Hash{7}
	_, err := c.Transactions(t.Context(), []chainhash.Hash{asked})
	if err == nil || !strings.Contains(err.Error(), "asked for transaction "+asked.String()+", got "+tx.TxHash().String()+"; refusing it") {
		t.Errorf("a transaction other than the one asked for: %v", err)
	}
	if _, err := c.Transactions(t.Context(), []chainhash.Hash{tx.TxHash()}); err != nil {
		t.Errorf("the right transaction: %v", err)
	}

	small := fakeClient(t, srv.URL, Config{MaxResponseBytes: 10})
	if _, err := small.Transactions(t.Context(), []chainhash.Hash{tx.TxHash()}); err == nil || !strings.Contains(err.Error(), "answer larger than") {
		t.Errorf("oversized answer: %v", err)
	}
	// Unknown txids are ErrNotFound; the engine relies on it.
	missing := regtestNode().with("getrawtransaction", func([]json.RawMessage) (any, *btcjson.RPCError) {
		return nil, &btcjson.RPCError{Code: btcjson.ErrRPCNoTxInfo, Message: "No information available about transaction"}
	})
	srv2 := httptest.NewServer(missing)
	t.Cleanup(srv2.Close)
	if _, err := fakeClient(t, srv2.URL, Config{}).Transactions(t.Context(), []chainhash.Hash{asked}); !errors.Is(err, watcher.ErrNotFound) {
		t.Errorf("unknown txid: %v, want watcher.ErrNotFound", err)
	}
}

func TestNewAndName(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		auth.Store(u + ":" + p)
		regtestNode().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	withCreds := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1)
	c := fakeClient(t, withCreds, Config{})
	if got, want := c.Name(), "btcd "+srv.URL; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if err := c.CheckNetwork(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := auth.Load(); got != "alice:s3cret" {
		t.Errorf("credentials sent: %v, want those of the URL", got)
	}

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "127.0.0.1:8334"}, `btcd URL "127.0.0.1:8334": want http://host:port or https://host:port`},
		{Config{URL: "ftp://u:pw@host:1"}, `btcd URL "ftp://u:xxxxx@host:1": want http://host:port or https://host:port`},
		{Config{URL: "http://host:1", TLSCert: []byte("x")}, "btcd at http://host:1: a TLS certificate is set but the URL is http://; use https://"},
		{Config{URL: "https://host:1", TLSCert: []byte("x")}, "btcd at https://host:1: the TLS certificate holds no PEM certificate"},
	} {
		_, err := New(tc.cfg, &chaincfg.RegressionNetParams, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v):\n got %v\nwant %s", tc.cfg.URL, err, tc.want)
		}
	}
}
