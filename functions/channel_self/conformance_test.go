package channelself

// The PostgreSQL side of /channel_self: which app, plan and channels the
// snapshot query selects, the channel_devices rows written (and refused by
// the database), and the known answers end to end on the seeded database.
// The protocol rules themselves (validation, decisions, answers, rate
// limits, the events and writes of each case) are the tables of
// table_test.go and table_limits_test.go, which need no database.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// rows are the writes a /channel_self exchange is expected to leave for
// its device.
type rows struct {
	stats    []string // stats rows of the device in order, "action:version_name"
	device   string   // devices row "version_name|custom_id|default_channel"; "" means none
	override string   // channel of the device's channel_devices row; "" means none
}

func (e *env) checkRows(t *testing.T, dev string, want rows) {
	t.Helper()
	got := rows{stats: e.StatsRows(dev)}
	if d := e.Strings(`SELECT version_name || '|' || custom_id || '|' || coalesce(default_channel, '-') FROM devices WHERE device_id = $1`, dev); len(d) > 0 {
		got.device = d[0]
	}
	if o := e.Strings(`SELECT c.name FROM channel_devices cd JOIN channels c ON c.id = cd.channel_id WHERE cd.device_id = $1`, dev); len(o) > 0 {
		got.override = o[0]
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(rows{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("rows written (-want +got):\n%s", d)
	}
}

// step is one request of a case.
type step struct {
	method  string
	changes map[string]any // changes to functest.BaseBody(dev); nil values delete keys
	body    any            // sent instead of the base body when set (functest.RawJSON or a map)
	advance time.Duration  // the clock moves first
	status  int
	want    string // JSON; {{dev}} is the device id, {{id:<channel>}} a channel id
}

type selfCase struct {
	name  string
	setup []string // SQL run first; $dev is replaced by the quoted device id
	steps []step
	rows  *rows // nil: not checked
}

func runCases(t *testing.T, cases []selfCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dev := functest.NewDeviceID()
			e.Fixture(dev, tc.setup...)
			ids := e.channelIDs()
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				body := s.body
				if body == nil {
					body = functest.With(functest.BaseBody(dev), s.changes)
				}
				res := e.call(s.method, body)
				if t.Failed() {
					return
				}
				want := ids.Replace(strings.ReplaceAll(s.want, "{{dev}}", dev))
				t.Logf("step %d: %s", i, s.method)
				res.Want(t, s.status, want)
			}
			if tc.rows != nil {
				e.checkRows(t, dev, *tc.rows)
			}
		})
	}
}

