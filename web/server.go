// Package web is treasurywatch's public face: the transparency dashboard
// (server-rendered HTML that works without JavaScript), the JSON API v1
// with its CSV twins, Atom feeds of flows, and health and metrics
// endpoints. Every answer is read from the SQLite ledger as of the last
// published sync and states the block it is true at; no request ever
// reaches a chain backend, and no route changes anything.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Defaults for the zero values of Config.
const (
	DefaultListen     = "127.0.0.1:8080"
	DefaultStaleAfter = 30 * time.Minute
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// its request line and headers, so a slow-header client (slowloris)
	// cannot hold a connection open.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultMaxHeaderBytes bounds the request line plus headers; larger
	// requests are answered 431 by net/http.
	DefaultMaxHeaderBytes = 16 << 10
)

// Config is what the daemon tells the web server. The zero value serves on
// DefaultListen without explorer links.
type Config struct {
	// Listen is the TCP address to serve on; "127.0.0.1:0" picks a port.
	Listen string
	// PublicURL is the site's absolute address ("https://treasury.example"),
	// used for links that leave the page: Atom feeds. Empty means the
	// address the server listens on.
	PublicURL string
	// ExplorerTxURL is prefixed to a txid to link a flow to a block
	// explorer ("https://mempool.space/tx/"); empty means no link. It must
	// be an absolute http(s) URL.
	ExplorerTxURL string
	// StaleAfter is how old the last successful sync may be before pages
	// warn that the figures are stale and /readyz fails.
	StaleAfter time.Duration
	// PriceCurrency is the currency of the fiat values shown beside BTC,
	// read from the store's prices (filled by package price); empty shows
	// none.
	PriceCurrency string
	// ReadHeaderTimeout bounds the reading of a request's headers
	// (default DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers (default
	// DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// RecheckAfter is how long requests may rely on the last check of
	// which sync is published; 0 checks on every request. The daemon
	// tells the server of its own syncs at once (SetSyncStatus), so a
	// second here only delays what another process (a one-shot sync,
	// a price refresh) publishes, by at most that second, and saves a
	// query on every request under load.
	RecheckAfter time.Duration
}

// SyncStatus is the daemon's report of its last sync attempt. Pages show
// it when the attempt failed, so a reader knows the figures are not
// keeping up and why.
type SyncStatus struct {
	// At is when the attempt finished.
	At time.Time
	// OK is whether it published a new ledger.
	OK bool
	// Error is the failure as a person should read it; URLs in it are
	// stripped of credentials again before display.
	Error string
	// Backend names the backend asked (e.g. "esplora https://host/api").
	Backend string
	// Failover, when the primary backend failed and the next one served
	// the sync, says so: "served by esplora http://… because btcd …
	// failed: …". Empty when the primary served.
	Failover string
}

