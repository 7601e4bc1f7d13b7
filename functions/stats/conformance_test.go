package stats

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// rows are the writes a /stats request is expected to make for its device.
type rows struct {
	stats        []string // stats rows of the device in order, "action:version_name"
	device       string   // devices row "version_name|custom_id|default_channel"; "" means none
	mau          []string // device_usage rows of the device, "platform:version_build"
	versionUsage []string // version_usage rows of the app, "action:version_name:channel_name" ("-" for NULL)
}

func (e *env) checkRows(t *testing.T, dev string, want rows) {
	t.Helper()
	got := rows{
		stats: e.StatsRows(dev),
		mau:   e.Strings(`SELECT platform || ':' || version_build FROM device_usage WHERE device_id = $1 ORDER BY id`, dev),
		versionUsage: e.Strings(`SELECT action::text || ':' || version_name || ':' || coalesce(channel_name, '-')
			FROM version_usage WHERE app_id = $1 ORDER BY "timestamp", action`, functest.DemoApp),
	}
	if d := e.Strings(`SELECT version_name || '|' || custom_id || '|' || coalesce(default_channel, '-') FROM devices WHERE device_id = $1`, dev); len(d) > 0 {
		got.device = d[0]
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(rows{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("rows written (-want +got):\n%s", d)
	}
}

type statsCase struct {
	name   string
	setup  []string             // SQL run first; "$dev" is replaced by the device id (quoted)
	body   func(dev string) any // the request body
	status int
	want   string // JSON; {{dev}} is replaced by the device id
	rows   *rows  // nil: not checked
}

// withEvent is baseEvent(dev) with changes.
func withEvent(changes map[string]any) func(string) any {
	return func(dev string) any { return functest.With(baseEvent(dev), changes) }
}

func runCases(t *testing.T, cases []statsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dev := functest.NewDeviceID()
			e.Fixture(dev, tc.setup...)
			res := e.Post(tc.body(dev))
			res.Want(t, tc.status, strings.ReplaceAll(tc.want, "{{dev}}", dev))
			if tc.rows != nil {
				e.checkRows(t, dev, *tc.rows)
			}
		})
	}
}

const ok = `{"status":"ok"}`

// TestErrorCatalogue covers every reachable /stats code (as in Capgo's
// stats.ts) with its status and exact body, and that none of them writes.
func TestErrorCatalogue(t *testing.T) {
	t.Parallel()
	noRows := &rows{}
	runCases(t, []statsCase{
		{
			name: "not JSON", body: func(string) any { return functest.RawJSON("{") }, status: 400,
			want: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`,
		},
		{
			name: "first event without app_id", body: withEvent(map[string]any{"app_id": nil}), status: 400,
			want: `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`, rows: noRows,
		},
		{
			name: "first event with a non-string app_id", body: withEvent(map[string]any{"app_id": 42}), status: 400,
			want: `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`,
		},
		{
			name: "a JSON null body", body: func(string) any { return nil }, status: 400,
			want: `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`,
		},
		{
			name: "first event with an app_id that is not a reverse domain", body: withEvent(map[string]any{"app_id": "demo"}), status: 400,
			want: `{"error":"invalid_app_id","message":"App ID must be a reverse domain string","moreInfo":{}}`, rows: noRows,
		},
		{
			// JavaScript's /i folds ASCII only: the long s (ſ) is not an "s".
			name: "first event with a non-ASCII letter in the app_id", body: withEvent(map[string]any{"app_id": "com.demo.\u017fapp"}), status: 400,
			want: `{"error":"invalid_app_id","message":"App ID must be a reverse domain string","moreInfo":{}}`, rows: noRows,
		},
		{
			name: "batch whose first event has no app_id", body: func(dev string) any {
				return []any{functest.With(baseEvent(dev), map[string]any{"app_id": nil}), baseEvent(dev)}
			}, status: 400,
			want: `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`, rows: noRows,
		},
		{
			name: "missing device_id", body: withEvent(map[string]any{"device_id": nil}), status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","version_os":"16.1","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"set"}}}`,
		},
		{
			name: "native version not semver", body: withEvent(map[string]any{"version_build": "1.0.0.0.1"}), status: 400,
			want: `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`,
			rows: noRows,
		},
		{
			name: "unknown action", body: withEvent(map[string]any{"action": "explode"}), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"action must be one of: ` + allActions() + `","path":["action"],"code":"custom"}]}}}}`,
			rows: noRows,
		},
		{
			name: "no action (Capgo: 500)", body: withEvent(map[string]any{"action": nil}), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"action is required","path":["action"],"code":"custom"}]}}}}`,
			rows: noRows,
		},
		{
			name: "a non-string version_build (Capgo: 500)", body: withEvent(map[string]any{"version_build": 5}), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"version_build must be a string","path":["version_build"],"code":"custom"}]}}}}`,
			rows: noRows,
		},
		{
			name: "a batch item with a non-string version_build (Capgo: processing_error)", body: func(dev string) any {
				return []any{functest.With(baseEvent(dev), map[string]any{"version_build": true}), functest.With(baseEvent(dev), map[string]any{"action": "get"})}
			}, status: 200,
			want: `{"status":"ok","results":[{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":0},{"status":"ok","index":1}]}`,
			rows: &rows{stats: []string{"get:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
		{
			name: "missing version_os and a bad device id", body: withEvent(map[string]any{"version_os": nil, "device_id": "nope"}), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Device ID must be a valid UUID string","path":["device_id"],"code":"custom"},{"message":"Version OS is required","path":["version_os"],"code":"custom"}]}}}}`,
		},
		{
			name: "metadata with a non-string value", body: withEvent(map[string]any{"metadata": map[string]any{"n": 1}}), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"metadata values must be strings","path":["metadata.n"],"code":"custom"}]}}}}`,
		},
		{
			name: "batch item without app_id", body: func(dev string) any {
				return []any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"app_id": nil})}
			}, status: 200,
			want: `{"error":"invalid_app_id","message":"App ID is required"}`, rows: noRows,
		},
		{
			name: "batch item that is not an object", body: func(dev string) any { return []any{baseEvent(dev), "x"} }, status: 200,
			want: `{"error":"invalid_app_id","message":"App ID is required"}`, rows: noRows,
		},
		{
			name: "batch item with a bad app_id", body: func(dev string) any {
				return []any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"app_id": "-bad"})}
			}, status: 200,
			want: `{"error":"invalid_app_id","message":"App ID must be a reverse domain string"}`, rows: noRows,
		},
		{
			name: "batch of two apps", body: func(dev string) any {
				return []any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"app_id": "com.other.app"})}
			}, status: 200,
			want: `{"error":"mixed_app_ids","message":"All events in a batch must have the same app_id"}`, rows: noRows,
		},
		{
			name: "version not found", body: withEvent(map[string]any{"version_name": "9.9.9"}), status: 200,
			want: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"9.9.9"}`,
			rows: noRows,
		},
		{
			name: "a deleted bundle is not found", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.0.0'`},
			body: withEvent(nil), status: 200,
			want: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"1.0.0"}`,
		},
		{
			name: "unknown only matches a deleted placeholder", body: withEvent(map[string]any{"version_name": "unknown"}), status: 200,
			want: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"unknown"}`,
		},
		{
			name: "unknown app is on-premise", body: withEvent(map[string]any{"app_id": "com.unknown.app", "metadata": map[string]any{"k": "v"}}), status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"get:1.0.0"}},
		},
		{
			name: "plan invalid is on-premise", setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`},
			body: withEvent(nil), status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"},
		},
		{
			name: "plan with exceeded bandwidth is on-premise", setup: []string{`UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '1 day'`},
			body: withEvent(nil), status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
		},
		{
			name: "plan invalid with a blocked custom_id", setup: []string{
				`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`,
				`UPDATE apps SET allow_device_custom_id = false`,
			},
			body: withEvent(map[string]any{"action": "set_fail", "custom_id": "mine"}), status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0", "customIdBlocked:1.0.0"}, device: "1.0.0||-"},
		},
		{
			name: "batch with an invalid plan", setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`},
			body: func(dev string) any { return []any{baseEvent(dev), baseEvent(dev)} }, status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"},
		},
	})
}

