package updates

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// TestRolloutBuckets: buckets are uniform enough, deterministic, and a
// higher percentage selects a superset.
func TestRolloutBuckets(t *testing.T) {
	t.Parallel()
	const n = 20000
	rolloutID := "7c1e5b6e-3f1a-4b8e-9a55-1d2f3c4b5a69"
	ch := &store.Channel{RolloutEnabled: true, RolloutID: rolloutID, RolloutVersion: &store.Bundle{Name: "2.0.0"}}
	prev := map[int]bool{}
	for _, pct := range []int{0, 100, 1000, 2500, 5000, 9999, 10000, 12000} {
		ch.RolloutPercentageBps = pct
		selected := 0
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
			sel := rolloutSelected(ch, id, "1.0.0")
			if sel != rolloutSelected(ch, id, "1.0.0") {
				t.Fatalf("device %s: not deterministic", id)
			}
			if prev[i] && !sel {
				t.Fatalf("pct %d: device %s dropped out when the percentage rose", pct, id)
			}
			if sel {
				prev[i] = true
				selected++
			}
		}
		want := float64(min(pct, 10000)) / 10000
		if got := float64(selected) / n; got < want-0.02 || got > want+0.02 {
			t.Errorf("pct %d selected %.3f of devices, want about %.3f", pct, got, want)
		}
	}
}

func TestRolloutRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	base := func() *store.Channel {
		return &store.Channel{RolloutEnabled: true, RolloutPercentageBps: 10000, RolloutID: "r", RolloutVersion: &store.Bundle{Name: "2.0.0"}}
	}
	cases := []struct {
		name    string
		mutate  func(*store.Channel)
		current string
		want    bool
	}{
		{"disabled", func(c *store.Channel) { c.RolloutEnabled = false }, "2.0.0", false},
		{"already on the rollout bundle", func(c *store.Channel) { c.RolloutPercentageBps = 0 }, "2.0.0", true},
		{"paused", func(c *store.Channel) { c.RolloutPausedAt = &now }, "1.0.0", false},
		{"paused keeps devices on it", func(c *store.Channel) { c.RolloutPausedAt = &now }, "2.0.0", true},
		{"zero percent", func(c *store.Channel) { c.RolloutPercentageBps = 0 }, "1.0.0", false},
		{"full", func(*store.Channel) {}, "1.0.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			if got := rolloutSelected(c, "00000000-0000-4000-8000-000000000001", tc.current); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecideWithoutApp: unknown apps record a "get" stat only.
func TestDecideWithoutApp(t *testing.T) {
	t.Parallel()
	req := plugin.UpdateRequest{Info: plugin.Info{AppID: "com.x.y", DeviceID: "d", VersionName: "1.0.0"}}
	out := decide(req, nil)
	if out.answer == nil || out.answer.Code != "on_premise_app" || out.answer.Status != 429 {
		t.Fatalf("answer = %+v", out.answer)
	}
	want := plugin.StatsEvent{AppID: "com.x.y", DeviceID: "d", Action: "get", VersionName: "1.0.0"}
	if len(out.events) != 1 || fmt.Sprint(out.events[0]) != fmt.Sprint(want) {
		t.Errorf("events = %+v", out.events)
	}
}

// TestDecideVersionBuildThatDoesNotParse: Capgo's updateWithPG parses
// version_build again after the app and plan checks and before the
// plugin gates. A build that passed parsing but @std/semver refuses (a
// number above Number.MAX_SAFE_INTEGER, which the X.Y.Z fast path lets
// through uncoerced; a coerced form that does not parse again) is a 200
// semver_error of kind failed with no extra keys, whatever the channel's
// rules, and writes no row.
func TestDecideVersionBuildThatDoesNotParse(t *testing.T) {
	t.Parallel()
	const semverError = `{"error":"semver_error","message":"Native version: %s doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`
	checksum, path := "3885ee49", "orgs/o/apps/com.demo.app/1.0.0.zip"
	channel := func(disableAutoUpdate string, underNative bool) *store.Channel {
		return &store.Channel{ID: 1, Name: "production", Public: true, Android: true, IOS: true,
			AllowDev: true, AllowProd: true, AllowDevice: true, AllowEmulator: true,
			DisableAutoUpdate: disableAutoUpdate, DisableAutoUpdateUnderNative: underNative,
			Version: store.Bundle{ID: 7, Name: "1.0.0", Checksum: &checksum, R2Path: &path}}
	}
	app := store.App{AppID: "com.demo.app", OwnerOrg: "org", PlanValid: true}
	const dev = "bb7e3c89-3a72-41fd-9db3-0119ba532d2d"
	for _, tc := range []struct {
		name   string
		body   map[string]any // changes to the base body
		snap   *store.UpdateSnapshot
		status int
		want   string   // the answer's body; "" for an offer
		events []string // the rows, as "<type> <action>"
	}{
		{
			name: "above 2^53 with a major rule",
			body: map[string]any{"version_build": "9007199254740993.0.0"},
			snap: &store.UpdateSnapshot{App: app, Channel: channel("major", true)}, status: 200,
			want: fmt.Sprintf(semverError, "9007199254740993.0.0"),
		},
		{
			name: "above 2^53 where no rule would parse it",
			body: map[string]any{"version_build": "1.9007199254740992.0"},
			snap: &store.UpdateSnapshot{App: app, Channel: channel("none", false)}, status: 200,
			want: fmt.Sprintf(semverError, "1.9007199254740992.0"),
		},
		{
			name: "a coerced form that does not parse again",
			body: map[string]any{"version_build": "1.0.0-5e-2"},
			snap: &store.UpdateSnapshot{App: app, Channel: channel("none", false)}, status: 200,
			want: fmt.Sprintf(semverError, "1.0.0-0.05"),
		},
		{
			name: "before the plugin v4 refusal",
			body: map[string]any{"version_build": "9007199254740993.0.0", "plugin_version": "4.15.0"},
			snap: &store.UpdateSnapshot{App: app, Channel: channel("none", false)}, status: 200,
			want: fmt.Sprintf(semverError, "9007199254740993.0.0"),
		},
		{
			name: "before the channel lookup",
			body: map[string]any{"version_build": "9007199254740993.0.0"},
			snap: &store.UpdateSnapshot{App: app}, status: 200,
			want: fmt.Sprintf(semverError, "9007199254740993.0.0"),
		},
		{
			name: "after the app lookup",
			body: map[string]any{"version_build": "9007199254740993.0.0"},
			snap: nil, status: 429,
			want:   `{"error":"on_premise_app","message":"On-premise app detected"}`,
			events: []string{"plugin.StatsEvent get"},
		},
		{
			name: "after the plan check",
			body: map[string]any{"version_build": "9007199254740993.0.0"},
			snap: &store.UpdateSnapshot{App: store.App{AppID: "com.demo.app", OwnerOrg: "org"}, Channel: channel("none", false)}, status: 429,
			want:   `{"error":"on_premise_app","message":"On-premise app detected"}`,
			events: []string{"plugin.StatsEvent needPlanUpgrade", "plugin.DeviceUpsert "},
		},
		{
			name: "Number.MAX_SAFE_INTEGER itself parses and is compared",
			body: map[string]any{"version_build": "9007199254740991.0.0", "version_name": "1.1.0"},
			snap: &store.UpdateSnapshot{App: app, Channel: channel("none", true)}, status: 200,
			want:   `{"error":"disable_auto_update_under_native","message":"Cannot revert under native version","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: []string{"plugin.DeviceUsage ", "plugin.StatsEvent disableAutoUpdateUnderNative", "plugin.DeviceUpsert "},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := map[string]any{"app_id": "com.demo.app", "device_id": dev, "platform": "android",
				"version_build": "1.0.0", "version_name": "1.0.0", "plugin_version": "7.0.0", "is_emulator": false, "is_prod": true}
			maps.Copy(body, tc.body)
			req, err := plugin.ParseUpdateRequest(body)
			if err != nil {
				t.Fatalf("the body does not pass parsing: %v", err)
			}
			out := decide(req, tc.snap)
			if out.answer == nil {
				t.Fatalf("an offer of %s, want %d %s", out.offer.bundle.Name, tc.status, tc.want)
			}
			got, err := plugin.Marshal(out.answer.Body())
			if err != nil {
				t.Fatal(err)
			}
			if out.answer.Status != tc.status || string(got) != tc.want {
				t.Errorf("answer %d %s\nwant   %d %s", out.answer.Status, got, tc.status, tc.want)
			}
			var events []string
			for _, ev := range out.events {
				action := ""
				if s, ok := ev.(plugin.StatsEvent); ok {
					action = s.Action
				}
				events = append(events, fmt.Sprintf("%T %s", ev, action))
			}
			if !slices.Equal(events, tc.events) {
				t.Errorf("events %q, want %q", events, tc.events)
			}
		})
	}
}
