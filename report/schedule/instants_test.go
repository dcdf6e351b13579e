package schedule

import (
	"reflect"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// The watchlist checks formats without importing the report package; the
// two lists must not drift apart.
func TestFormatsAgree(t *testing.T) {
	if !reflect.DeepEqual(watcher.ReportFormats, report.Formats) {
		t.Errorf("watchlist accepts %v, report renders %v", watcher.ReportFormats, report.Formats)
	}
}

func TestPrevInstant(t *testing.T) {
	sv := time.FixedZone("CST", -6*3600)
	tests := []struct {
		spec string
		at   time.Time
		want time.Time
	}{
		{"CRON_TZ=America/El_Salvador 0 8 * * *", time.Date(2026, 12, 6, 14, 0, 1, 0, time.UTC), time.Date(2026, 12, 6, 8, 0, 0, 0, sv)},
		{"CRON_TZ=America/El_Salvador 0 8 * * *", time.Date(2026, 12, 6, 14, 0, 0, 0, sv), time.Date(2026, 12, 6, 8, 0, 0, 0, sv)},
		{"CRON_TZ=America/El_Salvador 0 8 * * *", time.Date(2026, 12, 6, 8, 0, 0, 0, sv), time.Date(2026, 12, 5, 8, 0, 0, 0, sv)},
		{"0 0 1 * *", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"@yearly", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@every 2s", time.Date(2026, 3, 15, 0, 0, 1, 0, time.UTC), time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC)},
		{"@every 7s", time.Date(2026, 3, 15, 0, 0, 1, 0, time.UTC), time.Date(2026, 3, 14, 23, 59, 54, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, ok := PrevInstant(mustSchedule(t, tt.spec), tt.at)
			if !ok || !got.Equal(tt.want) {
				t.Errorf("PrevInstant(%s) = %s %v, want %s", tt.at, got, ok, tt.want)
			}
		})
	}
}

func TestDueSince(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 6, h, m, 0, 0, time.UTC) }
	hourly := mustSchedule(t, "0 * * * *")
	tests := []struct {
		name       string
		anchor     time.Time
		isInstant  bool
		now        time.Time
		keep       int
		due        []Period
		last, next time.Time
	}{
		{"newest kept", at(1, 0), true, at(5, 30), 2, []Period{{at(3, 0), at(4, 0)}, {at(4, 0), at(5, 0)}}, at(5, 0), at(6, 0)},
		{"none kept", at(1, 0), true, at(5, 30), 0, nil, at(5, 0), at(6, 0)},
		{"first seen mid-period", at(1, 20), false, at(2, 30), 3, []Period{{at(1, 0), at(2, 0)}}, at(2, 0), at(3, 0)},
		{"nothing due", at(1, 20), false, at(1, 50), 3, nil, at(1, 0), at(2, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, last, next := dueSince(hourly, tt.anchor, tt.isInstant, tt.now, tt.keep)
			if len(due) == 0 {
				due = nil
			}
			if !reflect.DeepEqual(due, tt.due) || !last.Equal(tt.last) || !next.Equal(tt.next) {
				t.Errorf("got %v last %s next %s\nwant %v last %s next %s", due, last, next, tt.due, tt.last, tt.next)
			}
		})
	}
	// After a long stop with a frequent schedule the newest instants are
	// found without walking every one.
	every := mustSchedule(t, "@every 1s")
	due, last, next := dueSince(every, at(0, 0), true, at(0, 0).Add(400*time.Hour), 2)
	end := at(0, 0).Add(400 * time.Hour)
	want := []Period{{end.Add(-2 * time.Second), end.Add(-time.Second)}, {end.Add(-time.Second), end}}
	if !reflect.DeepEqual(due, want) || !last.Equal(end) || !next.Equal(end.Add(time.Second)) {
		t.Errorf("long stop: %v last %s next %s", due, last, next)
	}
}
