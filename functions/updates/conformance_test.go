package updates

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// rows are the writes one update check is expected to make for its device.
type rows struct {
	stats         []string // stats actions, in order ("action:version_name")
	deviceVersion string   // devices.version_name; "" means no devices row
	mau           int      // device_usage rows
	versionUsage  []string // version_usage rows of the app ("action:version_name")
}

func (e *env) checkRows(t *testing.T, dev string, want rows) {
	t.Helper()
	got := rows{
		stats:        e.StatsRows(dev),
		mau:          e.Count(`SELECT count(*) FROM device_usage WHERE device_id = $1`, dev),
		versionUsage: e.Strings(`SELECT action::text || ':' || version_name FROM version_usage WHERE app_id = $1 ORDER BY "timestamp"`, functest.DemoApp),
	}
	if v := e.Strings(`SELECT version_name FROM devices WHERE device_id = $1`, dev); len(v) > 0 {
		got.deviceVersion = v[0]
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(rows{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("rows written (-want +got):\n%s", d)
	}
}

// zipURL is the files/read fallback URL of a demo bundle (no S3 signer).
func zipURL(version, checksum, dev string) string {
	return "http://capgo.test/functions/v1/files/read/attachments/orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/" + version + ".zip?key=" + checksum + "&device_id=" + dev
}

type updateCase struct {
	name   string
	setup  []string       // SQL run first; "$dev" is replaced by the device id
	body   map[string]any // changes to functest.BaseBody
	status int
	want   string // JSON; {{dev}} and {{org}} are replaced
	rows   *rows  // nil: not checked
}

func runCases(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dev := functest.NewDeviceID()
			e.Fixture(dev, tc.setup...)
			res := e.Post(functest.With(functest.BaseBody(dev), tc.body))
			want := strings.NewReplacer("{{dev}}", dev, "{{org}}", functest.DemoOrg).Replace(tc.want)
			res.Want(t, tc.status, want)
			if tc.rows != nil {
				e.checkRows(t, dev, *tc.rows)
			}
		})
	}
}

// TestKnownAnswers reproduces the known answers of backend-semantics.md §6.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	runCases(t, []updateCase{
		{
			name: "default body: no new version", status: 200,
			want: `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`,
			rows: &rows{stats: []string{"noNew:1.0.0"}, deviceVersion: "1.0.0", mau: 1},
		},
		{
			name: "version_name 1.1.0 gets production's 1.0.0", body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
			rows: &rows{stats: []string{"get:1.0.0"}, deviceVersion: "1.0.0", mau: 1, versionUsage: []string{"get:1.0.0"}},
		},
		{
			name: "native 0.0.0 is blocked from major 1", body: map[string]any{"version_build": "0.0.0", "version_name": "0.0.0"}, status: 200,
			want: `{"error":"disable_auto_update_to_major","message":"Cannot upgrade major version","major":true,"version":"1.0.0","old":"0.0.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateToMajor:1.0.0"}, deviceVersion: "0.0.0", mau: 1},
		},
		{
			name: "native 2.0.0 cannot revert under native", body: map[string]any{"version_build": "2.0.0", "version_name": "2.0.0"}, status: 200,
			want: `{"error":"disable_auto_update_under_native","message":"Cannot revert under native version","version":"1.0.0","old":"2.0.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateUnderNative:1.0.0"}, deviceVersion: "2.0.0", mau: 1},
		},
		{
			name: "defaultChannel beta gets 1.361.0", body: map[string]any{"defaultChannel": "beta"}, status: 200,
			want: `{"version":"1.361.0","url":"` + zipURL("1.361.0", "9d4f798a", "{{dev}}") + `","session_key":"","checksum":"9d4f798a"}`,
			rows: &rows{stats: []string{"get:1.361.0"}, deviceVersion: "1.361.0", mau: 1, versionUsage: []string{"get:1.361.0"}},
		},
		{
			name: "unknown app is on-premise", body: map[string]any{"app_id": "com.unknown.app"}, status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"get:1.0.0"}},
		},
	})
}

