package watcher

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/address/v2/bech32"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Watchlist is the decoded watchlist file: which chain, where the ledger
// lives, which servers to ask, and whose coins to follow. Each section is a
// tagged field; the decoder walks the fields, so a later section ([http],
// [schedule], [[reports]]…) is added by adding a field (and its checks to
// Validate).
type Watchlist struct {
	// Path is the absolute path of the file, so that the daemon can say
	// which file it runs from whatever its working directory.
	Path     string          `toml:"-"`
	Network  Network         `toml:"network"`
	Store    StoreConfig     `toml:"store"`
	Backends []BackendConfig `toml:"backends"`
	Entities []Entity        `toml:"entities"`
	Schedule ScheduleConfig  `toml:"schedule"`
	HTTP     HTTPConfig      `toml:"http"`
	Price    PriceConfig     `toml:"price"`
	// Reports are the scheduled balance reports; ReportDelivery and SMTP
	// say where they (and alerts) are sent.
	Reports        []ReportConfig       `toml:"reports"`
	ReportDelivery ReportDeliveryConfig `toml:"report_delivery"`
	SMTP           SMTPConfig           `toml:"smtp"`
	// Alerts are the movement alert rules.
	Alerts []AlertConfig `toml:"alerts"`
	// Verify is how many backends, the primary included, must report the
	// same balances at the same block before a sync is published.
	Verify VerifyQuorum `toml:"verify"`

	name     string          // the path as the user gave it, for messages
	lines    lineIndex       // where each key was written; nil if not loaded from a file
	reported map[string]bool // key paths the decoder already complained about
	index    map[string]watchlistRef
}

type watchlistRef struct{ entity, addr int }

// Network is the chain the watchlist is about. It is a type of its own so
// that the file can say `network = "regtest"` while the code gets the btcd
// parameters that decide which addresses are acceptable.
type Network struct {
	Params *chaincfg.Params
}

// networkNames lists the accepted spellings; "testnet" stays testnet3
// because that is what every tool meant by it before testnet4 existed.
var networkNames = []struct {
	name   string
	params *chaincfg.Params
}{
	{"mainnet", &chaincfg.MainNetParams},
	{"testnet", &chaincfg.TestNet3Params},
	{"testnet3", &chaincfg.TestNet3Params},
	{"testnet4", &chaincfg.TestNet4Params},
	{"signet", &chaincfg.SigNetParams},
	{"regtest", &chaincfg.RegressionNetParams},
	{"simnet", &chaincfg.SimNetParams},
}

// ParseNetwork returns the Network for one of the names a watchlist
// accepts, so that command-line flags spell networks the same way.
func ParseNetwork(name string) (Network, error) {
	for _, n := range networkNames {
		if n.name == name {
			return Network{Params: n.params}, nil
		}
	}
	return Network{}, fmt.Errorf("unknown network %q (want mainnet, testnet, testnet3, testnet4, signet, regtest or simnet)", name)
}

