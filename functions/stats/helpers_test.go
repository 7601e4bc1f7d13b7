package stats

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/pkg/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

var _ store.StatsReader = (*pgstore.Store)(nil)

const (
	demoApp = "com.demo.app"
	demoOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
)

// env is one test's server on its own seeded database.
type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	srv  *httptest.Server
}

// newEnv starts the real router with the stats function on a fresh clone
// of the seeded database, writing through the synchronous recorder so the
// rows are there when the answer arrives. opts adjust the dependencies.
func newEnv(t *testing.T, opts ...func(*Deps)) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := Deps{Store: st, Recorder: st.Recorder(), Log: log}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{
		Functions: []server.Function{{Name: "stats", Handler: h, Methods: []string{http.MethodPost, http.MethodGet}}},
		Log:       log,
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, pool: pool, srv: srv}
}

// exec runs SQL on the test's database (fixture changes).
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("exec %q: %v", sql, err)
	}
}

// strings runs a query returning one text column.
func (e *env) strings(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), sql, args...)
	if err != nil {
		e.t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// newDeviceID returns a random lower-case UUID.
func newDeviceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// baseEvent is Capgo's stats test body (tests/test-utils.ts getBaseData)
// with an action.
func baseEvent(deviceID string) map[string]any {
	return map[string]any{
		"app_id": demoApp, "device_id": deviceID, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "version_os": "16.1", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true, "action": "set",
	}
}

// with returns a copy of body with the changes applied; a nil value
// deletes the key.
func with(body map[string]any, changes map[string]any) map[string]any {
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

type response struct {
	status int
	header http.Header
	raw    []byte
	body   any
}

func (e *env) do(method, path string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) == 0 {
		e.t.Fatalf("%s %s: empty body (status %d)", method, path, res.StatusCode)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		e.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
	}
	return r
}

// rawJSON is a request body sent as is.
type rawJSON string

// post sends body (any JSON value, or rawJSON) to /functions/v1/stats.
func (e *env) post(body any) response {
	e.t.Helper()
	if raw, ok := body.(rawJSON); ok {
		return e.do(http.MethodPost, "/functions/v1/stats", []byte(raw))
	}
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPost, "/functions/v1/stats", b)
}

// want checks the status and the whole body against a JSON literal.
func (r response) want(t *testing.T, status int, wantJSON string) {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatalf("bad want JSON %q: %v", wantJSON, err)
	}
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.raw)
	}
	if d := cmp.Diff(want, r.body); d != "" {
		t.Errorf("body mismatch (-want +got):\n%s\ngot: %s", d, r.raw)
	}
}
