package watcher

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SyncReport is the outcome of one scheduled sync, for the dashboard's
// "last sync" line, /readyz and the metrics.
type SyncReport struct {
	Started  time.Time
	Finished time.Time
	Result   Result
	Err      error
}

// OK reports whether the sync succeeded.
func (r SyncReport) OK() bool { return r.Err == nil && !r.Finished.IsZero() }

// Syncer runs a sync once at start and then at each instant of a schedule,
// never two at once: a sync still running when the next instant comes
// makes that instant be skipped, not queued. It owns its goroutine through
// Open and Close.
type Syncer struct {
	sync     func(context.Context) (Result, error)
	schedule Schedule
	logger   *slog.Logger
	onReport func(SyncReport)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	last SyncReport
}

// NewSyncer returns a syncer calling sync (an Engine's Sync) on schedule.
// onReport, if not nil, is called after every sync from the syncer's
// goroutine.
func NewSyncer(sync func(context.Context) (Result, error), schedule Schedule, logger *slog.Logger, onReport func(SyncReport)) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{sync: sync, schedule: schedule, logger: logger, onReport: onReport}
}

// Open starts the first sync and the schedule.
func (s *Syncer) Open() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(s.ctx)
	}()
}

// Close stops the schedule and cancels a sync in flight (its open step
// rolls back; committed steps stay), then waits for it.
func (s *Syncer) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return nil
}

// Last returns the last finished sync's report (zero before the first).
func (s *Syncer) Last() SyncReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *Syncer) loop(ctx context.Context) {
	for {
		s.runOnce(ctx)
		now := time.Now()
		next := s.schedule.Next(now)
		if next.IsZero() {
			return
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *Syncer) runOnce(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	rep := SyncReport{Started: time.Now()}
	rep.Result, rep.Err = s.sync(ctx)
	rep.Finished = time.Now()
	if ctx.Err() != nil && rep.Err != nil {
		return // shutting down: not a failure of the backend
	}
	if rep.Err != nil {
		s.logger.Error("sync failed", "err", rep.Err, "duration", rep.Finished.Sub(rep.Started))
	}
	s.mu.Lock()
	s.last = rep
	s.mu.Unlock()
	if s.onReport != nil {
		s.onReport(rep)
	}
}
