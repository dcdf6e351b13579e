package web

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// TestPagesShowLedgerFigures checks that every page answers 200 and shows
// the figures the API gives, stated at the published block.
func TestPagesShowLedgerFigures(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{ExplorerTxURL: "https://mempool.space/tx/"})
	h := s.Handler()
	led := watcher.NewLedger(l.st, l.wl)
	bal, err := led.Balances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	asOf := []string{strconv.FormatInt(bal.AsOf.Height, 10), bal.AsOf.Hash}
	wantAll := func(path, body string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	var total int64
	var names []string
	for _, e := range bal.Entities {
		total += e.ConfirmedSat
		names = append(names, watcher.FormatBTC(e.ConfirmedSat))
	}
	home := mustGet(t, h, "/")
	wantAll("/", home, append(append(names, watcher.FormatBTC(total), "Alpha &lt;Treasury&gt; &amp; Co",
		"47.37 %", "internal", "outflow", `href="/entity/alpha"`, "unconfirmed"), asOf...)...)

	for i, e := range bal.Entities {
		path := "/entity/" + e.ID
		page := mustGet(t, h, path)
		hist, err := led.EntityHistory(t.Context(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{watcher.FormatBTC(e.ConfirmedSat), "<svg", "<title id=", "<desc id=",
			`href="/entity/` + e.ID + `?period=30d"`, `href="/api/v1/entities/` + e.ID + `/flows.csv"`}, asOf...)
		for _, tx := range hist.Txs {
			want = append(want, `id="tx-`+tx.Txid+`"`, `href="https://mempool.space/tx/`+tx.Txid+`"`,
				watcher.FormatBTC(tx.BalanceSat), ">"+string(tx.Kind)+"<")
			if tx.FeeSat != nil {
				want = append(want, watcher.FormatBTC(*tx.FeeSat))
			}
		}
		for j, a := range e.Addresses {
			want = append(want, a.Address, watcher.FormatBTC(a.ConfirmedSat), `href="/address/`+a.Address+`"`)
			if src := l.wl.Entities[i].Addresses[j].Source; src != "" {
				// html/template normalises the URL: & becomes &amp;, <> are
				// percent-encoded.
				want = append(want, `href="https://example.org/disclosure?a=`+strconv.Itoa(j)+`&amp;b=%3cx%3e"`)
			}
		}
		wantAll(path, page, want...)
		for _, p := range []string{"30d", "1y", "all"} {
			mustGet(t, h, path+"?period="+p)
		}
		for _, a := range e.Addresses {
			ap := "/address/" + url.PathEscape(a.Address)
			page := mustGet(t, h, ap)
			ah, _ := led.AddressHistory(t.Context(), a.Address)
			want := append([]string{watcher.FormatBTC(a.ConfirmedSat), a.Address, "<svg", `href="/entity/` + e.ID + `"`}, asOf...)
			for _, tx := range ah.Txs {
				want = append(want, watcher.FormatBTC(tx.BalanceSat), tx.Txid[:16])
			}
			wantAll(ap, page, want...)
		}
	}
	if page := mustGet(t, h, "/entity/alpha"); !strings.Contains(page, "Alpha wallet 0 &lt;b&gt;") || strings.Contains(page, "<b>") ||
		strings.Contains(page, "<Treasury>") {
		t.Error("a label or name is not escaped")
	}

	about := mustGet(t, h, "/about")
	want := []string{"btcd", "regtest", "Reorganisations", "Unconfirmed", "Internal"}
	for _, e := range l.wl.Entities {
		for _, a := range e.Addresses {
			want = append(want, a.Address.Text)
		}
	}
	wantAll("/about", about, want...)

	// No page, feed or answer mentions the backend's credentials or
	// address.
	for _, path := range []string{"/", "/about", "/entity/alpha", "/api/v1/summary", "/feed.atom", "/metrics"} {
		body := mustGet(t, h, path)
		for _, secret := range []string{l.node.Pass, l.node.User, l.node.RPCAddr} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows the backend's %q", path, secret)
			}
		}
	}
}

