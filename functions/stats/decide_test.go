package stats

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

func TestRecordsAction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action, plugin string
		want           bool
	}{
		{"set", "", true},
		{"download_fail", "7.17.0", true},
		{"download_fail", "7.16.9", false},
		{"download_fail", "8.0.0", true},
		{"download_fail", "6.14.25", true},
		{"download_fail", "6.14.24", false},
		{"download_fail", "6.99.0", true},
		{"download_fail", "5.99.0", false},
		{"download_fail", "v6.20.0", false}, // parses, but does not start with "6."
		{"download_fail", "not-a-version", false},
		{"download_fail", "", false},
	} {
		if got := recordsAction(tc.action, tc.plugin); got != tc.want {
			t.Errorf("recordsAction(%q, %q) = %v, want %v", tc.action, tc.plugin, got, tc.want)
		}
	}
}

func TestVersionOnly(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.2.3": "1.2.3", "1.2.3:main.js": "1.2.3", "1.2.3:a:b": "1.2.3", ":x": ":x", "": "",
	} {
		if got := versionOnly(in); got != want {
			t.Errorf("versionOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	dc := "  beta "
	ev := event{Info: plugin.Info{AppID: "a.b", DeviceID: "d", Platform: "ios", VersionName: "builtin", IsProd: true, DefaultChannel: &dc},
		Action: "set", OldVersionName: "1.0.0"}
	want := store.StatsQuery{AppID: "a.b", DeviceID: "d", Platform: "ios", VersionName: "builtin", VersionDeleted: true, OldVersionName: "1.0.0", DefaultChannel: "beta"}
	if d := cmp.Diff(want, query(ev)); d != "" {
		t.Errorf("query (-want +got):\n%s", d)
	}
	ev.IsEmulator = true // no install is counted, so the old bundle is not looked up
	want.OldVersionName = ""
	if d := cmp.Diff(want, query(ev)); d != "" {
		t.Errorf("query on an emulator (-want +got):\n%s", d)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	id := func(n int64) *int64 { return &n }
	beta := &store.ChannelRef{ID: 7, Name: "beta"}
	app := store.App{AppID: "com.demo.app", OwnerOrg: "org", PlanValid: true, AllowDeviceCustomID: true}
	ev := event{Info: plugin.Info{AppID: "com.demo.app", DeviceID: "dev", Platform: "android", VersionName: "1.0.0", VersionBuild: "1.0.0",
		VersionOS: "14", PluginVersion: "7.0.0", IsProd: true, CustomID: "c"}, Action: "set"}
	dev := ev.Device(true)
	mau := plugin.DeviceUsage{DeviceID: "dev", AppID: "com.demo.app", OrgID: "org", Platform: "android", VersionBuild: "1.0.0"}
	stat := func(action, vn string) plugin.StatsEvent {
		return plugin.StatsEvent{AppID: "com.demo.app", DeviceID: "dev", Action: action, VersionName: vn}
	}
	vu := func(action, vn string) plugin.VersionUsage {
		return plugin.VersionUsage{AppID: "com.demo.app", VersionName: vn, Action: action, ChannelID: &beta.ID, ChannelName: &beta.Name}
	}
	with := func(f func(*event)) event { e := ev; f(&e); return e }

	for _, tc := range []struct {
		name string
		ev   event
		snap *store.StatsSnapshot
		want outcome
	}{
		{
			name: "unknown app records a get stat only",
			ev:   with(func(e *event) { e.Metadata = map[string]string{"k": "v"} }),
			want: outcome{verdict: onPremise, events: []plugin.Event{
				plugin.StatsEvent{AppID: "com.demo.app", DeviceID: "dev", Action: "get", VersionName: "1.0.0", Metadata: map[string]string{"k": "v"}}}},
		},
		{
			name: "invalid plan records needPlanUpgrade and the device",
			ev:   ev, snap: &store.StatsSnapshot{App: store.App{AllowDeviceCustomID: true}},
			want: outcome{verdict: planUpgrade, events: []plugin.Event{stat("needPlanUpgrade", "1.0.0"), plugin.DeviceUpsert{Device: dev}}},
		},
		{
			name: "set with an uninstall",
			ev:   with(func(e *event) { e.OldVersionName = "0.9.0" }),
			snap: &store.StatsSnapshot{App: app, VersionID: id(1), OldVersionID: id(2), Channel: beta},
			want: outcome{verdict: recorded, events: []plugin.Event{vu("install", "1.0.0"), vu("uninstall", "0.9.0"), mau,
				stat("uninstall", "0.9.0"), stat("set", "1.0.0"), plugin.DeviceUpsert{Device: dev}}},
		},
		{
			name: "set of builtin counts no install",
			ev:   with(func(e *event) { e.VersionName = "builtin" }),
			snap: &store.StatsSnapshot{App: app, VersionID: id(1), Channel: beta},
			want: outcome{verdict: recorded, events: []plugin.Event{mau, stat("set", "builtin"),
				plugin.DeviceUpsert{Device: with(func(e *event) { e.VersionName = "builtin" }).Device(true)}}},
		},
		{
			name: "a failure counts a fail without the device",
			ev:   with(func(e *event) { e.Action = "checksum_fail"; e.VersionName = "1.0.0:a.js" }),
			snap: &store.StatsSnapshot{App: app, VersionID: id(1), Channel: beta},
			want: outcome{verdict: recorded, events: []plugin.Event{vu("fail", "1.0.0"), mau, stat("checksum_fail", "1.0.0:a.js")}},
		},
		{
			name: "version not found writes nothing",
			ev:   ev, snap: &store.StatsSnapshot{App: app},
			want: outcome{verdict: refused, answer: &plugin.Error{Status: 200, Code: "version_not_found", Message: "Version not found", Shape: plugin.ShapeSpread,
				Extra: plugin.Object{{Key: "app_id", Value: "com.demo.app"}, {Key: "version_name", Value: "1.0.0"}}}},
		},
		{
			name: "custom_id blocked by the app",
			ev:   with(func(e *event) { e.Action = "get" }),
			snap: &store.StatsSnapshot{App: store.App{OwnerOrg: "org", PlanValid: true}, VersionID: id(1)},
			want: outcome{verdict: recorded, events: []plugin.Event{mau, stat("customIdBlocked", "1.0.0"), stat("get", "1.0.0"),
				plugin.DeviceUpsert{Device: ev.Device(false)}}},
		},
		{
			name: "a platform devices cannot hold skips the device write",
			ev:   with(func(e *event) { e.Action = "get"; e.Platform = "web" }),
			snap: &store.StatsSnapshot{App: app, VersionID: id(1)},
			want: outcome{verdict: recorded, events: []plugin.Event{
				plugin.DeviceUsage{DeviceID: "dev", AppID: "com.demo.app", OrgID: "org", Platform: "web", VersionBuild: "1.0.0"},
				stat("get", "1.0.0")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := decide(tc.ev, tc.snap)
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(outcome{})); d != "" {
				t.Errorf("decide (-want +got):\n%s", d)
			}
		})
	}
}
