package stats

// The PostgreSQL side of /stats: which rows the snapshot queries select
// (bundles, plans, the effective channel) and the known answers end to end
// on the seeded database. The protocol rules themselves (validation,
// decisions, answers, the events of each case) are the tables of
// table_test.go, which need no database.

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
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

const (
	ok            = `{"status":"ok"}`
	wantOnPremise = `{"error":"on_premise_app","message":"On-premise app detected"}`
)

// TestSnapshotSelects: which bundles, plans and apps the snapshot query
// finds on the seeded database, end to end.
func TestSnapshotSelects(t *testing.T) {
	t.Parallel()
	const failedPlan = `UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`
	runCases(t, []statsCase{
		{
			name: "an unknown bundle is not found", body: withEvent(map[string]any{"version_name": "9.9.9"}), status: 200,
			want: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"9.9.9"}`,
			rows: &rows{},
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
			name: "an old bundle is found and uninstalled", body: withEvent(map[string]any{"old_version_name": "1.361.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"uninstall:1.361.0", "set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production", "uninstall:1.361.0:production"}},
		},
		{
			name: "an old bundle deleted since is still found", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`},
			body: withEvent(map[string]any{"old_version_name": "1.361.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"uninstall:1.361.0", "set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production", "uninstall:1.361.0:production"}},
		},
		{
			name: "an old bundle unknown to the server is not found", body: withEvent(map[string]any{"old_version_name": "0.9.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "an unknown app writes its get row (stats has no foreign key)",
			body: withEvent(map[string]any{"app_id": "com.unknown.app", "metadata": map[string]any{"k": "v"}}), status: 429, want: wantOnPremise,
			rows: &rows{stats: []string{"get:1.0.0"}},
		},
		{
			name: "a failed subscription is an invalid plan", setup: []string{failedPlan},
			body: withEvent(nil), status: 429, want: wantOnPremise,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"},
		},
		{
			name: "an exceeded bandwidth is an invalid plan", setup: []string{`UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '1 day'`},
			body: withEvent(nil), status: 429, want: wantOnPremise,
		},
		{
			name: "an invalid plan with a blocked custom_id", setup: []string{failedPlan, `UPDATE apps SET allow_device_custom_id = false`},
			body: withEvent(map[string]any{"action": "set_fail", "custom_id": "mine"}), status: 429, want: wantOnPremise,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0", "customIdBlocked:1.0.0"}, device: "1.0.0||-"},
		},
	})
}

// TestChannelResolution: the effective channel version_usage names
// (Capgo's getEffectiveDeviceChannelNamePostgres): the override, else the
// defaultChannel the device may use, else the platform's public channel;
// never the client's `channel`.
func TestChannelResolution(t *testing.T) {
	t.Parallel()
	const override = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
		SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `
	installOn := func(device, platform, channel string) *rows {
		return &rows{stats: []string{"set:1.0.0"}, device: device, mau: []string{platform + ":1.0.0"},
			versionUsage: []string{"install:1.0.0:" + channel}}
	}
	runCases(t, []statsCase{
		{name: "the platform's public channel", body: withEvent(nil), status: 200, want: ok, rows: installOn("1.0.0||-", "android", "production")},
		{
			name: "the device override", setup: []string{override + `'beta'`},
			body: withEvent(nil), status: 200, want: ok, rows: installOn("1.0.0||-", "android", "beta"),
		},
		{
			name:  "the override counts before apps.channel_device_count catches up",
			setup: []string{override + `'no_access'`, `UPDATE apps SET channel_device_count = 0`},
			body:  withEvent(map[string]any{"defaultChannel": "beta"}), status: 200, want: ok,
			rows: installOn("1.0.0||beta", "android", "no_access"),
		},
		{
			name: "a defaultChannel the device may use, trimmed", body: withEvent(map[string]any{"defaultChannel": " beta "}), status: 200, want: ok,
			rows: installOn("1.0.0|| beta ", "android", "beta"),
		},
		{
			name: "a defaultChannel disabled for the platform falls back to the public channel",
			body: withEvent(map[string]any{"defaultChannel": "no_access"}), status: 200, want: ok,
			rows: installOn("1.0.0||no_access", "android", "production"),
		},
		{
			name: "the client's channel is not trusted", body: withEvent(map[string]any{"channel": "beta"}), status: 200, want: ok,
			rows: installOn("1.0.0||-", "android", "production"),
		},
		{
			name: "ios resolves the ios public channel", body: withEvent(map[string]any{"platform": "ios"}), status: 200, want: ok,
			rows: installOn("1.0.0||-", "ios", "development"),
		},
		{
			name: "another platform reads the ios column and writes no devices row (web)", body: withEvent(map[string]any{"platform": "web"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, mau: []string{"web:1.0.0"}, versionUsage: []string{"install:1.0.0:development"}},
		},
		{
			name: "no channel at all", setup: []string{`UPDATE channels SET public = false`},
			body: withEvent(nil), status: 200, want: ok, rows: installOn("1.0.0||-", "android", "-"),
		},
	})
}
