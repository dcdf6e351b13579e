package alert

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/treasurywatch/treasurywatch/deliver"
	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// flow is one transaction of an entity's confirmed history, with the
// block the history is stated at.
type flow struct {
	entity watcher.Entity
	tx     watcher.HistoryTx
	asOf   watcher.AsOf
}

// Payload is the JSON body of an alert or retraction webhook: snake_case,
// integer satoshis, RFC 3339 UTC times, so a newsroom bot can act on it
// without parsing prose.
type Payload struct {
	Type    string        `json:"type"` // "alert" or "retraction"
	ID      string        `json:"id"`   // also the Idempotency-Key header
	Network string        `json:"network"`
	Entity  PayloadEntity `json:"entity"`
	Kind    string        `json:"kind"` // inflow, outflow, internal, mixed
	// AmountSat is the entity's balance change: negative when it lost coins.
	AmountSat int64 `json:"amount_sat"`
	// FeeSat is the fee when every input was the entity's; null otherwise.
	FeeSat *int64       `json:"fee_sat"`
	Txid   string       `json:"txid"`
	Block  PayloadBlock `json:"block"` // where the alert saw the transaction
	// Confirmations is the depth of Block at AsOf; 0 in a retraction.
	Confirmations int64        `json:"confirmations"`
	AsOf          PayloadBlock `json:"as_of"` // the synced tip the message speaks at
	Rule          PayloadRule  `json:"rule"`
	// Retracts is the id of the alert a retraction takes back.
	Retracts     string `json:"retracts,omitempty"`
	Reason       string `json:"reason,omitempty"`
	DashboardURL string `json:"dashboard_url,omitempty"`
	ExplorerURL  string `json:"explorer_url,omitempty"`
}

// PayloadEntity names the entity that moved coins.
type PayloadEntity struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country,omitempty"`
}

// PayloadBlock is a block by height, hash and header time.
type PayloadBlock struct {
	Height int64     `json:"height"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
}

// PayloadRule is the rule that matched, so a receiver can route on it.
type PayloadRule struct {
	Entity        string   `json:"entity,omitempty"`
	Kinds         []string `json:"kinds"`
	MinSat        int64    `json:"min_sat"`
	Confirmations int64    `json:"confirmations"`
}

// messageID is the stable id of a stored alert's message: a retried
// delivery carries the same one, a re-announcement after a retraction a
// new one (a new row).
func messageID(row store.Alert) string {
	return fmt.Sprintf("alert/%s/%s/%d", row.Entity, row.Txid, row.ID)
}

// message builds the message of row's state: the alert, or its retraction.
func (a *Alerter) message(rule watcher.AlertConfig, row store.Alert, asOf watcher.AsOf) (deliver.Message, error) {
	e := watcher.Entity{ID: row.Entity, Name: row.Entity}
	for _, we := range a.wl.Entities {
		if we.ID == row.Entity {
			e = we
		}
	}
	retract := row.State == store.AlertRetracting || row.State == store.AlertRetracted
	p := Payload{Type: deliver.KindAlert, ID: messageID(row), Network: a.wl.Network.String(),
		Entity: PayloadEntity{ID: e.ID, Name: e.Name, Country: e.Country}, Kind: row.Kind, AmountSat: row.Amount,
		FeeSat: row.Fee, Txid: row.Txid.String(),
		Block:         PayloadBlock{Height: row.Height, Hash: row.BlockHash.String(), Time: row.BlockTime.UTC()},
		Confirmations: asOf.Height - row.Height + 1,
		AsOf:          PayloadBlock{Height: asOf.Height, Hash: asOf.Hash, Time: asOf.Time.UTC()},
		Rule:          PayloadRule{Entity: rule.Entity, Kinds: []string{}, MinSat: int64(rule.MinBTC), Confirmations: rule.Confs()},
	}
	for _, k := range rule.Kinds {
		p.Rule.Kinds = append(p.Rule.Kinds, string(k))
	}
	if u := a.wl.HTTP.PublicURL; u != "" {
		p.DashboardURL = strings.TrimRight(u, "/") + "/entity/" + url.PathEscape(e.ID)
	}
	if u := a.wl.HTTP.ExplorerTxURL; u != "" {
		p.ExplorerURL = u + p.Txid
	}
	amount := watcher.FormatBTC(abs(row.Amount))
	subject := fmt.Sprintf("[treasurywatch] %s: %s %s BTC at block %d", e.Name, row.Kind, amount, row.Height)
	kind := deliver.KindAlert
	if retract {
		kind = deliver.KindRetraction
		p.Type, p.Retracts, p.ID = kind, p.ID, p.ID+"/retraction"
		p.Confirmations = 0
		p.Reason = fmt.Sprintf("block %d %s is no longer in the chain with this transaction (reorganisation)", row.Height, row.BlockHash)
		subject = fmt.Sprintf("[treasurywatch] RETRACTED %s: %s %s BTC at block %d", e.Name, row.Kind, amount, row.Height)
	}
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return deliver.Message{}, fmt.Errorf("alert %s: %w", p.ID, err)
	}
	return deliver.Message{Kind: kind, ID: p.ID, Subject: subject, Text: messageText(p), JSON: append(body, '\n')}, nil
}

// messageText is the plain-text body: every figure a journalist needs to
// check the movement on any block explorer.
func messageText(p Payload) string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s%s\n", label+":", fmt.Sprintf(format, args...))
	}
	if p.Type == deliver.KindRetraction {
		fmt.Fprintf(&b, "RETRACTION of alert %s.\n\n", p.Retracts)
		fmt.Fprintf(&b, "The %s below was announced at block %d %s,\nwhich is no longer in the chain with this transaction (a reorganisation).\nAs of block %d %s it is not confirmed in that block.\n\n",
			p.Kind, p.Block.Height, p.Block.Hash, p.AsOf.Height, p.AsOf.Hash)
	} else {
		fmt.Fprintf(&b, "%s moved coins: %s of %s BTC.\n\n", p.Entity.Name, p.Kind, watcher.FormatBTC(abs(p.AmountSat)))
	}
	line("Entity", "%s (%s)", p.Entity.Name, p.Entity.ID)
	line("Kind", "%s", p.Kind)
	line("Amount", "%s BTC (%d sat) to the entity's balance", signed(p.AmountSat), p.AmountSat)
	if p.FeeSat != nil {
		line("Fee", "%s BTC (%d sat)", watcher.FormatBTC(*p.FeeSat), *p.FeeSat)
	} else {
		line("Fee", "unknown (inputs from outside the entity)")
	}
	line("Transaction", "%s", p.Txid)
	line("Block", "%d %s", p.Block.Height, p.Block.Hash)
	line("Block time", "%s", p.Block.Time.Format(time.RFC3339))
	if p.Type != deliver.KindRetraction {
		line("Confirmations", "%d (as of block %d)", p.Confirmations, p.AsOf.Height)
	}
	line("Network", "%s", p.Network)
	if p.DashboardURL != "" {
		line("Dashboard", "%s", p.DashboardURL)
	}
	if p.ExplorerURL != "" {
		line("Explorer", "%s", p.ExplorerURL)
	}
	fmt.Fprintf(&b, "\nMessage id: %s\n", p.ID)
	return b.String()
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// signed writes an amount with its sign, "+1.00000000" or "-0.50000000".
func signed(sat int64) string {
	if sat >= 0 {
		return "+" + watcher.FormatBTC(sat)
	}
	return watcher.FormatBTC(sat)
}
