// Package electrum is the watcher.Backend for an Electrum protocol server
// (ElectrumX, Fulcrum, electrs): newline-delimited JSON-RPC over TCP or
// TLS, protocol 1.4 to 1.6. Histories come from
// blockchain.scripthash.get_history, statuses from
// blockchain.scripthash.subscribe (a watcher.StatusSource, so an unchanged
// script costs no history request), raw transactions from
// blockchain.transaction.get and headers from blockchain.block.header.
//
// One connection carries every request: calls are sent as JSON-RPC batches
// of Config.BatchSize, several batches in flight at once, and one reader
// goroutine matches answers to requests by id. A dropped connection fails
// the requests in flight with a sentence saying so (each is tried once
// more, as every call only reads) and the next call dials again, with a
// growing pause after repeated failures.
//
// The Electrum protocol finds blocks only by height. BlockTxids therefore
// needs a block the client has already seen through Tip or BlockAt (the
// engine always asks BlockAt first); the txids, read with
// blockchain.transaction.id_from_pos, are checked against the header's
// merkle root.
package electrum

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/treasurywatch/treasurywatch/watcher/backend/internal/netutil"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultBatchSize    = 100
	DefaultMaxLineBytes = 64 << 20
	// MaxBatchSize is the largest accepted BatchSize: Fulcrum refuses
	// batches of 345 calls or more (its max_batch).
	MaxBatchSize = 344
)

// pipelineDepth is the most batches one method call keeps in flight on the
// connection at once.
const pipelineDepth = 4

// heightCacheMax bounds the block hash → height cache; past it the cache
// starts over.
const heightCacheMax = 1 << 18

// Config says how to reach the Electrum server. The zero values of the
// optional fields pick the defaults above.
type Config struct {
	// URL is "tcp://host:50001" for a plain connection or
	// "ssl://host:50002" for TLS ("tls://" is the same). Without a port,
	// 50001 and 50002 are used.
	URL string
	// TLSFingerprint pins the server's certificate, for the self-signed
	// certificates most Electrum servers use: "sha256:" and the hex
	// SHA-256 of the certificate (DER), colons allowed. With a pin the
	// certificate authority and host name are not checked.
	TLSFingerprint string
	// InsecureSkipVerify accepts any certificate. It is an explicit
	// opt-in; prefer TLSFingerprint.
	InsecureSkipVerify bool
	// Timeout bounds connecting and every single request (default 30 s).
	Timeout time.Duration
	// BatchSize is the number of calls per JSON-RPC batch (default 100,
	// at most MaxBatchSize).
	BatchSize int
	// MaxLineBytes bounds one answer line (default 64 MiB).
	MaxLineBytes int
	// ClientVersion is sent in server.version as "treasurywatch
	// <ClientVersion>" (default "dev").
	ClientVersion string
}

// Client is a watcher.Backend and watcher.StatusSource backed by an
// Electrum server. It is safe for concurrent use.
type Client struct {
	url        string // scheme://host:port, for messages and Name
	addr       string // host:port
	tlsConfig  *tls.Config
	params     *chaincfg.Params
	timeout    time.Duration
	batchSize  int
	maxLine    int
	clientName string
	logger     *slog.Logger
	nextID     atomic.Uint64
	failures   atomic.Int32 // consecutive connection failures, for the backoff

	// connSem (capacity 1) guards sess, closed and server: holding it
	// is the right to dial.
	connSem chan struct{}
	sess    *session
	closed  bool
	server  [2]string // software and protocol version of the last handshake

	// CallCounter counts RPC calls per method (server.version included)
	// and messages (lines) sent; Requests is lower than Calls().Total()
	// when calls were batched.
	watcher.CallCounter

	heightMu sync.Mutex
	heights  map[chainhash.Hash]int64
}

var (
	_ watcher.Backend      = (*Client)(nil)
	_ watcher.StatusSource = (*Client)(nil)
)

