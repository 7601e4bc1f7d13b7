package updates

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// updateRow is one update check through the real handler, on a store
// that answers the row's snapshot: no database. Expected codes and
// messages are literal JSON, as Capgo answers them.
type updateRow struct {
	name string
	body any                   // the request: a JSON value (req(…)) or raw bytes
	snap *store.UpdateSnapshot // what the store answers; nil is an unknown app
	// storeErr makes the store fail (the database cannot answer).
	storeErr error
	// recErr is the recorder's answer.
	recErr error
	// deps changes the handler's dependencies (signer, LIMITED_APPS).
	deps func(*Deps)

	status int
	want   string  // the whole JSON body
	events []event // everything recorded; nil is nothing
}

// run serves the row through updates.New with a fake store, a capturing
// recorder and the deterministic s3Signer, and compares the answer and
// the events.
func (r updateRow) run(t *testing.T) {
	t.Helper()
	st := &fakeStore{snap: r.snap, err: r.storeErr}
	rec := &functest.Capture{Err: r.recErr}
	d := Deps{Store: st, Recorder: rec, Signer: s3Signer(), PublicURL: "http://capgo.test", Log: slog.New(slog.DiscardHandler)}
	if r.deps != nil {
		r.deps(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	data, fields := encodeBody(t, r.body)
	w := httptest.NewRecorder()
	hr := httptest.NewRequest(http.MethodPost, "/functions/v1/updates", bytes.NewReader(data))
	hr.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, hr)

	checkJSON(t, w.Code, w.Body.Bytes(), r.status, r.want)
	want := make([]plugin.Event, len(r.events))
	for i, e := range r.events {
		want[i] = e(fields)
	}
	checkEvents(t, rec.Events(), want)
}

// encodeBody returns the bytes to send and, for the expected events, the
// body's fields.
func encodeBody(t *testing.T, body any) ([]byte, map[string]any) {
	t.Helper()
	var data []byte
	if s, ok := body.(raw); ok {
		data = []byte(s)
	} else {
		data = mustJSON(t, body)
	}
	var fields map[string]any
	_ = json.Unmarshal(bytes.TrimPrefix(data, []byte("\uFEFF")), &fields)
	return data, fields
}

// checkJSON compares an answer with a JSON literal as parsed JSON: keys,
// values, types and presence.
func checkJSON(t *testing.T, status int, body []byte, wantStatus int, wantJSON string) {
	t.Helper()
	var want, got any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatalf("bad want JSON %s: %v", wantJSON, err)
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer is not JSON: %q", body)
	}
	if status != wantStatus {
		t.Errorf("status = %d, want %d (body %s)", status, wantStatus, body)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("body (-want +got):\n%s\ngot: %s", d, body)
	}
}

// checkEvents compares recorded events, in order within each kind of row
// (the tables they go to are independent).
func checkEvents(t *testing.T, got, want []plugin.Event) {
	t.Helper()
	byKind := cmpopts.SortSlices(func(a, b plugin.Event) bool { return fmt.Sprintf("%T", a) < fmt.Sprintf("%T", b) })
	if d := cmp.Diff(want, got, byKind, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("events recorded (-want +got):\n%s", d)
	}
}

func runRows(t *testing.T, rows []updateRow) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.name] {
			t.Fatalf("two rows named %q", r.name)
		}
		seen[r.name] = true
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			r.run(t)
		})
	}
}

func withoutSigner(d *Deps) { d.Signer = nil }

// withLimited sets LIMITED_APPS from its JSON form.
func withLimited(t *testing.T, env string) func(*Deps) {
	t.Helper()
	l, err := plugin.ParseLimitedApps(env)
	if err != nil {
		t.Fatal(err)
	}
	return func(d *Deps) { d.Limited = l }
}

// The literal answers the tables share.
const (
	noNewJSON       = `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`
	noChannelJSON   = `{"error":"no_channel","message":"no default channel or override","kind":"failed"}`
	onPremiseJSON   = `{"error":"on_premise_app","message":"On-premise app detected"}`
	unavailableJSON = `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`
)

func schemaErrorJSON(issues ...string) string {
	return `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[` +
		strings.Join(issues, ",") + `]}}}}`
}

func issue(path, message string) string {
	return `{"message":"` + message + `","path":["` + path + `"],"code":"custom"}`
}

