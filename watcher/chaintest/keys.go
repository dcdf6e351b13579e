package chaintest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
)

// Kind is a standard output type. The watcher must handle every type a
// public body may hold coins in, so tests create one of each.
type Kind int

// The kinds of Key. The zero Kind is invalid.
const (
	// P2PKH is pay-to-pubkey-hash with a compressed key (1…/m…).
	P2PKH Kind = iota + 1
	// P2SHMultisig is a 2-of-3 multisig wrapped in P2SH (3…/2…), the
	// shape of most institutional cold storage.
	P2SHMultisig
	// P2WPKH is segwit v0 pay-to-witness-pubkey-hash (bc1q…, 20 bytes).
	P2WPKH
	// P2WSH is a 2-of-3 multisig as segwit v0 witness script (bc1q…, 32 bytes).
	P2WSH
	// P2TR is a taproot key-path output (BIP 86, no script tree, bc1p…).
	P2TR
)

// Kinds lists every Kind, for tests that cover them all.
var Kinds = []Kind{P2PKH, P2SHMultisig, P2WPKH, P2WSH, P2TR}

// String returns the usual name of the output type.
func (k Kind) String() string {
	switch k {
	case P2PKH:
		return "p2pkh"
	case P2SHMultisig:
		return "p2sh-multisig"
	case P2WPKH:
		return "p2wpkh"
	case P2WSH:
		return "p2wsh"
	case P2TR:
		return "p2tr"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Key is a script the wallet can spend, with everything needed to sign for
// it. The private parts are exported because they are worthless test keys
// and a test may want to sign something the wallet does not (a custom
// sighash, a deliberately bad signature).
type Key struct {
	Kind Kind
	// Address encodes Script for the node's network.
	Address address.Address
	// Script is the scriptPubKey coins to this key are locked with.
	Script []byte
	// Priv holds one private key, or three (in pubkey order) for the
	// 2-of-3 multisig kinds; the first two sign.
	Priv []*btcec.PrivateKey
	// Redeem is the P2SH redeem script or the P2WSH witness script; nil
	// for the single-key kinds.
	Redeem []byte
}

// newKey derives a key of the given kind from seed and the counter at *next
// (advanced), so that a fixed seed gives the same keys in the same order.
func newKey(params *chaincfg.Params, seed []byte, next *uint32, kind Kind) (*Key, error) {
	priv := func() *btcec.PrivateKey {
		var ctr [4]byte
		binary.BigEndian.PutUint32(ctr[:], *next)
		*next++
		h := sha256.New()
		h.Write([]byte("chaintest key\x00"))
		h.Write(seed)
		h.Write(ctr[:])
		k, _ := btcec.PrivKeyFromBytes(h.Sum(nil))
		return k
	}
	k := &Key{Kind: kind}
	var err error
	switch kind {
	case P2PKH, P2WPKH:
		p := priv()
		k.Priv = []*btcec.PrivateKey{p}
		hash := address.Hash160(p.PubKey().SerializeCompressed())
		if kind == P2PKH {
			k.Address, err = address.NewAddressPubKeyHash(hash, params)
		} else {
			k.Address, err = address.NewAddressWitnessPubKeyHash(hash, params)
		}
	case P2SHMultisig, P2WSH:
		k.Priv = []*btcec.PrivateKey{priv(), priv(), priv()}
		pubs := make([]*address.AddressPubKey, 3)
		for i, p := range k.Priv {
			if pubs[i], err = address.NewAddressPubKey(p.PubKey().SerializeCompressed(), params); err != nil {
				return nil, err
			}
		}
		if k.Redeem, err = txscript.MultiSigScript(pubs, 2); err != nil {
			return nil, err
		}
		if kind == P2SHMultisig {
			k.Address, err = address.NewAddressScriptHash(k.Redeem, params)
		} else {
			h := sha256.Sum256(k.Redeem)
			k.Address, err = address.NewAddressWitnessScriptHash(h[:], params)
		}
	case P2TR:
		p := priv()
		k.Priv = []*btcec.PrivateKey{p}
		out := txscript.ComputeTaprootKeyNoScript(p.PubKey())
		k.Address, err = address.NewAddressTaproot(schnorr.SerializePubKey(out), params)
	default:
		return nil, fmt.Errorf("chaintest: unknown key kind %v", kind)
	}
	if err != nil {
		return nil, err
	}
	if k.Script, err = txscript.PayToAddrScript(k.Address); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKey creates a key of the given kind and registers it in the wallet, so
// that Spend can sign for coins paying it. Pay never spends such coins on
// its own: they belong to the test's "owners".
func (n *Node) NewKey(kind Kind) (*Key, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.w.newKey(kind, false)
}

// MinerKey returns the P2PKH key the node mines to; Pay funds payments from
// its coinbases.
func (n *Node) MinerKey() *Key { return n.w.miner }
