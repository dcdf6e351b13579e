package web

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// httpError is an answer other than 200 with a message for the reader:
// a bad parameter (400) or an unknown id (404). Internal errors are
// logged, never shown.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{400, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{404, fmt.Sprintf(format, args...)}
}

// timeRange is the from/to filter of history and flows.
type timeRange struct {
	From, To time.Time // zero = open
}

// parseRange reads from= and to=, each RFC 3339 or YYYY-MM-DD (UTC). A
// date as to= includes that whole day.
func parseRange(q url.Values) (timeRange, error) {
	var r timeRange
	var err error
	if r.From, err = parseTimeParam(q, "from", false); err != nil {
		return r, err
	}
	if r.To, err = parseTimeParam(q, "to", true); err != nil {
		return r, err
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.From.After(r.To) {
		return r, badRequest("from (%s) is after to (%s)", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	}
	return r, nil
}

func parseTimeParam(q url.Values, name string, endOfDay bool) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if len(v) > 40 {
		return time.Time{}, badRequest("%s: too long", name)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, badRequest("%s=%q: want an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)", name, v)
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1).Add(-time.Second)
	}
	return t, nil
}

// parseInterval reads interval=block|day (default block).
func parseInterval(q url.Values) (string, error) {
	switch v := q.Get("interval"); v {
	case "", "block":
		return "block", nil
	case "day":
		return "day", nil
	default:
		return "", badRequest("interval=%q: want block or day", v)
	}
}

// parseKinds reads kind=inflow,outflow,… (default: every kind).
func parseKinds(q url.Values) (map[watcher.Flow]bool, []watcher.Flow, error) {
	v := q.Get("kind")
	if v == "" {
		return nil, allFlows, nil
	}
	set := map[watcher.Flow]bool{}
	var list []watcher.Flow
	for _, k := range strings.Split(v, ",") {
		f := watcher.Flow(strings.TrimSpace(k))
		if _, ok := flowIndex[f]; !ok {
			return nil, nil, badRequest("kind=%q: want inflow, outflow, internal or mixed (comma-separated)", k)
		}
		if !set[f] {
			set[f] = true
			list = append(list, f)
		}
	}
	return set, list, nil
}

// chartPeriods are the windows of the entity and address charts.
var chartPeriods = []struct {
	Name, Label string
	back        func(time.Time) time.Time
}{
	{"30d", "30 days", func(t time.Time) time.Time { return t.AddDate(0, 0, -30) }},
	{"1y", "1 year", func(t time.Time) time.Time { return t.AddDate(-1, 0, 0) }},
	{"all", "All", nil},
}

// parsePeriod reads period=30d|1y|all (default all) and returns the
// start of the window (zero for all).
func parsePeriod(q url.Values, end time.Time) (string, time.Time, error) {
	v := q.Get("period")
	if v == "" {
		v = "all"
	}
	for _, p := range chartPeriods {
		if p.Name == v {
			if p.back == nil {
				return v, time.Time{}, nil
			}
			return v, p.back(end), nil
		}
	}
	return "", time.Time{}, badRequest("period=%q: want 30d, 1y or all", v)
}