// TestRulesRequest: parsing, validation and LIMITED_APPS, before the store.
func TestRulesRequest(t *testing.T) {
	t.Parallel()
	if _, err := plugin.ParseLimitedApps(`{"id":1}`); err == nil {
		t.Error("a LIMITED_APPS that is not a list must be refused")
	}
	seeded := snap(channel("production"))
	runRows(t, []updateRow{
		{
			name: "body that is not JSON", body: raw(`{"app_id":`), snap: seeded, status: 400,
			want: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`,
		},
		{
			name: "JSON followed by more data", body: raw(`{"app_id":"com.demo.app"} {}`), snap: seeded, status: 400,
			want: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`,
		},
		{
			name: "empty object", body: raw(`{}`), snap: seeded, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":{}}}`,
		},
		{
			name: "null body", body: raw(`null`), snap: seeded, status: 400,
			want: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":null}}`,
		},
		{
			name: "device_id of the wrong type and every required field missing", body: raw(`{"device_id":42,"app_id":"com.demo.app"}`), snap: seeded, status: 400,
			want: schemaErrorJSON(
				issue("device_id", "Device ID must be a string"),
				issue("version_name", "Version name is required"),
				issue("version_build", "Version build is required"),
				issue("platform", "Platform is required"),
				issue("plugin_version", "plugin_version is required")),
		},
		{
			name: "unsupported platform", body: req(platform("web")), snap: seeded, status: 400,
			want: schemaErrorJSON(issue("platform", "Platform is not supported or invalid")),
		},
		{
			name: "a NUL in defaultChannel is a 400 (PostgreSQL cannot store it; it was a 503)", body: req(defaultChannel("production\u0000")),
			snap: seeded, status: 400,
			want: schemaErrorJSON(issue("defaultChannel", "String must not contain the NUL character")),
		},
		{
			name: "a NUL in version_name, custom_id and version_os lists each", body: req(versionName("1.0.0\u0000"), set("custom_id", "\u0000"), set("version_os", "\u0000")),
			snap: seeded, status: 400,
			want: schemaErrorJSON(issue("custom_id", "String must not contain the NUL character"),
				issue("version_name", "String must not contain the NUL character"), issue("version_os", "String must not contain the NUL character")),
		},
		{
			// encoding/json turns invalid UTF-8 into U+FFFD, which PostgreSQL stores.
			name: "invalid UTF-8 in a JSON body becomes U+FFFD and is accepted", body: raw(strings.Replace(string(mustJSON(t, req(defaultChannel("production")))), "production", "production\xff", 1)),
			snap: snap(channel("production")), status: 200, want: noNewJSON, events: refused("noNew", "1.0.0"),
		},
		{
			name: "missing plugin_version and a device_id that is not a UUID", body: req(set("plugin_version", nil), set("device_id", "not-a-uuid")),
			snap: seeded, status: 400,
			want: schemaErrorJSON(issue("device_id", "Device ID must be a valid UUID string"), issue("plugin_version", "plugin_version is required")),
		},
		{
			// Capgo's /i regexes have no u flag: only ASCII letters fold.
			name: "app_id with a long s is not a reverse domain", body: req(appID("ſom.demo.app")), snap: seeded, status: 400,
			want: schemaErrorJSON(issue("app_id", "App ID must be a reverse domain string")),
		},
		{
			name: "app_id with the Kelvin sign is not a reverse domain", body: req(appID("com.demo.\u212Aapp")), snap: seeded, status: 400,
			want: schemaErrorJSON(issue("app_id", "App ID must be a reverse domain string")),
		},
		{
			name: "missing device_id", body: req(set("device_id", nil)), snap: seeded, status: 400,
			want: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`,
		},
		{
			name: "empty app_id", body: req(appID("")), snap: seeded, status: 400,
			want: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"app_id":"","device_id":"` + devID + `","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`,
		},
		{
			name: "native version that is not semver", body: req(versionBuild("1.0.0.0.1")), snap: seeded, status: 400,
			want: `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`,
		},
		{
			// Request.json() decodes UTF-8, which drops a byte order mark.
			name: "byte order mark before the JSON", body: raw("\uFEFF" + string(mustJSON(t, req()))), snap: seeded, status: 200,
			want: noNewJSON, events: refused("noNew", "1.0.0"),
		},
		{
			// docs/compat.md: Capgo reads a body of any size.
			name: "body over 1 MiB", body: raw(`{"app_id":"com.demo.app","pad":"` + strings.Repeat("x", 1<<20) + `"}`), snap: seeded, status: 413,
			want: `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`,
		},
		{
			name: "LIMITED_APPS refuses a listed app before validation", body: map[string]any{"app_id": "com.demo.app"}, snap: seeded,
			deps: withLimited(t, `[{"id":"com.demo.app","ignore":1}]`), status: 429,
			want: `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`,
		},
		{
			name: "LIMITED_APPS with ignore 0 limits nothing", body: req(appID("com.other.app")),
			deps: withLimited(t, `[{"id":"com.demo.app","ignore":1},{"id":"com.other.app","ignore":0}]`), status: 429,
			want: onPremiseJSON, events: []event{stats("get", "1.0.0")},
		},
		{
			name: "a database that cannot answer is 503, not on_premise_app", body: req(), storeErr: errors.New("dial tcp: connection refused"), status: 503,
			want: unavailableJSON,
		},
	})
}

