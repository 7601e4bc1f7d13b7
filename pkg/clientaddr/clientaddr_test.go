package clientaddr_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
)

func TestClient(t *testing.T) {
	t.Parallel()
	proxies, err := clientaddr.Parse([]string{"10.0.0.0/8", " 192.0.2.7 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{"X-Forwarded-For": "198.51.100.9", "X-Real-IP": "198.51.100.8",
		"X-Forwarded-Host": "devices.example:8443", "X-Forwarded-Proto": "https"}
	for _, tc := range []struct {
		name    string
		trust   *clientaddr.Trust
		remote  string
		headers map[string]string
		want    clientaddr.Client
	}{
		{"no trusted proxies: the headers are ignored", nil, "203.0.113.5:1234", forged,
			clientaddr.Client{IP: "203.0.113.5", Scheme: "http", Host: "api.example"}},
		{"an untrusted peer: the headers are ignored", proxies, "203.0.113.5:1234", forged,
			clientaddr.Client{IP: "203.0.113.5", Scheme: "http", Host: "api.example"}},
		{"a trusted peer: the headers count", proxies, "192.0.2.7:1234", forged,
			clientaddr.Client{IP: "198.51.100.9", Scheme: "https", Host: "devices.example:8443"}},
		{"the right-most untrusted X-Forwarded-For entry, not a forged first one", proxies, "10.1.2.3:1234",
			map[string]string{"X-Forwarded-For": "1.2.3.4, 198.51.100.9, 10.9.9.9"},
			clientaddr.Client{IP: "198.51.100.9", Scheme: "http", Host: "api.example"}},
		{"X-Real-IP from a trusted peer", proxies, "10.1.2.3:1234", map[string]string{"X-Real-IP": "198.51.100.8"},
			clientaddr.Client{IP: "198.51.100.8", Scheme: "http", Host: "api.example"}},
		{"an invalid forwarded host and proto are ignored", proxies, "10.1.2.3:1234",
			map[string]string{"X-Forwarded-Host": "evil.example/x?", "X-Forwarded-Proto": "javascript"},
			clientaddr.Client{IP: "10.1.2.3", Scheme: "http", Host: "api.example"}},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host, r.RemoteAddr = "api.example", tc.remote
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if diff := cmp.Diff(tc.want, clientaddr.Of(tc.trust.Attach(r))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS, r.RemoteAddr = &tls.ConnectionState{}, "192.0.2.7:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	if got := clientaddr.Of(r); got.Scheme != "https" || got.IP != "192.0.2.7" {
		t.Errorf("without Attach: %+v, want the connection (https, 192.0.2.7)", got)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/8/1"} {
		if _, err := clientaddr.Parse([]string{c}); err == nil {
			t.Errorf("Parse(%q) = nil error", c)
		}
	}
}

func TestValidHost(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"devices.example": true, "devices.example:8443": true, "127.0.0.1:54321": true, "[::1]:80": true, "[2001:db8::1]": true,
		"": false, "evil.example/x?": false, "a@evil.example": false, "evil.example:port": false, "a b": false,
		"evil.example#x": false, "::1": false, "evil.example:80:81": false, "[::1": false, ":80": false,
	} {
		if got := clientaddr.ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}
