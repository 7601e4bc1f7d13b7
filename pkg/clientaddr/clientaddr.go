// Package clientaddr decides who a request comes from: the client's IP
// (the /channel_self per-IP limit) and the scheme and host it called (the
// public base of bundle links).
//
// By default the connection is the client: X-Forwarded-For, X-Real-IP,
// X-Forwarded-Host and X-Forwarded-Proto are ignored, so a device that
// reaches the server directly cannot pick its own rate-limit key or shape
// the links it is sent. Behind a proxy (a load balancer, Kong in front
// of us), its addresses are listed as trusted ranges (--trusted-proxies):
// the headers are then believed when the peer is in a trusted range, and
// the client IP is the right-most X-Forwarded-For entry that is not
// (echo's ExtractIPFromXFFHeader).
//
// pkg/server works the client out once per request for the function
// routes ([Trust.Attach]); a function reads it with [Of].
package clientaddr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Client is who a request comes from.
type Client struct {
	IP     string // the client's IP address
	Scheme string // http or https, as the client called
	Host   string // host[:port] the client called
}

// Trust holds the trusted proxy ranges. The zero value and nil trust no
// one.
type Trust struct {
	nets   []*net.IPNet
	xff    echo.IPExtractor
	realIP echo.IPExtractor
}

// Parse builds a Trust from CIDRs ("10.0.0.0/8", "2001:db8::/32"); a bare
// IP is its own /32 or /128. Empty entries are skipped.
func Parse(cidrs []string) (*Trust, error) {
	// echo trusts loopback, link-local and private ranges by default;
	// here only the configured ranges are.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	t := &Trust{}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			ip := net.ParseIP(c)
			if ip == nil {
				return nil, fmt.Errorf("trusted proxy %q: not an IP address or CIDR", c)
			}
			bits := 128
			if ip.To4() != nil {
				bits = 32
			}
			c = fmt.Sprintf("%s/%d", c, bits)
		}
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", c, err)
		}
		t.nets = append(t.nets, n)
		opts = append(opts, echo.TrustIPRange(n))
	}
	t.xff = echo.ExtractIPFromXFFHeader(opts...)
	t.realIP = echo.ExtractIPFromRealIPHeader(opts...)
	return t, nil
}

// Client works out who r comes from.
func (t *Trust) Client(r *http.Request) Client {
	c := Direct(r)
	if t == nil || len(t.nets) == 0 || !t.trusted(c.IP) {
		return c
	}
	if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
		c.IP = t.xff(r)
	} else {
		c.IP = t.realIP(r)
	}
	if p := firstValue(r.Header.Get(echo.HeaderXForwardedProto)); p == "http" || p == "https" {
		c.Scheme = p
	}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); ValidHost(h) {
		c.Host = h
	}
	return c
}

// Attach returns r carrying its Client, for [Of].
func (t *Trust) Attach(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), key{}, t.Client(r)))
}

func (t *Trust) trusted(ip string) bool {
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return false
	}
	for _, n := range t.nets {
		if n.Contains(parsed) {
			return true
		}
	}
	return false
}

type key struct{}

// Of is the Client [Trust.Attach] gave r; without one, the connection's
// (Direct): no header is believed.
func Of(r *http.Request) Client {
	if c, ok := r.Context().Value(key{}).(Client); ok {
		return c
	}
	return Direct(r)
}

// Direct is the client as the connection shows it: the peer's address,
// https when the connection is TLS, and the Host header.
func Direct(r *http.Request) Client {
	c := Client{IP: r.RemoteAddr, Scheme: "http", Host: r.Host}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c.IP = host
	}
	if r.TLS != nil {
		c.Scheme = "https"
	}
	return c
}

// ValidHost reports whether h is a bare host[:port]: a DNS name or IP
// (IPv6 in brackets) and an optional numeric port, nothing else (no path,
// query, user info or spaces), so it can be put in a URL as is.
func ValidHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	for _, ch := range h {
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'
		if !ok {
			return false
		}
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" {
		return false
	}
	// A colon outside brackets is only the port's separator.
	if name := u.Hostname(); strings.Contains(name, ":") && net.ParseIP(name) == nil {
		return false
	}
	return true
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
