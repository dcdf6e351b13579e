package electrum

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// Kinds of failure, for errors.Is.
var (
	// ErrUnreachable: no answer from the server (refused, timed out,
	// connection lost, TLS refused, not an Electrum port).
	ErrUnreachable = errors.New("electrum server unreachable")
	// ErrWrongNetwork: the server follows another chain than the
	// watchlist.
	ErrWrongNetwork = errors.New("electrum server on another network")
	// ErrHistoryTooLarge: the server refuses a script's history as too
	// large for its limits (ElectrumX MAX_SEND, Fulcrum max_history,
	// electrs --electrum-txs-limit).
	ErrHistoryTooLarge = errors.New("electrum history too large")
)

// errConnLost marks failures of a connection after which the request may
// be tried again on a new one.
var errConnLost = errors.New("connection lost")

// errClosed is the failure of calls after Close.
var errClosed = errors.New("the client is closed")

// maxAttempts bounds the tries of one request. Every call this client makes
// only reads, so repeating one after a lost connection is safe.
const maxAttempts = 2

// RPCError is an error answer of the server.
type RPCError struct {
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	if e.Code == 0 {
		return e.Message
	}
	return fmt.Sprintf("%s (code %d)", e.Message, e.Code)
}

// electrumError is a failure phrased for the person who runs treasurywatch:
// its text says where and what, while errors.Is/As still reach the kind,
// the *RPCError and the Go cause underneath.
type electrumError struct {
	msg  string
	errs []error
}

func (e *electrumError) Error() string   { return e.msg }
func (e *electrumError) Unwrap() []error { return e.errs }

// errorf makes an electrumError whose text starts with "electrum at URL".
func (c *Client) errorf(kind, cause error, format string, args ...any) error {
	var errs []error
	for _, err := range []error{kind, cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return &electrumError{msg: "electrum at " + c.url + fmt.Sprintf(format, args...), errs: errs}
}

// call is one JSON-RPC call; do fills err, and out when err is nil.
type call struct {
	method string
	params []any
	out    any // pointer to decode the result into, or nil
	err    error
}

// newCall makes a call of method with params decoding into out.
func newCall(out any, method string, params ...any) *call {
	if params == nil {
		params = []any{}
	}
	return &call{method: method, params: params, out: out}
}

// rpcError returns the server's error answer inside err, if any.
func rpcError(err error) (*RPCError, bool) {
	var re *RPCError
	ok := errors.As(err, &re)
	return re, ok
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// message is one answer or notification from the server.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// reply is what the reader hands to a waiting request.
type reply struct {
	result json.RawMessage
	rpcErr *RPCError
	err    error // the connection failed before the answer
}

// session is one connection with its reader goroutine.
type session struct {
	conn    net.Conn
	writeMu sync.Mutex
	mu      sync.Mutex // guards pending and err
	pending map[uint64]chan reply
	err     error
	done    chan struct{}
}

// dead reports whether the session has failed.
func (s *session) dead() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// fail closes the session (once) and fails every pending request with err.
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	close(s.done)
	s.conn.Close()
	for id, ch := range s.pending {
		ch <- reply{err: err}
		delete(s.pending, id)
	}
}

// register makes a reply channel for each id.
func (s *session) register(ids []uint64) ([]chan reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	chans := make([]chan reply, len(ids))
	for i, id := range ids {
		chans[i] = make(chan reply, 1)
		s.pending[id] = chans[i]
	}
	return chans, nil
}

// forget drops the reply channels of ids; late answers are ignored.
func (s *session) forget(ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.pending, id)
	}
}

// deliver hands an answer to the request waiting for id, if any.
func (s *session) deliver(id uint64, r reply) {
	s.mu.Lock()
	ch, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if ok {
		ch <- r
	}
}

// write sends one line.
func (s *session) write(b []byte, timeout time.Duration) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(b)
	return err
}

