package web

import (
	"context"
	"time"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// The JSON API v1 types. Amounts are integer satoshis (`_sat`), times RFC
// 3339 UTC, names snake_case; docs/api.md shows an example of each answer
// and a test keeps the examples' keys equal to the live answers' keys.

// syncJSON says how fresh the figures are.
type syncJSON struct {
	// LastSuccessAt is when the published ledger was written.
	LastSuccessAt time.Time `json:"last_success_at"`
	// Stale is true when LastSuccessAt is older than the server's limit.
	Stale             bool  `json:"stale"`
	StaleAfterSeconds int64 `json:"stale_after_seconds"`
	// LastAttempt is the daemon's last sync attempt; null when it has
	// reported none (a cron-driven sync, for instance).
	LastAttempt *attemptJSON `json:"last_attempt"`
}

type attemptJSON struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error"`
	Backend string    `json:"backend"`
	// Failover says why a backend other than the primary served the
	// attempt ("served by … because … failed: …"); "" when the primary did.
	Failover string `json:"failover"`
}

type changeJSON struct {
	Period     string        `json:"period"`
	Since      *watcher.AsOf `json:"since"`
	BalanceSat int64         `json:"balance_sat"`
	ChangeSat  int64         `json:"change_sat"`
}

type movementJSON struct {
	Txid      string       `json:"txid"`
	Height    int64        `json:"height"`
	BlockHash string       `json:"block_hash"`
	Time      time.Time    `json:"time"`
	Kind      watcher.Flow `json:"kind"`
	DeltaSat  int64        `json:"delta_sat"`
}

type entitySummaryJSON struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Country        string        `json:"country"`
	ConfirmedSat   int64         `json:"confirmed_sat"`
	UnconfirmedSat int64         `json:"unconfirmed_sat"`
	Share          float64       `json:"share"`
	TxCount        int           `json:"tx_count"`
	Changes        []changeJSON  `json:"changes"`
	LastMovement   *movementJSON `json:"last_movement"`
	// Fiat values ConfirmedSat; absent when no price is configured or
	// stored.
	Fiat *fiatJSON `json:"fiat,omitempty"`
}

type summaryJSON struct {
	Network             string              `json:"network"`
	AsOf                watcher.AsOf        `json:"as_of"`
	Sync                syncJSON            `json:"sync"`
	TotalConfirmedSat   int64               `json:"total_confirmed_sat"`
	TotalUnconfirmedSat int64               `json:"total_unconfirmed_sat"`
	Fiat                *fiatJSON           `json:"fiat,omitempty"` // of TotalConfirmedSat
	Entities            []entitySummaryJSON `json:"entities"`
	// Verification and Incident: see verificationJSON and incidentJSON.
	Verification *verificationJSON `json:"verification"`
	Incident     *incidentJSON     `json:"incident"`
}

type addressJSON struct {
	Address        string        `json:"address"`
	Label          string        `json:"label"`
	Source         string        `json:"source"`
	ConfirmedSat   int64         `json:"confirmed_sat"`
	UnconfirmedSat int64         `json:"unconfirmed_sat"`
	TxCount        int64         `json:"tx_count"`
	LastActivity   *watcher.AsOf `json:"last_activity"`
}

type entityListItemJSON struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Country        string        `json:"country"`
	ConfirmedSat   int64         `json:"confirmed_sat"`
	UnconfirmedSat int64         `json:"unconfirmed_sat"`
	Addresses      []addressJSON `json:"addresses"`
}

type entitiesJSON struct {
	Network  string               `json:"network"`
	AsOf     watcher.AsOf         `json:"as_of"`
	Entities []entityListItemJSON `json:"entities"`
}

type monthJSON struct {
	Month          string `json:"month"`
	InflowSat      int64  `json:"inflow_sat"`
	OutflowSat     int64  `json:"outflow_sat"`
	InternalFeeSat int64  `json:"internal_fee_sat"`
	MixedNetSat    int64  `json:"mixed_net_sat"`
	NetSat         int64  `json:"net_sat"`
	InflowCount    int    `json:"inflow_count"`
	OutflowCount   int    `json:"outflow_count"`
	InternalCount  int    `json:"internal_count"`
	MixedCount     int    `json:"mixed_count"`
	EndBalanceSat  int64  `json:"end_balance_sat"`
}

type entityJSON struct {
	Network string       `json:"network"`
	AsOf    watcher.AsOf `json:"as_of"`
	Sync    syncJSON     `json:"sync"`
	entitySummaryJSON
	Addresses []addressJSON `json:"addresses"`
	Monthly   []monthJSON   `json:"monthly"`
}

type historyPointJSON struct {
	Date       string    `json:"date"`
	Height     int64     `json:"height"`
	Hash       string    `json:"hash"`
	Time       time.Time `json:"time"`
	BalanceSat int64     `json:"balance_sat"`
	DeltaSat   int64     `json:"delta_sat"`
	TxCount    int       `json:"tx_count"`
}

