package report

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// templateFuncs are the formatting helpers of the HTML template; the PDF
// uses the same functions, so both documents print the same strings.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"btc":   watcher.FormatBTC,
		"sat":   groupSat,
		"fee":   feeBTC,
		"utc":   utcTime,
		"money": money,
		"kind":  kindLabel,
		"upper": strings.ToUpper,
		"local": localTime,
	}
}

// groupSat prints satoshis with thin groups of three ("1 234 567").
func groupSat(sat int64) string {
	s := strconv.FormatInt(sat, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// feeBTC is the fee in BTC, or "unknown" when not every input was the
// entity's.
func feeBTC(fee *int64) string {
	if fee == nil {
		return "unknown"
	}
	return watcher.FormatBTC(*fee)
}

// utcTime is how reports print an instant: to the second, in UTC.
func utcTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// localTime prints an RFC 3339 instant of the period in its zone.
func localTime(rfc string, zone string) string {
	t, err := time.Parse(time.RFC3339, rfc)
	if err != nil {
		return rfc
	}
	return t.Format("2006-01-02 15:04:05 -07:00") + " (" + zone + ")"
}

// money prints cents as a decimal amount with its currency code.
func money(cents int64, currency string) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	s := groupSat(cents/100) + "." + strconv.FormatInt(100+cents%100, 10)[1:]
	if neg {
		s = "-" + s
	}
	return s + " " + strings.ToUpper(currency)
}

// kindLabel is a flow's name as printed.
func kindLabel(k watcher.Flow) string {
	if k == "" {
		return ""
	}
	return strings.ToUpper(string(k[:1])) + string(k[1:])
}
