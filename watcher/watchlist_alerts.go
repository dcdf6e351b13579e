package watcher

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/v2"
)

// Limits of an [[alerts]] rule.
const (
	// DefaultAlertConfirmations is how deep a flow must be before it is
	// announced when a rule says nothing: one block, never the mempool.
	DefaultAlertConfirmations = 1
	// MaxAlertConfirmations bounds confirmations: deeper than this a
	// "movement alert" is history, not news.
	MaxAlertConfirmations = 100
)

// AlertDeliveries are the channels an alert may go to; each needs its
// settings in [report_delivery] (and [smtp] for e-mail).
var AlertDeliveries = []string{"webhook", "email"}

// AlertConfig is one [[alerts]] rule: which movements of which entity are
// announced, how deep they must be, and where the announcement goes.
// Journalists subscribe to movements; the rule decides what is news.
type AlertConfig struct {
	// Entity restricts the rule to one entity id; empty means all.
	Entity string `toml:"entity"`
	// Kinds are the flows announced (inflow, outflow, internal, mixed);
	// empty means all.
	Kinds []Flow `toml:"kinds"`
	// MinBTC is the smallest |delta| announced, exact to the satoshi.
	MinBTC BTCAmount `toml:"min_btc"`
	// Confirmations is how many blocks must hold the flow (1 = mined at
	// the tip); nil means DefaultAlertConfirmations.
	Confirmations *int `toml:"confirmations"`
	// Deliver names the channels ("webhook", "email"); empty means every
	// channel [report_delivery] configures.
	Deliver []string `toml:"deliver"`
	// Line is the line of the [[alerts]] entry, for messages.
	Line int `toml:"-"`
}

// Confs returns the confirmations the rule waits for, with its default.
func (a AlertConfig) Confs() int64 {
	if a.Confirmations == nil {
		return DefaultAlertConfirmations
	}
	return int64(*a.Confirmations)
}

// Matches reports whether a flow of entity with the given kind and delta
// falls under the rule (depth aside).
func (a AlertConfig) Matches(entity string, kind Flow, delta int64) bool {
	if a.Entity != "" && a.Entity != entity {
		return false
	}
	if len(a.Kinds) > 0 && !slices.Contains(a.Kinds, kind) {
		return false
	}
	if delta < 0 {
		delta = -delta
	}
	return delta >= int64(a.MinBTC)
}

// Key identifies the rule by what it says rather than by its position, so
// that reordering [[alerts]] entries neither re-sends nor silences
// anything, while changing a rule starts it afresh.
func (a AlertConfig) Key() string {
	kinds := make([]string, len(a.Kinds))
	for i, k := range a.Kinds {
		kinds[i] = string(k)
	}
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	deliver := slices.Clone(a.Deliver)
	slices.Sort(deliver)
	deliver = slices.Compact(deliver)
	entity := a.Entity
	if entity == "" {
		entity = "*"
	}
	return fmt.Sprintf("entity=%s;kinds=%s;min_sat=%d;confirmations=%d;deliver=%s",
		entity, strings.Join(kinds, ","), int64(a.MinBTC), a.Confs(), strings.Join(deliver, ","))
}

// AlertChannels returns the delivery channels of a rule: Deliver, or when
// empty every channel the watchlist configures.
func (w *Watchlist) AlertChannels(a AlertConfig) []string {
	if len(a.Deliver) > 0 {
		return a.Deliver
	}
	var out []string
	if w.ReportDelivery.WebhookURL != "" {
		out = append(out, "webhook")
	}
	if len(w.ReportDelivery.EmailTo) > 0 && w.SMTP.Host != "" {
		out = append(out, "email")
	}
	return out
}

// BTCAmount is an amount written in BTC in the watchlist (100 or
// 0.5 or "0.00012345") and held in satoshis. A decimal is converted
// through its shortest decimal form, never by multiplying a float, so
// every amount up to 21 million BTC with at most 8 decimals is exact.
type BTCAmount btcutil.Amount

// maxBTCText bounds written amounts: no more bitcoin exists, and below it
// a float64 is precise enough that its shortest form is what was written.
const maxBTCText = 21_000_000

// UnmarshalTOML takes an integer, a float or a decimal string.
func (b *BTCAmount) UnmarshalTOML(v any) error {
	var text string
	switch v := v.(type) {
	case int64:
		text = strconv.FormatInt(v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("min_btc %v is not an amount", v)
		}
		text = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		text = v
	default:
		return fmt.Errorf("min_btc must be a number of BTC, e.g. 100 or 0.5, not %s", tomlTypeName(v))
	}
	sat, err := ParseBTC(text)
	if err != nil {
		return fmt.Errorf("min_btc: %w", err)
	}
	*b = BTCAmount(sat)
	return nil
}

// Amount returns the amount in satoshis.
func (b BTCAmount) Amount() btcutil.Amount { return btcutil.Amount(b) }

