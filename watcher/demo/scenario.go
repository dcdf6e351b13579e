// Package demo writes a year of fictitious treasury history onto a private
// regtest btcd, so that `treasurywatch demo` can show a populated dashboard
// within a minute on a fresh machine, with no public chain and no real
// government involved.
//
// The story: the National Bitcoin Office of the (fictitious) Republic of
// Demoland buys bitcoin every day, consolidates and splits its cold
// storage, co-signs a joint purchase with an outside party and moves coins
// to an exchange and to the Ministry of Finance; the Supreme Court
// receives a seizure and auctions part of it; the Ministry buys quarterly.
// Every standard output type occurs, and every flow the ledger knows
// (inflow, outflow, internal, mixed).
package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher/chaintest"
)

// Country is the country code of every demo entity: "ZZ" is user-assigned
// in ISO 3166-1, so it can never be mistaken for a real state.
const Country = "ZZ"

// The entity ids, fixed so that the demo's pages and docs can link them.
const (
	OfficeID   = "demo-bitcoin-office"
	CourtID    = "demo-supreme-court"
	MinistryID = "demo-ministry-finance"
)

// Scenario is what Build wrote: the entities to put in the watchlist and
// the story, so that the demo can tell the user what to look for.
type Scenario struct {
	Entities []Entity
	// First and Last are the times of the first and the last block.
	First, Last time.Time
	// Height is the height of the last block.
	Height int64
	// Events are the notable transactions in chain order; the last may
	// be unconfirmed (Height -1). The daily purchases are not listed:
	// Purchases counts them and PurchasedSat sums them.
	Events       []Event
	Purchases    int
	PurchasedSat int64
	// Pending are the transactions left in the mempool on purpose.
	Pending []chainhash.Hash
}

// Entity is one fictitious public body and its disclosed addresses.
type Entity struct {
	ID, Name, Country string
	Addresses         []Address
}

// Address is one disclosed address. Key is kept so that a live demo can
// continue the story (spend from it); it holds throwaway regtest keys.
type Address struct {
	Address string
	Label   string
	// Source is where the (fictitious) disclosure was published; it is
	// under example.org, a domain reserved for examples.
	Source string
	Key    *chaintest.Key
}

// Event is one step of the story.
type Event struct {
	Time   time.Time
	Height int64 // -1 while unconfirmed
	Txid   chainhash.Hash
	// Entities lists the ids of the bodies involved.
	Entities []string
	What     string
}

// Entity returns the entity with id, or nil.
func (s *Scenario) Entity(id string) *Entity {
	for i := range s.Entities {
		if s.Entities[i].ID == id {
			return &s.Entities[i]
		}
	}
	return nil
}

// WatchlistTOML renders a watchlist for the scenario: regtest, the ledger
// at dbPath, the node as btcd backend (with its random RPC credentials,
// harmless for a throwaway local chain) and the entities with their
// labels and sources. The demo command writes it to a file, so that the
// user sees a real watchlist and can copy its shape.
func (s *Scenario) WatchlistTOML(node *chaintest.Node, dbPath string) string {
	var b strings.Builder
	b.WriteString("# treasurywatch demo watchlist: fictitious public bodies on a private regtest\n")
	b.WriteString("# chain written by `treasurywatch demo`. Nothing here is real.\n\n")
	b.WriteString("network = \"regtest\"\n\n[store]\n")
	fmt.Fprintf(&b, "path = %s\n\n", tomlString(dbPath))
	b.WriteString("[[backends]]\nkind = \"btcd\"\n")
	fmt.Fprintf(&b, "url = %s\nuser = %s\npassword = %s # a throwaway local node\n",
		tomlString("http://"+node.RPCAddr), tomlString(node.User), tomlString(node.Pass))
	for _, e := range s.Entities {
		fmt.Fprintf(&b, "\n[[entities]]\nid = %s\nname = %s\ncountry = %s\n",
			tomlString(e.ID), tomlString(e.Name), tomlString(e.Country))
		for _, a := range e.Addresses {
			fmt.Fprintf(&b, "\n[[entities.addresses]]\naddress = %s # %v\nlabel = %s\nsource = %s\n",
				tomlString(a.Address), a.Key.Kind, tomlString(a.Label), tomlString(a.Source))
		}
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
