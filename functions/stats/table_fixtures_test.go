package stats_test

// Fixtures of the /stats rule tables (table_test.go): builders of the
// snapshots the store answers and of the request JSON, the events a row
// expects, a hand-written in-memory store and a capturing recorder, and
// the runner that sends a row's request through the real router and
// handler (no PostgreSQL).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// The demo app, its org and the device every row reports for (lower-case,
// as the handler stores it).
const (
	demoApp = "com.demo.app"
	demoOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
	dev     = "6f0f6a1c-3b0e-4c61-9d8a-2d5b8e1f7a42"
)

// ---- Snapshots ----

// snapOpt changes a snapshot.
type snapOpt func(*store.StatsSnapshot)

// snap is the snapshot of the demo app with a valid plan that allows
// custom ids, before opts: no bundle found, no channel.
func snap(opts ...snapOpt) *store.StatsSnapshot {
	s := &store.StatsSnapshot{App: store.App{AppID: demoApp, OwnerOrg: demoOrg, PlanValid: true, AllowDeviceCustomID: true}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// app changes the snapshot's app.
func app(opts ...func(*store.App)) snapOpt {
	return func(s *store.StatsSnapshot) {
		for _, o := range opts {
			o(&s.App)
		}
	}
}

func allowCustomID(allow bool) func(*store.App) {
	return func(a *store.App) { a.AllowDeviceCustomID = allow }
}
func planInvalid() func(*store.App) { return func(a *store.App) { a.PlanValid = false } }

// version: the event's bundle was found with this app_versions id.
func version(id int64) snapOpt { return func(s *store.StatsSnapshot) { s.VersionID = &id } }

// oldVersion: the event's old_version_name was found with this id.
func oldVersion(id int64) snapOpt { return func(s *store.StatsSnapshot) { s.OldVersionID = &id } }

// channel: the device's effective channel.
func channel(c store.ChannelRef) snapOpt { return func(s *store.StatsSnapshot) { s.Channel = &c } }

// The demo app's bundles and channels (supabase/seed.sql).
var (
	v100   = version(1) // the bundle 1.0.0 was found
	v1361  = version(2) // the bundle 1.361.0 was found
	prodCh = store.ChannelRef{ID: 1, Name: "production"}
	betaCh = store.ChannelRef{ID: 2, Name: "beta"}
	onProd = channel(prodCh)
)

// demoSnap is the usual answer: the event's bundle 1.0.0 found, and the
// device on the production channel; opts change it.
func demoSnap(opts ...snapOpt) *store.StatsSnapshot {
	return snap(append([]snapOpt{v100, onProd}, opts...)...)
}

// snaps lists the snapshots the store answers, one per query in order;
// the last one answers every later query, and a nil one is an unknown app.
func snaps(s ...*store.StatsSnapshot) []*store.StatsSnapshot {
	if len(s) == 0 {
		return []*store.StatsSnapshot{nil}
	}
	return s
}

// ---- Requests ----

// request is what the device sends: a method, a path under the function
// and a body (a JSON value, or rawJSON sent as is).
type request struct {
	method, path string
	body         any
}

// rawJSON is a body sent as is.
type rawJSON string

func post(body any) request { return request{method: http.MethodPost, body: body} }

// bodyOpt changes an event.
type bodyOpt func(map[string]any)

// event is Capgo's stats test body (tests/test-utils.ts getBaseData plus
// version_os and action set) for the demo app and dev, after opts.
func event(opts ...bodyOpt) map[string]any {
	m := map[string]any{
		"app_id": demoApp, "device_id": dev, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true, "version_os": "16.1", "action": "set",
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// with sets a key (any JSON value, a nil one included).
func with(key string, v any) bodyOpt { return func(m map[string]any) { m[key] = v } }

// without deletes keys.
func without(keys ...string) bodyOpt {
	return func(m map[string]any) {
		for _, k := range keys {
			delete(m, k)
		}
	}
}

func action(a string) bodyOpt { return with("action", a) }

// batch is a JSON array of events (or anything).
func batch(items ...any) []any { return append([]any{}, items...) }

// ---- Events ----

// device is the device record of event() (makeDevice) after opts.
func device(opts ...func(*plugin.Device)) plugin.Event {
	d := plugin.Device{AppID: demoApp, DeviceID: dev, Platform: "android", PluginVersion: "7.0.0",
		VersionBuild: "1.0.0", VersionName: "1.0.0", OSVersion: "16.1", IsProd: true}
	for _, o := range opts {
		o(&d)
	}
	return plugin.DeviceUpsert{Device: d}
}

func stat(action string) plugin.Event { return statOf(action, "1.0.0") }

func statOf(action, versionName string) plugin.Event {
	return plugin.StatsEvent{AppID: demoApp, DeviceID: dev, Action: action, VersionName: versionName}
}

func statMeta(action string, md map[string]string) plugin.Event {
	return plugin.StatsEvent{AppID: demoApp, DeviceID: dev, Action: action, VersionName: "1.0.0", Metadata: md}
}

// mau is the device_usage row of an android device on native 1.0.0.
func mau() plugin.Event { return mauOf("android", "1.0.0") }

func mauOf(platform, build string) plugin.Event {
	return plugin.DeviceUsage{DeviceID: dev, AppID: demoApp, OrgID: demoOrg, Platform: platform, VersionBuild: build}
}

// usage is a version_usage row on a channel (nil: none).
func usage(action, versionName string, ch *store.ChannelRef) plugin.Event {
	vu := plugin.VersionUsage{AppID: demoApp, VersionName: versionName, Action: action}
	if ch != nil {
		id, name := ch.ID, ch.Name
		vu.ChannelID, vu.ChannelName = &id, &name
	}
	return vu
}

func install(v string, ch store.ChannelRef) plugin.Event   { return usage("install", v, &ch) }
func uninstall(v string, ch store.ChannelRef) plugin.Event { return usage("uninstall", v, &ch) }
func fail(v string, ch store.ChannelRef) plugin.Event      { return usage("fail", v, &ch) }

func events(evs ...plugin.Event) []plugin.Event { return evs }

// ---- Fakes ----

// fakeStore answers the n-th query with snaps[n] (the last snapshot for
// every later query; nil, or another app than the snapshot's, is
// store.ErrNotFound) and records the queries.
// With err set it fails every call, as a database that cannot answer.
type fakeStore struct {
	mu      sync.Mutex
	snaps   []*store.StatsSnapshot
	err     error
	queries []store.StatsQuery
}

func (f *fakeStore) StatsSnapshot(ctx context.Context, q store.StatsQuery) (store.StatsSnapshot, error) {
	s, errs, err := f.StatsSnapshots(ctx, []store.StatsQuery{q})
	if err != nil {
		return store.StatsSnapshot{}, err
	}
	return s[0], errs[0]
}

func (f *fakeStore) StatsSnapshots(_ context.Context, qs []store.StatsQuery) ([]store.StatsSnapshot, []error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		f.queries = append(f.queries, qs...)
		return nil, nil, f.err
	}
	out, errs := make([]store.StatsSnapshot, len(qs)), make([]error, len(qs))
	for i, q := range qs {
		n := min(len(f.queries), len(f.snaps)-1)
		f.queries = append(f.queries, q)
		s := f.snaps[n]
		if s == nil || s.App.AppID != q.AppID {
			errs[i] = store.ErrNotFound
			continue
		}
		out[i] = *s
		if q.OldVersionName == "" {
			out[i].OldVersionID = nil // not asked for
		}
	}
	return out, errs, nil
}

// ---- Rows ----

// row is one rule: what the device sends, what the store holds, and the
// answer and events that must result.
type row struct {
	name  string
	req   request
	snaps []*store.StatsSnapshot // nil: the app is unknown
	opts  []option
	want  want
}

// want is a row's expected outcome. Every field is checked: no events
// means none may be recorded.
type want struct {
	status int
	body   string            // JSON, compared parsed (keys, values, types)
	header map[string]string // "" means the header must be absent
	events []plugin.Event
	// queries are the snapshot queries, checked when not nil.
	queries []store.StatsQuery
}

// option changes a row's fixture.
type option func(*fixture)

type fixture struct {
	deps  stats.Deps
	store *fakeStore
	rec   *functest.Capture
}

// limited lists the demo app in LIMITED_APPS (always refused).
func limited() option { return func(f *fixture) { f.deps.Limited = plugin.LimitedApps{demoApp: 1} } }

// storeDown: every snapshot read fails.
func storeDown() option { return func(f *fixture) { f.store.err = errors.New("connection refused") } }

// recorderClosed: the recorder takes nothing (shutting down).
func recorderClosed() option { return func(f *fixture) { f.rec.Err = store.ErrClosed } }

func runRows(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			r.run(t)
		})
	}
}

