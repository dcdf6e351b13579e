package watcher

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire/v2"
)

// MaxTxBytes bounds a serialized transaction: a block weighs at most
// 4,000,000 units and every byte of a transaction weighs at least one.
const MaxTxBytes = 4_000_000

// Smallest serialized sizes, used to bound the counts a transaction
// declares by the bytes that follow them.
const (
	minTxInBytes  = 32 + 4 + 1 + 4 // outpoint, empty script, sequence
	minTxOutBytes = 8 + 1          // value, empty script
)

// errTxShape is a transaction whose declared counts cannot fit its bytes.
var errTxShape = errors.New("malformed transaction")

// DecodeTx decodes a raw transaction from a backend or the store. Before
// wire.MsgTx.Deserialize sees the bytes, every count the transaction
// declares (inputs, outputs, script lengths, witness items) is checked
// against the bytes left: Deserialize allocates what a count declares
// before reading it, so a few bytes declaring four million witness items
// would cost about 100 MB. Bytes refused here would fail Deserialize too.
func DecodeTx(raw []byte) (*wire.MsgTx, error) {
	if len(raw) > MaxTxBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than any transaction (%d)", errTxShape, len(raw), MaxTxBytes)
	}
	if err := checkTxShape(raw); err != nil {
		return nil, err
	}
	tx := new(wire.MsgTx)
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	return tx, nil
}

// txScanner walks a serialized transaction without allocating.
type txScanner struct {
	b   []byte
	err error
}

func (s *txScanner) skip(n uint64) {
	if s.err == nil && n > uint64(len(s.b)) {
		s.err = fmt.Errorf("%w: %d bytes declared, %d left", errTxShape, n, len(s.b))
	}
	if s.err == nil {
		s.b = s.b[n:]
	}
}

// count reads a compact size and checks that n items of at least min
// bytes each fit in what is left.
func (s *txScanner) count(min uint64) uint64 {
	if s.err != nil {
		return 0
	}
	if len(s.b) == 0 {
		s.err = fmt.Errorf("%w: truncated", errTxShape)
		return 0
	}
	var n uint64
	switch p := s.b[0]; {
	case p < 0xfd:
		n, s.b = uint64(p), s.b[1:]
	case p == 0xfd && len(s.b) >= 3:
		n, s.b = uint64(binary.LittleEndian.Uint16(s.b[1:])), s.b[3:]
	case p == 0xfe && len(s.b) >= 5:
		n, s.b = uint64(binary.LittleEndian.Uint32(s.b[1:])), s.b[5:]
	case p == 0xff && len(s.b) >= 9:
		n, s.b = binary.LittleEndian.Uint64(s.b[1:]), s.b[9:]
	default:
		s.err = fmt.Errorf("%w: truncated", errTxShape)
		return 0
	}
	if min > 0 && n > uint64(len(s.b))/min {
		s.err = fmt.Errorf("%w: %d items declared, %d bytes left", errTxShape, n, len(s.b))
		return 0
	}
	return n
}

// checkTxShape checks the declared counts of a serialized transaction
// (with or without witness data) against its length.
func checkTxShape(raw []byte) error {
	s := &txScanner{b: raw}
	scanTx(s)
	return s.err
}

// scanTx moves s past one serialized transaction, checking its declared
// counts against the bytes left.
func scanTx(s *txScanner) {
	s.skip(4) // version
	witness := false
	if s.err == nil && len(s.b) >= 2 && s.b[0] == 0x00 && s.b[1] != 0x00 {
		witness = true
		s.skip(2) // marker, flag
	}
	nIn := s.count(minTxInBytes)
	for i := uint64(0); i < nIn && s.err == nil; i++ {
		s.skip(36)
		s.skip(s.count(1))
		s.skip(4)
	}
	nOut := s.count(minTxOutBytes)
	for i := uint64(0); i < nOut && s.err == nil; i++ {
		s.skip(8)
		s.skip(s.count(1))
	}
	if witness {
		for i := uint64(0); i < nIn && s.err == nil; i++ {
			items := s.count(1)
			for j := uint64(0); j < items && s.err == nil; j++ {
				s.skip(s.count(1))
			}
		}
	}
	s.skip(4) // lock time
}

// minTxBytes is the smallest serialized transaction: version, no input,
// no output, lock time.
const minTxBytes = 4 + 1 + 1 + 4

// DecodeBlock decodes a raw block from a backend the way DecodeTx decodes
// a transaction: the declared transaction count and every count inside
// each transaction are checked against the bytes left before
// wire.MsgBlock.Deserialize allocates for them.
func DecodeBlock(raw []byte) (*wire.MsgBlock, error) {
	if len(raw) > MaxTxBytes {
		return nil, fmt.Errorf("%w: block of %d bytes, more than any block (%d)", errTxShape, len(raw), MaxTxBytes)
	}
	s := &txScanner{b: raw}
	s.skip(80) // header
	n := s.count(minTxBytes)
	for i := uint64(0); i < n && s.err == nil; i++ {
		scanTx(s)
	}
	if s.err != nil {
		return nil, s.err
	}
	blk := new(wire.MsgBlock)
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	return blk, nil
}
