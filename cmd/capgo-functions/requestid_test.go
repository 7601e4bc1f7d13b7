package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logLines are the JSON lines in log with msg.
func logLines(t *testing.T, log string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return ln.Addr().String()
}

// TestRequestIDsInTheLog: the whole server, with its database and its
// Supabase gateway both down. The line each failing request logs (the
// updates function's store_unavailable, the proxy's upstream_error) names
// the request_id its answer carries in X-Request-Id and the function; a
// malformed incoming id is replaced by a generated one, in the answer and
// in the line.
func TestRequestIDsInTheLog(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.DatabaseURL = "postgres://postgres@" + closedAddr(t) + "/postgres?connect_timeout=2"
	cfg.ReadModel = "off"
	cfg.Gateway.Upstream = "http://" + closedAddr(t)
	logs := &syncBuffer{}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
		resp, err := http.DefaultClient.Do(req)
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
		for _, l := range logLines(t, logs.String(), tc.msg) {
			if l["function"] != tc.function {
				t.Errorf("%s: function %v, want %s", tc.msg, l["function"], tc.function)
			}
		}
	}
	for msg, ids := range want {
		var got []string
		for _, l := range logLines(t, logs.String(), msg) {
			got = append(got, l["request_id"].(string))
		}
		if strings.Join(got, " ") != strings.Join(ids, " ") {
			t.Errorf("%s lines name %q, want the answers' %q", msg, got, ids)
		}
	}
}
