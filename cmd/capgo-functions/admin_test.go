package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// testApp is newApp on cfg with its public and admin handlers on httptest.
func testApp(t *testing.T, cfg Config) (public, admin string) {
	t.Helper()
	a, err := newApp(context.Background(), cfg, functest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.closeWithin(30 * time.Second) })
	pub := httptest.NewServer(a.handler)
	t.Cleanup(pub.Close)
	s := newAdminServer()
	s.app.Store(a)
	adm := httptest.NewServer(s.handler(functest.Discard()))
	t.Cleanup(adm.Close)
	return pub.URL, adm.URL
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := testclient.Client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsCountRequests: after a known mix of requests, /metrics has
// the exact count per function, method, status and Capgo code, and the
// write path's rows.
func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cfg := Default()
	cfg.DatabaseURL, cfg.ListenURL, cfg.Proxy = dsn, pgtest.Direct(dsn), false
	pub, adm := testApp(t, cfg)
	post := func(path, body string, want int) {
		t.Helper()
		res, err := testclient.Client.Post(pub+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, b, want)
		}
	}
	check := func(app, dev string) string {
		return `{"app_id":"` + app + `","device_id":"` + dev + `","platform":"android","version_build":"1.0.0","version_name":"1.0.0-rc.1",` +
			`"plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`
	}
	for i := range 3 {
		post("/functions/v1/updates", check("com.demo.app", "6f0e3c2a-0000-4000-8000-00000000000"+string(rune('1'+i))), http.StatusOK)
	}
	for range 2 {
		post("/functions/v1/updates", check("com.unknown.app", "6f0e3c2a-0000-4000-8000-000000000009"), http.StatusTooManyRequests)
	}
	post("/functions/v1/stats", `[{"app_id":"com.demo.app","device_id":"6f0e3c2a-0000-4000-8000-00000000000a","platform":"android",`+
		`"version_build":"1.0.0","version_name":"1.0.0","version_os":"14","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"get"}]`, http.StatusOK)

	status, body := get(t, adm+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`capgo_functions_requests_total{code="",function="updates",method="POST",status="200"} 3`,
		`capgo_functions_requests_total{code="on_premise_app",function="updates",method="POST",status="429"} 2`,
		`capgo_functions_requests_total{code="",function="stats",method="POST",status="200"} 1`,
		`capgo_functions_request_duration_seconds_count{function="updates",method="POST",status="200"} 3`,
		`capgo_functions_recorder_rows_total{table="stats"} 6`, // one stats row per update check (5) and the batch's one
		`capgo_functions_recorder_queue_events 0`,
		`capgo_functions_recorder_events_refused_total 0`,
		// The read model's values depend on when its listener connected
		// (a connection drops every model): present, not counted.
		`capgo_functions_readmodel_loads_total `,
		`capgo_functions_readmodel_models `,
		`capgo_functions_readmodel_bytes `,
		`capgo_functions_db_pool_connections_max `,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "capgo_functions_re"))
		}
	}
	if n := strings.Count(body, "capgo_functions_requests_total{"); n != 3 {
		t.Errorf("%d request series, want 3:\n%s", n, body)
	}
}

// flakyDB is a TCP proxy to the database that, while down, closes every
// connection it accepts: the database "down" and back "up" for one pool.
type flakyDB struct {
	ln   net.Listener
	to   string
	down atomic.Bool
}

func newFlakyDB(t *testing.T, to string) *flakyDB {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &flakyDB{ln: ln, to: to}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if f.down.Load() {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", f.to)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return f
}

// TestReadyz: /readyz is 503 naming the database while it is down, 200
// once it is up; /healthz is 200 throughout.
func TestReadyz(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := newFlakyDB(t, u.Host)
	db.down.Store(true)
	u.Host = db.ln.Addr().String()
	cfg := Default()
	cfg.DatabaseURL, cfg.Proxy, cfg.ReadModel = u.String(), false, "off"
	_, adm := testApp(t, cfg)

	type answer struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	readyz := func(wantStatus int) answer {
		t.Helper()
		status, body := get(t, adm+"/readyz")
		var a answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		if status != wantStatus {
			t.Fatalf("/readyz: %d %s, want %d", status, body, wantStatus)
		}
		return a
	}
	down := readyz(http.StatusServiceUnavailable)
	if down.Ready || down.Checks["database"] == "ok" || down.Checks["schema"] == "ok" {
		t.Errorf("database down: %+v", down)
	}
	if status, body := get(t, adm+"/healthz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz with the database down: %d %q", status, body)
	}
	db.down.Store(false)
	up := readyz(http.StatusOK)
	if !up.Ready || up.Checks["database"] != "ok" || up.Checks["schema"] != "ok" || len(up.Checks) != 2 {
		t.Errorf("database up: %+v", up)
	}
}

