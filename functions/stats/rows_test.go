package stats

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// TestSetRecordsInstalls: a production device's `set` writes an install
// (and an uninstall of a different old bundle) to version_usage with the
// channel resolved on the server.
func TestSetRecordsInstalls(t *testing.T) {
	t.Parallel()
	const override = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
		SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `
	runCases(t, []statsCase{
		{
			name: "set on the public channel", body: withEvent(nil), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "set replacing another bundle", body: withEvent(map[string]any{"old_version_name": "1.361.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"uninstall:1.361.0", "set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production", "uninstall:1.361.0:production"}},
		},
		{
			name: "old bundle deleted since still counts", setup: []string{`UPDATE app_versions SET deleted = true WHERE name = '1.361.0'`},
			body: withEvent(map[string]any{"old_version_name": "1.361.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"uninstall:1.361.0", "set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production", "uninstall:1.361.0:production"}},
		},
		{
			name: "old bundle equal to the new one", body: withEvent(map[string]any{"old_version_name": "1.0.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "old bundle unknown to the server", body: withEvent(map[string]any{"old_version_name": "0.9.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "set on an emulator counts no install", body: withEvent(map[string]any{"is_emulator": true, "old_version_name": "1.361.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
		{
			name: "set in a dev build counts no install", body: withEvent(map[string]any{"is_prod": false}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
		{
			name: "builtin version_name is the native version", body: withEvent(map[string]any{"version_name": "builtin"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "the device override names the channel", setup: []string{override + `'beta'`},
			body: withEvent(nil), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:beta"}},
		},
		{
			name:  "the override counts before apps.channel_device_count catches up",
			setup: []string{override + `'no_access'`, `UPDATE apps SET channel_device_count = 0`},
			body:  withEvent(map[string]any{"defaultChannel": "beta"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||beta", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:no_access"}},
		},
		{
			name: "defaultChannel the device may use", body: withEvent(map[string]any{"defaultChannel": " beta "}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0|| beta ", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:beta"}},
		},
		{
			name: "defaultChannel disabled for the platform falls back to the public channel",
			body: withEvent(map[string]any{"defaultChannel": "no_access"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||no_access", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "the client's channel is not trusted", body: withEvent(map[string]any{"channel": "beta"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "ios resolves the ios public channel", body: withEvent(map[string]any{"platform": "ios"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"ios:1.0.0"},
				versionUsage: []string{"install:1.0.0:development"}},
		},
		{
			name: "no channel at all", setup: []string{`UPDATE channels SET public = false`},
			body: withEvent(nil), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:-"}},
		},
		{
			name: "a platform devices cannot store keeps its stats (web)", body: withEvent(map[string]any{"platform": "web"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, mau: []string{"web:1.0.0"},
				versionUsage: []string{"install:1.0.0:development"}},
		},
		{
			name: "no version_build counts as unknown for MAU", body: withEvent(map[string]any{"version_build": nil, "action": "get"}), status: 200, want: ok,
			rows: &rows{stats: []string{"get:1.0.0"}, device: "1.0.0||-", mau: []string{"android:unknown"}},
		},
	})
}

// TestFailures: *_fail actions count a failure for the bundle and never
// touch the devices row; download_fail only from fixed plugins.
func TestFailures(t *testing.T) {
	t.Parallel()
	noDevice := func(stats ...string) *rows {
		return &rows{stats: stats, mau: []string{"android:1.0.0"}}
	}
	runCases(t, []statsCase{
		{
			name: "set_fail", body: withEvent(map[string]any{"action": "set_fail"}), status: 200, want: ok,
			rows: &rows{stats: []string{"set_fail:1.0.0"}, mau: []string{"android:1.0.0"}, versionUsage: []string{"fail:1.0.0:production"}},
		},
		{
			name: "per-file failure of a bundle", body: withEvent(map[string]any{"action": "download_manifest_file_fail", "version_name": "1.361.0:main.js"}), status: 200, want: ok,
			rows: &rows{stats: []string{"download_manifest_file_fail:1.361.0:main.js"}, mau: []string{"android:1.0.0"}, versionUsage: []string{"fail:1.361.0:production"}},
		},
		{
			name: "per-file failure of an unknown bundle", body: withEvent(map[string]any{"action": "download_manifest_file_fail", "version_name": "7.7.7:main.js"}), status: 200,
			want: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"7.7.7:main.js"}`, rows: &rows{},
		},
		{
			name: "update_fail on an emulator counts no failure", body: withEvent(map[string]any{"action": "update_fail", "is_emulator": true}), status: 200, want: ok,
			rows: noDevice("update_fail:1.0.0"),
		},
		{
			name: "download_fail from 7.16.9 is dropped", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "7.16.9"}), status: 200, want: ok,
			rows: noDevice(),
		},
		{
			name: "download_fail from 7.16.9 skips the version lookup", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "7.16.9", "version_name": "9.9.9"}), status: 200, want: ok,
			rows: noDevice(),
		},
		{
			name: "download_fail from 7.17.0 counts", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "7.17.0"}), status: 200, want: ok,
			rows: &rows{stats: []string{"download_fail:1.0.0"}, mau: []string{"android:1.0.0"}, versionUsage: []string{"fail:1.0.0:production"}},
		},
		{
			name: "download_fail from 6.14.24 is dropped", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "6.14.24"}), status: 200, want: ok,
			rows: noDevice(),
		},
		{
			name: "download_fail from 6.14.25 counts", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "6.14.25"}), status: 200, want: ok,
			rows: &rows{stats: []string{"download_fail:1.0.0"}, mau: []string{"android:1.0.0"}, versionUsage: []string{"fail:1.0.0:production"}},
		},
		{
			name: "download_fail from an unparseable plugin version is dropped", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "not-a-version"}), status: 200, want: ok,
			rows: noDevice(),
		},
		{
			name: "download_fail without plugin version is dropped", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": nil}), status: 200, want: ok,
			rows: noDevice(),
		},
		{
			name: "a dropped download_fail keeps customIdBlocked", setup: []string{`UPDATE apps SET allow_device_custom_id = false`},
			body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "5.0.0", "custom_id": "x"}), status: 200, want: ok,
			rows: noDevice("customIdBlocked:1.0.0"),
		},
	})
}

