package report

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// ErrNotSynced is returned by Build when the closing block is above the
// last block the ledger has completely synced: the figures would be
// partial.
var ErrNotSynced = errors.New("closing block is above the last synced block")

// Build computes the report for spec from the published ledger in st: it
// reads only the store, never a backend, so that anyone holding the same
// ledger regenerates the same bytes. It fails when the closing block is
// not synced yet, when the blocks are out of order, or when a stored block
// at an anchor height has another hash (the chain was reorganised since
// the spec was made).
func Build(ctx context.Context, st *store.Store, wl *watcher.Watchlist, spec Spec, opt Options) (*Report, error) {
	r, err := build(ctx, st, wl, spec, opt)
	if err != nil {
		return nil, fmt.Errorf("report %q (%s to %s): %w", spec.Name, stamp(spec.From), stamp(spec.To), err)
	}
	return r, nil
}

func build(ctx context.Context, st *store.Store, wl *watcher.Watchlist, spec Spec, opt Options) (*Report, error) {
	entities, err := selectEntities(wl, spec.Entities)
	if err != nil {
		return nil, err
	}
	if err := checkSpec(ctx, st, spec); err != nil {
		return nil, err
	}
	opening, err := st.Balances(ctx, spec.FromBlock.Height)
	if err != nil {
		return nil, err
	}
	closing, err := st.Balances(ctx, spec.ToBlock.Height)
	if err != nil {
		return nil, err
	}
	d := Data{
		Version:   DataVersion,
		Report:    spec.Name,
		Network:   wl.Network.String(),
		Period:    period(spec.From, spec.To),
		Opening:   anchor(spec.FromBlock),
		Closing:   anchor(spec.ToBlock),
		Entities:  []Entity{},
		Movements: []Movement{},
	}
	for _, e := range entities {
		ent := Entity{ID: e.ID, Name: e.Name, Country: e.Country, Addresses: []Address{}}
		var ids []int64
		for _, a := range e.Addresses {
			ad := Address{Address: a.Address.Text, Label: a.Label}
			id, ok, err := st.ScriptID(ctx, a.Address.Script)
			if err != nil {
				return nil, err
			}
			if ok {
				ids = append(ids, id)
				ad.OpeningSat, ad.ClosingSat = opening[id].Confirmed, closing[id].Confirmed
				if err := addressFlows(ctx, st, id, spec, &ad); err != nil {
					return nil, err
				}
			}
			ent.OpeningSat += ad.OpeningSat
			ent.ClosingSat += ad.ClosingSat
			ent.Addresses = append(ent.Addresses, ad)
		}
		ent.ChangeSat = ent.ClosingSat - ent.OpeningSat
		moves, err := entityMovements(ctx, st, e.ID, ids, spec, &ent.Flows)
		if err != nil {
			return nil, err
		}
		d.Movements = append(d.Movements, moves...)
		d.Entities = append(d.Entities, ent)
		d.Totals.add(ent)
	}
	d.Totals.Movements = len(d.Movements)
	if opt.Currency != "" {
		if err := d.price(ctx, st, spec.To, opt); err != nil {
			return nil, err
		}
	}
	d.Methodology = methodology(d)
	return newReport(d)
}

// selectEntities returns the watchlist's entities named by ids, in the
// order ids gives them, or all of them in watchlist order.
func selectEntities(wl *watcher.Watchlist, ids []string) ([]watcher.Entity, error) {
	if len(ids) == 0 {
		return wl.Entities, nil
	}
	var out []watcher.Entity
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return nil, fmt.Errorf("entity %q is named twice", id)
		}
		found := false
		for _, e := range wl.Entities {
			if e.ID == id {
				out, found = append(out, e), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("entity %q: %w", id, watcher.ErrUnknown)
		}
	}
	return out, nil
}

// checkSpec refuses a spec the ledger cannot state: blocks out of order,
// a closing block not yet synced, an anchor the ledger knows under
// another hash.
func checkSpec(ctx context.Context, st *store.Store, spec Spec) error {
	if spec.To.Before(spec.From) {
		return fmt.Errorf("period ends (%s) before it starts (%s)", stamp(spec.To), stamp(spec.From))
	}
	if spec.ToBlock.Height < spec.FromBlock.Height {
		return fmt.Errorf("closing block %d is below opening block %d", spec.ToBlock.Height, spec.FromBlock.Height)
	}
	synced, _, _, ok, err := st.SyncState(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: no completed sync yet", ErrNotSynced)
	}
	if spec.ToBlock.Height > synced.Height {
		return fmt.Errorf("%w: closing block %d, ledger synced to %d", ErrNotSynced, spec.ToBlock.Height, synced.Height)
	}
	for _, a := range []struct {
		what  string
		b     store.Block
		until time.Time
	}{{"opening", spec.FromBlock, spec.From}, {"closing", spec.ToBlock, spec.To}} {
		if a.b.Time.After(a.until) {
			return fmt.Errorf("%s block %d (%s) is later than the instant it states (%s)", a.what, a.b.Height, stamp(a.b.Time), stamp(a.until))
		}
		stored, ok, err := st.BlockAtHeight(ctx, a.b.Height)
		if err != nil {
			return err
		}
		if ok && stored.Hash != a.b.Hash {
			return fmt.Errorf("%s block %d is %s in the ledger, not %s: the chain was reorganised", a.what, a.b.Height, stored.Hash, a.b.Hash)
		}
	}
	return nil
}

