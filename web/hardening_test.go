package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// openServer opens s on a loopback port and closes it when the test ends.
func openServer(t *testing.T, s *Server) string {
	t.Helper()
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s.URL()
}

// dumpStore returns the store's full dump, to compare before and after.
func dumpStore(t *testing.T, l *regtestLedger) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := l.st.Dump(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSlowHeaderClientIsCut dribbles a request header one byte at a time
// over a raw TCP connection: the server must close the connection once
// ReadHeaderTimeout has passed, long before the header is complete, and
// go on serving others.
func TestSlowHeaderClientIsCut(t *testing.T) {
	l := regtest(t)
	const timeout = 300 * time.Millisecond
	base := openServer(t, newServer(t, l, Config{Listen: "127.0.0.1:0", ReadHeaderTimeout: timeout}))
	// The server's clock starts when it accepts, after the dial began:
	// timed from before the dial, the cut can never seem early.
	start := time.Now()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn) // returns when the server closes
		closed <- err
	}()
	sent := 0
dribble:
	for ; sent < len(header); sent++ {
		if _, err := conn.Write([]byte{header[sent]}); err != nil {
			break
		}
		select {
		case <-closed:
			break dribble
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 10*timeout {
			t.Fatalf("the connection is still open after %v and %d of %d header bytes", time.Since(start), sent, len(header))
		}
	}
	took := time.Since(start)
	if sent >= len(header) {
		t.Fatalf("the whole header went through in %v; the slow client was not cut", took)
	}
	if took < timeout {
		t.Errorf("cut after %v, before the %v header timeout", took, timeout)
	}
	t.Logf("slow client cut after %v, %d of %d header bytes", took.Round(time.Millisecond), sent, len(header))
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("healthz after the slow client: %d", res.StatusCode)
	}
}

// rawRequest sends one request over a raw TCP connection and returns the
// status code of the answer.
func rawRequest(t *testing.T, base, request string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("write: %v (the server may refuse before reading everything)", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestOversizedRequestsRefused checks that long URLs get 414, headers
// beyond MaxHeaderBytes 431, and that the server keeps serving.
func TestOversizedRequestsRefused(t *testing.T) {
	l := regtest(t)
	base := openServer(t, newServer(t, l, Config{Listen: "127.0.0.1:0"}))
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		request string
		want    int
	}{
		{"url at the limit", "GET /" + long(MaxURLBytes-1) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusNotFound},
		{"url over the limit", "GET /" + long(MaxURLBytes) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusRequestURITooLong},
		{"query over the limit", "GET /api/v1/summary?q=" + long(MaxURLBytes) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusRequestURITooLong},
		{"url past the header limit", "GET /" + long(4*DefaultMaxHeaderBytes) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"one huge header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + long(4*DefaultMaxHeaderBytes) + "\r\nConnection: close\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+long(100)+"\r\n", 400) + "Connection: close\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rawRequest(t, base, tt.request); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	if got := rawRequest(t, base, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); got != http.StatusOK {
		t.Errorf("healthz after oversized requests: %d", got)
	}
}

// routePatternRE finds the patterns registered on the public mux.
var routePatternRE = regexp.MustCompile(`mux\.Handle(?:Func)?\("([^"]+)"`)

// registeredPaths reads every route pattern registered in the package's
// sources and returns one concrete path for each, so that a route added
// later is walked without anyone listing it here.
func registeredPaths(t *testing.T, l *regtestLedger) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"{$}": "", "{id}": l.wl.Entities[0].ID, "{address}": l.wl.Entities[0].Addresses[0].Address.Text,
		"{file}": "style.css",
	}
	wildcard := regexp.MustCompile(`\{[^}]*\}`)
	var paths []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range routePatternRE.FindAllStringSubmatch(string(src), -1) {
			pattern := m[1]
			if i := strings.IndexByte(pattern, ' '); i >= 0 {
				pattern = pattern[i+1:]
			}
			path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
				if v, ok := values[w]; ok {
					return v
				}
				return strings.Trim(w, "{}.")
			})
			if strings.HasSuffix(pattern, "/") {
				path += "anything" // a subtree pattern: any path below it
			}
			paths = append(paths, path)
		}
	}
	if len(paths) < 10 {
		t.Fatalf("found only %d routes in the sources: %q", len(paths), paths)
	}
	return paths
}

// TestNoRouteChangesState sends POST, PUT, PATCH and DELETE, with a body,
// to every route registered on the public listener: each must answer 405
// naming GET and HEAD, and the store must be byte for byte the same after.
func TestNoRouteChangesState(t *testing.T) {
	l := regtest(t)
	base := openServer(t, newServer(t, l, Config{Listen: "127.0.0.1:0"}))
	before := dumpStore(t, l)
	paths := registeredPaths(t, l)
	for _, path := range paths {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			req, err := http.NewRequestWithContext(t.Context(), m, base+path, strings.NewReader(`{"balance":0,"delete":true}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, path, res.StatusCode, res.Header.Get("Allow"))
			}
		}
	}
	if after := dumpStore(t, l); !bytes.Equal(before, after) {
		t.Errorf("the store changed after %d write attempts", 4*len(paths))
	}
	t.Logf("%d routes × 4 methods refused: %s", len(paths), fmt.Sprint(paths))
}

// TestServerLimitsSet checks the limits the listener is opened with.
func TestServerLimitsSet(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{Listen: "127.0.0.1:0"})
	openServer(t, s)
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	if srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 ||
		srv.IdleTimeout <= 0 || srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("server limits: ReadHeaderTimeout %v ReadTimeout %v WriteTimeout %v IdleTimeout %v MaxHeaderBytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestInFlightBounded sends three times as many concurrent requests as
// the middleware serves at once to a handler that holds them: no more
// than the bound are ever inside it, the others wait their turn, and all
// are answered once the handler lets go.
func TestInFlightBounded(t *testing.T) {
	l := regtest(t)
	s := newServer(t, l, Config{})
	limit := max(8, inFlightPerCPU*runtime.GOMAXPROCS(0))
	var inside, most atomic.Int64
	release := make(chan struct{})
	entered := make(chan struct{}, 3*limit)
	h := s.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		entered <- struct{}{}
		<-release
		inside.Add(-1)
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	codes := make(chan int, 3*limit)
	for range 3 * limit {
		go func() {
			res, err := http.Get(srv.URL + "/api/v1/summary")
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	for range limit {
		<-entered // the first `limit` requests are inside
	}
	// Give the others every chance to get in too, were there no bound.
	for range 50 {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if got := most.Load(); got != int64(limit) {
		t.Errorf("%d requests inside at once, want the bound %d", got, limit)
	}
	close(release)
	for range 3 * limit {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a waiting request got %d", code)
		}
	}
	if got := most.Load(); got != int64(limit) {
		t.Errorf("%d requests inside at once, want at most %d", got, limit)
	}
}
