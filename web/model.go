package web

import (
	"sort"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// point is the balance after one block that touched an address or entity:
// the balance series is stated at these blocks and nowhere in between.
type point struct {
	Height  int64
	Hash    string
	Time    time.Time
	Balance int64
	Delta   int64
	Txs     int
}

// series is a balance history by block, oldest first, with what is needed
// to find the balance at a time. Block times are not strictly increasing
// on the chain (a block may be stamped before its parent), so "the last
// block at or before t" is the highest block with time <= t, found by
// binary search over the suffix minimum of the times.
type series struct {
	pts    []point
	sufMin []int64 // sufMin[i] = min(pts[i:].Time), unix seconds
}

// newSeries folds a history's transactions into one point per block.
func newSeries(txs []watcher.HistoryTx) series {
	s := series{pts: make([]point, 0, len(txs))}
	for _, t := range txs {
		if n := len(s.pts); n > 0 && s.pts[n-1].Height == t.Height {
			p := &s.pts[n-1]
			p.Balance, p.Delta, p.Txs = t.BalanceSat, p.Delta+t.DeltaSat, p.Txs+1
			continue
		}
		s.pts = append(s.pts, point{Height: t.Height, Hash: t.BlockHash, Time: t.Time.UTC(),
			Balance: t.BalanceSat, Delta: t.DeltaSat, Txs: 1})
	}
	s.sufMin = make([]int64, len(s.pts))
	for i := len(s.pts) - 1; i >= 0; i-- {
		s.sufMin[i] = s.pts[i].Time.Unix()
		if i+1 < len(s.pts) && s.sufMin[i+1] < s.sufMin[i] {
			s.sufMin[i] = s.sufMin[i+1]
		}
	}
	return s
}

// atTime returns the index of the highest block with time <= t, or -1.
func (s series) atTime(t time.Time) int {
	u := t.Unix()
	// sufMin is non-decreasing: the last index with sufMin <= u is the
	// highest block whose own time is <= u.
	return sort.Search(len(s.sufMin), func(i int) bool { return s.sufMin[i] > u }) - 1
}

// atHeight returns the index of the last point at or below height, or -1.
func (s series) atHeight(h int64) int {
	return sort.Search(len(s.pts), func(i int) bool { return s.pts[i].Height > h }) - 1
}

// balance returns the balance after point i; 0 before the first.
func (s series) balance(i int) int64 {
	if i < 0 {
		return 0
	}
	return s.pts[i].Balance
}

// entityData is an entity's history and what the pages and API derive
// from it, computed once per snapshot. txs holds every confirmed
// transaction with what the aggregates need (height, time, delta,
// balance, kind) but not its txid string, block hash or fee: those are
// read for the transactions shown (flows, last movement), and the whole
// history with them when an answer lists every transaction (history).
type entityData struct {
	ent    *watcher.Entity
	bal    *watcher.EntityBalance
	ids    []int64             // the store's script ids of the entity's addresses
	txs    []watcher.HistoryTx // oldest first; Txid, BlockHash and FeeSat unset
	txids  []chainhash.Hash    // txs' txids
	last   *watcher.HistoryTx  // the last transaction in full; nil when none
	series series              // points without block hashes
	months []month             // oldest first
	kinds  kindsOnce
	full   lazy[*fullHistory]
}

// fullHistory is an entity's history with every field, and its series
// with block hashes.
type fullHistory struct {
	txs    []watcher.HistoryTx
	series series
}

// kindsOnce builds kinds, by txid, when an address page first needs
// them: the entity's page and API never do.
type kindsOnce struct {
	once  sync.Once
	kinds map[string]watcher.Flow
}

// kindsByTxid returns each transaction's flow by txid.
func (d *entityData) kindsByTxid() map[string]watcher.Flow {
	d.kinds.once.Do(func() {
		d.kinds.kinds = make(map[string]watcher.Flow, len(d.txs))
		for i, t := range d.txs {
			d.kinds.kinds[d.txids[i].String()] = t.Kind
		}
	})
	return d.kinds.kinds
}

// addressData is one address's history.
type addressData struct {
	txs    []watcher.HistoryTx
	series series
}

// month sums an entity's flows in one calendar month (UTC), by kind.
type month struct {
	Month       string // "2006-01"
	InflowSat   int64  // received in inflows
	OutflowSat  int64  // left in outflows, fees included (positive)
	InternalFee int64  // fees paid by internal consolidations (positive)
	MixedNet    int64  // net of mixed transactions (signed)
	NetSat      int64
	Counts      [4]int // inflow, outflow, internal, mixed
	EndBalance  int64  // balance at the month's last block
}

// flowIndex orders the four flows for counts and columns.
var flowIndex = map[watcher.Flow]int{watcher.Inflow: 0, watcher.Outflow: 1, watcher.Internal: 2, watcher.Mixed: 3}

// allFlows lists the flows in the order of flowIndex.
var allFlows = []watcher.Flow{watcher.Inflow, watcher.Outflow, watcher.Internal, watcher.Mixed}

// newEntityData derives the series and months of txs, oldest first.
func newEntityData(ent *watcher.Entity, bal *watcher.EntityBalance, txs []watcher.HistoryTx) *entityData {
	d := &entityData{ent: ent, bal: bal, txs: txs, series: newSeries(txs)}
	byMonth := map[string]*month{}
	var m *month // the month of the previous transaction, usually this one's too
	var my, mm int
	for _, t := range txs {
		if y, mo, _ := t.Time.UTC().Date(); m == nil || y != my || int(mo) != mm {
			my, mm = y, int(mo)
			key := t.Time.UTC().Format("2006-01")
			if m = byMonth[key]; m == nil {
				m = &month{Month: key}
				byMonth[key] = m
			}
		}
		switch t.Kind {
		case watcher.Inflow:
			m.InflowSat += t.DeltaSat
		case watcher.Outflow:
			m.OutflowSat -= t.DeltaSat
		case watcher.Internal:
			m.InternalFee -= t.DeltaSat
		default:
			m.MixedNet += t.DeltaSat
		}
		m.NetSat += t.DeltaSat
		m.Counts[flowIndex[t.Kind]]++
	}
	for _, m := range byMonth {
		start, _ := time.Parse("2006-01", m.Month)
		m.EndBalance = d.series.balance(d.series.atTime(start.AddDate(0, 1, 0).Add(-time.Second)))
		d.months = append(d.months, *m)
	}
	sort.Slice(d.months, func(i, j int) bool { return d.months[i].Month < d.months[j].Month })
	return d
}

// period is one of the comparison windows of the overview.
type period struct {
	name string
	back func(time.Time) time.Time
}

// changePeriods are the overview's windows: 24 hours, 30 days, one year.
var changePeriods = []period{
	{"24h", func(t time.Time) time.Time { return t.Add(-24 * time.Hour) }},
	{"30d", func(t time.Time) time.Time { return t.AddDate(0, 0, -30) }},
	{"1y", func(t time.Time) time.Time { return t.AddDate(-1, 0, 0) }},
}

// lastMovement is the entity's last transaction, nil when it has none.
func (d *entityData) lastMovement() *watcher.HistoryTx { return d.last }

// dayPoint is the balance at the end of one UTC day, stated at the last
// block that changed it.
type dayPoint struct {
	Date  string
	At    point // the anchor block; Balance is the day's closing balance
	Delta int64
	Txs   int
}

// days returns one point per UTC day from the day of the first block (or
// from, if later) to the day of to, inclusive.
func (s series) days(from, to time.Time) []dayPoint {
	if len(s.pts) == 0 {
		return nil
	}
	first := s.pts[0].Time
	for _, p := range s.pts {
		if p.Time.Before(first) {
			first = p.Time
		}
	}
	if from.Before(first) {
		from = first
	}
	day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	txsByDay := map[string]int{}
	for _, p := range s.pts {
		txsByDay[p.Time.Format(time.DateOnly)] += p.Txs
	}
	var out []dayPoint
	prev := s.balance(s.atTime(day.Add(-time.Second)))
	for ; !day.After(to); day = day.AddDate(0, 0, 1) {
		i := s.atTime(day.AddDate(0, 0, 1).Add(-time.Second))
		dp := dayPoint{Date: day.Format(time.DateOnly), Txs: txsByDay[day.Format(time.DateOnly)]}
		if i >= 0 {
			dp.At = s.pts[i]
		}
		dp.At.Balance = s.balance(i)
		dp.Delta = dp.At.Balance - prev
		prev = dp.At.Balance
		out = append(out, dp)
	}
	return out
}

// inRange reports whether t is within [from, to]; zero bounds are open.
func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
}
