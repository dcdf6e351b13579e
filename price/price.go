// Package price fetches the BTC price in a fiat currency from a source
// speaking mempool.space's API (GET /prices, GET /historical-price) and
// keeps the current one in the store. Prices are integer cents, converted
// exactly from the decimal the source wrote. Pages read prices from the
// store only, so a source that is down or slow never reaches a reader.
package price

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Defaults of Client.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxBytes  = 64 << 10
	DefaultUserAgent = "treasurywatch (+https://github.com/treasurywatch/treasurywatch)"
)

// Client asks one price source. The zero HTTP, MaxBytes and UserAgent
// mean the defaults.
type Client struct {
	// URL is the API base, e.g. "https://mempool.space/api/v1".
	URL string
	// HTTP is the client used; nil means one with DefaultTimeout.
	HTTP *http.Client
	// MaxBytes caps an answer's size.
	MaxBytes int64
	// UserAgent is sent with every request.
	UserAgent string
	// Now is the clock stamping FetchedAt; nil means time.Now.
	Now func() time.Time
}

// NewClient returns a client of the source at base with the defaults.
func NewClient(base string) *Client {
	return &Client{URL: base, HTTP: &http.Client{Timeout: DefaultTimeout}}
}

// Source names the source for display: the host of its URL.
func (c *Client) Source() string {
	if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
		return u.Hostname()
	}
	return "price source"
}

// Current fetches the current price of one BTC in currency.
func (c *Client) Current(ctx context.Context, currency string) (store.Price, error) {
	var ans map[string]json.Number
	if err := c.get(ctx, "/prices", nil, &ans); err != nil {
		return store.Price{}, err
	}
	return c.price(currency, ans)
}

// Historical fetches the price of one BTC in currency at (in practice,
// the source's sample nearest before) t.
func (c *Client) Historical(ctx context.Context, currency string, t time.Time) (store.Price, error) {
	var ans struct {
		Prices []map[string]json.Number `json:"prices"`
	}
	q := url.Values{"currency": {currency}, "timestamp": {strconv.FormatInt(t.Unix(), 10)}}
	if err := c.get(ctx, "/historical-price", q, &ans); err != nil {
		return store.Price{}, err
	}
	if len(ans.Prices) == 0 {
		return store.Price{}, fmt.Errorf("price %s: %w at %s", c.Source(), ErrNoPrice, t.UTC().Format(time.RFC3339))
	}
	return c.price(currency, ans.Prices[0])
}

// price reads the "time" and currency fields of one answer.
func (c *Client) price(currency string, ans map[string]json.Number) (store.Price, error) {
	src := c.Source()
	ts, err := ans["time"].Int64()
	if err != nil || ts <= 0 {
		return store.Price{}, fmt.Errorf("price %s: bad or missing time %q", src, ans["time"])
	}
	v, ok := ans[currency]
	if !ok {
		return store.Price{}, fmt.Errorf("price %s: no %s price in the answer", src, currency)
	}
	cents, err := Cents(string(v))
	if err != nil {
		return store.Price{}, fmt.Errorf("price %s: %s: %w", src, currency, err)
	}
	if cents <= 0 {
		return store.Price{}, fmt.Errorf("price %s: %s price %s is not positive", src, currency, v)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	return store.Price{Currency: currency, Time: time.Unix(ts, 0).UTC(), Cents: cents, Source: src,
		FetchedAt: now().UTC().Truncate(time.Second)}, nil
}

// get asks base+path?q and decodes the JSON answer into v.
func (c *Client) get(ctx context.Context, path string, q url.Values, v any) error {
	u := strings.TrimRight(c.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("price %s: %w", c.Source(), err)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("price %s: %w", c.Source(), stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("price %s: GET %s: %s", c.Source(), path, resp.Status)
	}
	max := c.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("price %s: GET %s: %w", c.Source(), path, stripURL(err))
	}
	if int64(len(body)) > max {
		return fmt.Errorf("price %s: GET %s: answer larger than %d bytes", c.Source(), path, max)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("price %s: GET %s: not the expected JSON: %w", c.Source(), path, err)
	}
	return nil
}

// stripURL drops the URL from a *url.Error: messages name the source.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// maxCents bounds a price so that value arithmetic stays far from any
// limit: 10^15 cents is ten trillion units per BTC.
const maxCents = 1_000_000_000_000_000

// Cents converts a JSON decimal ("43753", "2254.9", "1.5e3") to integer
// cents exactly, rounding a third decimal half away from zero.
func Cents(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/") || s == "" {
		return 0, fmt.Errorf("price %q is not a decimal number", s)
	}
	r.Mul(r, big.NewRat(100, 1))
	neg := r.Sign() < 0
	r.Abs(r)
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	if !q.IsInt64() || q.Int64() > maxCents || q.Int64() < -maxCents {
		return 0, fmt.Errorf("price %q is out of range", s)
	}
	return q.Int64(), nil
}

// Value is the fiat value, in cents, of sat satoshis at a price of cents
// per BTC, rounded half away from zero; exact whatever the sizes.
func Value(sat, cents int64) int64 {
	v := new(big.Int).Mul(big.NewInt(sat), big.NewInt(cents))
	q, m := new(big.Int).QuoRem(v, big.NewInt(100_000_000), new(big.Int))
	if m.CmpAbs(big.NewInt(50_000_000)) >= 0 {
		if v.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		if q.Sign() < 0 {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	return q.Int64()
}

// ErrNoPrice means the source answered but has no price for the time
// asked (for instance before its history starts).
var ErrNoPrice = errors.New("no historical price")

// Refresher fetches the current price at start and on its schedule and
// stores it, then backfills the daily prices of the days on which ledger
// transactions were confirmed (see Backfill). Failures are logged and
// retried at the next tick, never fatal: the pages go on showing the last
// stored prices with their times.
type Refresher struct {
	client   *Client
	st       *store.Store
	currency string
	sched    watcher.Schedule
	logger   *slog.Logger
	backfill Backfill

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRefresher returns a refresher of currency; a nil logger discards.
func NewRefresher(c *Client, st *store.Store, currency string, sched watcher.Schedule, logger *slog.Logger) *Refresher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Refresher{client: c, st: st, currency: currency, sched: sched, logger: logger,
		backfill: Backfill{Days: DefaultBackfillDays, Gap: DefaultBackfillGap, MissRetry: DefaultMissRetry}}
}

// Refresh fetches the current price once and stores it.
func (r *Refresher) Refresh(ctx context.Context) (store.Price, error) {
	p, err := r.client.Current(ctx, r.currency)
	if err != nil {
		return store.Price{}, err
	}
	if err := r.st.SavePrice(ctx, p); err != nil {
		return store.Price{}, err
	}
	return p, nil
}

// Open starts the loop in its own goroutine; it returns at once.
func (r *Refresher) Open() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.loop(ctx)
	}()
}

// Close stops the loop, cancelling a fetch in flight, and waits for it.
func (r *Refresher) Close() {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

func (r *Refresher) loop(ctx context.Context) {
	for {
		if p, err := r.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Warn("price refresh failed", "source", r.client.Source(), "err", err)
		} else {
			r.logger.Debug("price refreshed", "currency", p.Currency, "cents", p.Cents, "time", p.Time)
		}
		if n, err := r.Backfill(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Warn("historical price backfill stopped", "source", r.client.Source(), "stored", n, "err", err)
		} else if n > 0 {
			r.logger.Debug("historical prices stored", "currency", r.currency, "days", n)
		}
		now := time.Now()
		next := now.Add(15 * time.Minute)
		if r.sched.Schedule != nil {
			next = r.sched.Next(now)
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