// TestRulesUpdate: Capgo's updateWithPG from the app lookup on, in its
// order: plan, plugin gates, channel, bundle, key, same version, channel
// rules, builtin, URL.
func TestRulesUpdate(t *testing.T) {
	t.Parallel()
	const major = `"major":true,`
	blocked := func(code, message, extra, version, old string) string {
		return `{"error":"` + code + `","message":"` + message + `",` + extra + `"version":"` + version + `","old":"` + old + `","kind":"blocked"}`
	}
	runRows(t, []updateRow{
		// The known answers of the seeded fixture (README, Capgo's tests).
		{
			name: "default body on production's bundle: no new version", body: req(), snap: snap(channel("production")), status: 200,
			want: noNewJSON, events: refused("noNew", "1.0.0"),
		},
		{
			name: "version_name 1.1.0 gets production's 1.0.0", body: req(versionName("1.1.0")), snap: snap(channel("production")), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "major upgrade blocked by disable_auto_update=major", body: req(native("0.0.0")), snap: snap(channel("production")), status: 200,
			want:   blocked("disable_auto_update_to_major", "Cannot upgrade major version", major, "1.0.0", "0.0.0"),
			events: refused("disableAutoUpdateToMajor", "1.0.0"),
		},
		{
			name: "native 2.0.0 cannot revert under native", body: req(native("2.0.0")), snap: snap(channel("production")), status: 200,
			want:   blocked("disable_auto_update_under_native", "Cannot revert under native version", "", "1.0.0", "2.0.0"),
			events: refused("disableAutoUpdateUnderNative", "1.0.0"),
		},
		{
			name: "defaultChannel beta gets 1.361.0", body: req(defaultChannel("beta")), snap: snap(channel("beta")), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			// onPremStats: a stats row for an app that may not exist, no device row.
			name: "unknown app is on-premise", body: req(appID("com.unknown.app")), snap: nil, status: 429,
			want: onPremiseJSON, events: []event{stats("get", "1.0.0")},
		},

		// Plan and plugin gates.
		{
			name: "invalid plan is on-premise", body: req(), snap: snap(app(planValid(false)), channel("production")), status: 429,
			want: onPremiseJSON, events: []event{stats("needPlanUpgrade", "1.0.0"), deviceRow("")},
		},
		{
			name: "plugin v4 is refused", body: req(pluginVersion("4.15.3")), snap: snap(channel("production")), status: 200,
			want:   `{"error":"unsupported_plugin_version","message":"Plugin version 4.15.3 (v4) is no longer supported. Please upgrade to v5.10.0 or later.","kind":"failed"}`,
			events: []event{stats("backend_refusal", "1.0.0"), deviceRow("")},
		},
		{
			name: "plugin v3 is not refused (only v4 is)", body: req(pluginVersion("3.1.0")), snap: snap(channel("production")), status: 200,
			want: noNewJSON, events: refused("noNew", "1.0.0"),
		},

		// Channel selection, as the store presents it.
		{
			// Also a channel whose bundle was soft-deleted: the store drops it.
			name: "neither an override nor a channel", body: req(), snap: snap(), status: 200,
			want: noChannelJSON, events: refused("NoChannelOrOverride", "1.0.0"),
		},
		{
			name: "ios gets the public ios channel", body: req(platform("ios")), snap: snap(channel("development")), status: 200,
			want: offerJSON("1.359.0", "9f74e70a"), events: offered("1.359.0"),
		},
		{
			name: "override wins over the channel", body: req(), snap: snap(override("beta"), channel("production")), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			name: "override wins over the defaultChannel", body: req(defaultChannel("production"), versionName("1.1.0")),
			snap: snap(override("beta"), channel("production")), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			// Capgo's cannot_update_via_private_channel is unreachable.
			name: "override to a private channel that devices cannot self-set is served", body: req(),
			snap: snap(override("no_access", platforms("android"), allowSelfSet(false)), channel("production")), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},

		// The bundle.
		{
			name: "bundle without URL, storage path or manifest", body: req(versionName("1.1.0")),
			snap: snap(channel("production", bundle("1.0.0", noR2Path()))), status: 200,
			want: `{"error":"no_bundle","message":"Cannot get bundle","kind":"failed"}`, events: refused("missingBundle", "1.0.0"),
		},
		{
			name: "upload in progress (r2-direct, empty checksum) is served", body: req(), snap: snap(channel("production", bundle("1.0.1"))), status: 200,
			want: offerJSON("1.0.1", ""), events: offered("1.0.1"),
		},
		{
			name: "key_id mismatch", body: req(versionName("1.1.0"), pluginVersion("8.41.0"), keyID("devicekeydevicekey12")),
			snap: snap(channel("production", bundle("1.0.0", bundleKeyID("bundlekeybundlekey12")))), status: 200,
			want:   `{"error":"key_id_mismatch","message":"Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.","deviceKeyId":"devicekeydevicekey12","bundleKeyId":"bundlekeybundlekey12","kind":"blocked"}`,
			events: refused("keyMismatch", "1.0.0"),
		},
		{
			name: "key_id mismatch is not enforced up to plugin 8.40.7", body: req(versionName("1.1.0"), pluginVersion("8.40.7"), keyID("devi")),
			snap: snap(channel("production", bundle("1.0.0", bundleKeyID("bundlekeybundlekey12")))), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "no key_id on the device: nothing to compare", body: req(versionName("1.1.0"), pluginVersion("8.41.0")),
			snap: snap(channel("production", bundle("1.0.0", bundleKeyID("bundlekeybundlekey12")))), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "no new version comes before every channel rule", body: req(),
			snap: snap(channel("production", platforms("ios"), allowProd(false))), status: 200,
			want: noNewJSON, events: refused("noNew", "1.0.0"),
		},
		{
			// The device runs its builtin bundle: version_name becomes
			// version_build, coerced to SemVer.
			name: "version_name builtin becomes version_build", body: req(versionName("builtin"), versionBuild("1.0")),
			snap: snap(channel("production")), status: 200, want: noNewJSON,
			events: []event{
				exactly(plugin.DeviceUsage{DeviceID: devID, AppID: functest.DemoApp, OrgID: functest.DemoOrg, Platform: "android", VersionBuild: "1.0.0"}),
				stats("noNew", "1.0.0"),
				exactly(plugin.DeviceUpsert{Device: plugin.Device{AppID: functest.DemoApp, DeviceID: devID, Platform: "android",
					PluginVersion: "7.0.0", VersionBuild: "1.0.0", VersionName: "1.0.0", IsProd: true}}),
			},
		},

		// Channel rules, in Capgo's order.
		{
			name: "ios disabled (override to production)", body: req(platform("ios"), versionName("1.1.0")),
			snap: snap(override("production"), channel("development")), status: 200,
			want:   `{"error":"disabled_platform_ios","message":"Cannot update, ios it's disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: refused("disablePlatformIos", "1.0.0"),
		},
		{
			name: "android disabled (override to electron_only)", body: req(), snap: snap(override("electron_only"), channel("production")), status: 200,
			want:   `{"error":"disabled_platform_android","message":"Cannot update, android is disabled","version":"1.360.0","old":"1.0.0","kind":"blocked"}`,
			events: refused("disablePlatformAndroid", "1.360.0"),
		},
		{
			name: "electron disabled (override to development)", body: req(platform("electron")), snap: snap(override("development"), channel("production")), status: 200,
			want:   `{"error":"disabled_platform_electron","message":"Cannot update, electron is disabled","version":"1.359.0","old":"1.0.0","kind":"blocked"}`,
			events: refused("disablePlatformElectron", "1.359.0"),
		},
		{
			name: "minor upgrade blocked by disable_auto_update=minor", body: req(native("1.1.0")),
			snap: snap(channel("production", disableAutoUpdate("minor"))), status: 200,
			want:   blocked("disable_auto_update_to_minor", "Cannot upgrade minor version", major, "1.0.0", "1.1.0"),
			events: refused("disableAutoUpdateToMinor", "1.0.0"),
		},
		{
			name: "patch rule compares version_build, not version_name", body: req(versionBuild("1.0.1"), versionName("1.0.0-local")),
			snap: snap(channel("production", disableAutoUpdate("patch"))), status: 200,
			want:   blocked("disable_auto_update_to_patch", "Cannot upgrade patch version", major, "1.0.0", "1.0.1"),
			events: refused("disableAutoUpdateToPatch", "1.0.0"),
		},
		{
			name: "disable_auto_update=none skips the semver rules", body: req(native("0.0.0")),
			snap: snap(channel("production", disableAutoUpdate("none"))), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "version_number without min_update_version is misconfigured", body: req(versionName("0.9.0")),
			snap: snap(channel("production", disableAutoUpdate("version_number"))), status: 200,
			want:   `{"error":"misconfigured_channel","message":"Channel production is misconfigured","version":"1.0.0","old":"1.0.0","kind":"failed"}`,
			events: refused("channelMisconfigured", "1.0.0"),
		},
		{
			name: "min_update_version above the native build", body: req(versionName("0.9.0")),
			snap: snap(channel("production", disableAutoUpdate("version_number"), bundle("1.0.0", minUpdateVersion("1.0.5")))), status: 200,
			want:   blocked("disable_auto_update_to_metadata", "Cannot upgrade version, min update version > current version", major, "1.0.0", "1.0.0"),
			events: refused("disableAutoUpdateMetadata", "1.0.0"),
		},
		{
			name: "min_update_version met", body: req(versionName("0.9.0")),
			snap: snap(channel("production", disableAutoUpdate("version_number"), bundle("1.0.0", minUpdateVersion("0.9.0")))), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			// Capgo parses the bundle name only in the rules that compare it.
			name: "version_number serves a bundle whose name is not semver", body: req(versionName("1.1.0")),
			snap: snap(channel("production", disableAutoUpdate("version_number"), underNative(false),
				bundle("release-one", bundleID(2), r2Path(zipKey("1.0.0")), checksum("3885ee49"), minUpdateVersion("0.9.0")))), status: 200,
			want:   `{"version":"release-one","url":"` + signedURL(zipKey("1.0.0")) + `","session_key":"","checksum":"3885ee49"}`,
			events: offered("release-one"),
		},
		{
			name: "version_number refuses before under_native would parse the name", body: req(versionName("1.1.0")),
			snap: snap(channel("production", disableAutoUpdate("version_number"),
				bundle("release-one", r2Path(zipKey("1.0.0")), minUpdateVersion("1.0.5")))), status: 200,
			want:   blocked("disable_auto_update_to_metadata", "Cannot upgrade version, min update version > current version", major, "release-one", "1.0.0"),
			events: refused("disableAutoUpdateMetadata", "release-one"),
		},
		{
			// Capgo: parse() throws, a 500 (docs/compat.md).
			name: "bundle name that is not semver makes the channel misconfigured", body: req(versionName("1.1.0")),
			snap: snap(channel("production", bundle("release-one", r2Path(zipKey("1.0.0"))))), status: 200,
			want:   `{"error":"misconfigured_channel","message":"Channel production is misconfigured","version":"release-one","old":"1.0.0","kind":"failed"}`,
			events: refused("channelMisconfigured", "release-one"),
		},
		{
			name: "under_native compares version_build and reports version_name as old", body: req(versionBuild("2.0.0"), versionName("1.9.0")),
			snap: snap(channel("production")), status: 200,
			want:   blocked("disable_auto_update_under_native", "Cannot revert under native version", "", "1.0.0", "1.9.0"),
			events: refused("disableAutoUpdateUnderNative", "1.0.0"),
		},
		{
			// @std/semver formats 1.0.0-5e-2 as 1.0.0-0.05, which parse()
			// refuses: Capgo's updateWithPG parses version_build again after
			// the plan check and answers 200 semver_error, writing nothing.
			name: "native version that does not parse again, whatever the rules", body: req(versionBuild("1.0.0-5e-2"), versionName("1.1.0")),
			snap: snap(channel("production", disableAutoUpdate("none"), underNative(false))), status: 200,
			want: `{"error":"semver_error","message":"Native version: 1.0.0-0.05 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`,
		},
		{
			// Numbers above 2^53 pass Capgo's SemVer regex but not
			// @std/semver's parse (JavaScript numbers).
			name: "native version above 2^53 is a 200 semver_error", body: req(versionBuild("9007199254740993.0.0"), versionName("1.1.0")),
			snap: snap(channel("production")), status: 200,
			want: `{"error":"semver_error","message":"Native version: 9007199254740993.0.0 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","kind":"failed"}`,
		},
		{
			name: "native version 2^53-1 still parses", body: req(versionBuild("9007199254740991.0.0"), versionName("1.1.0")),
			snap: snap(channel("production", disableAutoUpdate("none"), underNative(false))), status: 200,
			want: offerJSON("1.0.0", "3885ee49"),
			events: []event{
				exactly(plugin.DeviceUsage{DeviceID: devID, AppID: functest.DemoApp, OrgID: functest.DemoOrg, Platform: "android", VersionBuild: "9007199254740991.0.0"}),
				versionUsage("1.0.0"), stats("get", "1.0.0"),
				exactly(plugin.DeviceUpsert{Device: plugin.Device{AppID: functest.DemoApp, DeviceID: devID, Platform: "android",
					PluginVersion: "7.0.0", VersionBuild: "9007199254740991.0.0", VersionName: "1.0.0", IsProd: true}}),
			},
		},
		{
			// Prerelease identifiers go through Number(): 0x1 is 1.
			name: "version_build that is not X.Y.Z is recorded as @std/semver formats it", body: req(versionBuild("v1.0.0-0x1")),
			snap: snap(channel("production")), status: 200, want: noNewJSON,
			events: []event{
				exactly(plugin.DeviceUsage{DeviceID: devID, AppID: functest.DemoApp, OrgID: functest.DemoOrg, Platform: "android", VersionBuild: "1.0.0-1"}),
				stats("noNew", "1.0.0"),
				exactly(plugin.DeviceUpsert{Device: plugin.Device{AppID: functest.DemoApp, DeviceID: devID, Platform: "android",
					PluginVersion: "7.0.0", VersionBuild: "1.0.0-1", VersionName: "1.0.0", IsProd: true}}),
			},
		},
		{
			name: "prod builds disabled", body: req(versionName("1.1.0")), snap: snap(channel("production", allowProd(false))), status: 200,
			want:   `{"error":"disable_prod_build","message":"Cannot update, prod build is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: refused("disableProdBuild", "1.0.0"),
		},
		{
			name: "dev builds disabled", body: req(versionName("1.1.0"), isProd(false)), snap: snap(channel("production", allowDev(false))), status: 200,
			want:   `{"error":"disable_dev_build","message":"Cannot update, dev build is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: refused("disableDevBuild", "1.0.0"),
		},
		{
			name: "physical devices disabled", body: req(versionName("1.1.0")), snap: snap(channel("production", allowDevice(false))), status: 200,
			want:   `{"error":"disable_device","message":"Cannot update, device is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: refused("disableDevice", "1.0.0"),
		},
		{
			name: "emulators disabled", body: req(versionName("1.1.0"), isEmulator(true)), snap: snap(channel("production", allowEmulator(false))), status: 200,
			want:   `{"error":"disable_emulator","message":"Cannot update, emulator is disabled","version":"1.0.0","old":"1.1.0","kind":"blocked"}`,
			events: refused("disableEmulator", "1.0.0"),
		},

		// Builtin and the URL.
		{
			name: "channel without a bundle: already on builtin", body: req(versionName("1.1.0")), snap: snap(channel("production", builtin())), status: 200,
			want:   `{"error":"already_on_builtin","message":"Already on builtin","version":"builtin","kind":"up_to_date"}`,
			events: []event{mau()},
		},
		{
			name: "channel without a bundle, plugin older than 6.2.0", body: req(versionName("1.1.0"), pluginVersion("6.1.9")),
			snap: snap(channel("production", builtin())), status: 200,
			want:   `{"error":"revert_to_builtin_plugin_version_too_old","message":"revert_to_builtin used, but plugin version is too old","kind":"failed"}`,
			events: []event{mau()},
		},
		{
			name: "external url that is not http(s) is no bundle url", body: req(versionName("1.1.0")),
			snap: snap(channel("production", bundle("1.0.0", externalURL("ftp://example.com/b.zip")))), status: 200,
			want: `{"error":"no_bundle_url","message":"Cannot get bundle url","kind":"failed"}`, events: refused("cannotGetBundle", "1.0.0"),
		},
	})
}

// TestRulesShape: the keys of the update answer, by plugin version and
// bundle.
func TestRulesShape(t *testing.T) {
	t.Parallel()
	const indexPath = "orgs/" + functest.DemoOrg + "/apps/" + functest.DemoApp + "/delta/abc_index.html"
	index := file("index.html", "aaa", indexPath)
	indexEntry := `"manifest":[{"file_name":"index.html","file_hash":"aaa","download_url":"` + attachmentURL(indexPath, "key=2&device_id="+devID) + `"}]`
	const metadata = `"link":"https://github.com/Cap-go/capgo/releases/tag/v1.0.0","comment":"Initial release"`
	withManifest := snap(channel("production", bundle("1.0.0", manifest(index))))
	manifestOnly := snap(channel("production", bundle("1.0.0", noR2Path(), manifest(index))))
	metadataApp := func(opts ...bundleOpt) *store.UpdateSnapshot {
		return snap(app(exposeMetadata()), channel("production", bundle("1.0.0", opts...)))
	}
	failingSigner := withSigner(signerFunc(func(context.Context, string) (string, error) { return "", errors.New("no credentials") }))
	runRows(t, []updateRow{
		{
			name: "no signer: the zip is linked through files/read with its checksum", body: req(versionName("1.1.0")), snap: snap(channel("production")),
			deps: withoutSigner, status: 200,
			want: `{"version":"1.0.0","url":"` + fallbackZipURL("1.0.0", "3885ee49") + `","session_key":"","checksum":"3885ee49"}`, events: offered("1.0.0"),
		},
		{
			name: "signing fails: the files/read link instead", body: req(versionName("1.1.0")), snap: snap(channel("production")),
			deps: failingSigner, status: 200,
			want: `{"version":"1.0.0","url":"` + fallbackZipURL("1.0.0", "3885ee49") + `","session_key":"","checksum":"3885ee49"}`, events: offered("1.0.0"),
		},
		{
			// Android reads a JSON null checksum back as "null" (docs/compat.md).
			name: "null checksum is omitted, session key passed through", body: req(versionName("1.1.0")),
			snap: snap(channel("production", bundle("1.0.0", noChecksum(), sessionKey("aXY=:a2V5")))), deps: withoutSigner, status: 200,
			want: `{"version":"1.0.0","url":"` + fallbackZipURL("1.0.0", "") + `","session_key":"aXY=:a2V5"}`, events: offered("1.0.0"),
		},
		{
			name: "external url is sent as is", body: req(versionName("1.1.0")),
			snap: snap(channel("production", bundle("1.0.0", externalURL("https://cdn.example.com/b.zip?x=1&y=2")))), status: 200,
			want: `{"version":"1.0.0","url":"https://cdn.example.com/b.zip?x=1&y=2","session_key":"","checksum":"3885ee49"}`, events: offered("1.0.0"),
		},
		{
			name: "external url: no manifest", body: req(versionName("1.1.0"), pluginVersion("7.0.35")),
			snap: snap(channel("production", bundle("1.0.0", externalURL("https://cdn.example.com/b.zip"), manifest(index)))), status: 200,
			want: `{"version":"1.0.0","url":"https://cdn.example.com/b.zip","session_key":"","checksum":"3885ee49"}`, events: offered("1.0.0"),
		},
		{
			name: "link and comment for plugin 7.35.0 when the app exposes metadata", body: req(versionName("1.1.0"), pluginVersion("7.35.0")),
			snap: metadataApp(), status: 200, want: offerJSON("1.0.0", "3885ee49", metadata), events: offered("1.0.0"),
		},
		{
			name: "no metadata below 7.35.0", body: req(versionName("1.1.0"), pluginVersion("7.34.9")),
			snap: metadataApp(), status: 200, want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "no metadata for a prerelease of 8.35.0", body: req(versionName("1.1.0"), pluginVersion("8.35.0-beta.1")),
			snap: metadataApp(), status: 200, want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "no metadata when the app does not expose it", body: req(versionName("1.1.0"), pluginVersion("8.40.0")),
			snap: snap(channel("production")), status: 200, want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			name: "an empty link is left out", body: req(versionName("1.1.0"), pluginVersion("8.40.0")),
			snap: metadataApp(link("")), status: 200, want: offerJSON("1.0.0", "3885ee49", `"comment":"Initial release"`), events: offered("1.0.0"),
		},
		{
			name: "manifest for plugin 7.0.35", body: req(versionName("1.1.0"), pluginVersion("7.0.35")), snap: withManifest, status: 200,
			want: offerJSON("1.0.0", "3885ee49", indexEntry), events: offered("1.0.0"),
		},
		{
			name: "no manifest for plugin 7.0.34", body: req(versionName("1.1.0"), pluginVersion("7.0.34")), snap: withManifest, status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
		{
			// The handler links each row as the store gives it; a legacy
			// percent-encoded name is sent decoded.
			name: "manifest rows without a storage path are left out, legacy-encoded names decoded", body: req(versionName("1.1.0"), pluginVersion("7.0.35")),
			snap: snap(channel("production", bundle("1.0.0", manifest(file("no-path.js", "bbb", ""), file("a%20b.js", "ccc", "m/ccc_a%20b.js"))))), status: 200,
			want:   offerJSON("1.0.0", "3885ee49", `"manifest":[{"file_name":"a b.js","file_hash":"ccc","download_url":"`+attachmentURL("m/ccc_a%20b.js", "key=2&device_id="+devID)+`"}]`),
			events: offered("1.0.0"),
		},
		{
			name: "manifest for every 8.x", body: req(versionName("1.1.0"), pluginVersion("8.0.0")), snap: withManifest, status: 200,
			want: offerJSON("1.0.0", "3885ee49", indexEntry), events: offered("1.0.0"),
		},
		{
			name: "manifest-only bundle, plugin 6.25.0: placeholder url and the manifest", body: req(versionName("1.1.0"), pluginVersion("6.25.0")),
			snap: manifestOnly, status: 200,
			want: `{"version":"1.0.0","url":"https://404.capgo.app/no.zip","session_key":"","checksum":"3885ee49",` + indexEntry + `}`, events: offered("1.0.0"),
		},
		{
			name: "manifest-only bundle, plugin 6.24.0: placeholder url, no manifest", body: req(versionName("1.1.0"), pluginVersion("6.24.0")),
			snap: manifestOnly, status: 200,
			want: `{"version":"1.0.0","url":"https://404.capgo.app/no.zip","session_key":"","checksum":"3885ee49"}`, events: offered("1.0.0"),
		},
		{
			// Capgo's override query does not check the channel's app.
			name: "override to another app's channel: its zip and manifest", body: req(pluginVersion("7.0.35")),
			snap: snap(override("beta", bundle("1.361.0", bundleID(77), r2Path("orgs/"+functest.DemoOrg+"/apps/com.other.app/1.361.0.zip"),
				manifest(file("index.html", "aaa", "m/abc_index.html")))), channel("production")), status: 200,
			want: `{"version":"1.361.0","url":"` + signedURL("orgs/"+functest.DemoOrg+"/apps/com.other.app/1.361.0.zip") + `","session_key":"","checksum":"9d4f798a",` +
				`"manifest":[{"file_name":"index.html","file_hash":"aaa","download_url":"` + attachmentURL("m/abc_index.html", "key=77&device_id="+devID) + `"}]}`,
			events: offered("1.361.0"),
		},
	})
}

// TestRulesRollout: the rollout path, as the snapshot presents rollouts. A
// device is in a rollout when sha256("<rollout_id>:<device_id>") (first 8
// bytes, big-endian) mod 10000 is under the percentage in basis points:
// devID's bucket for rollout-1 is 6799.
func TestRulesRollout(t *testing.T) {
	t.Parallel()
	onBeta := req(defaultChannel("beta"), versionName("1.1.0"))
	live := app(rolloutChannels(1))
	runRows(t, []updateRow{
		{
			name: "device in the rollout bucket gets the rollout bundle", body: onBeta,
			snap: snap(live, channel("beta", rollout(6800, "1.360.0"))), status: 200,
			want: offerJSON("1.360.0", "44913a9f"), events: offered("1.360.0"),
		},
		{
			name: "device just outside the rollout gets the channel's bundle", body: onBeta,
			snap: snap(live, channel("beta", rollout(6799, "1.360.0"))), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			name: "the bucket depends on the rollout id", body: onBeta,
			snap: snap(live, channel("beta", rollout(6800, "1.360.0"), rolloutID("7c1e5b6e-3f1a-4b8e-9a55-1d2f3c4b5a69"))), status: 200,
			want: offerJSON("1.360.0", "44913a9f"), events: offered("1.360.0"),
		},
		{
			name: "rollout ignored while the app counts no live rollout", body: onBeta,
			snap: snap(channel("beta", rollout(10000, "1.360.0"))), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			name: "paused rollout keeps devices already on its bundle", body: req(defaultChannel("beta"), versionName("1.360.0")),
			snap: snap(app(rolloutPaused("1.360.0")), channel("beta", rollout(10000, "1.360.0"), paused())), status: 200,
			want: noNewJSON, events: refused("noNew", "1.360.0"),
		},
		{
			name: "paused rollout: other devices get the channel's bundle", body: onBeta,
			snap: snap(app(rolloutPaused("1.360.0")), channel("beta", rollout(10000, "1.360.0"), paused())), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			name: "rollout bundle soft-deleted: the store presents none, the channel's bundle is served", body: onBeta,
			snap: snap(live, channel("beta")), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
		{
			name: "rollout bundle with manifest rows: its manifest", body: req(defaultChannel("beta"), versionName("1.1.0"), pluginVersion("7.0.35")),
			snap: snap(live, channel("beta", rollout(6800, "1.360.0", manifest(file("a.js", "h", "m/h_a.js"))))), status: 200,
			want:   offerJSON("1.360.0", "44913a9f", `"manifest":[{"file_name":"a.js","file_hash":"h","download_url":"`+attachmentURL("m/h_a.js", "key=4&device_id="+devID)+`"}]`),
			events: offered("1.360.0"),
		},
		{
			// The rollout path reads manifest rows only where
			// manifest_count > 0 (Capgo's counter).
			name: "rollout path: no manifest for a bundle whose manifest_count is 0", body: req(defaultChannel("beta"), versionName("1.1.0"), pluginVersion("7.0.35")),
			snap: snap(live, channel("beta", bundle("1.361.0", manifest(file("a.js", "h", "m/h_a.js")), manifestCount(0)), rollout(6799, "1.360.0"))), status: 200,
			want: offerJSON("1.361.0", "9d4f798a"), events: offered("1.361.0"),
		},
	})
}

// TestRulesDevice: what the devices row records of the request.
func TestRulesDevice(t *testing.T) {
	t.Parallel()
	device := func(changes func(*plugin.Device)) event {
		d := plugin.Device{AppID: functest.DemoApp, DeviceID: devID, Platform: "android", PluginVersion: "7.0.0",
			VersionBuild: "1.0.0", VersionName: "1.0.0", IsProd: true}
		changes(&d)
		return exactly(plugin.DeviceUpsert{Device: d})
	}
	runRows(t, []updateRow{
		{
			name: "custom_id trimmed, install_source trimmed and lowercased, defaultChannel and key_id kept",
			body: req(defaultChannel("beta"), set("custom_id", "  user-1 "), set("install_source", " Google_Play "), keyID("abcd"), set("version_os", "14")),
			snap: snap(channel("beta")), status: 200, want: offerJSON("1.361.0", "9d4f798a"),
			events: []event{mau(), versionUsage("1.361.0"), stats("get", "1.361.0"), device(func(d *plugin.Device) {
				d.VersionName, d.DefaultChannel, d.CustomID, d.InstallSource, d.KeyID, d.OSVersion = "1.361.0", ptr("beta"), "user-1", "google_play", "abcd", "14"
			})},
		},
		{
			name: "custom_id dropped when the app disallows it", body: req(set("custom_id", "user-2")),
			snap: snap(app(allowDeviceCustomID(false)), channel("production")), status: 200, want: noNewJSON,
			events: []event{mau(), stats("noNew", "1.0.0"), device(func(*plugin.Device) {})},
		},
		{
			name: "device_id is lowercased everywhere", body: req(set("device_id", strings.ToUpper(devID))),
			snap: snap(channel("production")), status: 200, want: noNewJSON,
			events: []event{
				exactly(plugin.DeviceUsage{DeviceID: devID, AppID: functest.DemoApp, OrgID: functest.DemoOrg, Platform: "android", VersionBuild: "1.0.0"}),
				exactly(plugin.StatsEvent{AppID: functest.DemoApp, DeviceID: devID, Action: "noNew", VersionName: "1.0.0"}),
				device(func(*plugin.Device) {}),
			},
		},
	})
}

// TestRulesRecorder: a recorder that takes nothing (queue full, shutting
// down) makes every answer that records something a 503; one that loses
// rows does not change the answer (Capgo ignores failed writes).
func TestRulesRecorder(t *testing.T) {
	t.Parallel()
	refusing := store.ErrClosed
	runRows(t, []updateRow{
		{name: "offer, recorder refusing", body: req(versionName("1.1.0")), snap: snap(channel("production")), recErr: refusing, status: 503, want: unavailableJSON},
		{name: "no new version, recorder refusing", body: req(), snap: snap(channel("production")), recErr: refusing, status: 503, want: unavailableJSON},
		{name: "blocked by disable_auto_update=major, recorder refusing", body: req(native("0.0.0")), snap: snap(channel("production")), recErr: refusing, status: 503, want: unavailableJSON},
		{name: "unknown app, recorder refusing", body: req(appID("com.unknown.app")), recErr: refusing, status: 503, want: unavailableJSON},
		{
			name: "a request that records nothing is answered as usual, recorder refusing", body: req(appID("")), snap: snap(channel("production")), recErr: refusing, status: 400,
			want: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"app_id":"","device_id":"` + devID + `","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`,
		},
		{
			name: "rows the database refused do not change the answer", body: req(versionName("1.1.0")), snap: snap(channel("production")),
			recErr: errors.New("value too long for type character varying(4)"), status: 200,
			want: offerJSON("1.0.0", "3885ee49"), events: offered("1.0.0"),
		},
	})
}

// TestRulesQuery: what the handler asks the store.
func TestRulesQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body map[string]any
		want store.UpdateQuery
	}{
		{"no defaultChannel", req(platform("ios")), store.UpdateQuery{AppID: functest.DemoApp, DeviceID: devID, Platform: "ios"}},
		{"defaultChannel", req(defaultChannel("beta")), store.UpdateQuery{AppID: functest.DemoApp, DeviceID: devID, Platform: "android", DefaultChannel: "beta"}},
		// The store reads "" as none, so an empty defaultChannel counts as absent.
		{"empty defaultChannel", req(defaultChannel("")), store.UpdateQuery{AppID: functest.DemoApp, DeviceID: devID, Platform: "android"}},
		{"upper-case device_id", req(set("device_id", strings.ToUpper(devID))), store.UpdateQuery{AppID: functest.DemoApp, DeviceID: devID, Platform: "android"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStore{snap: snap(channel("production"))}
			h, err := New(Deps{Store: st, Recorder: &functest.Capture{}, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/functions/v1/updates", bytes.NewReader(mustJSON(t, tc.body))))
			if d := cmp.Diff([]store.UpdateQuery{tc.want}, st.queries); d != "" {
				t.Errorf("store queries (-want +got):\n%s", d)
			}
		})
	}
}
