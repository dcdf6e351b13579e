package electrum

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/treasurywatch/treasurywatch/watcher/backend/electrum/electrumtest"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// genesisHeader is the 80-byte header of params' genesis block in hex.
func genesisHeader(params *chaincfg.Params) string {
	var b bytes.Buffer
	if err := params.GenesisBlock.Header.Serialize(&b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b.Bytes())
}

// fakeHandler serves a chain of only the regtest genesis block and the
// given methods; every other method is unknown.
func fakeHandler(methods map[string]func(ctx context.Context, params []json.RawMessage) (any, any)) electrumtest.Handler {
	return func(ctx context.Context, method string, params []json.RawMessage) (any, any) {
		if f, ok := methods[method]; ok {
			return f(ctx, params)
		}
		switch method {
		case "blockchain.block.header":
			return genesisHeader(&chaincfg.RegressionNetParams), nil
		case "blockchain.headers.subscribe":
			return map[string]any{"height": 0, "hex": genesisHeader(&chaincfg.RegressionNetParams)}, nil
		}
		return electrumtest.VersionOnly(method)
	}
}

// someScripts are scripts for fault tests (hex 51, 52, 53).
var someScripts = []watcher.Script{{0x51}, {0x52}, {0x53}}

// wantErr fails unless err wraps kind and its text holds every part.
func wantErr(t *testing.T, err, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", parts)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
	if !strings.HasPrefix(err.Error(), "electrum at ") {
		t.Errorf("error %q does not start with \"electrum at \"", err)
	}
}

// TestConnectionLostMidBatch: a server that reads a batch and closes the
// connection (or cuts its answer short) gives a clear error after one
// retry, never a hang; once it behaves, the client reconnects by itself.
func TestConnectionLostMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(conn net.Conn)
		want string
	}{
		{"close", nil, "connection lost: the server closed it"},
		{"half an answer", func(conn net.Conn) {
			conn.Write([]byte(`[{"jsonrpc":"2.0","id":`))
		}, "connection lost: the server closed it in the middle of an answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			srv := electrumtest.Start(t, nil, fakeHandler(map[string]func(context.Context, []json.RawMessage) (any, any){
				"blockchain.scripthash.get_history": func(ctx context.Context, _ []json.RawMessage) (any, any) {
					if broken.Load() {
						if tc.cut != nil {
							tc.cut(ctx.Value(electrumtest.ConnKey{}).(net.Conn))
						}
						return electrumtest.HangUp, nil
					}
					return []any{}, nil
				},
			}))
			c := newClient(t, srv.Addr(), Config{Timeout: 10 * time.Second})
			start := time.Now()
			_, err := c.Histories(t.Context(), someScripts)
			wantErr(t, err, ErrUnreachable, "3×blockchain.scripthash.get_history: "+tc.want)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the error took %v", took)
			}
			if accepted, _ := srv.Counts(); accepted != 2 {
				t.Errorf("%d connections, want 2 (one retry)", accepted)
			}

			broken.Store(false)
			got, err := c.Histories(t.Context(), someScripts)
			if err != nil || len(got) != 3 {
				t.Fatalf("after the server recovered: %d histories, %v", len(got), err)
			}
			if accepted, _ := srv.Counts(); accepted != 3 {
				t.Errorf("%d connections, want 3", accepted)
			}
		})
	}
}

// TestServerGone: requests in flight when the server disappears fail at
// once; the next call says the server is not running.
func TestServerGone(t *testing.T) {
	release := make(chan struct{})
	srv := electrumtest.Start(t, nil, fakeHandler(map[string]func(context.Context, []json.RawMessage) (any, any){
		"blockchain.transaction.get": func(ctx context.Context, _ []json.RawMessage) (any, any) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return electrumtest.HangUp, nil
		},
	}))
	c := newClient(t, srv.Addr(), Config{Timeout: 30 * time.Second})
	if err := c.CheckNetwork(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Transactions(context.Background(), txidsOf(3))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	srv.Close()
	close(release)
	select {
	case err := <-done:
		wantErr(t, err, ErrUnreachable, "connection")
	case <-time.After(10 * time.Second):
		t.Fatal("Transactions still waiting 10 s after the server closed")
	}
	_, err := c.Tip(t.Context())
	wantErr(t, err, ErrUnreachable, "connection refused — is it running?")
}

