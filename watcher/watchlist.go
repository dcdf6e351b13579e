package watcher

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/btcsuite/btcd/txscript/v2"
)

// DefaultStorePath is the ledger file used when [store] says nothing, next
// to the watchlist.
const DefaultStorePath = "treasury.db"

// backendKind is what the watchlist checks about one kind of backend.
type backendKind struct {
	// schemes maps each accepted URL scheme to whether it is plain text.
	// Plain text is allowed to a loopback host only: anything else would
	// send credentials, and the answers we trust, over the network in clear.
	schemes     map[string]bool
	auth        bool // takes user + exactly one password source
	tlsCert     bool // takes tls_cert (a certificate to pin for its TLS scheme)
	fingerprint bool // takes tls_fingerprint
	rate        bool // takes rate_per_second
	maxBatch    int  // largest batch_size; 0 when it takes none
}

// backendKinds lists the backends a watchlist may name and what each
// takes. Adding one is one entry here plus its package under
// watcher/backend and a case in the command's backend factory.
var backendKinds = map[string]backendKind{
	"btcd":     {schemes: map[string]bool{"http": true, "https": false}, auth: true, tlsCert: true, maxBatch: 1000},
	"esplora":  {schemes: map[string]bool{"http": true, "https": false}, rate: true},
	"electrum": {schemes: map[string]bool{"tcp": true, "ssl": false}, fingerprint: true, maxBatch: 300},
}

// LoadWatchlist reads, decodes and validates a watchlist file. Relative
// paths in it (store, password_file, tls_cert) are taken relative to the
// file's directory, so the file means the same thing from any working
// directory. On failure the error is Problems, listing every problem found.
func LoadWatchlist(path string) (*Watchlist, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: "cannot read watchlist: " + pathErrText(err)}}
	}
	w := &Watchlist{Path: abs, name: path}
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Problems{{File: path, Line: syntaxLine(data, pe), Msg: "TOML syntax: " + pe.Message}}
		}
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	d := &watchlistDecoder{md: &md, lines: scanLines(string(data)), file: path, reported: map[string]bool{}}
	d.table(top, "", nil, reflect.ValueOf(w).Elem())
	w.lines, w.reported = d.lines, d.reported
	w.place(filepath.Dir(abs))

	problems := d.problems
	if err := w.Validate(); err != nil {
		problems = append(problems, err.(Problems)...)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		return nil, problems
	}
	return w, nil
}

// syntaxLine is the line of a TOML syntax error, counted from its byte
// offset: the TOML library reports a line one too low for errors at the
// end of the input (0 for `"\` on line 1).
func syntaxLine(data []byte, pe toml.ParseError) int {
	if s := pe.Position.Start; s >= 0 && s <= len(data) {
		return 1 + bytes.Count(data[:s], []byte("\n"))
	}
	return max(1, pe.Position.Line)
}

// place fills the Line fields and makes relative paths absolute.
func (w *Watchlist) place(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if w.Store.Path == "" {
		w.Store.Path = DefaultStorePath
	}
	w.Store.Path = abs(w.Store.Path)
	w.placeDaemon()
	for i := range w.Backends {
		b := &w.Backends[i]
		p := keyPathIndex("backends", i)
		b.Line = w.lineOf(p+".url", w.lines.lineOf(p))
		b.PasswordFile, b.TLSCert = abs(b.PasswordFile), abs(b.TLSCert)
	}
	for i := range w.Entities {
		e := &w.Entities[i]
		p := keyPathIndex("entities", i)
		e.Line = w.lines.lineOf(p)
		for j := range e.Addresses {
			ap := keyPathIndex(p+".addresses", j)
			e.Addresses[j].Line = w.lineOf(ap+".address", w.lines.lineOf(ap))
		}
	}
}

func (w *Watchlist) lineOf(path string, fallback int) int {
	if l := w.lines.lineOf(path); l > 0 {
		return l
	}
	return fallback
}

// watchlistCheck collects the problems Validate finds.
type watchlistCheck struct {
	w        *Watchlist
	problems Problems
}

