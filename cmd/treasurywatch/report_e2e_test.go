package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// hookRecorder is a webhook receiver on loopback that keeps every body.
type hookRecorder struct {
	mu     sync.Mutex
	bodies map[string][]byte // by Idempotency-Key
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bodies == nil {
		h.bodies = map[string][]byte{}
	}
	h.bodies[r.Header.Get("Idempotency-Key")] = body
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookRecorder) get(id string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.bodies[id]
	return b, ok
}

// archived runs `reports -json` and decodes it.
func archived(tb testing.TB, cfg string, args ...string) []reportJSON {
	tb.Helper()
	out := mustCLI(tb, append([]string{"reports", "-config", cfg, "-json"}, args...)...)
	var rs []reportJSON
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		tb.Fatalf("reports -json: %v\n%s", err, out)
	}
	return rs
}

func deliveryStatus(r reportJSON) map[string]string {
	m := map[string]string{}
	for _, d := range r.Deliveries {
		m[d.Target] = d.Status
	}
	return m
}

// TestReportCommands produces a report with `report`, lists it with
// `reports`, and lets the daemon produce and deliver a frequent one, all
// against a real btcd.
func TestReportCommands(t *testing.T) {
	n := chaintest.StartTB(t, chaintest.Options{}).T(t)
	k := n.NewKey(chaintest.P2WPKH)
	n.Pay(chaintest.Output{Script: k.Script, Value: 7_000_000})
	n.Mine()
	hook := &hookRecorder{}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	dir := t.TempDir()
	cfg := writeWatchlist(t, dir, n.Node, "ledger.db", []entitySpec{{"reserve", []*chaintest.Key{k}}})
	body, _ := os.ReadFile(cfg)
	extra := fmt.Sprintf(`[schedule]
sync = "@every 1s"
[http]
listen = "127.0.0.1:0"
[[reports]]
name = "daily"
schedule = "CRON_TZ=America/El_Salvador 0 8 * * *"
[[reports]]
name = "fast"
schedule = "@every 2s"
formats = ["json", "csv"]
deliver = ["dir", "webhook"]
catch_up = 1
[report_delivery]
dir = "out"
webhook_url = %q
`, srv.URL+"/hook")
	if err := os.WriteFile(cfg, append(body, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "check", "-config", cfg)

	t.Run("usage errors", func(t *testing.T) {
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"report", "-config", cfg, "-name", "weekly"}, `unknown report "weekly" (known: daily, fast)`},
			{[]string{"report", "-config", cfg}, "-name is required"},
			{[]string{"report", "-config", cfg, "-name", "daily", "-at", "yesterday"}, `-at "yesterday" is not an RFC 3339 time`},
			{[]string{"report", "-config", cfg, "-name", "daily", "-at", "2999-01-01T00:00:00Z"}, "is in the future"},
			{[]string{"reports", "-config", cfg, "-name", "weekly"}, `unknown report "weekly" (known: daily, fast)`},
		}
		for _, tt := range tests {
			t.Run(strings.Join(tt.args[3:], " "), func(t *testing.T) {
				_, stderr, code := runCLI(t, tt.args...)
				if code != 2 || !strings.Contains(stderr, tt.want) {
					t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
				}
			})
		}
		if _, err := os.Stat(filepath.Join(dir, "ledger.db")); err == nil {
			if rs := archived(t, cfg); len(rs) != 0 {
				t.Errorf("bad input archived %d reports", len(rs))
			}
		}
	})

	// A report archived without delivery, then delivered by a second run
	// for the same instant, which finds it archived and produces nothing.
	out := mustCLI(t, "report", "-config", cfg, "-name", "daily", "-no-deliver")
	if !strings.Contains(out, "produced and archived") || !strings.Contains(out, "deliver dir: pending (not attempted: -no-deliver)") {
		t.Fatalf("report -no-deliver:\n%s", out)
	}
	rs := archived(t, cfg, "-name", "daily")
	if len(rs) != 1 || deliveryStatus(rs[0])["dir"] != "pending" || !strings.HasPrefix(rs[0].Digest, "sha256:") {
		t.Fatalf("archive after report -no-deliver: %+v", rs)
	}
	checkAnchors(t, n, rs[0])
	daily := rs[0]
	wantFormats := map[string]bool{}
	for _, f := range daily.Files {
		wantFormats[filepath.Ext(f.Name)] = true
	}
	for _, ext := range []string{".html", ".pdf", ".csv", ".json"} {
		if !wantFormats[ext] {
			t.Errorf("daily report has no %s file: %+v", ext, daily.Files)
		}
	}
	out = mustCLI(t, "report", "-config", cfg, "-name", "daily", "-at", daily.Instant)
	if !strings.Contains(out, "already archived") || !strings.Contains(out, "digest matches") || !strings.Contains(out, "deliver dir: delivered") || !strings.Contains(out, daily.Digest) {
		t.Fatalf("second report run:\n%s", out)
	}
	rs = archived(t, cfg, "-name", "daily")
	if len(rs) != 1 || deliveryStatus(rs[0])["dir"] != "delivered" || rs[0].Digest != daily.Digest {
		t.Fatalf("archive after delivery: %+v", rs)
	}
	written := filepath.Join(dir, "out", "report", "daily", daily.Instant)
	for _, f := range daily.Files {
		st, err := os.Stat(filepath.Join(written, f.Name))
		if err != nil || st.Size() != f.Size {
			t.Errorf("delivered %s: %v (size %v, archived %d)", f.Name, err, st, f.Size)
		}
	}
	text := mustCLI(t, "reports", "-config", cfg)
	if !strings.Contains(text, "daily (manual)") || !strings.Contains(text, "dir delivered") || !strings.Contains(text, daily.Digest) {
		t.Errorf("reports:\n%s", text)
	}

	// The daemon produces the frequent report after a sync covering each
	// instant, and delivers it to the directory and the webhook.
	// The daemon produces the frequent report after a sync covering each
	// instant and delivers it to the directory and the webhook.
	runDaemonUntil(t, cfg, 2, time.Time{})
	fast := archived(t, cfg, "-name", "fast")
	stopped := time.Now()
	// Down for about three instants; catch_up = 1 brings back only the
	// newest of those missed.
	n.Pay(chaintest.Output{Script: k.Script, Value: 3_000})
	n.Mine()
	time.Sleep(6 * time.Second)
	restarted := time.Now()
	runDaemonUntil(t, cfg, 1, restarted)
	missed := 0
	for _, r := range archived(t, cfg, "-name", "fast") {
		at, _ := time.Parse(time.RFC3339, r.Instant)
		if at.After(stopped) && !at.After(restarted) {
			missed++
		}
	}
	if missed != 1 {
		t.Errorf("%d instants of the stop produced after the restart, want 1 (catch_up); before the stop: %d reports", missed, len(fast))
	}

	seen := map[string]bool{}
	for _, r := range archived(t, cfg, "-name", "fast") {
		if seen[r.Instant] {
			t.Errorf("instant %s archived twice", r.Instant)
		}
		seen[r.Instant] = true
		if r.Manual {
			t.Errorf("scheduled report %s marked manual", r.Instant)
		}
		checkAnchors(t, n, r)
		from, _ := time.Parse(time.RFC3339, r.From)
		to, _ := time.Parse(time.RFC3339, r.Instant)
		if to.Sub(from) != 2*time.Second {
			t.Errorf("period %s to %s, want the 2s since the previous instant", r.From, r.Instant)
		}
		if deliveryStatus(r)["webhook"] != "delivered" {
			continue
		}
		id := "report/fast/" + r.Instant
		b, ok := hook.get(id)
		if !ok {
			t.Errorf("webhook never received %s", id)
			continue
		}
		var got struct {
			Digest  string `json:"digest"`
			ToBlock struct {
				Height int64  `json:"height"`
				Hash   string `json:"hash"`
			} `json:"to_block"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Digest != r.Digest || got.ToBlock.Hash != r.ToBlock.Hash {
			t.Errorf("webhook body for %s: %v %+v, archived %s %s", id, err, got, r.Digest, r.ToBlock.Hash)
		}
		data, err := os.ReadFile(filepath.Join(dir, "out", "report", "fast", r.Instant, r.Files[len(r.Files)-1].Name))
		if err != nil || int64(len(data)) != r.Files[len(r.Files)-1].Size {
			t.Errorf("dir delivery of %s: %v", id, err)
		}
	}
}

// reportLog is a buffer the daemon writes into while the test reads it.
type reportLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *reportLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *reportLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkAnchors checks that each end of r's period is stated at the
// chain's last block at or before it: the block is the node's at that
// height, not later than the instant, and the next block is later.
func checkAnchors(tb testing.TB, n chaintest.T, r reportJSON) {
	tb.Helper()
	for _, end := range []struct {
		at    string
		block reportBlockJSON
	}{{r.From, r.FromBlock}, {r.Instant, r.ToBlock}} {
		at, _ := time.Parse(time.RFC3339, end.at)
		bt, _ := time.Parse(time.RFC3339, end.block.Time)
		if got := n.BlockHash(end.block.Height).String(); got != end.block.Hash || bt.After(at) {
			tb.Errorf("%s@%s: block %+v (node has %s at that height) is not at or before %s", r.Name, r.Instant, end.block, got, end.at)
			continue
		}
		if end.block.Height == n.Height() {
			continue
		}
		var hdr struct {
			Time int64 `json:"time"`
		}
		raw := n.RawRequest("getblockheader", n.BlockHash(end.block.Height+1).String(), true)
		if err := json.Unmarshal(raw, &hdr); err != nil {
			tb.Fatal(err)
		}
		if !time.Unix(hdr.Time, 0).After(at) {
			tb.Errorf("%s@%s: block %d after the anchor %d has time %s, not after %s", r.Name, r.Instant, end.block.Height+1, end.block.Height, time.Unix(hdr.Time, 0).UTC(), end.at)
		}
	}
}

// runDaemonUntil runs `treasurywatch run` until it has delivered, to both
// targets, want fast reports whose instants are after since, then stops it.
func runDaemonUntil(tb testing.TB, cfg string, want int, since time.Time) {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	defer cancel()
	done := make(chan int, 1)
	var stdout, stderr reportLog
	go func() { done <- Run(ctx, []string{"run", "-config", cfg, "-log-level", "warn"}, &stdout, &stderr) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		delivered := 0
		for _, r := range archived(tb, cfg, "-name", "fast") {
			at, _ := time.Parse(time.RFC3339, r.Instant)
			if s := deliveryStatus(r); at.After(since) && s["dir"] == "delivered" && s["webhook"] == "delivered" {
				delivered++
			}
		}
		if delivered >= want {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("daemon delivered %d fast reports in 60s, want %d\nstderr: %s", delivered, want, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			tb.Errorf("run exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		tb.Fatal("run did not stop")
	}
}
