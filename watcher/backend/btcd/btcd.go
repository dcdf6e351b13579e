// Package btcd is the watcher.Backend for a btcd full node that runs with
// --addrindex and --txindex. btcd is the one backend that can hand over
// whole blocks and the mempool (watcher.BlockSource), so a new block costs
// O(1) calls however many scripts are watched, and its address index
// answers a script's full history with the raw transactions included.
//
// The client speaks btcd's JSON-RPC over HTTP POST itself (with btcjson's
// types) instead of going through rpcclient: rpcclient's POST mode sends
// one request at a time, retries a refused connection for about 22 s and
// takes no context, while treasurywatch needs bounded parallelism, a
// deadline on every call and errors a person can act on.
package btcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/treasurywatch/treasurywatch/watcher/backend/internal/netutil"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultConcurrency      = 8
	DefaultPageSize         = 100
	DefaultMaxResponseBytes = 128 << 20
)

// headerCacheMax bounds the header cache; past it the cache starts over.
// Only blocks that touch watched scripts and recent tips are cached, so the
// bound is rarely reached.
const headerCacheMax = 1 << 18

// Config says how to reach btcd. The zero values of the optional fields
// pick the defaults above.
type Config struct {
	// URL is btcd's RPC endpoint: "http://127.0.0.1:18334" for a node
	// started with --notls (loopback only) or "https://host:8334".
	// Credentials in the URL ("http://user:pass@host:port") are used
	// when User and Password are empty, and never shown.
	URL string
	// User and Password are btcd's --rpcuser and --rpcpass.
	User, Password string
	// TLSCert is btcd's rpc.cert (PEM) to trust for an https URL;
	// TLSCertFile names a file holding it. With neither, the system
	// roots are used (for a proxy with a public certificate).
	TLSCert     []byte
	TLSCertFile string
	// Timeout bounds every single RPC request (default 30 s).
	Timeout time.Duration
	// Concurrency is the most RPC requests in flight at once (default 8;
	// btcd serves at most --rpcmaxclients, default 10).
	Concurrency int
	// PageSize is the number of items asked for per request: one
	// searchrawtransactions page, or one JSON-RPC batch (default 100).
	PageSize int
	// MaxResponseBytes bounds one answer (default 128 MiB).
	MaxResponseBytes int64
}

// Client is a watcher.Backend and watcher.BlockSource backed by btcd.
// It is safe for concurrent use.
type Client struct {
	url      string // without credentials; for messages and Name
	endpoint string // with the path, without credentials
	user     string
	pass     string
	params   *chaincfg.Params
	http     *http.Client
	timeout  time.Duration
	pageSize int
	maxBody  int64
	sem      chan struct{}
	logger   *slog.Logger
	nextID   atomic.Uint64

	// CallCounter counts RPC calls per method and HTTP requests per
	// round trip; Requests is lower than Calls().Total() when calls were
	// batched.
	watcher.CallCounter

	headerMu sync.Mutex
	headers  map[chainhash.Hash]header
}

// header is what the client keeps of a block header: a block's height and
// time never change for its hash, so they are cached without expiry.
type header struct {
	height int64
	time   time.Time
}

var (
	_ watcher.Backend     = (*Client)(nil)
	_ watcher.BlockSource = (*Client)(nil)
)

// New returns a client for the btcd at cfg.URL. It does not connect: call
// CheckNetwork to find out whether the node is usable. params is the
// watchlist's network; scripts are turned into addresses for it.
func New(cfg Config, params *chaincfg.Params, logger *slog.Logger) (*Client, error) {
	if params == nil {
		return nil, errors.New("btcd: no network parameters")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("btcd URL %q: want http://host:port or https://host:port", netutil.RedactURL(cfg.URL))
	}
	user, pass := cfg.User, cfg.Password
	if u.User != nil && user == "" && pass == "" {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	u.User = nil
	base := u.Scheme + "://" + u.Host

	var tlsConfig *tls.Config
	pem := cfg.TLSCert
	if len(pem) == 0 && cfg.TLSCertFile != "" {
		if pem, err = os.ReadFile(cfg.TLSCertFile); err != nil {
			return nil, fmt.Errorf("btcd at %s: reading TLS certificate: %w", base, err)
		}
	}
	if len(pem) > 0 {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("btcd at %s: a TLS certificate is set but the URL is http://; use https://", base)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("btcd at %s: the TLS certificate holds no PEM certificate", base)
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}

	c := &Client{
		url:      base,
		endpoint: u.String(),
		user:     user,
		pass:     pass,
		params:   params,
		timeout:  netutil.OrDefault(cfg.Timeout, DefaultTimeout),
		pageSize: netutil.OrDefault(cfg.PageSize, DefaultPageSize),
		maxBody:  netutil.OrDefault(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
		sem:      make(chan struct{}, netutil.OrDefault(cfg.Concurrency, DefaultConcurrency)),
		logger:   logger,
		headers:  make(map[chainhash.Hash]header),
	}
	c.http = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: cap(c.sem),
		TLSHandshakeTimeout: c.timeout,
	}}
	return c, nil
}

// Name identifies the backend in logs and on the methodology page, e.g.
// "btcd http://127.0.0.1:18334". It never contains a credential.
func (c *Client) Name() string { return "btcd " + c.url }

// Close releases idle connections. Calls made after Close still work; the
// client holds no other resources.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// CallCounts is the number of RPC calls made per method, as counted by
// Client.Calls. It is kept so callers can go on naming btcd.CallCounts.
type CallCounts = watcher.CallCounts

// cachedHeader returns the cached height and time of a block.
func (c *Client) cachedHeader(hash chainhash.Hash) (header, bool) {
	c.headerMu.Lock()
	defer c.headerMu.Unlock()
	h, ok := c.headers[hash]
	return h, ok
}

// cacheHeader remembers a block's height and time.
func (c *Client) cacheHeader(hash chainhash.Hash, h header) {
	c.headerMu.Lock()
	defer c.headerMu.Unlock()
	if len(c.headers) >= headerCacheMax {
		clear(c.headers)
	}
	c.headers[hash] = h
}
