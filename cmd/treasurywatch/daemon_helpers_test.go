package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"
)

// lockedLog is a buffer the daemon logs into while the test reads it.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testDaemon is `treasurywatch run` in-process, syncing every second and
// serving on a free loopback port.
type testDaemon struct {
	base   string
	cancel context.CancelFunc
	done   chan int
	stderr *lockedLog
	// stopped is set by the first stop.
	stopped bool
}

// startTestDaemon appends the daemon's sections and extra (more TOML) to
// the watchlist cfg and runs the daemon until the test ends or stop.
func startTestDaemon(t *testing.T, cfg, extra string, args ...string) *testDaemon {
	t.Helper()
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, []byte("[schedule]\nsync = \"@every 1s\"\n[http]\nlisten = \"127.0.0.1:0\"\n"+extra)...)
	if err := os.WriteFile(cfg, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 {
		args = []string{"-log-level", "error"}
	}
	ctx, cancel := context.WithCancel(t.Context())
	d := &testDaemon{cancel: cancel, done: make(chan int, 1), stderr: &lockedLog{}}
	pr, pw := io.Pipe()
	go func() {
		d.done <- Run(ctx, append([]string{"run", "-config", cfg}, args...), pw, d.stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no start line: %v (stderr %s)", err, d.stderr)
	}
	go io.Copy(io.Discard, pr)
	d.base = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	t.Cleanup(func() { d.stop(t) })
	if d.base == "" {
		t.Fatalf("start line has no URL: %q", line)
	}
	return d
}

// stop ends the daemon and waits for it; it is idempotent.
func (d *testDaemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	if d.stopped {
		return
	}
	d.stopped = true
	select {
	case code := <-d.done:
		if code != 0 {
			t.Errorf("run exited %d: %s", code, d.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
}

func (d *testDaemon) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(d.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
