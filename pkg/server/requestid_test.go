package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestRequestIDInLogs: the line a request logs (a handler's own, the
// panic recovery's) names the request_id its answer carries in
// X-Request-Id, and the function that served it; a malformed incoming id
// is replaced by a generated one in both.
func TestRequestIDInLogs(t *testing.T) {
	t.Parallel()
	logs := &functest.Logs{}
	srv := httptest.NewServer(server.New(server.Options{
		Functions: []server.Function{
			{Name: "stats", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				logctx.From(r.Context(), nil).With("app_id", "com.demo.app").WarnContext(r.Context(), "stats.test_line")
				plugin.WriteError(w, r, nil, plugin.ServiceUnavailable(io.ErrUnexpectedEOF))
			})},
			{Name: "updates", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })},
		},
		Log: logs.Logger(),
	}))
	t.Cleanup(srv.Close)

	cases := []struct {
		name, incoming, path, msg, function string
		status                              int
		keep                                bool
	}{
		{name: "a handler's line, well-formed id kept", incoming: "device-req_42=", path: "/functions/v1/stats",
			msg: "stats.test_line", function: "stats", status: 503, keep: true},
		{name: "the panic recovery's line, malformed id replaced", incoming: "not a valid id!", path: "/functions/v1/updates",
			msg: "request.panic", function: "updates", status: 500},
	}
	for _, tc := range cases {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+tc.path, strings.NewReader("{}"))
		req.Header.Set("X-Request-Id", tc.incoming)
		resp, err := testclient.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.keep && id != tc.incoming || !tc.keep && !uuidRE.MatchString(id) {
			t.Errorf("%s: X-Request-Id %q (incoming %q)", tc.name, id, tc.incoming)
		}
		lines := logs.Lines(t, tc.msg)
		if len(lines) != 1 {
			t.Fatalf("%s: %d lines %q, want 1:\n%s", tc.name, len(lines), tc.msg, logs.String())
		}
		if l := lines[0]; l["request_id"] != id || l["function"] != tc.function {
			t.Errorf("%s: line request_id %v function %v, want %q %q", tc.name, l["request_id"], l["function"], id, tc.function)
		}
	}
}

// TestEveryAnswerHasARequestID: the answers of the router itself (invalid
// function paths, no fallback) carry an X-Request-Id too; the fallback's
// answers are its own.
func TestEveryAnswerHasARequestID(t *testing.T) {
	t.Parallel()
	fallback := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	for _, tc := range []struct {
		name     string
		fallback http.Handler
		path     string
		status   int
		id       bool
	}{
		{"function", fallback, "/functions/v1/stats", 200, true},
		{"function sub-path 404", fallback, "/functions/v1/stats/nope", 404, true},
		{"invalid path", fallback, "/functions/v1//stats", 400, true},
		{"invalid path, upper case", fallback, "/functions/v1/STATS", 400, true},
		{"no fallback: 404", nil, "/rest/v1/apps", 404, true},
		{"fallback", fallback, "/rest/v1/apps", 299, false},
	} {
		srv := newRouter(t, tc.fallback)
		resp, err := testclient.Client.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != tc.status || uuidRE.MatchString(id) != tc.id {
			t.Errorf("%s: %d X-Request-Id %q, want %d and an id: %t", tc.name, resp.StatusCode, id, tc.status, tc.id)
		}
	}
}
