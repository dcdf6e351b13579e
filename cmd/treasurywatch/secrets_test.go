package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// capture is one output checked for secrets: a log, a page, an error.
type capture struct {
	name string
	data []byte
}

// secretForms returns the ways a secret could leak: as is, URL-escaped,
// in base64 (alone and as the user:password of HTTP Basic auth) and hex.
func secretForms(user, secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret)),
		fmt.Sprintf("%x", secret)}
	if user != "" {
		forms = append(forms, base64.StdEncoding.EncodeToString([]byte(user+":"+secret)))
	}
	return forms
}

// assertNoSecrets fails the test for every capture that holds any form of
// any secret. Further outputs (report files, mail bodies) are checked by
// passing them as more captures.
func assertNoSecrets(tb testing.TB, secrets map[string][]string, caps ...capture) {
	tb.Helper()
	total := 0
	for _, c := range caps {
		total += len(c.data)
		for name, forms := range secrets {
			for _, f := range forms {
				if i := bytes.Index(c.data, []byte(f)); i >= 0 {
					lo, hi := max(0, i-80), min(len(c.data), i+len(f)+80)
					tb.Errorf("%s contains the %s (as %q): …%s…", c.name, name, f, c.data[lo:hi])
				}
			}
		}
	}
	if total == 0 {
		tb.Fatal("nothing was captured to check")
	}
	tb.Logf("checked %d outputs, %d bytes, for %d secrets", len(caps), total, len(secrets))
}

// syncedBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// secretsWatchlist writes a watchlist whose every secret comes from the
// environment: the btcd password, the webhook signing key, the SMTP
// password.
func secretsWatchlist(tb testing.TB, dir, backendURL, user string, keys []*chaintest.Key, rcv *receivers) string {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `network = "regtest"
[store]
path = "ledger.db"
[[backends]]
kind = "btcd"
url = %q
user = %q
password_env = "TW_SECRET_RPC_PASS"
[schedule]
sync = "@every 1s"
[http]
listen = "127.0.0.1:0"
%s[[entities]]
id = "reserve"
name = "Reserve"
`, backendURL, user, rcv.reportsTOML())
	for i, k := range keys {
		fmt.Fprintf(&b, "[[entities.addresses]]\naddress = %q\nlabel = \"cold %d\"\n", k.Address.String(), i)
	}
	path := filepath.Join(dir, "watchlist.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// daemonCapture runs `treasurywatch run` until it has answered a sync (ok
// or failed), fetches every page and API answer, stops it, and returns
// everything it printed and served.
func daemonCapture(t *testing.T, name, cfg string, wantOK bool, paths []string) []capture {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stdout, stderr syncedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"run", "-config", cfg, "-log-level", "debug", "-log-json"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: no start line: %v (stderr %s)", name, err, stderr.Bytes())
	}
	stdout.Write([]byte(line))
	go io.Copy(&stdout, pr)
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if base == "" {
		t.Fatalf("%s: start line has no URL: %q", name, line)
	}
	// Wait until the pages show the outcome of a sync.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if wantOK && res.StatusCode == http.StatusOK {
				break
			}
			if !wantOK && bytes.Contains(stderr.Bytes(), []byte(`"level":"ERROR"`)) && failureShown(t, base) {
				break
			}
			_ = body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no sync outcome within 30 s; stderr:\n%s", name, stderr.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var caps []capture
	for _, p := range paths {
		for _, accept := range []string{"text/html", "application/json"} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+p, nil)
			req.Header.Set("Accept", accept)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: GET %s: %v", name, p, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var hdr bytes.Buffer
			res.Header.Write(&hdr)
			caps = append(caps, capture{fmt.Sprintf("%s GET %s (%d)", name, p, res.StatusCode), append(hdr.Bytes(), body...)})
		}
	}
	cancel()
	select {
	case code := <-done:
		caps = append(caps, capture{fmt.Sprintf("%s exit code %d", name, code), []byte(fmt.Sprint(code))})
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: the daemon did not stop", name)
	}
	return append(caps, capture{name + " stdout", stdout.Bytes()}, capture{name + " stderr (JSON log)", stderr.Bytes()})
}

// failureShown reports whether the dashboard shows a failed sync.
func failureShown(t *testing.T, base string) bool {
	res, err := http.Get(base + "/")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return bytes.Contains(body, []byte("The last sync attempt"))
}

