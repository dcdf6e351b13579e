// Package esplora is the watcher.Backend for an Esplora HTTP API
// (Blockstream's esplora/electrs, mempool.space, a self-hosted instance).
//
// Esplora answers a script's history in pages of 25 transactions, newest
// first, and keeps per-script counters (chain_stats, mempool_stats) that
// change whenever the history does. The client reads the counters first and
// refuses any paged history whose length disagrees with them: a page
// cursor that vanished in a reorg makes the server answer an empty page
// instead of an error, so the counters are the only way to notice. The
// counters also make the client a watcher.StatusSource: an unchanged
// script costs one request.
//
// Public instances throttle (HTTP 429) and ban clients that keep going, so
// every request passes a token-bucket rate limiter and a concurrency bound,
// and 429/500/502/503/504 answers and timeouts are retried with exponential
// backoff, honouring Retry-After.
package esplora

import (
	"errors"
	"fmt"
	"github.com/treasurywatch/treasurywatch/watcher/backend/internal/netutil"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"golang.org/x/time/rate"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	DefaultRatePerSecond    = 4
	DefaultRetries          = 6
	DefaultConcurrency      = 4
	// DefaultBackoff is the wait before the first retry; it doubles
	// with every further retry (rust-esplora-client's policy).
	DefaultBackoff = 256 * time.Millisecond
)

// PageSize is the number of confirmed transactions Esplora returns per
// /txs/chain page. A page with fewer ends the history.
const PageSize = 25

// maxBackoff bounds the client's own wait between two tries.
const maxBackoff = time.Minute

// maxRetryAfter bounds how long one Retry-After answer can make the client
// wait; a server asking for longer is treated as refusing.
const maxRetryAfter = 2 * time.Minute

// Cache bounds; past them a cache starts over.
const (
	headerCacheMax = 1 << 16
	txidsCacheMax  = 64
)

// Kinds of failure, for errors.Is.
var (
	// ErrUnreachable: no usable answer from the server (refused, timed
	// out, throttled or failing beyond the retry budget, not Esplora).
	ErrUnreachable = errors.New("esplora unreachable")
	// ErrWrongNetwork: the server follows another chain than the
	// watchlist.
	ErrWrongNetwork = errors.New("esplora on another network")
	// ErrHistoryChanged: a script's history moved while its pages were
	// read (new block, reorg); trying again later will do.
	ErrHistoryChanged = errors.New("esplora history changed while read")
)

// UserAgent returns the User-Agent sent by a client of treasurywatch
// version.
func UserAgent(version string) string {
	return "treasurywatch/" + version + " (+https://github.com/treasurywatch/treasurywatch)"
}

// Config says how to reach an Esplora server. The zero values of the
// optional fields pick the defaults above.
type Config struct {
	// URL is the API base, e.g. "https://mempool.space/api" or
	// "https://blockstream.info/testnet/api"; paths such as
	// /blocks/tip/hash are appended to it.
	URL string
	// Timeout bounds every single HTTP request (default 30 s).
	Timeout time.Duration
	// MaxResponseBytes bounds one answer (default 32 MiB).
	MaxResponseBytes int64
	// RatePerSecond is the most requests started per second, retries
	// included (default 4; Blockstream's own nginx allows 5).
	RatePerSecond float64
	// Burst is how many requests may start at once after a quiet spell
	// (default: RatePerSecond rounded up).
	Burst int
	// Retries is how many times a throttled, failing or timed-out
	// request is tried again (default 6; negative means none).
	Retries int
	// Concurrency is the most requests in flight at once (default 4).
	Concurrency int
	// UserAgent is sent with every request (default UserAgent("dev")).
	UserAgent string
}

// Client is a watcher.Backend and watcher.StatusSource backed by an
// Esplora HTTP API. It is safe for concurrent use.
type Client struct {
	url       string // base URL without credentials and trailing slash
	user      *url.Userinfo
	params    *chaincfg.Params
	http      *http.Client
	timeout   time.Duration
	maxBody   int64
	retries   int
	backoff   time.Duration // first retry wait; tests shorten it
	userAgent string
	limiter   *rate.Limiter
	sem       chan struct{}
	logger    *slog.Logger

	// CallCounter counts HTTP requests per endpoint (e.g.
	// "GET /scripthash/:h/txs/chain"); every request carries one call, so
	// Requests equals Calls().Total().
	watcher.CallCounter

	cacheMu sync.Mutex
	headers map[chainhash.Hash]header
	txids   map[chainhash.Hash][]chainhash.Hash
	// claims are the outputs history pages listed per txid, checked
	// against the raw transaction when it is fetched (claims.go).
	claims map[chainhash.Hash][]voutJSON
}

