package channelself

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
)

// The limits themselves are the tables of table_limits_test.go.

// TestClientIP: the key of the per-IP limit is the connection's address
// unless the peer is a trusted proxy (pkg/clientaddr, attached by the
// router); forwarded headers from anyone else are ignored.
func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := clientaddr.Parse([]string{"192.0.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		trust   *clientaddr.Trust
		headers map[string]string
		want    string
	}{
		{"trusted: right-most untrusted X-Forwarded-For entry", proxies, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Real-IP": "10.0.0.2"}, "203.0.113.9"},
		{"trusted: X-Real-IP", proxies, map[string]string{"X-Real-IP": "10.0.0.2"}, "10.0.0.2"},
		{"trusted: remote address", proxies, nil, "192.0.2.1"},
		{"untrusted: X-Forwarded-For ignored", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"}, "192.0.2.1"},
		{"untrusted: X-Real-IP ignored", nil, map[string]string{"X-Real-IP": "10.0.0.2"}, "192.0.2.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil) // from 192.0.2.1
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := clientIP(tc.trust.Attach(r)); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := clientIP(httptest.NewRequest(http.MethodGet, "/", nil)); got != "192.0.2.1" {
		t.Errorf("without the router: clientIP = %q, want the connection's 192.0.2.1", got)
	}
}
