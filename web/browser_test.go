package web

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// browserSummary and browserEntity are the parts of the API answers the
// browser tests compare pages with.
type browserSummary struct {
	TotalConfirmedSat int64 `json:"total_confirmed_sat"`
	Entities          []struct {
		ID           string `json:"id"`
		ConfirmedSat int64  `json:"confirmed_sat"`
	} `json:"entities"`
}

type browserEntity struct {
	ID           string `json:"id"`
	ConfirmedSat int64  `json:"confirmed_sat"`
	Addresses    []struct {
		Address      string `json:"address"`
		ConfirmedSat int64  `json:"confirmed_sat"`
	} `json:"addresses"`
}

// TestBrowserFigures checks that the figures a reader sees in a real
// browser are the API's.
func TestBrowserFigures(t *testing.T) {
	base := startBrowserServer(t)
	ctx := newBrowser(t) // closed before the server, see newBrowser
	var sum browserSummary
	apiGet(t, base, "/api/v1/summary", &sum)
	if len(sum.Entities) == 0 {
		t.Fatal("summary has no entity")
	}

	// The index: the total and one row per entity.
	type indexRow struct {
		Href   string `json:"href"`
		Figure string `json:"figure"`
	}
	type indexPage struct {
		Total string     `json:"total"`
		Rows  []indexRow `json:"rows"`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	idx, err := chromedp.Run(ctx, chromedp.Evaluate[indexPage](`({
		total: document.querySelector("section.total .figure").textContent.trim(),
		rows: [...document.querySelectorAll("table.holdings tbody tr")].map(r => ({
			href: r.querySelector("th a").getAttribute("href"),
			figure: r.querySelector(".figure").textContent.trim(),
		})),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if want := watcher.FormatBTC(sum.TotalConfirmedSat); idx.Total != want {
		t.Errorf("/ total = %q, API says %q", idx.Total, want)
	}
	if len(idx.Rows) != len(sum.Entities) {
		t.Fatalf("/ has %d entity rows, API %d", len(idx.Rows), len(sum.Entities))
	}
	for i, e := range sum.Entities {
		r := idx.Rows[i]
		if r.Href != "/entity/"+e.ID {
			t.Errorf("/ row %d links %q, want /entity/%s", i, r.Href, e.ID)
		}
		if want := watcher.FormatBTC(e.ConfirmedSat); r.Figure != want {
			t.Errorf("/ row %s = %q, API says %q", e.ID, r.Figure, want)
		}
	}

	// Each entity page: its balance and every address's balance.
	type addrRow struct {
		Address string `json:"address"`
		Balance string `json:"balance"`
	}
	type entityPage struct {
		Total string    `json:"total"`
		Rows  []addrRow `json:"rows"`
	}
	var all []string
	for _, se := range sum.Entities {
		var e browserEntity
		apiGet(t, base, "/api/v1/entities/"+se.ID, &e)
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/entity/"+se.ID)); err != nil {
			t.Fatal(err)
		}
		p, err := chromedp.Run(ctx, chromedp.Evaluate[entityPage](`({
			total: document.querySelector("section.total .figure").textContent.trim(),
			rows: [...document.querySelectorAll("table.addresses tbody tr")].map(r => ({
				address: r.querySelector("code.address").textContent.trim(),
				balance: r.cells[2].firstChild.textContent.trim(),
			})),
		})`))
		if err != nil {
			t.Fatal(err)
		}
		if want := watcher.FormatBTC(e.ConfirmedSat); p.Total != want {
			t.Errorf("/entity/%s balance = %q, API says %q", e.ID, p.Total, want)
		}
		if len(p.Rows) != len(e.Addresses) {
			t.Fatalf("/entity/%s lists %d addresses, API %d", e.ID, len(p.Rows), len(e.Addresses))
		}
		for i, a := range e.Addresses {
			if p.Rows[i].Address != a.Address {
				t.Errorf("/entity/%s address %d = %q, API %q", e.ID, i, p.Rows[i].Address, a.Address)
			}
			if want := watcher.FormatBTC(a.ConfirmedSat); p.Rows[i].Balance != want {
				t.Errorf("/entity/%s %s balance = %q, API says %q", e.ID, a.Address, p.Rows[i].Balance, want)
			}
			all = append(all, a.Address)
		}
	}

	// The methodology page lists every watched address.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/about")); err != nil {
		t.Fatal(err)
	}
	listed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("table.addresses code.address")].map(c => c.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]bool{}
	for _, a := range listed {
		on[a] = true
	}
	for _, a := range all {
		if !on[a] {
			t.Errorf("/about does not list %s", a)
		}
	}
}

// TestBrowserNoScript checks that an entity page keeps its chart and its
// figures with JavaScript disabled.
func TestBrowserNoScript(t *testing.T) {
	base := startBrowserServer(t)
	ctx := newBrowser(t) // closed before the server, see newBrowser
	var e browserEntity
	apiGet(t, base, "/api/v1/entities/alpha", &e)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/entity/alpha")); err != nil {
		t.Fatal(err)
	}
	// Read the DOM through the DOM domain: page scripts are off.
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	chart, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("figure.chart svg.chart-svg")))
	if err != nil {
		t.Fatalf("no chart: %v", err)
	}
	if !strings.Contains(chart, "<title") {
		t.Errorf("the chart has no <title>:\n%.300s", chart)
	}
	total, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("section.total .figure")))
	if err != nil {
		t.Fatal(err)
	}
	if want := `<span class="figure">` + watcher.FormatBTC(e.ConfirmedSat) + `</span>`; total != want {
		t.Errorf("balance without JavaScript = %s, want %s", total, want)
	}
	for _, a := range e.Addresses {
		if !strings.Contains(html, watcher.FormatBTC(a.ConfirmedSat)) {
			t.Errorf("without JavaScript the page lacks %s's balance %s", a.Address, watcher.FormatBTC(a.ConfirmedSat))
		}
	}
}

// TestBrowserCleanPages checks that the pages log no error, throw no
// exception and request nothing beyond loopback.
func TestBrowserCleanPages(t *testing.T) {
	base := startBrowserServer(t)
	ctx := newBrowser(t) // closed before the server, see newBrowser
	var e browserEntity
	apiGet(t, base, "/api/v1/entities/alpha", &e)
	if len(e.Addresses) == 0 {
		t.Fatal("alpha has no address")
	}
	w := watchPage(t, ctx)
	for _, p := range []string{"/", "/entity/alpha", "/address/" + e.Addresses[0].Address, "/about", "/reports"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p)); err != nil {
			t.Fatal(err)
		}
		// A round trip after the load, so every event of the page has
		// been read before the check.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete"`)); err != nil {
			t.Fatal(err)
		}
		w.check(t, p)
		// Every icon the page links is served, as an image; /favicon.ico,
		// which browsers ask for on their own, is one of them.
		icons, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('link[rel~="icon"]')].map(l => l.href)`))
		if err != nil {
			t.Fatal(err)
		}
		if len(icons) == 0 {
			t.Errorf("%s links no icon", p)
		}
		for _, u := range icons {
			res, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "image/") {
				t.Errorf("%s: icon %s: %d %q", p, u, res.StatusCode, ct)
			}
		}
	}
}

// TestBrowserScreenshots writes full-page PNGs of the index and an entity
// page, narrow and wide, light and dark, to TREASURYWATCH_SCREENSHOTS or a
// temporary folder. They are for people to look at; the test only checks
// that each was taken.
func TestBrowserScreenshots(t *testing.T) {
	base := startBrowserServer(t)
	ctx := newBrowser(t) // closed before the server, see newBrowser
	dir := os.Getenv("TREASURYWATCH_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ name, path string }{{"index", "/"}, {"entity-alpha", "/entity/alpha"}}
	for _, width := range []int64{360, 1280} {
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: 800, DeviceScaleFactor: 1, Mobile: width < 600,
		}); err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"light", "dark"} {
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			}); err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path)); err != nil {
					t.Fatal(err)
				}
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if len(png) < 8 || string(png[1:4]) != "PNG" {
					t.Fatalf("%s %d %s: not a PNG", p.name, width, scheme)
				}
				file := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", p.name, width, scheme))
				if err := os.WriteFile(file, png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}
