package watcher

import (
	"fmt"
	"strconv"
)

// VerifyQuorum is the watchlist's top-level `verify`: how many backends,
// the primary included, must report the same balances at the same block
// before a sync is published. It is written as an integer or as "all"; a
// figure that one misbehaving server made up must never reach the public.
type VerifyQuorum int

// VerifyAll is the VerifyQuorum of `verify = "all"`.
const VerifyAll VerifyQuorum = -1

// UnmarshalTOML accepts an integer or the string "all". The decoder hands
// it any TOML value, so the type of a wrong one is named here.
func (q *VerifyQuorum) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 1 || v > 1<<20 {
			return fmt.Errorf(`verify = %d: want a number of backends from 1 up, or "all"`, v)
		}
		*q = VerifyQuorum(v)
		return nil
	case string:
		if v == "all" {
			*q = VerifyAll
			return nil
		}
		return fmt.Errorf(`verify = %q: want "all" or a number of backends`, v)
	default:
		return fmt.Errorf(`"verify" must be an integer or "all", not %s`, tomlTypeName(v))
	}
}

// String writes the quorum as the watchlist spells it.
func (q VerifyQuorum) String() string {
	if q == VerifyAll {
		return "all"
	}
	return strconv.Itoa(int(q))
}

// Need returns how many sources must agree when backends are configured:
// 1 (no cross-check) when verify is not set.
func (q VerifyQuorum) Need(backends int) int {
	switch {
	case q == VerifyAll:
		return max(backends, 1)
	case q < 1:
		return 1
	}
	return int(q)
}

// verify checks that the quorum can be met by the configured backends.
func (v *watchlistCheck) verify() {
	w := v.w
	q := w.Verify
	if q == VerifyAll || q == 0 || w.reported["verify"] {
		return
	}
	if int(q) > len(w.Backends) && len(w.Backends) > 0 {
		v.add(w.lines.lineOf("verify"), "verify = %d needs %d backends, but the watchlist names %s: add [[backends]] or lower verify",
			int(q), int(q), countNoun(len(w.Backends), "backend", "backends"))
	}
}
