package esplora

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// statusError is an HTTP answer other than 200 that is final (not retried,
// or retried in vain).
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// hasStatus reports whether err is the server's answer with HTTP status code.
func hasStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == code
}

// getText is get for the endpoints that answer one line of text (a hash,
// a height).
func (c *Client) getText(ctx context.Context, endpoint, path string) (string, error) {
	raw, err := c.get(ctx, endpoint, path)
	return strings.TrimSpace(string(raw)), err
}

// get fetches path (below the base URL) and returns the body of a 200
// answer. endpoint names the path's template for the call counts. Throttled
// (429), failing (500, 502, 503, 504), timed-out and cut-off requests are
// tried again up to the retry budget, waiting Retry-After when the server
// sent one and an exponential backoff otherwise.
func (c *Client) get(ctx context.Context, endpoint, path string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		raw, retryAfter, retry, err := c.once(ctx, endpoint, path)
		if err == nil {
			return raw, nil
		}
		if !retry {
			return nil, err
		}
		if attempt >= c.retries {
			if attempt == 0 {
				return nil, err
			}
			return nil, &esploraError{msg: fmt.Sprintf("%s (gave up after %d tries)", err, attempt+1), kind: ErrUnreachable, cause: err}
		}
		wait := min(c.backoff<<min(attempt, 16), maxBackoff)
		if retryAfter >= 0 {
			wait = retryAfter
		}
		if wait > maxRetryAfter {
			return nil, c.errorf(ErrUnreachable, err, ": GET %s: the server asks to wait %v before trying again; try later", path, wait.Round(time.Second))
		}
		c.logger.Debug("esplora request failed, retrying", "backend", c.url, "path", path, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.errorf(nil, ctx.Err(), ": GET %s: %v", path, ctx.Err())
		}
	}
}

// once makes one request within the client's concurrency bound, rate limit
// and timeout. retryAfter is the server's Retry-After (negative when it
// sent none); retry says whether trying again may help.
func (c *Client) once(ctx context.Context, endpoint, path string) (raw []byte, retryAfter time.Duration, retry bool, err error) {
	retryAfter = -1
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, retryAfter, false, c.errorf(nil, ctx.Err(), ": GET %s: %v", path, ctx.Err())
	}
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, retryAfter, false, c.errorf(nil, ctx.Err(), ": GET %s: %v", path, ctx.Err())
		}
		// The deadline comes before the rate limit lets the request go.
		return nil, retryAfter, false, c.errorf(nil, err, ": GET %s: the rate limit (%.3g/s) leaves no time before the deadline", path, float64(c.limiter.Limit()))
	}
	c.Count(endpoint)
	defer func() {
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusNotFound {
			c.Finish(watcher.OutcomeNotFound)
			return
		}
		c.Finish(watcher.OutcomeOf(err))
	}()

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return nil, retryAfter, false, c.errorf(nil, err, ": GET %s: %v", path, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.user != nil {
		pass, _ := c.user.Password()
		req.SetBasicAuth(c.user.Username(), pass)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, retryAfter, c.retryable(ctx, err), c.transportError(ctx, path, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, retryAfter, c.retryable(ctx, err), c.transportError(ctx, path, err)
	}
	if int64(len(raw)) > c.maxBody {
		return nil, retryAfter, false, c.errorf(ErrUnreachable, nil, ": GET %s: the answer is larger than %d bytes (MaxResponseBytes); refusing it", path, c.maxBody)
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.Debug("esplora request", "backend", c.url, "path", path, "status", resp.StatusCode,
			"bytes", len(raw), "took", time.Since(start).Round(time.Microsecond))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return raw, retryAfter, false, nil
	case http.StatusNotFound:
		return nil, retryAfter, false, c.errorf(nil, &statusError{resp.StatusCode, snippet(raw)}, ": GET %s: not found (%s)", path, snippet(raw))
	case http.StatusTooManyRequests:
		return nil, parseRetryAfter(resp.Header.Get("Retry-After")), true,
			c.errorf(ErrUnreachable, &statusError{resp.StatusCode, snippet(raw)}, ": GET %s: throttled (HTTP 429 Too Many Requests); lower the rate per second", path)
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return nil, parseRetryAfter(resp.Header.Get("Retry-After")), true,
			c.errorf(ErrUnreachable, &statusError{resp.StatusCode, snippet(raw)}, ": GET %s: server error %q: %s", path, resp.Status, snippet(raw))
	}
	return nil, retryAfter, false, c.errorf(ErrUnreachable, &statusError{resp.StatusCode, snippet(raw)},
		": GET %s: unexpected HTTP status %q: %s (is this an Esplora API base URL?)", path, resp.Status, snippet(raw))
}

// retryable reports whether a transport error may go away on a retry: a
// request timeout or a connection cut short, but not the caller giving up.
func (c *Client) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || isTimeout(err) || isCutOff(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isCutOff(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

// transportError turns a net/http error into a sentence naming the cause.
func (c *Client) transportError(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil { // the caller gave up, not the server
		return c.errorf(nil, ctx.Err(), ": GET %s: %v", path, ctx.Err())
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return c.errorf(ErrUnreachable, err, ": connection refused — is it running?")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return c.errorf(ErrUnreachable, err, ": GET %s: no whole answer within %v", path, c.timeout)
	case errors.As(err, &dnsErr):
		return c.errorf(ErrUnreachable, err, ": cannot resolve host %q", dnsErr.Name)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return c.errorf(ErrUnreachable, err, ": GET %s: the answer was cut off (truncated body)", path)
	case isCutOff(err):
		return c.errorf(ErrUnreachable, err, ": GET %s: connection closed before the whole answer", path)
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	return c.errorf(ErrUnreachable, err, ": GET %s: %s", path, msg)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns a negative duration when there is none.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return -1
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return -1
}

// snippet returns the start of a body for an error message.
func snippet(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 120 {
		s = s[:120]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}