// txidsOf returns n distinct made-up txids.
func txidsOf(n int) []chainhash.Hash {
	out := make([]chainhash.Hash, n)
	for i := range out {
		out[i][0] = byte(i + 1)
	}
	return out
}

// TestTimeout: a server that does not answer in time gives a clear error
// after the timeout, and the client reconnects for the next call.
func TestTimeout(t *testing.T) {
	slow := func(ctx context.Context, _ []json.RawMessage) (any, any) {
		select {
		case <-time.After(20 * time.Second):
		case <-ctx.Done():
		}
		return nil, electrumtest.WireError{Code: 1, Message: "too late"}
	}
	t.Run("request", func(t *testing.T) {
		srv := electrumtest.Start(t, nil, fakeHandler(map[string]func(context.Context, []json.RawMessage) (any, any){
			"blockchain.headers.subscribe": slow,
		}))
		c := newClient(t, srv.Addr(), Config{Timeout: time.Second})
		if _, err := c.BlockAt(t.Context(), 0); err != nil { // connected
			t.Fatal(err)
		}
		start := time.Now()
		_, err := c.Tip(t.Context())
		wantErr(t, err, ErrUnreachable, "no answer to blockchain.headers.subscribe within 1s")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("the timeout took %v", took)
		}
		// The stuck connection is dropped; the next call gets a new
		// one (the server answers sequentially, so the old one is
		// still busy with the slow call).
		if _, err := c.BlockAt(t.Context(), 0); err != nil {
			t.Fatalf("BlockAt after a timeout: %v", err)
		}
		if accepted, _ := srv.Counts(); accepted != 2 {
			t.Errorf("%d connections, want 2", accepted)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		srv := electrumtest.Start(t, nil, fakeHandler(map[string]func(context.Context, []json.RawMessage) (any, any){
			"server.version": slow,
		}))
		c := newClient(t, srv.Addr(), Config{Timeout: time.Second})
		_, err := c.Tip(t.Context())
		wantErr(t, err, ErrUnreachable, "no answer to server.version within 1s")
	})
	t.Run("caller gives up", func(t *testing.T) {
		srv := electrumtest.Start(t, nil, fakeHandler(map[string]func(context.Context, []json.RawMessage) (any, any){
			"blockchain.headers.subscribe": slow,
		}))
		c := newClient(t, srv.Addr(), Config{})
		if _, err := c.BlockAt(t.Context(), 0); err != nil { // connected
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Tip(ctx)
		wantErr(t, err, context.DeadlineExceeded, "blockchain.headers.subscribe")
	})
}

// selfSigned makes a self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "electrum test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLS: a self-signed certificate is accepted when pinned or when
// verification is explicitly off, and refused otherwise.
func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	sum := sha256.Sum256(cert.Certificate[0])
	pin := "sha256:" + hex.EncodeToString(sum[:])
	wrong := sha256.Sum256([]byte("another certificate"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := electrumtest.Start(t, tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}), fakeHandler(nil))
	ssl := "ssl://" + srv.Addr()
	plain := electrumtest.Start(t, nil, fakeHandler(nil))

	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // error parts; none: CheckNetwork passes
	}{
		{"pinned", Config{URL: ssl, TLSFingerprint: pin}, nil},
		{"pinned with colons", Config{URL: ssl, TLSFingerprint: "SHA256:" + colonHex(sum[:])}, nil},
		{"insecure", Config{URL: ssl, InsecureSkipVerify: true}, nil},
		{"wrong pin", Config{URL: ssl, TLSFingerprint: "sha256:" + hex.EncodeToString(wrong[:])},
			[]string{"its TLS certificate has fingerprint " + pin + ", not the pinned sha256:" + hex.EncodeToString(wrong[:]) + "; refusing it"}},
		{"not trusted", Config{URL: ssl},
			[]string{"its TLS certificate is not signed by a trusted authority (self-signed?); pin it with a TLS fingerprint"}},
		{"plain to TLS", Config{URL: "tcp://" + srv.Addr(), Timeout: 2 * time.Second}, []string{"server.version"}},
		// Whether the plain server answers the TLS hello (a 0x0a byte
		// in it ends a line) or waits, the error says to use tcp://.
		{"TLS to plain", Config{URL: "ssl://" + plain.Addr(), InsecureSkipVerify: true, Timeout: time.Second}, []string{"use a tcp:// URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, &chaincfg.RegressionNetParams, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.CheckNetwork(t.Context(), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if sw, proto := c.Server(); sw != "testserver 0.1" || proto != "1.4" {
					t.Errorf("Server() = %q, %q", sw, proto)
				}
				return
			}
			wantErr(t, err, ErrUnreachable, tc.want...)
		})
	}
}

