package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// pageRows bounds the tables of a page; the API and CSV have every row.
const pageRows = 200

// pageNames are the page templates; each is parsed with the layout.
var pageNames = []string{"index", "entity", "address", "about", "reports", "error"}

// kindHelp says in words what each flow means, for readers and feeds.
var kindHelp = map[watcher.Flow]string{
	watcher.Inflow:   "Inflow: coins came from outside; no input was the entity's",
	watcher.Outflow:  "Outflow: the entity paid out; all inputs were its own and some output left",
	watcher.Internal: "Internal: coins moved between the entity's own addresses; only the fee left",
	watcher.Mixed:    "Mixed: inputs from the entity and from outside in one transaction",
}

// templateFuncs are the formatting helpers the templates may use: money
// and times are formatted here, never in a template by hand.
var templateFuncs = template.FuncMap{
	"btc":       watcher.FormatBTC,
	"signedBTC": signedBTC,
	"pct":       func(f float64) string { return fmt.Sprintf("%.2f %%", f*100) },
	"when":      when,
	"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"stamp":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"httpURL":   isHTTPURL,
	"kindHelp":  func(k watcher.Flow) string { return kindHelp[k] },
	"num":       num,
	"short":     func(h string) string { return h[:min(len(h), 16)] + "…" },
	"sign": func(v int64) string {
		switch {
		case v > 0:
			return "pos"
		case v < 0:
			return "neg"
		}
		return "zero"
	},
	"pathEscape": url.PathEscape,
	"kib":        kib,
	"fiat":       fiatLine,
	"fiatAmount": fiatAmount,
	"fiatPrice":  fiatPrice,
}

// parsePages parses every page with the layout and the chart partials.
func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(assets,
			"templates/layout.html", "templates/charts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// signedBTC formats a change with its sign: "+1.00000000", "−0.50000000".
func signedBTC(sat int64) string {
	switch {
	case sat > 0:
		return "+" + watcher.FormatBTC(sat)
	case sat < 0:
		return "−" + watcher.FormatBTC(-sat)
	}
	return watcher.FormatBTC(0)
}

// when formats a time for readers, in UTC and saying so.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// span says a duration in words: "45 seconds", "30 minutes", "3 hours",
// "2 days".
func span(d time.Duration) string {
	unit, n := "second", int64(d/time.Second)
	switch {
	case d >= 48*time.Hour:
		unit, n = "day", int64(d/(24*time.Hour))
	case d >= 2*time.Hour:
		unit, n = "hour", int64(d/time.Hour)
	case d >= 2*time.Minute:
		unit, n = "minute", int64(d/time.Minute)
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// base is what every page shows around its content.
type base struct {
	Title    string
	Nav      string
	AsOf     *watcher.AsOf
	SyncedAt time.Time
	Warnings []string
	Feed     string
}

// pageBase fills the frame: the block the page is stated at and warnings
// when the figures are stale or the last sync failed.
func (s *Server) pageBase(v *view, title, nav string) base {
	b := base{Title: title, Nav: nav, Feed: "/feed.atom"}
	if v == nil || v.snap == nil {
		return b
	}
	b.AsOf, b.SyncedAt = &v.snap.asOf, v.snap.syncedAt
	if age := v.now.Sub(v.snap.syncedAt); age > s.cfg.StaleAfter {
		b.Warnings = append(b.Warnings, fmt.Sprintf("These figures may be out of date: the last successful sync was at %s, "+
			"%s ago (more than %s).", when(v.snap.syncedAt), span(age), span(s.cfg.StaleAfter)))
	}
	if v.hasStatus && !v.status.OK {
		msg := fmt.Sprintf("The last sync attempt, at %s, failed", when(v.status.At))
		if v.status.Backend != "" {
			msg += " (backend " + v.status.Backend + ")"
		}
		if v.status.Error != "" {
			msg += ": " + v.status.Error
		}
		b.Warnings = append(b.Warnings, msg+". The figures shown are those of the last successful sync.")
	}
	return b
}

// page renders a page template to an answer.
func (s *Server) page(name string, data any) (*rendered, error) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return nil, err
	}
	return &rendered{ctype: "text/html; charset=utf-8", body: buf.Bytes()}, nil
}

// pageError answers an error as an HTML page.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, he *httpError) {
	data := struct {
		base
		Status  int
		Text    string
		Message string
	}{s.pageBase(nil, http.StatusText(he.status), ""), he.status, http.StatusText(he.status), he.msg}
	res, err := s.page("error", data)
	if err != nil {
		s.logger.Error("web: error page", "err", err)
		http.Error(w, he.msg, he.status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", res.ctype)
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(he.status)
	w.Write(res.body)
}

// handleIndex answers GET /: the total held and one line per entity.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asPage, true, func(ctx context.Context, v *view) (*rendered, error) {
		sum, err := s.summary(ctx, v)
		if err != nil {
			return nil, err
		}
		return s.page("index", struct {
			base
			S *summaryJSON
		}{s.pageBase(v, "Public Bitcoin holdings", "index"), sum})
	})
}