// header is what the client keeps of a block: its height, time and merkle
// root never change for its hash, so they are cached without expiry.
type header struct {
	height int64
	time   time.Time
	merkle chainhash.Hash
}

var (
	_ watcher.Backend      = (*Client)(nil)
	_ watcher.StatusSource = (*Client)(nil)
)

// New returns a client for the Esplora API at cfg.URL. It does not
// connect: call CheckNetwork to find out whether the server is usable.
// params is the watchlist's network.
func New(cfg Config, params *chaincfg.Params, logger *slog.Logger) (*Client, error) {
	if params == nil {
		return nil, errors.New("esplora: no network parameters")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("esplora URL %q: want http(s)://host[:port][/path], e.g. https://mempool.space/api", netutil.RedactURL(cfg.URL))
	}
	user := u.User
	u.User = nil
	base := strings.TrimRight(u.String(), "/")

	rps := cfg.RatePerSecond
	if rps <= 0 {
		rps = DefaultRatePerSecond
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = max(1, int(rps+0.999))
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = UserAgent("dev")
	}
	c := &Client{
		url:       base,
		user:      user,
		params:    params,
		timeout:   netutil.OrDefault(cfg.Timeout, DefaultTimeout),
		maxBody:   netutil.OrDefault(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
		retries:   retries,
		backoff:   DefaultBackoff,
		userAgent: ua,
		limiter:   rate.NewLimiter(rate.Limit(rps), burst),
		sem:       make(chan struct{}, netutil.OrDefault(cfg.Concurrency, DefaultConcurrency)),
		logger:    logger,
		headers:   make(map[chainhash.Hash]header),
		txids:     make(map[chainhash.Hash][]chainhash.Hash),
	}
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: cap(c.sem),
			TLSHandshakeTimeout: c.timeout,
			ForceAttemptHTTP2:   true,
		},
		// Esplora never redirects API calls; a redirect means a
		// wrong URL (a web page, a login portal).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Name identifies the backend in logs and on the methodology page, e.g.
// "esplora https://mempool.space/api". It never contains a credential.
func (c *Client) Name() string { return "esplora " + c.url }

// Close releases idle connections. Calls made after Close still work.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// CallCounts is the number of HTTP requests made per endpoint, as counted
// by Client.Calls. It is kept so callers can go on naming
// esplora.CallCounts.
type CallCounts = watcher.CallCounts

// cachedHeader returns the cached header of a block.
func (c *Client) cachedHeader(hash chainhash.Hash) (header, bool) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	h, ok := c.headers[hash]
	return h, ok
}

// cacheHeader remembers a block's header.
func (c *Client) cacheHeader(hash chainhash.Hash, h header) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if len(c.headers) >= headerCacheMax {
		clear(c.headers)
	}
	c.headers[hash] = h
}

// cachedTxids returns the cached txids of a block.
func (c *Client) cachedTxids(hash chainhash.Hash) ([]chainhash.Hash, bool) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	ids, ok := c.txids[hash]
	return ids, ok
}

// cacheTxids remembers a block's txids (checked against its merkle root).
func (c *Client) cacheTxids(hash chainhash.Hash, ids []chainhash.Hash) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if len(c.txids) >= txidsCacheMax {
		clear(c.txids)
	}
	c.txids[hash] = ids
}

// esploraError is a failure phrased for the person who runs treasurywatch:
// its text says where and what, while errors.Is/As still reach the kind
// and the Go cause underneath.
type esploraError struct {
	msg   string
	kind  error
	cause error
}

func (e *esploraError) Error() string { return e.msg }

func (e *esploraError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// errorf makes an esploraError whose text starts with "esplora at URL".
func (c *Client) errorf(kind, cause error, format string, args ...any) error {
	return &esploraError{msg: "esplora at " + c.url + fmt.Sprintf(format, args...), kind: kind, cause: cause}
}
