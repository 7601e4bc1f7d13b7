package stats_test

// The protocol rules of POST /functions/v1/stats as tables, run through
// the real handler with an in-memory store (no PostgreSQL): each row is a
// request, the snapshots the store answers, and the exact answer and
// events. The expected answers are Capgo's (supabase/functions/_backend/
// plugins/stats.ts in Cap-go/capgo, and its tests/stats.test.ts), as the
// PostgreSQL-backed tests of this package verified them; the store's side
// (which rows a query selects, which rows get written) is tested there.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Answers every table uses.
const (
	okBody      = `{"status":"ok"}`
	onPremise   = `{"error":"on_premise_app","message":"On-premise app detected"}`
	unavailable = `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`
	required    = `{"error":"invalid_app_id","message":"App ID is required","moreInfo":{}}`
	notReverse  = `{"error":"invalid_app_id","message":"App ID must be a reverse domain string","moreInfo":{}}`
)

// allActions are the 91 actions Capgo accepts (stats_actions.ts), in the
// order its validation message lists them.
const allActions = "ping, delete, reset, set, get, set_fail, update_fail, download_fail, windows_path_fail, canonical_path_fail, " +
	"directory_path_fail, unzip_fail, low_mem_fail, download_0, download_10, download_20, download_30, download_40, download_50, " +
	"download_60, download_70, download_80, download_90, download_complete, download_manifest_start, download_manifest_complete, " +
	"download_zip_start, download_zip_complete, download_manifest_file_fail, download_manifest_checksum_fail, " +
	"download_manifest_brotli_fail, finish_download_fail, manifest_path_fail, decrypt_fail, checksum_required, " +
	"insufficient_disk_space, app_moved_to_foreground, app_moved_to_background, app_launch_start, app_launch_ready, " +
	"app_launch_timeout, uninstall, needPlanUpgrade, missingBundle, noNew, disablePlatformIos, disablePlatformAndroid, " +
	"disableAutoUpdateToMajor, cannotUpdateViaPrivateChannel, disableAutoUpdateToMinor, disableAutoUpdateToPatch, " +
	"channelMisconfigured, disableAutoUpdateMetadata, disableAutoUpdateUnderNative, disableDevBuild, disableProdBuild, " +
	"disableEmulator, disableDevice, cannotGetBundle, checksum_fail, NoChannelOrOverride, setChannel, getChannel, rateLimited, " +
	"rate_limit_reached, disableAutoUpdate, keyMismatch, InvalidIp, blocked_by_server_url, backend_refusal, " +
	"disablePlatformElectron, customIdBlocked, app_crash, app_crash_native, app_anr, app_killed_low_memory, " +
	"app_killed_excessive_resource_usage, app_initialization_failure, app_memory_warning, webview_javascript_error, " +
	"webview_unhandled_rejection, webview_resource_error, webview_security_policy_violation, webview_unclean_restart, " +
	"webview_render_process_gone, webview_content_process_terminated, webview_dom_content_loaded, webview_page_loaded, " +
	"set_next, os_version_changed, native_app_version_changed"

// Device record changes.
func devVersion(v string) func(*plugin.Device)  { return func(d *plugin.Device) { d.VersionName = v } }
func devCustomID(c string) func(*plugin.Device) { return func(d *plugin.Device) { d.CustomID = c } }
func devPlatform(p string) func(*plugin.Device) { return func(d *plugin.Device) { d.Platform = p } }
func devPlugin(v string) func(*plugin.Device)   { return func(d *plugin.Device) { d.PluginVersion = v } }
func devBuild(v string) func(*plugin.Device)    { return func(d *plugin.Device) { d.VersionBuild = v } }
func devDefault(ch string) func(*plugin.Device) {
	return func(d *plugin.Device) { d.DefaultChannel = &ch }
}
func devEmulator() func(*plugin.Device) { return func(d *plugin.Device) { d.IsEmulator = true } }
func devNotProd() func(*plugin.Device)  { return func(d *plugin.Device) { d.IsProd = false } }

