package channelself

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The limits themselves are the tables of table_limits_test.go.

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"first X-Forwarded-For entry", map[string]string{"X-Forwarded-For": " 203.0.113.9 , 10.0.0.1", "X-Real-IP": "10.0.0.2"}, "203.0.113.9"},
		{"X-Real-IP", map[string]string{"X-Real-IP": "10.0.0.2"}, "10.0.0.2"},
		{"empty X-Forwarded-For entry", map[string]string{"X-Forwarded-For": " , 10.0.0.1"}, "192.0.2.1"},
		{"remote address", nil, "192.0.2.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}
