package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// feedEntries is how many flows a feed lists, newest first.
const feedEntries = 50

// Atom (RFC 4287) documents, encoded by encoding/xml so every text is
// escaped.
type atomFeed struct {
	XMLName   xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title     string      `xml:"title"`
	Subtitle  string      `xml:"subtitle"`
	ID        string      `xml:"id"`
	Updated   string      `xml:"updated"`
	Links     []atomLink  `xml:"link"`
	Author    atomAuthor  `xml:"author"`
	Generator string      `xml:"generator"`
	Entries   []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomEntry struct {
	Title    string       `xml:"title"`
	ID       string       `xml:"id"`
	Updated  string       `xml:"updated"`
	Links    []atomLink   `xml:"link"`
	Category atomCategory `xml:"category"`
	Summary  string       `xml:"summary"`
}

// feedItem is one flow of one entity.
type feedItem struct {
	d  *entityData
	tx watcher.HistoryTx
	// order breaks ties between entities at the same height.
	order int
}

// handleFeed answers GET /feed.atom: the latest flows of every entity.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		var items []feedItem
		for i, e := range s.wl.Entities {
			d, err := s.entity(ctx, v.snap, e.ID)
			if err != nil {
				return nil, err
			}
			li, err := s.latest(ctx, v.snap, d, i)
			if err != nil {
				return nil, err
			}
			items = append(items, li...)
		}
		return s.atom(v, items, "treasurywatch: movements of watched public holdings", "/feed.atom", "/")
	})
}

// handleEntityFeed answers GET /entity/{id}/feed.atom: one entity's
// latest flows.
func (s *Server) handleEntityFeed(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, asData, false, func(ctx context.Context, v *view) (*rendered, error) {
		d, err := s.entityOf(ctx, v, r)
		if err != nil {
			return nil, err
		}
		items, err := s.latest(ctx, v.snap, d, 0)
		if err != nil {
			return nil, err
		}
		path := "/entity/" + url.PathEscape(d.ent.ID)
		return s.atom(v, items, "treasurywatch: movements of "+d.ent.Name, path+"/feed.atom", path)
	})
}

// latest returns an entity's newest flows, newest first.
func (s *Server) latest(ctx context.Context, snap *snapshot, d *entityData, order int) ([]feedItem, error) {
	n := len(d.txs)
	if n == 0 {
		return nil, nil
	}
	txs, err := s.txsBetween(ctx, snap, d, max(0, n-feedEntries), n-1)
	if err != nil {
		return nil, err
	}
	out := make([]feedItem, 0, len(txs))
	for i := len(txs) - 1; i >= 0; i-- {
		out = append(out, feedItem{d: d, tx: txs[i], order: order})
	}
	return out, nil
}

// atom renders items (newest first, at most feedEntries) as a feed.
func (s *Server) atom(v *view, items []feedItem, title, self, alternate string) (*rendered, error) {
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].tx.Height != items[j].tx.Height {
			return items[i].tx.Height > items[j].tx.Height
		}
		return items[i].order < items[j].order
	})
	if len(items) > feedEntries {
		items = items[:feedEntries]
	}
	base := s.publicURL()
	as := v.snap.asOf
	updated := as.Time
	if len(items) > 0 {
		updated = items[0].tx.Time
	}
	f := atomFeed{
		Title: title,
		Subtitle: fmt.Sprintf("Confirmed flows, newest first. Figures as of block %d (%s) at %s.", as.Height, as.Hash,
			as.Time.UTC().Format(time.RFC3339)),
		ID:        base + self,
		Updated:   updated.UTC().Format(time.RFC3339),
		Links:     []atomLink{{Rel: "self", Type: "application/atom+xml", Href: base + self}, {Rel: "alternate", Type: "text/html", Href: base + alternate}},
		Author:    atomAuthor{Name: "treasurywatch"},
		Generator: "treasurywatch",
	}
	for _, it := range items {
		f.Entries = append(f.Entries, s.atomEntry(base, it))
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return &rendered{ctype: "application/atom+xml; charset=utf-8", body: buf.Bytes()}, nil
}

// atomEntry describes one flow in words a subscriber can act on.
func (s *Server) atomEntry(base string, it feedItem) atomEntry {
	t, name := it.tx, it.d.ent.Name
	var what string
	switch t.Kind {
	case watcher.Inflow:
		what = fmt.Sprintf("%s received %s BTC", name, watcher.FormatBTC(t.DeltaSat))
	case watcher.Outflow:
		what = fmt.Sprintf("%s sent %s BTC out (fee included)", name, watcher.FormatBTC(-t.DeltaSat))
	case watcher.Internal:
		what = fmt.Sprintf("%s moved coins between its own addresses (fee %s BTC)", name, watcher.FormatBTC(-t.DeltaSat))
	default:
		what = fmt.Sprintf("%s took part in a mixed transaction, net %s BTC", name, signedBTC(t.DeltaSat))
	}
	page := base + "/entity/" + url.PathEscape(it.d.ent.ID) + "#tx-" + t.Txid
	e := atomEntry{
		Title:    what,
		ID:       "urn:treasurywatch:flow:" + it.d.ent.ID + ":" + t.Txid,
		Updated:  t.Time.UTC().Format(time.RFC3339),
		Links:    []atomLink{{Rel: "alternate", Type: "text/html", Href: page}},
		Category: atomCategory{Term: string(t.Kind)},
		Summary: fmt.Sprintf("%s. %s. Transaction %s in block %d (%s) at %s; balance after: %s BTC.", what,
			kindHelp[t.Kind], t.Txid, t.Height, t.BlockHash, t.Time.UTC().Format(time.RFC3339),
			watcher.FormatBTC(t.BalanceSat)),
	}
	if u := s.explorerURL(t.Txid); u != "" {
		e.Links = append(e.Links, atomLink{Rel: "related", Type: "text/html", Href: u})
	}
	return e
}