// query is the snapshot query of event() after opts.
func query(opts ...func(*store.StatsQuery)) store.StatsQuery {
	q := store.StatsQuery{AppID: demoApp, DeviceID: dev, Platform: "android", VersionName: "1.0.0"}
	for _, o := range opts {
		o(&q)
	}
	return q
}

// TestTableErrors: every error code /stats can answer, with its status,
// exact body, and what it records.
func TestTableErrors(t *testing.T) {
	t.Parallel()
	invalidBody := func(issues string) string {
		return `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[` + issues + `]}}}}`
	}
	runRows(t, []row{
		{
			name: "a body that is not JSON is invalid_json_parse_body",
			req:  post(rawJSON("{")),
			want: want{status: 400, body: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`},
		},
		{name: "an event without app_id is invalid_app_id (400)", req: post(event(without("app_id"))), want: want{status: 400, body: required}},
		{name: "a non-string app_id is missing", req: post(event(with("app_id", 42))), want: want{status: 400, body: required}},
		{name: "a JSON null body has no app_id", req: post(rawJSON("null")), want: want{status: 400, body: required}},
		{name: "an app_id that is not a reverse domain", req: post(event(with("app_id", "demo"))), want: want{status: 400, body: notReverse}},
		{
			// JavaScript's /i folds ASCII only: the long s (ſ) is not an "s".
			name: "a non-ASCII letter in the app_id", req: post(event(with("app_id", "com.demo.\u017fapp"))),
			want: want{status: 400, body: notReverse},
		},
		{
			name: "a batch whose first event has no app_id is a 400",
			req:  post(batch(event(without("app_id")), event())),
			want: want{status: 400, body: required},
		},
		{
			name: "later batch items without app_id answer invalid_app_id with 200",
			req:  post(batch(event(), event(without("app_id")))),
			want: want{status: 200, body: `{"error":"invalid_app_id","message":"App ID is required"}`},
		},
		{
			name: "a batch item that is not an object has no app_id",
			req:  post(batch(event(), "x")),
			want: want{status: 200, body: `{"error":"invalid_app_id","message":"App ID is required"}`},
		},
		{
			name: "a batch item with a bad app_id",
			req:  post(batch(event(), event(with("app_id", "-bad")))),
			want: want{status: 200, body: `{"error":"invalid_app_id","message":"App ID must be a reverse domain string"}`},
		},
		{
			name: "a batch of two apps is mixed_app_ids",
			req:  post(batch(event(), event(with("app_id", "com.other.app")))),
			want: want{status: 200, body: `{"error":"mixed_app_ids","message":"All events in a batch must have the same app_id"}`},
		},
		{
			name: "missing device_id echoes the body",
			req:  post(event(without("device_id"))),
			want: want{status: 400, body: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","version_os":"16.1","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"set"}}}`},
		},
		{
			name: "a native version that is not semver",
			req:  post(event(with("version_build", "1.0.0.0.1"))),
			want: want{status: 400, body: `{"error":"semver_error","message":"Native version: 1.0.0.0.1 doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"1.0.0.0.1"}}`},
		},
		{
			name: "an unknown action lists the 91 actions",
			req:  post(event(action("explode"))),
			want: want{status: 400, body: invalidBody(`{"message":"action must be one of: ` + allActions + `","path":["action"],"code":"custom"}`)},
		},
		{
			name: "an event without action (Capgo: 500)",
			req:  post(event(without("action"))),
			want: want{status: 400, body: invalidBody(`{"message":"action is required","path":["action"],"code":"custom"}`)},
		},
		{
			name: "a non-string version_build (Capgo: 500)",
			req:  post(event(with("version_build", 5))),
			want: want{status: 400, body: invalidBody(`{"message":"version_build must be a string","path":["version_build"],"code":"custom"}`)},
		},
		{
			name: "every schema issue is listed",
			req:  post(event(without("version_os"), with("device_id", "nope"))),
			want: want{status: 400, body: invalidBody(`{"message":"Device ID must be a valid UUID string","path":["device_id"],"code":"custom"},{"message":"Version OS is required","path":["version_os"],"code":"custom"}`)},
		},
		{
			name: "metadata values must be strings",
			req:  post(event(with("metadata", map[string]any{"n": 1}))),
			want: want{status: 400, body: invalidBody(`{"message":"metadata values must be strings","path":["metadata.n"],"code":"custom"}`)},
		},
		{
			name:  "a batch item that fails the schema is an item error (Capgo: processing_error)",
			req:   post(batch(event(with("version_build", true)), event(action("get")))),
			snaps: snaps(demoSnap()),
			want: want{status: 200,
				body:   `{"status":"ok","results":[{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":0},{"status":"ok","index":1}]}`,
				events: events(mau(), stat("get"), device())},
		},
		{
			name: "a NUL in defaultChannel is a 400 (PostgreSQL cannot store it; it was a 503)",
			req:  post(event(with("defaultChannel", "prod\u0000"))),
			want: want{status: 400, body: invalidBody(`{"message":"String must not contain the NUL character","path":["defaultChannel"],"code":"custom"}`)},
		},
		{
			name: "a NUL in channel, old_version_name and a metadata key and value lists each",
			req: post(event(with("channel", "\u0000"), with("old_version_name", "1.0.0\u0000"),
				with("metadata", map[string]any{"k\u0000": "v", "v": "\u0000"}))),
			want: want{status: 400, body: invalidBody(`{"message":"String must not contain the NUL character","path":["channel"],"code":"custom"},` +
				`{"message":"String must not contain the NUL character","path":["metadata.k\u0000"],"code":"custom"},` +
				`{"message":"String must not contain the NUL character","path":["metadata.v"],"code":"custom"},` +
				`{"message":"String must not contain the NUL character","path":["old_version_name"],"code":"custom"}`)},
		},
		{
			name:  "a batch item with a NUL in version_name is an item error; the other events are written",
			req:   post(batch(event(action("get")), event(with("version_name", "1.0.0\u0000")), event(with("version_os", "14\u0000")))),
			snaps: snaps(demoSnap()),
			want: want{status: 200,
				body: `{"status":"ok","results":[{"status":"ok","index":0},` +
					`{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":1},` +
					`{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":2}]}`,
				events: events(mau(), stat("get"), device())},
		},
		{
			name:  "an unknown bundle is version_not_found, recording nothing",
			req:   post(event(with("version_name", "9.9.9"))),
			snaps: snaps(snap(onProd)),
			want: want{status: 200, body: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"9.9.9"}`,
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.VersionName = "9.9.9" })}},
		},
		{
			name:  "unknown is looked up among deleted bundles only",
			req:   post(event(with("version_name", "unknown"))),
			snaps: snaps(snap(onProd)),
			want: want{status: 200, body: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"unknown"}`,
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.VersionName, q.VersionDeleted = "unknown", true })}},
		},
		{
			name: "an unknown app is on_premise_app and records a get with the metadata",
			req:  post(event(with("app_id", "com.unknown.app"), with("metadata", map[string]any{"k": "v"}))),
			want: want{status: 429, body: onPremise, events: events(plugin.StatsEvent{AppID: "com.unknown.app", DeviceID: dev,
				Action: "get", VersionName: "1.0.0", Metadata: map[string]string{"k": "v"}})},
		},
		{
			name: "an invalid plan is on_premise_app with needPlanUpgrade and the device",
			req:  post(event()), snaps: snaps(demoSnap(app(planInvalid()))),
			want: want{status: 429, body: onPremise, events: events(stat("needPlanUpgrade"), device())},
		},
		{
			name:  "an invalid plan with a blocked custom_id records both, and the device even on a failure",
			req:   post(event(action("set_fail"), with("custom_id", "mine"))),
			snaps: snaps(demoSnap(app(planInvalid(), allowCustomID(false)))),
			want:  want{status: 429, body: onPremise, events: events(stat("needPlanUpgrade"), stat("customIdBlocked"), device())},
		},
		{
			name: "an invalid plan makes a whole batch on_premise_app, recording the events up to it",
			req:  post(batch(event(), event())), snaps: snaps(demoSnap(app(planInvalid()))),
			want: want{status: 429, body: onPremise, events: events(stat("needPlanUpgrade"), device())},
		},
		{
			name: "a body over 16 MiB is payload_too_large",
			req:  post(rawJSON(`[` + strings.Repeat(" ", 16<<20) + `]`)),
			want: want{status: 413, body: `{"error":"payload_too_large","message":"Request body exceeds 16777216 bytes"}`},
		},
		{
			name: "a store that cannot answer is 503 service_unavailable",
			req:  post(event()), snaps: snaps(demoSnap()), opts: []option{storeDown()},
			want: want{status: 503, body: unavailable},
		},
		{
			name: "a store that cannot answer a batch is 503",
			req:  post(batch(event(), event(action("get")))), snaps: snaps(demoSnap()), opts: []option{storeDown()},
			want: want{status: 503, body: unavailable},
		},
		{
			name: "a recorder that takes nothing is 503",
			req:  post(event()), snaps: snaps(demoSnap()), opts: []option{recorderClosed()},
			want: want{status: 503, body: unavailable},
		},
		{
			name: "a recorder that takes nothing fails a whole batch",
			req:  post(batch(event(), event(action("get")))), snaps: snaps(demoSnap()), opts: []option{recorderClosed()},
			want: want{status: 503, body: unavailable},
		},
		{
			name: "an answer with nothing to record does not need the recorder",
			req:  post(event(with("version_name", "9.9.9"))), snaps: snaps(snap(onProd)), opts: []option{recorderClosed()},
			want: want{status: 200, body: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"9.9.9"}`},
		},
	})
}

// TestTableLimitedApps: LIMITED_APPS refuses a listed app once the
// app_id checks passed, before the events are parsed.
func TestTableLimitedApps(t *testing.T) {
	t.Parallel()
	const tooMany = `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`
	noRetry := map[string]string{"Retry-After": "", "X-RateLimit-Reset": ""}
	lim := []option{limited()}
	runRows(t, []row{
		{name: "a limited app is too_many_requests", req: post(event()), snaps: snaps(demoSnap()), opts: lim,
			want: want{status: 429, body: tooMany, header: noRetry}},
		{name: "a limited app's batch is refused before its events are parsed",
			req: post(batch(event(), event(without("action")))), snaps: snaps(demoSnap()), opts: lim,
			want: want{status: 429, body: tooMany, header: noRetry}},
		{name: "mixed app ids are answered before the limit",
			req: post(batch(event(), event(with("app_id", "com.other.app")))), snaps: snaps(demoSnap()), opts: lim,
			want: want{status: 200, body: `{"error":"mixed_app_ids","message":"All events in a batch must have the same app_id"}`}},
		{name: "another app is not limited", req: post(event(with("app_id", "com.other.app"))), opts: lim,
			want: want{status: 429, body: onPremise,
				events: events(plugin.StatsEvent{AppID: "com.other.app", DeviceID: dev, Action: "get", VersionName: "1.0.0"})}},
	})
}

// TestTableRoutes: GET is a health answer; methods the function does not
// route are not_found; /ok is Capgo's health path.
func TestTableRoutes(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{name: "GET is ok", req: request{method: http.MethodGet}, want: want{status: 200, body: okBody}},
		{name: "PUT is not_found", req: request{method: http.MethodPut}, want: want{status: 404, body: `{"error":"not_found","message":"Not found"}`}},
		{name: "POST /ok is ok", req: request{method: http.MethodPost, path: "/ok"}, want: want{status: 200, body: okBody}},
	})
}

// TestTableInstalls: what a production device's set records: an install
// (and an uninstall of a different old bundle) on the effective channel.
func TestTableInstalls(t *testing.T) {
	t.Parallel()
	withOld := func(name string) func(*store.StatsQuery) {
		return func(q *store.StatsQuery) { q.OldVersionName = name }
	}
	runRows(t, []row{
		{
			name: "set records an install on the effective channel",
			req:  post(event()), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device()),
				queries: []store.StatsQuery{query()}},
		},
		{
			name: "set replacing another bundle records its uninstall",
			req:  post(event(with("old_version_name", "1.361.0"))), snaps: snaps(demoSnap(oldVersion(2))),
			want: want{status: 200, body: okBody,
				events: events(install("1.0.0", prodCh), uninstall("1.361.0", prodCh), mau(),
					statOf("uninstall", "1.361.0"), stat("set"), device()),
				queries: []store.StatsQuery{query(withOld("1.361.0"))}},
		},
		{
			name: "an old bundle equal to the new one is no uninstall",
			req:  post(event(with("old_version_name", "1.0.0"))), snaps: snaps(demoSnap(oldVersion(1))),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device())},
		},
		{
			name: "an old bundle unknown to the server is no uninstall",
			req:  post(event(with("old_version_name", "0.9.0"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device())},
		},
		{
			name: "set on an emulator counts no install and does not look the old bundle up",
			req:  post(event(with("is_emulator", true), with("old_version_name", "1.361.0"))), snaps: snaps(demoSnap(oldVersion(2))),
			want: want{status: 200, body: okBody, events: events(mau(), stat("set"), device(devEmulator())),
				queries: []store.StatsQuery{query()}},
		},
		{
			name: "set in a dev build counts no install",
			req:  post(event(with("is_prod", false))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(), stat("set"), device(devNotProd()))},
		},
		{
			name: "builtin is the native version",
			req:  post(event(with("version_name", "builtin"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device()),
				queries: []store.StatsQuery{query()}},
		},
		{
			name: "the defaultChannel is looked up trimmed and stored as sent",
			req:  post(event(with("defaultChannel", " beta "))), snaps: snaps(snap(v100, channel(betaCh))),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", betaCh), mau(), stat("set"), device(devDefault(" beta "))),
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.DefaultChannel = "beta" })}},
		},
		{
			name: "the client's channel is not trusted: the store resolves the channel",
			req:  post(event(with("channel", "beta"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device()),
				queries: []store.StatsQuery{query()}},
		},
		{
			name: "no channel at all counts the install without one",
			req:  post(event()), snaps: snaps(snap(v100)),
			want: want{status: 200, body: okBody, events: events(usage("install", "1.0.0", nil), mau(), stat("set"), device())},
		},
		{
			name: "ios devices report their platform",
			req:  post(event(with("platform", "ios"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mauOf("ios", "1.0.0"), stat("set"), device(devPlatform("ios"))),
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.Platform = "ios" })}},
		},
		{
			name: "a platform devices cannot store keeps its stats without a device row (web)",
			req:  post(event(with("platform", "web"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mauOf("web", "1.0.0"), stat("set"))},
		},
		{
			name: "no version_build counts as unknown for MAU",
			req:  post(event(without("version_build"), action("get"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mauOf("android", "unknown"), stat("get"), device(devBuild("")))},
		},
	})
}

// TestTableFailures: *_fail actions count a failure for the bundle and
// never write the device; download_fail only from fixed plugins.
func TestTableFailures(t *testing.T) {
	t.Parallel()
	downloadFail := func(pluginVersion any) request {
		return post(event(action("download_fail"), with("plugin_version", pluginVersion)))
	}
	runRows(t, []row{
		{
			name: "set_fail counts a failure without the device",
			req:  post(event(action("set_fail"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(fail("1.0.0", prodCh), mau(), stat("set_fail"))},
		},
		{
			name:  "a per-file failure counts for the bundle before the colon",
			req:   post(event(action("download_manifest_file_fail"), with("version_name", "1.361.0:main.js"))),
			snaps: snaps(snap(v1361, onProd)),
			want: want{status: 200, body: okBody,
				events:  events(fail("1.361.0", prodCh), mau(), statOf("download_manifest_file_fail", "1.361.0:main.js")),
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.VersionName = "1.361.0" })}},
		},
		{
			name:  "a per-file failure of an unknown bundle names the whole version_name",
			req:   post(event(action("download_manifest_file_fail"), with("version_name", "7.7.7:main.js"))),
			snaps: snaps(snap(onProd)),
			want: want{status: 200, body: `{"error":"version_not_found","message":"Version not found","app_id":"com.demo.app","version_name":"7.7.7:main.js"}`,
				queries: []store.StatsQuery{query(func(q *store.StatsQuery) { q.VersionName = "7.7.7" })}},
		},
		{
			name: "update_fail on an emulator counts no failure",
			req:  post(event(action("update_fail"), with("is_emulator", true))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(), stat("update_fail"))},
		},
		{
			name: "download_fail from 7.16.9 is dropped but counts the MAU",
			req:  downloadFail("7.16.9"), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau())},
		},
		{
			name:  "a dropped download_fail does not need its bundle",
			req:   post(event(action("download_fail"), with("plugin_version", "7.16.9"), with("version_name", "9.9.9"))),
			snaps: snaps(snap(onProd)),
			want:  want{status: 200, body: okBody, events: events(mau())},
		},
		{
			name: "download_fail from 7.17.0 counts",
			req:  downloadFail("7.17.0"), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(fail("1.0.0", prodCh), mau(), stat("download_fail"))},
		},
		{
			name: "download_fail from 6.14.24 is dropped",
			req:  downloadFail("6.14.24"), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau())},
		},
		{
			name: "download_fail from 6.14.25 counts",
			req:  downloadFail("6.14.25"), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(fail("1.0.0", prodCh), mau(), stat("download_fail"))},
		},
		{
			name: "download_fail from an unparseable plugin version is dropped",
			req:  downloadFail("not-a-version"), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau())},
		},
		{
			name: "download_fail without plugin version is dropped",
			req:  post(event(action("download_fail"), without("plugin_version"))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau())},
		},
		{
			name:  "a dropped download_fail keeps customIdBlocked",
			req:   post(event(action("download_fail"), with("plugin_version", "5.0.0"), with("custom_id", "x"))),
			snaps: snaps(demoSnap(app(allowCustomID(false)))),
			want:  want{status: 200, body: okBody, events: events(mau(), stat("customIdBlocked"))},
		},
	})
}

// TestTableCustomID: custom_id is trimmed, and dropped with a
// customIdBlocked stat when the app disallows it.
func TestTableCustomID(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{
			name: "custom_id is trimmed",
			req:  post(event(with("custom_id", "  TRIM-ME  "))), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(install("1.0.0", prodCh), mau(), stat("set"), device(devCustomID("TRIM-ME")))},
		},
		{
			name: "custom_id blocked by the app is dropped and reported",
			req:  post(event(with("custom_id", " mine "), action("get"))), snaps: snaps(demoSnap(app(allowCustomID(false)))),
			want: want{status: 200, body: okBody, events: events(mau(), stat("customIdBlocked"), stat("get"), device())},
		},
		{
			name: "a blank custom_id is not blocked",
			req:  post(event(with("custom_id", "   "), action("get"))), snaps: snaps(demoSnap(app(allowCustomID(false)))),
			want: want{status: 200, body: okBody, events: events(mau(), stat("get"), device())},
		},
	})
}

// TestTableBatch: events are decided in order with one result each.
func TestTableBatch(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{
			name: "an empty batch is ok with no results",
			req:  post(batch()),
			want: want{status: 200, body: `{"status":"ok","results":[]}`},
		},
		{
			name: "every item gets its own result",
			req: post(batch(
				event(with("device_id", upper(dev)), action("get")),
				event(without("version_os")),
				event(with("version_name", "9.9.9")),
				event(action("nope")),
				event(without("device_id")),
				event(without("action")),
				event(action("set_fail")),
			)),
			// Only the items that parse are looked up: 0, 2 and 6.
			snaps: snaps(demoSnap(), snap(onProd), demoSnap()),
			want: want{status: 200,
				body: `{"status":"ok","results":[
					{"status":"ok","index":0},
					{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":1},
					{"status":"error","error":"version_not_found","message":"Version not found","index":2,"moreInfo":{"app_id":"com.demo.app","version_name":"9.9.9"}},
					{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":3},
					{"status":"error","error":"missing_device_id","message":"Cannot find device_id","index":4},
					{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":5},
					{"status":"ok","index":6}]}`,
				events:  events(mau(), stat("get"), device(), fail("1.0.0", prodCh), mau(), stat("set_fail")),
				queries: []store.StatsQuery{query(), query(func(q *store.StatsQuery) { q.VersionName = "9.9.9" }), query()}},
		},
		{
			name: "an unknown app makes every item on_premise_app",
			req:  post(batch(event(with("app_id", "does.not.exist")), event(with("app_id", "does.not.exist")))),
			want: want{status: 200,
				body: `{"status":"ok","results":[
					{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":0},
					{"status":"error","error":"on_premise_app","message":"On-premise app detected","index":1}]}`,
				events: events(
					plugin.StatsEvent{AppID: "does.not.exist", DeviceID: dev, Action: "get", VersionName: "1.0.0"},
					plugin.StatsEvent{AppID: "does.not.exist", DeviceID: dev, Action: "get", VersionName: "1.0.0"})},
		},
		{
			name: "a device reporting a download then its install",
			req: post(batch(
				event(action("download_complete"), with("version_name", "1.361.0")),
				event(with("version_name", "1.361.0"), with("old_version_name", "1.0.0")),
			)),
			snaps: snaps(snap(v1361, onProd), snap(v1361, oldVersion(1), onProd)),
			want: want{status: 200, body: `{"status":"ok","results":[{"status":"ok","index":0},{"status":"ok","index":1}]}`,
				events: events(
					mau(), statOf("download_complete", "1.361.0"), device(devVersion("1.361.0")),
					install("1.361.0", prodCh), uninstall("1.0.0", prodCh), mau(), statOf("uninstall", "1.0.0"), statOf("set", "1.361.0"),
					device(devVersion("1.361.0")))},
		},
	})
}

// TestTableMetadata: metadata rides on the event's stats row, empty keys
// dropped, none at all is no metadata.
func TestTableMetadata(t *testing.T) {
	t.Parallel()
	send := func(md map[string]any) request {
		return post(event(action("webview_javascript_error"), with("metadata", md)))
	}
	runRows(t, []row{
		{
			name: "a webview error's metadata, without its empty key",
			req:  send(map[string]any{"message": "boom", "source": "app.js", "": "dropped"}), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(),
				statMeta("webview_javascript_error", map[string]string{"message": "boom", "source": "app.js"}), device())},
		},
		{
			name: "an empty metadata object is none",
			req:  send(map[string]any{}), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(), stat("webview_javascript_error"), device())},
		},
		{
			name: "metadata with only an empty key is none",
			req:  send(map[string]any{"": "x"}), snaps: snaps(demoSnap()),
			want: want{status: 200, body: okBody, events: events(mau(), stat("webview_javascript_error"), device())},
		},
	})
}

// TestTableEveryAction: each of the 91 actions is accepted and recorded
// from a fixed plugin; set counts an install, the *_fail ones a failure
// and no device.
func TestTableEveryAction(t *testing.T) {
	t.Parallel()
	actions := strings.Split(allActions, ", ")
	if len(actions) != 91 {
		t.Fatalf("%d actions, want 91", len(actions))
	}
	dv := device(devCustomID("test2"), devPlugin("7.17.0"))
	var rows []row
	for _, a := range actions {
		evs := events(mau(), stat(a), dv)
		switch {
		case a == "set":
			evs = events(install("1.0.0", prodCh), mau(), stat(a), dv)
		case strings.HasSuffix(a, "_fail"):
			evs = events(fail("1.0.0", prodCh), mau(), stat(a))
		}
		rows = append(rows, row{
			name: a, req: post(event(action(a), with("custom_id", "test2"), with("plugin_version", "7.17.0"))),
			snaps: snaps(demoSnap()), want: want{status: 200, body: okBody, events: evs},
		})
	}
	runRows(t, rows)
}
