package watcher

import (
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/btcutil/v2"
)

// alertsDelivery configures both channels; cases append [[alerts]] from
// line 21.
const alertsDelivery = watchlistHead + `[report_delivery]
webhook_url = "https://newsroom.example/hook"
email_to = ["desk@newsroom.example"]
[smtp]
host = "smtp.newsroom.example"
port = 587
from = "treasurywatch@newsroom.example"
`

func TestWatchlistAlertsProblems(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"unknown entity", alertsDelivery + "[[alerts]]\nentity = \"sv-bitcoin-office\"\n", []string{
			`watchlist.toml:20: alert: unknown entity "sv-bitcoin-office" (not an [[entities]] id)`}},
		{"unknown and repeated kinds", alertsDelivery + "[[alerts]]\nkinds = [\"outflow\",\n \"sale\",\n \"outflow\"]\n", []string{
			`watchlist.toml:21: alert: unknown kind "sale" (want inflow, outflow, internal or mixed)`,
			`watchlist.toml:22: alert: kind "outflow" listed twice`}},
		{"too many decimals", alertsDelivery + "[[alerts]]\nmin_btc = 0.000000001\n", []string{
			`watchlist.toml:20: min_btc: 0.000000001 BTC has more than 8 decimals (1 satoshi = 0.00000001 BTC)`}},
		{"negative", alertsDelivery + "[[alerts]]\nmin_btc = -5\n", []string{
			`watchlist.toml:20: min_btc: -5 BTC is negative`}},
		{"more than exists", alertsDelivery + "[[alerts]]\nmin_btc = 21000001\n", []string{
			`watchlist.toml:20: min_btc: 21000001 BTC is more than the 21 million that can exist`}},
		{"not a number", alertsDelivery + "[[alerts]]\nmin_btc = true\n", []string{
			`watchlist.toml:20: min_btc must be a number of BTC, e.g. 100 or 0.5, not a boolean`}},
		{"text not a number", alertsDelivery + "[[alerts]]\nmin_btc = \"1e3\"\n", []string{
			`watchlist.toml:20: min_btc: "1e3" is not a BTC amount (want digits and one decimal point)`}},
		{"zero confirmations", alertsDelivery + "[[alerts]]\nconfirmations = 0\n", []string{
			`watchlist.toml:20: alert: confirmations = 0 is not allowed: unconfirmed flows never alert (use 1 to alert when mined)`}},
		{"too many confirmations", alertsDelivery + "[[alerts]]\nconfirmations = 101\n", []string{
			`watchlist.toml:20: alert: confirmations 101: want 1 to 100`}},
		{"unknown delivery", alertsDelivery + "[[alerts]]\ndeliver = [\"pager\"]\n", []string{
			`watchlist.toml:20: alert: unknown delivery "pager" (want webhook or email)`}},
		{"unknown key", alertsDelivery + "[[alerts]]\nmin_sat = 5\n", []string{
			`watchlist.toml:20: unknown key "alerts.min_sat"`}},
		{"same rule twice", alertsDelivery + "[[alerts]]\nkinds = [\"inflow\", \"outflow\"]\n[[alerts]]\nkinds = [\"outflow\", \"inflow\"]\n", []string{
			`watchlist.toml:21: alert: same rule as at line 19`}},
		{"webhook without url", watchlistHead + "[[alerts]]\ndeliver = [\"webhook\"]\n", []string{
			`watchlist.toml:13: alert: deliver "webhook" needs [report_delivery] webhook_url`}},
		{"email without recipients", watchlistHead + "[[alerts]]\ndeliver = [\"email\"]\n", []string{
			`watchlist.toml:13: alert: deliver "email" needs [report_delivery] email_to`}},
		{"email without smtp", watchlistHead + "[report_delivery]\nemail_to = [\"desk@newsroom.example\"]\n[[alerts]]\ndeliver = [\"email\"]\n", []string{
			`watchlist.toml:15: alert: deliver "email" needs an [smtp] section with host`}},
		{"nowhere to go", watchlistHead + "[[alerts]]\nkinds = [\"outflow\"]\n", []string{
			`watchlist.toml:12: alert: nowhere to deliver: set [report_delivery] webhook_url, or email_to with [smtp] host`}},
		{"alerts not a table array", "alerts = 5\n" + alertsDelivery, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := watchlistProblemLines(t, writePriceWatchlist(t, tt.toml))
			if tt.want == nil {
				if len(got) != 1 {
					t.Fatalf("problems %q, want one", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestWatchlistAlertsOK(t *testing.T) {
	src := alertsDelivery + `[[alerts]]
entity = "sv"
kinds = ["outflow", "mixed"]
min_btc = 100.5
confirmations = 2
deliver = ["webhook", "email"]
[[alerts]]
min_btc = "0.00000001"
[[alerts]]
kinds = ["inflow"]
min_btc = 20999999.99999999
deliver = ["webhook"]
`
	w, err := LoadWatchlist(writePriceWatchlist(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Alerts) != 3 {
		t.Fatalf("%d alerts", len(w.Alerts))
	}
	a, b, c := w.Alerts[0], w.Alerts[1], w.Alerts[2]
	if a.Entity != "sv" || !reflect.DeepEqual(a.Kinds, []Flow{Outflow, Mixed}) || a.MinBTC != 10_050_000_000 ||
		a.Confs() != 2 || a.Line != 19 {
		t.Errorf("first rule %+v", a)
	}
	if b.MinBTC != 1 || b.Confs() != DefaultAlertConfirmations || b.Entity != "" || len(b.Kinds) != 0 {
		t.Errorf("second rule %+v", b)
	}
	if got := w.AlertChannels(b); !reflect.DeepEqual(got, []string{"webhook", "email"}) {
		t.Errorf("default channels %q", got)
	}
	if c.MinBTC != 2_099_999_999_999_999 {
		t.Errorf("third rule min %d sat", c.MinBTC)
	}
	if a.Key() == b.Key() || a.Key() != w.Alerts[0].Key() {
		t.Errorf("keys %q %q", a.Key(), b.Key())
	}
}

func TestParseBTC(t *testing.T) {
	tests := []struct {
		in   string
		want btcutil.Amount
		err  bool
	}{
		{"0", 0, false},
		{"100", 100 * btcutil.SatoshiPerBitcoin, false},
		{"0.1", 10_000_000, false},
		{".5", 50_000_000, false},
		{"1.", 100_000_000, false},
		{"0.00000001", 1, false},
		{"0.100000000", 10_000_000, false}, // trailing zeros are not decimals
		{"21000000", 21_000_000 * btcutil.SatoshiPerBitcoin, false},
		{"000012.34567891", 1_234_567_891, false},
		{"21000000.00000001", 0, true},
		{"0.000000001", 0, true},
		{"-1", 0, true},
		{"1e3", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"1.2.3", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBTC(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseBTC(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestAlertMatches(t *testing.T) {
	rule := AlertConfig{Entity: "sv", Kinds: []Flow{Outflow}, MinBTC: 100}
	tests := []struct {
		name   string
		entity string
		kind   Flow
		delta  int64
		want   bool
	}{
		{"outflow at the minimum", "sv", Outflow, -100, true},
		{"outflow below", "sv", Outflow, -99, false},
		{"other kind", "sv", Inflow, 1000, false},
		{"other entity", "bt", Outflow, -1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rule.Matches(tt.entity, tt.kind, tt.delta); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}
