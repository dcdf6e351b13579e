package watcher

import (
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Report settings' defaults and bounds.
const (
	// DefaultCatchUp is how many missed instants of a report are produced
	// at start when catch_up is not set: enough to cover a weekend of a
	// daily report, not a flood after a month offline.
	DefaultCatchUp = 3
	// MaxCatchUp bounds catch_up.
	MaxCatchUp = 100
)

// ReportFormats are the formats a [[reports]] entry may list (the report
// package renders each); empty formats means all of them.
var ReportFormats = []string{"html", "pdf", "csv", "json"}

// ReportTargets are the delivery targets a [[reports]] entry may list.
var ReportTargets = []string{"dir", "email", "webhook"}

// DefaultReportDeliver is what a [[reports]] entry without deliver uses.
var DefaultReportDeliver = []string{"dir"}

// ReportConfig is one [[reports]] entry: a balance report produced at each
// instant of its schedule, archived, and sent to its delivery targets.
type ReportConfig struct {
	// Name identifies the report in the archive and on the command line.
	Name string `toml:"name"`
	// Schedule gives the report instants; each period runs from the
	// previous instant to this one.
	Schedule Schedule `toml:"schedule"`
	// Entities restricts the report to these entity ids; empty means all.
	Entities []string `toml:"entities"`
	// Formats are the files produced; empty means every format.
	Formats []string `toml:"formats"`
	// Deliver names the targets ("dir", "email", "webhook"); nil means
	// DefaultReportDeliver, an explicit empty list means archive only.
	Deliver []string `toml:"deliver"`
	// CatchUp is how many instants missed while the daemon was down are
	// produced at start (the newest ones); nil means DefaultCatchUp.
	CatchUp *int `toml:"catch_up"`
	// Line is the line of the [[reports]] entry, for messages.
	Line int `toml:"-"`
}

// ReportDeliveryConfig is the [report_delivery] section: where reports
// (and alerts) go. Secrets are named by environment variable only, so the
// watchlist can be published.
type ReportDeliveryConfig struct {
	// Dir is the directory reports are written to; absolute after
	// LoadWatchlist (relative means next to the watchlist).
	Dir string `toml:"dir"`
	// WebhookURL receives a JSON POST per report.
	WebhookURL string `toml:"webhook_url"`
	// WebhookSecretEnv names the variable holding the HMAC-SHA256 key
	// that signs webhook bodies; empty means unsigned.
	WebhookSecretEnv string `toml:"webhook_secret_env"`
	// EmailTo are the recipients of report mail.
	EmailTo []string `toml:"email_to"`
}

// WebhookSecret returns the signing key from the environment ("" when no
// variable is configured). Its error names the variable, never a value.
func (r ReportDeliveryConfig) WebhookSecret() (string, error) {
	return envSecret("report_delivery webhook_secret_env", r.WebhookSecretEnv)
}

// SMTPConfig is the [smtp] section: the mail server reports and alerts are
// sent through.
type SMTPConfig struct {
	Host string `toml:"host"`
	// Port is the server port; 0 means 587 (starttls), 465 (tls) or 25.
	Port int    `toml:"port"`
	User string `toml:"user"`
	// PasswordEnv names the variable holding the password, resolved when
	// sending so that it never sits in the decoded watchlist.
	PasswordEnv string `toml:"password_env"`
	From        string `toml:"from"`
	// TLS is "starttls" (default), "tls" or "none" (loopback hosts only).
	TLS string `toml:"tls"`
}

// Password returns the SMTP password from the environment ("" when no
// variable is configured). Its error names the variable, never a value.
func (s SMTPConfig) Password() (string, error) {
	return envSecret("smtp password_env", s.PasswordEnv)
}

// envSecret reads a secret named by an *_env key.
func envSecret(what, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%s: environment variable %s is not set", what, name)
	}
	if v == "" {
		return "", fmt.Errorf("%s: environment variable %s is empty", what, name)
	}
	return v, nil
}

// CatchUpLimit returns catch_up, or DefaultCatchUp when unset.
func (r ReportConfig) CatchUpLimit() int {
	if r.CatchUp == nil {
		return DefaultCatchUp
	}
	return *r.CatchUp
}

