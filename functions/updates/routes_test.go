package updates

import (
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

// TestRoutes covers the function's paths other than the update check, on
// the real router with a fake store (no database).
func TestRoutes(t *testing.T) {
	t.Parallel()
	st := &fakeSizer{fakeStore: fakeStore{snap: snap(channel("production"))}}
	h, err := New(Deps{Store: st, Recorder: &functest.Capture{}, Log: functest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	e := functest.Serve(t, nil, server.Function{Name: "updates", Handler: h, CORS: true,
		Sub: map[string]http.Handler{"/manifest_size": h.ManifestSize()}})
	const notFound = `{"error":"not_found","message":"Not found"}`
	e.Do(http.MethodGet, "/functions/v1/updates", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodGet, "/functions/v1/updates/", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodPost, "/functions/v1/updates/ok", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodPost, "/functions/v1/updates/ok/", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodGet, "/functions/v1/updates/nope", nil).Want(t, 404, notFound)
	e.Do(http.MethodDelete, "/functions/v1/updates", nil).Want(t, 404, notFound)
	e.Do(http.MethodGet, "/functions/v1/updates/manifest_size", nil).Want(t, 404, notFound)
	// Hono's PatternRouter takes a trailing slash.
	e.Do(http.MethodPost, "/functions/v1/updates/manifest_size/", mustJSON(t, req(set("manifest", []any{})))).
		Want(t, 200, `{"totalSize":0,"knownFiles":0,"unknownFiles":0,"files":[]}`)
	e.Post(req()).Want(t, 200, noNewJSON)
	if head, err := http.Head(e.URL + "/functions/v1/updates"); err != nil || head.StatusCode != 200 {
		t.Errorf("HEAD /functions/v1/updates: %v %v, want 200 as Hono answers HEAD for GET routes", head, err)
	} else {
		head.Body.Close()
	}

	res := e.Do(http.MethodGet, "/functions/v1/updates", nil)
	if got := res.Header.Get("X-Worker-Source"); !strings.HasPrefix(got, "updates-") {
		t.Errorf("X-Worker-Source = %q", got)
	}
	if res.Header.Get("X-Request-Id") == "" || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("missing X-Request-Id or Content-Security-Policy: %v", res.Header)
	}

	preflight, _ := http.NewRequest(http.MethodOptions, e.URL+"/functions/v1/updates", nil)
	preflight.Header.Set("Origin", "capacitor://localhost")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := testclient.Client.Do(preflight)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "capacitor://localhost" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	preflight.Header.Set("Origin", "https://evil.example")
	pre, err = testclient.Client.Do(preflight)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin echoed: %v", pre.Header)
	}
}