func (r row) run(t *testing.T) {
	f := &fixture{store: &fakeStore{snaps: r.snaps}, rec: &functest.Capture{}}
	if f.store.snaps == nil {
		f.store.snaps = snaps()
	}
	f.deps = stats.Deps{Store: f.store, Recorder: f.rec, Log: slog.New(slog.DiscardHandler)}
	for _, o := range r.opts {
		o(f)
	}
	h, err := stats.New(f.deps)
	if err != nil {
		t.Fatal(err)
	}
	router := server.New(server.Options{Log: slog.New(slog.DiscardHandler),
		Functions: []server.Function{{Name: "stats", Handler: h, Methods: []string{http.MethodPost, http.MethodGet}}}})

	res := httptest.NewRecorder()
	router.ServeHTTP(res, r.req.httpRequest(t))
	checkAnswer(t, res, r.want.status, r.want.body, r.want.header)
	if d := cmp.Diff(r.want.events, f.rec.Events(), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("events recorded (-want +got):\n%s", d)
	}
	if r.want.queries != nil {
		if d := cmp.Diff(r.want.queries, f.store.queries); d != "" {
			t.Errorf("snapshot queries (-want +got):\n%s", d)
		}
	}
}

func (q request) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	var payload []byte
	switch b := q.body.(type) {
	case nil:
	case rawJSON:
		payload = []byte(b)
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(q.method, "/functions/v1/stats"+q.path, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// checkAnswer compares the status, the whole body as parsed JSON and the
// listed headers.
func checkAnswer(t *testing.T, res *httptest.ResponseRecorder, status int, body string, header map[string]string) {
	t.Helper()
	var wantBody, gotBody any
	if err := json.Unmarshal([]byte(body), &wantBody); err != nil {
		t.Fatalf("bad want JSON %q: %v", body, err)
	}
	if res.Code != status {
		t.Errorf("status = %d, want %d (body %s)", res.Code, status, res.Body)
	}
	if err := json.Unmarshal(res.Body.Bytes(), &gotBody); err != nil {
		t.Fatalf("body is not JSON: %q", res.Body)
	}
	if d := cmp.Diff(wantBody, gotBody); d != "" {
		t.Errorf("body (-want +got):\n%s\ngot: %s", d, res.Body)
	}
	for k, v := range header {
		if got := res.Header().Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

// upper is s upper-cased (a device id sent in capitals).
func upper(s string) string { return strings.ToUpper(s) }
