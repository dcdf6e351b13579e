package watcher

import "strconv"

// FormatBTC renders satoshis as BTC with exactly eight decimals, by integer
// arithmetic: a float would round figures that must match the chain.
func FormatBTC(sat int64) string {
	neg := sat < 0
	u := uint64(sat)
	if neg {
		u = -u
	}
	whole, frac := u/1e8, u%1e8
	f := strconv.FormatUint(frac, 10)
	for len(f) < 8 {
		f = "0" + f
	}
	s := strconv.FormatUint(whole, 10) + "." + f
	if neg {
		s = "-" + s
	}
	return s
}
