package web

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/store"
)

// verificationJSON says that the published figures were cross-checked:
// Sources independent backends reported the same balance for every entity
// at the block height/hash. Null when the watchlist asks for no
// cross-check (verify = 1) or the published block was not checked.
type verificationJSON struct {
	Sources   int       `json:"sources"`
	Backends  []string  `json:"backends"`
	Height    int64     `json:"height"`
	Hash      string    `json:"hash"`
	CheckedAt time.Time `json:"checked_at"`
}

// incidentJSON is a disagreement between backends that holds newer
// figures back: the answer keeps showing the last block they agreed on.
type incidentJSON struct {
	ID         int64                `json:"id"`
	OpenedAt   time.Time            `json:"opened_at"`
	LastSeenAt time.Time            `json:"last_seen_at"`
	Height     int64                `json:"height"`
	Entity     string               `json:"entity"`
	Summary    string               `json:"summary"`
	Figures    []incidentFigureJSON `json:"figures"`
}

type incidentFigureJSON struct {
	Backend      string `json:"backend"`
	Hash         string `json:"hash"`
	ConfirmedSat int64  `json:"confirmed_sat"`
}

// verifyView is what the pages show of cross-checks and failover.
type verifyView struct {
	Verification *verificationJSON
	Incident     *incidentJSON
	// Failover is the last sync's note when a backend other than the
	// primary served it.
	Failover string
}

// verifyInfo reads the verification of the snapshot's block and the
// incident holding figures back, if any.
func (s *Server) verifyInfo(ctx context.Context, v *view) (verifyView, error) {
	var out verifyView
	if v == nil {
		return out, nil
	}
	if v.hasStatus {
		out.Failover = v.status.Failover
	}
	if v.snap == nil {
		return out, nil
	}
	hash, err := chainhash.NewHashFromStr(v.snap.asOf.Hash)
	if err != nil {
		return out, err
	}
	ver, ok, err := s.st.VerificationAt(ctx, v.snap.asOf.Height, *hash)
	if err != nil {
		return out, err
	}
	if ok {
		out.Verification = &verificationJSON{Sources: len(ver.Sources), Backends: redactAll(ver.Sources),
			Height: ver.Height, Hash: ver.Hash.String(), CheckedAt: ver.CheckedAt}
	}
	inc, ok, err := s.st.OpenIncident(ctx)
	if err != nil {
		return out, err
	}
	if ok {
		out.Incident = incidentOf(inc)
	}
	return out, nil
}

func incidentOf(in store.Incident) *incidentJSON {
	out := &incidentJSON{ID: in.ID, OpenedAt: in.OpenedAt, LastSeenAt: in.SeenAt, Height: in.Height, Entity: in.Entity,
		Summary: redact(in.Summary, 1000), Figures: []incidentFigureJSON{}}
	for _, f := range in.Figures {
		out.Figures = append(out.Figures, incidentFigureJSON{Backend: redact(f.Backend, 200), Hash: f.Hash.String(),
			ConfirmedSat: f.ConfirmedSat})
	}
	return out
}

func redactAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = redact(n, 200)
	}
	return out
}