// readLoop reads answers until the connection fails.
func (c *Client) readLoop(s *session) {
	sc := bufio.NewScanner(s.conn)
	sc.Buffer(make([]byte, 0, min(64<<10, c.maxLine)), c.maxLine)
	sc.Split(splitLines)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := c.dispatch(s, line); err != nil {
			s.fail(err)
			return
		}
	}
	err := sc.Err()
	switch {
	case errors.Is(err, bufio.ErrTooLong):
		s.fail(fmt.Errorf("an answer is longer than %d bytes (the maximum line size); lower the batch size", c.maxLine))
	case err == nil, errors.Is(err, net.ErrClosed):
		s.fail(fmt.Errorf("%w: the server closed it", errConnLost))
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.fail(fmt.Errorf("%w: the server closed it in the middle of an answer", errConnLost))
	default:
		s.fail(fmt.Errorf("%w: %v", errConnLost, err))
	}
}

// splitLines splits the stream at newlines; unlike bufio.ScanLines it
// reports an unterminated last line as io.ErrUnexpectedEOF (an answer cut
// off by a closed connection), never as a line.
func splitLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(bytes.TrimSpace(data)) > 0 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return 0, nil, nil
}

// dispatch handles one line: an answer, a batch of answers or a
// notification (ignored).
func (c *Client) dispatch(s *session, line []byte) error {
	var msgs []message
	if line[0] == '[' {
		if err := json.Unmarshal(line, &msgs); err != nil {
			return errNotJSONRPC
		}
	} else {
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			return errNotJSONRPC
		}
		msgs = []message{m}
	}
	for _, m := range msgs {
		if isNull(m.ID) {
			if m.Method != "" {
				c.logger.Debug("electrum notification ignored", "backend", c.url, "method", m.Method)
				continue
			}
			if !isNull(m.Error) {
				return fmt.Errorf("the server sent an error for no request: %v", parseRPCError(m.Error))
			}
			continue
		}
		id, ok := parseID(m.ID)
		if !ok {
			c.logger.Debug("electrum answer with an unknown id ignored", "backend", c.url, "id", string(m.ID))
			continue
		}
		r := reply{result: m.Result}
		if !isNull(m.Error) {
			r.rpcErr = parseRPCError(m.Error)
		}
		s.deliver(id, r)
	}
	return nil
}

var errNotJSONRPC = errors.New("the server sent something that is not JSON-RPC (is this an Electrum server's port, and the right one of tcp:// and ssl://?)")