func (v *watchlistCheck) add(line int, format string, args ...any) {
	file := v.w.name
	if file == "" {
		file = v.w.Path
	}
	v.problems = append(v.problems, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks what no single key can: that addresses belong to the
// network, nothing is watched twice, backends are reachable safely and have
// their secret. Along the way it fills each address's Script and the index
// Lookup uses. The error is Problems.
func (w *Watchlist) Validate() error {
	v := &watchlistCheck{w: w}
	if w.Network.Params == nil && !w.reported["network"] {
		v.add(0, `missing network: add network = "mainnet" (or testnet, testnet4, signet, regtest, simnet)`)
	}
	if w.Store.Path == "" {
		v.add(w.lines.lineOf("store"), "store path is empty")
	}
	if len(w.Backends) == 0 && !w.reported["backends"] {
		v.add(0, `no backends: add a [[backends]] entry (kind = "btcd", url = …)`)
	}
	for i, b := range w.Backends {
		v.backend(keyPathIndex("backends", i), b)
	}
	v.verify()
	if len(w.Entities) == 0 && !w.reported["entities"] {
		v.add(0, "no entities: add an [[entities]] entry with its [[entities.addresses]]")
	}
	v.entities()
	v.daemon()
	v.price()
	v.reports()
	v.alerts()
	if len(v.problems) > 0 {
		return v.problems
	}
	return nil
}

func (v *watchlistCheck) backend(p string, b BackendConfig) {
	w := v.w
	line := b.Line
	if line == 0 {
		line = w.lines.lineOf(p)
	}
	kind, ok := backendKinds[b.Kind]
	switch {
	case w.reported[p+".kind"]:
		return
	case b.Kind == "":
		v.add(line, "backend has no kind (known: %s)", knownBackendKinds())
		return
	case !ok:
		v.add(w.lineOf(p+".kind", line), "unknown backend kind %q (known: %s)", b.Kind, knownBackendKinds())
		return
	}
	name := "backend " + b.Kind
	if b.URL == "" && !w.reported[p+".url"] {
		v.add(line, "%s has no url", name)
	}
	plain := false
	if u, err := url.Parse(b.URL); b.URL != "" && err != nil {
		v.add(line, "%s: url does not parse: %s", name, errors.Unwrap(err))
	} else if b.URL != "" {
		var schemeOK bool
		plain, schemeOK = kind.schemes[u.Scheme]
		switch {
		case !schemeOK:
			v.add(line, "%s: url scheme %q not accepted (use %s)", name, u.Scheme, knownBackendSchemes(kind))
		case u.Host == "":
			v.add(line, "%s: url has no host", name)
		case u.User != nil:
			v.add(line, "%s: url contains credentials: use the user and password keys", name)
		case plain && !isLoopbackHost(u.Hostname()):
			why := "the password would cross the network in clear"
			if !kind.auth {
				why = "its answers could be altered on the way"
			}
			v.add(line, "%s: plain %s to %q, which is not a loopback host: use %s (%s)",
				name, u.Scheme, u.Hostname(), knownBackendSchemes(kind, false), why)
		}
	}
	if b.TLSCert != "" {
		tl := w.lineOf(p+".tls_cert", line)
		switch {
		case !kind.tlsCert:
			v.add(tl, "%s takes no tls_cert", name)
		case plain:
			v.add(tl, "%s: tls_cert needs an encrypted url (%s)", name, knownBackendSchemes(kind, false))
		default:
			if err := checkFileReadable(b.TLSCert); err != nil {
				v.add(tl, "%s: tls_cert: %s", name, err)
			}
		}
	}
	v.backendTuning(p, b, kind, name, plain, line)
	sources := []struct{ key, val string }{{"password", b.Password}, {"password_env", b.PasswordEnv}, {"password_file", b.PasswordFile}}
	if !kind.auth {
		for _, s := range sources {
			if s.val != "" {
				v.add(w.lineOf(p+"."+s.key, line), "%s takes no %s", name, s.key)
			}
		}
		return
	}
	if b.User == "" && !w.reported[p+".user"] {
		v.add(line, "%s has no user", name)
	}
	var set []string
	for _, s := range sources {
		if s.val != "" || w.reported[p+"."+s.key] {
			set = append(set, s.key)
		}
	}
	switch {
	case len(set) == 0:
		v.add(line, "%s has no password: set one of password, password_env, password_file", name)
	case len(set) > 1:
		v.add(w.lineOf(p+"."+set[1], line), "%s: %s: set only one of password, password_env, password_file", name, strings.Join(set, " and "))
	case b.PasswordEnv != "":
		if val, ok := os.LookupEnv(b.PasswordEnv); !ok || val == "" {
			v.add(w.lineOf(p+".password_env", line), "%s: password_env: environment variable %s is not set or empty", name, b.PasswordEnv)
		}
	case b.PasswordFile != "":
		if err := checkFileReadable(b.PasswordFile); err != nil {
			v.add(w.lineOf(p+".password_file", line), "%s: password_file: %s", name, err)
		}
	}
}

// backendTuning checks the optional connection settings against what the
// backend kind takes.
func (v *watchlistCheck) backendTuning(p string, b BackendConfig, kind backendKind, name string, plain bool, line int) {
	w := v.w
	if b.TLSFingerprint != "" {
		fl := w.lineOf(p+".tls_fingerprint", line)
		switch {
		case !kind.fingerprint:
			v.add(fl, "%s takes no tls_fingerprint", name)
		case plain:
			v.add(fl, "%s: tls_fingerprint needs an encrypted url (%s)", name, knownBackendSchemes(kind, false))
		case !fingerprintRE.MatchString(strings.ToLower(b.TLSFingerprint)):
			v.add(fl, "%s: tls_fingerprint %q: want \"sha256:\" and 64 hex digits", name, b.TLSFingerprint)
		case b.InsecureSkipVerify:
			v.add(fl, "%s: tls_fingerprint and insecure_skip_verify contradict each other", name)
		}
	}
	if b.InsecureSkipVerify && plain {
		v.add(w.lineOf(p+".insecure_skip_verify", line), "%s: insecure_skip_verify needs an encrypted url", name)
	}
	if b.RatePerSecond != 0 && !kind.rate {
		v.add(w.lineOf(p+".rate_per_second", line), "%s takes no rate_per_second", name)
	} else if b.RatePerSecond < 0 {
		v.add(w.lineOf(p+".rate_per_second", line), "%s: rate_per_second must not be negative", name)
	}
	if b.Retries != 0 && !kind.rate {
		v.add(w.lineOf(p+".retries", line), "%s takes no retries", name)
	} else if b.Retries < -1 || b.Retries > 20 {
		v.add(w.lineOf(p+".retries", line), "%s: retries must be between -1 (none) and 20", name)
	}
	if b.Concurrency < 0 || b.Concurrency > 64 {
		v.add(w.lineOf(p+".concurrency", line), "%s: concurrency must be between 1 and 64", name)
	}
	switch {
	case b.BatchSize != 0 && kind.maxBatch == 0:
		v.add(w.lineOf(p+".batch_size", line), "%s takes no batch_size", name)
	case b.BatchSize < 0 || b.BatchSize > kind.maxBatch:
		v.add(w.lineOf(p+".batch_size", line), "%s: batch_size must be between 1 and %d", name, kind.maxBatch)
	}
}

var fingerprintRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

var (
	entityIDRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
)

type watchedAt struct {
	line   int
	text   string
	entity string
}

func (v *watchlistCheck) entities() {
	w := v.w
	w.index = map[string]watchlistRef{}
	ids := map[string]int{}
	seen := map[string]watchedAt{}
	params := w.Network.Params
	for i := range w.Entities {
		e := &w.Entities[i]
		p := keyPathIndex("entities", i)
		at := func(key string) int { return w.lineOf(p+"."+key, e.Line) }
		who := "entity"
		if e.ID != "" {
			who = fmt.Sprintf("entity %q", e.ID)
		}
		switch {
		case w.reported[p+".id"]:
		case e.ID == "":
			v.add(e.Line, "entity has no id")
		case !entityIDRE.MatchString(e.ID):
			v.add(at("id"), `entity id %q is invalid: use lower-case letters, digits and single hyphens, e.g. "sv-bitcoin-office"`, e.ID)
		default:
			if first, dup := ids[e.ID]; dup {
				v.add(at("id"), "duplicate entity id %q (first at line %d)", e.ID, first)
			} else {
				ids[e.ID] = at("id")
			}
		}
		if strings.TrimSpace(e.Name) == "" && !w.reported[p+".name"] {
			v.add(at("name"), "%s has no name", who)
		}
		if e.Country != "" && !countryRE.MatchString(e.Country) {
			v.add(at("country"), `%s: country %q is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. "SV")`, who, e.Country)
		}
		if len(e.Addresses) == 0 && !w.reported[p+".addresses"] {
			v.add(e.Line, "%s has no addresses (a zero balance would be claimed for it)", who)
		}
		for j := range e.Addresses {
			a := &e.Addresses[j]
			ap := keyPathIndex(p+".addresses", j)
			if a.Source != "" && !isHTTPSourceURL(a.Source) {
				v.add(w.lineOf(ap+".source", a.Line), "source %q is not an absolute http(s) URL", a.Source)
			}
			a.Address.Script = nil
			if a.Address.Addr == nil {
				switch {
				case w.reported[ap+".address"]:
				case a.Address.Text == "":
					v.add(a.Line, "%s: address entry without address", who)
				default:
					_, err := decodeAnyNet(a.Address.Text)
					v.add(a.Line, "%v", err)
				}
				continue
			}
			if params != nil && !a.Address.Addr.IsForNet(params) {
				v.add(a.Line, "address %q is %s address but network = %q", a.Address.Text, addrNetworks(a.Address.Addr), params.Name)
				continue
			}
			script, err := txscript.PayToAddrScript(a.Address.Addr)
			if err != nil {
				v.add(a.Line, "address %q: no script: %v", a.Address.Text, err)
				continue
			}
			a.Address.Script = script
			if prev, dup := seen[string(script)]; dup {
				same := ""
				if prev.text != a.Address.Text {
					same = fmt.Sprintf(" (same script as %q)", prev.text)
				}
				v.add(a.Line, "address %q is already watched at line %d (entity %q)%s", a.Address.Text, prev.line, prev.entity, same)
				continue
			}
			seen[string(script)] = watchedAt{line: a.Line, text: a.Address.Text, entity: e.ID}
			w.index[string(script)] = watchlistRef{entity: i, addr: j}
		}
	}
}

// Scripts returns every watched script in file order: what the engine asks
// the backends about.
func (w *Watchlist) Scripts() []Script {
	var out []Script
	for _, e := range w.Entities {
		for _, a := range e.Addresses {
			if a.Address.Script != nil {
				out = append(out, a.Address.Script)
			}
		}
	}
	return out
}

// Lookup finds which entity and address a script belongs to, so that a
// transaction output can be attributed.
func (w *Watchlist) Lookup(s Script) (entityIdx, addrIdx int, ok bool) {
	if w.index != nil {
		r, ok := w.index[string(s)]
		return r.entity, r.addr, ok
	}
	for i, e := range w.Entities {
		for j, a := range e.Addresses {
			if a.Address.Script != nil && string(a.Address.Script) == string(s) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// Summary is the one line `check` prints on success, e.g.
// "watchlist.toml: network regtest, 3 entities, 12 addresses, 1 backend (btcd), 2 reports".
func (w *Watchlist) Summary() string {
	name := w.name
	if name == "" {
		name = filepath.Base(w.Path)
	}
	n := 0
	for _, e := range w.Entities {
		n += len(e.Addresses)
	}
	var kinds []string
	for _, b := range w.Backends {
		if !slices.Contains(kinds, b.Kind) {
			kinds = append(kinds, b.Kind)
		}
	}
	out := fmt.Sprintf("%s: network %s, %s, %s, %s (%s)", name, w.Network,
		countNoun(len(w.Entities), "entity", "entities"), countNoun(n, "address", "addresses"),
		countNoun(len(w.Backends), "backend", "backends"), strings.Join(kinds, ", "))
	if len(w.Reports) > 0 {
		out += ", " + countNoun(len(w.Reports), "report", "reports")
	}
	if len(w.Alerts) > 0 {
		out += ", " + countNoun(len(w.Alerts), "alert rule", "alert rules")
	}
	return out
}

func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func knownBackendKinds() string {
	var names []string
	for k := range backendKinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// knownBackendSchemes lists a kind's schemes, or with plain given only those of
// that kind, "a or b".
func knownBackendSchemes(k backendKind, plain ...bool) string {
	var names []string
	for s, p := range k.schemes {
		if len(plain) == 0 || p == plain[0] {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	return strings.Join(names, " or ")
}

// isLoopbackHost accepts localhost and loopback IPs (127.0.0.0/8, ::1): the
// only hosts plain-text RPC may go to.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isHTTPSourceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Opaque == ""
}

// checkFileReadable opens (without reading) a file the daemon will need, so a
// wrong path is found by `check`, not at the first connection.
func checkFileReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.New(pathErrText(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return errors.New(pathErrText(err))
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	return nil
}
