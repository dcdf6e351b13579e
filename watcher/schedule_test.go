package watcher

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		spec    string
		next    time.Time
		wantErr string
	}{
		{spec: "@every 5m", next: from.Add(5 * time.Minute)},
		{spec: "0 * * * *", next: from.Add(time.Hour)},
		// 08:00 in El Salvador (UTC-6) is 14:00 UTC.
		{spec: "CRON_TZ=America/El_Salvador 0 8 * * *", next: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)},
		{spec: "CRON_TZ=Mars/Olympus 0 8 * * *", wantErr: "Mars/Olympus"},
		{spec: "61 * * * *", wantErr: "61"},
		{spec: "0 0 30 2 *", wantErr: "never fires"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Errorf("Next = %v, want %v", got, tt.next)
			}
		})
	}
}