// periodLink is one of the chart's window links.
type periodLink struct {
	Label, Href string
	Current     bool
}

func periodLinks(path, current string) []periodLink {
	var out []periodLink
	for _, p := range chartPeriods {
		out = append(out, periodLink{Label: p.Label, Href: path + "?period=" + p.Name, Current: p.Name == current})
	}
	return out
}

// handleAddressPage answers GET /address/{address}: one address's chart
// and history.
func (s *Server) handleAddressPage(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asPage, true, func(ctx context.Context, v *view) (*rendered, error) {
		period, from, err := parsePeriod(r.URL.Query(), v.snap.asOf.Time)
		if err != nil {
			return nil, err
		}
		a, d, err := s.addressDetail(ctx, v, r.PathValue("address"))
		if err != nil {
			return nil, err
		}
		var txs []addressTxJSON
		total := 0
		for i := len(a.Txs) - 1; i >= 0; i-- {
			if from.IsZero() || !a.Txs[i].Time.Before(from) {
				if total++; len(txs) < pageRows {
					txs = append(txs, a.Txs[i])
				}
			}
		}
		path := "/address/" + url.PathEscape(a.Address)
		return s.page("address", struct {
			base
			A       *addressDetailJSON
			Path    string
			Periods []periodLink
			Chart   chart
			Txs     []addressTxJSON
			Total   int
		}{s.pageBase(v, "Address "+a.Address, ""), a, path, periodLinks(path, period),
			balanceChart("balance", "Confirmed balance of "+a.Address, d.series, from, v.snap.asOf.Time), txs, total})
	})
}

// handleAbout answers GET /about: how every figure is computed, which
// backends are asked (kinds only), and every address with its source. It
// is the one page shown before the first sync too.
func (s *Server) handleAbout(w http.ResponseWriter, r *http.Request) {
	render := func(v *view) (*rendered, error) {
		var kinds []string
		for _, b := range s.wl.Backends {
			kinds = append(kinds, b.Kind)
		}
		vv, err := s.verifyInfo(r.Context(), v)
		if err != nil {
			return nil, err
		}
		return s.page("about", struct {
			base
			Network    string
			Backends   []string
			Entities   []watcher.Entity
			StaleAfter string
			Kinds      []watcher.Flow
			Verify     verifyView
		}{s.pageBase(v, "Methodology", "about"), s.wl.Network.String(), kinds, s.wl.Entities, span(s.cfg.StaleAfter), allFlows, vv})
	}
	if _, _, _, synced, err := s.st.SyncState(r.Context()); err == nil && !synced {
		res, err := render(nil)
		if err != nil {
			s.fail(w, r, asPage, err)
			return
		}
		w.Header().Set("Content-Type", res.ctype)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(res.body)
		return
	}
	s.serve(w, r, asPage, true, func(ctx context.Context, v *view) (*rendered, error) { return render(v) })
}