type historyJSON struct {
	Entity   string             `json:"entity"`
	AsOf     watcher.AsOf       `json:"as_of"`
	Interval string             `json:"interval"`
	From     *time.Time         `json:"from"`
	To       *time.Time         `json:"to"`
	Points   []historyPointJSON `json:"points"`
}

type flowJSON struct {
	Txid        string       `json:"txid"`
	Height      int64        `json:"height"`
	BlockHash   string       `json:"block_hash"`
	Time        time.Time    `json:"time"`
	Kind        watcher.Flow `json:"kind"`
	DeltaSat    int64        `json:"delta_sat"`
	BalanceSat  int64        `json:"balance_sat"`
	FeeSat      *int64       `json:"fee_sat"`
	ExplorerURL *string      `json:"explorer_url"`
	// Fiat is delta_sat's value at the BTC price of the flow's UTC day
	// (the stored price of that day nearest the flow's time); null when
	// no price is configured or none of that day is stored yet.
	Fiat *fiatJSON `json:"fiat"`
}

type flowsJSON struct {
	Entity string         `json:"entity"`
	AsOf   watcher.AsOf   `json:"as_of"`
	From   *time.Time     `json:"from"`
	To     *time.Time     `json:"to"`
	Kinds  []watcher.Flow `json:"kinds"`
	Flows  []flowJSON     `json:"flows"`
}

type addressTxJSON struct {
	Txid       string       `json:"txid"`
	Height     int64        `json:"height"`
	BlockHash  string       `json:"block_hash"`
	Time       time.Time    `json:"time"`
	Kind       watcher.Flow `json:"kind"`
	DeltaSat   int64        `json:"delta_sat"`
	BalanceSat int64        `json:"balance_sat"`
}

type addressDetailJSON struct {
	Network    string       `json:"network"`
	AsOf       watcher.AsOf `json:"as_of"`
	EntityID   string       `json:"entity_id"`
	EntityName string       `json:"entity_name"`
	addressJSON
	Txs []addressTxJSON `json:"txs"`
}

// syncInfo describes the freshness of v's snapshot.
func (s *Server) syncInfo(v *view) syncJSON {
	out := syncJSON{LastSuccessAt: v.snap.syncedAt.UTC(), StaleAfterSeconds: int64(s.cfg.StaleAfter / time.Second),
		Stale: v.now.Sub(v.snap.syncedAt) > s.cfg.StaleAfter}
	if v.hasStatus {
		out.LastAttempt = &attemptJSON{At: v.status.At, OK: v.status.OK, Error: v.status.Error, Backend: v.status.Backend,
			Failover: v.status.Failover}
	}
	return out
}

// entitySummary is an entity's line of the overview.
func (s *Server) entitySummary(ctx context.Context, v *view, id string) (entitySummaryJSON, *entityData, error) {
	d, err := s.entity(ctx, v.snap, id)
	if err != nil {
		return entitySummaryJSON{}, nil, err
	}
	out := entitySummaryJSON{ID: id, Name: d.ent.Name, Country: d.ent.Country, ConfirmedSat: d.bal.ConfirmedSat,
		UnconfirmedSat: d.bal.UnconfirmedSat, TxCount: len(d.txs), Changes: []changeJSON{}}
	out.Fiat = fiat(v.snap, d.bal.ConfirmedSat)
	if v.snap.total > 0 {
		out.Share = float64(d.bal.ConfirmedSat) / float64(v.snap.total)
	}
	for _, p := range changePeriods {
		since, err := s.sinceBlock(ctx, v.snap, p.back(v.now))
		if err != nil {
			return out, nil, err
		}
		c := changeJSON{Period: p.name, Since: since}
		if since != nil {
			c.BalanceSat = d.series.balance(d.series.atHeight(since.Height))
		}
		c.ChangeSat = d.bal.ConfirmedSat - c.BalanceSat
		out.Changes = append(out.Changes, c)
	}
	if t := d.lastMovement(); t != nil {
		out.LastMovement = &movementJSON{Txid: t.Txid, Height: t.Height, BlockHash: t.BlockHash, Time: t.Time.UTC(),
			Kind: t.Kind, DeltaSat: t.DeltaSat}
	}
	return out, d, nil
}

// addressInfo is an address's standing with its disclosure.
func (s *Server) addressInfo(v *view, a watcher.WatchedAddress) addressJSON {
	out := addressJSON{Address: a.Address.Text, Label: a.Label, Source: a.Source}
	if b := v.snap.addrs[a.Address.Text]; b != nil {
		out.ConfirmedSat, out.UnconfirmedSat, out.TxCount = b.ConfirmedSat, b.UnconfirmedSat, b.TxCount
	}
	if la, ok := v.snap.activity[a.Address.Text]; ok {
		out.LastActivity = &la
	}
	return out
}

// timePtr returns nil for the zero time, so open bounds encode as null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
