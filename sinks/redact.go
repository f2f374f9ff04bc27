package sinks

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces what Redact removes.
const Redacted = "[redacted]"

// minSecretLen keeps Redact from blanking out short, common words that
// happen to be a config value.
const minSecretLen = 4

var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// Redact makes an error text safe to log and store: every secret (and its
// URL-escaped form) is replaced, and URLs lose their userinfo, query string
// and fragment.
func Redact(msg string, secrets ...string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		msg = strings.ReplaceAll(msg, s, Redacted)
		for _, esc := range []string{url.QueryEscape(s), url.PathEscape(s)} {
			if esc != s {
				msg = strings.ReplaceAll(msg, esc, Redacted)
			}
		}
	}
	return urlInText.ReplaceAllStringFunc(msg, redactURL)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Not parseable: keep only what precedes credentials or a query.
		if i := strings.IndexAny(raw, "@?#"); i >= 0 {
			return raw[:i] + Redacted
		}
		return raw
	}
	hadUser := u.User != nil
	query := u.RawQuery != "" || u.ForceQuery
	fragment := u.Fragment != ""
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	out := u.String()
	if hadUser {
		out = strings.Replace(out, "://", "://"+Redacted+"@", 1)
	}
	if query {
		out += "?" + Redacted
	}
	if fragment {
		out += "#" + Redacted
	}
	return out
}
