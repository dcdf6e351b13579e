package schedule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// flakyHook answers 503 to the first fails requests, then 204, and keeps
// what it received.
type flakyHook struct {
	mu     sync.Mutex
	fails  int
	status int // answer after the failures; 0 = 204
	bodies [][]byte
	keys   []string
}

func (h *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies = append(h.bodies, body)
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	switch {
	case len(h.bodies) <= h.fails:
		w.WriteHeader(http.StatusServiceUnavailable)
	case h.status != 0:
		w.WriteHeader(h.status)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func TestDeliveryRetryRecorded(t *testing.T) {
	ctx := context.Background()
	hook := &flakyHook{fails: 3}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	wl := testWatchlist(t, watcher.ReportConfig{Name: "daily", Schedule: mustSchedule(t, "0 8 * * *"), Deliver: []string{"dir", "webhook"},
		Formats: []string{"json", "csv"}})
	wl.ReportDelivery = watcher.ReportDeliveryConfig{Dir: filepath.Join(dir, "out"), WebhookURL: srv.URL + "/hook"}
	prod := &producer{}
	chain := clockChain{genesis: time.Now().Add(-48 * time.Hour)}
	sch, err := New(Config{Watchlist: wl, Store: st, Backend: chain, Produce: prod.produce,
		Policy: deliver.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	to := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	r, created, err := sch.Produce(ctx, wl.Reports[0], Period{From: to.Add(-24 * time.Hour), To: to}, false, -1)
	if err != nil || !created {
		t.Fatalf("produce: %v %v", created, err)
	}

	status := func() map[string]store.Delivery {
		t.Helper()
		got, _, err := st.ReportByID(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]store.Delivery{}
		for _, d := range got.Deliveries {
			m[d.Target] = d
		}
		return m
	}
	// Round 1: the dir is written; the webhook fails twice (503).
	if err := sch.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	s := status()
	if s["dir"].Status != store.DeliveryDelivered || s["webhook"].Status != store.DeliveryFailed || s["webhook"].Attempts != 2 {
		t.Fatalf("after round 1: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "report", "daily", to.Format(time.RFC3339), "daily.json")); err != nil {
		t.Errorf("dir delivery: %v", err)
	}
	// Round 2: one more 503, then delivered. The dir is not written again.
	if err := sch.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	s = status()
	if s["webhook"].Status != store.DeliveryDelivered || s["webhook"].Attempts != 4 || s["dir"].Attempts != 1 {
		t.Fatalf("after round 2: %+v", s)
	}
	atts, err := st.DeliveryAttempts(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var hookAtts []string
	for _, a := range atts {
		if a.Target == "webhook" {
			out := "delivered"
			if !a.Done {
				out = a.Err
			}
			hookAtts = append(hookAtts, out)
		}
	}
	if len(hookAtts) != 4 || hookAtts[3] != "delivered" || hookAtts[0] == "" || hookAtts[0] == "delivered" {
		t.Errorf("webhook attempts %q", hookAtts)
	}
	// Every try carried the same id and a body naming the report.
	hook.mu.Lock()
	defer hook.mu.Unlock()
	for _, k := range hook.keys {
		if k != MessageID(r) {
			t.Errorf("idempotency key %q, want %q", k, MessageID(r))
		}
	}
	var body webhookBody
	if err := json.Unmarshal(hook.bodies[len(hook.bodies)-1], &body); err != nil {
		t.Fatal(err)
	}
	if body.Report != "daily" || body.Digest != r.Digest || body.ToBlock.Height != r.ToBlock.Height || len(body.Files) != 2 {
		t.Errorf("webhook body %+v", body)
	}
	// Nothing left to deliver: another round sends nothing.
	n := len(hook.bodies)
	hook.mu.Unlock()
	if err := sch.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	hook.mu.Lock()
	if len(hook.bodies) != n {
		t.Errorf("a delivered report was sent again")
	}
}

func TestDeliveryPermanentFailureKeepsReport(t *testing.T) {
	ctx := context.Background()
	hook := &flakyHook{status: http.StatusBadRequest}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	wl := testWatchlist(t, watcher.ReportConfig{Name: "daily", Schedule: mustSchedule(t, "0 8 * * *"), Deliver: []string{"webhook", "email"}})
	wl.ReportDelivery = watcher.ReportDeliveryConfig{WebhookURL: srv.URL}
	wl.SMTP = watcher.SMTPConfig{Host: "127.0.0.1", From: "r@example.org", PasswordEnv: "TW_SCHEDULE_TEST_UNSET"}
	sch, err := New(Config{Watchlist: wl, Store: st, Backend: clockChain{genesis: time.Now().Add(-48 * time.Hour)},
		Produce: (&producer{}).produce, Policy: deliver.Policy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	to := time.Now().Add(-time.Hour)
	r, _, err := sch.Produce(ctx, wl.Reports[0], Period{From: to.Add(-24 * time.Hour), To: to}, false, -1)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := sch.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := st.ReportByID(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got.Deliveries {
		switch d.Target {
		case "webhook": // 400: tried once, never again
			if d.Status != store.DeliveryFailed || !d.Permanent || d.Attempts != 1 {
				t.Errorf("webhook %+v", d)
			}
		case "email": // its password variable is unset: failed, retried each round
			if d.Status != store.DeliveryFailed || d.Permanent || d.Attempts != 2 || d.LastError == "" {
				t.Errorf("email %+v", d)
			}
		}
	}
	if files, err := st.ReportFiles(ctx, r.ID); err != nil || len(files) != 4 {
		t.Errorf("files of an undelivered report: %d %v", len(files), err)
	}
}
