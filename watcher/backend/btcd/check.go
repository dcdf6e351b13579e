package btcd

import (
	"context"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// CheckNetwork makes sure btcd can serve the watchlist before anything is
// synced: it is reachable with these credentials, follows the chain of
// params (by name and genesis hash) and runs with --addrindex and
// --txindex. It costs one HTTP request (a batch of three calls). Each
// failure is one sentence saying what to change, and wraps one of
// ErrUnreachable, ErrAuth, ErrWrongNetwork or ErrMissingIndex.
func (c *Client) CheckNetwork(ctx context.Context, params *chaincfg.Params) error {
	if params == nil {
		params = c.params
	}
	if params.Name != c.params.Name {
		return c.errorf(ErrWrongNetwork, nil, ": the client was made for %s but is checked against %s", c.params.Name, params.Name)
	}
	var info struct {
		Chain string `json:"chain"`
	}
	var genesis string
	calls := []*call{
		newCall(&info, "getblockchaininfo"),
		newCall(&genesis, "getblockhash", 0),
		// The cheapest question only a node with both indexes
		// answers: btcd checks --addrindex, then (for vinextra)
		// --txindex, before it looks at the address.
		newCall(nil, "searchrawtransactions", probeAddress(params), 0, 0, 1, 1, false),
	}
	if err := c.do(ctx, calls...); err != nil {
		return err
	}
	for _, cl := range calls[:2] {
		if cl.err != nil {
			return cl.err
		}
	}
	if info.Chain != params.Name {
		return c.errorf(ErrWrongNetwork, nil, " is on %s but the watchlist's network is %s; refusing to sync", info.Chain, params.Name)
	}
	if genesis != params.GenesisHash.String() {
		return c.errorf(ErrWrongNetwork, nil, " is on a %s chain with genesis block %s, not the watchlist's %s; refusing to sync",
			info.Chain, genesis, params.GenesisHash)
	}
	err := calls[2].err
	if err == nil {
		return nil
	}
	code, msg, ok := rpcCode(err)
	switch {
	case !ok:
		return err
	case strings.Contains(msg, "--addrindex"):
		return c.errorf(ErrMissingIndex, err, " runs without --addrindex; start it with --addrindex --txindex")
	case strings.Contains(msg, "--txindex"):
		return c.errorf(ErrMissingIndex, err, " runs without --txindex; start it with --addrindex --txindex")
	case code == btcjson.ErrRPCNoTxInfo && strings.Contains(msg, "No information"):
		return nil // an unused address: the index works
	case code == btcjson.ErrRPCMethodNotFound.Code:
		return c.errorf(ErrMissingIndex, err, " does not know searchrawtransactions; treasurywatch needs btcd (not bitcoind) started with --addrindex --txindex")
	}
	return err
}

// probeAddress is a valid address of params that CheckNetwork asks about:
// the P2PKH of the all-zero hash.
func probeAddress(params *chaincfg.Params) string {
	a, err := address.NewAddressPubKeyHash(make([]byte, 20), params)
	if err != nil { // cannot happen for a 20-byte hash
		panic(err)
	}
	return a.EncodeAddress()
}
