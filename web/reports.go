package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/treasurywatch/treasurywatch/store"
)

// reportsShown bounds the archive listed on /reports; every report stays
// downloadable by its link.
const reportsShown = 200

// reportFileCSP lets an archived HTML report show its own inline styles
// and nothing else: no script, no request to any host, no framing.
const reportFileCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// reportRow is one archived report as the /reports page lists it.
type reportRow struct {
	store.ArchivedReport
	Downloads []reportDownload
}

// reportDownload is one file of a report, labelled by what it is rather
// than by its long name (which the download keeps).
type reportDownload struct {
	Label, Name, Href string
	Size              int64
}

// reportFormats orders and labels a report's files by name suffix: the
// filed document first.
var reportFormats = []struct{ suffix, label string }{
	{".pdf", "PDF"}, {".html", "HTML"}, {"-movements.csv", "Movements (CSV)"},
	{"-summary.csv", "Summary (CSV)"}, {".json", "JSON"},
}

// downloads lists the files of rep in reportFormats order, unknown kinds
// last under their own name.
func downloads(rep store.ArchivedReport) []reportDownload {
	base := "/reports/" + strconv.FormatInt(rep.ID, 10) + "/"
	var out []reportDownload
	used := map[string]bool{}
	for _, f := range reportFormats {
		for _, file := range rep.Files {
			if !used[file.Name] && strings.HasSuffix(file.Name, f.suffix) {
				used[file.Name] = true
				out = append(out, reportDownload{Label: f.label, Name: file.Name, Href: base + file.Name, Size: file.Size})
			}
		}
	}
	for _, file := range rep.Files {
		if !used[file.Name] {
			out = append(out, reportDownload{Label: file.Name, Name: file.Name, Href: base + file.Name, Size: file.Size})
		}
	}
	return out
}

// kib says a file size for readers: "54 KiB", "812 bytes".
func kib(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	return strconv.FormatInt((n+512)/1024, 10) + " KiB"
}

// handleReports answers GET /reports: the archive of produced reports,
// newest first, with their downloads and where each was delivered. It
// reads the archive on every request: reports and delivery outcomes change
// between syncs, so the sync-keyed render cache does not apply.
func (s *Server) handleReports(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reports, err := s.st.Reports(ctx, "", reportsShown)
	if err != nil {
		s.fail(w, r, asPage, err)
		return
	}
	rows := make([]reportRow, len(reports))
	for i, rep := range reports {
		rows[i] = reportRow{ArchivedReport: rep, Downloads: downloads(rep)}
	}
	res, err := s.page("reports", struct {
		base
		Reports   []reportRow
		Scheduled int
	}{s.pageBase(nil, "Reports", "reports"), rows, len(s.wl.Reports)})
	if err != nil {
		s.fail(w, r, asPage, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", res.ctype)
	h.Set("Cache-Control", "no-cache")
	w.Write(res.body)
}

// handleReportFile answers GET /reports/{id}/{file}: one archived
// document, byte for byte as it was produced and delivered.
func (s *Server) handleReportFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, asPage, notFound("No such report."))
		return
	}
	rep, ok, err := s.st.ReportByID(ctx, id)
	if err != nil {
		s.fail(w, r, asPage, err)
		return
	}
	if !ok {
		s.fail(w, r, asPage, notFound("No such report."))
		return
	}
	files, err := s.st.ReportFiles(ctx, id)
	if err != nil {
		s.fail(w, r, asPage, err)
		return
	}
	name := r.PathValue("file")
	for _, f := range files {
		if f.Name != name {
			continue
		}
		h := w.Header()
		digest := strings.TrimPrefix(rep.Digest, "sha256:")
		etag := `"` + digest[:min(32, len(digest))] + "-" + f.Name + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		if etagMatch(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		disposition := "attachment"
		if strings.HasPrefix(f.ContentType, "text/html") || f.ContentType == "application/pdf" {
			disposition = "inline"
		}
		h.Set("Content-Security-Policy", reportFileCSP)
		h.Set("Content-Type", f.ContentType)
		h.Set("Content-Disposition", disposition+`; filename="`+f.Name+`"`)
		h.Set("Content-Length", strconv.Itoa(len(f.Data)))
		w.Write(f.Data)
		return
	}
	s.fail(w, r, asPage, notFound("Report %s has no file %q.", rep, name))
}
