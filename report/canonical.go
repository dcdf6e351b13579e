package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// newReport computes the digest of d and returns the report.
func newReport(d Data) (*Report, error) {
	d.Digest = ""
	c, err := Canonical(d)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(c)
	r := &Report{Data: d, digest: "sha256:" + hex.EncodeToString(sum[:])}
	r.Data.Digest = r.digest
	return r, nil
}

// Canonical returns the canonical JSON of d that the digest covers: the
// JSON format's object with the digest field removed, keys sorted at every
// level, no insignificant whitespace, and no HTML escaping. It is what
// `jq -cjS 'del(.digest)'` prints for the published JSON, so an auditor
// re-derives the digest with standard tools.
func Canonical(d Data) ([]byte, error) {
	d.Digest = ""
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("report: canonical json: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("report: canonical json: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, fmt.Errorf("report: canonical json: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
