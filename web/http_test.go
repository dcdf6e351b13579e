package web

import (
	"encoding/csv"
	"encoding/xml"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// routes lists one concrete path per route, for the tests that must cover
// every route.
func routes(l *regtestLedger) []string {
	addr := l.wl.Entities[0].Addresses[0].Address.Text
	return []string{"/", "/entity/alpha", "/address/" + addr, "/about", "/reports", "/static/style.css", "/static/chart.js",
		"/feed.atom", "/entity/alpha/feed.atom", "/api/v1/summary", "/api/v1/entities", "/api/v1/entities/alpha",
		"/api/v1/entities/alpha/history", "/api/v1/entities/alpha/history.csv", "/api/v1/entities/alpha/flows",
		"/api/v1/entities/alpha/flows.csv", "/api/v1/addresses/" + addr, "/healthz", "/readyz", "/metrics"}
}

// TestSecurityHeadersEverywhere checks the headers on every route, on
// errors, on 304 and on 405.
func TestSecurityHeadersEverywhere(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{})
	check := func(what string, res *http.Response) {
		t.Helper()
		h := res.Header
		if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s (%d): security headers %v", what, res.StatusCode, h)
		}
	}
	for _, path := range append(routes(l), "/nope", "/api/v1/nope", "/entity/nope", "/api/v1/entities/alpha/flows?kind=x") {
		res, _ := get(t, s.Handler(), "GET", path)
		check("GET "+path, res)
		if etag := res.Header.Get("ETag"); etag != "" {
			res, body := get(t, s.Handler(), "GET", path, "If-None-Match", etag)
			if res.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("GET %s with its ETag: %d", path, res.StatusCode)
			}
			check("304 "+path, res)
		}
		res, _ = get(t, s.Handler(), "POST", path)
		check("POST "+path, res)
	}
	if want := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; " +
		"base-uri 'none'; form-action 'self'"; contentSecurityPolicy != want {
		t.Errorf("CSP %q", contentSecurityPolicy)
	}
}

// TestReadOnly checks that no route answers anything but 405 to a method
// other than GET and HEAD.
func TestReadOnly(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{})
	for _, path := range append(routes(l), "/nope") {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"} {
			res, _ := get(t, s.Handler(), m, path)
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, path, res.StatusCode, res.Header.Get("Allow"))
			}
		}
		if res, body := get(t, s.Handler(), "HEAD", path); path != "/nope" && (res.StatusCode != 200 || body != "") {
			t.Errorf("HEAD %s: %d, %d bytes", path, res.StatusCode, len(body))
		}
	}
}

// TestETags checks that answers carry an ETag tied to the published sync:
// 304 on a match, a new ETag after a sync, and page ETags that also follow
// the reported sync status.
func TestETags(t *testing.T) {
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	l := buildSynth(t, 40, end.AddDate(0, -3, 0), end)
	s, err := New(Config{}, l.wl, l.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return end }
	h := s.Handler()
	etags := func() map[string]string {
		out := map[string]string{}
		for _, p := range []string{"/", "/api/v1/summary", "/api/v1/entities/big/flows", "/api/v1/entities/big/history.csv"} {
			res, _ := get(t, h, "GET", p)
			out[p] = res.Header.Get("ETag")
			if !strings.HasPrefix(out[p], `"`) {
				t.Fatalf("%s: ETag %q", p, out[p])
			}
			for _, inm := range []string{out[p], "W/" + out[p], `"other", ` + out[p]} {
				if res, _ := get(t, h, "GET", p, "If-None-Match", inm); res.StatusCode != http.StatusNotModified {
					t.Errorf("%s If-None-Match %s: %d", p, inm, res.StatusCode)
				}
			}
			if res, _ := get(t, h, "GET", p, "If-None-Match", `"other", *`); res.StatusCode != 200 {
				t.Errorf("%s with a foreign ETag: %d", p, res.StatusCode)
			}
		}
		return out
	}
	first := etags()
	if again := etags(); again["/"] != first["/"] || again["/api/v1/entities/big/flows"] != first["/api/v1/entities/big/flows"] {
		t.Error("ETags changed without a sync")
	}
	s.SetSyncStatus(SyncStatus{At: end, OK: false, Error: "timeout"})
	status := etags()
	if status["/"] == first["/"] || status["/api/v1/entities/big/flows"] != first["/api/v1/entities/big/flows"] {
		t.Error("a sync report must change page ETags and only those")
	}
	// A new sync at the same block: a new generation.
	if err := l.st.Apply(t.Context(), store.Step{Publish: &l.tip, Now: end}); err != nil {
		t.Fatal(err)
	}
	for p, e := range etags() {
		if e == status[p] {
			t.Errorf("%s: ETag %s unchanged after a sync", p, e)
		}
	}
}

// TestCSV checks that the CSV twins parse and hold the JSON's rows.
func TestCSV(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{})
	for _, c := range []struct {
		path   string
		header string
		rows   func() int
	}{
		{"/api/v1/entities/alpha/flows.csv", "time,height,block_hash,txid,kind,delta_sat,balance_sat,fee_sat,fiat_currency,fiat_price,fiat_value", func() int {
			var f flowsJSON
			decodeJSON(t, s, "/api/v1/entities/alpha/flows", &f)
			return len(f.Flows)
		}},
		{"/api/v1/entities/beta/history.csv?interval=day", "date,height,hash,time,balance_sat,delta_sat,tx_count", func() int {
			var h historyJSON
			decodeJSON(t, s, "/api/v1/entities/beta/history?interval=day", &h)
			return len(h.Points)
		}},
	} {
		res, body := get(t, s.Handler(), "GET", c.path)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			res.Header.Get("X-As-Of-Hash") == "" {
			t.Fatalf("%s: %d %v", c.path, res.StatusCode, res.Header)
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if strings.Join(recs[0], ",") != c.header || len(recs)-1 != c.rows() {
			t.Errorf("%s: header %v, %d rows, want %d", c.path, recs[0], len(recs)-1, c.rows())
		}
		for _, r := range recs[1:] {
			if _, err := strconv.ParseInt(r[1], 10, 64); err != nil {
				t.Errorf("%s: height %q", c.path, r[1])
			}
			if _, err := time.Parse(time.RFC3339, r[0]); err != nil && !strings.Contains(c.path, "history") {
				t.Errorf("%s: time %q", c.path, r[0])
			}
		}
	}
}