// colonHex writes b as "AB:CD:…".
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// TestServerRefusals: what the server says no to becomes one sentence.
func TestServerRefusals(t *testing.T) {
	mainnetGenesis := func(context.Context, []json.RawMessage) (any, any) {
		return genesisHeader(&chaincfg.MainNetParams), nil
	}
	for _, tc := range []struct {
		name    string
		methods map[string]func(context.Context, []json.RawMessage) (any, any)
		run     func(c *Client) error
		kind    error
		want    string // whole message after "electrum at URL"
	}{{
		name:    "wrong network",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.block.header": mainnetGenesis},
		run:     func(c *Client) error { return c.CheckNetwork(context.Background(), nil) },
		kind:    ErrWrongNetwork,
		want: " is on a chain with genesis block " + chaincfg.MainNetParams.GenesisHash.String() +
			", not the watchlist's regtest (" + chaincfg.RegressionNetParams.GenesisHash.String() + "); refusing to sync",
	}, {
		name: "protocol refused",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"server.version": func(context.Context, []json.RawMessage) (any, any) {
			return nil, electrumtest.WireError{Code: 1, Message: "unsupported protocol version: 1.6"}
		}},
		run:  func(c *Client) error { return c.CheckNetwork(context.Background(), nil) },
		kind: ErrUnreachable,
		want: " refuses protocol versions 1.4 to 1.6: unsupported protocol version: 1.6",
	}, {
		name: "old protocol",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"server.version": func(context.Context, []json.RawMessage) (any, any) {
			return []string{"ElectrumX 1.2.1", "1.2"}, nil
		}},
		run:  func(c *Client) error { return c.CheckNetwork(context.Background(), nil) },
		kind: ErrUnreachable,
		want: `: server.version answered ["ElectrumX 1.2.1" "1.2"]; treasurywatch speaks protocol 1.4 to 1.6`,
	}, {
		name: "history too large (ElectrumX)",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.scripthash.get_history": func(context.Context, []json.RawMessage) (any, any) {
			return nil, electrumtest.WireError{Code: 1, Message: "history too large"}
		}},
		run: func(c *Client) error {
			_, err := c.Histories(context.Background(), someScripts[:1])
			return err
		},
		kind: ErrHistoryTooLarge,
		want: " refuses the history of 51: too large (server limit)",
	}, {
		name: "history too large (electrs, bare string error)",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.scripthash.get_history": func(context.Context, []json.RawMessage) (any, any) {
			return nil, "Too many history transactions (>500) for scripthash"
		}},
		run: func(c *Client) error {
			_, err := c.Histories(context.Background(), someScripts[:1])
			return err
		},
		kind: ErrHistoryTooLarge,
		want: " refuses the history of 51: too large (server limit)",
	}, {
		name: "history too large (Fulcrum)",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.scripthash.get_history": func(context.Context, []json.RawMessage) (any, any) {
			return nil, electrumtest.WireError{Code: 1, Message: "History for scripthash exceeds max history 125000 with 130000 items"}
		}},
		run: func(c *Client) error {
			_, err := c.Histories(context.Background(), someScripts[:1])
			return err
		},
		kind: ErrHistoryTooLarge,
		want: " refuses the history of 51: too large (server limit)",
	}, {
		name: "answer too long",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.transaction.get": func(context.Context, []json.RawMessage) (any, any) {
			return strings.Repeat("00", 4096), nil
		}},
		run: func(c *Client) error {
			_, err := c.Transactions(context.Background(), txidsOf(1))
			return err
		},
		kind: ErrUnreachable,
		want: ": blockchain.transaction.get: an answer is longer than 4096 bytes (the maximum line size); lower the batch size",
	}, {
		name: "wrong transaction",
		methods: map[string]func(context.Context, []json.RawMessage) (any, any){"blockchain.transaction.get": func(context.Context, []json.RawMessage) (any, any) {
			var b bytes.Buffer
			chaincfg.RegressionNetParams.GenesisBlock.Transactions[0].Serialize(&b)
			return hex.EncodeToString(b.Bytes()), nil
		}},
		run: func(c *Client) error {
			_, err := c.Transactions(context.Background(), txidsOf(1))
			return err
		},
		want: ": blockchain.transaction.get: asked for transaction " + txidsOf(1)[0].String() + ", got " +
			chaincfg.RegressionNetParams.GenesisBlock.Transactions[0].TxHash().String() + "; refusing it",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := electrumtest.Start(t, nil, fakeHandler(tc.methods))
			c := newClient(t, srv.Addr(), Config{MaxLineBytes: 4096, Timeout: 5 * time.Second})
			err := tc.run(c)
			wantErr(t, err, tc.kind)
			if want := "electrum at tcp://" + srv.Addr() + tc.want; err.Error() != want {
				t.Errorf("error\n  %s\nwant\n  %s", err, want)
			}
		})
	}
}

