// Package schedule produces the watchlist's [[reports]] at their scheduled
// instants, exactly once each, archives them in the store with their files,
// and delivers them to their targets, retrying until delivered.
//
// An instant is produced only after a sync that started at or after it has
// succeeded, so a report never states a figure older than its instant. The
// report's blocks are chosen from the chain (the last block whose time is
// at or before each end of the period) and stored with it, so that
// regenerating it gives the same figures. Its (name, instant) row is
// inserted in one transaction with its files: a second producer, after a
// restart or from the command line, finds it and produces nothing.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// DefaultRetryEvery is how often deliveries that failed are tried again.
const DefaultRetryEvery = 15 * time.Minute

// maxRounds bounds how many rounds of deliver.Policy attempts a delivery
// gets before it stays failed until someone looks.
const maxRounds = 10

// Producer renders the report of spec in formats. Production code uses
// ReportProducer; it is a function so that the scheduling can be tested
// apart from the content.
type Producer func(ctx context.Context, spec report.Spec, formats []string) (Output, error)

// Output is one rendered report.
type Output struct {
	Files  []report.File
	Digest string
}

// Config is what a Scheduler needs.
type Config struct {
	Watchlist *watcher.Watchlist
	Store     *store.Store
	// Backend answers which block was the chain's at each instant.
	Backend watcher.Backend
	// Produce renders reports; nil means ReportProducer.
	Produce Producer
	// Policy is the retry policy of each delivery round.
	Policy deliver.Policy
	// RetryEvery is how often failed deliveries get a new round; 0 means
	// DefaultRetryEvery.
	RetryEvery time.Duration
	// HTTPClient sends webhooks; nil means deliver's default.
	HTTPClient *http.Client
	// UserAgent is sent with webhooks.
	UserAgent string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Scheduler produces and delivers the watchlist's reports. It owns its
// goroutines through Open and Close; its methods Produce and DeliverPending
// also work without Open, for one-shot commands.
type Scheduler struct {
	cfg     Config
	produce Producer
	logger  *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	synced chan struct{} // a sync succeeded
	kick   chan struct{} // something to deliver

	mu     sync.Mutex
	lastOK watcher.SyncReport // newest successful sync
}

// New returns a scheduler for cfg.Watchlist's reports.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Watchlist == nil || cfg.Store == nil || cfg.Backend == nil {
		return nil, errors.New("report schedule: watchlist, store and backend are required")
	}
	for _, rc := range cfg.Watchlist.Reports {
		if rc.Name == "" || rc.Schedule.Schedule == nil {
			return nil, fmt.Errorf("report schedule: report %q has no name or no schedule", rc.Name)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{cfg: cfg, produce: cfg.Produce, logger: cfg.Logger,
		synced: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
	if s.produce == nil {
		s.produce = ReportProducer(cfg.Store, cfg.Watchlist)
	}
	return s, nil
}

// ReportProducer builds reports from the store with the report package,
// in the watchlist's price currency when a price source is configured.
func ReportProducer(st *store.Store, wl *watcher.Watchlist) Producer {
	var opt report.Options
	if wl.Price.Enabled() {
		opt = report.Options{Currency: wl.Price.Currency, PriceSource: wl.Price.URL}
	}
	return func(ctx context.Context, spec report.Spec, formats []string) (Output, error) {
		r, err := report.Build(ctx, st, wl, spec, opt)
		if err != nil {
			return Output{}, err
		}
		files, err := r.Files(formats)
		if err != nil {
			return Output{}, err
		}
		return Output{Files: files, Digest: r.Digest()}, nil
	}
}

// SyncDone tells the scheduler a sync finished; a successful one lets the
// reports whose instants it covers be produced. Safe to call at any time,
// before Open and after Close included.
func (s *Scheduler) SyncDone(r watcher.SyncReport) {
	if !r.OK() {
		return
	}
	s.mu.Lock()
	if r.Started.After(s.lastOK.Started) {
		s.lastOK = r
	}
	s.mu.Unlock()
	select {
	case s.synced <- struct{}{}:
	default:
	}
}

// covering returns the newest successful sync if it started at or after
// instant.
func (s *Scheduler) covering(instant time.Time) (watcher.SyncReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastOK.Started.IsZero() || s.lastOK.Started.Before(instant) {
		return watcher.SyncReport{}, false
	}
	return s.lastOK, true
}

// Open starts producing (first the instants missed while stopped, at most
// each report's catch_up of them) and delivering (first what is still
// undelivered).
func (s *Scheduler) Open() error {
	ctx, cancel := context.WithCancel(context.Background())
	jobs, err := s.jobs(ctx)
	if err != nil {
		cancel()
		return err
	}
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.produceLoop(ctx, jobs)
	}()
	go func() {
		defer s.wg.Done()
		s.deliverLoop(ctx)
	}()
	return nil
}

// Close stops both loops, interrupting a delivery in flight (it stays
// pending and is retried at the next Open), and waits for them.
func (s *Scheduler) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return nil
}

// job is one [[reports]] entry's schedule: the periods due and waiting for
// a covering sync, and the next instant.
type job struct {
	cfg        watcher.ReportConfig
	due        []Period
	last, next time.Time // the latest instant queued, and the one after it
}

