package main

import (
	"context"

	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// newAlerter builds the daemon's alerter from the watchlist's [[alerts]]
// rules, or returns nil when there are none. A missing secret stops the
// daemon at start, not at the first movement.
func newAlerter(m *Main) (*alert.Alerter, error) {
	wl := m.Watchlist
	if len(wl.Alerts) == 0 {
		return nil, nil
	}
	targets, err := alert.Targets(wl, "treasurywatch/"+Version, nil)
	if err != nil {
		return nil, err
	}
	return alert.New(alert.Config{Watchlist: wl, Store: m.Store, Targets: targets, Logger: m.Logger})
}

// syncAndAlert syncs, then, after a successful sync, announces the
// movements the new blocks brought. An undelivered alert does not fail the
// sync: it is logged and tried again after the next one.
func (d *daemon) syncAndAlert(ctx context.Context) (watcher.Result, error) {
	res, err := d.sync(ctx)
	if d.alerts != nil {
		// A dispute between backends is news whether or not the sync
		// published anything.
		for _, n := range d.verify.takeNotices() {
			if nerr := d.alerts.Incident(ctx, n.inc, n.resolved); nerr != nil {
				d.m.Logger.Warn("incident notice not delivered", "incident", n.inc.ID, "resolved", n.resolved, "err", nerr)
			}
		}
	}
	if err != nil || d.alerts == nil {
		return res, err
	}
	sum, aerr := d.alerts.Check(ctx)
	if aerr != nil {
		d.m.Logger.Warn("alerts not all delivered", "sent", sum.Sent, "retracted", sum.Retracted,
			"failed", sum.Failed, "err", aerr)
	} else if sum != (alert.Summary{}) {
		d.m.Logger.Info("alerts delivered", "sent", sum.Sent, "retracted", sum.Retracted)
	}
	return res, nil
}
