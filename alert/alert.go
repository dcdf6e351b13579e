// Package alert tells subscribers the minute a watched entity moves coins.
// After each sync the Alerter reads the published ledger, finds the flows
// that match an [[alerts]] rule and are deep enough, and delivers each once
// per rule — once across restarts too, since every announcement is a store
// row written before it is sent and marked when every channel took it. A
// flow that a reorg takes back is retracted, with one message.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// The default retry policy is brief: the Alerter runs in the sync loop,
// and whatever is not delivered now is tried again at the next Check.
const (
	DefaultAttempts = 3
	DefaultInitial  = time.Second
	DefaultMax      = 10 * time.Second
)

// Config is what an Alerter is built from.
type Config struct {
	Watchlist *watcher.Watchlist
	Store     *store.Store
	// Targets are the delivery channels by name ("webhook", "email");
	// every channel a rule names must be here.
	Targets map[string]deliver.Target
	// Policy is the retry policy of one Check; zero means DefaultAttempts
	// tries, DefaultInitial growing to DefaultMax between them.
	Policy deliver.Policy
	Logger *slog.Logger
	// Now is the clock of the stored times; nil means time.Now.
	Now func() time.Time
}

// Alerter checks the ledger against the watchlist's alert rules. Check is
// not safe for concurrent use: the daemon calls it from its sync loop.
type Alerter struct {
	wl      *watcher.Watchlist
	st      *store.Store
	ledger  *watcher.Ledger
	targets map[string]deliver.Target
	policy  deliver.Policy
	logger  *slog.Logger
	now     func() time.Time
}

