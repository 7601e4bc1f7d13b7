package channelself_test

// Fixtures of the /channel_self rule tables (table_test.go,
// table_limits_test.go): builders of what the store holds and of the
// request JSON, the events a row expects, a hand-written in-memory store
// that records the channel_devices writes asked of it, a capturing
// recorder, and the runner that sends a row's requests through the real
// router and handler on a fake clock (no PostgreSQL).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// The demo app, its org and the device most rows report for (lower-case,
// as the handler stores it).
const (
	demoApp = "com.demo.app"
	demoOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
	dev     = "6f0f6a1c-3b0e-4c61-9d8a-2d5b8e1f7a42"
)

// devN is another device.
func devN(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// start is the fake clock's first instant (ms precision, like Capgo's
// Date.now()): 1800000000123 ms.
var start = time.UnixMilli(1_800_000_000_123)

// ---- What the store holds ----

// snapshot is what the fake store holds for the demo app: the app, its
// channels, the device's override (by name) and the channels a list query
// selects (by name; which ones the filter selects is the store's business,
// tested on PostgreSQL). The store answers a query with the parts it asks
// for (store.ChannelSelfQuery): Channel is the channel of the asked name,
// Public the public channels by id.
type snapshot struct {
	app      store.App
	channels []store.SelfChannel
	override string
	listed   []string
}

type snapOpt func(*snapshot)

// snap is the demo app of supabase/seed.sql after opts: a valid plan that
// allows custom ids, its five channels, no override, nothing listed.
func snap(opts ...snapOpt) *snapshot {
	s := &snapshot{
		app: store.App{AppID: demoApp, OwnerOrg: demoOrg, PlanValid: true, AllowDeviceCustomID: true},
		channels: []store.SelfChannel{
			seedChannel(1, "production", true, false, true, true),
			seedChannel(2, "beta", false, true, true, true),
			seedChannel(3, "development", true, true, false, false),
			seedChannel(4, "no_access", false, false, false, false),
			seedChannel(5, "electron_only", false, false, false, true),
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// seedChannel is a seeded channel: self-set and every allow_* on.
func seedChannel(id int64, name string, public, ios, android, electron bool) store.SelfChannel {
	return store.SelfChannel{ID: id, Name: name, OwnerOrg: demoOrg, Public: public, AllowDeviceSelfSet: true,
		IOS: ios, Android: android, Electron: electron, AllowEmulator: true, AllowDevice: true, AllowDev: true, AllowProd: true}
}

// app changes the app.
func app(opts ...func(*store.App)) snapOpt {
	return func(s *snapshot) {
		for _, o := range opts {
			o(&s.app)
		}
	}
}

func allowCustomID(allow bool) func(*store.App) {
	return func(a *store.App) { a.AllowDeviceCustomID = allow }
}

// planInvalid: the org is over its MAU (the only plan check here).
func planInvalid() func(*store.App) { return func(a *store.App) { a.PlanValid = false } }

// channel changes the channel of that name.
func channel(name string, opts ...func(*store.SelfChannel)) snapOpt {
	return func(s *snapshot) {
		for i := range s.channels {
			if s.channels[i].Name == name {
				for _, o := range opts {
					o(&s.channels[i])
				}
			}
		}
	}
}

func selfSet(allow bool) func(*store.SelfChannel) {
	return func(c *store.SelfChannel) { c.AllowDeviceSelfSet = allow }
}
func isPublic(public bool) func(*store.SelfChannel) {
	return func(c *store.SelfChannel) { c.Public = public }
}

// override: the device's channel_devices row points at that channel.
func override(name string) snapOpt { return func(s *snapshot) { s.override = name } }

// listed: the channels a list query selects, in the store's order.
func listed(names ...string) snapOpt { return func(s *snapshot) { s.listed = names } }

// ---- Requests ----

// request is one HTTP request: POST and PUT send the body as JSON, DELETE
// and GET as the query string, as the plugin does.
type request struct {
	method string
	body   any // map[string]any, rawJSON, or nil
	header []string
}

// rawJSON is a body sent as is.
type rawJSON string

func post(body any) request { return request{method: http.MethodPost, body: body} }
func put(body any) request  { return request{method: http.MethodPut, body: body} }
func del(body any) request  { return request{method: http.MethodDelete, body: body} }
func list(body any) request { return request{method: http.MethodGet, body: body} }

// from adds a header (X-Forwarded-For, X-Real-IP).
func (r request) from(header, value string) request {
	r.header = append(slices.Clone(r.header), header, value)
	return r
}

type bodyOpt func(map[string]any)

// body is Capgo's default test body (tests/test-utils.ts getBaseData) for
// the demo app and dev: plugin 7.0.0, an "old" plugin that keeps its
// channel on the server.
func body(opts ...bodyOpt) map[string]any {
	m := map[string]any{
		"app_id": demoApp, "device_id": dev, "platform": "android",
		"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0",
		"is_emulator": false, "is_prod": true,
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// with sets a key (any JSON value, a nil one included).
func with(key string, v any) bodyOpt { return func(m map[string]any) { m[key] = v } }

func without(keys ...string) bodyOpt {
	return func(m map[string]any) {
		for _, k := range keys {
			delete(m, k)
		}
	}
}

// newPlugin: 7.34.0 keeps its channel on the device.
func newPlugin() bodyOpt { return with("plugin_version", "7.34.0") }

// asks names the channel.
func asks(ch string) bodyOpt { return with("channel", ch) }

// ---- Events and writes ----

// recorded is what a request records with a stats action: the stats row
// and the device (makeDevice of body() after opts).
func recorded(action string, opts ...func(*plugin.Device)) []plugin.Event {
	d := plugin.Device{AppID: demoApp, DeviceID: dev, Platform: "android", PluginVersion: "7.0.0",
		VersionBuild: "1.0.0", VersionName: "1.0.0", IsProd: true}
	for _, o := range opts {
		o(&d)
	}
	return []plugin.Event{
		plugin.StatsEvent{AppID: d.AppID, DeviceID: d.DeviceID, Action: action, VersionName: d.VersionName},
		plugin.DeviceUpsert{Device: d},
	}
}

func devID(id string) func(*plugin.Device)      { return func(d *plugin.Device) { d.DeviceID = id } }
func devPlugin(v string) func(*plugin.Device)   { return func(d *plugin.Device) { d.PluginVersion = v } }
func devPlatform(p string) func(*plugin.Device) { return func(d *plugin.Device) { d.Platform = p } }
func devCustomID(c string) func(*plugin.Device) { return func(d *plugin.Device) { d.CustomID = c } }
func devDefault(ch string) func(*plugin.Device) {
	return func(d *plugin.Device) { d.DefaultChannel = &ch }
}
func devNewPlugin() func(*plugin.Device)             { return devPlugin("7.34.0") }
func events(groups ...[]plugin.Event) []plugin.Event { return slices.Concat(groups...) }

// deleted is a DeleteOverride call.
type deleted struct{ AppID, DeviceID string }

// removeOverride and setOverride are the channel_devices writes asked of
// the store for dev.
func removeOverride() any { return deleted{AppID: demoApp, DeviceID: dev} }
func setOverride(channelID int64) any {
	return store.ChannelOverride{AppID: demoApp, DeviceID: dev, ChannelID: channelID, OwnerOrg: demoOrg}
}

func writes(w ...any) []any { return w }

// ---- Fakes ----

// fakeStore answers from a snapshot (nil: the app is unknown), records the
// queries and the channel_devices writes asked of it, and fails what it is
// told to. Another app than the snapshot's is unknown.
type fakeStore struct {
	mu                     sync.Mutex
	snap                   *snapshot
	err                    error // every snapshot read fails
	failDelete, failUpsert bool
	queries                []store.ChannelSelfQuery
	writes                 []any
}

func (f *fakeStore) ChannelSelfSnapshot(_ context.Context, q store.ChannelSelfQuery) (store.ChannelSelfSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	switch {
	case f.err != nil:
		return store.ChannelSelfSnapshot{}, f.err
	case f.snap == nil || f.snap.app.AppID != q.AppID:
		return store.ChannelSelfSnapshot{}, store.ErrNotFound
	}
	s := f.snap
	byName := func(name string) *store.SelfChannel {
		for _, c := range s.channels {
			if c.Name == name {
				return &c
			}
		}
		return nil
	}
	out := store.ChannelSelfSnapshot{App: s.app}
	if q.Override && s.override != "" {
		out.Override = byName(s.override)
	}
	if q.Channel != "" {
		out.Channel = byName(q.Channel)
	}
	if q.Public {
		for _, c := range s.channels {
			if c.Public {
				out.Public = append(out.Public, c)
			}
		}
	}
	if q.List != nil {
		for _, name := range s.listed {
			out.Listed = append(out.Listed, *byName(name))
		}
	}
	return out, nil
}

func (f *fakeStore) DeleteOverride(_ context.Context, appID, deviceID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, deleted{AppID: appID, DeviceID: deviceID})
	if f.failDelete {
		return errors.New("refused")
	}
	return nil
}

func (f *fakeStore) UpsertOverride(_ context.Context, o store.ChannelOverride) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, o)
	if f.failUpsert {
		return errors.New("refused")
	}
	return nil
}

// ---- Rows ----

// row is one rule: what the store holds, the requests the device sends in
// order (each with its answer), and what they record and write in all.
type row struct {
	name  string
	snap  *snapshot // nil: the app is unknown
	opts  []option
	steps []step
	// events recorded and channel_devices writes asked for by all steps;
	// none means none may be.
	events []plugin.Event
	writes []any
	// queries are the snapshot queries of all steps, checked when not nil.
	queries []store.ChannelSelfQuery
}

// step is one request and its answer.
type step struct {
	after  time.Duration // the clock moves first
	req    request
	status int
	body   string            // JSON, compared parsed (keys, values, types)
	header map[string]string // "" means the header must be absent
}

type option func(*fixture)

type fixture struct {
	deps  channelself.Deps
	store *fakeStore
	rec   *functest.Capture
	trust *clientaddr.Trust // the router's --trusted-proxies
}

// trustProxy makes the test requests' peer (httptest's 192.0.2.1) a
// trusted proxy, whose X-Forwarded-For and X-Real-IP name the client.
func trustProxy() option {
	return func(f *fixture) {
		t, err := clientaddr.Parse([]string{"192.0.2.0/24"})
		if err != nil {
			panic(err)
		}
		f.trust = t
	}
}

// ipLimit sets the per app+IP limit per minute.
func ipLimit(n int) option { return func(f *fixture) { f.deps.IPLimit = n } }

// limited lists the demo app in LIMITED_APPS (always refused).
func limited() option { return func(f *fixture) { f.deps.Limited = plugin.LimitedApps{demoApp: 1} } }

// storeDown: every snapshot read fails.
func storeDown() option { return func(f *fixture) { f.store.err = errors.New("connection refused") } }

// deleteFails and upsertFails: the channel_devices write is refused.
func deleteFails() option { return func(f *fixture) { f.store.failDelete = true } }
func upsertFails() option { return func(f *fixture) { f.store.failUpsert = true } }

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
	clock := fakeclock.New(start)
	f := &fixture{store: &fakeStore{snap: r.snap}, rec: &functest.Capture{}}
	f.deps = channelself.Deps{Store: f.store, Recorder: f.rec, Now: clock.Now, Log: slog.New(slog.DiscardHandler)}
	for _, o := range r.opts {
		o(f)
	}
	h, err := channelself.New(f.deps)
	if err != nil {
		t.Fatal(err)
	}
	router := server.New(server.Options{Log: slog.New(slog.DiscardHandler), Trust: f.trust, Functions: []server.Function{{
		Name: "channel_self", Handler: h, Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}}}})

	for i, s := range r.steps {
		clock.Advance(s.after)
		res := httptest.NewRecorder()
		router.ServeHTTP(res, s.req.httpRequest(t))
		checkAnswer(t, fmt.Sprintf("step %d (%s)", i, s.req.method), res, s.status, s.body, s.header)
	}
	if d := cmp.Diff(r.events, f.rec.Events(), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("events recorded (-want +got):\n%s", d)
	}
	if d := cmp.Diff(r.writes, f.store.writes, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("channel_devices writes (-want +got):\n%s", d)
	}
	if r.queries != nil {
		if d := cmp.Diff(r.queries, f.store.queries, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("snapshot queries (-want +got):\n%s", d)
		}
	}
}

func (q request) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	target, payload := "/functions/v1/channel_self", []byte(nil)
	switch b := q.body.(type) {
	case rawJSON:
		payload = []byte(b)
	case map[string]any:
		if q.method == http.MethodDelete || q.method == http.MethodGet {
			v := url.Values{}
			for k, val := range b {
				v.Set(k, fmt.Sprint(val))
			}
			target += "?" + v.Encode()
			break
		}
		var err error
		if payload, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(q.method, target, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(q.header); i += 2 {
		req.Header.Set(q.header[i], q.header[i+1])
	}
	return req
}

// checkAnswer compares the status, the whole body as parsed JSON and the
// listed headers.
func checkAnswer(t *testing.T, what string, res *httptest.ResponseRecorder, status int, body string, header map[string]string) {
	t.Helper()
	var wantBody, gotBody any
	if err := json.Unmarshal([]byte(body), &wantBody); err != nil {
		t.Fatalf("%s: bad want JSON %q: %v", what, body, err)
	}
	if res.Code != status {
		t.Errorf("%s: status = %d, want %d (body %s)", what, res.Code, status, res.Body)
	}
	if err := json.Unmarshal(res.Body.Bytes(), &gotBody); err != nil {
		t.Fatalf("%s: body is not JSON: %q", what, res.Body)
	}
	if d := cmp.Diff(wantBody, gotBody); d != "" {
		t.Errorf("%s: body (-want +got):\n%s\ngot: %s", what, d, res.Body)
	}
	for k, v := range header {
		if got := res.Header().Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", what, k, got, v)
		}
	}
}