// jobs continues each report's schedule from its last produced instant,
// or from when it was first seen.
func (s *Scheduler) jobs(ctx context.Context) ([]*job, error) {
	now := s.cfg.Now()
	var jobs []*job
	for _, rc := range s.cfg.Watchlist.Reports {
		since, err := s.cfg.Store.ReportScheduleSince(ctx, rc.Name, now)
		if err != nil {
			return nil, err
		}
		anchor, isInstant, err := s.cfg.Store.LastScheduledInstant(ctx, rc.Name)
		if err != nil {
			return nil, err
		}
		if !isInstant {
			anchor = since
		}
		due, last, next := dueSince(rc.Schedule, anchor, isInstant, now, rc.CatchUpLimit())
		if len(due) > 0 {
			s.logger.Info("report instants to catch up", "report", rc.Name, "count", len(due),
				"first", due[0].To, "last", due[len(due)-1].To)
		}
		jobs = append(jobs, &job{cfg: rc, due: due, last: last, next: next})
	}
	return jobs, nil
}

func (s *Scheduler) produceLoop(ctx context.Context, jobs []*job) {
	for {
		now := s.cfg.Now()
		var wake time.Time
		for _, j := range jobs {
			for !j.next.IsZero() && !j.next.After(now) {
				j.due = append(j.due, Period{From: j.last, To: j.next})
				if len(j.due) > watcher.MaxCatchUp {
					s.logger.Warn("report instant dropped: the ones before it could not be produced", "report", j.cfg.Name, "instant", j.due[0].To)
					j.due = j.due[1:]
				}
				j.last, j.next = j.next, j.cfg.Schedule.Next(j.next)
			}
			s.produceDue(ctx, j)
			if !j.next.IsZero() && (wake.IsZero() || j.next.Before(wake)) {
				wake = j.next
			}
		}
		if !s.wait(ctx, wake.Sub(now), s.synced, wake.IsZero()) {
			return
		}
	}
}

// produceDue produces j's due periods, oldest first, as far as the last
// successful sync covers them. A failure leaves the period due, to be
// tried again after the next sync.
func (s *Scheduler) produceDue(ctx context.Context, j *job) {
	for len(j.due) > 0 && ctx.Err() == nil {
		p := j.due[0]
		sr, ok := s.covering(p.To)
		if !ok {
			return
		}
		r, created, err := s.Produce(ctx, j.cfg, p, false, sr.Result.Tip.Height)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Error("report failed", "report", j.cfg.Name, "instant", p.To, "err", err)
			}
			return
		}
		if created {
			s.logger.Info("report produced", "report", j.cfg.Name, "instant", p.To,
				"block", r.ToBlock.Height, "digest", r.Digest)
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
		j.due = j.due[1:]
	}
}

// Produce archives the report of rc for period p unless one of that name
// and instant already is (created false: the archived one is returned).
// Its blocks are the chain's at each end of p, at most syncedHeight.
// manual marks a report made on request rather than at a scheduled
// instant, so the schedule does not continue from it.
func (s *Scheduler) Produce(ctx context.Context, rc watcher.ReportConfig, p Period, manual bool, syncedHeight int64) (r store.ArchivedReport, created bool, err error) {
	st := s.cfg.Store
	p.From, p.To = p.From.Truncate(time.Second).UTC(), p.To.Truncate(time.Second).UTC()
	if r, ok, err := st.ReportAt(ctx, rc.Name, p.To); err != nil || ok {
		return r, false, err
	}
	to, err := watcher.BlockAtTime(ctx, s.cfg.Backend, p.To, syncedHeight)
	if err != nil {
		return r, false, fmt.Errorf("report %s at %s: closing block: %w", rc.Name, p.To.Format(time.RFC3339), err)
	}
	from, err := watcher.BlockAtTime(ctx, s.cfg.Backend, p.From, to.Height)
	if err != nil {
		return r, false, fmt.Errorf("report %s at %s: opening block: %w", rc.Name, p.To.Format(time.RFC3339), err)
	}
	r = store.ArchivedReport{Name: rc.Name, Instant: p.To, From: p.From, Manual: manual,
		FromBlock: store.Block(from), ToBlock: store.Block(to)}
	return s.archive(ctx, rc, r)
}

// Regenerate builds an archived report again from its stored blocks and
// returns the result, which matches the archived digest unless the ledger
// below those blocks changed.
func (s *Scheduler) Regenerate(ctx context.Context, r store.ArchivedReport) (Output, error) {
	rc, ok := s.cfg.Watchlist.Report(r.Name)
	if !ok {
		return Output{}, fmt.Errorf("report %s is not in the watchlist", r.Name)
	}
	return s.produce(ctx, spec(rc, r), rc.FormatList())
}

func spec(rc watcher.ReportConfig, r store.ArchivedReport) report.Spec {
	return report.Spec{Name: rc.Name, Entities: rc.Entities, From: r.From, To: r.Instant,
		FromBlock: r.FromBlock, ToBlock: r.ToBlock}
}

// archive renders r and saves it with its files and pending deliveries.
func (s *Scheduler) archive(ctx context.Context, rc watcher.ReportConfig, r store.ArchivedReport) (store.ArchivedReport, bool, error) {
	out, err := s.produce(ctx, spec(rc, r), rc.FormatList())
	if err != nil {
		return r, false, err
	}
	files := make([]store.ReportFile, len(out.Files))
	for i, f := range out.Files {
		files[i] = store.ReportFile{Name: f.Name, ContentType: f.ContentType, Data: f.Data}
	}
	r.Digest, r.ProducedAt = out.Digest, s.cfg.Now().UTC()
	id, created, err := s.cfg.Store.SaveReport(ctx, r, files, rc.Targets())
	if err != nil {
		return r, false, err
	}
	saved, _, err := s.cfg.Store.ReportByID(ctx, id)
	return saved, created, err
}

// wait waits for d (forever when never), or a signal on ch; false when ctx
// ended.
func (s *Scheduler) wait(ctx context.Context, d time.Duration, ch <-chan struct{}, never bool) bool {
	var timer <-chan time.Time
	if !never {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-ch:
	case <-timer:
	}
	return true
}