// FormatList returns formats, or every format when unset.
func (r ReportConfig) FormatList() []string {
	if len(r.Formats) == 0 {
		return slices.Clone(ReportFormats)
	}
	return slices.Clone(r.Formats)
}

// Targets returns the delivery targets: deliver, or DefaultReportDeliver
// when the key is absent (an explicit empty list means archive only).
func (r ReportConfig) Targets() []string {
	if r.Deliver == nil {
		return slices.Clone(DefaultReportDeliver)
	}
	return slices.Clone(r.Deliver)
}

// Report returns the [[reports]] entry called name.
func (w *Watchlist) Report(name string) (ReportConfig, bool) {
	for _, r := range w.Reports {
		if r.Name == name {
			return r, true
		}
	}
	return ReportConfig{}, false
}

// ReportNames lists the [[reports]] names in file order, for messages
// that must say which names exist.
func (w *Watchlist) ReportNames() []string {
	names := make([]string, len(w.Reports))
	for i, r := range w.Reports {
		names[i] = r.Name
	}
	return names
}

// SMTPPort returns the configured port or the usual one for the TLS mode.
func (s SMTPConfig) SMTPPort() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLSMode() == "tls":
		return 465
	case s.TLSMode() == "none":
		return 25
	}
	return 587
}

// TLSMode returns tls, or "starttls" when unset.
func (s SMTPConfig) TLSMode() string {
	if s.TLS == "" {
		return "starttls"
	}
	return s.TLS
}

// reports checks [[reports]], [report_delivery] and [smtp], and makes the
// delivery dir absolute (relative to the watchlist's directory).
func (v *watchlistCheck) reports() {
	w := v.w
	if d := w.ReportDelivery.Dir; d != "" && !filepath.IsAbs(d) && w.Path != "" {
		w.ReportDelivery.Dir = filepath.Join(filepath.Dir(w.Path), d)
	}
	entityIDs := map[string]bool{}
	for _, e := range w.Entities {
		entityIDs[e.ID] = true
	}
	names := map[string]int{}
	used := map[string]int{} // target -> line of the first report using it
	for i := range w.Reports {
		r := &w.Reports[i]
		p := keyPathIndex("reports", i)
		r.Line = w.lines.lineOf(p)
		at := func(key string) int { return w.lineOf(p+"."+key, r.Line) }
		who := "report"
		switch {
		case w.reported[p+".name"]:
		case r.Name == "":
			v.add(r.Line, "report has no name")
		case !entityIDRE.MatchString(r.Name):
			v.add(at("name"), `report name %q is invalid: use lower-case letters, digits and single hyphens, e.g. "daily"`, r.Name)
		default:
			who = fmt.Sprintf("report %q", r.Name)
			if first, dup := names[r.Name]; dup {
				v.add(at("name"), "duplicate report name %q (first at line %d)", r.Name, first)
			} else {
				names[r.Name] = at("name")
			}
		}
		if r.Schedule.Schedule == nil && !w.reported[p+".schedule"] {
			v.add(r.Line, `%s has no schedule (e.g. schedule = "CRON_TZ=UTC 0 8 * * *")`, who)
		}
		v.reportList(at("entities"), who, "entity", r.Entities, func(id string) bool { return entityIDs[id] }, w.entityIDList())
		v.reportList(at("formats"), who, "format", r.Formats, func(f string) bool { return slices.Contains(ReportFormats, f) }, strings.Join(ReportFormats, ", "))
		v.reportList(at("deliver"), who, "delivery target", r.Deliver, func(t string) bool { return slices.Contains(ReportTargets, t) }, strings.Join(ReportTargets, ", "))
		for _, t := range r.Targets() {
			if _, ok := used[t]; !ok {
				used[t] = at("deliver")
			}
		}
		if r.CatchUp != nil && (*r.CatchUp < 0 || *r.CatchUp > MaxCatchUp) {
			v.add(at("catch_up"), "%s: catch_up %d is out of range (0 to %d)", who, *r.CatchUp, MaxCatchUp)
		}
	}
	v.reportDelivery(used)
	v.smtp(used)
}

