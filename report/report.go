// Package report builds the scheduled balance reports that officials file
// and compare and that auditors re-derive: every figure is stated at a
// block, and building the same Spec again from the store gives identical
// bytes in every format (no wall-clock time, no random identifier, no map
// order reaches the output).
package report

import (
	"time"

	"github.com/treasurywatch/treasurywatch/store"
	"github.com/treasurywatch/treasurywatch/watcher"
)

// Spec says what one report covers. From and To may carry the schedule's
// location (its CRON_TZ): the report then states the period in that zone
// too, besides UTC. time.Local is shown as UTC only, so that the bytes do
// not depend on the machine that builds them.
type Spec struct {
	Name      string      // the [[reports]] name, e.g. "daily"
	Entities  []string    // entity ids; empty means all, in watchlist order
	From, To  time.Time   // the previous scheduled instant and this one
	FromBlock store.Block // the last chain block whose time <= From (height, hash, time)
	ToBlock   store.Block // the last chain block whose time <= To
}

// Options are the report's presentation settings.
type Options struct {
	Currency    string // fiat currency when a price source is configured, else ""
	PriceSource string // the price source's URL, shown with the value
}

// DataVersion is the Version of the data Build produces.
const DataVersion = 1

// Report is one built report. Every format is rendered from Data alone,
// so what a reader sees is what the digest covers; Data is exported for
// readers and must not be modified once built.
type Report struct {
	Data   Data
	digest string
}

// Digest is "sha256:<hex>" of the canonical JSON of the report's data
// (see Canonical), the identifier officials quote when they compare
// reports.
func (r *Report) Digest() string { return r.digest }

// Data is the content of a report, as the JSON format publishes it.
type Data struct {
	// Version is the layout of this data; it changes when a field's
	// meaning does, so that a digest is always read the same way.
	Version     int        `json:"version"`
	Report      string     `json:"report"`
	Network     string     `json:"network"`
	Period      Period     `json:"period"`
	Opening     Anchor     `json:"opening_block"`
	Closing     Anchor     `json:"closing_block"`
	Totals      Totals     `json:"totals"`
	Price       *Price     `json:"price,omitempty"`
	Entities    []Entity   `json:"entities"`
	Movements   []Movement `json:"movements"`
	Methodology []string   `json:"methodology"`
	// Digest is filled in the published JSON only; the canonical form
	// the digest is computed over leaves it out.
	Digest string `json:"digest,omitempty"`
}

// Period is the span a report covers: the previous scheduled instant and
// this one, in UTC and in the schedule's time zone.
type Period struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	TimeZone string    `json:"time_zone"`
	// FromLocal and ToLocal are the instants in TimeZone (RFC 3339 with
	// offset); equal to From and To when the zone is UTC.
	FromLocal string `json:"from_local"`
	ToLocal   string `json:"to_local"`
}

// Anchor is the block a balance is stated at.
type Anchor struct {
	Height int64     `json:"height"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
}

// Flows are what moved an entity's balance in the period. They reconcile:
// closing = opening + inflow - outflow - fees + mixed_net.
type Flows struct {
	// InflowSat is received in transactions with no input of the entity.
	InflowSat int64 `json:"inflow_sat"`
	// OutflowSat is what left the entity in transactions whose inputs
	// are all its own, fees excluded.
	OutflowSat int64 `json:"outflow_sat"`
	// InternalSat is moved between the entity's own addresses (the
	// outputs of transactions whose inputs and outputs are all its own).
	InternalSat int64 `json:"internal_sat"`
	// FeesSat is paid in transactions whose inputs are all the entity's.
	FeesSat int64 `json:"fees_sat"`
	// MixedNetSat is the net change in transactions with inputs from the
	// entity and from outside, whose fee share cannot be told.
	MixedNetSat int64 `json:"mixed_net_sat"`
}

// Totals are the sums over the report's entities.
type Totals struct {
	OpeningSat int64 `json:"opening_sat"`
	ClosingSat int64 `json:"closing_sat"`
	ChangeSat  int64 `json:"change_sat"`
	Flows
	Movements int `json:"movements"`
}

// Price is the fiat value of the closing balances.
type Price struct {
	Currency string `json:"currency"`
	// Available is false when no price at or before the closing instant
	// is stored; the values are then absent ("no price").
	Available   bool       `json:"available"`
	Time        *time.Time `json:"time,omitempty"`
	CentsPerBTC *int64     `json:"cents_per_btc,omitempty"`
	Source      string     `json:"source,omitempty"`
	// ConfiguredSource is the price source of the watchlist.
	ConfiguredSource string `json:"configured_source,omitempty"`
	// ClosingCents is the value of all closing balances, rounded half up
	// to the cent.
	ClosingCents *int64 `json:"closing_cents,omitempty"`
}

// Entity is one entity's part of the report.
type Entity struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Country    string `json:"country,omitempty"`
	OpeningSat int64  `json:"opening_sat"`
	ClosingSat int64  `json:"closing_sat"`
	ChangeSat  int64  `json:"change_sat"`
	Flows
	// ClosingCents is the fiat value of ClosingSat when a price is known.
	ClosingCents *int64    `json:"closing_cents,omitempty"`
	Addresses    []Address `json:"addresses"`
}

// Address is one watched address's part of the report. Flows are stated
// per entity (a transfer between two of its addresses is internal to it);
// per address the report gives the gross amounts received and sent.
type Address struct {
	Address     string `json:"address"`
	Label       string `json:"label"`
	OpeningSat  int64  `json:"opening_sat"`
	ClosingSat  int64  `json:"closing_sat"`
	ReceivedSat int64  `json:"received_sat"`
	SentSat     int64  `json:"sent_sat"`
	TxCount     int64  `json:"tx_count"`
}

// Movement is one confirmed transaction of the period, from one entity's
// side.
type Movement struct {
	Entity    string       `json:"entity"`
	Time      time.Time    `json:"time"`
	Height    int64        `json:"height"`
	BlockHash string       `json:"block_hash"`
	Txid      string       `json:"txid"`
	Kind      watcher.Flow `json:"kind"`
	AmountSat int64        `json:"amount_sat"`
	// FeeSat is known when every input is the entity's; null otherwise.
	FeeSat *int64 `json:"fee_sat"`
}
