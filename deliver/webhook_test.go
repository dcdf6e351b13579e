package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const hookSecret = "whsec-7d1f0c9a"

// hookReceiver is a webhook endpoint on loopback that verifies what a
// receiver must verify and answers with scripted statuses.
type hookReceiver struct {
	t      *testing.T
	secret string

	mu       sync.Mutex
	statuses []int             // answered in turn; 200 once exhausted
	headers  map[string]string // extra response headers
	bodies   [][]byte
	keys     []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.t.Errorf("read body: %v", err)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		h.t.Errorf("got %s with Content-Type %q, want a JSON POST", r.Method, r.Header.Get("Content-Type"))
	}
	if h.secret != "" {
		ts := r.Header.Get("X-Treasurywatch-Timestamp")
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			h.t.Errorf("timestamp header %q: %v", ts, err)
		}
		// Recompute as the package doc tells receivers to.
		mac := hmac.New(sha256.New, []byte(h.secret))
		io.WriteString(mac, ts+".")
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := r.Header.Get("X-Treasurywatch-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
			h.t.Errorf("signature %q, want %q", got, want)
		}
	} else if r.Header.Get("X-Treasurywatch-Signature") != "" {
		h.t.Error("unsigned webhook sent a signature")
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	status := http.StatusOK
	if len(h.statuses) > 0 {
		status, h.statuses = h.statuses[0], h.statuses[1:]
	}
	for k, v := range h.headers {
		w.Header().Set(k, v)
	}
	h.mu.Unlock()
	w.WriteHeader(status)
	if status >= 300 {
		io.WriteString(w, `{"error":"nope"}`)
	}
}

func (h *hookReceiver) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

// startHook serves h on loopback; the URL carries a token in path and
// query, as hosted webhook services do.
func startHook(t *testing.T, h *hookReceiver) string {
	t.Helper()
	h.t = t
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/TOKENPATH123?token=TOKENQUERY456"
}

// hookClient does not keep connections open, so that goroutines idle on
// a socket do not hold synctest's fake clock still.
func hookClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// assertNoSecret fails if s shows the secret or the URL's tokens.
func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{hookSecret, "TOKENPATH123", "TOKENQUERY456"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows secret %q", s, secret)
		}
	}
}