// entityIDList names the watchlist's entities for "unknown entity" messages.
func (w *Watchlist) entityIDList() string {
	ids := make([]string, 0, len(w.Entities))
	for _, e := range w.Entities {
		if e.ID != "" {
			ids = append(ids, e.ID)
		}
	}
	return strings.Join(ids, ", ")
}

// reportList checks one list key of a [[reports]] entry: known values, no
// duplicates.
func (v *watchlistCheck) reportList(line int, who, what string, vals []string, known func(string) bool, knownList string) {
	seen := map[string]bool{}
	for _, val := range vals {
		switch {
		case !known(val):
			v.add(line, "%s: unknown %s %q (known: %s)", who, what, val, knownList)
		case seen[val]:
			v.add(line, "%s: %s %q listed twice", who, what, val)
		}
		seen[val] = true
	}
}

// reportDelivery checks [report_delivery]: its values whenever they are
// set, and that every target a report uses has its settings.
func (v *watchlistCheck) reportDelivery(used map[string]int) {
	w := v.w
	rd := w.ReportDelivery
	at := func(key string) int { return w.lines.lineOf("report_delivery." + key) }
	if line, ok := used["dir"]; ok && rd.Dir == "" {
		v.add(line, `reports deliver to "dir" but [report_delivery] has no dir (add dir = "reports", or deliver = [] to only archive)`)
	}
	if line, ok := used["webhook"]; ok && rd.WebhookURL == "" {
		v.add(line, `reports deliver to "webhook" but [report_delivery] has no webhook_url`)
	}
	if line, ok := used["email"]; ok && len(rd.EmailTo) == 0 {
		v.add(line, `reports deliver to "email" but [report_delivery] has no email_to`)
	}
	if rd.WebhookURL != "" {
		u, err := url.Parse(rd.WebhookURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
			v.add(at("webhook_url"), "report_delivery webhook_url %q is not an absolute http(s) URL", redactURL(rd.WebhookURL))
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			v.add(at("webhook_url"), "report_delivery webhook_url %q is plain http to a non-loopback host: use https", redactURL(rd.WebhookURL))
		}
	}
	if rd.WebhookSecretEnv != "" {
		if rd.WebhookURL == "" {
			v.add(at("webhook_secret_env"), "report_delivery webhook_secret_env set without webhook_url")
		}
		if _, err := rd.WebhookSecret(); err != nil {
			v.add(at("webhook_secret_env"), "%v", err)
		}
	}
	for _, to := range rd.EmailTo {
		if _, err := mail.ParseAddress(to); err != nil {
			v.add(at("email_to"), "report_delivery email_to %q is not an email address", to)
		}
	}
}

// smtp checks [smtp]: its values whenever they are set, and that it is
// complete when a report is mailed.
func (v *watchlistCheck) smtp(used map[string]int) {
	w := v.w
	s := w.SMTP
	at := func(key string) int { return w.lineOf("smtp."+key, w.lines.lineOf("smtp")) }
	if line, ok := used["email"]; ok {
		if s.Host == "" {
			v.add(line, `reports deliver to "email" but [smtp] has no host`)
		}
		if s.From == "" {
			v.add(line, `reports deliver to "email" but [smtp] has no from`)
		}
	}
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			v.add(at("from"), "smtp from %q is not an email address", s.From)
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		v.add(at("port"), "smtp port %d is out of range (1 to 65535)", s.Port)
	}
	switch s.TLSMode() {
	case "starttls", "tls":
	case "none":
		if s.Host != "" && !isLoopbackHost(s.Host) {
			v.add(at("tls"), `smtp tls = "none" sends mail and password in clear: only allowed to a loopback host, not %q`, s.Host)
		}
	default:
		v.add(at("tls"), `smtp tls %q is not one of starttls, tls, none`, s.TLS)
	}
	if s.PasswordEnv != "" {
		if _, err := s.Password(); err != nil {
			v.add(at("password_env"), "%v", err)
		}
	}
}

// redactURL drops user info and query, where a webhook token could hide.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	return u.String()
}