// cliCapture runs a command in-process and captures both streams.
func cliCapture(t *testing.T, name string, args ...string) []capture {
	t.Helper()
	out, errs, code := runCLI(t, args...)
	return []capture{{fmt.Sprintf("%s stdout (exit %d)", name, code), []byte(out)}, {name + " stderr", []byte(errs)}}
}

// TestNoSecretLeaks syncs from a real btcd with its password in an
// environment variable, a webhook key and an SMTP password configured,
// renders every page and API answer of the daemon, provokes failures (a
// wrong password, an unreachable backend, credentials in a URL), and
// checks that no log (text or JSON), output, page or error holds any of
// the secrets in any usual encoding.
func TestNoSecretLeaks(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k1, k2 := n.NewKey(chaintest.P2WPKH), n.NewKey(chaintest.P2TR)
	fund := n.Pay(chaintest.Output{Script: k1.Script, Value: 7_000_000}, chaintest.Output{Script: k2.Script, Value: 3_000_000})
	n.Mine()
	n.Spend(chaintest.CoinsOf(fund, k1.Script), []chaintest.Output{{Script: k2.Script, Value: 6_990_000}}, 10_000)
	n.Mine()

	const (
		webhookSecret = "whsec-Q7pZr2Lm9XvT4kWn8cYb"
		smtpPassword  = "smtp-Hk3sVd8qPx2Rf6Tz9mLw"
		wrongPassword = "wrong-Jt5bNc1aSe7Uy4Go0iKp"
		urlPassword   = "urlpw-Fy6hMr3eWq9Bz2Dn5Vx"
	)
	secrets := map[string][]string{
		"RPC password":    secretForms(n.User, n.Pass),
		"webhook secret":  secretForms("", webhookSecret),
		"SMTP password":   secretForms("mailer", smtpPassword),
		"wrong password":  secretForms(n.User, wrongPassword),
		"URL credentials": secretForms("alice", urlPassword),
	}
	t.Setenv("TW_SECRET_RPC_PASS", n.Pass)
	t.Setenv("TW_SECRET_WEBHOOK", webhookSecret)
	t.Setenv("TW_SECRET_SMTP_PASS", smtpPassword)

	dir := t.TempDir()
	rcv := startReceivers(t, "mailer", smtpPassword)
	cfg := secretsWatchlist(t, dir, "http://"+n.RPCAddr, n.User, []*chaintest.Key{k1, k2}, rcv)
	var caps []capture
	caps = append(caps, cliCapture(t, "check", "check", "-config", cfg)...)
	caps = append(caps, cliCapture(t, "sync (text log)", "sync", "-config", cfg, "-log-level", "debug")...)
	caps = append(caps, cliCapture(t, "sync (JSON log)", "sync", "-config", cfg, "-log-level", "debug", "-log-json")...)
	caps = append(caps, cliCapture(t, "balances", "balances", "-config", cfg)...)
	caps = append(caps, cliCapture(t, "balances -json", "balances", "-config", cfg, "-json")...)
	caps = append(caps, cliCapture(t, "history", "history", "-config", cfg, "-entity", "reserve", "-json")...)
	if out, _, code := runCLI(t, "balances", "-config", cfg, "-json"); code != 0 || !strings.Contains(out, "9990000") {
		t.Fatalf("the sync did not store the balance (exit %d): %s", code, out)
	}

	// A report, delivered through every channel with its secret: the
	// files, the webhook requests and the e-mail are checked too.
	caps = append(caps, cliCapture(t, "report", "report", "-config", cfg, "-name", "daily", "-log-level", "debug")...)
	caps = append(caps, cliCapture(t, "reports", "reports", "-config", cfg, "-json")...)
	caps = append(caps, dirCaptures(t, filepath.Join(dir, "reports"))...)
	delivered := rcv.captured()
	if len(delivered) != 2 {
		t.Fatalf("the report reached %d of the webhook and the mail server, want both", len(delivered))
	}
	caps = append(caps, delivered...)

	paths := []string{"/", "/entity/reserve", "/reports", "/address/" + k1.Address.String(), "/about", "/feed.atom",
		"/entity/reserve/feed.atom", "/api/v1/summary", "/api/v1/entities", "/api/v1/entities/reserve",
		"/api/v1/entities/reserve/history", "/api/v1/entities/reserve/history.csv", "/api/v1/entities/reserve/flows",
		"/api/v1/entities/reserve/flows.csv", "/api/v1/addresses/" + k1.Address.String(), "/healthz", "/readyz",
		"/metrics", "/no-such-page", "/api/v1/no-such-endpoint"}
	caps = append(caps, daemonCapture(t, "daemon", cfg, true, paths)...)

	// A wrong password: the sync fails, and its error reaches the logs
	// and the pages.
	t.Setenv("TW_SECRET_RPC_PASS", wrongPassword)
	caps = append(caps, cliCapture(t, "sync, wrong password", "sync", "-config", cfg, "-log-level", "debug")...)
	caps = append(caps, cliCapture(t, "sync, wrong password (JSON)", "sync", "-config", cfg, "-log-level", "debug", "-log-json")...)
	caps = append(caps, daemonCapture(t, "daemon, wrong password", cfg, false, paths)...)

	// An unreachable backend.
	t.Setenv("TW_SECRET_RPC_PASS", n.Pass)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()
	deadCfg := secretsWatchlist(t, dir, "http://"+deadAddr, n.User, []*chaintest.Key{k1, k2}, rcv)
	caps = append(caps, cliCapture(t, "sync, unreachable", "sync", "-config", deadCfg, "-log-level", "debug")...)
	caps = append(caps, daemonCapture(t, "daemon, unreachable", deadCfg, false, paths)...)

	// Credentials written into a backend URL, which is unreachable.
	urlDir := t.TempDir()
	body := fmt.Sprintf("network = \"regtest\"\n[store]\npath = \"ledger.db\"\n[[backends]]\nkind = \"esplora\"\nurl = \"http://alice:%s@%s/api\"\n[[entities]]\nid = \"reserve\"\nname = \"Reserve\"\n[[entities.addresses]]\naddress = %q\n",
		urlPassword, deadAddr, k1.Address.String())
	urlCfg := filepath.Join(urlDir, "watchlist.toml")
	if err := os.WriteFile(urlCfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	caps = append(caps, cliCapture(t, "check, URL credentials", "check", "-config", urlCfg)...)
	caps = append(caps, cliCapture(t, "sync, URL credentials", "sync", "-config", urlCfg, "-log-level", "debug", "-log-json")...)

	// The failures must have happened and been reported, or the check
	// below proves nothing about error paths.
	reported := map[string]string{
		"sync, wrong password stderr":        "authentication failed",
		"daemon, wrong password GET / (200)": "authentication failed",
		"sync, unreachable stderr":           deadAddr,
		"daemon, unreachable GET / (200)":    deadAddr,
		"check, URL credentials stderr":      "url contains credentials",
	}
	for _, c := range caps {
		if want, ok := reported[c.name]; ok {
			if !bytes.Contains(c.data, []byte(want)) {
				t.Errorf("%s does not report the failure (%q):\n%s", c.name, want, c.data)
			}
			delete(reported, c.name)
		}
	}
	for name := range reported {
		t.Errorf("no capture %q", name)
	}
	assertNoSecrets(t, secrets, caps...)
}

// leakRecorder is a testing.TB that records the failures it is told of.
type leakRecorder struct {
	testing.TB
	errors []string
}

func (r *leakRecorder) Helper()             {}
func (r *leakRecorder) Logf(string, ...any) {}
func (r *leakRecorder) Errorf(f string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(f, args...))
}
func (r *leakRecorder) Fatal(args ...any) { r.errors = append(r.errors, fmt.Sprint(args...)) }

// TestAssertNoSecretsCatchesEveryForm checks the checker: a secret leaked
// as is, URL-escaped, in base64 or inside a Basic auth header is found.
func TestAssertNoSecretsCatchesEveryForm(t *testing.T) {
	const user, secret = "rpcuser", "s3cret/Pass+word"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
	tests := []struct {
		name string
		data string
		want int
	}{
		{"clean", `level=ERROR msg="sync failed" err="btcd: HTTP 401 Unauthorized"`, 0},
		{"plain", "password=" + secret, 1},
		{"url-escaped", "http://rpcuser:" + url.QueryEscape(secret) + "@host/", 1},
		{"base64", base64.StdEncoding.EncodeToString([]byte(secret)), 1},
		{"basic auth", "Authorization: Basic " + basic, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &leakRecorder{TB: t}
			assertNoSecrets(r, map[string][]string{"password": secretForms(user, secret)}, capture{"out", []byte(tt.data)})
			if got := len(r.errors); (got > 0) != (tt.want > 0) {
				t.Errorf("%d findings, want %d: %q", got, tt.want, r.errors)
			}
		})
	}
}
