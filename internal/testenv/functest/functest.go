// Package functest is test support for the device functions (updates,
// stats, channel_self, files): it serves one function on the real router,
// sends requests to it, checks the JSON answers and reads the rows a
// request left in its test database. Only _test.go files import it.
//
// A function's tests build their handler on a pgtest database and hand it
// to [Serve]; what is particular to a function (its base body beyond
// Capgo's, the rows it writes, how it sends a query string) stays in the
// function's own tests:
//
//	pool := pgtest.NewPool(t)
//	st := pgstore.New(pool)
//	h, err := updates.New(updates.Deps{Store: st, Recorder: st.Recorder(), Log: functest.Discard()})
//	…
//	e := functest.Serve(t, pool, server.Function{Name: "updates", Handler: h})
//	dev := functest.NewDeviceID()
//	e.Post(functest.BaseBody(dev)).Want(t, 200, `{…}`)
//
// It leaves to others: the databases (pgtest), the router (server), the
// recorder (recorder).
package functest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
	"github.com/capgo-functions/capgo-functions/pkg/server"
)

// The demo app of supabase/seed.sql and its org.
const (
	DemoApp = "com.demo.app"
	DemoOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
)

// Discard is a logger that writes nothing, for handlers and routers under
// test.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Env is one test's function, served on the real router, and the
// database it works on.
type Env struct {
	TB   testing.TB
	Pool *pgxpool.Pool // nil when the test has no database
	URL  string        // the server's base URL
	Path string        // the function's root path, /functions/v1/<name>
}

// Serve starts the real router with fn alone (and a logger that discards
// everything) and stops it when the test ends. pool is the database fn
// works on; it may be nil. The test client stands in for a proxy: the
// loopback addresses are trusted proxies (--trusted-proxies), so a test
// names a device's IP or host with X-Forwarded-* headers.
func Serve(tb testing.TB, pool *pgxpool.Pool, fn server.Function) *Env {
	tb.Helper()
	trust, err := clientaddr.Parse([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Functions: []server.Function{fn}, Trust: trust, Log: Discard()}))
	tb.Cleanup(srv.Close)
	return &Env{TB: tb, Pool: pool, URL: srv.URL, Path: "/functions/v1/" + fn.Name}
}

// Exec runs SQL on the test's database (fixture changes).
func (e *Env) Exec(sql string, args ...any) {
	e.TB.Helper()
	if _, err := e.Pool.Exec(context.Background(), sql, args...); err != nil {
		e.TB.Fatalf("exec %q: %v", sql, err)
	}
	syncReads(e.Pool)
}

// Fixture runs a case's setup SQL for device dev: each "$dev" becomes the
// quoted device id.
func (e *Env) Fixture(dev string, sqls ...string) {
	e.TB.Helper()
	for _, s := range sqls {
		e.Exec(strings.ReplaceAll(s, "$dev", "'"+dev+"'"))
	}
}

// Count runs a query returning one integer.
func (e *Env) Count(sql string, args ...any) int {
	e.TB.Helper()
	var n int
	if err := e.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.TB.Fatalf("count %q: %v", sql, err)
	}
	return n
}

// Strings runs a query returning one text column.
func (e *Env) Strings(sql string, args ...any) []string {
	e.TB.Helper()
	rows, err := e.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		e.TB.Fatalf("query %q: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.TB.Fatalf("query %q: %v", sql, err)
	}
	return out
}

// StatsRows returns the stats rows of device dev in the order they were
// written, as "action:version_name": every device function writes them.
func (e *Env) StatsRows(dev string) []string {
	e.TB.Helper()
	return e.Strings(`SELECT action::text || ':' || version_name FROM stats WHERE device_id = $1 ORDER BY id`, dev)
}

// ClosedRecorder returns the server's batched recorder on w, already
// closed as during shutdown: it refuses every event with store.ErrClosed,
// which a function answers 503 without writing anything.
func ClosedRecorder(tb testing.TB, w recorder.BatchWriter) *recorder.Recorder {
	tb.Helper()
	rec, err := recorder.New(w, recorder.Options{Log: Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := rec.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return rec
}

// Response is an answer of the function; every answer of a device
// function is JSON.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   any // Raw decoded
}

// Do sends body (may be nil) as JSON to path on the server, with header
// given as name, value pairs. An answer without a JSON body fails the test.
func (e *Env) Do(method, path string, body []byte, header ...string) Response {
	e.TB.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.TB.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := testclient.Client.Do(req)
	if err != nil {
		e.TB.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) == 0 {
		e.TB.Fatalf("%s %s: empty body (status %d)", method, path, res.StatusCode)
	}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		e.TB.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
	}
	return r
}

// RawJSON is a request body sent as is (not JSON, or JSON a map cannot
// express).
type RawJSON string

// Post sends body (any JSON value, or RawJSON) to the function's root path.
func (e *Env) Post(body any) Response {
	e.TB.Helper()
	if raw, ok := body.(RawJSON); ok {
		return e.Do(http.MethodPost, e.Path, []byte(raw))
	}
	b, err := json.Marshal(body)
	if err != nil {
		e.TB.Fatal(err)
	}
	return e.Do(http.MethodPost, e.Path, b)
}

// Want checks the status and the whole body against a JSON literal,
// compared as parsed JSON (keys, values, types, presence).
func (r Response) Want(t testing.TB, status int, wantJSON string) {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatalf("bad want JSON %q: %v", wantJSON, err)
	}
	if r.Status != status {
		t.Errorf("status = %d, want %d (body %s)", r.Status, status, r.Raw)
	}
	if d := cmp.Diff(want, r.Body); d != "" {
		t.Errorf("body mismatch (-want +got):\n%s\ngot: %s", d, r.Raw)
	}
}

// Object returns the body as an object.
func (r Response) Object(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.Body.(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", r.Raw)
	}
	return m
}

// NewDeviceID returns a random lower-case UUID, as plugins send: each
// test's device is its own, so parallel tests never share rows.
func NewDeviceID() string { return plugin.NewUUID() }

// BaseBody is Capgo's default test body (tests/test-utils.ts getBaseData)
// for the demo app: plugin 7.0.0, which on /channel_self is an "old"
// plugin that keeps its channel on the server.
func BaseBody(deviceID string) map[string]any {
	return map[string]any{
		"app_id": DemoApp, "device_id": deviceID, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true,
	}
}

// With returns a copy of body with the changes applied; a nil value
// deletes the key.
func With(body map[string]any, changes map[string]any) map[string]any {
	out := maps.Clone(body)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}
