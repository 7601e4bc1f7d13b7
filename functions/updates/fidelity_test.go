package updates

import (
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// TestChannelRulesParseWhenNeeded: Capgo parses the bundle name only in
// the rules that compare it (major, minor, patch, under_native), each when
// it is reached; version_number compares min_update_version with the
// native build and never looks at the name (update.ts:569-604).
func TestChannelRulesParseWhenNeeded(t *testing.T) {
	t.Parallel()
	const rename = `UPDATE app_versions SET name = 'release-one', min_update_version = `
	runCases(t, []updateCase{
		{
			name: "version_number serves a bundle whose name is not semver",
			setup: []string{
				`UPDATE channels SET disable_auto_update = 'version_number', disable_auto_update_under_native = false WHERE name = 'production'`,
				rename + `'0.9.0' WHERE name = '1.0.0'`,
			},
			body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"version":"release-one","url":"` + zipURL("1.0.0", "3885ee49", "{{dev}}") + `","session_key":"","checksum":"3885ee49"}`,
			rows: &rows{stats: []string{"get:release-one"}, deviceVersion: "release-one", mau: 1, versionUsage: []string{"get:release-one"}},
		},
		{
			name: "version_number refuses before under_native would parse the name",
			setup: []string{
				`UPDATE channels SET disable_auto_update = 'version_number' WHERE name = 'production'`,
				rename + `'1.0.5' WHERE name = '1.0.0'`,
			},
			body: map[string]any{"version_name": "1.1.0"}, status: 200,
			want: `{"error":"disable_auto_update_to_metadata","message":"Cannot upgrade version, min update version > current version","major":true,"version":"release-one","old":"1.0.0","kind":"blocked"}`,
			rows: &rows{stats: []string{"disableAutoUpdateMetadata:release-one"}, deviceVersion: "1.1.0", mau: 1},
		},
	})
}

// TestAppIDIsASCII: Capgo's /i regexes have no u flag, so only ASCII
// letters match; Go's (?i) would also fold ſ (U+017F) and the Kelvin sign
// (U+212A) onto s and k.
func TestAppIDIsASCII(t *testing.T) {
	t.Parallel()
	const invalid = `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"App ID must be a reverse domain string","path":["app_id"],"code":"custom"}]}}}}`
	runCases(t, []updateCase{
		{name: "long s", body: map[string]any{"app_id": "ſom.demo.app"}, status: 400, want: invalid, rows: &rows{}},
		{name: "kelvin sign", body: map[string]any{"app_id": "com.demo.\u212Aapp"}, status: 400, want: invalid, rows: &rows{}},
	})
}

// TestBodyWithByteOrderMark: Request.json() decodes the body as UTF-8,
// which drops a leading byte order mark.
func TestBodyWithByteOrderMark(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	body := append([]byte("\uFEFF"), mustJSON(t, functest.BaseBody(dev))...)
	e.Do(http.MethodPost, e.Path, body).Want(t, 200, `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
	e.checkRows(t, dev, rows{stats: []string{"noNew:1.0.0"}, deviceVersion: "1.0.0", mau: 1})
}

