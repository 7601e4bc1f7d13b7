package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

const notFound = `{"error":"not_found","message":"Not found"}`

// echoMethod answers {"handled":"<METHOD> <path>"}.
var echoMethod = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "handled", Value: r.Method + " " + r.URL.Path}})
})

func newRouter(t *testing.T, fallback http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newHandler(fallback))
	t.Cleanup(srv.Close)
	return srv
}

// newHandler is the router with updates, stats and files (answering only
// /read/attachments/…) in front of fallback.
func newHandler(fallback http.Handler) http.Handler {
	return server.New(server.Options{
		Functions: []server.Function{
			{Name: "updates", Handler: echoMethod, CORS: true},
			{Name: "stats", Handler: echoMethod, Methods: []string{http.MethodGet, http.MethodPost}},
			{Name: "files", Handler: echoMethod, Methods: []string{http.MethodGet},
				Match: func(sub string) bool { return strings.HasPrefix(sub, "/read/attachments/") }},
		},
		Fallback: fallback,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// The CORS headers Capgo's Hono cors middleware (hono 4.12.23) sends.
const (
	allowMethods = "POST,GET,PUT,PATCH,DELETE,OPTIONS"
	allowHeaders = "Content-Type,Authorization,X-Capgo-Spoof-Admin-Authorization,capgkey,capgo_api,x-api-key,x-limited-key-id,apisecret,apikey,x-client-info"
)

// TestRoutesAndCORS mirrors createHono + the function's routes +
// createAllCatch(all('*', useCors, 404)).
func TestRoutesAndCORS(t *testing.T) {
	t.Parallel()
	preflight := map[string]string{
		"Access-Control-Allow-Origin":  "capacitor://localhost",
		"Access-Control-Allow-Methods": allowMethods,
		"Access-Control-Allow-Headers": allowHeaders,
		"Vary":                         "Origin, Access-Control-Request-Headers",
	}
	cases := []struct {
		name         string
		method, path string
		origin       string
		status       int
		body         string
		header       map[string]string // "" means absent
	}{
		{name: "stats POST is routed, without CORS", method: "POST", path: "/functions/v1/stats", origin: "capacitor://localhost",
			status: 200, body: `{"handled":"POST /functions/v1/stats"}`,
			header: map[string]string{"Access-Control-Allow-Origin": "", "Vary": "", "X-Worker-Source": "stats-" + server.Version}},
		{name: "stats HEAD follows GET", method: "HEAD", path: "/functions/v1/stats", status: 200},
		{name: "stats OPTIONS is the catch-all preflight", method: "OPTIONS", path: "/functions/v1/stats", origin: "capacitor://localhost",
			status: 204, header: preflight},
		{name: "stats OPTIONS with a trailing slash", method: "OPTIONS", path: "/functions/v1/stats/", origin: "capacitor://localhost",
			status: 204, header: preflight},
		{name: "stats preflight from an unknown origin: 204 without allow-origin", method: "OPTIONS", path: "/functions/v1/stats", origin: "https://evil.example",
			status: 204, header: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": allowMethods}},
		{name: "stats unrouted method: 404 with CORS", method: "PATCH", path: "/functions/v1/stats", origin: "http://localhost:8100",
			status: 404, body: notFound,
			header: map[string]string{"Access-Control-Allow-Origin": "http://localhost:8100", "Vary": "Origin", "Access-Control-Allow-Methods": ""}},
		{name: "stats method echo does not route: the catch-all's CORS and 404, not 500", method: "MKCOL", path: "/functions/v1/stats", origin: "capacitor://localhost",
			status: 404, body: notFound,
			header: map[string]string{"Access-Control-Allow-Origin": "capacitor://localhost", "X-Worker-Source": "stats-" + server.Version, "Allow": ""}},
		{name: "stats unknown sub-path: 404 with CORS", method: "POST", path: "/functions/v1/stats/nope", origin: "capacitor://localhost",
			status: 404, body: notFound, header: map[string]string{"Access-Control-Allow-Origin": "capacitor://localhost"}},
		{name: "stats POST /ok", method: "POST", path: "/functions/v1/stats/ok", status: 200, body: `{"status":"ok"}`},
		{name: "updates POST has CORS", method: "POST", path: "/functions/v1/updates", origin: "capacitor://localhost",
			status: 200, body: `{"handled":"POST /functions/v1/updates"}`,
			header: map[string]string{"Access-Control-Allow-Origin": "capacitor://localhost", "Vary": "Origin"}},
		{name: "updates OPTIONS preflight", method: "OPTIONS", path: "/functions/v1/updates", origin: "capacitor://localhost",
			status: 204, header: preflight},
		{name: "updates POST /ok answers before the CORS middleware", method: "POST", path: "/functions/v1/updates/ok", origin: "capacitor://localhost",
			status: 200, body: `{"status":"ok"}`, header: map[string]string{"Access-Control-Allow-Origin": "", "Vary": ""}},
		{name: "stats POST /ok/ with a trailing slash", method: "POST", path: "/functions/v1/stats/ok/", status: 200, body: `{"status":"ok"}`},
		{name: "an http origin is echoed as its URL origin", method: "POST", path: "/functions/v1/updates", origin: "HTTP://LocalHost:3000/x",
			status: 200, body: `{"handled":"POST /functions/v1/updates"}`,
			header: map[string]string{"Access-Control-Allow-Origin": "http://localhost:3000"}},
		{name: "a default port is not part of the origin", method: "POST", path: "/functions/v1/updates", origin: "https://capgo.app:443",
			status: 200, body: `{"handled":"POST /functions/v1/updates"}`,
			header: map[string]string{"Access-Control-Allow-Origin": "https://capgo.app"}},
		{name: "files read GET is ours", method: "GET", path: "/functions/v1/files/read/attachments/orgs/o/apps/a/1.zip",
			status: 200, body: `{"handled":"GET /functions/v1/files/read/attachments/orgs/o/apps/a/1.zip"}`,
			header: map[string]string{"X-Worker-Source": "files-" + server.Version, "Access-Control-Allow-Origin": ""}},
		{name: "files read POST: catch-all 404", method: "POST", path: "/functions/v1/files/read/attachments/orgs/o/apps/a/1.zip",
			status: 404, body: notFound},
		{name: "files read OPTIONS: preflight", method: "OPTIONS", path: "/functions/v1/files/read/attachments/x", origin: "capacitor://localhost",
			status: 204, header: preflight},
		{name: "files upload_link goes to the fallback", method: "POST", path: "/functions/v1/files/upload_link",
			status: 299, body: "fallback POST /functions/v1/files/upload_link", header: map[string]string{"X-Worker-Source": "", "X-Request-Id": ""}},
		{name: "files root goes to the fallback", method: "GET", path: "/functions/v1/files", status: 299, body: "fallback GET /functions/v1/files"},
		{name: "another function goes to the fallback", method: "OPTIONS", path: "/functions/v1/bundle", status: 299, body: "fallback OPTIONS /functions/v1/bundle"},
		{name: "other paths go to the fallback", method: "PROPFIND", path: "/storage/v1/x", status: 299, body: "fallback PROPFIND /storage/v1/x"},
	}
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(299)
		_, _ = io.WriteString(w, "fallback "+r.Method+" "+r.URL.Path)
	})
	srv := newRouter(t, fallback)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := testclient.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			got := map[string]string{}
			for name := range tc.header {
				got[name] = strings.Join(resp.Header.Values(name), ", ")
			}
			if tc.header == nil {
				tc.header = map[string]string{}
			}
			if diff := cmp.Diff(tc.header, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoFallback: without a gateway, paths that are not ours (including
// the files sub-paths Match declines) are 404 not_found.
func TestNoFallback(t *testing.T) {
	t.Parallel()
	srv := newRouter(t, nil)
	for _, p := range []string{"/rest/v1/apps", "/functions/v1/files/upload_link", "/functions/v1/files", "/"} {
		resp, err := testclient.Client.Post(srv.URL+p, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || string(body) != notFound {
			t.Errorf("POST %s: %d %s, want 404 %s", p, resp.StatusCode, body, notFound)
		}
	}
}

// TestConfiguredOrigins: WEBAPP_URL / CORS_ALLOWED_ORIGINS entries are
// normalized like request origins, and a native scheme with another host
// is allowed when configured.
func TestConfiguredOrigins(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(server.New(server.Options{
		Functions:   []server.Function{{Name: "updates", Handler: echoMethod, CORS: true}},
		CORSOrigins: []string{"capacitor://foo", " HTTPS://App.Example.com:443/ "},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	t.Cleanup(srv.Close)
	for origin, want := range map[string]string{
		"capacitor://foo":         "capacitor://foo",
		"https://app.example.com": "https://app.example.com",
		"capacitor://bar":         "",
		"http://app.example.com":  "",
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/functions/v1/updates", nil)
		req.Header.Set("Origin", origin)
		resp, err := testclient.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
		}
	}
}
