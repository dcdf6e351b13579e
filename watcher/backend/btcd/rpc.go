package btcd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Kinds of failure, for errors.Is: the daemon retries later on
// ErrUnreachable but stops and tells the operator on the others.
var (
	// ErrUnreachable: no answer from btcd (refused, timed out, reset,
	// overloaded, not an RPC port).
	ErrUnreachable = errors.New("btcd unreachable")
	// ErrAuth: btcd refused the user and password.
	ErrAuth = errors.New("btcd authentication failed")
	// ErrWrongNetwork: btcd follows another chain than the watchlist.
	ErrWrongNetwork = errors.New("btcd on another network")
	// ErrMissingIndex: btcd runs without --addrindex or --txindex.
	ErrMissingIndex = errors.New("btcd lacks an index")
)

// maxAttempts bounds the tries of one request. Every call this client makes
// only reads, so repeating one after a reset connection or a "too busy"
// answer is safe.
const maxAttempts = 3

// btcdError is a failure phrased for the person who runs treasurywatch: its
// text says where and what, while errors.Is/As still reach the kind, the
// *btcjson.RPCError and the Go cause underneath.
type btcdError struct {
	msg   string
	kind  error
	cause error
}

func (e *btcdError) Error() string { return e.msg }

func (e *btcdError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// errorf makes a btcdError whose text starts with "btcd at URL".
func (c *Client) errorf(kind, cause error, format string, args ...any) error {
	return &btcdError{msg: "btcd at " + c.url + fmt.Sprintf(format, args...), kind: kind, cause: cause}
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

// rpcCode returns the RPC error code of err, if btcd answered with one.
func rpcCode(err error) (btcjson.RPCErrorCode, string, bool) {
	var re *btcjson.RPCError
	if errors.As(err, &re) {
		return re.Code, re.Message, true
	}
	return 0, "", false
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage   `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
	ID     *uint64           `json:"id"`
}

// call1 makes one call and returns its error.
func (c *Client) call1(ctx context.Context, out any, method string, params ...any) error {
	cl := newCall(out, method, params...)
	if err := c.do(ctx, cl); err != nil {
		return err
	}
	return cl.err
}

// do sends calls as one HTTP request (a JSON-RPC batch when there are
// several) and sets each call's result or error. It returns an error only
// when the request as a whole failed; that error is also set on every call.
func (c *Client) do(ctx context.Context, calls ...*call) error {
	if len(calls) == 0 {
		return nil
	}
	reqs := make([]rpcRequest, len(calls))
	byID := make(map[uint64]*call, len(calls))
	for i, cl := range calls {
		id := c.nextID.Add(1)
		reqs[i] = rpcRequest{JSONRPC: "1.0", ID: id, Method: cl.method, Params: cl.params}
		byID[id] = cl
	}
	var body []byte
	var err error
	if len(reqs) == 1 {
		body, err = json.Marshal(reqs[0])
	} else {
		body, err = json.Marshal(reqs)
	}
	if err != nil {
		return c.failAll(calls, fmt.Errorf("btcd: encoding %s: %w", calls[0].method, err))
	}
	label := calls[0].method
	if len(calls) > 1 {
		label = fmt.Sprintf("%d×%s", len(calls), label)
	}

	var raw []byte
	for attempt := 1; ; attempt++ {
		var retry bool
		raw, retry, err = c.post(ctx, label, body, calls)
		if err == nil || !retry || attempt == maxAttempts {
			break
		}
		backoff := time.Duration(attempt*attempt) * 100 * time.Millisecond
		c.logger.Debug("btcd request failed, retrying", "backend", c.url, "rpc", label, "attempt", attempt, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return c.failAll(calls, c.errorf(nil, ctx.Err(), ": %s: %v", label, ctx.Err()))
		}
	}
	if err != nil {
		return c.failAll(calls, err)
	}

	var resps []rpcResponse
	if len(calls) == 1 {
		var r rpcResponse
		err = json.Unmarshal(raw, &r)
		// The one answer is for the one question, whatever its id.
		r.ID = &reqs[0].ID
		resps = []rpcResponse{r}
	} else {
		err = json.Unmarshal(raw, &resps)
	}
	if err != nil {
		return c.failAll(calls, c.errorf(ErrUnreachable, err, ": %s: the answer is not JSON-RPC (is this btcd's RPC port?)", label))
	}
	for _, r := range resps {
		if r.ID == nil {
			continue
		}
		cl, ok := byID[*r.ID]
		if !ok {
			continue
		}
		delete(byID, *r.ID)
		switch {
		case r.Error != nil:
			cl.err = c.errorf(nil, r.Error, ": %s: %s (code %d)", cl.method, r.Error.Message, r.Error.Code)
		case cl.out != nil:
			if err := json.Unmarshal(r.Result, cl.out); err != nil {
				cl.err = c.errorf(nil, err, ": %s: unexpected answer: %v", cl.method, err)
			}
		}
	}
	for _, cl := range byID {
		cl.err = c.errorf(nil, nil, ": %s: no answer in the batch", cl.method)
	}
	return nil
}

// failAll sets err on every call and returns it.
func (c *Client) failAll(calls []*call, err error) error {
	for _, cl := range calls {
		cl.err = err
	}
	return err
}

// count records one request carrying calls.
func (c *Client) count(calls []*call) {
	methods := make([]string, len(calls))
	for i, cl := range calls {
		methods[i] = cl.method
	}
	c.Count(methods...)
}

// post sends one HTTP request carrying calls within the client's
// concurrency bound and timeout, and returns the body. retry says whether
// trying again may help.
func (c *Client) post(ctx context.Context, label string, body []byte, calls []*call) (raw []byte, retry bool, err error) {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, false, c.errorf(nil, ctx.Err(), ": %s: %v", label, ctx.Err())
	}
	c.count(calls)
	defer func() { c.Finish(watcher.OutcomeOf(err)) }()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, false, c.errorf(nil, err, ": %s: %v", label, err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Every call is a read: let net/http replay it on a stale
	// keep-alive connection (a nil value is not sent on the wire).
	req.Header["Idempotency-Key"] = nil
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil { // the caller gave up, not btcd
			return nil, false, c.errorf(nil, ctx.Err(), ": %s: %v", label, ctx.Err())
		}
		return nil, isTransient(err), c.transportError(label, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, c.errorf(nil, ctx.Err(), ": %s: %v", label, ctx.Err())
		}
		return nil, isTransient(err), c.transportError(label, err)
	}
	if int64(len(raw)) > c.maxBody {
		return nil, false, c.errorf(nil, nil, ": %s: answer larger than %d MiB; lower the page size", label, c.maxBody>>20)
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.Debug("btcd rpc", "backend", c.url, "rpc", label, "status", resp.StatusCode,
			"bytes", len(raw), "took", time.Since(start).Round(time.Microsecond))
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusInternalServerError, http.StatusNotFound:
		// btcd answers 200; bitcoind-style servers put JSON-RPC
		// errors in 500 and 404 answers.
		if json.Valid(raw) {
			return raw, false, nil
		}
		if resp.StatusCode == http.StatusOK {
			return nil, false, c.errorf(ErrUnreachable, nil, ": %s: the answer is not JSON-RPC (is this btcd's RPC port?)", label)
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, false, c.errorf(ErrAuth, nil, ": authentication failed (check user/password)")
	case http.StatusServiceUnavailable:
		return nil, true, c.errorf(ErrUnreachable, nil, ": too busy (more clients than its --rpcmaxclients); lower the concurrency")
	case http.StatusBadRequest:
		if bytes.Contains(raw, []byte("HTTPS server")) {
			return nil, false, c.errorf(ErrUnreachable, nil, ": the server speaks HTTPS; use an https:// URL")
		}
	}
	return nil, false, c.errorf(ErrUnreachable, nil, ": %s: unexpected HTTP status %q (is this btcd's RPC port?)", label, resp.Status)
}

// isTransient reports whether a transport error may go away on a retry.
func isTransient(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

// transportError turns a net/http error into a sentence naming the cause.
func (c *Client) transportError(label string, err error) error {
	var ue *url.Error
	inner := err
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return c.errorf(ErrUnreachable, err, ": connection refused — is it running?")
	case errors.Is(err, context.DeadlineExceeded):
		return c.errorf(ErrUnreachable, err, ": no answer to %s within %v", label, c.timeout)
	case errors.As(err, &dnsErr):
		return c.errorf(ErrUnreachable, err, ": cannot resolve host %q", dnsErr.Name)
	case errors.As(err, &unknownCA):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is not trusted; give btcd's rpc.cert as the TLS certificate")
	case errors.As(err, &badHost):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is not valid for this host (%v)", badHost.Error())
	case errors.As(err, &certInvalid):
		return c.errorf(ErrUnreachable, err, ": its TLS certificate is invalid (%v)", certInvalid.Error())
	case errors.As(err, &recordErr), errors.Is(err, http.ErrSchemeMismatch):
		return c.errorf(ErrUnreachable, err, ": the server does not speak TLS; use an http:// URL")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return c.errorf(ErrUnreachable, err, ": host unreachable")
	case isTransient(err):
		return c.errorf(ErrUnreachable, err, ": %s: connection closed before an answer", label)
	}
	msg := inner.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "dial ") {
		msg = msg[i+2:]
	}
	return c.errorf(ErrUnreachable, err, ": %s: %s", label, msg)
}