// atomDoc is what a feed reader needs from a feed.
type atomDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Category struct {
			Term string `xml:"term,attr"`
		} `xml:"category"`
	} `xml:"entry"`
}

// TestAtom checks that both feeds parse and list every flow with stable,
// unique ids and absolute links.
func TestAtom(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{PublicURL: "https://treasury.example/"})
	for path, want := range map[string]int{"/feed.atom": len(l.kinds["alpha"]) + len(l.kinds["beta"]),
		"/entity/alpha/feed.atom": len(l.kinds["alpha"])} {
		res, body := get(t, s.Handler(), "GET", path)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/atom+xml") {
			t.Errorf("%s: content type %q", path, res.Header.Get("Content-Type"))
		}
		var doc atomDoc
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc.ID != "https://treasury.example"+path || len(doc.Entries) != want {
			t.Errorf("%s: id %q, %d entries, want %d", path, doc.ID, len(doc.Entries), want)
		}
		seen := map[string]bool{}
		for _, e := range doc.Entries {
			if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || seen[e.ID] || e.Title == "" ||
				len(e.Links) == 0 || !strings.HasPrefix(e.Links[0].Href, "https://treasury.example/entity/") {
				t.Errorf("%s: entry %+v", path, e)
			}
			seen[e.ID] = true
			parts := strings.Split(e.ID, ":")
			if kind := l.kinds[parts[3]][parts[4]]; e.Category.Term != string(kind) {
				t.Errorf("%s: entry %s category %q, want %q", path, e.ID, e.Category.Term, kind)
			}
		}
	}
}

// TestHealthAndMetrics checks /healthz, /readyz against the sync age, and
// the ledger gauges on the registry passed in.
func TestHealthAndMetrics(t *testing.T) {
	l := regtest(t)
	reg := prometheus.NewRegistry()
	s, err := New(Config{StaleAfter: 5 * time.Minute}, l.wl, l.st, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, l.wl, l.st, reg, nil); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
	b, syncedAt, _, _, _ := l.st.SyncState(t.Context())
	if body := mustGet(t, s.Handler(), "/healthz"); body != "ok\n" {
		t.Errorf("healthz %q", body)
	}
	s.now = func() time.Time { return syncedAt.Add(time.Minute) }
	mustGet(t, s.Handler(), "/readyz")
	s.now = func() time.Time { return syncedAt.Add(time.Hour) }
	if res, body := get(t, s.Handler(), "GET", "/readyz"); res.StatusCode != 503 || !strings.Contains(body, "old") {
		t.Errorf("readyz an hour after the sync: %d %s", res.StatusCode, body)
	}
	bal, _ := watcher.NewLedger(l.st, l.wl).Balances(t.Context())
	metrics := mustGet(t, s.Handler(), "/metrics")
	want := []string{"treasurywatch_synced_height " + strconv.FormatInt(b.Height, 10)}
	for _, e := range bal.Entities {
		want = append(want, `treasurywatch_entity_balance_satoshis{entity="`+e.ID+`"} `+
			strconv.FormatFloat(float64(e.ConfirmedSat), 'g', -1, 64))
	}
	for _, w := range want {
		if !strings.Contains(metrics, w+"\n") {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if !strings.Contains(metrics, `treasurywatch_http_requests_total{code="200",route="GET /healthz"}`) {
		t.Error("/metrics lacks the request counter")
	}
}

// TestNotSyncedYet checks a store that has never completed a sync: data
// answers 503, the methodology page and /healthz still work.
func TestNotSyncedYet(t *testing.T) {
	l := regtest(t)
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Config{}, l.wl, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, status := range map[string]int{"/": 503, "/entity/alpha": 503, "/api/v1/summary": 503, "/feed.atom": 503,
		"/readyz": 503, "/about": 200, "/healthz": 200, "/metrics": 200} {
		if res, body := get(t, s.Handler(), "GET", path); res.StatusCode != status {
			t.Errorf("%s: %d, want %d\n%s", path, res.StatusCode, status, body)
		}
	}
}

// TestOpenClose serves on a real listener and shuts down cleanly.
func TestOpenClose(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{Listen: "127.0.0.1:0"})
	if s.URL() != "" {
		t.Error("URL before Open")
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err == nil {
		t.Error("second Open succeeded")
	}
	base := s.URL()
	s.SetSyncStatus(SyncStatus{At: time.Now(), OK: true, Backend: "btcd"})
	for _, p := range []string{"/healthz", "/", "/entity/beta"} {
		res, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Close")
	}
}

// TestNewChecksConfig checks that New refuses links it would not render.
func TestNewChecksConfig(t *testing.T) {
	l := regtest(t)
	for _, cfg := range []Config{{ExplorerTxURL: "javascript:alert(1)//"}, {ExplorerTxURL: "/tx/"}, {PublicURL: "ftp://x"}} {
		if _, err := New(cfg, l.wl, l.st, nil, nil); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