// TestVersionBuildFormatted: a version_build that is not X.Y.Z is stored as
// @std/semver formats it, prerelease identifiers through Number().
func TestVersionBuildFormatted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_build": "v1.0.0-0x1"})).
		Want(t, 200, `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
	for table, sql := range map[string]string{
		"device_usage": `SELECT version_build FROM device_usage WHERE device_id = $1`,
		"devices":      `SELECT version_build FROM devices WHERE device_id = $1`,
	} {
		if got := e.Strings(sql, dev); len(got) != 1 || got[0] != "1.0.0-1" {
			t.Errorf("%s.version_build = %q, want [1.0.0-1]", table, got)
		}
	}
}

// TestManifestSizeCapgoCorners: an empty version name still filters by
// name (typeof body.version === 'string'); a numeric version_id is any
// JSON number that is a safe positive integer; the route takes a trailing
// slash as Hono's PatternRouter does.
func TestManifestSizeCapgoCorners(t *testing.T) {
	t.Parallel()
	e := newManifestSizeEnv(t)
	e.Exec(`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash, file_size)
		SELECT id, 'a.js', 'p/a', 'hash-a', 100 FROM app_versions WHERE name = '1.0.0'
		UNION ALL SELECT id, 'a.js', 'p/a2', 'hash-a', 150 FROM app_versions WHERE name = '1.361.0'
		UNION ALL SELECT id, 'b.js', 'p/b', 'hash-b', 70 FROM app_versions WHERE name = '1.361.0'`)
	v100 := e.Strings(`SELECT id::text FROM app_versions WHERE name = '1.0.0'`)[0]
	base := string(mustJSON(t, functest.BaseBody(functest.NewDeviceID())))
	post := func(path, extra string) functest.Response {
		t.Helper()
		return e.Do(http.MethodPost, path, []byte(strings.TrimSuffix(base, "}")+","+extra+"}"))
	}
	const path = "/functions/v1/updates/manifest_size"

	// "version":"" matches no bundle: only the file whose URL names its
	// bundle is sized.
	post(path, `"version":"","manifest":[{"file_hash":"hash-b"},{"file_hash":"hash-a","download_url":"https://x.test/f?key=`+v100+`"}]`).
		Want(t, 200, `{"totalSize":100,"knownFiles":1,"unknownFiles":1,"files":[
			{"file_name":null,"file_hash":"hash-b","download_url":null,"error":"size_unknown"},
			{"file_name":null,"file_hash":"hash-a","download_url":"https://x.test/f?key=`+v100+`","size":100}]}`)

	want100 := `{"totalSize":100,"knownFiles":1,"unknownFiles":0,"files":[{"file_name":null,"file_hash":"hash-a","download_url":null,"size":100}]}`
	post(path, `"version_id":`+v100+`.0,"manifest":[{"file_hash":"hash-a"}]`).Want(t, 200, want100)
	post(path, `"version_id":"`+v100+`","manifest":[{"file_hash":"hash-a"}]`).Want(t, 200, want100)
	post(path+"/", `"version_id":`+v100+`,"manifest":[{"file_hash":"hash-a"}]`).Want(t, 200, want100)
	e.Do(http.MethodPost, "/functions/v1/updates/ok/", nil).Want(t, 200, `{"status":"ok"}`)
}

// TestVersionBuildThatDoesNotReparse: @std/semver formats 1.0.0-5e-2 as
// 1.0.0-0.05, which it does not parse again; Capgo's updateWithPG parses
// version_build again before the plugin gates and answers 200
// semver_error, whether or not a channel rule would compare against it,
// and writes no row.
func TestVersionBuildThatDoesNotReparse(t *testing.T) {
	t.Parallel()
	const semverError = `{"error":"semver_error","message":"Native version: 1.0.0-0.05 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`
	runCases(t, []updateCase{
		{
			name: "a rule would compare it", body: map[string]any{"version_build": "1.0.0-5e-2", "version_name": "1.1.0"}, status: 200,
			want: semverError, rows: &rows{},
		},
		{
			name:  "no rule would compare it",
			setup: []string{`UPDATE channels SET disable_auto_update = 'none', disable_auto_update_under_native = false WHERE name = 'production'`},
			body:  map[string]any{"version_build": "1.0.0-5e-2", "version_name": "1.1.0"}, status: 200,
			want: semverError, rows: &rows{},
		},
	})
}

// TestOverrideToAnotherAppsChannel: Capgo's override query does not check
// the channel's app; whether manifest rows are read is the requested
// app's manifest_bundle_count (pg.ts:975,986).
func TestOverrideToAnotherAppsChannel(t *testing.T) {
	t.Parallel()
	const other = "com.other.app"
	e := newEnv(t)
	dev := functest.NewDeviceID()
	e.Fixture(dev,
		`SELECT reset_and_seed_app_data('`+other+`')`,
		`INSERT INTO manifest (app_version_id, file_name, s3_path, file_hash)
			SELECT id, 'index.html', 'm/abc_index.html', 'aaa' FROM app_versions WHERE app_id = '`+other+`' AND name = '1.361.0'`,
		`UPDATE apps SET manifest_bundle_count = CASE app_id WHEN 'com.demo.app' THEN 1 ELSE 0 END`,
		`INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
			SELECT id, 'com.demo.app', $dev, owner_org FROM channels WHERE app_id = '`+other+`' AND name = 'beta'`,
	)
	vid := e.Strings(`SELECT id::text FROM app_versions WHERE app_id = $1 AND name = '1.361.0'`, other)[0]
	files := "http://capgo.test/functions/v1/files/read/attachments/"
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"plugin_version": "7.0.35"})).Want(t, 200,
		`{"version":"1.361.0","url":"`+files+`orgs/`+functest.DemoOrg+`/apps/`+other+`/1.361.0.zip?key=9d4f798a&device_id=`+dev+`",
		"session_key":"","checksum":"9d4f798a",
		"manifest":[{"file_name":"index.html","file_hash":"aaa","download_url":"`+files+`m/abc_index.html?key=`+vid+`&device_id=`+dev+`"}]}`)
}