const (
	ok             = `{"status":"ok"}`
	onPremise      = `{"error":"on_premise_app","message":"On-premise app detected"}`
	cannotOverride = `{"error":"cannot_override","message":"Cannot change device override current channel don't allow it"}`
	// overrideTo makes the device's override point at a channel; end the
	// statement with the quoted channel name.
	overrideTo = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
		SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `
	refuseWrites = `CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION 'refused'; END $f$`
)

var (
	newPlugin = map[string]any{"plugin_version": "7.34.0"}
	post      = http.MethodPost
	put       = http.MethodPut
	del       = http.MethodDelete
	get       = http.MethodGet
)

// merge returns the union of change sets (later ones win).
func merge(sets ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// TestSnapshotSelects: which app, plan and channels the snapshot query
// finds on the seeded database, end to end.
func TestSnapshotSelects(t *testing.T) {
	t.Parallel()
	const overMAU = `UPDATE stripe_info SET mau_exceeded = true, trial_at = now() - interval '1 day'`
	runCases(t, []selfCase{
		{name: "an unknown app", rows: &rows{}, steps: []step{
			{method: put, changes: map[string]any{"app_id": "com.unknown.app"}, status: 429, want: onPremise},
		}},
		{name: "a plan over its MAU: set", setup: []string{overMAU}, steps: []step{
			{method: post, changes: map[string]any{"channel": "beta"}, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "a plan over its MAU: list", setup: []string{overMAU}, steps: []step{
			{method: get, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "a plan over its bandwidth is still valid here", setup: []string{
			`UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '1 day'`,
		}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "beta"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}},
		{name: "set: an unknown channel", steps: []step{
			{method: post, changes: map[string]any{"channel": "nope"}, status: 200,
				want: `{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.demo.app"}`},
		}, rows: &rows{}},
		{name: "set: a public channel without self-set", setup: []string{`UPDATE channels SET allow_device_self_set = false WHERE name = 'production'`}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "production"}), status: 200,
				want: `{"error":"public_channel_self_set_not_allowed","message":"This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.","channel":"production","app_id":"com.demo.app"}`},
		}, rows: &rows{}},
		{name: "set: the channel is found whatever its platforms", steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "no_access"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}},
		{name: "set: a new plugin's request does not read the override", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "development"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "set: a locked override is read", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: cannotOverride},
		}, rows: &rows{override: "beta"}},
		{name: "get: the override", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: put, status: 200, want: `{"channel":"beta","status":"override","allowSet":true}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "get: a locked override", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: put, status: 200, want: `{"channel":"beta","status":"override","allowSet":false}`},
		}},
		{name: "get: the platform's public channel", steps: []step{
			{method: put, status: 200, want: `{"channel":"production","status":"default"}`},
			{method: put, changes: map[string]any{"platform": "ios"}, status: 200, want: `{"channel":"development","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0", "getChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "get: the defaultChannel whatever its platforms", steps: []step{
			{method: put, changes: map[string]any{"defaultChannel": "no_access"}, status: 200, want: `{"channel":"no_access","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||no_access"}},
		{name: "get: an unknown defaultChannel", steps: []step{
			{method: put, changes: map[string]any{"defaultChannel": "nope"}, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}, rows: &rows{}},
		{name: "get: no public channel", setup: []string{`UPDATE channels SET public = false`}, steps: []step{
			{method: put, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}},
		{name: "get: no public channel for the platform", setup: []string{`UPDATE channels SET public = false WHERE name = 'production'`}, steps: []step{
			{method: put, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}},
	})
}

// TestListSelects: the channels GET lists per platform, device kind and
// build kind, as a bare array.
func TestListSelects(t *testing.T) {
	t.Parallel()
	prod := `{"id":{{id:production}},"name":"production","public":true,"allow_self_set":true}`
	beta := `{"id":{{id:beta}},"name":"beta","public":false,"allow_self_set":true}`
	dev := `{"id":{{id:development}},"name":"development","public":true,"allow_self_set":true}`
	electron := `{"id":{{id:electron_only}},"name":"electron_only","public":false,"allow_self_set":true}`
	runCases(t, []selfCase{
		{name: "per platform", steps: []step{
			{method: get, status: 200, want: `[` + prod + `,` + beta + `]`},
			{method: get, changes: map[string]any{"platform": "ios"}, status: 200, want: `[` + beta + `,` + dev + `]`},
			{method: get, changes: map[string]any{"platform": "electron"}, status: 200, want: `[` + prod + `,` + beta + `,` + electron + `]`},
		}, rows: &rows{}},
		{name: "without device_id", steps: []step{
			{method: get, changes: map[string]any{"device_id": nil}, status: 200, want: `[` + prod + `,` + beta + `]`},
		}},
		{name: "public channels without self-set stay listed", setup: []string{`UPDATE channels SET allow_device_self_set = false`}, steps: []step{
			{method: get, status: 200, want: `[{"id":{{id:production}},"name":"production","public":true,"allow_self_set":false}]`},
		}},
		{name: "emulators and dev builds", setup: []string{
			`UPDATE channels SET allow_emulator = false WHERE name = 'beta'`,
			`UPDATE channels SET allow_dev = false WHERE name = 'production'`,
		}, steps: []step{
			{method: get, changes: map[string]any{"is_emulator": true}, status: 200, want: `[` + prod + `]`},
			{method: get, changes: map[string]any{"is_prod": false}, status: 200, want: `[` + beta + `]`},
			{method: get, changes: map[string]any{"is_prod": nil}, status: 200, want: `[` + prod + `,` + beta + `]`},
		}},
		{name: "nothing to list", setup: []string{`UPDATE channels SET android = false`}, steps: []step{
			{method: get, status: 200, want: `[]`},
		}},
	})
}

// TestOverrideWrites: the channel_devices rows old plugins' requests
// leave, the writes the database refuses, and the devices rows.
func TestOverrideWrites(t *testing.T) {
	t.Parallel()
	beta := map[string]any{"channel": "beta"}
	refuse := func(ops string) []string {
		return []string{refuseWrites, `CREATE TRIGGER refuse BEFORE ` + ops + ` ON channel_devices FOR EACH ROW EXECUTE FUNCTION public.refuse()`}
	}
	runCases(t, []selfCase{
		{name: "set: stored", steps: []step{
			{method: post, changes: beta, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "set: replaced", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "set: the same channel again is a no-op", steps: []step{
			{method: post, changes: beta, status: 200, want: ok},
			{method: post, changes: beta, advance: time.Minute, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "set: the platform's public channel removes the override", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "production"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "set: another platform's public channel is an override", steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "set: a new plugin leaves channel_devices alone", setup: []string{overrideTo + `'development'`}, steps: []step{
			{method: post, changes: merge(newPlugin, beta), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "set: the override cannot be written", setup: refuse("INSERT OR UPDATE"), steps: []step{
			{method: post, changes: beta, status: 200, want: `{"error":"override_not_allowed","message":"Cannot do channel override"}`},
		}, rows: &rows{}},
		{name: "set: the old override cannot be removed", setup: append([]string{overrideTo + `'development'`}, refuse("DELETE")...), steps: []step{
			{method: post, changes: beta, status: 200, want: `{"error":"override_not_allowed","message":"Cannot remove channel override"}`},
			{method: post, changes: map[string]any{"channel": "production"}, status: 200, want: `{"error":"override_not_allowed","message":"Cannot remove channel override"}`},
		}, rows: &rows{override: "development"}},
		{name: "unset: removed, no stats", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: del, status: 200, want: ok},
		}, rows: &rows{}},
		{name: "unset: a new plugin leaves channel_devices alone", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: del, changes: newPlugin, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "unset: the override cannot be deleted", setup: append([]string{overrideTo + `'beta'`}, refuse("DELETE")...), steps: []step{
			{method: del, status: 200, want: `{"error":"override_not_allowed","message":"Cannot delete channel override"}`},
		}, rows: &rows{override: "beta"}},
		{name: "custom_id and defaultChannel reach the devices row", steps: []step{
			{method: post, changes: merge(newPlugin, beta, map[string]any{"custom_id": " me ", "defaultChannel": "beta"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0|me|beta"}},
		{name: "custom_id blocked by the app", setup: []string{`UPDATE apps SET allow_device_custom_id = false`}, steps: []step{
			{method: post, changes: merge(newPlugin, beta, map[string]any{"custom_id": "me"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
	})
}