// TestNewErrors: configuration mistakes are refused before any connection.
func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://example.com:50001"}, `electrum URL "http://example.com:50001": want tcp://host:port or ssl://host:port`},
		{Config{URL: "example.com"}, `electrum URL "example.com": want tcp://host:port or ssl://host:port`},
		{Config{URL: "tcp://example.com", BatchSize: 345}, "electrum at tcp://example.com:50001: batch size 345 is too large; servers refuse batches above 344 calls"},
		{Config{URL: "tcp://example.com", InsecureSkipVerify: true}, "electrum at tcp://example.com:50001: TLS options are set but the URL is tcp://; use ssl://"},
		{Config{URL: "ssl://example.com", TLSFingerprint: "sha256:00"}, `electrum at ssl://example.com:50002: TLS fingerprint "sha256:00": want sha256:<64 hex digits>`},
	} {
		_, err := New(tc.cfg, &chaincfg.RegressionNetParams, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %s", tc.cfg, err, tc.want)
		}
	}
	c, err := New(Config{URL: "ssl://user:secret@example.com"}, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "electrum ssl://example.com:50002" {
		t.Errorf("Name() = %q", c.Name())
	}
}

// TestClosed: calls after Close fail at once.
func TestClosed(t *testing.T) {
	srv := electrumtest.Start(t, nil, fakeHandler(nil))
	c := newClient(t, srv.Addr(), Config{})
	if _, err := c.Tip(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err := c.Tip(t.Context())
	wantErr(t, err, nil, "the client is closed")
}

// TestTLSHandshakeTimeout: an ssl:// URL for a port that never answers the
// TLS hello gives a sentence suggesting tcp://.
func TestTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn) // held silent until the end
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	})
	c, err := New(Config{URL: "ssl://" + ln.Addr().String(), InsecureSkipVerify: true, Timeout: 300 * time.Millisecond}, &chaincfg.RegressionNetParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Tip(t.Context())
	wantErr(t, err, ErrUnreachable, "no TLS handshake within 300ms; does the server speak TLS on this port (if not, use a tcp:// URL)?")
}
