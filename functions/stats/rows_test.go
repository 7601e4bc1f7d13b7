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

// TestRowsWritten: the rows a request leaves in each table, end to end
// (the known answers of Capgo's tests/stats.test.ts).
func TestRowsWritten(t *testing.T) {
	t.Parallel()
	runCases(t, []statsCase{
		{
			name: "a per-file failure: a fail for the bundle, the stats row with the file, no devices row",
			body: withEvent(map[string]any{"action": "download_manifest_file_fail", "version_name": "1.361.0:main.js"}), status: 200, want: ok,
			rows: &rows{stats: []string{"download_manifest_file_fail:1.361.0:main.js"}, mau: []string{"android:1.0.0"}, versionUsage: []string{"fail:1.361.0:production"}},
		},
		{
			name: "a legacy download_fail writes the MAU only", body: withEvent(map[string]any{"action": "download_fail", "plugin_version": "7.16.9"}), status: 200, want: ok,
			rows: &rows{mau: []string{"android:1.0.0"}},
		},
		{
			name: "custom_id stored trimmed", body: withEvent(map[string]any{"custom_id": "  TRIM-ME  "}), status: 200, want: ok,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0|TRIM-ME|-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
		{
			name: "custom_id blocked by the app", setup: []string{`UPDATE apps SET allow_device_custom_id = false`},
			body: withEvent(map[string]any{"custom_id": " mine ", "action": "get"}), status: 200, want: ok,
			rows: &rows{stats: []string{"customIdBlocked:1.0.0", "get:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"}},
		},
		{
			name: "a batch: items found, not found and refused by the schema", body: func(dev string) any {
				return []any{
					functest.With(baseEvent(strings.ToUpper(dev)), map[string]any{"action": "get"}),
					functest.With(baseEvent(dev), map[string]any{"version_name": "9.9.9"}),
					functest.With(baseEvent(dev), map[string]any{"action": "nope"}),
					functest.With(baseEvent(dev), map[string]any{"action": "set_fail"}),
				}
			}, status: 200,
			want: `{"status":"ok","results":[
				{"status":"ok","index":0},
				{"status":"error","error":"version_not_found","message":"Version not found","index":1,"moreInfo":{"app_id":"com.demo.app","version_name":"9.9.9"}},
				{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":2},
				{"status":"ok","index":3}]}`,
			rows: &rows{stats: []string{"get:1.0.0", "set_fail:1.0.0"}, device: "1.0.0||-",
				mau: []string{"android:1.0.0", "android:1.0.0"}, versionUsage: []string{"fail:1.0.0:production"}},
		},
		{
			name: "a batch of an unknown app", body: func(dev string) any {
				ev := functest.With(baseEvent(dev), map[string]any{"app_id": "does.not.exist"})
				return []any{ev, ev}
			}, status: 200,
			want: `{"status":"ok","results":[
				{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":0},
				{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":1}]}`,
			rows: &rows{stats: []string{"get:1.0.0", "get:1.0.0"}},
		},
		{
			name: "a device reporting a download then its install", body: func(dev string) any {
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

// TestMetadata: metadata is stored as JSON on the stats row, and none is
// NULL.
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