// isNull reports whether a JSON member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// parseID reads a request id the client sent (a number; some servers echo
// it as a string).
func parseID(raw json.RawMessage) (uint64, bool) {
	var n uint64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// parseRPCError reads an error member: {"code", "message"} (ElectrumX,
// Fulcrum, romanz/electrs) or a bare string (Blockstream electrs).
func parseRPCError(raw json.RawMessage) *RPCError {
	var obj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.Message != "" {
		return &RPCError{Code: obj.Code, Message: obj.Message}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return &RPCError{Message: s}
	}
	return &RPCError{Message: string(raw)}
}

// session returns the live connection, dialling (after a pause when the
// last tries failed) when there is none.
func (c *Client) session(ctx context.Context) (*session, error) {
	select {
	case c.connSem <- struct{}{}:
	case <-ctx.Done():
		return nil, c.errorf(nil, ctx.Err(), ": connecting: %v", ctx.Err())
	}
	defer func() { <-c.connSem }()
	if c.closed {
		return nil, c.errorf(nil, errClosed, ": %v", errClosed)
	}
	if c.sess != nil && !c.sess.dead() {
		return c.sess, nil
	}
	c.sess = nil
	if n := c.failures.Load(); n > 0 {
		pause := min(100*time.Millisecond<<min(n-1, 10), 5*time.Second)
		c.logger.Debug("electrum reconnecting after a pause", "backend", c.url, "failures", n, "pause", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.errorf(nil, ctx.Err(), ": connecting: %v", ctx.Err())
		}
	}
	s, err := c.dial(ctx)
	if err != nil {
		c.failures.Add(1)
		return nil, err
	}
	c.sess = s
	return s, nil
}

// dial connects, starts the reader and negotiates the protocol version.
func (c *Client) dial(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(dctx, "tcp", c.addr)
	if err != nil {
		return nil, c.dialError(ctx, err)
	}
	if c.tlsConfig != nil {
		tc := tls.Client(conn, c.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
				return nil, c.errorf(ErrUnreachable, err, ": no TLS handshake within %v; does the server speak TLS on this port (if not, use a tcp:// URL)?", c.timeout)
			}
			return nil, c.dialError(ctx, err)
		}
		conn = tc
	}
	s := &session{conn: conn, pending: make(map[uint64]chan reply), done: make(chan struct{})}
	go c.readLoop(s)

	var version []string
	cl := newCall(&version, "server.version", c.clientName, []string{"1.4", "1.6"})
	if err := c.exchange(ctx, s, []*call{cl}); err != nil {
		s.fail(errClosed)
		return nil, err
	}
	if cl.err != nil {
		s.fail(errClosed)
		if re, ok := rpcError(cl.err); ok {
			return nil, c.errorf(ErrUnreachable, cl.err, " refuses protocol versions 1.4 to 1.6: %s", re.Message)
		}
		return nil, cl.err
	}
	if len(version) != 2 || !supportedProtocol(version[1]) {
		s.fail(errClosed)
		return nil, c.errorf(ErrUnreachable, nil, ": server.version answered %q; treasurywatch speaks protocol 1.4 to 1.6", version)
	}
	c.server = [2]string{version[0], version[1]}
	c.logger.Debug("electrum connected", "backend", c.url, "server", version[0], "protocol", version[1])
	return s, nil
}

// supportedProtocol reports whether v is a protocol version 1.4 to 1.6.
func supportedProtocol(v string) bool {
	for _, p := range []string{"1.4", "1.5", "1.6"} {
		if v == p || strings.HasPrefix(v, p+".") {
			return true
		}
	}
	return false
}

