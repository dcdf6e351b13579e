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
	Hrefs map[string]string // file name -> download path
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
		rows[i] = reportRow{ArchivedReport: rep, Hrefs: map[string]string{}}
		for _, f := range rep.Files {
			rows[i].Hrefs[f.Name] = "/reports/" + strconv.FormatInt(rep.ID, 10) + "/" + f.Name
		}
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