// TestErrorCatalogue covers every reachable code of the /updates
// catalogue (backend-semantics.md §2.7) with status, message and extra keys.
func TestErrorCatalogue(t *testing.T) {
	t.Parallel()
	const override = `INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
		SELECT id, app_id, $dev, owner_org FROM channels WHERE app_id = 'com.demo.app' AND name = `
	runCases(t, []updateCase{
		{
			name: "missing device_id", body: map[string]any{"device_id": nil}, status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`,
			rows: &rows{},
		},
		{
			name: "missing app_id", body: map[string]any{"app_id": ""}, status: 400,
			want: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"app_id":"","device_id":"{{dev}}","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`,
		},
		{
			name: "native version not semver", body: map[string]any{"version_build": "1.0.0.0.1"}, status: 400,
			want: `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`,
		},
		{
			// X.Y.Z skips the coercion, so parsing accepts it; @std/semver
			// refuses numbers above Number.MAX_SAFE_INTEGER when updateWithPG
			// parses it again, before any row is written.
			name: "native version above 2^53", body: map[string]any{"version_build": "9007199254740993.0.0", "version_name": "1.1.0"}, status: 200,
			want: `{"error":"semver_error","message":"Native version: 9007199254740993.0.0 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`,
			rows: &rows{},
		},
		{
			name: "unsupported platform fails the schema", body: map[string]any{"platform": "web"}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`,
		},
		{
			name: "missing plugin_version and bad device id", body: map[string]any{"plugin_version": nil, "device_id": "not-a-uuid"}, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Device ID must be a valid UUID string","path":["device_id"],"code":"custom"},{"message":"plugin_version is required","path":["plugin_version"],"code":"custom"}]}}}}`,
		},
		{
			name: "plan invalid is on-premise", setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`}, status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
			rows: &rows{stats: []string{"needPlanUpgrade:1.0.0"}, deviceVersion: "1.0.0"},
		},
		{
			name: "plan exceeded mau is on-premise", setup: []string{`UPDATE stripe_info SET mau_exceeded = true, trial_at = now() - interval '1 day'`}, status: 429,
			want: `{"error":"on_premise_app","message":"On-premise app detected"}`,
		},
		{
			name: "usage credits keep an unpaid org valid", setup: []string{`UPDATE stripe_info SET status = 'failed', trial_at = now() - interval '1 day'`, `UPDATE orgs SET has_usage_credits = true`}, status: 200,
			want: `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`,
		},
		{
			name: "plugin v4 is refused", body: map[string]any{"plugin_version": "4.15.3"}, status: 200,
			want: `{"error":"unsupported_plugin_version","message":"Plugin version 4.15.3 (v4) is no longer supported. Please upgrade to v5.10.0 or later.","kind":"failed"}`,
			rows: &rows{stats: []string{"backend_refusal:1.0.0"}, deviceVersion: "1.0.0"},
		},
		{
			name: "no channel for a channel that does not exist", body: map[string]any{"defaultChannel": "nope"}, status: 200,
			want: `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`,
			rows: &rows{stats: []string{"NoChannelOrOverride:1.0.0"}, deviceVersion: "1.0.0", mau: 1},
		},
		{
			name: "no channel when the defaultChannel disables the platform", body: map[string]any{"defaultChannel": "no_access"}, status: 200,
			want: `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`,
		},
		{
			name: "no bundle", setup: []string{`UPDATE app_versions SET r2_path = NULL WHERE name = '1.0.0'`}, body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"no_bundle","message":"Cannot get bundle","kind":"failed"}`,
			rows: &rows{stats: []string{"missingBundle:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "key id mismatch", setup: []string{`UPDATE app_versions SET key_id = 'bundlekeybundlekey12' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "8.41.0", "key_id": "devicekeydevicekey12"}, status: 200,
			want: `{"error":"key_id_mismatch","message":"Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.","deviceKeyId":"devicekeydevicekey12","bundleKeyId":"bundlekeybundlekey12","kind":"blocked"}`,
			rows: &rows{stats: []string{"keyMismatch:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "key id mismatch not enforced up to 8.40.7", setup: []string{`UPDATE app_versions SET key_id = 'bundlekeybundlekey12' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "8.40.7", "key_id": "devi"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "disabled platform ios (override to production)", setup: []string{override + `'production'`},
			body: map[string]any{"platform": "ios", "version_name": "1.1.0"}, status: 200,
			want: `{"error":"disabled_platform_ios","message":"Cannot update, ios it's disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disablePlatformIos:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "disabled platform android (override to electron_only)", setup: []string{override + `'electron_only'`}, status: 200,
			want: `{"error":"disabled_platform_android","message":"Cannot update, android is disabled","version":"1.360.0","old":"1.0.0","kind":"blocked"}`,
		},
		{
			name: "disabled platform electron (override to development)", setup: []string{override + `'development'`},
			body: map[string]any{"platform": "electron"}, status: 200,
			want: `{"error":"disabled_platform_electron","message":"Cannot update, electron is disabled","version":"1.359.0","old":"1.0.0","kind":"blocked"}`,
		},
		{
			name: "minor upgrade blocked", setup: []string{`UPDATE channels SET disable_auto_update = 'minor' WHERE name = 'production'`},
			body: map[string]any{"version_build": "1.1.0", "version_name": "1.1.0"}, status: 200,
			want: `{"error":"disable_auto_update_to_minor","message":"Cannot upgrade minor version","major":true,"version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateToMinor:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "patch upgrade blocked compares version_build not version_name", setup: []string{`UPDATE channels SET disable_auto_update = 'patch' WHERE name = 'production'`},
			body: map[string]any{"version_build": "1.0.1", "version_name": "1.0.0-local"}, status: 200,
			want: `{"error":"disable_auto_update_to_patch","message":"Cannot upgrade patch version","major":true,"version":"1.0.0","old":"1.0.1","kind":"blocked"}`,
		},
		{
			name: "version_number without min_update_version is misconfigured", setup: []string{`UPDATE channels SET disable_auto_update = 'version_number' WHERE name = 'production'`},
			body: map[string]any{"version_name": "0.9.0"}, status: 200,
			want: `{"error":"misconfigured_channel","message":"Channel production is misconfigured","version":"1.0.0","old":"1.0.0","kind":"failed"}`,
			rows: &rows{stats: []string{"channelMisconfigured:1.0.0"}, deviceVersion: "0.9.0", mau: 1},
		},
		{
			name: "min_update_version above the native build", setup: []string{`UPDATE channels SET disable_auto_update = 'version_number' WHERE name = 'production'`, `UPDATE app_versions SET min_update_version = '1.0.5' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "0.9.0"}, status: 200,
			want: `{"error":"disable_auto_update_to_metadata","message":"Cannot upgrade version, min update version > current version","major":true,"version":"1.0.0","old":"1.0.0","kind":"blocked"}`,
		},
		{
			name: "min_update_version met", setup: []string{`UPDATE channels SET disable_auto_update = 'version_number' WHERE name = 'production'`, `UPDATE app_versions SET min_update_version = '0.9.0' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "0.9.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "prod build disabled", setup: []string{`UPDATE channels SET allow_prod = false WHERE name = 'production'`}, body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"disable_prod_build","message":"Cannot update, prod build is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableProdBuild:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "dev build disabled", setup: []string{`UPDATE channels SET allow_dev = false WHERE name = 'production'`}, body: map[string]any{"version_name": "1.1.0", "is_prod": false}, status: 200,
			want: `{"error":"disable_dev_build","message":"Cannot update, dev build is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
		},
		{
			name: "device disabled", setup: []string{`UPDATE channels SET allow_device = false WHERE name = 'production'`}, body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"disable_device","message":"Cannot update, device is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
		},
		{
			name: "emulator disabled", setup: []string{`UPDATE channels SET allow_emulator = false WHERE name = 'production'`}, body: map[string]any{"version_name": "1.1.0", "is_emulator": true}, status: 200,
			want: `{"error":"disable_emulator","message":"Cannot update, emulator is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
		},
		{
			name: "builtin target", setup: []string{`UPDATE channels SET version = NULL WHERE name = 'production'`}, body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"already_on_builtin","message":"Already on builtin","version":"builtin","kind":"up_to_date"}`,
			rows: &rows{mau: 1},
		},
		{
			name: "builtin target for a plugin older than 6.2.0", setup: []string{`UPDATE channels SET version = NULL WHERE name = 'production'`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "6.1.9"}, status: 200,
			want: `{"error":"revert_to_builtin_plugin_version_too_old","message":"revert_to_builtin used, but plugin version is too old","kind":"failed"}`,
			rows: &rows{mau: 1},
		},
		{
			name: "external url that is not http is no bundle url", setup: []string{`UPDATE app_versions SET external_url = 'ftp://example.com/b.zip' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"no_bundle_url","message":"Cannot get bundle url","kind":"failed"}`,
			rows: &rows{stats: []string{"cannotGetBundle:1.0.0"}, deviceVersion: "1.1.0", mau: 1},
		},
		{
			name: "external url is sent as is", setup: []string{`UPDATE app_versions SET external_url = 'https://cdn.example.com/b.zip?x=1&y=2' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"version":"1.0.0","url":"https://cdn.example.com/b.zip?x=1&y=2","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "bundle name that is not semver is a misconfigured channel (Capgo: 500)", setup: []string{`UPDATE app_versions SET name = 'release-one' WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"misconfigured_channel","message":"Channel production is misconfigured","version":"release-one","old":"1.0.0","kind":"failed"}`,
		},
	})
}

// TestResponseShape covers the optional keys of the success answer.
func TestResponseShape(t *testing.T) {
	t.Parallel()
	const manifest = `INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)
		SELECT id, 'index.html', 'orgs/{{org}}/apps/com.demo.app/delta/abc_index.html', 'aaa' FROM app_versions WHERE name = '1.0.0'`
	m := strings.ReplaceAll(manifest, "{{org}}", functest.DemoOrg)
	manifestURL := `http://capgo.test/functions/v1/files/read/attachments/orgs/{{org}}/apps/com.demo.app/delta/abc_index.html?key=`
	runCases(t, caseList{
		{
			name:  "null checksum is omitted, session key passed through",
			setup: []string{`UPDATE app_versions SET checksum = NULL, session_key = 'aXY=:a2V5' WHERE name = '1.0.0'`},
			body:  map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "", "{{dev}}") + `","session_key":"aXY=:a2V5"}`,
		},
		{
			name: "metadata for 7.35.0 when the app exposes it", setup: []string{`UPDATE apps SET expose_metadata = true`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "7.35.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49","link":"https://github.com/Cap-go/capgo/releases/tag/v1.0.0","comment":"Initial release"}`,
		},
		{
			name: "no metadata below 7.35.0", setup: []string{`UPDATE apps SET expose_metadata = true`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "7.34.9"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "no metadata for a prerelease of 8.35.0", setup: []string{`UPDATE apps SET expose_metadata = true`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "8.35.0-beta.1"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "no metadata when the app does not expose it", body: map[string]any{"version_name": "1.1.0", "plugin_version": "8.40.0"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "manifest for 7.0.35", setup: []string{m}, body: map[string]any{"version_name": "1.1.0", "plugin_version": "7.0.35"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49",
				"manifest":[{"file_name":"index.html","file_hash":"aaa","download_url":"` + manifestURL + `{{vid}}&device_id={{dev}}"}]}`,
		},
		{
			name: "no manifest for 7.0.34", setup: []string{m}, body: map[string]any{"version_name": "1.1.0", "plugin_version": "7.0.34"}, status: 200,
			want: `{"version":"1.0.0","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
		},
		{
			name: "manifest-only bundle gets the placeholder url", setup: []string{m, `UPDATE app_versions SET r2_path = NULL WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "6.25.0"}, status: 200,
			want: `{"version":"1.0.0","url":"https://404.capgo.app/no.zip","session_key":"","checksum":"3885ee49",
				"manifest":[{"file_name":"index.html","file_hash":"aaa","download_url":"` + manifestURL + `{{vid}}&device_id={{dev}}"}]}`,
		},
		{
			name: "manifest-only bundle for an old plugin: placeholder url, no manifest", setup: []string{m, `UPDATE app_versions SET r2_path = NULL WHERE name = '1.0.0'`},
			body: map[string]any{"version_name": "1.1.0", "plugin_version": "6.24.0"}, status: 200,
			want: `{"version":"1.0.0","url":"https://404.capgo.app/no.zip","session_key":"","checksum":"3885ee49"}`,
		},
	}.withVersionID(t))
}

// withVersionID fills {{vid}} with the seeded id of bundle 1.0.0, which the
// template fixes for every clone.
type caseList []updateCase

func (cs caseList) withVersionID(t *testing.T) []updateCase {
	t.Helper()
	e := newEnv(t)
	var id string
	if err := e.Pool.QueryRow(context.Background(), `SELECT id::text FROM app_versions WHERE name = '1.0.0'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	out := slices.Clone([]updateCase(cs))
	for i := range out {
		out[i].want = strings.ReplaceAll(out[i].want, "{{vid}}", id)
	}
	return out
}

// TestRoutes covers the function's other paths.
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Do(http.MethodGet, "/functions/v1/updates", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodGet, "/functions/v1/updates/", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodPost, "/functions/v1/updates/ok", nil).Want(t, 200, `{"status":"ok"}`)
	e.Do(http.MethodGet, "/functions/v1/updates/nope", nil).Want(t, 404, `{"error":"not_found","message":"Not found"}`)
	e.Do(http.MethodDelete, "/functions/v1/updates", nil).Want(t, 404, `{"error":"not_found","message":"Not found"}`)
	if head, err := http.Head(e.URL + "/functions/v1/updates"); err != nil || head.StatusCode != 200 {
		t.Errorf("HEAD /functions/v1/updates: %v %v, want 200 as Hono answers HEAD for GET routes", head, err)
	} else {
		head.Body.Close()
	}
	e.Do(http.MethodPost, "/functions/v1/updates", []byte(`{"app_id":`)).Want(t, 400, `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`)
	e.Do(http.MethodPost, "/functions/v1/updates", []byte(`{}`)).Want(t, 400, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":{}}}`)
	e.Do(http.MethodPost, "/functions/v1/updates", []byte(`null`)).Want(t, 400, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":null}}`)
	e.Do(http.MethodPost, "/functions/v1/updates", []byte(`{"device_id":42,"app_id":"com.demo.app"}`)).Want(t, 400,
		`{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[
			{"message":"Device ID must be a string","path":["device_id"],"code":"custom"},
			{"message":"Version name is required","path":["version_name"],"code":"custom"},
			{"message":"Version build is required","path":["version_build"],"code":"custom"},
			{"message":"Platform is required","path":["platform"],"code":"custom"},
			{"message":"plugin_version is required","path":["plugin_version"],"code":"custom"}]}}}}`)

	res := e.Do(http.MethodGet, "/functions/v1/updates", nil)
	if got := res.Header.Get("X-Worker-Source"); !strings.HasPrefix(got, "updates-") {
		t.Errorf("X-Worker-Source = %q", got)
	}
	if res.Header.Get("X-Request-Id") == "" || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("missing X-Request-Id or Content-Security-Policy: %v", res.Header)
	}

	req, _ := http.NewRequest(http.MethodOptions, e.URL+"/functions/v1/updates", nil)
	req.Header.Set("Origin", "capacitor://localhost")
	req.Header.Set("Access-Control-Request-Method", "POST")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != "capacitor://localhost" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	pre, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin echoed: %v", pre.Header)
	}
}

// TestVersionNameBuiltin: a device on its builtin bundle reporting
// "builtin" is treated as running version_build.
func TestVersionNameBuiltin(t *testing.T) {
	t.Parallel()
	runCases(t, []updateCase{{
		name: "builtin version_name becomes version_build", body: map[string]any{"version_name": "builtin", "version_build": "1.0"}, status: 200,
		want: `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`,
		rows: &rows{stats: []string{"noNew:1.0.0"}, deviceVersion: "1.0.0", mau: 1},
	}})
}
