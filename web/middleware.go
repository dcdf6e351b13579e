package web

import (
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// contentSecurityPolicy allows nothing but this site: no inline script or
// style, no other host, no framing. Pages therefore carry no inline
// script or style attribute, and nothing is fetched from a CDN.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// inFlightPerCPU bounds the requests served at once, per CPU. Past it a
// request waits its turn in arrival order: without the bound, hundreds of
// requests contend for the SQLite connections, which are handed out in no
// order, and an unlucky reader waits seconds while others pass.
const inFlightPerCPU = 4

// MaxURLBytes bounds a request's path and query: no page or API answer
// needs more, and a longer one is refused with 414 before any routing.
const MaxURLBytes = 4 << 10

// middleware wraps every route: security headers on every answer (errors
// included), URLs of at most MaxURLBytes, GET/HEAD only, a bounded number
// of requests served at once, no stack trace ever reaching a client, and
// request metrics by route pattern.
func (s *Server) middleware(next http.Handler) http.Handler {
	turns := make(chan struct{}, max(8, inFlightPerCPU*runtime.GOMAXPROCS(0)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, head: r.Method == http.MethodHead}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("web: handler panic", "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					writeJSONError(rec, http.StatusInternalServerError, "internal error")
				}
			}
			s.metrics.observe(r.Pattern, rec.status, time.Since(start))
		}()
		if len(r.RequestURI) > MaxURLBytes || len(r.URL.RequestURI()) > MaxURLBytes {
			writeJSONError(rec, http.StatusRequestURITooLong, "the URL is too long")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeJSONError(rec, http.StatusMethodNotAllowed, "method not allowed: this site is read-only (GET, HEAD)")
			return
		}
		if isPublicData(r.URL.Path) {
			// Public, credential-free data: any site may read it.
			h.Set("Access-Control-Allow-Origin", "*")
		}
		select { // blocked senders are served first come, first served
		case turns <- struct{}{}:
			defer func() { <-turns }()
		case <-r.Context().Done():
			return // the client gave up while waiting
		}
		next.ServeHTTP(rec, r)
	})
}

// isPublicData reports whether a path is API, feed or CSV data that other
// sites may fetch from a browser.
func isPublicData(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasSuffix(path, ".atom")
}

// statusRecorder remembers the status for metrics and whether anything
// was written (so a panic after the header is not answered twice); for
// HEAD it drops the body.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	head   bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.head {
		return len(b), nil
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// userinfoRE matches the user[:password]@ part of a URL.
var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]*@`)

// queryRE matches a URL's query string, where API keys travel.
var queryRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#]*)\?[^\s#]*`)

// redact strips credentials and query strings from URLs in text that the
// daemon reports (it should never contain secrets; this is the second
// line of defence) and bounds its length.
func redact(text string, max int) string {
	text = userinfoRE.ReplaceAllString(text, "$1")
	text = queryRE.ReplaceAllString(text, "$1")
	text = strings.ToValidUTF8(text, "\uFFFD")
	if utf8.RuneCountInString(text) > max {
		r := []rune(text)
		text = string(r[:max]) + "…"
	}
	return text
}