// allActions is the validation message's list.
func allActions() string { return strings.Join(plugin.StatsActions, ", ") }

// TestHealth: GET answers ok, other methods are not found.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Do(http.MethodGet, "/functions/v1/stats", nil).Want(t, 200, ok)
	e.Do(http.MethodPut, "/functions/v1/stats", nil).Want(t, 404, `{"error":"not_found","message":"Not found"}`)
	e.Do(http.MethodPost, "/functions/v1/stats/ok", nil).Want(t, 200, ok)
}

// TestLimitedApps: Capgo's LIMITED_APPS refuses a listed app once its
// app_id passed the first-event checks.
func TestLimitedApps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.Limited = plugin.LimitedApps{functest.DemoApp: 1} })
	dev := functest.NewDeviceID()
	const limited = `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`
	e.Post(baseEvent(dev)).Want(t, 429, limited)
	e.Post([]any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"action": nil})}).Want(t, 429, limited)
	e.Post([]any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"app_id": "com.other.app"})}).Want(t, 200,
		`{"error":"mixed_app_ids","message":"All events in a batch must have the same app_id"}`)
	e.Post(functest.With(baseEvent(dev), map[string]any{"app_id": "com.other.app"})).Want(t, 429, `{"error":"on_premise_app","message":"On-premise app detected"}`)
	e.checkRows(t, dev, rows{stats: []string{"get:1.0.0"}})
}

// TestRecorderClosed: when the recorder takes nothing (shutting down, or
// its queue full) the answer is 503 and the device sends the events again.
func TestRecorderClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.Recorder = functest.ClosedRecorder(t, d.Store.(*pgstore.Store)) })
	const unavailable = `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`
	dev := functest.NewDeviceID()
	e.Post(baseEvent(dev)).Want(t, 503, unavailable)
	e.Post([]any{baseEvent(dev), functest.With(baseEvent(dev), map[string]any{"action": "get"})}).Want(t, 503, unavailable)
	// An event with nothing to record still answers.
	e.Post(functest.With(baseEvent(dev), map[string]any{"version_name": "9.9.9"})).Want(t, 200,
		`{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"9.9.9"}`)
}

// TestBodyTooLarge: a body over 16 MiB is refused before it is parsed
// (docs/compat.md), and nothing is written.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	big := `[` + strings.Repeat(" ", maxBodyBytes) + `]`
	e.Post(functest.RawJSON(big)).Want(t, 413, `{"error":"payload_too_large","message":"Request body exceeds 16777216 bytes"}`)
	e.checkRows(t, dev, rows{})
}
