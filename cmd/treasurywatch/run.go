package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/treasurywatch/treasurywatch/alert"
	"github.com/treasurywatch/treasurywatch/price"
	"github.com/treasurywatch/treasurywatch/report/schedule"
	"github.com/treasurywatch/treasurywatch/watcher"
	"github.com/treasurywatch/treasurywatch/web"
)

// runCommand is the daemon: it serves the dashboard from the store at
// once, syncs at start and then on the watchlist's schedule, and stops
// cleanly on SIGINT or SIGTERM.
type runCommand struct {
	env *Env
}

// Run implements `treasurywatch run -config F`.
func (c *runCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("run")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	listen := fs.String("listen", "", "serve on this `host:port` instead of [http] listen")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if m.Logger, err = lf.logger(c.env.Stderr); err != nil {
		return err
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	if err := m.OpenBackend(); err != nil {
		return err
	}
	d, err := newDaemon(m, *listen)
	if err != nil {
		return err
	}
	if err := d.Open(); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "treasurywatch %s: dashboard at %s (network %s, %d entities, sync %s)\n",
		Version, d.web.URL(), m.Watchlist.Network, len(m.Watchlist.Entities), m.Watchlist.Schedule.Sync)
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return d.Close()
}

// daemon is the long-running part: the web server and the syncer, opened
// in that order (the dashboard serves stored figures before the first sync
// ends) and closed in reverse.
type daemon struct {
	m       *Main
	web     *web.Server
	syncer  *watcher.Syncer
	prices  *price.Refresher // nil without [price]
	checked atomic.Bool

	syncs    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	verify   *verifyState        // failover and cross-check of several backends
	alerts   *alert.Alerter      // nil without [[alerts]]
	reports  *schedule.Scheduler // nil without [[reports]]
}

func newDaemon(m *Main, listen string) (*daemon, error) {
	wl := m.Watchlist
	if listen == "" {
		listen = wl.HTTP.Listen
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &daemon{m: m,
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "treasurywatch_syncs_total",
			Help: "Syncs by outcome (ok, failed, held: sources disagreed)."}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "treasurywatch_sync_duration_seconds",
			Help: "Duration of syncs by outcome.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"outcome"}),
	}
	reg.MustRegister(d.syncs, d.duration, newBackendCollector(append([]watcher.Backend{m.Backend}, m.others...)))
	d.verify = newVerifyState(reg, m.Store)
	srv, err := web.New(web.Config{Listen: listen, PublicURL: wl.HTTP.PublicURL, ExplorerTxURL: wl.HTTP.ExplorerTxURL,
		PriceCurrency: wl.Price.Currency, RecheckAfter: time.Second}, wl, m.Store, reg, m.Logger)
	if err != nil {
		return nil, err
	}
	d.web = srv
	if d.reports, err = newReportScheduler(m); err != nil {
		return nil, err
	}
	if d.alerts, err = newAlerter(m); err != nil {
		return nil, err
	}
	d.syncer = watcher.NewSyncer(d.syncAndAlert, wl.Schedule.Sync, m.Logger, d.report)
	if wl.Price.Enabled() {
		pc := price.NewClient(wl.Price.URL)
		pc.UserAgent = "treasurywatch/" + Version
		d.prices = price.NewRefresher(pc, m.Store, wl.Price.Currency, wl.Price.RefreshSchedule(), m.Logger)
	}
	return d, nil
}

// sync checks the backend once (a server of the wrong network is refused
// on every attempt until it is fixed) and then syncs.
func (d *daemon) sync(ctx context.Context) (watcher.Result, error) {
	if d.m.Verifier != nil {
		return d.verify.sync(ctx, d.m.Verifier)
	}
	if !d.checked.Load() {
		if err := d.m.CheckBackend(ctx); err != nil {
			return watcher.Result{}, err
		}
		d.checked.Store(true)
	}
	return d.m.Engine.Sync(ctx)
}

// report shows each sync's outcome on the pages and in the metrics.
func (d *daemon) report(r watcher.SyncReport) {
	outcome := "ok"
	st := web.SyncStatus{At: r.Finished, OK: r.OK(), Backend: d.m.Backend.Name()}
	if r.Err != nil {
		outcome, st.Error = "failed", r.Err.Error()
	}
	d.verify.annotate(&st, &outcome)
	d.syncs.WithLabelValues(outcome).Inc()
	d.duration.WithLabelValues(outcome).Observe(r.Finished.Sub(r.Started).Seconds())
	d.web.SetSyncStatus(st)
	if d.reports != nil && st.OK {
		d.reports.SyncDone(r) // a held or failed sync covers no report
	}
}

// Open starts serving, then fetching prices (with [price]), then syncing.
func (d *daemon) Open() error {
	if err := d.web.Open(); err != nil {
		return err
	}
	if d.prices != nil {
		d.prices.Open()
	}
	d.syncer.Open()
	if d.reports != nil {
		if err := d.reports.Open(); err != nil {
			return errors.Join(err, d.Close())
		}
	}
	return nil
}

// Close stops syncing (a step in flight rolls back), then drains HTTP.
func (d *daemon) Close() error {
	if d.reports != nil {
		d.reports.Close()
	}
	d.syncer.Close()
	if d.prices != nil {
		d.prices.Close()
	}
	return d.web.Close()
}
