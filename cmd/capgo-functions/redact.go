package main

import (
	"net/url"
	"regexp"
	"strings"
)

// secretParams are the connection parameters that hold secrets, in a
// URL's query or a key/value DSN (libpq's password and sslpassword).
var secretParams = []string{"password", "sslpassword"}

// kvSecret matches a secret of a key/value DSN: key = 'quoted value' (with
// \' escapes) or key = bare value.
var kvSecret = regexp.MustCompile(`(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]*)`)

// redactDSN masks every password a database connection string can carry,
// in any of its forms, for logs and errors: the URL's userinfo, its
// password and sslpassword query parameters, and the key/value form
// (password=… or password='…'). A string it cannot read is masked whole.
func redactDSN(s string) string {
	const mask = "xxxxx"
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return "(unparseable database URL)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), mask)
		}
		q := u.Query()
		changed := false
		for k := range q {
			for _, p := range secretParams {
				if strings.EqualFold(k, p) {
					q[k] = []string{mask}
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvSecret.ReplaceAllString(s, "${1}="+mask)
}