// TestPagesAreSelfContained checks what the CSP promises: no inline script
// or style, nothing loaded from another host, and the one script only from
// /static.
func TestPagesAreSelfContained(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{ExplorerTxURL: "https://mempool.space/tx/"})
	addr := l.wl.Entities[0].Addresses[0].Address.Text
	tagRE := regexp.MustCompile(`<(script|link|img|iframe|object|embed|style|source|video|audio)\b[^>]*>`)
	for _, path := range []string{"/", "/entity/alpha", "/entity/beta?period=30d", "/address/" + addr, "/about", "/nope"} {
		_, body := get(t, s.Handler(), "GET", path)
		for _, tag := range tagRE.FindAllString(body, -1) {
			switch {
			case strings.HasPrefix(tag, "<script"):
				if !strings.Contains(tag, `src="/static/`) {
					t.Errorf("%s: inline or foreign script %s", path, tag)
				}
			case strings.HasPrefix(tag, "<link"):
				if !strings.Contains(tag, `href="/`) {
					t.Errorf("%s: foreign link %s", path, tag)
				}
			default:
				t.Errorf("%s: unexpected tag %s", path, tag)
			}
		}
		if m := regexp.MustCompile(`\s(style|on[a-z]+)=`).FindString(body); m != "" {
			t.Errorf("%s: inline style or handler %q", path, m)
		}
		if strings.Contains(body, "ZgotmplZ") {
			t.Errorf("%s: html/template rejected a value", path)
		}
	}
	for _, f := range []string{"style.css", "chart.js"} {
		res, body := get(t, s.Handler(), "GET", "/static/"+f)
		if res.StatusCode != 200 || len(body) == 0 || res.Header.Get("ETag") == "" {
			t.Errorf("/static/%s: %d", f, res.StatusCode)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "@import") {
			t.Errorf("/static/%s refers to another host", f)
		}
	}
}

// TestSourceLinksOnlyHTTP checks that a disclosure source is a link only
// when it is an http(s) URL (a watchlist loaded from a file is checked
// already; this is the page's own guard).
func TestSourceLinksOnlyHTTP(t *testing.T) {
	l := regtest(t)
	wl := *l.wl
	wl.Entities = append([]watcher.Entity(nil), l.wl.Entities...)
	wl.Entities[0].Addresses = append([]watcher.WatchedAddress(nil), l.wl.Entities[0].Addresses...)
	wl.Entities[0].Addresses[0].Source = "javascript:alert(1)"
	wl.Entities[0].Addresses[1].Source = "ftp://example.org/list"
	s, err := New(Config{}, &wl, l.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/entity/alpha", "/about"} {
		body := mustGet(t, s.Handler(), path)
		if strings.Contains(body, `href="javascript`) || strings.Contains(body, `href="ftp`) || strings.Contains(body, "ZgotmplZ") {
			t.Errorf("%s links a non-http source", path)
		}
		if !strings.Contains(body, "javascript:alert(1)") || !strings.Contains(body, "ftp://example.org/list") {
			t.Errorf("%s does not show the non-http sources as text", path)
		}
	}
}

// TestWarnings checks the stale and failed-sync warnings on pages and in
// the summary, and that credentials in a reported error are not shown.
func TestWarnings(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{StaleAfter: 10 * time.Minute})
	_, syncedAt, _, _, err := l.st.SyncState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return syncedAt.Add(time.Minute) }
	if body := mustGet(t, s.Handler(), "/"); strings.Contains(body, `class="warning"`) {
		t.Error("warning on fresh figures")
	}
	s.SetSyncStatus(SyncStatus{At: syncedAt.Add(time.Minute), OK: false, Backend: "esplora https://bob:hunter2@esplora.example/api",
		Error: `GET https://esplora.example/api/blocks/tip/height?apikey=s3cr3t: 503 Service Unavailable`})
	for _, path := range []string{"/", "/entity/alpha", "/about"} {
		body := mustGet(t, s.Handler(), path)
		if !strings.Contains(body, "The last sync attempt") || !strings.Contains(body, "503 Service Unavailable") {
			t.Errorf("%s lacks the failed-sync warning", path)
		}
		if strings.Contains(body, "hunter2") || strings.Contains(body, "s3cr3t") || strings.Contains(body, "bob") {
			t.Errorf("%s shows a credential", path)
		}
	}
	var sum summaryJSON
	decodeJSON(t, s, "/api/v1/summary", &sum)
	if a := sum.Sync.LastAttempt; a == nil || a.OK || !strings.Contains(a.Error, "503") || strings.Contains(a.Error, "s3cr3t") {
		t.Errorf("summary last attempt %+v", a)
	}
	s.now = func() time.Time { return syncedAt.Add(time.Hour) }
	if body := mustGet(t, s.Handler(), "/"); !strings.Contains(body, "may be out of date") {
		t.Error("no stale warning an hour after the last sync")
	}
	decodeJSON(t, s, "/api/v1/summary", &sum)
	if !sum.Sync.Stale {
		t.Error("summary not stale an hour after the last sync")
	}
}
