package deliver

import (
	"net/url"
	"strings"
)

// redactURL returns raw as errors may show it: scheme and host only. The
// userinfo, the query and the path are dropped, because webhook services
// put their tokens in any of them (Slack and Discord in the path).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// redactText removes from s every part of raw that may be secret.
func redactText(s, raw string) string {
	if raw == "" {
		return s
	}
	s = strings.ReplaceAll(s, raw, redactURL(raw))
	u, err := url.Parse(raw)
	if err != nil {
		return s
	}
	var secrets []string
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
	}
	if len(u.RawQuery) > 0 {
		secrets = append(secrets, u.RawQuery)
	}
	if len(u.Path) > 1 {
		secrets = append(secrets, u.EscapedPath(), u.Path)
	}
	return scrub(s, secrets...)
}

// scrub replaces each non-empty secret in s with "xxxxx".
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// redactedError shows its cause's text with secrets removed while keeping
// the cause reachable for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with parts of rawURL removed from its text.
func redactErr(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: redactText(err.Error(), rawURL), err: err}
}

// scrubErr returns err with the given secrets removed from its text.
func scrubErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: scrub(err.Error(), secrets...), err: err}
}
