package watcher

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults of the daemon's sections, used when the watchlist says nothing.
const (
	DefaultSyncSchedule = "@every 5m"
	DefaultListen       = "127.0.0.1:8080"
)

// ScheduleConfig is the [schedule] section: when the daemon syncs.
type ScheduleConfig struct {
	Sync Schedule `toml:"sync"`
}

// HTTPConfig is the [http] section: where the dashboard listens and how
// it links. An empty Listen (a watchlist built in code) means DefaultListen.
type HTTPConfig struct {
	// Listen is host:port; loopback by default, so exposing the dashboard
	// is a decision, not an accident.
	Listen string `toml:"listen"`
	// PublicURL is the dashboard's absolute address, for feeds and links
	// that leave the page.
	PublicURL string `toml:"public_url"`
	// ExplorerTxURL is prefixed to a txid to link a flow to a block
	// explorer, e.g. "https://mempool.space/tx/"; empty shows no link.
	ExplorerTxURL string `toml:"explorer_tx_url"`
}

// Schedule is a cron spec ("@every 5m", "0 * * * *", with an optional
// "CRON_TZ=America/El_Salvador " prefix), checked when the watchlist is
// read so a typo is an error with a line number, not a silent daemon.
type Schedule struct {
	Spec string
	cron.Schedule
}

// ParseSchedule parses a cron spec the way the watchlist does.
func ParseSchedule(spec string) (Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %s", spec, strings.TrimPrefix(err.Error(), "provided bad location "))
	}
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Schedule{}, fmt.Errorf("schedule %q never fires", spec)
	}
	return Schedule{Spec: spec, Schedule: s}, nil
}

// UnmarshalText parses the spec.
func (s *Schedule) UnmarshalText(text []byte) error {
	v, err := ParseSchedule(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the spec back.
func (s Schedule) MarshalText() ([]byte, error) { return []byte(s.Spec), nil }

// String returns the spec.
func (s Schedule) String() string { return s.Spec }

// placeDaemon fills the daemon sections' defaults.
func (w *Watchlist) placeDaemon() {
	if w.Schedule.Sync.Schedule == nil {
		w.Schedule.Sync, _ = ParseSchedule(DefaultSyncSchedule)
	}
	if w.HTTP.Listen == "" {
		w.HTTP.Listen = DefaultListen
	}
}

// daemon checks the [http] section.
func (v *watchlistCheck) daemon() {
	w := v.w
	if _, port, err := net.SplitHostPort(w.HTTP.Listen); w.HTTP.Listen != "" && (err != nil || port == "") {
		v.add(w.lines.lineOf("http.listen"), "http listen %q: want host:port, e.g. %q", w.HTTP.Listen, DefaultListen)
	}
	for _, f := range []struct{ key, val string }{{"public_url", w.HTTP.PublicURL}, {"explorer_tx_url", w.HTTP.ExplorerTxURL}} {
		if f.val == "" {
			continue
		}
		if u, err := url.Parse(f.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(w.lines.lineOf("http."+f.key), "http %s %q is not an absolute http(s) URL", f.key, f.val)
		}
	}
}
