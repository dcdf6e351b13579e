package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

func TestUsageAndCheck(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte(`network = "regtest"
[[backends]]
kind = "btcd"
url = "ftp://127.0.0.1:1"
user = "u"
[[entities]]
id = "x"
name = "X"
[[entities.addresses]]
adress = "bcrt1qn7d2x7272lznt5hhk9s07q3cqnrqljnwladrd3"
[[entities.addresses]]
address = "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo"
`), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStderr []string
	}{
		{name: "no command", args: nil, code: 2, stderr: []string{"usage:"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{name: "missing config", args: []string{"check"}, code: 2, stderr: []string{"-config is required"}},
		{name: "bad flag", args: []string{"balances", "-nope"}, code: 2, stderr: []string{"-nope"}},
		{name: "history needs one subject", args: []string{"history", "-config", bad}, code: 2, stderr: []string{"exactly one of -address and -entity"}},
		{name: "example regtest", args: []string{"check", "-config", "../../examples/regtest.toml"}, code: 0,
			stdout: []string{"network regtest", "entities"}},
		{name: "example mainnet", args: []string{"check", "-config", "../../examples/mainnet.toml"}, code: 0,
			stdout: []string{"network mainnet, 3 entities, 3 addresses, 1 backend (esplora), 1 report\n"}},
		{name: "every problem with its line", args: []string{"check", "-config", bad}, code: 1,
			stderr: []string{
				"bad.toml:4: ", "ftp",
				"bad.toml:10: ", `unknown key "entities.addresses.adress"`,
				"bad.toml:12: ", "mainnet address",
				"password",
			},
			noStderr: []string{"treasurywatch check:"}},
		{name: "missing file", args: []string{"check", "-config", filepath.Join(t.TempDir(), "nope.toml")}, code: 1,
			stderr: []string{"nope.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			for _, s := range tt.noStderr {
				if strings.Contains(errs, s) {
					t.Errorf("stderr has %q:\n%s", s, errs)
				}
			}
		})
	}
}

// TestFailedSyncLosesNothing: with the backend down or refusing, sync
// exits 1 with a clear message and the stored ledger is exactly as before.
func TestFailedSyncLosesNothing(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2WPKH)
	n.Pay(chaintest.Output{Script: k.Script, Value: 1234567})
	n.Mine()
	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, n.Node, "ledger.db", []entitySpec{{"e", []*chaintest.Key{k}}})
	mustCLI(t, "sync", "-config", cfg, "-log-level", "warn")
	before := dumpDB(t, filepath.Join(dir, "ledger.db"))
	balBefore := mustCLI(t, "balances", "-config", cfg, "-json")

	n.Pay(chaintest.Output{Script: k.Script, Value: 1})
	n.Mine()
	body, _ := os.ReadFile(cfg)
	wrongPass := strings.Replace(string(body), n.Pass, "not-the-password", 1)
	os.WriteFile(cfg, []byte(wrongPass), 0o644)
	_, errs, code := runCLI(t, "sync", "-config", cfg, "-log-level", "error")
	if code != 1 || !strings.Contains(errs, "authentication failed") || strings.Contains(errs, "not-the-password") {
		t.Errorf("wrong password: exit %d, stderr %q", code, errs)
	}
	os.WriteFile(cfg, body, 0o644)
	n.Close()
	_, errs, code = runCLI(t, "sync", "-config", cfg, "-log-level", "error")
	if code != 1 || !strings.Contains(errs, "refused") || strings.Contains(errs, "goroutine") {
		t.Errorf("btcd down: exit %d, stderr %q", code, errs)
	}
	if after := dumpDB(t, filepath.Join(dir, "ledger.db")); after != before {
		t.Errorf("failed syncs changed the ledger:\n%s\n---\n%s", before, after)
	}
	if got := mustCLI(t, "balances", "-config", cfg, "-json"); got != balBefore {
		t.Errorf("balances changed:\n%s\n---\n%s", balBefore, got)
	}
}

func TestBalancesBeforeFirstSync(t *testing.T) {
	dir := t.TempDir()
	body, _ := os.ReadFile("../../examples/regtest.toml")
	cfg := filepath.Join(dir, "w.toml")
	os.WriteFile(cfg, body, 0o644)
	_, errs, code := runCLI(t, "balances", "-config", cfg)
	if code != 1 || !strings.Contains(errs, "no completed sync yet") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
