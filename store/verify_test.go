package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestIncidentLifecycle: a disagreement opens one incident, later ones
// update it (figures, last seen) instead of opening more, and a verified
// publish resolves it together with the block it publishes.
func TestIncidentLifecycle(t *testing.T) {
	ctx := context.Background()
	st := openTest(t)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	b1, b2 := blk(1), blk(2)

	if err := st.PublishVerified(ctx, b1, Verification{Height: 1, Hash: b1.Hash, Sources: []string{"btcd a", "esplora b"}, CheckedAt: t0}); err != nil {
		t.Fatal(err)
	}
	v, ok, err := st.VerificationAt(ctx, 1, b1.Hash)
	if err != nil || !ok || !reflect.DeepEqual(v.Sources, []string{"btcd a", "esplora b"}) || !v.CheckedAt.Equal(t0) {
		t.Fatalf("verification %+v, %v, %v", v, ok, err)
	}
	if _, ok, _ := st.VerificationAt(ctx, 1, b2.Hash); ok {
		t.Error("a verification found for another hash at the same height")
	}
	pub, _, _, _, err := st.SyncState(ctx)
	if err != nil || pub.Height != 1 || pub.Hash != b1.Hash {
		t.Fatalf("published %+v, %v; want block 1", pub, err)
	}

	steps := []struct {
		name   string
		figure int64
		opened bool
	}{
		{"opens", 500, true},
		{"same dispute later", 400, false},
	}
	var id int64
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, opened, err := st.RecordIncident(ctx, Incident{Height: 2, Entity: "reserve", Summary: "differs",
				SeenAt:  t0.Add(time.Duration(i+1) * time.Minute),
				Figures: []IncidentFigure{{Backend: "btcd a", Hash: b2.Hash, ConfirmedSat: 1000}, {Backend: "esplora b", Hash: b2.Hash, ConfirmedSat: s.figure}}})
			if err != nil || opened != s.opened || (id != 0 && got != id) {
				t.Fatalf("id %d opened %v err %v; want opened %v, id %d", got, opened, err, s.opened, id)
			}
			id = got
			open, ok, err := st.OpenIncident(ctx)
			if err != nil || !ok || open.ID != id || len(open.Figures) != 2 || open.Figures[1].ConfirmedSat != s.figure ||
				open.Figures[0].Backend != "btcd a" || !open.OpenedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("open incident %+v, %v, %v", open, ok, err)
			}
		})
	}
	pub, _, _, _, _ = st.SyncState(ctx)
	if pub.Height != 1 {
		t.Errorf("an incident moved the published block to %d", pub.Height)
	}

	if err := st.PublishVerified(ctx, b2, Verification{Height: 2, Hash: b2.Hash, Sources: []string{"btcd a", "esplora b"}, CheckedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.OpenIncident(ctx); ok || err != nil {
		t.Errorf("incident still open after an agreement (%v)", err)
	}
	all, err := st.Incidents(ctx, 10)
	if err != nil || len(all) != 1 || !all[0].ResolvedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("incidents %+v, %v; want one resolved at the agreement", all, err)
	}
}
