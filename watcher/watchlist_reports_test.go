package watcher

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWatchlistReportsProblems(t *testing.T) {
	t.Setenv("TW_REPORT_UNSET", "")
	t.Setenv("TW_REPORT_SECRET", "s3cret-value")
	// watchlistHead has 11 lines; the report sections start at line 12.
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"bad name, schedule, entity, format, target, catch_up", `[[reports]]
name = "Daily!"
schedule = "0 8 * *"
entities = ["sv", "nope"]
formats = ["html", "docx", "html"]
deliver = ["fax"]
catch_up = 101
`, []string{
			`watchlist.toml:13: report name "Daily!" is invalid: use lower-case letters, digits and single hyphens, e.g. "daily"`,
			`watchlist.toml:14: schedule "0 8 * *": expected exactly 5 fields, found 4: [0 8 * *]`,
			`watchlist.toml:15: report: unknown entity "nope" (known: sv)`,
			`watchlist.toml:16: report: unknown format "docx" (known: html, pdf, csv, json)`,
			`watchlist.toml:16: report: format "html" listed twice`,
			`watchlist.toml:17: report: unknown delivery target "fax" (known: dir, email, webhook)`,
			`watchlist.toml:18: report: catch_up 101 is out of range (0 to 100)`,
		}},
		{"bad time zone", "[[reports]]\nname = \"daily\"\nschedule = \"CRON_TZ=Mars/Olympus 0 8 * * *\"\ndeliver = []\n", []string{
			`watchlist.toml:14: schedule "CRON_TZ=Mars/Olympus 0 8 * * *": Mars/Olympus: unknown time zone Mars/Olympus`,
		}},
		{"duplicate name and no schedule", "[[reports]]\nname = \"daily\"\nschedule = \"@daily\"\ndeliver = []\n[[reports]]\nname = \"daily\"\ndeliver = []\n", []string{
			`watchlist.toml:16: report "daily" has no schedule (e.g. schedule = "CRON_TZ=UTC 0 8 * * *")`,
			`watchlist.toml:17: duplicate report name "daily" (first at line 13)`,
		}},
		{"default dir target without dir", "[[reports]]\nname = \"daily\"\nschedule = \"@daily\"\n", []string{
			`watchlist.toml:12: reports deliver to "dir" but [report_delivery] has no dir (add dir = "reports", or deliver = [] to only archive)`,
		}},
		{"email and webhook without settings", "[[reports]]\nname = \"daily\"\nschedule = \"@daily\"\ndeliver = [\"email\", \"webhook\"]\n", []string{
			`watchlist.toml:15: reports deliver to "webhook" but [report_delivery] has no webhook_url`,
			`watchlist.toml:15: reports deliver to "email" but [report_delivery] has no email_to`,
			`watchlist.toml:15: reports deliver to "email" but [smtp] has no host`,
			`watchlist.toml:15: reports deliver to "email" but [smtp] has no from`,
		}},
		{"webhook plain http and unset secret", "[report_delivery]\nwebhook_url = \"http://hooks.example.org/x?token=abc\"\nwebhook_secret_env = \"TW_REPORT_UNSET\"\n", []string{
			`watchlist.toml:13: report_delivery webhook_url "http://hooks.example.org/x" is plain http to a non-loopback host: use https`,
			`watchlist.toml:14: report_delivery webhook_secret_env: environment variable TW_REPORT_UNSET is empty`,
		}},
		{"webhook not a URL", "[report_delivery]\nwebhook_url = \"hooks.example.org\"\nemail_to = [\"not an address\"]\n", []string{
			`watchlist.toml:13: report_delivery webhook_url "hooks.example.org" is not an absolute http(s) URL`,
			`watchlist.toml:14: report_delivery email_to "not an address" is not an email address`,
		}},
		{"smtp", "[smtp]\nhost = \"smtp.example.org\"\nport = 70000\nuser = \"u\"\nfrom = \"nobody\"\ntls = \"none\"\n", []string{
			`watchlist.toml:14: smtp port 70000 is out of range (1 to 65535)`,
			`watchlist.toml:16: smtp from "nobody" is not an email address`,
			`watchlist.toml:17: smtp tls = "none" sends mail and password in clear: only allowed to a loopback host, not "smtp.example.org"`,
		}},
		{"smtp password env missing and bad tls", "[smtp]\nhost = \"smtp.example.org\"\npassword_env = \"TW_REPORT_MISSING_VAR\"\ntls = \"ssl\"\n", []string{
			`watchlist.toml:14: smtp password_env: environment variable TW_REPORT_MISSING_VAR is not set`,
			`watchlist.toml:15: smtp tls "ssl" is not one of starttls, tls, none`,
		}},
		{"unknown keys", "[[reports]]\nname = \"daily\"\nschedule = \"@daily\"\ndeliver = []\ncatchup = 2\n[smtp]\nhost = \"x\"\npasword_env = \"X\"\n", []string{
			`watchlist.toml:16: unknown key "reports.catchup"`,
			`watchlist.toml:19: unknown key "smtp.pasword_env"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := watchlistProblemLines(t, writeWatchlist(t, watchlistHead+tt.toml))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, p := range got {
				if strings.Contains(p, "s3cret-value") || strings.Contains(p, "token=abc") {
					t.Errorf("problem reveals a secret: %s", p)
				}
			}
		})
	}
}

func TestWatchlistReportsOK(t *testing.T) {
	t.Setenv("TW_REPORT_SECRET", "s3cret-value")
	t.Setenv("TW_SMTP_PASSWORD", "smtp-pass")
	path := writeWatchlist(t, watchlistHead+`[[reports]]
name = "daily"
schedule = "CRON_TZ=America/El_Salvador 0 8 * * *"
entities = ["sv"]
formats = ["csv", "json"]
deliver = ["dir", "email", "webhook"]
catch_up = 0
[[reports]]
name = "weekly"
schedule = "@weekly"
[report_delivery]
dir = "out/reports"
webhook_url = "https://hooks.example.org/treasury"
webhook_secret_env = "TW_REPORT_SECRET"
email_to = ["treasury@example.gov"]
[smtp]
host = "smtp.example.gov"
port = 465
user = "reports"
password_env = "TW_SMTP_PASSWORD"
from = "Treasury reports <treasury-reports@example.gov>"
tls = "tls"
`)
	w := mustLoadWatchlist(t, path)
	if got := w.ReportNames(); !reflect.DeepEqual(got, []string{"daily", "weekly"}) {
		t.Fatalf("names %q", got)
	}
	daily, ok := w.Report("daily")
	if !ok || daily.Line != 12 || daily.CatchUpLimit() != 0 || !reflect.DeepEqual(daily.FormatList(), []string{"csv", "json"}) ||
		!reflect.DeepEqual(daily.Targets(), []string{"dir", "email", "webhook"}) || daily.Schedule.Spec != "CRON_TZ=America/El_Salvador 0 8 * * *" {
		t.Errorf("daily %+v", daily)
	}
	weekly, _ := w.Report("weekly")
	if weekly.CatchUpLimit() != DefaultCatchUp || !reflect.DeepEqual(weekly.FormatList(), ReportFormats) || !reflect.DeepEqual(weekly.Targets(), DefaultReportDeliver) {
		t.Errorf("weekly defaults %+v", weekly)
	}
	if _, ok := w.Report("monthly"); ok {
		t.Error("found a report that is not configured")
	}
	if want := filepath.Join(filepath.Dir(w.Path), "out", "reports"); w.ReportDelivery.Dir != want {
		t.Errorf("dir %q, want %q", w.ReportDelivery.Dir, want)
	}
	if s, err := w.ReportDelivery.WebhookSecret(); err != nil || s != "s3cret-value" {
		t.Errorf("webhook secret %q, %v", s, err)
	}
	if p, err := w.SMTP.Password(); err != nil || p != "smtp-pass" || w.SMTP.SMTPPort() != 465 || w.SMTP.TLSMode() != "tls" {
		t.Errorf("smtp %+v password %q %v", w.SMTP, p, err)
	}
	// A second Validate (programmatic callers re-validate) keeps the dir.
	if err := w.Validate(); err != nil || w.ReportDelivery.Dir != filepath.Join(filepath.Dir(w.Path), "out", "reports") {
		t.Errorf("revalidate: %v, dir %q", err, w.ReportDelivery.Dir)
	}
}

func TestSMTPDefaults(t *testing.T) {
	tests := []struct {
		cfg  SMTPConfig
		port int
		mode string
	}{
		{SMTPConfig{}, 587, "starttls"},
		{SMTPConfig{TLS: "tls"}, 465, "tls"},
		{SMTPConfig{TLS: "none"}, 25, "none"},
		{SMTPConfig{TLS: "starttls", Port: 2525}, 2525, "starttls"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			if tt.cfg.SMTPPort() != tt.port || tt.cfg.TLSMode() != tt.mode {
				t.Errorf("%+v: port %d mode %s", tt.cfg, tt.cfg.SMTPPort(), tt.cfg.TLSMode())
			}
			if p, err := tt.cfg.Password(); p != "" || err != nil {
				t.Errorf("password without password_env: %q %v", p, err)
			}
		})
	}
}