// dialError turns a dial or TLS handshake error into a sentence naming the
// cause.
func (c *Client) dialError(ctx context.Context, err error) error {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	switch {
	case ctx.Err() != nil:
		return c.errorf(nil, ctx.Err(), ": connecting: %v", ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		return c.errorf(ErrUnreachable, err, ": connection refused — is it running?")
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return c.errorf(ErrUnreachable, err, ": no connection within %v", c.timeout)
	case errors.As(err, &dnsErr):
		return c.errorf(ErrUnreachable, err, ": cannot resolve host %q", dnsErr.Name)
	case errors.Is(err, errFingerprint):
		return c.errorf(ErrUnreachable, err, ": %v", strings.TrimPrefix(err.Error(), "tls: "))
	case errors.As(err, &unknownCA):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is not signed by a trusted authority (self-signed?); pin it with a TLS fingerprint (sha256:…)")
	case errors.As(err, &badHost):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is not valid for this host (%v)", badHost.Error())
	case errors.As(err, &certInvalid):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is invalid (%v)", certInvalid.Error())
	case errors.As(err, &recordErr):
		return c.errorf(ErrUnreachable, err, ": the server does not speak TLS; use a tcp:// URL")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return c.errorf(ErrUnreachable, err, ": host unreachable")
	}
	return c.errorf(ErrUnreachable, err, ": connecting: %v", err)
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// label names a message for errors and logs: "method" or "n×method".
func label(calls []*call) string {
	if len(calls) == 1 {
		return calls[0].method
	}
	return fmt.Sprintf("%d×%s", len(calls), calls[0].method)
}

// do sends calls as one message (a JSON-RPC batch when there are several)
// and sets each call's result or error. It returns an error only when the
// message as a whole failed; that error is also set on every call.
func (c *Client) do(ctx context.Context, calls ...*call) error {
	if len(calls) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		s, err := c.session(ctx)
		if err == nil {
			err = c.exchange(ctx, s, calls)
		}
		if err == nil {
			c.failures.Store(0)
			return nil
		}
		if !errors.Is(err, errConnLost) || attempt == maxAttempts || ctx.Err() != nil {
			for _, cl := range calls {
				cl.err = err
			}
			return err
		}
		c.failures.Add(1)
		c.logger.Debug("electrum request failed, retrying", "backend", c.url, "rpc", label(calls), "attempt", attempt, "err", err)
	}
}

// exchange sends calls on s and waits for their answers.
func (c *Client) exchange(ctx context.Context, s *session, calls []*call) (err error) {
	lbl := label(calls)
	reqs := make([]rpcRequest, len(calls))
	ids := make([]uint64, len(calls))
	for i, cl := range calls {
		cl.err = nil // from an earlier attempt
		ids[i] = c.nextID.Add(1)
		reqs[i] = rpcRequest{JSONRPC: "2.0", ID: ids[i], Method: cl.method, Params: cl.params}
	}
	var body []byte
	if len(reqs) == 1 {
		body, err = json.Marshal(reqs[0])
	} else {
		body, err = json.Marshal(reqs)
	}
	if err != nil {
		return fmt.Errorf("electrum: encoding %s: %w", lbl, err)
	}
	body = append(body, '\n')

	chans, err := s.register(ids)
	if err != nil {
		return c.sessionError(lbl, err)
	}
	c.count(calls)
	defer func() { c.Finish(watcher.OutcomeOf(err)) }()
	start := time.Now()
	if err := s.write(body, c.timeout); err != nil {
		s.fail(fmt.Errorf("%w: sending failed: %v", errConnLost, err))
		return c.sessionError(lbl, fmt.Errorf("%w: sending failed: %v", errConnLost, err))
	}
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	for i, ch := range chans {
		select {
		case r := <-ch:
			if r.err != nil {
				s.forget(ids)
				return c.sessionError(lbl, r.err)
			}
			cl := calls[i]
			switch {
			case r.rpcErr != nil:
				cl.err = c.errorf(nil, r.rpcErr, ": %s: %v", cl.method, r.rpcErr)
			case cl.out != nil:
				if isNull(r.result) {
					r.result = json.RawMessage("null")
				}
				if err := json.Unmarshal(r.result, cl.out); err != nil {
					cl.err = c.errorf(nil, err, ": %s: unexpected answer: %v", cl.method, err)
				}
			}
		case <-timer.C:
			s.forget(ids)
			// A connection that leaves a request unanswered is not
			// trusted with the next one (half-open TCP, stuck server).
			s.fail(fmt.Errorf("%w: closed after %s went unanswered for %v", errConnLost, lbl, c.timeout))
			return c.errorf(ErrUnreachable, context.DeadlineExceeded, ": no answer to %s within %v", lbl, c.timeout)
		case <-ctx.Done():
			s.forget(ids)
			return c.errorf(nil, ctx.Err(), ": %s: %v", lbl, ctx.Err())
		}
	}
	c.logger.Debug("electrum rpc", "backend", c.url, "rpc", lbl, "bytes", len(body), "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// sessionError phrases the failure of a connection during a request.
func (c *Client) sessionError(lbl string, err error) error {
	if errors.Is(err, errClosed) {
		return c.errorf(nil, err, ": %s: %v", lbl, err)
	}
	return c.errorf(ErrUnreachable, err, ": %s: %v", lbl, err)
}

// doAll sends calls in batches of the batch size, up to pipelineDepth
// batches in flight at once, and returns the first message-level error.
func (c *Client) doAll(ctx context.Context, calls []*call) error {
	n := (len(calls) + c.batchSize - 1) / c.batchSize
	if n <= 1 {
		return c.do(ctx, calls...)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, pipelineDepth)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
feed:
	for b := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
		chunk := calls[b*c.batchSize : min((b+1)*c.batchSize, len(calls))]
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.do(ctx, chunk...); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return c.errorf(nil, err, ": %s: %v", label(calls), err)
	}
	return nil
}
