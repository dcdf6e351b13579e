package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
)

// ErrNotSynced is returned by readers before the first completed sync:
// there is no block to state a figure at.
var ErrNotSynced = errors.New("no completed sync yet: run `treasurywatch sync` first")

// ErrUnknown is returned for an address or entity the watchlist does not name.
var ErrUnknown = errors.New("not in the watchlist")

// AsOf is the block every figure of an answer is stated at.
type AsOf struct {
	Height int64     `json:"height"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
}

// Balances is the CLI's and the API's balance sheet.
type Balances struct {
	Network  string          `json:"network"`
	AsOf     AsOf            `json:"as_of"`
	Entities []EntityBalance `json:"entities"`
}

// EntityBalance is one entity's holdings, summed over its addresses.
type EntityBalance struct {
	ID             string           `json:"id"`
	Name           string           `json:"name"`
	ConfirmedSat   int64            `json:"confirmed_sat"`
	UnconfirmedSat int64            `json:"unconfirmed_sat"`
	Addresses      []AddressBalance `json:"addresses"`
}

// AddressBalance is one address's holdings.
type AddressBalance struct {
	Address        string `json:"address"`
	Label          string `json:"label"`
	ConfirmedSat   int64  `json:"confirmed_sat"`
	UnconfirmedSat int64  `json:"unconfirmed_sat"`
	TxCount        int64  `json:"tx_count"`
}

// History is the confirmed history of an address or an entity.
type History struct {
	Address string      `json:"address,omitempty"`
	Entity  string      `json:"entity"`
	AsOf    *AsOf       `json:"-"`
	Txs     []HistoryTx `json:"txs"`
}

// HistoryTx is one confirmed transaction and the balance after it.
type HistoryTx struct {
	Txid       string    `json:"txid"`
	Height     int64     `json:"height"`
	BlockHash  string    `json:"block_hash"`
	Time       time.Time `json:"time"`
	Kind       Flow      `json:"kind,omitempty"`
	DeltaSat   int64     `json:"delta_sat"`
	BalanceSat int64     `json:"balance_sat"`
	// FeeSat is the fee when every input is the entity's (so it is known
	// without foreign prevouts); omitted otherwise.
	FeeSat *int64 `json:"fee_sat,omitempty"`
}

// Ledger answers questions about the stored ledger in the watchlist's
// terms. It reads only the store: no backend call is ever made.
type Ledger struct {
	store *store.Store
	wl    *Watchlist
}

// NewLedger returns the read side for wl over st.
func NewLedger(st *store.Store, wl *Watchlist) *Ledger { return &Ledger{store: st, wl: wl} }

// asOf returns the last published block.
func (l *Ledger) asOf(ctx context.Context) (AsOf, error) {
	b, _, _, ok, err := l.store.SyncState(ctx)
	if err != nil {
		return AsOf{}, err
	}
	if !ok {
		return AsOf{}, ErrNotSynced
	}
	return AsOf{Height: b.Height, Hash: b.Hash.String(), Time: b.Time}, nil
}

// Balances returns every entity's and address's balance at the last
// published block, in watchlist order.
func (l *Ledger) Balances(ctx context.Context) (*Balances, error) {
	as, err := l.asOf(ctx)
	if err != nil {
		return nil, err
	}
	bal, err := l.store.Balances(ctx, as.Height)
	if err != nil {
		return nil, err
	}
	out := &Balances{Network: l.wl.Network.String(), AsOf: as, Entities: []EntityBalance{}}
	for _, e := range l.wl.Entities {
		eb := EntityBalance{ID: e.ID, Name: e.Name, Addresses: []AddressBalance{}}
		for _, a := range e.Addresses {
			ab := AddressBalance{Address: a.Address.Text, Label: a.Label}
			id, ok, err := l.store.ScriptID(ctx, a.Address.Script)
			if err != nil {
				return nil, err
			}
			if ok {
				b := bal[id]
				ab.ConfirmedSat, ab.UnconfirmedSat, ab.TxCount = b.Confirmed, b.Unconfirmed, b.TxCount
			}
			eb.ConfirmedSat += ab.ConfirmedSat
			eb.UnconfirmedSat += ab.UnconfirmedSat
			eb.Addresses = append(eb.Addresses, ab)
		}
		out.Entities = append(out.Entities, eb)
	}
	return out, nil
}

// AddressHistory returns the confirmed history of one watched address.
func (l *Ledger) AddressHistory(ctx context.Context, addr string) (*History, error) {
	for _, e := range l.wl.Entities {
		for _, a := range e.Addresses {
			if a.Address.Text == addr {
				h, err := l.history(ctx, []Script{a.Address.Script}, false)
				if err != nil {
					return nil, err
				}
				h.Address, h.Entity = a.Address.Text, e.ID
				return h, nil
			}
		}
	}
	return nil, fmt.Errorf("address %q: %w", addr, ErrUnknown)
}

// EntityHistory returns the confirmed history of an entity: each
// transaction once, with the entity's delta and its flow.
func (l *Ledger) EntityHistory(ctx context.Context, id string) (*History, error) {
	for _, e := range l.wl.Entities {
		if e.ID != id {
			continue
		}
		scripts := make([]Script, len(e.Addresses))
		for i, a := range e.Addresses {
			scripts[i] = a.Address.Script
		}
		h, err := l.history(ctx, scripts, true)
		if err != nil {
			return nil, err
		}
		h.Entity = e.ID
		return h, nil
	}
	return nil, fmt.Errorf("entity %q: %w", id, ErrUnknown)
}

func (l *Ledger) history(ctx context.Context, scripts []Script, flows bool) (*History, error) {
	as, err := l.asOf(ctx)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, s := range scripts {
		id, ok, err := l.store.ScriptID(ctx, s)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
		}
	}
	rows, err := l.store.History(ctx, ids, as.Height)
	if err != nil {
		return nil, err
	}
	h := &History{AsOf: &as, Txs: make([]HistoryTx, 0, len(rows))}
	var bal int64
	for _, r := range rows {
		delta := r.Received - r.Spent
		bal += delta
		t := HistoryTx{Txid: r.Txid.String(), Height: r.Height, BlockHash: r.BlockHash.String(), Time: r.Time,
			DeltaSat: delta, BalanceSat: bal}
		if flows {
			t.Kind = Classify(r.OwnIn, r.NIn, r.OwnOut, r.NOut)
			if r.OwnIn == r.NIn && !r.Coinbase {
				fee := r.Spent - r.OutTotal
				t.FeeSat = &fee
			}
		}
		h.Txs = append(h.Txs, t)
	}
	return h, nil
}