// UnmarshalText lets the TOML decoder turn the network name into params.
func (n *Network) UnmarshalText(text []byte) error {
	v, err := ParseNetwork(string(text))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// MarshalText writes the canonical name, so a watchlist re-encodes the way
// it decodes.
func (n Network) MarshalText() ([]byte, error) {
	if n.Params == nil {
		return nil, errors.New("network not set")
	}
	return []byte(n.Params.Name), nil
}

// String gives the canonical name (testnet3, not testnet) for logs and
// summaries.
func (n Network) String() string {
	if n.Params == nil {
		return "unset"
	}
	return n.Params.Name
}

// StoreConfig says where the SQLite ledger lives. Path is absolute after
// LoadWatchlist: a relative path means "next to the watchlist", not "in
// whatever directory the daemon was started from".
type StoreConfig struct {
	Path string `toml:"path"`
}

// BackendConfig is one source of chain data. The password may come from the
// file, the environment or a separate file, so that a watchlist can be
// published or committed without its secret.
type BackendConfig struct {
	Kind         string `toml:"kind"`
	URL          string `toml:"url"`
	User         string `toml:"user"`
	Password     string `toml:"password"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"` // absolute after LoadWatchlist
	TLSCert      string `toml:"tls_cert"`      // absolute after LoadWatchlist
	// TLSFingerprint pins a self-signed Electrum server certificate
	// ("sha256:<hex>"), as Electrum and Sparrow users do.
	TLSFingerprint string `toml:"tls_fingerprint"`
	// InsecureSkipVerify accepts any certificate; never implied, only set
	// explicitly by someone who knows what they give up.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// RatePerSecond caps requests per second (Esplora), so a public
	// instance is not hammered; 0 means the backend's gentle default.
	RatePerSecond float64 `toml:"rate_per_second"`
	// Concurrency bounds requests in flight; 0 means the default.
	Concurrency int `toml:"concurrency"`
	// Retries is how often a throttled, failing or timed-out request is
	// tried again (Esplora); 0 means the default (6), -1 none.
	Retries int `toml:"retries"`
	// BatchSize is how many requests go in one round trip (Electrum
	// batches, btcd pages); 0 means the default. Kept below common
	// server caps (Fulcrum allows 345).
	BatchSize int `toml:"batch_size"`
	// Timeout bounds every single request; 0 means the default.
	Timeout Duration `toml:"timeout"`
	// Line is the line of the url key (or of the [[backends]] entry), so
	// that connection errors can point into the file.
	Line int `toml:"-"`
}

// Secret returns the password from whichever source is configured. It is
// resolved late, when connecting, so a rotated password file is picked up;
// its errors name the variable or file but never contain the secret.
func (b BackendConfig) Secret() (string, error) {
	who := "backend " + b.Redacted()
	switch n := countNonEmpty(b.Password, b.PasswordEnv, b.PasswordFile); {
	case n == 0:
		return "", fmt.Errorf("%s: no password, password_env or password_file", who)
	case n > 1:
		return "", fmt.Errorf("%s: set only one of password, password_env, password_file", who)
	}
	switch {
	case b.Password != "":
		return b.Password, nil
	case b.PasswordEnv != "":
		v, ok := os.LookupEnv(b.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s (password_env) is not set", who, b.PasswordEnv)
		}
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s (password_env) is empty", who, b.PasswordEnv)
		}
		return v, nil
	default:
		data, err := os.ReadFile(b.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("%s: password_file %s: %s", who, b.PasswordFile, pathErrText(err))
		}
		s := strings.TrimSuffix(string(data), "\n")
		s = strings.TrimSuffix(s, "\r")
		if s == "" {
			return "", fmt.Errorf("%s: password_file %s is empty", who, b.PasswordFile)
		}
		return s, nil
	}
}

