package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
)

// Source is one configured backend, in watchlist order.
type Source struct {
	Backend Backend
	// Name describes it for logs and pages, without credentials
	// ("esplora http://host/api").
	Name string
	// Kind is the watchlist's kind ("btcd", "esplora", "electrum"); it
	// names the source's shadow ledger file.
	Kind string
}

// Verifier runs each sync against several backends: the first that
// answers (the primary, or on its failure the next in the watchlist)
// serves the sync into the published ledger; with a quorum above one, the
// others keep shadow ledgers of their own, and the new figures are
// published only when enough of them report the same balance for every
// entity at the same block. A disagreement is stored as an incident and
// the figures are held back until a later sync agrees again.
type Verifier struct {
	wl      *Watchlist
	main    *store.Store
	sources []Source
	need    int
	logger  *slog.Logger
	now     func() time.Time
	engines []*Engine // on the published ledger, one per source

	// ChunkSize is passed to every engine (see Engine.ChunkSize).
	ChunkSize int

	mu      sync.Mutex
	shadows map[int]*Engine // by source index, opened on first use
	checked map[int]bool    // sources whose network was checked
}

// NewVerifier returns a verifier over the published ledger main. need is
// how many sources, the serving one included, must agree (1: none is
// asked besides the serving one, which publishes as an Engine does).
func NewVerifier(wl *Watchlist, main *store.Store, sources []Source, need int, logger *slog.Logger) (*Verifier, error) {
	if len(sources) == 0 {
		return nil, errors.New("verify: no backend")
	}
	if need < 1 || need > len(sources) {
		return nil, fmt.Errorf("verify: %d sources must agree but %d are configured", need, len(sources))
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{wl: wl, main: main, sources: sources, need: need, logger: logger, now: time.Now,
		ChunkSize: 256, shadows: map[int]*Engine{}, checked: map[int]bool{}}
	for _, s := range sources {
		e := NewEngine(s.Backend, main, wl.Scripts(), logger)
		e.hold = need > 1
		v.engines = append(v.engines, e)
	}
	return v, nil
}

// Need returns how many sources must agree before figures are published.
func (v *Verifier) Need() int { return v.need }

// ShadowPath returns the file of source i's shadow ledger: next to the
// published one, named after the source's kind and place in the watchlist.
func (v *Verifier) ShadowPath(i int) string {
	return v.main.Path() + ".verify-" + v.sources[i].Kind + "-" + strconv.Itoa(i+1)
}

// Outcome is what one verified sync did.
type Outcome struct {
	Result
	// ServedBy names the source that synced the published ledger.
	ServedBy string
	// Failover says why earlier sources did not serve
	// ("btcd http://… failed: …"); empty when the primary served.
	Failover string
	// Verified is the agreement published, nil without cross-check or
	// when figures were held back.
	Verified *store.Verification
	// Incident is the disagreement holding figures back, nil if none;
	// Opened says whether this sync opened it.
	Incident *store.Incident
	Opened   bool
}

// Held reports whether the sync's figures were held back.
func (o Outcome) Held() bool { return o.Incident != nil }

// Note says in one line who served the sync, for pages and the CLI.
func (o Outcome) Note() string {
	if o.Failover == "" || o.ServedBy == "" {
		return ""
	}
	return "served by " + o.ServedBy + " because " + o.Failover
}

// Sync runs one sync: failover for serving, then the cross-check.
func (v *Verifier) Sync(ctx context.Context) (Outcome, error) {
	var out Outcome
	var failed []string
	serving := -1
	for i, s := range v.sources {
		e := v.engines[i]
		e.ChunkSize = v.ChunkSize
		res, err := v.syncSource(ctx, i, e)
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			v.logger.Warn("backend failed, trying the next", "backend", s.Name, "err", err)
			failed = append(failed, s.Name+" failed: "+err.Error())
			continue
		}
		serving, out.Result, out.ServedBy = i, res, s.Name
		break
	}
	out.Failover = strings.Join(failed, "; ")
	if serving < 0 {
		return out, fmt.Errorf("every backend failed: %s", out.Failover)
	}
	if v.need == 1 {
		return out, nil
	}
	return v.crossCheck(ctx, serving, out)
}

// syncSource checks source i's network once (a server of the wrong chain
// is refused on every attempt until it is fixed), then syncs e.
func (v *Verifier) syncSource(ctx context.Context, i int, e *Engine) (Result, error) {
	v.mu.Lock()
	checked := v.checked[i]
	v.mu.Unlock()
	if !checked {
		if err := v.sources[i].Backend.CheckNetwork(ctx, v.wl.Network.Params); err != nil {
			return Result{}, err
		}
		v.mu.Lock()
		v.checked[i] = true
		v.mu.Unlock()
	}
	return e.Sync(ctx)
}

// report is one source's ledger synced for a cross-check.
type report struct {
	name string
	tip  BlockRef
	src  Backend
	st   *store.Store
}

