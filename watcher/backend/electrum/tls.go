package electrum

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// errFingerprint is the cause of a refused pinned certificate.
var errFingerprint = errors.New("TLS certificate fingerprint mismatch")

// makeTLSConfig returns the TLS settings for host: CA verification by
// default, a pinned SHA-256 certificate fingerprint, or (explicitly) none.
func makeTLSConfig(host, fingerprint string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	switch {
	case fingerprint != "":
		pin, err := parseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces the CA and host name checks: self-signed
		// certificates name no CA and often no host.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the server showed no certificate", errFingerprint)
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], pin) != 1 {
				return fmt.Errorf("%w: its TLS certificate has fingerprint sha256:%x, not the pinned sha256:%x; refusing it",
					errFingerprint, got, pin)
			}
			return nil
		}
	case insecure:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// parseFingerprint parses "sha256:hex" (colons between bytes allowed, any
// case) into the 32-byte digest.
func parseFingerprint(s string) ([]byte, error) {
	algo, digest, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return nil, fmt.Errorf("TLS fingerprint %q: want sha256:<64 hex digits>", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(digest, ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("TLS fingerprint %q: want sha256:<64 hex digits>", s)
	}
	return b, nil
}
