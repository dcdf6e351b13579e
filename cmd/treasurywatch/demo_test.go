package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `treasurywatch demo` in-process: the dashboard comes up
// populated, and cancelling leaves no node and no files behind.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- Run(ctx, []string{"demo", "-listen", "127.0.0.1:0", "-days", "400", "-log-level", "warn"}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base, dir string
	re := regexp.MustCompile(`dashboard at (http://127\.0\.0\.1:\d+)\S* — Ctrl-C stops the node and removes (\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base, dir = m[1], m[2]
			break
		}
	}
	if base == "" {
		t.Fatalf("demo printed no dashboard URL (stderr: %s)", stderr.String())
	}
	go io.Copy(io.Discard, pr)
	for _, path := range []string{"/", "/api/v1/summary"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "demo-bitcoin-office") && !strings.Contains(string(b), "Demoland") {
			t.Errorf("GET %s: %d\n%.500s", path, resp.StatusCode, b)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("demo dir %s missing while running: %v", dir, err)
	}
	checkDemoReports(t, base, dir)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo left %s behind (%v)", dir, err)
	}
}

// checkDemoReports checks that the demo filed reports: /reports lists
// monthly and weekly ones, each download is served, and the delivered
// copy in the demo's report folder has the same bytes.
func checkDemoReports(t *testing.T, base, dir string) {
	t.Helper()
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%.300s", path, resp.StatusCode, b)
		}
		return b
	}
	page := string(get("/reports"))
	links := regexp.MustCompile(`href="(/reports/\d+/((monthly|weekly)-[0-9TZ]+\.pdf))"`).FindAllStringSubmatch(page, -1)
	if len(links) != 2*demoReportCount {
		t.Fatalf("/reports links %d PDF reports, want %d", len(links), 2*demoReportCount)
	}
	if strings.Count(page, "dir: delivered") != 2*demoReportCount {
		t.Errorf("/reports: want every report delivered to its folder\n%s", page)
	}
	for _, l := range links[:2] {
		served := get(l[1])
		if !strings.HasPrefix(string(served), "%PDF-") {
			t.Errorf("%s is not a PDF", l[1])
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "reports", "*", l[3], "*", l[2]))
		if len(matches) != 1 {
			t.Errorf("delivered copy of %s: found %v", l[2], matches)
			continue
		}
		if onDisk, err := os.ReadFile(matches[0]); err != nil || string(onDisk) != string(served) {
			t.Errorf("delivered %s differs from the archived one (err %v)", matches[0], err)
		}
	}
}