// crossCheck syncs shadow ledgers until enough sources answered, then
// compares every entity's confirmed balance at their common height.
func (v *Verifier) crossCheck(ctx context.Context, serving int, out Outcome) (Outcome, error) {
	reports := []report{{name: v.sources[serving].Name, tip: out.Tip, src: v.sources[serving].Backend, st: v.main}}
	var failed []string
	for i, s := range v.sources {
		if i == serving || len(reports) == v.need {
			continue
		}
		e, err := v.shadow(ctx, i)
		if err != nil {
			return out, err
		}
		res, err := v.syncSource(ctx, i, e)
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			v.logger.Warn("cross-check source failed", "backend", s.Name, "err", err)
			failed = append(failed, s.Name+": "+err.Error())
			continue
		}
		reports = append(reports, report{name: s.Name, tip: res.Tip, src: s.Backend, st: e.store})
	}
	if len(reports) < v.need {
		return out, fmt.Errorf("cross-check: %d of the %d sources that must agree answered, figures not published: %s",
			len(reports), v.need, strings.Join(failed, "; "))
	}
	height := reports[0].tip.Height
	for _, r := range reports[1:] {
		height = min(height, r.tip.Height)
	}
	blocks := make([]BlockRef, len(reports))
	for k, r := range reports {
		b := r.tip
		if b.Height != height {
			var err error
			if b, err = r.src.BlockAt(ctx, height); err != nil {
				return out, fmt.Errorf("cross-check: %s: block at %d: %w", r.name, height, err)
			}
		}
		blocks[k] = b
	}
	inc, err := v.compare(ctx, reports, blocks, height)
	if err != nil {
		return out, err
	}
	if inc != nil {
		return v.hold(ctx, out, reports, *inc)
	}
	ver := store.Verification{Height: height, Hash: blocks[0].Hash, CheckedAt: v.now()}
	for _, r := range reports {
		ver.Sources = append(ver.Sources, r.name)
	}
	if err := v.main.PublishVerified(ctx, storeBlock(blocks[0]), ver); err != nil {
		return out, err
	}
	v.logger.Info("figures cross-checked and published", "height", height, "hash", blocks[0].Hash.String(),
		"sources", len(reports))
	out.Verified = &ver
	return out, nil
}

// compare returns the first disagreement between the reports at height,
// or nil when every block hash and every entity balance agrees.
func (v *Verifier) compare(ctx context.Context, reports []report, blocks []BlockRef, height int64) (*store.Incident, error) {
	inc := &store.Incident{Height: height, SeenAt: v.now()}
	sums := make([][]int64, len(reports))
	for k, r := range reports {
		var err error
		if sums[k], err = entityBalances(ctx, r.st, v.wl, height); err != nil {
			return nil, fmt.Errorf("cross-check: %s: %w", r.name, err)
		}
	}
	for k := range reports[1:] {
		if blocks[k+1].Hash != blocks[0].Hash {
			var parts []string
			for k, r := range reports {
				parts = append(parts, fmt.Sprintf("%s has %s", r.name, blocks[k].Hash))
				inc.Figures = append(inc.Figures, store.IncidentFigure{Backend: r.name, Hash: blocks[k].Hash})
			}
			inc.Summary = fmt.Sprintf("the sources report different blocks at height %d: %s", height, strings.Join(parts, ", "))
			return inc, nil
		}
	}
	for ei, e := range v.wl.Entities {
		same := true
		for k := range reports[1:] {
			same = same && sums[k+1][ei] == sums[0][ei]
		}
		if same {
			continue
		}
		var parts []string
		for k, r := range reports {
			parts = append(parts, fmt.Sprintf("%s reports %s BTC", r.name, FormatBTC(sums[k][ei])))
			inc.Figures = append(inc.Figures, store.IncidentFigure{Backend: r.name, Hash: blocks[k].Hash, ConfirmedSat: sums[k][ei]})
		}
		inc.Entity = e.ID
		inc.Summary = fmt.Sprintf("the balance of %s at block %d (%s) differs between sources: %s",
			e.ID, height, blocks[0].Hash, strings.Join(parts, ", "))
		return inc, nil
	}
	return nil, nil
}

// hold stores the incident, logs it when it opens, and makes every ledger
// involved fetch its histories again next time.
func (v *Verifier) hold(ctx context.Context, out Outcome, reports []report, inc store.Incident) (Outcome, error) {
	id, opened, err := v.main.RecordIncident(ctx, inc)
	if err != nil {
		return out, err
	}
	inc.ID = id
	if opened {
		v.logger.Error("sources disagree: figures held back", "incident", id, "entity", inc.Entity,
			"height", inc.Height, "summary", inc.Summary)
	}
	for _, r := range reports {
		if err := r.st.ForgetStatuses(ctx); err != nil {
			return out, err
		}
	}
	out.Incident, out.Opened = &inc, opened
	return out, nil
}

// entityBalances sums each entity's confirmed balance at height from st,
// in watchlist order.
func entityBalances(ctx context.Context, st *store.Store, wl *Watchlist, height int64) ([]int64, error) {
	bal, err := st.Balances(ctx, height)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(wl.Entities))
	for i, e := range wl.Entities {
		for _, a := range e.Addresses {
			id, ok, err := st.ScriptID(ctx, a.Address.Script)
			if err != nil {
				return nil, err
			}
			if ok {
				out[i] += bal[id].Confirmed
			}
		}
	}
	return out, nil
}

// shadow returns the engine of source i's shadow ledger, opening it on
// first use.
func (v *Verifier) shadow(ctx context.Context, i int) (*Engine, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.shadows[i]; ok {
		e.ChunkSize = v.ChunkSize
		return e, nil
	}
	st, err := store.Open(ctx, v.ShadowPath(i))
	if err != nil {
		return nil, fmt.Errorf("cross-check ledger of %s: %w", v.sources[i].Name, err)
	}
	e := NewEngine(v.sources[i].Backend, st, v.wl.Scripts(), v.logger)
	e.ChunkSize = v.ChunkSize
	v.shadows[i] = e
	return e, nil
}

// Close closes the shadow ledgers; the backends and the published ledger
// belong to the caller.
func (v *Verifier) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var errs []error
	for i, e := range v.shadows {
		errs = append(errs, e.store.Close())
		delete(v.shadows, i)
	}
	return errors.Join(errs...)
}
