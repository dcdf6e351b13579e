package watcher

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

var updateWatchlistGolden = flag.Bool("update-watchlist", false, "rewrite testdata/watchlist/*.golden")

// watchlistProblemLines loads path and returns its problems as "file:line: msg" with
// the file's base name, failing if the load succeeds.
func watchlistProblemLines(tb testing.TB, path string) []string {
	tb.Helper()
	w, err := LoadWatchlist(path)
	if err == nil {
		tb.Fatalf("LoadWatchlist succeeded: %s", w.Summary())
	}
	var ps Problems
	if !errors.As(err, &ps) {
		tb.Fatalf("error %T %v, want Problems", err, err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		p.File = filepath.Base(p.File)
		out[i] = p.Error()
	}
	return out
}

// watchlistHead is a valid watchlist; cases append to it from line 12.
const watchlistHead = `network = "mainnet"
[[backends]]
kind = "btcd"
url = "http://127.0.0.1:8334"
user = "u"
password = "p"
[[entities]]
id = "sv"
name = "El Salvador"
[[entities.addresses]]
address = "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo"
`

func TestLoadWatchlistProblems(t *testing.T) {
	t.Setenv("TW_TEST_UNSET", "")
	os.Unsetenv("TW_TEST_UNSET")
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"syntax", "network = \"mainnet\n", []string{
			`watchlist.toml:1: TOML syntax: strings cannot contain newlines`}},
		{"unknown keys", watchlistHead + `[[entities.addresses]]
adress = "bc1qa5wkgaew2dkv56kfvj49j0av5nml45x9ek9hz6"
[[entities]]
id = "us"
name = "US"
nickname = "x"
[entities.extra]
`, []string{
			`watchlist.toml:12: entity "sv": address entry without address`,
			`watchlist.toml:13: unknown key "entities.addresses.adress"`,
			`watchlist.toml:14: entity "us" has no addresses (a zero balance would be claimed for it)`,
			`watchlist.toml:17: unknown key "entities.nickname"`,
			`watchlist.toml:18: unknown key "entities.extra"`}},
		{"unknown top-level section", watchlistHead + "[web]\nlisten = \":8080\"\n", []string{
			`watchlist.toml:12: unknown key "web"`}},
		{"daemon sections", watchlistHead + "[schedule]\nsync = \"@every fortnight\"\n[http]\nlisten = \"8080\"\npublic_url = \"example.org\"\nexplorer_tx_url = \"https://mempool.space/tx/\"\nport = 1\n", []string{
			`watchlist.toml:13: schedule "@every fortnight": failed to parse duration @every fortnight: time: invalid duration "fortnight"`,
			`watchlist.toml:15: http listen "8080": want host:port, e.g. "127.0.0.1:8080"`,
			`watchlist.toml:16: http public_url "example.org" is not an absolute http(s) URL`,
			`watchlist.toml:18: unknown key "http.port"`}},
		{"quoted and inline keys", watchlistHead + `[[entities]]
id = "us"
name = """
multi-line [[not a header]]
"""
"label" = "x"
addresses = [
  { address = "bc1qa5wkgaew2dkv56kfvj49j0av5nml45x9ek9hz6" },
  { 'adress' = "x" },
]
`, []string{
			`watchlist.toml:17: unknown key "entities.label"`,
			`watchlist.toml:20: unknown key "entities.addresses.adress"`,
			`watchlist.toml:20: entity "us": address entry without address`}},
		{"wrong types", `network = 1
store = "x"
backends = "btcd"
[[entities]]
id = 7
name = true
[[entities.addresses]]
address = 5
label = [1]
`, []string{
			`watchlist.toml:1: "network" must be a string, not an integer`,
			`watchlist.toml:2: "store" must be a table ([store]), not a string`,
			`watchlist.toml:3: "backends" must be an array of tables ([[backends]]), not a string`,
			`watchlist.toml:5: "entities.id" must be a string, not an integer`,
			`watchlist.toml:6: "entities.name" must be a string, not a boolean`,
			`watchlist.toml:8: "entities.addresses.address" must be a string, not an integer`,
			`watchlist.toml:9: "entities.addresses.label" must be a string, not an array of integers`}},
		{"addresses as strings", watchlistHead + "[[entities]]\nid = \"x\"\nname = \"X\"\naddresses = [\"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\"]\n", []string{
			`watchlist.toml:15: "entities.addresses" must be an array of tables ([[entities.addresses]]), not an array of strings`}},
		{"single table instead of array", watchlistHead + "[[entities]]\nid = \"x\"\nname = \"X\"\n[entities.addresses]\naddress = \"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\"\n", []string{
			`watchlist.toml:15: "entities.addresses" must be an array of tables ([[entities.addresses]]), not a table`}},
		{"bad addresses", watchlistHead + `[[entities.addresses]]
address = "bc1qa5wkgaew2dkv56kc6hp5kxsk7ln3t38j7kuzsa"
[[entities.addresses]]
address = "1CRjKZJu8LvTutnEKe3vCMXbMgrPnhp9LM"
[[entities.addresses]]
address = "El Salvador"
[[entities.addresses]]
address = ""
[[entities.addresses]]
address = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
`, []string{
			`watchlist.toml:13: address "bc1qa5wkgaew2dkv56kc6hp5kxsk7ln3t38j7kuzsa": checksum mismatch (a typo?)`,
			`watchlist.toml:15: address "1CRjKZJu8LvTutnEKe3vCMXbMgrPnhp9LM": checksum mismatch (a typo?)`,
			`watchlist.toml:17: address "El Salvador": not a Bitcoin address (decoded address is of unknown format)`,
			`watchlist.toml:19: address is empty`,
			`watchlist.toml:21: address "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798": a raw public key, not an address`}},
		{"other networks", watchlistHead + `[[entities.addresses]]
address = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
[[entities.addresses]]
address = "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"
[[entities.addresses]]
address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
`, []string{
			`watchlist.toml:13: address "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx" is a testnet/signet address but network = "mainnet"`,
			`watchlist.toml:15: address "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r" is a testnet/signet/regtest address but network = "mainnet"`,
			`watchlist.toml:17: address "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080" is a regtest address but network = "mainnet"`}},
		{"mainnet address on regtest", strings.Replace(watchlistHead, "mainnet", "regtest", 1), []string{
			`watchlist.toml:11: address "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo" is a mainnet address but network = "regtest"`}},
		{"duplicate addresses", watchlistHead + `[[entities.addresses]]
address = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
[[entities]]
id = "other"
name = "Other"
[[entities.addresses]]
address = "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo"
[[entities.addresses]]
address = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"
`, []string{
			`watchlist.toml:18: address "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo" is already watched at line 11 (entity "sv")`,
			`watchlist.toml:20: address "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4" is already watched at line 13 (entity "sv") (same script as "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")`}},
		{"entity fields", watchlistHead + `[[entities]]
id = "sv"
name = "Again"
country = "sv"
[[entities.addresses]]
address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
[[entities]]
id = "Bad_ID"
name = "  "
country = "SLV"
[[entities.addresses]]
address = "bc1qa5wkgaew2dkv56kfvj49j0av5nml45x9ek9hz6"
source = "bitcoin.gob.sv"
[[entities]]
name = "No id"
[[entities.addresses]]
address = "bc1qq0l4jgg9rcm3puhhfwaz4c9t8hdee8hfz6738z"
source = "ftp://example.org/x"
`, []string{
			`watchlist.toml:13: duplicate entity id "sv" (first at line 8)`,
			`watchlist.toml:15: entity "sv": country "sv" is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. "SV")`,
			`watchlist.toml:19: entity id "Bad_ID" is invalid: use lower-case letters, digits and single hyphens, e.g. "sv-bitcoin-office"`,
			`watchlist.toml:20: entity "Bad_ID" has no name`,
			`watchlist.toml:21: entity "Bad_ID": country "SLV" is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. "SV")`,
			`watchlist.toml:24: source "bitcoin.gob.sv" is not an absolute http(s) URL`,
			`watchlist.toml:25: entity has no id`,
			`watchlist.toml:29: source "ftp://example.org/x" is not an absolute http(s) URL`}},
		{"empty file", "# nothing\n", []string{
			`watchlist.toml: missing network: add network = "mainnet" (or testnet, testnet4, signet, regtest, simnet)`,
			`watchlist.toml: no backends: add a [[backends]] entry (kind = "btcd", url = …)`,
			`watchlist.toml: no entities: add an [[entities]] entry with its [[entities.addresses]]`}},
		{"unknown network", "\n" + strings.Replace(watchlistHead, `"mainnet"`, `"bitcoin"`, 1), []string{
			`watchlist.toml:2: unknown network "bitcoin" (want mainnet, testnet, testnet3, testnet4, signet, regtest or simnet)`}},
		{"backend kind and url", watchlistHead + `[[backends]]
kind = "bitcoind"
url = "http://127.0.0.1:8332"
[[backends]]
url = "http://127.0.0.1:8332"
[[backends]]
kind = "btcd"
user = "u"
password = "p"
[[backends]]
kind = "btcd"
url = "ftp://127.0.0.1:8334"
user = "u"
password = "p"
[[backends]]
kind = "btcd"
url = "http://node.example.org:8334"
user = "u"
password = "p"
[[backends]]
kind = "btcd"
url = "https://u:p@node.example.org:8334"
user = "u"
password = "p"
[[backends]]
kind = "btcd"
url = "http://localhost:8334"
user = "u"
password = "p"
tls_cert = "rpc.cert"
[[backends]]
kind = "btcd"
url = "https://node.example.org:8334"
user = "u"
password = "p"
tls_cert = "missing.cert"
`, []string{
			`watchlist.toml:13: unknown backend kind "bitcoind" (known: btcd, electrum, esplora)`,
			`watchlist.toml:16: backend has no kind (known: btcd, electrum, esplora)`,
			`watchlist.toml:17: backend btcd has no url`,
			`watchlist.toml:23: backend btcd: url scheme "ftp" not accepted (use http or https)`,
			`watchlist.toml:28: backend btcd: plain http to "node.example.org", which is not a loopback host: use https (the password would cross the network in clear)`,
			`watchlist.toml:33: backend btcd: url contains credentials: use the user and password keys`,
			`watchlist.toml:41: backend btcd: tls_cert needs an encrypted url (https)`,
			`watchlist.toml:47: backend btcd: tls_cert: no such file or directory`}},
		{"esplora and electrum settings", watchlistHead + `[[backends]]
kind = "esplora"
url = "https://mempool.space/api"
rate_per_second = 2
timeout = "20s"
[[backends]]
kind = "esplora"
url = "http://esplora.example.org/api"
password = "p"
batch_size = 10
[[backends]]
kind = "electrum"
url = "ssl://electrum.example.org:50002"
tls_fingerprint = "sha256:ABCDEF"
rate_per_second = 1
[[backends]]
kind = "electrum"
url = "tcp://electrum.example.org:50001"
batch_size = 400
timeout = "soon"
[[backends]]
kind = "electrum"
url = "ssl://electrum.example.org:50002"
tls_fingerprint = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
insecure_skip_verify = true
`, []string{
			`watchlist.toml:19: backend esplora: plain http to "esplora.example.org", which is not a loopback host: use https (its answers could be altered on the way)`,
			`watchlist.toml:20: backend esplora takes no password`,
			`watchlist.toml:21: backend esplora takes no batch_size`,
			`watchlist.toml:25: backend electrum: tls_fingerprint "sha256:ABCDEF": want "sha256:" and 64 hex digits`,
			`watchlist.toml:26: backend electrum takes no rate_per_second`,
			`watchlist.toml:29: backend electrum: plain tcp to "electrum.example.org", which is not a loopback host: use ssl (its answers could be altered on the way)`,
			`watchlist.toml:30: backend electrum: batch_size must be between 1 and 300`,
			`watchlist.toml:31: duration "soon": want e.g. "30s" or "2m"`,
			`watchlist.toml:35: backend electrum: tls_fingerprint and insecure_skip_verify contradict each other`}},
		{"passwords", watchlistHead + `[[backends]]
kind = "btcd"
url = "http://127.0.0.2:8334"
[[backends]]
kind = "btcd"
url = "http://127.0.0.1:8334"
user = "u"
password = "p"
password_env = "HOME"
password_file = "pw"
[[backends]]
kind = "btcd"
url = "http://127.0.0.1:8334"
user = "u"
password_env = "TW_TEST_UNSET"
[[backends]]
kind = "btcd"
url = "http://127.0.0.1:8334"
user = "u"
password_file = "missing-password.txt"
`, []string{
			`watchlist.toml:14: backend btcd has no user`,
			`watchlist.toml:14: backend btcd has no password: set one of password, password_env, password_file`,
			`watchlist.toml:20: backend btcd: password and password_env and password_file: set only one of password, password_env, password_file`,
			`watchlist.toml:26: backend btcd: password_env: environment variable TW_TEST_UNSET is not set or empty`,
			`watchlist.toml:31: backend btcd: password_file: no such file or directory`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := watchlistProblemLines(t, writeWatchlist(t, tt.toml))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLoadWatchlistManyProblems checks that one load reports every problem
// of a file, against a golden file (go test -run ManyProblems -update-watchlist).
func TestLoadWatchlistManyProblems(t *testing.T) {
	t.Setenv("TW_TEST_UNSET", "")
	os.Unsetenv("TW_TEST_UNSET")
	path := filepath.Join("testdata", "watchlist", "many-problems.toml")
	_, err := LoadWatchlist(path)
	if err == nil {
		t.Fatal("LoadWatchlist succeeded")
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "watchlist", "many-problems.golden")
	if *updateWatchlistGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("problems:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	if n := strings.Count(got, "\n"); n < 10 {
		t.Errorf("only %d problems reported", n)
	}
}

// TestScanLines checks the line index on TOML the TOML parser accepts but a
// naive line scanner would misread.
func TestScanLines(t *testing.T) {
	src := "\ufeff# [[entities]] in a comment\r\n" + // 1
		`network = "mainnet" # trailing [comment]` + "\r\n" + // 2
		`store.path = 'C:\db' ` + "\n" + // 3
		"[[entities]]\n" + // 4
		`name = """a "quoted" [[x]]` + "\n" + // 5
		`and \"""still\""" more""""` + "\n" + // 6: one quote before the closing three
		`id = '''` + "\n" + // 7
		`x''''` + "\n" + // 8
		`"quoted key" = "a = b # c"` + "\n" + // 9
		`tags = [` + "\n" + // 10
		`  "one", # comment ]` + "\n" + // 11
		`  { k = 1 },` + "\n" + // 12
		`]` + "\n" + // 13
		"[ entities . addresses ]\n" + // 14
		"when = 1979-05-27 07:32:00Z\n" + // 15
		"[[entities]]\n" + // 16
		"[[entities.addresses]]\n" + // 17
		"address = \"x\"\n" // 18
	want := map[string]int{
		"network": 2, "store.path": 3, "entities[0]": 4, "entities[0].name": 5, "entities[0].id": 7,
		"entities[0].quoted key": 9, "entities[0].tags": 10, "entities[0].tags[0]": 11, "entities[0].tags[1].k": 12,
		"entities[0].addresses": 14, "entities[0].addresses.when": 15, "entities[1]": 16,
		"entities[1].addresses[0]": 17, "entities[1].addresses[0].address": 18,
	}
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatalf("test document is not valid TOML: %v", err)
	}
	got := scanLines(src)
	for path, line := range want {
		if got[path] != line {
			t.Errorf("%s: line %d, want %d", path, got[path], line)
		}
	}
	if l := got.lineOf("store"); l != 3 {
		t.Errorf("implicit table store: line %d, want 3", l)
	}
}

func TestLoadWatchlistSyntaxLine(t *testing.T) {
	got := watchlistProblemLines(t, writeWatchlist(t, watchlistHead+"[[entities]]\nid = \"a\"\nid = \"b\"\n"))
	if len(got) != 1 || !strings.HasPrefix(got[0], "watchlist.toml:14: TOML syntax: ") {
		t.Errorf("got %q, want one syntax problem at line 14", got)
	}
}

// FuzzScanLines checks that the line scanner neither panics nor hangs on
// any document the TOML parser accepts (scanLines itself would hide a panic).
func FuzzScanLines(f *testing.F) {
	for _, name := range []string{"../examples/mainnet.toml", "../examples/regtest.toml", "testdata/watchlist/many-problems.toml"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(string(data))
		}
	}
	f.Add(watchlistHead + "a = [{b = '''x\n''', c = [1, {d = \"\"\"y\"\"\"}]}]\n")
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := toml.Decode(src, new(map[string]any)); err != nil {
			return
		}
		sc := &lineScanner{s: strings.TrimPrefix(src, "\ufeff"), line: 1, ix: lineIndex{}, arrays: map[string]int{}}
		sc.document()
		if n := strings.Count(src, "\n") + 1; sc.line > n {
			t.Errorf("scanner counted %d lines in a %d-line document", sc.line, n)
		}
	})
}
