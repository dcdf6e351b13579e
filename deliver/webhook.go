package deliver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook POST; see the package doc for the signed
// string.
const (
	HeaderSignature      = "X-Treasurywatch-Signature"
	HeaderTimestamp      = "X-Treasurywatch-Timestamp"
	HeaderKind           = "X-Treasurywatch-Kind"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Defaults of WebhookConfig.
const (
	DefaultWebhookTimeout = 30 * time.Second
	DefaultUserAgent      = "treasurywatch-deliver/1"
)

// WebhookConfig says where and how to POST. Secret, when set, signs every
// request so the receiver can tell it came from this daemon.
type WebhookConfig struct {
	URL       string        // http or https; may hold a token in its path or query, never shown in errors
	Secret    string        // HMAC key; empty = unsigned
	Timeout   time.Duration // per request; 0 = DefaultWebhookTimeout
	UserAgent string        // "" = DefaultUserAgent
}

// Webhook POSTs Message.JSON to one URL, for chat bots, paging systems and
// anyone integrating programmatically.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	shown  string // the URL as errors may show it
}

// NewWebhook returns a Target POSTing to cfg.URL through client (nil =
// a default client; its transport, proxy and TLS settings are used).
// Redirects are never followed: a webhook that moved is a configuration
// error worth seeing, and following would turn the POST into a GET.
func NewWebhook(cfg WebhookConfig, client *http.Client) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	var c http.Client
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Webhook{cfg: cfg, client: &c, shown: redactURL(cfg.URL)}
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Sign returns the X-Treasurywatch-Signature value for body sent at
// timestamp ts (unix seconds); receivers in Go can call it to verify.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send makes one POST. 2xx is success; 408, 429, 5xx and network errors
// are retryable (with the server's Retry-After); other statuses are
// permanent.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	what := "webhook POST " + w.shown
	u, err := url.Parse(w.cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Permanent(fmt.Errorf("%s: URL must be absolute http or https", what))
	}
	if len(m.JSON) == 0 {
		return Permanent(fmt.Errorf("%s: message %q has no JSON body", what, m.ID))
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(m.JSON))
	if err != nil {
		return Permanent(fmt.Errorf("%s: build request: %s", what, redactText(err.Error(), w.cfg.URL)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	if m.ID != "" {
		req.Header.Set(HeaderIdempotencyKey, m.ID)
	}
	if m.Kind != "" {
		req.Header.Set(HeaderKind, m.Kind)
	}
	if w.cfg.Secret != "" {
		ts := time.Now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, m.JSON))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error prints the full URL, tokens included: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &Error{Err: fmt.Errorf("%s: %w", what, redactErr(err, w.cfg.URL))}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s: %s%s", what, resp.Status, bodySnippet(snippet))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return &Error{Err: err, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return Permanent(err)
	}
}

// maxRetryAfter caps a receiver's Retry-After, so a typo on the other side
// cannot park a delivery for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// bodySnippet shows the start of an error response, which often says
// what the receiver disliked.
func bodySnippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return ": " + s
}