// New returns a client for the Electrum server at cfg.URL. It does not
// connect: call CheckNetwork to find out whether the server is usable.
// params is the watchlist's network.
func New(cfg Config, params *chaincfg.Params, logger *slog.Logger) (*Client, error) {
	if params == nil {
		return nil, errors.New("electrum: no network parameters")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("electrum URL %q: want tcp://host:port or ssl://host:port", netutil.RedactURL(cfg.URL))
	}
	var useTLS bool
	port := u.Port()
	switch u.Scheme {
	case "tcp":
		if port == "" {
			port = "50001"
		}
	case "ssl", "tls":
		useTLS = true
		if port == "" {
			port = "50002"
		}
	default:
		return nil, fmt.Errorf("electrum URL %q: want tcp://host:port or ssl://host:port", netutil.RedactURL(cfg.URL))
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	base := u.Scheme + "://" + addr
	if cfg.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("electrum at %s: batch size %d is too large; servers refuse batches above %d calls", base, cfg.BatchSize, MaxBatchSize)
	}
	var tlsConfig *tls.Config
	switch {
	case !useTLS && (cfg.TLSFingerprint != "" || cfg.InsecureSkipVerify):
		return nil, fmt.Errorf("electrum at %s: TLS options are set but the URL is tcp://; use ssl://", base)
	case cfg.TLSFingerprint != "" && cfg.InsecureSkipVerify:
		return nil, fmt.Errorf("electrum at %s: set either a TLS fingerprint or InsecureSkipVerify, not both", base)
	case useTLS:
		tlsConfig, err = makeTLSConfig(u.Hostname(), cfg.TLSFingerprint, cfg.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("electrum at %s: %w", base, err)
		}
	}
	version := cfg.ClientVersion
	if version == "" {
		version = "dev"
	}
	return &Client{
		url:        base,
		addr:       addr,
		tlsConfig:  tlsConfig,
		params:     params,
		timeout:    netutil.OrDefault(cfg.Timeout, DefaultTimeout),
		batchSize:  netutil.OrDefault(cfg.BatchSize, DefaultBatchSize),
		maxLine:    netutil.OrDefault(cfg.MaxLineBytes, DefaultMaxLineBytes),
		clientName: "treasurywatch " + version,
		logger:     logger,
		connSem:    make(chan struct{}, 1),
		heights:    make(map[chainhash.Hash]int64),
	}, nil
}

// Name identifies the backend in logs and on the methodology page, e.g.
// "electrum ssl://electrum.example:50002". It never contains a credential.
func (c *Client) Name() string { return "electrum " + c.url }

// Server returns the server software and protocol version the last
// handshake agreed on (empty before the first connection).
func (c *Client) Server() (software, protocol string) {
	c.connSem <- struct{}{}
	defer func() { <-c.connSem }()
	return c.server[0], c.server[1]
}

// Close closes the connection and fails the requests in flight; calls
// made after Close fail.
func (c *Client) Close() error {
	c.connSem <- struct{}{}
	defer func() { <-c.connSem }()
	c.closed = true
	if c.sess != nil {
		c.sess.fail(errClosed)
		c.sess = nil
	}
	return nil
}

// CallCounts is the number of RPC calls made per method, as counted by
// Client.Calls. It is kept so callers can go on naming electrum.CallCounts.
type CallCounts = watcher.CallCounts

// count records one message carrying calls.
func (c *Client) count(calls []*call) {
	methods := make([]string, len(calls))
	for i, cl := range calls {
		methods[i] = cl.method
	}
	c.Count(methods...)
}

// cachedHeight returns the height at which the client saw a block.
func (c *Client) cachedHeight(hash chainhash.Hash) (int64, bool) {
	c.heightMu.Lock()
	defer c.heightMu.Unlock()
	h, ok := c.heights[hash]
	return h, ok
}

// cacheHeight remembers a block's height.
func (c *Client) cacheHeight(hash chainhash.Hash, height int64) {
	c.heightMu.Lock()
	defer c.heightMu.Unlock()
	if len(c.heights) >= heightCacheMax {
		clear(c.heights)
	}
	c.heights[hash] = height
}
