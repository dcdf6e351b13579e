package watcher

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// CallCounts is the number of calls a backend made per method (for an
// HTTP API, per endpoint such as "GET /scripthash/:h/txs/chain"). A batch
// of n calls counts n; a retried request counts again, as the server did
// the work twice.
type CallCounts map[string]int64

// Total is the number of calls of every method.
func (cc CallCounts) Total() int64 {
	var n int64
	for _, v := range cc {
		n += v
	}
	return n
}

// String lists the counts as "method=n" sorted by method, for test logs.
func (cc CallCounts) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(cc)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, cc[k])
	}
	return b.String()
}

// Sub returns cc minus before per method, without zero entries: the calls
// made between two snapshots, so a test can hold one operation to its
// cost.
func (cc CallCounts) Sub(before CallCounts) CallCounts {
	d := CallCounts{}
	for k, v := range cc {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	for k, v := range before {
		if _, ok := cc[k]; !ok && v != 0 {
			d[k] = -v
		}
	}
	return d
}

// CallCounter counts a backend's calls per method and its round trips, so
// tests and benchmarks can hold every backend to its cost ("a sync with no
// change costs at most 2 calls"). Safe for concurrent use; the zero value
// is ready.
type CallCounter struct {
	mu       sync.Mutex
	calls    CallCounts
	requests int64
	refused  CallCounts
	outcomes CallCounts
}

// Outcomes of a round trip, as Finish records them.
const (
	OutcomeOK       = "ok"        // the server answered (an answer saying "no such tx" included)
	OutcomeNotFound = "not_found" // an HTTP 404, which Esplora uses for "no such thing"
	OutcomeError    = "error"     // no usable answer: refused connection, timeout, server error
	OutcomeCanceled = "canceled"  // the caller gave up first; not the server's fault
)

// OutcomeOf classifies the error a round trip ended with.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeError
}

// Finish records how one round trip counted by Count ended (OutcomeOK,
// OutcomeError, …), so operators can see a backend failing in the
// metrics before a sync fails.
func (c *CallCounter) Finish(outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes = add(c.outcomes, outcome)
}

// Outcomes returns a snapshot of the round trips finished so far per
// outcome.
func (c *CallCounter) Outcomes() CallCounts { return c.snapshot(&c.outcomes) }

// Counted is a backend that counts its work: every backend embedding
// CallCounter. The daemon exports the counts as metrics.
type Counted interface {
	Calls() CallCounts
	Refused() CallCounts
	Outcomes() CallCounts
}

// Refuser is a backend that counts the answers refused as lies or
// inconsistencies (a transaction that does not hash to its txid, JSON
// that disagrees with the raw transaction). Every backend embedding
// CallCounter is one; the engine counts what it refuses there too.
type Refuser interface {
	Refuse(reason string)
	Refused() CallCounts
}

// Refuse records one answer refused for reason (a short constant phrase
// such as "tx JSON disagrees with raw tx"). Refusals are kept apart from
// Calls, so a refusal never changes what a call costs.
func (c *CallCounter) Refuse(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused = add(c.refused, reason)
}

// Refused returns a snapshot of the answers refused so far per reason.
func (c *CallCounter) Refused() CallCounts { return c.snapshot(&c.refused) }

// add counts one k in cc, making cc on first use.
func add(cc CallCounts, k string) CallCounts {
	if cc == nil {
		cc = make(CallCounts)
	}
	cc[k]++
	return cc
}

// snapshot copies one of c's counts, read under its lock.
func (c *CallCounter) snapshot(cc *CallCounts) CallCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(CallCounts, len(*cc))
	maps.Copy(out, *cc)
	return out
}

// Count records one round trip (an HTTP request, a line sent) carrying a
// call of each of methods; a batch passes all of its calls' methods.
// Both counts change under one lock, so a snapshot never sees a request
// without its calls.
func (c *CallCounter) Count(methods ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	for _, m := range methods {
		c.calls = add(c.calls, m)
	}
}

// Calls returns a snapshot of the calls made so far per method.
func (c *CallCounter) Calls() CallCounts { return c.snapshot(&c.calls) }

// Requests returns the number of round trips made so far; it is lower
// than Calls().Total() when calls were batched.
func (c *CallCounter) Requests() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}
