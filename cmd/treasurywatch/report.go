package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/report/schedule"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// reportCommand produces one [[reports]] entry on request: to file a
// report outside its schedule, or to produce an instant the daemon missed.
type reportCommand struct {
	env *Env
	now func() time.Time // nil means time.Now
}

// reportPolicy keeps an interactive delivery short; the daemon retries
// whatever is still undelivered.
var reportPolicy = deliver.Policy{Attempts: 3, Initial: time.Second, Max: 5 * time.Second}

// Run implements `treasurywatch report -config F -name N [-at T] [-no-deliver]`.
func (c *reportCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("report")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	name := fs.String("name", "", "the [[reports]] `name` to produce")
	atFlag := fs.String("at", "", "the report's instant, RFC 3339 (`time`, e.g. 2026-12-06T08:00:00Z); default now")
	noDeliver := fs.Bool("no-deliver", false, "archive only; the daemon delivers later")
	lf := addLogFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if m.Logger, err = lf.logger(c.env.Stderr); err != nil {
		return err
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	at := now().Truncate(time.Second)
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			return usageError{fmt.Sprintf("-at %q is not an RFC 3339 time (e.g. 2026-12-06T08:00:00Z)", *atFlag)}
		}
		if t.After(now()) {
			return usageError{fmt.Sprintf("-at %s is in the future: a report states figures at a past instant", *atFlag)}
		}
		at = t.Truncate(time.Second)
	}
	if *name == "" {
		return usageError{"-name is required"}
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	rc, err := findReport(m.Watchlist, *name)
	if err != nil {
		return err
	}
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	if err := m.OpenBackend(); err != nil {
		return err
	}
	// A sync started now covers the instant: the report never states a
	// figure older than it.
	if err := c.sync(ctx, m); err != nil {
		return err
	}
	tip, _, _, ok, err := m.Store.SyncState(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("no completed sync in the store")
	}
	sch, err := schedule.New(schedule.Config{Watchlist: m.Watchlist, Store: m.Store, Backend: m.Backend,
		Policy: reportPolicy, UserAgent: "treasurywatch/" + Version, Logger: m.Logger})
	if err != nil {
		return err
	}
	p, manual := reportPeriod(rc.Schedule, at)
	r, created, err := sch.Produce(ctx, rc, p, manual, tip.Height)
	if err != nil {
		return err
	}
	w := c.env.Stdout
	state := "produced and archived"
	if !created {
		state = "already archived"
	}
	fmt.Fprintf(w, "report %s: %s\n", r, state)
	fmt.Fprintf(w, "  period  %s to %s\n", r.From.Format(time.RFC3339), r.Instant.Format(time.RFC3339))
	fmt.Fprintf(w, "  opening block %d %s (%s)\n", r.FromBlock.Height, r.FromBlock.Hash, r.FromBlock.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "  closing block %d %s (%s)\n", r.ToBlock.Height, r.ToBlock.Hash, r.ToBlock.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "  digest  %s\n", r.Digest)
	for _, f := range r.Files {
		fmt.Fprintf(w, "  file    %s (%s, %d bytes)\n", f.Name, f.ContentType, f.Size)
	}
	if !created {
		// Rebuilt from the stored blocks, an archived report must give
		// the same digest; anything else means the ledger under it changed.
		out, err := sch.Regenerate(ctx, r)
		if err != nil {
			return fmt.Errorf("report %s: regenerate from its stored blocks: %w", r, err)
		}
		if out.Digest != r.Digest {
			return fmt.Errorf("report %s: regenerated from its stored blocks, the digest is %s, not the archived %s", r, out.Digest, r.Digest)
		}
		fmt.Fprintf(w, "  regenerated from its stored blocks: digest matches\n")
	}
	if *noDeliver {
		for _, d := range r.Deliveries {
			fmt.Fprintf(w, "  deliver %s: %s (not attempted: -no-deliver)\n", d.Target, d.Status)
		}
		return nil
	}
	var failed []string
	for _, d := range r.Deliveries {
		if d.Status == store.DeliveryDelivered {
			fmt.Fprintf(w, "  deliver %s: delivered earlier\n", d.Target)
			continue
		}
		if derr := sch.DeliverTo(ctx, r, d.Target); derr != nil {
			fmt.Fprintf(w, "  deliver %s: failed: %v\n", d.Target, derr)
			failed = append(failed, d.Target)
			continue
		}
		fmt.Fprintf(w, "  deliver %s: delivered\n", d.Target)
	}
	if d := m.Watchlist.ReportDelivery.Dir; d != "" && containsTarget(r.Deliveries, "dir") {
		fmt.Fprintf(w, "  written under %s\n", d)
	}
	if len(failed) > 0 {
		return fmt.Errorf("report %s archived, but not delivered to %s (the daemon retries)", r, strings.Join(failed, ", "))
	}
	return nil
}

// sync brings the ledger to the backend's tip as the `sync` command does.
func (c *reportCommand) sync(ctx context.Context, m *Main) error {
	if m.Verifier != nil {
		return verifiedSync(ctx, m.Verifier, c.env)
	}
	if err := m.CheckBackend(ctx); err != nil {
		return err
	}
	res, err := m.Engine.Sync(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "synced to block %d %s\n", res.Tip.Height, res.Tip.Hash)
	return nil
}

// findReport returns the [[reports]] entry called name, or a usage error
// naming the ones that exist.
func findReport(wl *watcher.Watchlist, name string) (watcher.ReportConfig, error) {
	if rc, ok := wl.Report(name); ok {
		return rc, nil
	}
	if len(wl.Reports) == 0 {
		return watcher.ReportConfig{}, usageError{fmt.Sprintf("unknown report %q: %s has no [[reports]] entries", name, wl.Path)}
	}
	return watcher.ReportConfig{}, usageError{fmt.Sprintf("unknown report %q (known: %s)", name, strings.Join(wl.ReportNames(), ", "))}
}

// reportPeriod returns the period ending at: from the schedule's previous
// instant. manual is false when at is itself a scheduled instant, so the
// daemon continues its schedule from it.
func reportPeriod(s watcher.Schedule, at time.Time) (schedule.Period, bool) {
	from, ok := schedule.PrevInstant(s, at)
	if !ok {
		from = at.Add(-24 * time.Hour)
	}
	return schedule.Period{From: from, To: at}, !s.Next(from).Equal(at)
}

func containsTarget(ds []store.Delivery, target string) bool {
	for _, d := range ds {
		if d.Target == target {
			return true
		}
	}
	return false
}

// newReportScheduler returns the daemon's report scheduler, nil when the
// watchlist has no [[reports]].
func newReportScheduler(m *Main) (*schedule.Scheduler, error) {
	if len(m.Watchlist.Reports) == 0 {
		return nil, nil
	}
	return schedule.New(schedule.Config{Watchlist: m.Watchlist, Store: m.Store, Backend: m.Backend,
		UserAgent: "treasurywatch/" + Version, Logger: m.Logger})
}
