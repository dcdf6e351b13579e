package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
)

// deliverLoop delivers what is undelivered at start, after each produced
// report, and every RetryEvery.
func (s *Scheduler) deliverLoop(ctx context.Context) {
	for {
		if err := s.DeliverPending(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("report deliveries", "err", err)
		}
		if !s.wait(ctx, s.cfg.RetryEvery, s.kick, false) {
			return
		}
	}
}

// DeliverPending gives every undelivered report delivery that may still
// succeed one round of attempts, oldest report first. The error is the
// store's; delivery failures are recorded, not returned.
func (s *Scheduler) DeliverPending(ctx context.Context) error {
	ds, err := s.cfg.Store.DeliveriesToRetry(ctx)
	if err != nil {
		return err
	}
	limit := s.attempts() * maxRounds
	for _, d := range ds {
		if ctx.Err() != nil {
			return nil
		}
		if d.Attempts >= limit {
			continue
		}
		r, ok, err := s.cfg.Store.ReportByID(ctx, d.ReportID)
		if err != nil || !ok {
			return errors.Join(err, fmt.Errorf("report %d of a delivery is missing", d.ReportID))
		}
		if err := s.DeliverTo(ctx, r, d.Target); err != nil && ctx.Err() == nil {
			s.logger.Warn("report not delivered", "report", r.Name, "instant", r.Instant, "target", d.Target, "err", err)
		}
	}
	return nil
}

// DeliverTo gives the delivery of r to target one round of attempts,
// recording each. The error is the round's last failure.
func (s *Scheduler) DeliverTo(ctx context.Context, r store.ArchivedReport, target string) error {
	files, err := s.cfg.Store.ReportFiles(ctx, r.ID)
	if err != nil {
		return err
	}
	attempts := s.attempts()
	var recErr error
	record := func(a deliver.Attempt) {
		da := store.DeliveryAttempt{ReportID: r.ID, Target: target, N: a.N, At: a.At, Done: a.Done, Permanent: a.Permanent}
		if a.Err != nil {
			da.Err = a.Err.Error()
		}
		recErr = errors.Join(recErr, s.cfg.Store.RecordDeliveryAttempt(context.WithoutCancel(ctx), da, a.Permanent || a.N >= attempts))
	}
	t, err := s.target(target)
	if err != nil {
		record(deliver.Attempt{Target: target, N: attempts, At: s.cfg.Now(), Err: err})
		return errors.Join(err, recErr)
	}
	err = deliver.Deliver(ctx, t, message(r, files), s.cfg.Policy, record)
	return errors.Join(err, recErr)
}

func (s *Scheduler) attempts() int {
	if s.cfg.Policy.Attempts > 0 {
		return s.cfg.Policy.Attempts
	}
	return deliver.DefaultAttempts
}

// target builds a delivery target from the watchlist, resolving secrets
// only now so a rotated one is picked up.
func (s *Scheduler) target(name string) (deliver.Target, error) {
	wl := s.cfg.Watchlist
	rd := wl.ReportDelivery
	switch name {
	case "dir":
		if rd.Dir == "" {
			return nil, errors.New("no [report_delivery] dir")
		}
		return deliver.NewDir(rd.Dir), nil
	case "webhook":
		if rd.WebhookURL == "" {
			return nil, errors.New("no [report_delivery] webhook_url")
		}
		secret, err := rd.WebhookSecret()
		if err != nil {
			return nil, err
		}
		return deliver.NewWebhook(deliver.WebhookConfig{URL: rd.WebhookURL, Secret: secret, UserAgent: s.cfg.UserAgent}, s.cfg.HTTPClient), nil
	case "email":
		pw, err := wl.SMTP.Password()
		if err != nil {
			return nil, err
		}
		return deliver.NewEmail(deliver.EmailConfig{Host: wl.SMTP.Host, Port: wl.SMTP.Port, User: wl.SMTP.User,
			Password: pw, From: wl.SMTP.From, To: rd.EmailTo, TLS: wl.SMTP.TLS})
	}
	return nil, fmt.Errorf("unknown delivery target %q", name)
}

// MessageID is the stable id of a report's message, by which receivers
// drop duplicates of a retried delivery.
func MessageID(r store.ArchivedReport) string {
	return "report/" + r.Name + "/" + r.Instant.UTC().Format(time.RFC3339)
}

// webhookBody is the JSON a webhook receives: where to find the report and
// the figures' anchors, with the report's own JSON when it was rendered.
type webhookBody struct {
	Kind      string          `json:"kind"`
	ID        string          `json:"id"`
	Report    string          `json:"report"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	FromBlock blockJSON       `json:"from_block"`
	ToBlock   blockJSON       `json:"to_block"`
	Digest    string          `json:"digest"`
	Files     []string        `json:"files"`
	Data      json.RawMessage `json:"data,omitempty"`
}

type blockJSON struct {
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
	Time   string `json:"time"`
}

func blockOf(b store.Block) blockJSON {
	return blockJSON{Height: b.Height, Hash: b.Hash.String(), Time: b.Time.UTC().Format(time.RFC3339)}
}

// message builds the one Message every target of r gets.
func message(r store.ArchivedReport, files []store.ReportFile) deliver.Message {
	m := deliver.Message{Kind: deliver.KindReport, ID: MessageID(r)}
	period := fmt.Sprintf("%s to %s", r.From.UTC().Format(time.RFC3339), r.Instant.UTC().Format(time.RFC3339))
	m.Subject = fmt.Sprintf("Treasury report %s: %s", r.Name, period)
	body := webhookBody{Kind: "report", ID: m.ID, Report: r.Name, From: r.From.UTC().Format(time.RFC3339),
		To: r.Instant.UTC().Format(time.RFC3339), FromBlock: blockOf(r.FromBlock), ToBlock: blockOf(r.ToBlock),
		Digest: r.Digest, Files: []string{}}
	for _, f := range files {
		m.Files = append(m.Files, deliver.File{Name: f.Name, ContentType: f.ContentType, Data: f.Data})
		body.Files = append(body.Files, f.Name)
		switch {
		case strings.HasSuffix(f.Name, ".json") && json.Valid(f.Data):
			body.Data = f.Data
		case strings.HasSuffix(f.Name, ".html"):
			m.HTML = string(f.Data)
		}
	}
	m.JSON, _ = json.Marshal(body) // plain strings and valid raw JSON: cannot fail
	var b strings.Builder
	fmt.Fprintf(&b, "Report %q for %s.\n\n", r.Name, period)
	fmt.Fprintf(&b, "Opening block: %d %s (%s)\n", r.FromBlock.Height, r.FromBlock.Hash, r.FromBlock.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Closing block: %d %s (%s)\n", r.ToBlock.Height, r.ToBlock.Hash, r.ToBlock.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Digest: %s\n", r.Digest)
	if len(files) > 0 {
		fmt.Fprintf(&b, "Files: %s\n", strings.Join(body.Files, ", "))
	}
	m.Text = b.String()
	return m
}
