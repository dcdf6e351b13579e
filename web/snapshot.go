package web

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// errMoved means a sync published a new ledger while an answer was being
// put together from the previous one: the answer is started again, so it
// never mixes two blocks.
var errMoved = errors.New("ledger moved during the request")

// snapshot is the ledger as of one published sync: the balances, and the
// histories loaded on first use. Everything an answer shows comes from
// one snapshot, so every figure in it is stated at the same block.
type snapshot struct {
	// tag identifies the published sync (generation, time, block); it
	// starts every cache key and ETag.
	tag      string
	gen      int64
	asOf     watcher.AsOf
	syncedAt time.Time
	bal      *watcher.Balances
	entities map[string]*watcher.EntityBalance
	addrs    map[string]*watcher.AddressBalance
	activity map[string]watcher.AsOf
	total    int64
	// price is the latest stored BTC price when the snapshot was built;
	// nil when none is configured or stored.
	price *store.Price

	mu       sync.Mutex
	hist     map[string]*lazy[*entityData]
	addrHist map[string]*lazy[*addressData]
	since    map[int64]*lazy[*watcher.AsOf]
}

// lazy is a value computed on first use. A failure is not kept (it may be
// one client's cancelled request): the next caller tries again.
type lazy[T any] struct {
	mu   sync.Mutex
	done bool
	v    T
}

func (l *lazy[T]) get(f func() (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		v, err := f()
		if err != nil {
			return v, err
		}
		l.v, l.done = v, true
	}
	return l.v, nil
}

// lazyIn returns m[k], creating it under mu.
func lazyIn[K comparable, T any](mu *sync.Mutex, m map[K]*lazy[T], k K) *lazy[T] {
	mu.Lock()
	defer mu.Unlock()
	l, ok := m[k]
	if !ok {
		l = &lazy[T]{}
		m[k] = l
	}
	return l
}

// current returns the snapshot of the last published sync, building it
// when a sync published since the last request. It costs one small query
// when nothing changed, and none within RecheckAfter of the last check.
func (s *Server) current(ctx context.Context) (*snapshot, error) {
	if s.cfg.RecheckAfter > 0 {
		s.mu.Lock()
		if snap := s.snap; snap != nil && !s.checkedAt.IsZero() && time.Since(s.checkedAt) < s.cfg.RecheckAfter {
			s.mu.Unlock()
			return snap, nil
		}
		s.mu.Unlock()
	}
	checked := time.Now()
	b, syncedAt, gen, ok, err := s.st.SyncState(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, watcher.ErrNotSynced
	}
	tag := fmt.Sprintf("%d.%d.%d.%s", gen, syncedAt.Unix(), b.Height, b.Hash.String()[:16])
	pr := s.latestPrice(ctx)
	if pr != nil {
		// A new price, current or historical (flows are valued at their
		// day's), is a new snapshot, so no cached answer shows the old.
		tag += fmt.Sprintf(".p%d.%d", pr.Time.Unix(), pr.FetchedAt.Unix())
		if pv, err := s.st.PriceVersion(ctx, s.cfg.PriceCurrency); err == nil {
			tag += "." + pv
		}
	}
	s.mu.Lock()
	if s.snap != nil && s.snap.tag == tag {
		snap := s.snap
		s.checkedAt = checked
		s.mu.Unlock()
		return snap, nil
	}
	s.mu.Unlock()

	bal, activity, err := s.balances(ctx, watcher.AsOf{Height: b.Height, Hash: b.Hash.String(), Time: b.Time})
	if err != nil {
		return nil, err
	}
	if nb, _, _, _, err := s.st.SyncState(ctx); err != nil {
		return nil, err
	} else if nb.Height != b.Height || nb.Hash != b.Hash {
		return nil, errMoved
	}
	snap := &snapshot{tag: tag, gen: gen, asOf: bal.AsOf, syncedAt: syncedAt, bal: bal,
		entities: map[string]*watcher.EntityBalance{}, addrs: map[string]*watcher.AddressBalance{},
		activity: activity, price: pr, hist: map[string]*lazy[*entityData]{}, addrHist: map[string]*lazy[*addressData]{},
		since: map[int64]*lazy[*watcher.AsOf]{}}
	for i := range bal.Entities {
		e := &bal.Entities[i]
		snap.entities[e.ID] = e
		snap.total += e.ConfirmedSat
		for j := range e.Addresses {
			snap.addrs[e.Addresses[j].Address] = &e.Addresses[j]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil || s.snap.tag != tag {
		s.snap = snap
		s.clearCacheLocked()
	}
	s.checkedAt = checked
	return s.snap, nil
}

// forget drops snap if it is still the current one (its ledger moved).
func (s *Server) forget(snap *snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == snap {
		s.snap = nil
		s.checkedAt = time.Time{}
		s.clearCacheLocked()
	}
}

// sameBlock reports whether a history was read at the snapshot's block;
// otherwise a sync published meanwhile and the answer starts again.
func (snap *snapshot) sameBlock(as *watcher.AsOf) bool {
	return as != nil && as.Height == snap.asOf.Height && as.Hash == snap.asOf.Hash
}

// entity returns an entity's history and what is derived from it, loaded
// once per snapshot.
func (s *Server) entity(ctx context.Context, snap *snapshot, id string) (*entityData, error) {
	return lazyIn(&snap.mu, snap.hist, id).get(func() (*entityData, error) {
		i, ok := s.entityIdx[id]
		if !ok {
			return nil, fmt.Errorf("entity %q: %w", id, watcher.ErrUnknown)
		}
		return s.loadEntity(ctx, snap, &s.wl.Entities[i])
	})
}

// address returns an address's history, loaded once per snapshot.
func (s *Server) address(ctx context.Context, snap *snapshot, addr string) (*addressData, error) {
	return lazyIn(&snap.mu, snap.addrHist, addr).get(func() (*addressData, error) {
		h, err := s.ledger.AddressHistory(ctx, addr)
		if err != nil {
			return nil, err
		}
		if !snap.sameBlock(h.AsOf) {
			return nil, errMoved
		}
		return &addressData{txs: h.Txs, series: newSeries(h.Txs)}, nil
	})
}

// sinceBlock returns the last block known to the ledger at or before t
// (nil when none), shared by every entity's "change since" figure.
func (s *Server) sinceBlock(ctx context.Context, snap *snapshot, t time.Time) (*watcher.AsOf, error) {
	return lazyIn(&snap.mu, snap.since, t.Unix()).get(func() (*watcher.AsOf, error) {
		return s.ledger.BlockAtOrBefore(ctx, snap.asOf, t)
	})
}
