package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// File is one produced document.
type File struct {
	Name, ContentType string
	Data              []byte
}

// Formats accepted by Files: "html", "pdf", "csv" (two files: movements and summary), "json".
var Formats = []string{"html", "pdf", "csv", "json"}

// Files renders the report in each of formats, in the order given; a
// format named twice is rendered once. File names start with the report's
// name and closing instant, e.g. "daily-20261206T0800Z.pdf".
func (r *Report) Files(formats []string) ([]File, error) {
	base := r.BaseName()
	var out []File
	var done []string
	for _, f := range formats {
		if slices.Contains(done, f) {
			continue
		}
		done = append(done, f)
		var files []File
		var err error
		switch f {
		case "html":
			files, err = r.one(base+".html", "text/html; charset=utf-8", r.HTML)
		case "pdf":
			files, err = r.one(base+".pdf", "application/pdf", r.PDF)
		case "json":
			files, err = r.one(base+".json", "application/json", r.JSON)
		case "csv":
			files, err = r.one(base+"-movements.csv", "text/csv; charset=utf-8", r.MovementsCSV)
			if err == nil {
				var s []File
				s, err = r.one(base+"-summary.csv", "text/csv; charset=utf-8", r.SummaryCSV)
				files = append(files, s...)
			}
		default:
			return nil, fmt.Errorf("report %q: unknown format %q (known: %s)", r.Data.Report, f, strings.Join(Formats, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("report %q: %s: %w", r.Data.Report, f, err)
		}
		out = append(out, files...)
	}
	return out, nil
}

func (r *Report) one(name, ctype string, render func() ([]byte, error)) ([]File, error) {
	b, err := render()
	if err != nil {
		return nil, err
	}
	return []File{{Name: name, ContentType: ctype, Data: b}}, nil
}

// BaseName is the report's name (letters, digits, '-', '_' and '.' kept,
// anything else replaced by '-') and its closing instant in UTC:
// "daily-20261206T0800Z".
func (r *Report) BaseName() string {
	name := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '-'
	}, r.Data.Report)
	if name == "" || strings.Trim(name, ".") == "" {
		name = "report"
	}
	return name + "-" + r.Data.Period.To.UTC().Format("20060102T1504Z")
}

// JSON is the report's data with its digest, indented for reading.
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.Data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MovementsCSV has one row per movement: an entity's side of one
// transaction in the period.
func (r *Report) MovementsCSV() ([]byte, error) {
	rows := [][]string{{"entity_id", "time", "height", "block_hash", "txid", "kind", "amount_sat", "amount_btc", "fee_sat", "fee_btc"}}
	for _, m := range r.Data.Movements {
		fee, feeBTC := "", ""
		if m.FeeSat != nil {
			fee, feeBTC = strconv.FormatInt(*m.FeeSat, 10), watcher.FormatBTC(*m.FeeSat)
		}
		rows = append(rows, []string{m.Entity, stamp(m.Time), strconv.FormatInt(m.Height, 10), m.BlockHash, m.Txid, string(m.Kind),
			strconv.FormatInt(m.AmountSat, 10), watcher.FormatBTC(m.AmountSat), fee, feeBTC})
	}
	return writeCSV(rows, r.digest)
}

// SummaryCSV has one row per entity, then one per address of it. Flows
// are an entity's; an address row gives received and sent instead.
func (r *Report) SummaryCSV() ([]byte, error) {
	rows := [][]string{{"level", "entity_id", "entity_name", "address", "label", "opening_sat", "closing_sat", "change_sat",
		"inflow_sat", "outflow_sat", "internal_sat", "fees_sat", "mixed_net_sat", "received_sat", "sent_sat",
		"opening_btc", "closing_btc", "opening_height", "closing_height"}}
	i := strconv.FormatInt
	oh, ch := i(r.Data.Opening.Height, 10), i(r.Data.Closing.Height, 10)
	for _, e := range r.Data.Entities {
		rows = append(rows, []string{"entity", e.ID, e.Name, "", "", i(e.OpeningSat, 10), i(e.ClosingSat, 10), i(e.ChangeSat, 10),
			i(e.InflowSat, 10), i(e.OutflowSat, 10), i(e.InternalSat, 10), i(e.FeesSat, 10), i(e.MixedNetSat, 10), "", "",
			watcher.FormatBTC(e.OpeningSat), watcher.FormatBTC(e.ClosingSat), oh, ch})
		for _, a := range e.Addresses {
			rows = append(rows, []string{"address", e.ID, e.Name, a.Address, a.Label, i(a.OpeningSat, 10), i(a.ClosingSat, 10),
				i(a.ClosingSat-a.OpeningSat, 10), "", "", "", "", "", i(a.ReceivedSat, 10), i(a.SentSat, 10),
				watcher.FormatBTC(a.OpeningSat), watcher.FormatBTC(a.ClosingSat), oh, ch})
		}
	}
	t := r.Data.Totals
	rows = append(rows, []string{"total", "", "", "", "", i(t.OpeningSat, 10), i(t.ClosingSat, 10), i(t.ChangeSat, 10),
		i(t.InflowSat, 10), i(t.OutflowSat, 10), i(t.InternalSat, 10), i(t.FeesSat, 10), i(t.MixedNetSat, 10), "", "",
		watcher.FormatBTC(t.OpeningSat), watcher.FormatBTC(t.ClosingSat), oh, ch})
	return writeCSV(rows, r.digest)
}

// writeCSV writes rows with a last column, "report_digest", holding the
// report's digest on every row: a CSV then names the report it belongs to
// and stays one table for any spreadsheet.
func writeCSV(rows [][]string, digest string) ([]byte, error) {
	for i := range rows {
		if i == 0 {
			rows[i] = append(rows[i], "report_digest")
		} else {
			rows[i] = append(rows[i], digest)
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