// TestCustomID: custom_id is trimmed, and dropped with a customIdBlocked
// stat when the app disallows it.
func TestCustomID(t *testing.T) {
	t.Parallel()
	runCases(t, []statsCase{
		{
			name: "trimmed and stored", body: withEvent(map[string]any{"custom_id": "  TRIM-ME  "}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0|TRIM-ME|-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "blocked by the app", setup: []string{`UPDATE apps SET allow_device_custom_id = false`},
			body: withEvent(map[string]any{"custom_id": " mine ", "action": "get"}), status: 200, want: ok,
			rows: &rows{stats: []string{"customIdBlocked:1.0.0", "get:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
		{
			name: "a blank custom_id is not blocked", setup: []string{`UPDATE apps SET allow_device_custom_id = false`},
			body: withEvent(map[string]any{"custom_id": "   ", "action": "get"}), status: 200, want: ok,
			rows: &rows{stats: []string{"get:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
	})
}

// TestBatch: events are processed in order with one result each.
func TestBatch(t *testing.T) {
	t.Parallel()
	runCases(t, []statsCase{
		{
			name: "empty batch", body: func(string) any { return []any{} }, status: 200,
			want: `{"status":"ok","results":[]}`, rows: &rows{},
		},
		{
			name: "per-item results", body: func(dev string) any {
				return []any{
					functest.With(baseEvent(strings.ToUpper(dev)), map[string]any{"action": "get"}),
					functest.With(baseEvent(dev), map[string]any{"version_os": nil}),
					functest.With(baseEvent(dev), map[string]any{"version_name": "9.9.9"}),
					functest.With(baseEvent(dev), map[string]any{"action": "nope"}),
					functest.With(baseEvent(dev), map[string]any{"device_id": nil}),
					functest.With(baseEvent(dev), map[string]any{"action": nil}),
					functest.With(baseEvent(dev), map[string]any{"action": "set_fail"}),
				}
			}, status: 200,
			want: `{"status":"ok","results":[
				{"status":"ok","index":0},
				{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":1},
				{"status":"error","error":"version_not_found","message":"Version not found","index":2,"moreInfo":{"app_id":"com.demo.app","version_name":"9.9.9"}},
				{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":3},
				{"status":"error","error":"missing_device_id","message":"Cannot find device_id","index":4},
				{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":5},
				{"status":"ok","index":6}]}`,
			rows: &rows{stats: []string{"get:1.0.0", "set_fail:1.0.0"}, device: "1.0.0||-",
				mau: []string{"android:1.0.0", "android:1.0.0"}, versionUsage: []string{"fail:1.0.0:production"}},
		},
		{
			name: "unknown app: every item is on-premise", body: func(dev string) any {
				ev := functest.With(baseEvent(dev), map[string]any{"app_id": "does.not.exist"})
				return []any{ev, ev}
			}, status: 200,
			want: `{"status":"ok","results":[
				{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":0},
				{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":1}]}`,
			rows: &rows{stats: []string{"get:1.0.0", "get:1.0.0"}},
		},
		{
			name: "a device reporting several actions", body: func(dev string) any {
				return []any{
					functest.With(baseEvent(dev), map[string]any{"action": "download_complete", "version_name": "1.361.0"}),
					functest.With(baseEvent(dev), map[string]any{"action": "set", "version_name": "1.361.0", "old_version_name": "1.0.0"}),
				}
			}, status: 200,
			want: `{"status":"ok","results":[{"status":"ok","index":0},{"status":"ok","index":1}]}`,
			rows: &rows{stats: []string{"download_complete:1.361.0", "uninstall:1.0.0", "set:1.361.0"}, device: "1.361.0||-",
				mau: []string{"android:1.0.0", "android:1.0.0"}, versionUsage: []string{"install:1.361.0:production", "uninstall:1.0.0:production"}},
		},
	})
}

// TestMetadata: metadata is stored as JSON on the stats row, empty keys
// dropped, and an empty object is NULL.
func TestMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name     string
		metadata map[string]any
		want     string // stats.metadata as JSON, "null" for NULL
	}{
		{"webview error", map[string]any{"message": "boom", "source": "app.js", "": "dropped"}, `{"message":"boom","source":"app.js"}`},
		{"empty object", map[string]any{}, "null"},
		{"only an empty key", map[string]any{"": "x"}, "null"},
	} {
		dev := functest.NewDeviceID()
		e.Post(functest.With(baseEvent(dev), map[string]any{"action": "webview_javascript_error", "metadata": tc.metadata})).Want(t, 200, ok)
		var got []byte
		if err := e.Pool.QueryRow(context.Background(), `SELECT coalesce(metadata::text, 'null') FROM stats WHERE device_id = $1`, dev).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal([]byte(tc.want), &w)
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s: metadata (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestEveryAction: each of the 91 actions is accepted and recorded; only
// the *_fail ones leave the devices row alone.
func TestEveryAction(t *testing.T) {
	t.Parallel()
	if len(plugin.StatsActions) != 91 {
		t.Fatalf("%d actions, want 91", len(plugin.StatsActions))
	}
	e := newEnv(t)
	for _, action := range plugin.StatsActions {
		dev := functest.NewDeviceID()
		ev := functest.With(baseEvent(dev), map[string]any{"action": action, "custom_id": "test2", "plugin_version": "7.17.0"})
		e.Post(ev).Want(t, 200, ok)
		if got := e.Strings(`SELECT action::text FROM stats WHERE device_id = $1`, dev); !cmp.Equal(got, []string{action}) {
			t.Errorf("%s: stats rows %v", action, got)
		}
		wantDevice := []string{"1.0.0|test2|7.17.0|16.1"}
		if strings.HasSuffix(action, "_fail") {
			wantDevice = nil
		}
		got := e.Strings(`SELECT version_name || '|' || custom_id || '|' || plugin_version || '|' || os_version FROM devices WHERE device_id = $1`, dev)
		if d := cmp.Diff(wantDevice, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: devices row (-want +got):\n%s", action, d)
		}
	}
}

// TestDefaultChannel: the devices row always takes the body's
// defaultChannel, NULL when absent (Capgo's quirk).
func TestDefaultChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	get := func() []string {
		return e.Strings(`SELECT coalesce(default_channel, '-') FROM devices WHERE device_id = $1`, dev)
	}
	for _, step := range []struct {
		defaultChannel any
		want           string
	}{{"beta", "beta"}, {"development", "development"}, {nil, "-"}} {
		e.Post(functest.With(baseEvent(dev), map[string]any{"action": "get", "defaultChannel": step.defaultChannel})).Want(t, 200, ok)
		if got := get(); !cmp.Equal(got, []string{step.want}) {
			t.Errorf("defaultChannel %v: devices.default_channel = %v, want %s", step.defaultChannel, got, step.want)
		}
	}
}
