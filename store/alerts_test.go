package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
)

func TestAlertRuleSince(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	now := time.Unix(1_765_000_000, 0)
	for _, step := range []struct {
		rule string
		tip  int64
		want int64
	}{
		{"entity=sv", 870_000, 870_000},
		{"entity=sv", 870_005, 870_000}, // kept from the first check
		{"entity=*", 870_005, 870_005},
	} {
		got, err := st.AlertRuleSince(ctx, step.rule, step.tip, now)
		if err != nil || got != step.want {
			t.Errorf("AlertRuleSince(%q, %d) = %d, %v; want %d", step.rule, step.tip, got, err, step.want)
		}
	}
	if _, err := st.AlertRuleSince(ctx, "", 1, now); err == nil {
		t.Error("empty rule key accepted")
	}
}

func TestAlertLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_765_000_000, 0).UTC()
	if _, err := st.AlertRuleSince(ctx, "r", 100, now); err != nil {
		t.Fatal(err)
	}
	fee := int64(1_234)
	a := Alert{Rule: "r", Entity: "sv", Txid: chainhash.Hash{0xaa}, Kind: "outflow", Amount: -10_000_001_234, Fee: &fee,
		Height: 101, BlockHash: chainhash.Hash{0xbb}, BlockTime: now.Add(-time.Minute), CreatedAt: now}
	id, err := st.AddAlert(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAlert(ctx, a); err == nil {
		t.Error("the same flow was recorded twice for one rule")
	}
	if _, err := st.AddAlert(ctx, Alert{Rule: "unknown", Entity: "sv", Kind: "inflow", CreatedAt: now}); err == nil {
		t.Error("alert of an unknown rule accepted")
	}
	a.ID, a.State = id, AlertPending
	got, err := st.StandingAlerts(ctx, "r")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], a) {
		t.Fatalf("standing = %+v, %v; want %+v", got, err, a)
	}

	// One channel took it, the other failed: still pending.
	a.Delivered, a.Attempts, a.LastError = []string{"webhook"}, 3, "email: connection refused"
	if err := st.UpdateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteAlert(ctx, id); err == nil {
		t.Error("deleted an alert a channel took")
	}
	a.State, a.Delivered, a.SentAt, a.Attempts, a.LastError = AlertSent, nil, now.Add(time.Second), 4, ""
	if err := st.UpdateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	bad := a
	bad.State = "lost"
	if err := st.UpdateAlert(ctx, bad); err == nil {
		t.Error("unknown state accepted")
	}
	bad = a
	bad.SentAt = time.Time{}
	if err := st.UpdateAlert(ctx, bad); err == nil {
		t.Error("sent without a time accepted")
	}
	st.Close()

	// Reopened: the row is as written, and a reorg retracts it.
	st, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err = st.StandingAlerts(ctx, "r")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], a) {
		t.Fatalf("after reopening = %+v, %v; want %+v", got, err, a)
	}
	a.State, a.RetractedAt = AlertRetracted, now.Add(time.Hour)
	if err := st.UpdateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := st.StandingAlerts(ctx, "r"); err != nil || len(got) != 0 {
		t.Errorf("standing after retraction = %+v, %v", got, err)
	}
	// The flow confirms again: a new alert with a new id.
	again := a
	again.Height, again.BlockHash, again.Fee = 103, chainhash.Hash{0xcc}, nil
	id2, err := st.AddAlert(ctx, again)
	if err != nil || id2 == id {
		t.Fatalf("re-announcing: id %d (first %d), %v", id2, id, err)
	}
	all, err := st.Alerts(ctx)
	if err != nil || len(all) != 2 || all[0].State != AlertRetracted || all[1].State != AlertPending ||
		all[1].Fee != nil || all[1].Height != 103 {
		t.Errorf("all alerts = %+v, %v", all, err)
	}
	if err := st.DeleteAlert(ctx, id2); err != nil {
		t.Errorf("deleting a pending alert nobody took: %v", err)
	}
}
