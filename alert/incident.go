package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// KindIncident is the Kind of a message saying that backends disagree
// (and figures are held back) or agree again.
const KindIncident = "incident"

// IncidentPayload is the webhook body of an incident notice.
type IncidentPayload struct {
	ID       string           `json:"id"`
	Type     string           `json:"type"`  // always "incident" (the X-Treasurywatch-Kind header too)
	State    string           `json:"state"` // "opened" or "resolved"
	Incident int64            `json:"incident"`
	Entity   string           `json:"entity,omitempty"` // empty: the backends' blocks differ
	Height   int64            `json:"height"`
	Summary  string           `json:"summary"`
	OpenedAt time.Time        `json:"opened_at"`
	Resolved *time.Time       `json:"resolved_at,omitempty"`
	Figures  []incidentFigure `json:"figures"`
}

type incidentFigure struct {
	Backend      string `json:"backend"`
	BlockHash    string `json:"block_hash"`
	ConfirmedSat int64  `json:"confirmed_sat"`
}

// Incident tells every channel the alert rules use that the backends
// disagree and new figures are held back (resolved false), or that they
// agree again and the held figures are published (resolved true). A
// newsroom must learn of a dispute as fast as of a movement: either could
// be the story. The message id is stable ("incident/<id>/opened|resolved")
// so receivers can drop a repeat.
func (a *Alerter) Incident(ctx context.Context, inc store.Incident, resolved bool) error {
	state := "opened"
	if resolved {
		state = "resolved"
	}
	p := IncidentPayload{ID: fmt.Sprintf("incident/%d/%s", inc.ID, state), Type: KindIncident, State: state,
		Incident: inc.ID, Entity: inc.Entity, Height: inc.Height, Summary: inc.Summary, OpenedAt: inc.OpenedAt.UTC()}
	if resolved && !inc.ResolvedAt.IsZero() {
		at := inc.ResolvedAt.UTC()
		p.Resolved = &at
	}
	for _, f := range inc.Figures {
		p.Figures = append(p.Figures, incidentFigure{Backend: f.Backend, BlockHash: f.Hash.String(), ConfirmedSat: f.ConfirmedSat})
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	msg := deliver.Message{Kind: KindIncident, ID: p.ID, Subject: incidentSubject(a.wl, p), Text: incidentText(a.wl, p), JSON: body}
	var names []string
	for name := range a.targets {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := deliver.Deliver(ctx, a.targets[name], msg, a.policy, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		a.logger.Info("incident notice delivered", "id", p.ID, "height", p.Height, "entity", p.Entity)
	}
	return errors.Join(errs...)
}

// entityName is an entity's display name, or its id when unknown.
func entityName(wl *watcher.Watchlist, id string) string {
	for _, e := range wl.Entities {
		if e.ID == id {
			return e.Name
		}
	}
	return id
}

func incidentSubject(wl *watcher.Watchlist, p IncidentPayload) string {
	about := "the chain"
	if p.Entity != "" {
		about = entityName(wl, p.Entity)
	}
	if p.State == "resolved" {
		return fmt.Sprintf("[treasurywatch] Sources agree again on %s: figures published", about)
	}
	return fmt.Sprintf("[treasurywatch] Sources disagree on %s at block %d: figures held back", about, p.Height)
}

func incidentText(wl *watcher.Watchlist, p IncidentPayload) string {
	var b strings.Builder
	if p.State == "resolved" {
		fmt.Fprintf(&b, "Incident %d is resolved: the backends agree again and the figures held back are published.\n\n", p.Incident)
	} else {
		fmt.Fprintf(&b, "Incident %d: the backends disagree, so figures newer than the last agreed block are held back.\n\n", p.Incident)
	}
	fmt.Fprintf(&b, "%s\n\n", p.Summary)
	if p.Entity != "" {
		fmt.Fprintf(&b, "Entity:  %s (%s)\n", entityName(wl, p.Entity), p.Entity)
	}
	fmt.Fprintf(&b, "Height:  %d\nOpened:  %s\n", p.Height, p.OpenedAt.Format(time.RFC3339))
	if p.Resolved != nil {
		fmt.Fprintf(&b, "Resolved: %s\n", p.Resolved.Format(time.RFC3339))
	}
	for _, f := range p.Figures {
		fmt.Fprintf(&b, "  %s: %s BTC at block %s\n", f.Backend, watcher.FormatBTC(f.ConfirmedSat), f.BlockHash)
	}
	return b.String()
}
