package report_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// TestReportPDFLongTables lays out a movement table longer than a page:
// it must continue on the next pages with its header repeated, and every
// page must say "Page N of M".
func TestReportPDFLongTables(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed")
	}
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	d := report.Data{Report: "weekly", Network: "regtest", Period: report.Period{From: at.Add(-7 * 24 * time.Hour), To: at, TimeZone: "UTC"},
		Entities: []report.Entity{{ID: "e", Name: "Long Ledger Office", Addresses: []report.Address{}}}}
	const n = 150
	for i := range n {
		d.Movements = append(d.Movements, report.Movement{Entity: "e", Time: at.Add(-time.Duration(i) * time.Minute), Height: int64(1000 + i),
			Txid: strings.Repeat(strconv.Itoa(i%10), 64), Kind: watcher.Inflow, AmountSat: int64(i) * 1e6})
	}
	r := report.Report{Data: d}
	pdf, err := r.PDF()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "long.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f\n"), "\f")
	if len(pages) < 4 {
		t.Fatalf("%d pages for %d movements, want at least 4", len(pages), n)
	}
	for i, p := range pages {
		if want := "Page " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(pages)); !strings.Contains(p, want) {
			t.Errorf("page %d lacks %q", i+1, want)
		}
	}
	var headers int
	for _, p := range pages[1:] {
		if strings.Contains(p, "Amount (BTC)") {
			headers++
		}
	}
	if headers < len(pages)-2 {
		t.Errorf("the movement header is on %d of the %d continuation pages", headers, len(pages)-1)
	}
	if !strings.Contains(string(out), watcher.FormatBTC(int64(n-1)*1e6)) {
		t.Errorf("the last movement's amount is missing")
	}
}
