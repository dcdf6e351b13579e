package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/treasurywatch/treasurywatch/store"
)

// reportsCommand lists the report archive, so an operator sees what was
// produced, at which blocks, and what is still undelivered.
type reportsCommand struct {
	env *Env
}

// Run implements `treasurywatch reports -config F [-name N] [-limit N] [-json]`.
func (c *reportsCommand) Run(ctx context.Context, args []string) (err error) {
	fs := c.env.newFlagSet("reports")
	m := &Main{}
	fs.StringVar(&m.ConfigPath, "config", "", "watchlist `file` (TOML)")
	name := fs.String("name", "", "only the report called `name`")
	limit := fs.Int("limit", 50, "newest `n` reports; 0 for all")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 0 {
		return usageError{"-limit must not be negative"}
	}
	if err := m.OpenWatchlist(); err != nil {
		return err
	}
	defer m.closeInto(&err)
	if *name != "" {
		if _, err := findReport(m.Watchlist, *name); err != nil {
			return err
		}
	}
	if err := m.OpenStore(ctx); err != nil {
		return err
	}
	rs, err := m.Store.Reports(ctx, *name, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeReportsJSON(c.env.Stdout, rs)
	}
	return writeReportsText(c.env.Stdout, rs)
}

// reportJSON is one archived report in `reports -json`.
type reportJSON struct {
	ID         int64                `json:"id"`
	Name       string               `json:"name"`
	Instant    string               `json:"instant"`
	From       string               `json:"from"`
	Manual     bool                 `json:"manual"`
	FromBlock  reportBlockJSON      `json:"from_block"`
	ToBlock    reportBlockJSON      `json:"to_block"`
	Digest     string               `json:"digest"`
	ProducedAt string               `json:"produced_at"`
	Files      []reportFileJSON     `json:"files"`
	Deliveries []reportDeliveryJSON `json:"deliveries"`
}

type reportBlockJSON struct {
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
	Time   string `json:"time"`
}

type reportFileJSON struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type reportDeliveryJSON struct {
	Target    string `json:"target"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	UpdatedAt string `json:"updated_at"`
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func writeReportsJSON(w io.Writer, rs []store.ArchivedReport) error {
	out := make([]reportJSON, len(rs))
	for i, r := range rs {
		j := reportJSON{ID: r.ID, Name: r.Name, Instant: rfc(r.Instant), From: rfc(r.From), Manual: r.Manual,
			FromBlock: reportBlockJSON{r.FromBlock.Height, r.FromBlock.Hash.String(), rfc(r.FromBlock.Time)},
			ToBlock:   reportBlockJSON{r.ToBlock.Height, r.ToBlock.Hash.String(), rfc(r.ToBlock.Time)},
			Digest:    r.Digest, ProducedAt: rfc(r.ProducedAt), Files: []reportFileJSON{}, Deliveries: []reportDeliveryJSON{}}
		for _, f := range r.Files {
			j.Files = append(j.Files, reportFileJSON{f.Name, f.ContentType, f.Size})
		}
		for _, d := range r.Deliveries {
			j.Deliveries = append(j.Deliveries, reportDeliveryJSON{d.Target, d.Status, d.Attempts, d.LastError, rfc(d.UpdatedAt)})
		}
		out[i] = j
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeReportsText(w io.Writer, rs []store.ArchivedReport) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no reports archived")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINSTANT\tFROM BLOCK\tTO BLOCK\tDIGEST\tDELIVERY")
	for _, r := range rs {
		var ds []string
		for _, d := range r.Deliveries {
			ds = append(ds, d.Target+" "+d.Status)
		}
		delivery := strings.Join(ds, ", ")
		if delivery == "" {
			delivery = "archive only"
		}
		name := r.Name
		if r.Manual {
			name += " (manual)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%d %s\t%s\t%s\n", name, rfc(r.Instant), r.FromBlock.Height, shortHash(r.FromBlock.Hash.String()),
			r.ToBlock.Height, shortHash(r.ToBlock.Hash.String()), r.Digest, delivery)
	}
	return tw.Flush()
}

// shortHash keeps a block hash's end, where its distinct digits are.
func shortHash(h string) string {
	if len(h) <= 16 {
		return h
	}
	return "…" + h[len(h)-16:]
}
