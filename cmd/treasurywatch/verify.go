package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/web"
)

// openVerifier builds the backends after the first and the Verifier that
// fails over to them and cross-checks with them; it does nothing for a
// watchlist with one backend, whose syncs the Engine serves alone.
func (m *Main) openVerifier() error {
	wl := m.Watchlist
	if len(wl.Backends) < 2 {
		return nil
	}
	sources := []watcher.Source{{Backend: m.Backend, Name: wl.Backends[0].Redacted(), Kind: wl.Backends[0].Kind}}
	for _, cfg := range wl.Backends[1:] {
		b, err := newBackend(cfg, wl.Network.Params, m.Logger)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", wl.Path, cfg.Line, err)
		}
		m.others = append(m.others, b)
		sources = append(sources, watcher.Source{Backend: b, Name: cfg.Redacted(), Kind: cfg.Kind})
	}
	v, err := watcher.NewVerifier(wl, m.Store, sources, wl.Verify.Need(len(wl.Backends)), m.Logger)
	if err != nil {
		return err
	}
	m.Verifier = v
	return nil
}

// verifiedSync is `sync` over several backends: it says who served and
// what was checked, and fails (exit 1) when a disagreement held the
// figures back, so that a cron job notices.
func verifiedSync(ctx context.Context, v *watcher.Verifier, env *Env) error {
	out, err := v.Sync(ctx)
	if err != nil {
		return err
	}
	if n := out.Note(); n != "" {
		fmt.Fprintln(env.Stdout, n)
	}
	if out.Held() {
		return fmt.Errorf("figures held back, not published: %s", out.Incident.Summary)
	}
	fmt.Fprintf(env.Stdout, "synced to block %d %s (%s)\n", out.Tip.Height, out.Tip.Hash,
		out.Tip.Time.UTC().Format("2006-01-02T15:04:05Z"))
	if ver := out.Verified; ver != nil {
		fmt.Fprintf(env.Stdout, "checked against %d independent sources at block %d (%s)\n", len(ver.Sources), ver.Height, ver.Hash)
	}
	return nil
}

// verifyState is the daemon's side of a Verifier: the outcome of the sync
// in progress, for the report that follows it, and the metrics.
type verifyState struct {
	mu   sync.Mutex
	last *watcher.Outcome // of the last sync, nil before the first
	// holding is the incident holding figures back after the last
	// sync; notices are the incident openings and resolutions not yet
	// sent.
	holding *store.Incident
	notices []incidentNotice
	st      *store.Store // where resolved incidents are read back

	incidents prometheus.Counter
	held      prometheus.Gauge
	failovers prometheus.Counter
}

func newVerifyState(reg *prometheus.Registry, st *store.Store) *verifyState {
	v := &verifyState{st: st,
		incidents: prometheus.NewCounter(prometheus.CounterOpts{Name: "treasurywatch_verify_incidents_total",
			Help: "Disagreements between backends that held figures back (counted when they open)."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "treasurywatch_verify_held",
			Help: "1 while a disagreement between backends holds new figures back, else 0."}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "treasurywatch_failover_syncs_total",
			Help: "Syncs served by a backend other than the primary because it failed."}),
	}
	reg.MustRegister(v.incidents, v.held, v.failovers)
	return v
}

// sync runs one verified sync and keeps its outcome for annotate.
func (v *verifyState) sync(ctx context.Context, vf *watcher.Verifier) (watcher.Result, error) {
	out, err := vf.Sync(ctx)
	v.mu.Lock()
	v.last = &out
	v.mu.Unlock()
	if out.Failover != "" && out.ServedBy != "" {
		v.failovers.Inc()
	}
	if out.Opened {
		v.incidents.Inc()
		v.notices = append(v.notices, incidentNotice{inc: *out.Incident})
	}
	if err == nil {
		v.held.Set(0)
		if out.Held() {
			v.held.Set(1)
		}
		v.settle(ctx, out)
	}
	return out.Result, err
}

// incidentNotice is one incident to announce: opened, or resolved.
type incidentNotice struct {
	inc      store.Incident
	resolved bool
}

// settle notes which incident holds figures back after a successful sync;
// when none does any more, the one that did is resolved and announced.
func (v *verifyState) settle(ctx context.Context, out watcher.Outcome) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if out.Held() {
		inc := *out.Incident
		v.holding = &inc
		return
	}
	if v.holding == nil {
		return
	}
	inc := *v.holding
	v.holding = nil
	if recent, err := v.st.Incidents(ctx, 20); err == nil {
		for _, r := range recent {
			if r.ID == inc.ID {
				inc = r
			}
		}
	}
	v.notices = append(v.notices, incidentNotice{inc: inc, resolved: true})
}

// takeNotices returns the incident notices not yet sent.
func (v *verifyState) takeNotices() []incidentNotice {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.notices
	v.notices = nil
	return out
}

// annotate adds who served the last sync, and a hold, to its status.
func (v *verifyState) annotate(st *web.SyncStatus, outcome *string) {
	v.mu.Lock()
	out := v.last
	v.last = nil
	v.mu.Unlock()
	if out == nil {
		return
	}
	if out.ServedBy != "" {
		st.Backend = out.ServedBy
	}
	st.Failover = out.Note()
	if out.Held() && st.Error == "" {
		st.OK = false
		st.Error = fmt.Sprintf("figures held back because the sources disagree (incident %d, about %s)",
			out.Incident.ID, incidentSubject(out.Incident.Entity))
		*outcome = "held"
	}
}

// incidentSubject names what an incident is about, for one line.
func incidentSubject(entity string) string {
	if entity == "" {
		return "the chain itself"
	}
	return "the balance of " + entity
}