// addressFlows fills the gross amounts one address received and sent in
// the period.
func addressFlows(ctx context.Context, st *store.Store, id int64, spec Spec, ad *Address) error {
	rows, err := st.History(ctx, []int64{id}, spec.ToBlock.Height)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Height <= spec.FromBlock.Height {
			continue
		}
		ad.ReceivedSat += r.Received
		ad.SentSat += r.Spent
		ad.TxCount++
	}
	return nil
}

// entityMovements returns the entity's transactions in the period, each
// once with its flow, and adds them up into f.
func entityMovements(ctx context.Context, st *store.Store, entity string, ids []int64, spec Spec, f *Flows) ([]Movement, error) {
	rows, err := st.History(ctx, ids, spec.ToBlock.Height)
	if err != nil {
		return nil, err
	}
	var out []Movement
	for _, r := range rows {
		if r.Height <= spec.FromBlock.Height {
			continue
		}
		m := Movement{Entity: entity, Time: r.Time.UTC(), Height: r.Height, BlockHash: r.BlockHash.String(),
			Txid: r.Txid.String(), Kind: watcher.Classify(r.OwnIn, r.NIn, r.OwnOut, r.NOut), AmountSat: r.Received - r.Spent}
		var fee int64
		if r.OwnIn == r.NIn && !r.Coinbase {
			fee = r.Spent - r.OutTotal
			m.FeeSat = &fee
		}
		switch m.Kind {
		case watcher.Inflow:
			f.InflowSat += m.AmountSat
		case watcher.Outflow:
			f.OutflowSat += -m.AmountSat - fee
			f.FeesSat += fee
		case watcher.Internal:
			f.InternalSat += r.Received
			f.FeesSat += fee
		case watcher.Mixed:
			f.MixedNetSat += m.AmountSat
		}
		out = append(out, m)
	}
	return out, nil
}

func (t *Totals) add(e Entity) {
	t.OpeningSat += e.OpeningSat
	t.ClosingSat += e.ClosingSat
	t.ChangeSat += e.ChangeSat
	t.InflowSat += e.InflowSat
	t.OutflowSat += e.OutflowSat
	t.InternalSat += e.InternalSat
	t.FeesSat += e.FeesSat
	t.MixedNetSat += e.MixedNetSat
}

// price values the closing balances at the last stored price at or before
// the closing instant.
func (d *Data) price(ctx context.Context, st *store.Store, at time.Time, opt Options) error {
	p, ok, err := st.PriceAt(ctx, opt.Currency, at)
	if err != nil {
		return err
	}
	d.Price = &Price{Currency: opt.Currency, ConfiguredSource: opt.PriceSource}
	if !ok {
		return nil
	}
	pt, total := p.Time.UTC(), value(d.Totals.ClosingSat, p.Cents)
	d.Price.Available, d.Price.Time, d.Price.CentsPerBTC, d.Price.Source = true, &pt, &p.Cents, p.Source
	d.Price.ClosingCents = &total
	for i := range d.Entities {
		v := value(d.Entities[i].ClosingSat, p.Cents)
		d.Entities[i].ClosingCents = &v
	}
	return nil
}

// value is sat × cents/BTC in cents, rounded half away from zero, in big
// integers: the product of a large balance and a price overflows int64.
func value(sat, centsPerBTC int64) int64 {
	n := new(big.Int).Mul(big.NewInt(sat), big.NewInt(centsPerBTC))
	q, m := new(big.Int).QuoRem(n, big.NewInt(1e8), new(big.Int))
	if new(big.Int).Abs(m).Cmp(big.NewInt(5e7)) >= 0 {
		q.Add(q, big.NewInt(int64(n.Sign())))
	}
	return q.Int64()
}

func anchor(b store.Block) Anchor {
	return Anchor{Height: b.Height, Hash: b.Hash.String(), Time: b.Time.UTC()}
}

// period states the span in UTC and in the zone the instants carry (the
// schedule's CRON_TZ, when the scheduler passes instants in it).
func period(from, to time.Time) Period {
	loc := to.Location()
	p := Period{From: from.UTC(), To: to.UTC(), TimeZone: loc.String()}
	if loc == time.Local || p.TimeZone == "" || p.TimeZone == "Local" {
		p.TimeZone, loc = "UTC", time.UTC
	}
	p.FromLocal, p.ToLocal = from.In(loc).Format(time.RFC3339), to.In(loc).Format(time.RFC3339)
	return p
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
