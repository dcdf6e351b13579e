package watcher

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeWatchlist writes content as watchlist.toml in a fresh directory and
// returns its path.
func writeWatchlist(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "watchlist.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func mustLoadWatchlist(tb testing.TB, path string) *Watchlist {
	tb.Helper()
	w, err := LoadWatchlist(path)
	if err != nil {
		tb.Fatalf("LoadWatchlist(%s):\n%v", path, err)
	}
	return w
}

func TestLoadWatchlistScripts(t *testing.T) {
	type addr struct{ text, script string }
	tests := []struct {
		name    string
		network string
		addrs   []addr
	}{
		{"mainnet", "mainnet", []addr{
			{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"},   // P2PKH, Electrum protocol-basics.rst
			{"34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo", "a91423e522dfc6656a8fda3d47b4fa53f7585ac758cd87"},       // P2SH, Electrum protocol-basics.rst
			{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"}, // P2WPKH, BIP 173
			{"bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", // P2WSH, BIP 173
				"00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
			{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", // P2TR, BIP 350
				"512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
		}},
		{"regtest", "regtest", []addr{
			{"mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac"},
			{"2MssfzYsikJRLLRtDdp91kMHjqpUreQewna", "a91406e4aea26cb22ce9bbbaebfca6ccc588e4f261fb87"},
			{"bcrt1qn7d2x7272lznt5hhk9s07q3cqnrqljnwladrd3", "00149f9aa3795e57c535d2f7b160ff023804c60fca6e"}, // regtest vector
			{"bcrt1q2hjqht2a982gk0tphyf2e6vsk9txky49jukrmkfk2tf7gpkpty8q3hskyw",
				"002055e40bad5d29d48b3d61b912ace990b1566b12a5972c3dd93652d3e406c1590e"},
			{"bcrt1pmfr3p9j00pfxjh0zmgp99y8zftmd3s5pmedqhyptwy6lm87hf5ssm803es",
				"5120da4710964f7852695de2da025290e24af6d8c281de5a0b902b7135fd9fd74d21"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("network = \"" + tt.network + "\"\n" +
				"[[backends]]\nkind = \"btcd\"\nurl = \"http://localhost:8334\"\nuser = \"u\"\npassword = \"p\"\n" +
				"[[entities]]\nid = \"e\"\nname = \"E\"\n")
			for _, a := range tt.addrs {
				b.WriteString("[[entities.addresses]]\naddress = \"" + a.text + "\"\n")
			}
			w := mustLoadWatchlist(t, writeWatchlist(t, b.String()))
			scripts := w.Scripts()
			if len(scripts) != len(tt.addrs) {
				t.Fatalf("got %d scripts, want %d", len(scripts), len(tt.addrs))
			}
			for i, a := range tt.addrs {
				if got := scripts[i].String(); got != a.script {
					t.Errorf("%s: script %s, want %s", a.text, got, a.script)
				}
				want, _ := hex.DecodeString(a.script)
				if e, j, ok := w.Lookup(want); !ok || e != 0 || j != i {
					t.Errorf("Lookup(%s) = %d, %d, %v; want 0, %d, true", a.text, e, j, ok, i)
				}
				if got, want := w.Entities[0].Addresses[i].Line, 11+2*i; got != want {
					t.Errorf("%s: Line %d, want %d", a.text, got, want)
				}
			}
			if _, _, ok := w.Lookup(Script{0x51}); ok {
				t.Error("Lookup found an unwatched script")
			}
		})
	}
}

func TestLoadWatchlistFields(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"rpc.cert", "rpc.pass"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "watchlist.toml")
	content := `# comment
network = "testnet"
[store]
path = "data/ledger.db"

[[backends]]
kind = "btcd"
url = "https://node.example.org:18334"
user = "u"
password_file = "rpc.pass"
tls_cert = "rpc.cert"

[[entities]]
id = "sv-bitcoin-office"
name = "El Salvador — Bitcoin Office"
country = "SV"
[[entities.addresses]]
address = " tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx "
label = "Reserve"
source = "https://bitcoin.gob.sv/"
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	w := mustLoadWatchlist(t, path)
	if w.Path != path {
		t.Errorf("Path = %q, want %q", w.Path, path)
	}
	if got := w.Network.String(); got != "testnet3" {
		t.Errorf("network %q, want testnet3", got)
	}
	if want := filepath.Join(dir, "data", "ledger.db"); w.Store.Path != want {
		t.Errorf("store path %q, want %q", w.Store.Path, want)
	}
	b := w.Backends[0]
	if b.Line != 8 || b.PasswordFile != filepath.Join(dir, "rpc.pass") || b.TLSCert != filepath.Join(dir, "rpc.cert") {
		t.Errorf("backend = %+v (line %d)", b, b.Line)
	}
	if s, err := b.Secret(); err != nil || s != "s3cret" {
		t.Errorf("Secret() = %q, %v", s, err)
	}
	e := w.Entities[0]
	if e.Line != 13 || e.ID != "sv-bitcoin-office" || e.Country != "SV" || e.Name != "El Salvador — Bitcoin Office" {
		t.Errorf("entity = %+v", e)
	}
	a := e.Addresses[0]
	if a.Address.Text != "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx" || a.Label != "Reserve" || a.Source != "https://bitcoin.gob.sv/" || a.Line != 18 {
		t.Errorf("address = %+v", a)
	}
	if got, want := w.Summary(), path+": network testnet3, 1 entity, 1 address, 1 backend (btcd)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestLoadWatchlistDefaultStore(t *testing.T) {
	path := writeWatchlist(t, `network = "regtest"
[[backends]]
kind = "btcd"
url = "http://[::1]:18334"
user = "u"
password = "p"
[[entities]]
id = "a"
name = "A"
addresses = [
  { address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", label = "inline" },
]
`)
	w := mustLoadWatchlist(t, path)
	if want := filepath.Join(filepath.Dir(path), DefaultStorePath); w.Store.Path != want {
		t.Errorf("store path %q, want %q", w.Store.Path, want)
	}
	if a := w.Entities[0].Addresses[0]; a.Line != 11 || a.Label != "inline" {
		t.Errorf("inline address = %+v", a)
	}
}

func TestExamples(t *testing.T) {
	t.Setenv("BTCD_RPC_PASSWORD", "example")
	tests := []struct {
		file     string
		network  string
		entities int
		addrs    int
		sourced  bool
	}{
		{"mainnet.toml", "mainnet", 3, 3, true},
		{"regtest.toml", "regtest", 2, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			w := mustLoadWatchlist(t, filepath.Join("..", "examples", tt.file))
			if w.Network.String() != tt.network || len(w.Entities) != tt.entities || len(w.Scripts()) != tt.addrs {
				t.Errorf("got %s", w.Summary())
			}
			for _, e := range w.Entities {
				for _, a := range e.Addresses {
					if tt.sourced && a.Source == "" {
						t.Errorf("%s: %s has no source", e.ID, a.Address)
					}
				}
			}
			if b := w.Backends[0]; b.Kind == "btcd" {
				if _, err := b.Secret(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestBackendSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("TW_TEST_SECRET", "from-env")
	t.Setenv("TW_TEST_EMPTY", "")
	tests := []struct {
		name    string
		b       BackendConfig
		want    string
		wantErr string
	}{
		{"inline", BackendConfig{Password: "pw"}, "pw", ""},
		{"env", BackendConfig{PasswordEnv: "TW_TEST_SECRET"}, "from-env", ""},
		{"file newline", BackendConfig{PasswordFile: write("a", "line\n")}, "line", ""},
		{"file crlf", BackendConfig{PasswordFile: write("b", "line\r\n")}, "line", ""},
		{"file one newline only", BackendConfig{PasswordFile: write("c", "x\n\n")}, "x\n", ""},
		{"env unset", BackendConfig{PasswordEnv: "TW_TEST_UNSET_VARIABLE"}, "", "TW_TEST_UNSET_VARIABLE (password_env) is not set"},
		{"env empty", BackendConfig{PasswordEnv: "TW_TEST_EMPTY"}, "", "TW_TEST_EMPTY (password_env) is empty"},
		{"file missing", BackendConfig{PasswordFile: filepath.Join(dir, "nope")}, "", "nope: no such file"},
		{"file empty", BackendConfig{PasswordFile: write("d", "\n")}, "", "is empty"},
		{"none", BackendConfig{}, "", "no password"},
		{"two", BackendConfig{Password: "hunter2", PasswordEnv: "TW_TEST_SECRET"}, "", "only one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.b.Kind, tt.b.URL = "btcd", "http://127.0.0.1:1"
			got, err := tt.b.Secret()
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Secret() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Secret() error %v, want it to contain %q", err, tt.wantErr)
			}
			for _, secret := range []string{"hunter2", "from-env"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks the secret", err)
				}
			}
		})
	}
}

func TestBackendRedacted(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://127.0.0.1:18334", "btcd http://127.0.0.1:18334"},
		{"https://user:hunter2@node.example.org/rpc?apikey=hunter2#x", "btcd https://node.example.org/rpc"},
		{"http://[::1]:8334/", "btcd http://[::1]:8334/"},
		{"", "btcd (invalid url)"},
		{"http://us er:hunter2@x:bad", "btcd (invalid url)"},
	}
	for _, tt := range tests {
		b := BackendConfig{Kind: "btcd", URL: tt.url, Password: "hunter2"}
		for _, got := range []string{b.Redacted(), b.String(), b.GoString()} {
			if !strings.Contains(got, tt.want) || strings.Contains(got, "hunter2") {
				t.Errorf("%q: got %q, want %q", tt.url, got, tt.want)
			}
		}
	}
}

func TestNetworkText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"mainnet", "mainnet"}, {"testnet", "testnet3"}, {"testnet3", "testnet3"}, {"testnet4", "testnet4"},
		{"signet", "signet"}, {"regtest", "regtest"}, {"simnet", "simnet"},
	} {
		var n Network
		if err := n.UnmarshalText([]byte(tt.in)); err != nil {
			t.Fatal(err)
		}
		out, err := n.MarshalText()
		if err != nil || string(out) != tt.want || n.String() != tt.want {
			t.Errorf("%s: MarshalText = %q, %v; String = %q; want %q", tt.in, out, err, n, tt.want)
		}
	}
	var n Network
	if err := n.UnmarshalText([]byte("bitcoin")); err == nil {
		t.Error(`"bitcoin" accepted as a network`)
	}
	if _, err := n.MarshalText(); err == nil || n.String() != "unset" {
		t.Errorf("zero Network: MarshalText err %v, String %q", err, n)
	}
}

func TestValidateProgrammatic(t *testing.T) {
	var a Address
	if err := a.UnmarshalText([]byte("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")); err != nil {
		t.Fatal(err)
	}
	regtest, _ := ParseNetwork("regtest")
	w := &Watchlist{
		Network:  regtest,
		Store:    StoreConfig{Path: "/tmp/x.db"},
		Backends: []BackendConfig{{Kind: "btcd", URL: "http://127.0.0.1:1", User: "u", Password: "p"}},
		Entities: []Entity{{ID: "e", Name: "E", Addresses: []WatchedAddress{{Address: a}, {Address: Address{Text: "nope"}}}}},
	}
	err := w.Validate()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("Validate() = %v, want 2 problems", err)
	}
	if !strings.Contains(ps[0].Msg, `is a mainnet address but network = "regtest"`) || !strings.Contains(ps[1].Msg, `address "nope": not a Bitcoin address`) {
		t.Errorf("problems:\n%v", err)
	}
}
