package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/treasurywatch/treasurywatch/report/schedule"
)

// demoReportsTOML adds the demo's reports to its watchlist: monthly and
// weekly balance reports, delivered to a folder inside the demo's temp
// dir (removed with it).
func demoReportsTOML(dir string) string {
	return fmt.Sprintf(`
[[reports]]
name = "monthly"
schedule = "CRON_TZ=UTC 0 0 1 * *"
deliver = ["dir"]

[[reports]]
name = "weekly"
schedule = "CRON_TZ=UTC 0 8 * * MON"
deliver = ["dir"]

[report_delivery]
dir = %q
`, filepath.Join(dir, "reports"))
}

// demoReportCount is how many past instants of each demo report are
// produced at start, so the archive on /reports is not empty.
const demoReportCount = 3

// produceDemoReports files the last few scheduled instants of each report
// exactly as the daemon would have at the time, and delivers them; the
// daemon's scheduler then continues from the newest.
func produceDemoReports(ctx context.Context, m *Main, now time.Time) (int, error) {
	tip, _, _, ok, err := m.Store.SyncState(ctx)
	if err != nil || !ok {
		return 0, fmt.Errorf("demo reports: no completed sync (%v)", err)
	}
	sch, err := schedule.New(schedule.Config{Watchlist: m.Watchlist, Store: m.Store, Backend: m.Backend,
		Policy: reportPolicy, UserAgent: "treasurywatch/" + Version, Logger: m.Logger})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rc := range m.Watchlist.Reports {
		var periods []schedule.Period
		at := now
		for len(periods) < demoReportCount {
			to, ok := schedule.PrevInstant(rc.Schedule, at)
			if !ok {
				break
			}
			from, ok := schedule.PrevInstant(rc.Schedule, to)
			if !ok {
				break
			}
			periods = append(periods, schedule.Period{From: from, To: to})
			at = to
		}
		slices.Reverse(periods)
		for _, p := range periods {
			if _, _, err := sch.Produce(ctx, rc, p, false, tip.Height); err != nil {
				return n, fmt.Errorf("demo report %s at %s: %w", rc.Name, p.To.Format(time.RFC3339), err)
			}
			n++
		}
	}
	return n, sch.DeliverPending(ctx)
}