func TestWebhookSignedPost(t *testing.T) {
	for _, secret := range []string{hookSecret, ""} {
		t.Run("secret="+strconv.FormatBool(secret != ""), func(t *testing.T) {
			h := &hookReceiver{secret: secret}
			url := startHook(t, h)
			w := NewWebhook(WebhookConfig{URL: url, Secret: secret}, nil)
			m := testMessage()
			if err := w.Send(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if h.requests() != 1 || string(h.bodies[0]) != string(m.JSON) || h.keys[0] != m.ID {
				t.Errorf("received bodies %q keys %q, want %q with key %q", h.bodies, h.keys, m.JSON, m.ID)
			}
		})
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name        string
		statuses    []int
		headers     map[string]string
		wantErr     string // "" = delivered
		permanent   bool
		attempts    int
		minFirstGap time.Duration
	}{
		{name: "503 twice then accepted", statuses: []int{503, 503}, attempts: 3},
		{name: "408 and 429 are retryable", statuses: []int{408, 429}, attempts: 3},
		{name: "400 is permanent", statuses: []int{400}, attempts: 1, permanent: true,
			wantErr: `attempt 1 failed permanently: webhook POST http://127.0.0.1:`},
		{name: "redirect is permanent", statuses: []int{302}, headers: map[string]string{"Location": "/elsewhere?token=TOKENQUERY456"},
			attempts: 1, permanent: true, wantErr: "302 Found"},
		{name: "5xx until out of attempts", statuses: []int{500, 502, 503, 504}, attempts: 4,
			wantErr: `gave up after 4 attempts: webhook POST http://127.0.0.1:`},
		{name: "Retry-After honoured", statuses: []int{429}, headers: map[string]string{"Retry-After": "120"},
			attempts: 2, minFirstGap: 120 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &hookReceiver{secret: hookSecret, statuses: tc.statuses, headers: tc.headers}
			url := startHook(t, h)
			synctest.Test(t, func(t *testing.T) {
				w := NewWebhook(WebhookConfig{URL: url, Secret: hookSecret, Timeout: 5 * time.Second}, hookClient())
				var attempts []Attempt
				start := time.Now()
				err := Deliver(t.Context(), w, testMessage(), Policy{Attempts: 4, Initial: time.Second, Max: 8 * time.Second},
					func(a Attempt) { attempts = append(attempts, a) })
				if tc.wantErr == "" && err != nil {
					t.Fatalf("deliver: %v", err)
				}
				if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if err != nil {
					assertNoSecret(t, err.Error())
					if IsPermanent(err) != tc.permanent {
						t.Errorf("permanent = %v, want %v", IsPermanent(err), tc.permanent)
					}
				}
				if len(attempts) != tc.attempts || h.requests() != tc.attempts {
					t.Fatalf("%d attempts recorded, %d requests received, want %d", len(attempts), h.requests(), tc.attempts)
				}
				for i, a := range attempts {
					last := i == len(attempts)-1
					if a.N != i+1 || a.Target != "webhook" || a.Done != (last && tc.wantErr == "") || a.Permanent != (last && tc.permanent) {
						t.Errorf("attempt %d = %+v", i+1, a)
					}
					if (a.Err == nil) != a.Done {
						t.Errorf("attempt %d: Done %v with error %v", i+1, a.Done, a.Err)
					}
					if a.Err != nil {
						assertNoSecret(t, a.Err.Error())
					}
				}
				for i, k := range h.keys {
					if k != testMessage().ID || string(h.bodies[i]) != string(testMessage().JSON) {
						t.Errorf("request %d: key %q body %q, want the same key and body on every retry", i+1, k, h.bodies[i])
					}
				}
				if !attempts[0].At.Equal(start) {
					t.Errorf("first attempt at %v, want %v", attempts[0].At, start)
				}
				if tc.minFirstGap > 0 {
					if gap := attempts[1].At.Sub(attempts[0].At); gap < tc.minFirstGap {
						t.Errorf("second attempt %v after the first, want at least the Retry-After %v", gap, tc.minFirstGap)
					}
				}
			})
		})
	}
}

func TestWebhookNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/TOKENPATH123?token=TOKENQUERY456"
	srv.Close()
	w := NewWebhook(WebhookConfig{URL: url, Secret: hookSecret}, nil)
	err := w.Send(t.Context(), testMessage())
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want a retryable connection error", err)
	}
	assertNoSecret(t, err.Error())

	slow := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-slow:
		}
	}))
	defer hang.Close()
	defer close(slow)
	w = NewWebhook(WebhookConfig{URL: hang.URL + "/hooks/TOKENPATH123", Timeout: 50 * time.Millisecond}, nil)
	err = w.Send(t.Context(), testMessage())
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}
	assertNoSecret(t, err.Error())
}

func TestWebhookBadInput(t *testing.T) {
	tests := []struct {
		name, url string
		m         Message
		want      string
	}{
		{"no JSON", "http://127.0.0.1:1/hook", Message{ID: "alert/1"}, `message "alert/1" has no JSON body`},
		{"relative URL", "/hook?token=TOKENQUERY456", testMessage(), "URL must be absolute http or https"},
		{"ftp URL", "ftp://example.org/TOKENPATH123", testMessage(), "URL must be absolute http or https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NewWebhook(WebhookConfig{URL: tc.url, Secret: hookSecret}, nil).Send(t.Context(), tc.m)
			if !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a permanent error containing %q", err, tc.want)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"999999999999", time.Hour},
		{"Sun, 06 Dec 2026 08:02:00 GMT", 2 * time.Minute},
		{"Sun, 06 Dec 2026 07:00:00 GMT", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://hooks.example.org/services/T0/B0/XYZ": "https://hooks.example.org/…",
		"https://user:pw@example.org/?token=abc":       "https://example.org/…",
		"http://127.0.0.1:8080":                        "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":                       "http://127.0.0.1:8080",
		"%zz://user:secret@host":                       "(invalid URL)",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSign pins the signed string documented in the package doc.
func TestSign(t *testing.T) {
	got := Sign("key", 1765008000, []byte(`{"a":1}`))
	mac := hmac.New(sha256.New, []byte("key"))
	io.WriteString(mac, `1765008000.{"a":1}`)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
