package web

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/report"
	"github.com/treasurywatch/treasurywatch/store"
)

// archiveReport builds a real report from the shared ledger (from its first
// stored block to its synced tip) and archives it in a fresh store, with
// one delivered and one failed target.
func archiveReport(tb testing.TB, l *regtestLedger) (*store.Store, store.ArchivedReport, []report.File) {
	tb.Helper()
	ctx := context.Background()
	tip, _, _, ok, err := l.st.SyncState(ctx)
	if err != nil || !ok {
		tb.Fatalf("sync state: ok=%v err=%v", ok, err)
	}
	blocks, err := l.st.BlocksDescending(ctx, 1<<20)
	if err != nil || len(blocks) < 2 {
		tb.Fatalf("stored blocks: %d, err=%v", len(blocks), err)
	}
	from := blocks[len(blocks)-1]
	spec := report.Spec{Name: "monthly", From: from.Time.Add(time.Second), To: tip.Time.Add(time.Minute), FromBlock: from, ToBlock: tip}
	rep, err := report.Build(ctx, l.st, l.wl, spec, report.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	files, err := rep.Files(report.Formats)
	if err != nil {
		tb.Fatal(err)
	}
	archive, err := store.Open(ctx, filepath.Join(tb.TempDir(), "archive.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { archive.Close() })
	var sf []store.ReportFile
	for _, f := range files {
		sf = append(sf, store.ReportFile{Name: f.Name, ContentType: f.ContentType, Data: f.Data})
	}
	ar := store.ArchivedReport{Name: spec.Name, Instant: spec.To, From: spec.From, FromBlock: from, ToBlock: tip,
		Digest: rep.Digest(), ProducedAt: spec.To.Add(time.Minute)}
	id, created, err := archive.SaveReport(ctx, ar, sf, []string{"dir", "webhook"})
	if err != nil || !created {
		tb.Fatalf("save report: created=%v err=%v", created, err)
	}
	now := spec.To.Add(2 * time.Minute)
	for _, a := range []store.DeliveryAttempt{
		{ReportID: id, Target: "dir", N: 1, At: now, Done: true},
		{ReportID: id, Target: "webhook", N: 1, At: now, Err: "webhook https://hooks.example.org: 503 Service Unavailable"},
		{ReportID: id, Target: "webhook", N: 2, At: now, Err: "webhook https://hooks.example.org: 400 Bad Request", Permanent: true},
	} {
		if err := archive.RecordDeliveryAttempt(ctx, a, a.Permanent); err != nil {
			tb.Fatal(err)
		}
	}
	ar, _, err = archive.ReportByID(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	return archive, ar, files
}

// TestReportsPage checks the archive page and its downloads: every file
// byte for byte, the delivery status visible, unknown ids and files 404,
// and archived HTML shown under a CSP that allows its styles but no script.
func TestReportsPage(t *testing.T) {
	l := regtest(t)
	archive, ar, files := archiveReport(t, l)
	s, err := New(Config{}, l.wl, archive, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	page := mustGet(t, h, "/reports")
	for _, want := range []string{"monthly", ar.Digest[:16], "dir: delivered", "webhook: failed", "400 Bad Request",
		"blocks " + strconv.FormatInt(ar.FromBlock.Height, 10) + "–" + strconv.FormatInt(ar.ToBlock.Height, 10)} {
		if !strings.Contains(page, want) {
			t.Errorf("/reports lacks %q", want)
		}
	}
	for _, f := range files {
		path := "/reports/" + strconv.FormatInt(ar.ID, 10) + "/" + f.Name
		t.Run(f.Name, func(t *testing.T) {
			if !strings.Contains(page, `href="`+path+`"`) {
				t.Errorf("/reports does not link %s", path)
			}
			res, body := get(t, h, http.MethodGet, path)
			if res.StatusCode != http.StatusOK || !bytes.Equal([]byte(body), f.Data) {
				t.Fatalf("GET %s: %d, %d bytes, want the %d archived bytes", path, res.StatusCode, len(body), len(f.Data))
			}
			if got := res.Header.Get("Content-Type"); got != f.ContentType {
				t.Errorf("content type %q, want %q", got, f.ContentType)
			}
			csp := res.Header.Get("Content-Security-Policy")
			if strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP %q", csp)
			}
			res2, _ := get(t, h, http.MethodGet, path, "If-None-Match", res.Header.Get("ETag"))
			if res2.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation: %d, want 304", res2.StatusCode)
			}
		})
	}
	for _, path := range []string{"/reports/999/x.pdf", "/reports/abc/x.pdf", "/reports/" + strconv.FormatInt(ar.ID, 10) + "/nope.pdf"} {
		if res, _ := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	empty := mustGet(t, newServer(t, l, Config{}).Handler(), "/reports")
	if !strings.Contains(empty, "No report has been produced yet.") {
		t.Errorf("empty archive page:\n%s", empty)
	}
}
