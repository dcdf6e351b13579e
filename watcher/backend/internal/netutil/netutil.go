// Package netutil holds the small helpers every backend client needs the
// same way, so the three protocols cannot drift apart on them.
package netutil

import (
	"net/url"
	"strings"
	"time"
)

// OrDefault returns v, or def when v is not positive: the zero value of a
// Config field means "the default".
func OrDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// RedactURL returns raw with any password replaced, so a URL can go into
// an error message or a log line.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "…@" + raw[i+1:]
	}
	return raw
}