// ParseBTC parses a non-negative decimal BTC amount ("100", "0.00012345")
// exactly into satoshis.
func ParseBTC(s string) (btcutil.Amount, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, errors.New("empty amount")
	}
	if strings.HasPrefix(text, "-") {
		return 0, fmt.Errorf("%s BTC is negative", text)
	}
	text = strings.TrimPrefix(text, "+")
	whole, frac, dot := strings.Cut(text, ".")
	if whole == "" && (!dot || frac == "") {
		return 0, fmt.Errorf("%q is not a BTC amount", s)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("%q is not a BTC amount (want digits and one decimal point)", s)
			}
		}
	}
	trimmed := strings.TrimRight(frac, "0")
	if len(trimmed) > 8 {
		return 0, fmt.Errorf("%s BTC has more than 8 decimals (1 satoshi = 0.00000001 BTC)", text)
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > len(strconv.Itoa(maxBTCText)) {
		return 0, fmt.Errorf("%s BTC is more than the 21 million that can exist", text)
	}
	var btc int64
	if whole != "" {
		btc, _ = strconv.ParseInt(whole, 10, 64) // at most 8 digits
	}
	if btc > maxBTCText {
		return 0, fmt.Errorf("%s BTC is more than the 21 million that can exist", text)
	}
	sat := btc * btcutil.SatoshiPerBitcoin
	if trimmed != "" {
		f, _ := strconv.ParseInt(trimmed+strings.Repeat("0", 8-len(trimmed)), 10, 64)
		sat += f
	}
	if sat > maxBTCText*btcutil.SatoshiPerBitcoin {
		return 0, fmt.Errorf("%s BTC is more than the 21 million that can exist", text)
	}
	return btcutil.Amount(sat), nil
}

var alertKinds = []Flow{Inflow, Outflow, Internal, Mixed}

// alerts checks the [[alerts]] rules: that they name known entities and
// kinds, a sane depth, and channels whose settings exist.
func (v *watchlistCheck) alerts() {
	w := v.w
	ids := map[string]bool{}
	for _, e := range w.Entities {
		ids[e.ID] = true
	}
	keys := map[string]int{}
	for i := range w.Alerts {
		a := &w.Alerts[i]
		p := keyPathIndex("alerts", i)
		a.Line = w.lines.lineOf(p)
		at := func(key string) int { return w.lineOf(p+"."+key, a.Line) }
		if a.Entity != "" && !ids[a.Entity] && !w.reported[p+".entity"] {
			v.add(at("entity"), "alert: unknown entity %q (not an [[entities]] id)", a.Entity)
		}
		seen := map[Flow]bool{}
		for j, k := range a.Kinds {
			kl := w.lineOf(keyPathIndex(p+".kinds", j), at("kinds"))
			switch {
			case !slices.Contains(alertKinds, k):
				v.add(kl, "alert: unknown kind %q (want inflow, outflow, internal or mixed)", k)
			case seen[k]:
				v.add(kl, "alert: kind %q listed twice", k)
			}
			seen[k] = true
		}
		if c := a.Confirmations; c != nil {
			switch {
			case *c == 0:
				v.add(at("confirmations"), "alert: confirmations = 0 is not allowed: unconfirmed flows never alert (use 1 to alert when mined)")
			case *c < 0 || *c > MaxAlertConfirmations:
				v.add(at("confirmations"), "alert: confirmations %d: want 1 to %d", *c, MaxAlertConfirmations)
			}
		}
		v.alertDeliver(p, a, at)
		if k := a.Key(); keys[k] > 0 {
			v.add(a.Line, "alert: same rule as at line %d", keys[k])
		} else {
			keys[k] = a.Line
		}
	}
}

// alertDeliver checks that each channel of a rule is known and configured.
func (v *watchlistCheck) alertDeliver(p string, a *AlertConfig, at func(string) int) {
	w := v.w
	if len(a.Deliver) == 0 {
		if len(w.AlertChannels(*a)) == 0 && !w.reported[p+".deliver"] {
			v.add(a.Line, `alert: nowhere to deliver: set [report_delivery] webhook_url, or email_to with [smtp] host`)
		}
		return
	}
	seen := map[string]bool{}
	for j, d := range a.Deliver {
		dl := w.lineOf(keyPathIndex(p+".deliver", j), at("deliver"))
		switch {
		case !slices.Contains(AlertDeliveries, d):
			v.add(dl, "alert: unknown delivery %q (want webhook or email)", d)
		case seen[d]:
			v.add(dl, "alert: delivery %q listed twice", d)
		case d == "webhook" && w.ReportDelivery.WebhookURL == "":
			v.add(dl, `alert: deliver "webhook" needs [report_delivery] webhook_url`)
		case d == "email" && len(w.ReportDelivery.EmailTo) == 0:
			v.add(dl, `alert: deliver "email" needs [report_delivery] email_to`)
		case d == "email" && w.SMTP.Host == "":
			v.add(dl, `alert: deliver "email" needs an [smtp] section with host`)
		}
		seen[d] = true
	}
}
