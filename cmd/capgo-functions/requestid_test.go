package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// TestRequestIDsInTheLog: the whole server, with its database and its
// Supabase gateway both down. The line each failing request logs (the
// updates function's store_unavailable, the proxy's upstream_error) names
// the request_id its answer carries in X-Request-Id and the function; a
// malformed incoming id is replaced by a generated one, in the answer and
// in the line.
func TestRequestIDsInTheLog(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.DatabaseURL = "postgres://postgres@" + functest.ClosedAddr(t) + "/postgres?connect_timeout=2"
	cfg.ReadModel = "off"
	cfg.Gateway.Upstream = "http://" + functest.ClosedAddr(t)
	logs := &functest.Logs{}
	a, err := newApp(context.Background(), cfg, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.closeWithin(10 * time.Second) })
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)

	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	const check = `{"app_id":"com.demo.app","device_id":"6f0e3c2a-0000-4000-8000-000000000001","platform":"android",` +
		`"version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`
	cases := []struct {
		method, path, body, incoming string
		status                       int
		msg, function                string
	}{
		{"POST", "/functions/v1/updates", check, "device-req-1", 503, "updates.store_unavailable", "updates"},
		{"POST", "/functions/v1/updates", check, "not valid!", 503, "updates.store_unavailable", "updates"},
		{"GET", "/rest/v1/apps", "", "kong-req-2", 502, "gateway.upstream_error", "proxy"},
		{"GET", "/rest/v1/apps", "", strings.Repeat("x", 256), 502, "gateway.upstream_error", "proxy"},
	}
	want := map[string][]string{} // msg → the answers' ids, in order
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Request-Id", tc.incoming)
		resp, err := testclient.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		valid := !strings.Contains(tc.incoming, " ") && len(tc.incoming) <= 255
		if resp.StatusCode != tc.status || valid && id != tc.incoming || !valid && !uuid.MatchString(id) {
			t.Errorf("%s %s (X-Request-Id %q): %d %q, want %d and the incoming id if valid, else a UUID",
				tc.method, tc.path, tc.incoming, resp.StatusCode, id, tc.status)
		}
		want[tc.msg] = append(want[tc.msg], id)
		// Each line names the function that logged it.
		for _, l := range logs.Lines(t, tc.msg) {
			if l["function"] != tc.function {
				t.Errorf("%s: function %v, want %s", tc.msg, l["function"], tc.function)
			}
		}
	}
	for msg, ids := range want {
		var got []string
		for _, l := range logs.Lines(t, msg) {
			got = append(got, l["request_id"].(string))
		}
		if strings.Join(got, " ") != strings.Join(ids, " ") {
			t.Errorf("%s lines name %q, want the answers' %q", msg, got, ids)
		}
	}
}
