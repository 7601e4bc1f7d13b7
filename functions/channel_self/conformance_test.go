package channelself

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

// TestRequestErrors covers the 400 answers of the four verbs.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	runCases(t, []selfCase{
		{name: "POST not JSON", steps: []step{{method: post, body: functest.RawJSON("{"), status: 400,
			want: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`}}},
		{name: "POST empty object", steps: []step{{method: post, body: map[string]any{}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "POST a JSON null body (Capgo: 500)", steps: []step{{method: post, body: functest.RawJSON("null"), status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":null}}`}}},
		{name: "PUT a numeric device_id (Capgo: 500)", steps: []step{{method: put, changes: map[string]any{"device_id": 12}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Device ID must be a string","path":["device_id"],"code":"custom"}]}}}}`}}},
		{name: "POST a non-string version_build (Capgo: 500)", steps: []step{{method: post, changes: map[string]any{"version_build": 5, "channel": "beta"}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Version build must be a string","path":["version_build"],"code":"custom"}]}}}}`}}},
		{name: "POST without device_id", steps: []step{{method: post, changes: map[string]any{"device_id": nil, "channel": "beta"}, status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"channel":"beta"}}}`}}},
		{name: "POST without app_id", steps: []step{{method: post, changes: map[string]any{"app_id": nil}, status: 400,
			want: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"device_id":"{{dev}}","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "POST native version not semver", steps: []step{{method: post, changes: map[string]any{"version_build": "1.0.0.0.1"}, status: 400,
			want: `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`}}},
		{name: "PUT with an unsupported platform", steps: []step{{method: put, changes: map[string]any{"platform": "web"}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`}}},
		{name: "PUT without device_id", steps: []step{{method: put, changes: map[string]any{"device_id": nil}, status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "DELETE without query", steps: []step{{method: del, body: map[string]any{}, status: 400,
			want: `{"error":"invalid_query_parameters","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "DELETE without device_id", steps: []step{{method: del, changes: map[string]any{"device_id": nil, "is_prod": nil}, status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "DELETE native version not semver", steps: []step{{method: del, changes: map[string]any{"version_build": "x.y"}, status: 400,
			want: `{"error":"semver_error","message":"Native version: x.y doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"x.y"}}`}}},
		{name: "GET without query", steps: []step{{method: get, body: map[string]any{}, status: 400,
			want: `{"error":"invalid_query_parameters","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "GET without app_id", steps: []step{{method: get, body: map[string]any{"platform": "ios"}, status: 400,
			want: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"platform":"ios","is_emulator":false,"is_prod":true}}}`}}},
		{name: "GET with a bad app_id and platform", steps: []step{{method: get, body: map[string]any{"app_id": "nope", "platform": "web"}, status: 400,
			want: `{"error":"invalid_query_parameters","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"App ID must be a reverse domain string","path":["app_id"],"code":"custom"},{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`}}},
		{name: "PATCH is not a route", steps: []step{{method: http.MethodPatch, status: 404,
			want: `{"error":"not_found","message":"Not found"}`}}},
	})
}

// TestUnknownAppAndPlan: an unknown app or an org over its MAU is 429
// on_premise_app on every verb; the plan is checked for MAU only.
func TestUnknownAppAndPlan(t *testing.T) {
	t.Parallel()
	unknown := map[string]any{"app_id": "com.unknown.app", "channel": "beta"}
	const overMAU = `UPDATE stripe_info SET mau_exceeded = true, trial_at = now() - interval '1 day'`
	runCases(t, []selfCase{
		{name: "unknown app", rows: &rows{}, steps: []step{
			{method: post, changes: unknown, status: 429, want: onPremise},
			{method: put, changes: unknown, status: 429, want: onPremise},
			{method: del, changes: unknown, status: 429, want: onPremise},
			{method: get, changes: unknown, status: 429, want: onPremise},
			{method: post, changes: merge(unknown, newPlugin), advance: time.Minute, status: 429, want: onPremise},
		}},
		{name: "plan over its MAU: set", setup: []string{overMAU}, steps: []step{
			{method: post, changes: map[string]any{"channel": "beta"}, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "plan over its MAU: get", setup: []string{overMAU}, steps: []step{
			{method: put, changes: newPlugin, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "plan over its MAU: unset", setup: []string{overMAU}, steps: []step{
			{method: del, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "plan over its MAU: list with a device", setup: []string{overMAU}, steps: []step{
			{method: get, status: 429, want: onPremise},
		}, rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, device: "1.0.0||-"}},
		{name: "plan over its MAU: list without a device", setup: []string{overMAU}, steps: []step{
			{method: get, changes: map[string]any{"device_id": nil}, status: 429, want: onPremise},
		}, rows: &rows{}},
		{name: "plan over its bandwidth is still valid here", setup: []string{
			`UPDATE stripe_info SET bandwidth_exceeded = true, trial_at = now() - interval '1 day'`,
		}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "beta"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}},
	})
}

// TestSet covers POST for new plugins (validate only) and old ones
// (channel_devices written).
func TestSet(t *testing.T) {
	t.Parallel()
	beta := map[string]any{"channel": "beta"}
	runCases(t, []selfCase{
		{name: "missing channel", steps: []step{
			{method: post, status: 200, want: `{"error":"missing_channel","message":"Cannot find channel in body"}`},
			{method: post, changes: map[string]any{"channel": ""}, status: 200, want: `{"error":"missing_channel","message":"Cannot find channel in body"}`},
		}, rows: &rows{}},
		{name: "unknown channel", steps: []step{
			{method: post, changes: map[string]any{"channel": "nope"}, status: 200,
				want: `{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.demo.app"}`},
		}, rows: &rows{}},
		{name: "public channel without self-set", setup: []string{`UPDATE channels SET allow_device_self_set = false WHERE name = 'production'`}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "production"}), status: 200,
				want: `{"error":"public_channel_self_set_not_allowed","message":"This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.","channel":"production","app_id":"com.demo.app"}`},
		}, rows: &rows{}},
		{name: "private channel without self-set", setup: []string{`UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: post, changes: beta, status: 200,
				want: `{"error":"channel_self_set_not_allowed","message":"This channel does not allow devices to self associate","channel":"beta","app_id":"com.demo.app"}`},
		}, rows: &rows{}},
		{name: "new plugin: validated, not stored", setup: []string{overrideTo + `'development'`}, steps: []step{
			{method: post, changes: merge(newPlugin, beta), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "missing plugin_version counts as new", steps: []step{
			{method: post, changes: map[string]any{"plugin_version": nil, "channel": "beta"}, status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "new plugin: a channel for another platform is accepted", steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "no_access"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}},
		{name: "new plugin ignores a locked override", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "development"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin: override stored", steps: []step{
			{method: post, changes: beta, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "unparseable plugin_version counts as old", steps: []step{
			{method: post, changes: map[string]any{"plugin_version": "abc", "channel": "beta"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin: override replaced", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "old plugin: the same channel again is a no-op", steps: []step{
			{method: post, changes: beta, status: 200, want: ok},
			{method: post, changes: beta, advance: time.Minute, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin: the platform's public channel removes the override", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "production"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "old plugin: another platform's public channel is an override", steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "development"}},
		{name: "old plugin: a locked override cannot change", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: post, changes: map[string]any{"channel": "development"}, status: 200, want: cannotOverride},
		}, rows: &rows{override: "beta"}},
		{name: "old plugin: the override cannot be written", setup: []string{refuseWrites,
			`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON channel_devices FOR EACH ROW EXECUTE FUNCTION public.refuse()`}, steps: []step{
			{method: post, changes: beta, status: 200, want: `{"error":"override_not_allowed","message":"Cannot do channel override"}`},
		}, rows: &rows{}},
		{name: "old plugin: the old override cannot be removed", setup: []string{overrideTo + `'development'`, refuseWrites,
			`CREATE TRIGGER refuse BEFORE DELETE ON channel_devices FOR EACH ROW EXECUTE FUNCTION public.refuse()`}, steps: []step{
			{method: post, changes: beta, status: 200, want: `{"error":"override_not_allowed","message":"Cannot remove channel override"}`},
			{method: post, changes: map[string]any{"channel": "production"}, status: 200, want: `{"error":"override_not_allowed","message":"Cannot remove channel override"}`},
		}, rows: &rows{override: "development"}},
		{name: "custom_id and defaultChannel reach the devices row", steps: []step{
			{method: post, changes: merge(newPlugin, beta, map[string]any{"custom_id": " me ", "defaultChannel": "beta"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0|me|beta"}},
		{name: "custom_id blocked by the app", setup: []string{`UPDATE apps SET allow_device_custom_id = false`}, steps: []step{
			{method: post, changes: merge(newPlugin, beta, map[string]any{"custom_id": "me"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
	})
}

// TestGet covers PUT: new plugins get their own channel echoed, old ones
// the stored override or the default channel.
func TestGet(t *testing.T) {
	t.Parallel()
	runCases(t, []selfCase{
		{name: "new plugin with its channel", steps: []step{
			{method: put, changes: merge(newPlugin, map[string]any{"channel": "beta"}), status: 200, want: `{"channel":"beta","status":"override","allowSet":true}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "new plugin with a defaultChannel", steps: []step{
			{method: put, changes: merge(newPlugin, map[string]any{"defaultChannel": "whatever"}), status: 200, want: `{"channel":"whatever","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||whatever"}},
		{name: "new plugin without channels", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: put, changes: newPlugin, status: 200, want: `{"channel":"production","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin with an override", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: put, status: 200, want: `{"channel":"beta","status":"override","allowSet":true}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin with a locked override", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: put, status: 200, want: `{"channel":"beta","status":"override","allowSet":false}`},
		}},
		{name: "old plugin: the platform's public channel", steps: []step{
			{method: put, status: 200, want: `{"channel":"production","status":"default"}`},
			{method: put, changes: map[string]any{"platform": "ios"}, status: 200, want: `{"channel":"development","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0", "getChannel:1.0.0"}, device: "1.0.0||-"}},
		{name: "old plugin: the defaultChannel whatever its platforms", steps: []step{
			{method: put, changes: map[string]any{"defaultChannel": "no_access"}, status: 200, want: `{"channel":"no_access","status":"default"}`},
		}, rows: &rows{stats: []string{"getChannel:1.0.0"}, device: "1.0.0||no_access"}},
		{name: "old plugin: unknown defaultChannel", steps: []step{
			{method: put, changes: map[string]any{"defaultChannel": "nope"}, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}, rows: &rows{}},
		{name: "old plugin: no public channel", setup: []string{`UPDATE channels SET public = false`}, steps: []step{
			{method: put, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}},
		{name: "old plugin: no public channel for the platform", setup: []string{`UPDATE channels SET public = false WHERE name = 'production'`}, steps: []step{
			{method: put, status: 200, want: `{"error":"channel_not_found","message":"Cannot find channel"}`},
		}},
	})
}

// TestUnset covers DELETE (query string).
func TestUnset(t *testing.T) {
	t.Parallel()
	runCases(t, []selfCase{
		{name: "new plugin leaves channel_devices alone", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: del, changes: newPlugin, status: 200, want: ok},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"}},
		{name: "old plugin removes its override, no stats", setup: []string{overrideTo + `'beta'`}, steps: []step{
			{method: del, status: 200, want: ok},
		}, rows: &rows{}},
		{name: "old plugin without override", steps: []step{
			{method: del, status: 200, want: cannotOverride},
		}, rows: &rows{}},
		{name: "old plugin with a locked override", setup: []string{overrideTo + `'beta'`, `UPDATE channels SET allow_device_self_set = false WHERE name = 'beta'`}, steps: []step{
			{method: del, status: 200, want: cannotOverride},
		}, rows: &rows{override: "beta"}},
		{name: "old plugin: the override cannot be deleted", setup: []string{overrideTo + `'beta'`, refuseWrites,
			`CREATE TRIGGER refuse BEFORE DELETE ON channel_devices FOR EACH ROW EXECUTE FUNCTION public.refuse()`}, steps: []step{
			{method: del, status: 200, want: `{"error":"override_not_allowed","message":"Cannot delete channel override"}`},
		}, rows: &rows{override: "beta"}},
	})
}

// TestList covers GET: the channels a device may switch to, as a bare array.
func TestList(t *testing.T) {
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

// TestDeviceIDLowercased: device ids are lowercased in JSON bodies and
// query strings alike.
func TestDeviceIDLowercased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	upper := functest.With(functest.BaseBody(strings.ToUpper(dev)), map[string]any{"channel": "beta"})
	e.call(post, upper).Want(t, 200, ok)
	e.checkRows(t, dev, rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-", override: "beta"})
	e.call(del, upper).Want(t, 200, ok)
	e.checkRows(t, dev, rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"})
}

// TestBodyTooLarge: a POST or PUT body over 1 MiB is refused before it is
// parsed (docs/compat.md).
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := functest.RawJSON(`{` + strings.Repeat(" ", 1<<20) + `}`)
	for _, method := range []string{post, put} {
		e.call(method, big).Want(t, 413, `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`)
	}
}
