// Package deliver hands reports and alerts to the people who asked for
// them: written to a directory, POSTed to a webhook, or sent by e-mail.
// The report scheduler and the alerter build one Message and call Deliver
// once per Target; Deliver retries what may succeed later, gives up at once
// on what never will, and reports every attempt so the caller can store it.
//
// # Idempotency
//
// Message.ID is stable for one logical message (for example
// "report/daily/2026-12-06T08:00:00Z"). A retried delivery carries the same
// ID, so a receiver can drop duplicates: webhooks get it as the
// Idempotency-Key header, e-mails carry it in X-Treasurywatch-Id and derive
// their Message-ID from it, and the directory target writes the message to
// the same place again, replacing the earlier copy file by file.
//
// # Webhook signature
//
// When WebhookConfig.Secret is set, each POST carries
//
//	X-Treasurywatch-Timestamp: <unix seconds, decimal>
//	X-Treasurywatch-Signature: sha256=<lower-case hex>
//
// where the hex is HMAC-SHA256 keyed with the secret over the exact bytes
//
//	<timestamp> + "." + <request body>
//
// i.e. the timestamp header value, one full stop (0x2E), then the raw body.
// A receiver recomputes the HMAC over the same string, compares it in
// constant time, and rejects timestamps too far from its own clock to stop
// replays.
//
// # Errors
//
// Errors name the target and what failed. They never contain a secret: the
// SMTP password and the webhook secret are never formatted, and webhook URLs
// appear only as scheme and host.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// Kinds of Message, so receivers can route without parsing the body.
const (
	KindReport     = "report"
	KindAlert      = "alert"
	KindRetraction = "retraction"
)

// File is one attachment or file to write: a rendered report (PDF, CSV,
// HTML) travels with its name and media type.
type File struct {
	Name        string // base name, no directory part, e.g. "daily.pdf"
	ContentType string // media type, e.g. "application/pdf"; empty = application/octet-stream
	Data        []byte
}

// Message is one thing to deliver. The same Message goes to every Target;
// each Target uses the parts that suit it.
type Message struct {
	Kind    string // KindReport, KindAlert or KindRetraction
	ID      string // stable id, e.g. "report/daily/2026-12-06T08:00:00Z"; receivers deduplicate on it
	Subject string
	Text    string // plain-text body
	HTML    string // optional HTML body (e-mail)
	JSON    []byte // the webhook body (application/json)
	Files   []File // written to the directory / attached to the e-mail / not sent to webhooks
}

// Target is one way to deliver. Send makes exactly one try; retrying is
// Deliver's job. A Send error that may succeed later is returned as is or
// as an *Error with Permanent false; one that never will is marked
// permanent (see Permanent).
type Target interface {
	Name() string // "dir", "webhook", "email" — never contains a secret
	Send(ctx context.Context, m Message) error
}

// Error classifies a failed Send, so Deliver knows whether trying again can
// help and how long the receiver asked it to wait.
type Error struct {
	Err        error
	Permanent  bool          // retrying cannot help (bad input, rejected credentials, 4xx)
	RetryAfter time.Duration // the receiver asked for this pause before the next try; 0 = none
}

// Error returns the wrapped error's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap gives errors.Is/As access to the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Permanent: true}
}

// IsPermanent reports whether err was marked permanent, so callers stop
// retrying it.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfterOf returns the pause the receiver asked for, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// Attempt is one try, recorded by the caller (the scheduler stores every
// attempt).
type Attempt struct {
	Target    string    // Target.Name()
	N         int       // 1 for the first try
	At        time.Time // when the try started
	Err       error     // nil when Done
	Permanent bool      // Err is permanent: no further try follows
	Done      bool      // delivered
}

// Policy is how often and how long to retry. Zero fields mean the
// defaults below.
type Policy struct {
	Attempts int           // tries in all, including the first
	Initial  time.Duration // pause after the first failure
	Max      time.Duration // no pause between tries is longer (except a receiver's Retry-After)
	// Seed seeds the jitter. 0 derives it from the target name and
	// Message.ID, so a delivery's schedule is reproducible.
	Seed uint64
}

// Defaults of Policy.
const (
	DefaultAttempts = 5
	DefaultInitial  = 2 * time.Second
	DefaultMax      = 5 * time.Minute
)

func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Initial <= 0 {
		p.Initial = DefaultInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Initial > p.Max {
		p.Initial = p.Max
	}
	return p
}

// backoff returns the pause after failed try n (1-based): Initial doubled
// per try, capped at Max, then jittered down by up to half so that many
// senders do not retry in step. The result is in [d/2, d] with
// d = min(Max, Initial·2^(n-1)).
func (p Policy) backoff(n int, rng *rand.Rand) time.Duration {
	p = p.withDefaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	half := d / 2
	return d - half + time.Duration(rng.Int64N(int64(half)+1))
}

// Deliver sends m through t, retrying retryable failures with exponential
// backoff and jitter until it succeeds, a failure is permanent, p.Attempts
// tries were made, or ctx ends. A Retry-After from the receiver lengthens
// the pause. record (may be nil) is called after every try, in order.
func Deliver(ctx context.Context, t Target, m Message, p Policy, record func(Attempt)) error {
	p = p.withDefaults()
	name := t.Name()
	seed := p.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(m.ID))
		seed = h.Sum64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	what := fmt.Sprintf("deliver %s %q via %s", m.Kind, m.ID, name)

	var last error
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				return fmt.Errorf("%s: not started: %w", what, err)
			}
			return fmt.Errorf("%s: stopped after %d attempts: %w (last error: %w)", what, n-1, err, last)
		}
		a := Attempt{Target: name, N: n, At: time.Now()}
		err := t.Send(ctx, m)
		a.Err, a.Done = err, err == nil
		a.Permanent = err != nil && IsPermanent(err)
		if record != nil {
			record(a)
		}
		if err == nil {
			return nil
		}
		last = err
		if a.Permanent {
			return fmt.Errorf("%s: attempt %d failed permanently: %w", what, n, err)
		}
		if n >= p.Attempts {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, n, err)
		}
		wait := max(p.backoff(n, rng), RetryAfterOf(err))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: stopped after %d attempts: %w (last error: %w)", what, n, ctx.Err(), last)
		case <-timer.C:
		}
	}
}