// Server serves the dashboard, API, feeds and metrics from one store.
type Server struct {
	cfg     Config
	wl      *watcher.Watchlist
	st      *store.Store
	ledger  *watcher.Ledger
	logger  *slog.Logger
	reg     *prometheus.Registry
	pages   map[string]*template.Template
	static  map[string]staticFile
	handler http.Handler
	metrics *httpMetrics
	// now is the clock (tests move it).
	now func() time.Time
	// entityIdx and addrIdx find watchlist entries by id and address.
	entityIdx map[string]int
	addrIdx   map[string][2]int

	mu         sync.Mutex
	snap       *snapshot
	cache      map[string]*rendered
	cacheBytes int
	status     SyncStatus
	hasStatus  bool
	statusSeq  uint64
	// checkedAt is when current last confirmed snap is the published
	// ledger (see Config.RecheckAfter); zero forces a check.
	checkedAt time.Time
	// warmRunning and warmAgain drive the background read after a sync.
	warmRunning, warmAgain bool

	srvMu  sync.Mutex
	srv    *http.Server
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg, parses the embedded templates (so a broken template
// fails at start, not on a reader's request) and registers the ledger
// metrics on reg. A nil reg gets a private registry; a nil logger
// discards.
func New(cfg Config, wl *watcher.Watchlist, st *store.Store, reg *prometheus.Registry, logger *slog.Logger) (*Server, error) {
	if wl == nil || st == nil {
		return nil, errors.New("web: a watchlist and a store are required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ExplorerTxURL != "" && !isHTTPURL(cfg.ExplorerTxURL) {
		return nil, fmt.Errorf("web: explorer tx URL %q is not an absolute http(s) URL", cfg.ExplorerTxURL)
	}
	if cfg.PublicURL != "" {
		if !isHTTPURL(cfg.PublicURL) {
			return nil, fmt.Errorf("web: public URL %q is not an absolute http(s) URL", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, wl: wl, st: st, ledger: watcher.NewLedger(st, wl), logger: logger, reg: reg,
		now: time.Now, entityIdx: map[string]int{}, addrIdx: map[string][2]int{}, cache: map[string]*rendered{}}
	for i, e := range wl.Entities {
		s.entityIdx[e.ID] = i
		for j, a := range e.Addresses {
			s.addrIdx[a.Address.Text] = [2]int{i, j}
		}
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if s.metrics, err = registerMetrics(reg, s); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the whole site with its middleware, for the daemon's
// own server or for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// routes lists every route. Only GET (and so HEAD) patterns exist: the
// public site has no state-changing endpoint.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("GET /entity/{id}", s.handleEntityPage)
	mux.HandleFunc("GET /address/{address}", s.handleAddressPage)
	mux.HandleFunc("GET /about", s.handleAbout)
	mux.HandleFunc("GET /reports", s.handleReports)
	mux.HandleFunc("GET /reports/{id}/{file}", s.handleReportFile)
	mux.HandleFunc("GET /static/{file}", s.handleStatic)
	mux.HandleFunc("GET /favicon.ico", s.handleFavicon)
	mux.HandleFunc("GET /feed.atom", s.handleFeed)
	mux.HandleFunc("GET /entity/{id}/feed.atom", s.handleEntityFeed)

	mux.HandleFunc("GET /api/v1/summary", s.handleSummary)
	mux.HandleFunc("GET /api/v1/entities", s.handleEntities)
	mux.HandleFunc("GET /api/v1/entities/{id}", s.handleEntity)
	mux.HandleFunc("GET /api/v1/entities/{id}/history", s.handleHistory)
	mux.HandleFunc("GET /api/v1/entities/{id}/history.csv", s.handleHistoryCSV)
	mux.HandleFunc("GET /api/v1/entities/{id}/flows", s.handleFlows)
	mux.HandleFunc("GET /api/v1/entities/{id}/flows.csv", s.handleFlowsCSV)
	mux.HandleFunc("GET /api/v1/addresses/{address}", s.handleAddress)

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metricsHandler())

	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no such API endpoint: see /about and docs/api.md")
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, r, &httpError{http.StatusNotFound, "There is no page at this address."})
	})
	return s.middleware(mux)
}

// SetSyncStatus records the daemon's last sync attempt; pages warn when it
// failed. After a successful one, an open server reads the new ledger in
// the background, so that the first reader after a sync does not wait for
// the store. It is safe to call from the daemon's sync loop at any time.
func (s *Server) SetSyncStatus(st SyncStatus) {
	st.Error = redact(st.Error, 500)
	st.Backend = redact(st.Backend, 200)
	st.Failover = redact(st.Failover, 500)
	st.At = st.At.UTC().Truncate(time.Second)
	s.mu.Lock()
	s.status, s.hasStatus = st, true
	s.statusSeq++
	s.checkedAt = time.Time{} // the sync may have published: look again
	s.mu.Unlock()
	if st.OK {
		s.srvMu.Lock()
		s.startWarmLocked()
		s.srvMu.Unlock()
	}
}

// startWarmLocked has the current snapshot and every entity's history
// read in the background while the server is open: one reader at a time,
// and once more if a sync is reported meanwhile. srvMu is held.
func (s *Server) startWarmLocked() {
	if s.srv == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warmAgain = true
	if s.warmRunning {
		return
	}
	s.warmRunning = true
	ctx := s.ctx
	s.wg.Go(func() {
		for {
			s.mu.Lock()
			if !s.warmAgain || ctx.Err() != nil {
				s.warmRunning = false
				s.mu.Unlock()
				return
			}
			s.warmAgain = false
			s.mu.Unlock()
			s.warm(ctx)
		}
	})
}

// warm reads the current snapshot and every entity's history.
func (s *Server) warm(ctx context.Context) {
	snap, err := s.current(ctx)
	for _, e := range s.wl.Entities {
		if err != nil {
			break
		}
		_, err = s.entity(ctx, snap, e.ID)
	}
	if err != nil && !errors.Is(err, watcher.ErrNotSynced) && ctx.Err() == nil {
		s.logger.Warn("web: reading the new ledger ahead of readers failed", "err", err)
	}
}

// syncStatus returns the last reported attempt and a counter that changes
// with every report (part of the cache key of pages showing it).
func (s *Server) syncStatus() (SyncStatus, bool, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.hasStatus, s.statusSeq
}

// Open listens on cfg.Listen and serves in the background until Close;
// it reads the ledger ahead of the first reader. The timeouts bound what a
// slow or hostile client can hold.
func (s *Server) Open() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return errors.New("web: server already open")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", s.cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.srv, s.ln, s.ctx, s.cancel = srv, ln, ctx, cancel
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("web server stopped", "err", err)
		}
	})
	s.logger.Info("web server listening", "url", "http://"+ln.Addr().String())
	s.startWarmLocked()
	return nil
}

// Close stops accepting connections and waits (up to 10 s) for requests
// in flight to finish; past that it cancels them. Closing a server that
// is not open does nothing.
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.cancel()
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	s.wg.Wait()
	s.srv, s.ln = nil, nil
	return err
}

// URL returns the address the server listens on as http://host:port, or
// "" when it is not open.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// publicURL is the base of absolute links.
func (s *Server) publicURL() string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	if u := s.URL(); u != "" {
		return u
	}
	return "http://" + s.cfg.Listen
}

// explorerURL links a txid to the configured explorer, or "" for none.
func (s *Server) explorerURL(txid string) string {
	if s.cfg.ExplorerTxURL == "" {
		return ""
	}
	return s.cfg.ExplorerTxURL + txid
}

// isHTTPURL accepts absolute http(s) URLs only: anything else (javascript:,
// data:, relative paths) is never rendered as a link.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == ""
}
