package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// corsPolicy is Capgo's useCors (hono.ts): native app origins, local
// http(s) origins, Capgo's consoles, and configured extra origins.
type corsPolicy struct {
	extra []string
}

var capgoOrigins = []string{
	"https://console.capgo.app", "https://console.preprod.capgo.app", "https://console.development.capgo.app",
	"https://capgo.app", "https://preprod.capgo.app", "https://development.capgo.app",
}

const (
	corsAllowHeaders = "Content-Type,Authorization,X-Capgo-Spoof-Admin-Authorization,capgkey,capgo_api,x-api-key,x-limited-key-id,apisecret,apikey,x-client-info"
	corsAllowMethods = "POST,GET,PUT,PATCH,DELETE,OPTIONS"
)

func newCORS(extra []string) *corsPolicy {
	p := &corsPolicy{}
	for _, o := range extra {
		if n := normalizeOrigin(strings.TrimSpace(o)); n != "" {
			p.extra = append(p.extra, n)
		}
	}
	return p
}

// normalizeOrigin is scheme://host[:port] of an origin, or "".
func normalizeOrigin(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// allowed returns the origin to echo, or "".
func (p *corsPolicy) allowed(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return ""
	}
	n := u.Scheme + "://" + u.Host
	switch u.Scheme {
	case "capacitor", "ionic", "localhost":
		if u.Hostname() == "localhost" {
			return n
		}
		return ""
	case "http", "https":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return n
		}
		if slices.Contains(capgoOrigins, n) {
			return n
		}
	}
	if slices.Contains(p.extra, n) {
		return n
	}
	return ""
}

// handle sets the CORS headers and answers a preflight (true) the way
// Hono's cors middleware (hono 4.12.23, the version Capgo pins) does: 204
// for every OPTIONS request, whatever its Origin or requested method.
func (p *corsPolicy) handle(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	if o := p.allowed(r.Header.Get("Origin")); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
	}
	if r.Method != http.MethodOptions {
		h.Add("Vary", "Origin")
		return false
	}
	// Hono sets Vary: Origin, then appends the request-headers entry
	// because allowHeaders is a fixed list.
	h.Set("Vary", "Origin, Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
	return true
}
