package channelself

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
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/pkg/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

var _ store.ChannelSelfStore = (*pgstore.Store)(nil)

const (
	demoApp = "com.demo.app"
	path    = "/functions/v1/channel_self"
)

// clock is the test's settable clock; the limiters and their answers read it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// start is a fixed instant (ms precision, like Capgo's Date.now()).
var start = time.UnixMilli(1_800_000_000_123)

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one test's server on its own seeded database.
type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	srv   *httptest.Server
	clock *clock
}

// newEnv starts the real router with the channel_self function on a fresh
// clone of the seeded database, writing through the synchronous recorder
// so the rows are there when the answer arrives. opts adjust the
// dependencies.
func newEnv(t *testing.T, opts ...func(*Deps)) *env {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	clk := &clock{t: start}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := Deps{Store: st, Recorder: st.Recorder(), Now: clk.Now, Log: log}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{
		Functions: []server.Function{{Name: "channel_self", Handler: h,
			Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}}},
		Log: log,
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, pool: pool, srv: srv, clock: clk}
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

// channelIDs maps "{{id:<channel>}}" to the demo channels' ids.
func (e *env) channelIDs() *strings.Replacer {
	e.t.Helper()
	var pairs []string
	for _, s := range e.strings(`SELECT name || '=' || id FROM channels WHERE app_id = $1`, demoApp) {
		name, id, _ := strings.Cut(s, "=")
		pairs = append(pairs, "{{id:"+name+"}}", id)
	}
	return strings.NewReplacer(pairs...)
}

// newDeviceID returns a random lower-case UUID.
func newDeviceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// baseBody is Capgo's channel_self test body (tests/test-utils.ts
// getBaseData): plugin 7.0.0 is an "old" plugin that keeps its channel on
// the server.
func baseBody(deviceID string) map[string]any {
	return map[string]any{
		"app_id": demoApp, "device_id": deviceID, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true,
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

// rawJSON is a request body sent as is.
type rawJSON string

// call sends body as JSON (POST, PUT) or as the query string (DELETE,
// GET); headers are added to the request.
func (e *env) call(method string, body any, headers ...string) response {
	e.t.Helper()
	target, payload := e.srv.URL+path, []byte(nil)
	switch b := body.(type) {
	case rawJSON:
		payload = []byte(b)
	case map[string]any:
		if method == http.MethodDelete || method == http.MethodGet {
			q := url.Values{}
			for k, v := range b {
				q.Set(k, fmt.Sprint(v))
			}
			target += "?" + q.Encode()
			break
		}
		var err error
		if payload, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(payload))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) == 0 {
		e.t.Fatalf("%s: empty body (status %d)", method, res.StatusCode)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		e.t.Fatalf("%s: body is not JSON: %q", method, raw)
	}
	return r
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

// ipLimit sets the per app+IP limit.
func ipLimit(n int) func(*Deps) { return func(d *Deps) { d.IPLimit = n } }