// TestAdminListener: serve() answers the admin paths on --admin-addr and
// not on the public listener.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.DatabaseURL, cfg.Proxy, cfg.ReadModel = pgtest.NewDB(t), false, "off"
	cfg.Addr, cfg.AdminAddr, cfg.LogFormat = "127.0.0.1:0", "127.0.0.1:0", "json"
	ctx, stop := context.WithCancel(context.Background())
	logs := &functest.Logs{}
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var public string
	select {
	case public = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	var admin string
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin.started" {
			admin = rec.Addr
		}
	}
	if admin == "" {
		t.Fatalf("no admin.started line in:\n%s", logs)
	}
	for _, path := range []string{"/debug/pprof/", "/metrics", "/healthz", "/readyz"} {
		if status, _ := get(t, "http://"+admin+path); status != http.StatusOK {
			t.Errorf("admin %s: %d, want 200", path, status)
		}
		if status, _ := get(t, "http://"+public+path); status != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", path, status)
		}
	}
}

// grepLines is body's lines that start with prefix (failure messages).
func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsProxySignerAndNotifications: after a known mix, /metrics has
// the proxy's upstream requests by outcome and their latency, the storage
// signer's URL cache hits and misses, and the read model's notification
// lag.
func TestMetricsProxySignerAndNotifications(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	kong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close") // no idle connection outlives kong.Close
		_, _ = io.WriteString(w, "kong")
	}))
	cfg := Default()
	cfg.DatabaseURL, cfg.ListenURL, cfg.Gateway.Upstream = dsn, pgtest.Direct(dsn), kong.URL
	cfg.BundleSigner, cfg.Storage.JWTSecret = signerStorage, localJWTSecret
	pub, adm := testApp(t, cfg)

	// Two update checks offered the same bundle: one mint, one cache hit.
	for _, dev := range []string{"1", "2"} {
		res, err := testclient.Client.Post(pub+"/functions/v1/updates", "application/json", strings.NewReader(
			`{"app_id":"com.demo.app","device_id":"6f0e3c2a-0000-4000-8000-00000000000`+dev+`","platform":"android",`+
				`"version_build":"1.0.0","version_name":"1.0.0-rc.1","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "/storage/v1/object/sign/") {
			t.Fatalf("update check: %d %s, want 200 with a storage URL", res.StatusCode, b)
		}
	}
	// Three requests Kong answers, then two it cannot take.
	for i := range 5 {
		if i == 3 {
			kong.Close()
		}
		status, _ := get(t, pub+"/rest/v1/apps")
		if want := map[bool]int{true: http.StatusOK, false: http.StatusBadGateway}[i < 3]; status != want {
			t.Fatalf("proxied request %d: %d, want %d", i, status, want)
		}
	}
	// Two notifications, once the listener is connected (/readyz).
	waitFor(t, "the read model's listener", func() bool { s, _ := get(t, adm+"/readyz"); return s == http.StatusOK })
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, app := range []string{"com.metrics.a", "com.metrics.b"} {
		if _, err := pool.Exec(context.Background(), `SELECT pg_notify('capgo_functions_invalidate', 'app:' || $1)`, app); err != nil {
			t.Fatal(err)
		}
	}
	const lag = `capgo_functions_readmodel_notification_lag_seconds_count 2`
	var body string
	waitFor(t, "the notifications' lag", func() bool { _, body = get(t, adm+"/metrics"); return strings.Contains(body, lag+"\n") })

	for _, want := range []string{
		`capgo_functions_proxy_requests_total{outcome="ok"} 3`,
		`capgo_functions_proxy_requests_total{outcome="dial_error"} 2`,
		`capgo_functions_proxy_requests_total{outcome="timeout"} 0`,
		`capgo_functions_proxy_requests_total{outcome="canceled"} 0`,
		`capgo_functions_proxy_requests_total{outcome="client_body"} 0`,
		`capgo_functions_proxy_requests_total{outcome="other"} 0`,
		`capgo_functions_proxy_upstream_duration_seconds_count 3`,
		`capgo_functions_bundleurl_cache_hits_total 1`,
		`capgo_functions_bundleurl_cache_misses_total 1`,
		lag,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "capgo_functions_"))
		}
	}
}

// waitFor polls cond until it holds; a minute without is a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
	}
}
