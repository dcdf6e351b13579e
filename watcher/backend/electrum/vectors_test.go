package electrum

import (
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/treasurywatch/treasurywatch/watcher"
)

// TestScripthashVectors checks watcher.Script.ElectrumHash against the
// scripthash examples of the Electrum protocol's protocol-basics.rst and
// of go-electrum.
func TestScripthashVectors(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"P2PKH 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
			"8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"},
		{"genesis P2PK", hex.EncodeToString(chaincfg.MainNetParams.GenesisBlock.Transactions[0].TxOut[0].PkScript),
			"740485f380ff6379d11ef6fe7d7cdd68aea7f8bd0d953d9fdf3531fb7d531833"},
		{"P2WPKH bcrt1qn7d2x7272lznt5hhk9s07q3cqnrqljnwladrd3", "00149f9aa3795e57c535d2f7b160ff023804c60fca6e",
			"f04bf26fc16a27abaa2f10540da7a24e369e6ec408f2d901202a7c0cd4a6112d"},
		{"P2SH 34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo", "a91423e522dfc6656a8fda3d47b4fa53f7585ac758cd87",
			"2375f2bbf7815e3cdc835074b052d65c9b2f101bab28d37250cc96b2ed9a6809"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, err := hex.DecodeString(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if got := watcher.Script(script).ElectrumHash(); got != tc.want {
				t.Errorf("ElectrumHash(%s) = %s, want %s", tc.script, got, tc.want)
			}
		})
	}
	// The genesis P2PK row quotes the script only abridged: pin it.
	gen := hex.EncodeToString(chaincfg.MainNetParams.GenesisBlock.Transactions[0].TxOut[0].PkScript)
	if len(gen) != 134 || gen[:8] != "4104678a" || gen[len(gen)-4:] != "5fac" {
		t.Errorf("genesis P2PK script %s does not match the table's 4104678a…5fac", gen)
	}
}

// statusExample is the history of the spec's status example, in the
// order the spec lists it.
var statusExample = []StatusItem{
	{"a6c9c361bd0bc536d6a22648efbf8f9b200e425ef6c3a7a9669dc444c532a347", 2472},
	{"9c42f84b2fcdaff676ba25d9d4941741cc0d1a01cce0c23fdc4c0b2afa38431c", 2473},
	{"770f2d4371b3fabb902dd9a103e2dd005fcd3971181078fca4a2a1d6ff127b30", 2473},
	{"80b19848aed792565ab7c5a79b7c2a00fbf985741579396ebe0ab6098e607311", 0},
	{"e02a1dadfa83b996b24175df807b271ea5d02937ef5b35c195fac1e1bdc3198f", 0},
	{"bb4c8ab438c13b89ca80d1d5bee25b0b6b7f55673f4d801998ba97db161d9e85", -1},
}

const statusExampleHash = "78e96c6562cafa71c115503b9411fdfdc595a45031e2ab76ff75162fe1b0590d"

func TestStatusHashVector(t *testing.T) {
	if got := StatusHash(statusExample); got != statusExampleHash {
		t.Errorf("StatusHash(spec example) = %s, want %s", got, statusExampleHash)
	}
	// The mempool part is ordered by (-height, txid) whatever order it
	// comes in; confirmed items keep their order within a block.
	shuffled := []StatusItem{statusExample[5], statusExample[4], statusExample[0], statusExample[3], statusExample[1], statusExample[2]}
	if got := StatusHash(shuffled); got != statusExampleHash {
		t.Errorf("StatusHash(mempool shuffled) = %s, want %s", got, statusExampleHash)
	}
	swapped := []StatusItem{statusExample[0], statusExample[2], statusExample[1], statusExample[3], statusExample[4], statusExample[5]}
	if got := StatusHash(swapped); got == statusExampleHash {
		t.Error("StatusHash ignores the order of transactions within a block")
	}
	if got := StatusHash(nil); got != "" {
		t.Errorf("StatusHash(nil) = %q, want \"\" (the protocol's null)", got)
	}
}

func TestMerkleRoot(t *testing.T) {
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.RegressionNetParams} {
		blk := p.GenesisBlock
		var ids []chainhash.Hash
		for _, tx := range blk.Transactions {
			ids = append(ids, tx.TxHash())
		}
		if got := merkleRoot(ids); got != blk.Header.MerkleRoot {
			t.Errorf("%s genesis: merkle root %s, want %s", p.Name, got, blk.Header.MerkleRoot)
		}
	}
	// Three txids: the last is paired with itself.
	a, b, c := chainhash.Hash{1}, chainhash.Hash{2}, chainhash.Hash{3}
	pair := func(x, y chainhash.Hash) chainhash.Hash { return chainhash.DoubleHashH(append(x[:], y[:]...)) }
	if got, want := merkleRoot([]chainhash.Hash{a, b, c}), pair(pair(a, b), pair(c, c)); got != want {
		t.Errorf("merkleRoot of 3 = %s, want %s", got, want)
	}
}

func TestParseFingerprint(t *testing.T) {
	good := "sha256:" + "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
	if _, err := parseFingerprint(good); err != nil {
		t.Errorf("parseFingerprint(%q): %v", good, err)
	}
	colons := "SHA256:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
	if _, err := parseFingerprint(colons); err != nil {
		t.Errorf("parseFingerprint(%q): %v", colons, err)
	}
	for _, bad := range []string{"", "00112233", "sha1:00112233445566778899aabbccddeeff00112233", "sha256:zz"} {
		if _, err := parseFingerprint(bad); err == nil {
			t.Errorf("parseFingerprint(%q) accepted", bad)
		}
	}
}
