package watcher

import (
	"net/url"
	"strings"
)

// DefaultPriceRefresh is how often the daemon fetches the current BTC
// price when [price] says nothing.
const DefaultPriceRefresh = "@every 15m"

// PriceCurrencies are the fiat currencies the price source (mempool.space
// /api/v1/prices shape) answers in.
var PriceCurrencies = []string{"USD", "EUR", "GBP", "CAD", "CHF", "AUD", "JPY"}

// PriceConfig is the optional [price] section: where the BTC price comes
// from and in which currency fiat values are shown. An empty URL means no
// fiat values at all.
type PriceConfig struct {
	// URL is the API base, e.g. "https://mempool.space/api/v1"; the
	// client asks URL+"/prices" and URL+"/historical-price".
	URL string `toml:"url"`
	// Currency is one of PriceCurrencies.
	Currency string `toml:"currency"`
	// Refresh is when the current price is fetched; zero means
	// DefaultPriceRefresh.
	Refresh Schedule `toml:"refresh"`
}

// Enabled reports whether a price source is configured.
func (p PriceConfig) Enabled() bool { return p.URL != "" }

// RefreshSchedule returns Refresh, or DefaultPriceRefresh when unset.
func (p PriceConfig) RefreshSchedule() Schedule {
	if p.Refresh.Schedule != nil {
		return p.Refresh
	}
	s, _ := ParseSchedule(DefaultPriceRefresh)
	return s
}

// price checks the [price] section.
func (v *watchlistCheck) price() {
	p := v.w.Price
	if !p.Enabled() {
		if p.Currency != "" || p.Refresh.Schedule != nil {
			v.add(v.w.lines.lineOf("price"), `price: currency or refresh set without url (add url = "https://mempool.space/api/v1")`)
		}
		return
	}
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(v.w.lines.lineOf("price.url"), "price url %q is not an absolute http(s) URL", p.URL)
	}
	if p.Currency == "" {
		v.add(v.w.lines.lineOf("price"), "price: no currency (one of %s)", strings.Join(PriceCurrencies, ", "))
		return
	}
	for _, c := range PriceCurrencies {
		if p.Currency == c {
			return
		}
	}
	v.add(v.w.lines.lineOf("price.currency"), "price currency %q is not one of %s", p.Currency, strings.Join(PriceCurrencies, ", "))
}