// Redacted describes the backend for logs and pages: kind and URL without
// user info, query or fragment, where credentials or API keys could hide.
func (b BackendConfig) Redacted() string {
	u, err := url.Parse(b.URL)
	if err != nil || b.URL == "" {
		return b.Kind + " (invalid url)"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return b.Kind + " " + u.String()
}

// String is Redacted, so that printing a BackendConfig with %v cannot leak
// its password.
func (b BackendConfig) String() string { return b.Redacted() }

// GoString is Redacted too: %#v would otherwise print the Password field.
func (b BackendConfig) GoString() string { return "BackendConfig(" + b.Redacted() + ")" }

// Entity is a government or public body whose disclosed addresses are
// followed together: balances and flows are reported per entity.
type Entity struct {
	ID        string           `toml:"id"`
	Name      string           `toml:"name"`
	Country   string           `toml:"country"`
	Addresses []WatchedAddress `toml:"addresses"`
	// Line is the line of the [[entities]] entry, for messages.
	Line int `toml:"-"`
}

// WatchedAddress is one address of an entity, with where the claim that it
// belongs to the entity comes from: readers must be able to check it.
type WatchedAddress struct {
	Address Address `toml:"address"`
	Label   string  `toml:"label"`
	Source  string  `toml:"source"`
	// Line is the line of the address key, for messages.
	Line int `toml:"-"`
}

// Address is an address as written plus what it decodes to. Decoding checks
// the checksum against every known network; whether it is an address of the
// watchlist's network is checked by Validate, because the network key may
// come after the addresses in the file.
type Address struct {
	Text   string
	Addr   address.Address
	Script Script // filled by Validate
}

// UnmarshalText keeps the text and checks that it is an address of some
// network, so that a typo is reported where it was written.
func (a *Address) UnmarshalText(text []byte) error {
	*a = Address{Text: strings.TrimSpace(string(text))}
	addr, err := decodeAnyNet(a.Text)
	if err != nil {
		return err
	}
	a.Addr = addr
	return nil
}

// MarshalText returns the address as written.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.Text), nil }

// String returns the address as written.
func (a Address) String() string { return a.Text }

// addressNets are the parameter sets an address is tried against, in the
// order their names appear in messages.
var addressNets = []*chaincfg.Params{
	&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.TestNet4Params,
	&chaincfg.SigNetParams, &chaincfg.RegressionNetParams, &chaincfg.SimNetParams,
}

// decodeAnyNet decodes text as an address of any known network. Base58
// addresses decode only against the network whose version bytes they carry,
// hence the loop.
func decodeAnyNet(text string) (address.Address, error) {
	if text == "" {
		return nil, errors.New("address is empty")
	}
	var firstErr error
	for _, p := range addressNets {
		addr, err := address.DecodeAddress(text, p)
		if err == nil {
			switch addr.(type) {
			case *address.AddressPubKey:
				return nil, fmt.Errorf("address %q: a raw public key, not an address", text)
			case *address.AddressPayToAnchor:
				return nil, fmt.Errorf("address %q: a pay-to-anchor output holds no funds", text)
			}
			return addr, nil
		}
		if firstErr == nil || errors.Is(firstErr, address.ErrUnknownAddressType) {
			firstErr = err
		}
	}
	return nil, fmt.Errorf("address %q: %s", text, addrErrText(firstErr))
}

// addrErrText turns btcd's address errors into words a watchlist author
// understands; a checksum failure is by far the most common (a typo).
func addrErrText(err error) string {
	var bad bech32.ErrInvalidChecksum
	msg := err.Error()
	switch {
	case errors.Is(err, address.ErrChecksumMismatch), errors.As(err, &bad):
		return "checksum mismatch (a typo?)"
	case strings.HasPrefix(msg, "invalid checksum expected bech32"):
		return "checksum mismatch (" + strings.TrimPrefix(msg, "invalid checksum ") + ")"
	case errors.Is(err, address.ErrUnknownAddressType):
		return "version byte of no known network"
	}
	return "not a Bitcoin address (" + msg + ")"
}

// addrNetworks names the networks an address belongs to, merging those that
// share prefixes: "testnet/signet" for tb1…, "testnet/signet/regtest" for m….
func addrNetworks(a address.Address) string {
	var names []string
	for _, p := range addressNets {
		if !a.IsForNet(p) {
			continue
		}
		name := p.Name
		if name == "testnet3" || name == "testnet4" {
			name = "testnet"
		}
		if len(names) == 0 || names[len(names)-1] != name {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "an unknown network's"
	}
	return "a " + strings.Join(names, "/")
}

// Problem is one thing wrong with a watchlist, located as precisely as the
// file allows, so that an editor can jump to it.
type Problem struct {
	File string
	Line int // 0 when the problem has no line (a missing section)
	Msg  string
}

// Error formats the problem as "file:line: msg", the form compilers use.
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one pass, so that fixing a watchlist
// takes one round trip rather than one per mistake.
type Problems []Problem

// Error lists the problems one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

func countNonEmpty(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// pathErrText drops the path from an *fs.PathError: messages already say
// which key named the file.
func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Duration is a time.Duration written as "30s" or "2m" in the watchlist.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("duration %q: want e.g. \"30s\" or \"2m\"", text)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the same form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
