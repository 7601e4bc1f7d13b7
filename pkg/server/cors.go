package server

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
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
		if n, _, _ := origin(strings.TrimSpace(o)); n != "" {
			p.extra = append(p.extra, n)
		}
	}
	return p
}

// origin is what Capgo's normalizers make of a URL: for http(s) the WHATWG
// URL origin (host lower-cased, default port dropped), for other schemes
// scheme://host as written; "" when it has no host. scheme and host (the
// host name, without brackets) come with it.
func origin(raw string) (o, scheme, host string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", ""
	}
	scheme, host = u.Scheme, u.Hostname()
	if scheme != "http" && scheme != "https" {
		return scheme + "://" + u.Host, scheme, host
	}
	host = strings.ToLower(host)
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port := u.Port(); port != "" && port != map[string]string{"http": "80", "https": "443"}[scheme] {
		hostport += ":" + port
	}
	return scheme + "://" + hostport, scheme, host
}

// allowed returns the origin to echo, or "".
func (p *corsPolicy) allowed(raw string) string {
	n, scheme, host := origin(raw)
	native := scheme == "capacitor" || scheme == "ionic" || scheme == "localhost"
	web := scheme == "http" || scheme == "https"
	switch {
	case n == "":
		return ""
	case native && host == "localhost":
		return n
	case web && (host == "localhost" || host == "127.0.0.1" || host == "::1" || slices.Contains(capgoOrigins, n)):
		return n
	case slices.Contains(p.extra, n):
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

// middleware is Capgo's useCors as echo middleware: the CORS headers on
// the answer, and a preflight (OPTIONS) answered here.
func (p *corsPolicy) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p.handle(c.Response(), c.Request()) {
			return nil
		}
		return next(c)
	}
}