// New returns an Alerter, or an error naming a rule channel without a
// target.
func New(cfg Config) (*Alerter, error) {
	if cfg.Watchlist == nil || cfg.Store == nil {
		return nil, errors.New("alert: watchlist and store are required")
	}
	for i, r := range cfg.Watchlist.Alerts {
		for _, ch := range cfg.Watchlist.AlertChannels(r) {
			if cfg.Targets[ch] == nil {
				return nil, fmt.Errorf("alert: rule %d (line %d): no %s target configured", i+1, r.Line, ch)
			}
		}
	}
	a := &Alerter{wl: cfg.Watchlist, st: cfg.Store, ledger: watcher.NewLedger(cfg.Store, cfg.Watchlist),
		targets: cfg.Targets, policy: cfg.Policy, logger: cfg.Logger, now: cfg.Now}
	if a.policy == (deliver.Policy{}) {
		a.policy = deliver.Policy{Attempts: DefaultAttempts, Initial: DefaultInitial, Max: DefaultMax}
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Summary counts what one Check did.
type Summary struct {
	Sent      int // alerts every channel took
	Retracted int // retractions every channel took
	Failed    int // messages some channel did not take (tried again next Check)
}

// flowKey identifies a flow of an entity.
type flowKey struct {
	entity string
	txid   string
}

// Check announces new matching flows and retracts announced ones the chain
// took back, as of the last published sync. Before the first sync it does
// nothing. A delivery failure does not stop the others; the error joins
// them, and the undelivered messages are tried again by the next Check.
func (a *Alerter) Check(ctx context.Context) (Summary, error) {
	var sum Summary
	if len(a.wl.Alerts) == 0 {
		return sum, nil
	}
	histories := map[string]*watcher.History{}
	history := func(id string) (*watcher.History, error) {
		if h, ok := histories[id]; ok {
			return h, nil
		}
		h, err := a.ledger.EntityHistory(ctx, id)
		if err != nil {
			return nil, err
		}
		histories[id] = h
		return h, nil
	}
	var errs []error
	for i, rule := range a.wl.Alerts {
		if err := a.checkRule(ctx, rule, history, &sum); err != nil {
			if errors.Is(err, watcher.ErrNotSynced) {
				return sum, nil
			}
			errs = append(errs, fmt.Errorf("alert rule %d (line %d): %w", i+1, rule.Line, err))
		}
	}
	return sum, errors.Join(errs...)
}

// checkRule settles one rule: its standing alerts first (retrying and
// retracting), then the flows it has not announced yet.
func (a *Alerter) checkRule(ctx context.Context, rule watcher.AlertConfig, history func(string) (*watcher.History, error), sum *Summary) error {
	entities := a.wl.Entities
	if rule.Entity != "" {
		entities = slices.DeleteFunc(slices.Clone(entities), func(e watcher.Entity) bool { return e.ID != rule.Entity })
	}
	if len(entities) == 0 {
		return nil
	}
	// The tip the rule starts at; flows already deep enough then are
	// history, not news.
	first, err := history(entities[0].ID)
	if err != nil {
		return err
	}
	key := rule.Key()
	since, err := a.st.AlertRuleSince(ctx, key, first.AsOf.Height, a.now())
	if err != nil {
		return err
	}
	confs := rule.Confs()
	// flows in the ledger, by entity and txid, and those the rule announces
	inLedger := map[flowKey]flow{}
	var due []flow
	for _, e := range entities {
		h, err := history(e.ID)
		if err != nil {
			return err
		}
		for _, tx := range h.Txs {
			f := flow{entity: e, tx: tx, asOf: *h.AsOf}
			inLedger[flowKey{e.ID, tx.Txid}] = f
			depth := h.AsOf.Height - tx.Height + 1
			if rule.Matches(e.ID, tx.Kind, tx.DeltaSat) && depth >= confs && tx.Height > since-confs+1 {
				due = append(due, f)
			}
		}
	}
	standing, err := a.st.StandingAlerts(ctx, key)
	if err != nil {
		return err
	}
	var errs []error
	busy := map[flowKey]bool{}
	for _, row := range standing {
		k := flowKey{row.Entity, row.Txid.String()}
		f, ok := inLedger[k]
		stands := ok && f.tx.BlockHash == row.BlockHash.String()
		if err := a.settle(ctx, rule, row, *first.AsOf, stands, sum); err != nil {
			errs = append(errs, err)
		}
		busy[k] = true
	}
	for _, f := range due {
		k := flowKey{f.entity.ID, f.tx.Txid}
		if busy[k] && !a.retracted(ctx, key, k) {
			continue
		}
		if err := a.announce(ctx, rule, key, f, sum); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retracted reports whether the rule's alert of k is settled as retracted
// by now (so the flow, confirmed again, may be announced anew).
func (a *Alerter) retracted(ctx context.Context, rule string, k flowKey) bool {
	rows, err := a.st.StandingAlerts(ctx, rule)
	if err != nil {
		return false
	}
	for _, r := range rows {
		if r.Entity == k.entity && r.Txid.String() == k.txid {
			return false
		}
	}
	return true
}

// settle moves one standing alert on: delivers what is pending, retracts
// what the chain took back.
func (a *Alerter) settle(ctx context.Context, rule watcher.AlertConfig, row store.Alert, asOf watcher.AsOf, stands bool, sum *Summary) error {
	switch {
	case row.State == store.AlertSent && stands:
		return nil
	case row.State == store.AlertPending && stands:
		return a.send(ctx, rule, row, asOf, sum)
	case row.State == store.AlertPending && len(row.Delivered) == 0:
		// Nobody was told; nothing to take back.
		a.logger.Info("alert dropped before delivery", "entity", row.Entity, "txid", row.Txid.String(), "id", row.ID)
		return a.st.DeleteAlert(ctx, row.ID)
	case row.State == store.AlertPending, row.State == store.AlertSent:
		if row.SentAt.IsZero() {
			row.SentAt = a.now()
		}
		row.State, row.Delivered = store.AlertRetracting, nil
		if err := a.st.UpdateAlert(ctx, row); err != nil {
			return err
		}
	}
	return a.send(ctx, rule, row, asOf, sum)
}

// announce records a new alert as pending, then delivers it.
func (a *Alerter) announce(ctx context.Context, rule watcher.AlertConfig, key string, f flow, sum *Summary) error {
	txid, err := chainhash.NewHashFromStr(f.tx.Txid)
	if err != nil {
		return err
	}
	hash, err := chainhash.NewHashFromStr(f.tx.BlockHash)
	if err != nil {
		return err
	}
	row := store.Alert{Rule: key, Entity: f.entity.ID, Txid: *txid, Kind: string(f.tx.Kind), Amount: f.tx.DeltaSat,
		Fee: f.tx.FeeSat, Height: f.tx.Height, BlockHash: *hash, BlockTime: f.tx.Time, State: store.AlertPending,
		CreatedAt: a.now()}
	if row.ID, err = a.st.AddAlert(ctx, row); err != nil {
		return err
	}
	return a.send(ctx, rule, row, f.asOf, sum)
}

// send delivers the message of row's state to every channel that has not
// taken it yet, storing progress after each, and settles the state when
// all did.
func (a *Alerter) send(ctx context.Context, rule watcher.AlertConfig, row store.Alert, asOf watcher.AsOf, sum *Summary) error {
	msg, err := a.message(rule, row, asOf)
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range a.wl.AlertChannels(rule) {
		if row.DeliveredTo(ch) {
			continue
		}
		err := deliver.Deliver(ctx, a.targets[ch], msg, a.policy, func(deliver.Attempt) { row.Attempts++ })
		if err != nil {
			row.LastError = err.Error()
			errs = append(errs, err)
		} else {
			row.Delivered = append(row.Delivered, ch)
		}
		if uerr := a.st.UpdateAlert(ctx, row); uerr != nil {
			return errors.Join(append(errs, uerr)...)
		}
	}
	if len(errs) > 0 {
		sum.Failed++
		return errors.Join(errs...)
	}
	now := a.now()
	switch row.State {
	case store.AlertPending:
		row.State, row.SentAt = store.AlertSent, now
		sum.Sent++
	case store.AlertRetracting:
		row.State, row.RetractedAt = store.AlertRetracted, now
		sum.Retracted++
	}
	row.Delivered, row.LastError = nil, ""
	if err := a.st.UpdateAlert(ctx, row); err != nil {
		return err
	}
	a.logger.Info("alert delivered", "kind", msg.Kind, "id", msg.ID, "entity", row.Entity, "txid", row.Txid.String(),
		"height", row.Height, "amount_sat", row.Amount)
	return nil
}
