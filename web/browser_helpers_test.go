package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds every browser context, so a stuck browser fails
// the test instead of hanging it.
const browserTimeout = 60 * time.Second

// browserPath finds Chromium or Chrome. Without one the test is skipped,
// except in CI (CI set), where a missing browser is a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("no chromium, chromium-browser or google-chrome in PATH")
	}
	t.Fatal("CI: no chromium, chromium-browser or google-chrome in PATH")
	return ""
}

// newBrowser starts a headless browser with a fresh profile and returns a
// tab context that ends after browserTimeout. Call it after
// startBrowserServer: cleanups run last first, so the browser is gone
// before the server shuts down, which would otherwise wait 5 s for the
// connections the browser opened ahead and never used.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := browserPath(t)
	// Registered first, so it runs after the browser has stopped; the
	// browser's helpers may still write in the profile for a moment.
	profile := filepath.Join(t.TempDir(), "profile")
	t.Cleanup(func() {
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.UserDataDir(profile),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	return tabCtx
}

// startBrowserServer serves the shared regtest ledger on loopback.
func startBrowserServer(t *testing.T) string {
	t.Helper()
	l := regtest(t)
	s := newServer(t, l, Config{Listen: "127.0.0.1:0"})
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetSyncStatus(SyncStatus{At: time.Now(), OK: true, Backend: "btcd"})
	return s.URL()
}

// apiGet decodes the JSON answer at base+path into v.
func apiGet(t *testing.T, base, path string, v any) {
	t.Helper()
	res, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// pageWatch records what a tab does that a page must not: console errors,
// uncaught exceptions, answers with an error status (404 included) and
// requests that leave loopback.
type pageWatch struct {
	mu       sync.Mutex
	problems []string
}

// watchPage starts recording the tab's events; call it before navigating.
func watchPage(t *testing.T, ctx context.Context) *pageWatch {
	t.Helper()
	w := &pageWatch{}
	add := func(format string, args ...any) {
		w.mu.Lock()
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
		w.mu.Unlock()
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			add("exception at %s:%d: %s", d.URL, d.LineNumber, msg)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				add("console.error: %v", args)
			}
		case *log.EventEntryAdded:
			if e := ev.Entry; e != nil && e.Level == log.EntryLevelError {
				add("log error (%s) %s: %s", e.Source, e.URL, e.Text)
			}
		case *network.EventResponseReceived:
			// Any failed load (a missing icon, a broken stylesheet) is a
			// fault of the page, whoever asked for it.
			if r := ev.Response; r != nil && r.Status >= 400 {
				add("%d for %s", r.Status, r.URL)
			}
		case *network.EventRequestWillBeSent:
			if ev.Request != nil && !loopbackURL(ev.Request.URL) {
				add("request leaves loopback: %s", ev.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// check reports every problem recorded so far under the name of a page.
func (w *pageWatch) check(t *testing.T, page string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		t.Errorf("%s: %s", page, p)
	}
	w.problems = nil
}

// loopbackURL reports whether u stays on this machine: a data: URL or an
// http(s) URL to 127.0.0.1, localhost or [::1].
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	switch p.Scheme {
	case "data":
		return true
	case "http", "https", "ws", "wss":
		switch p.Hostname() {
		case "127.0.0.1", "localhost", "::1":
			return true
		}
	}
	return false
}
