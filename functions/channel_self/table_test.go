package channelself_test

// The protocol rules of /functions/v1/channel_self as tables, run through
// the real handler with an in-memory store (no PostgreSQL): each row is
// what the store holds, the requests the device sends with their exact
// answers, and the events and channel_devices writes that must result.
// The expected answers are Capgo's (supabase/functions/_backend/plugins/
// channel_self.ts in Cap-go/capgo, and its tests/channel_self.test.ts), as
// the PostgreSQL-backed tests of this package verified them; the store's
// side (which rows a query selects, the channel_devices rows written) is
// tested there. The rate limits are in table_limits_test.go.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Answers every table uses.
const (
	okBody         = `{"status":"ok"}`
	allowSet       = `{"status":"ok","allowSet":true}`
	onPremise      = `{"error":"on_premise_app","message":"On-premise app detected"}`
	cannotOverride = `{"error":"cannot_override","message":"Cannot change device override current channel don't allow it"}`
	notFound       = `{"error":"channel_not_found","message":"Cannot find channel"}`
	unavailable    = `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`
)

// query is the snapshot query for dev after opts.
func query(opts ...func(*store.ChannelSelfQuery)) store.ChannelSelfQuery {
	q := store.ChannelSelfQuery{AppID: demoApp, DeviceID: dev}
	for _, o := range opts {
		o(&q)
	}
	return q
}

// oldQuery is what an old plugin's request asks: the override, the named
// channel, and (without one) the public channels.
func oldQuery(channel string, public bool) store.ChannelSelfQuery {
	return query(func(q *store.ChannelSelfQuery) { q.Override, q.Channel, q.Public = true, channel, public })
}

// TestTableRequestErrors: the 400s of the four verbs, answered before the
// store is asked anything.
func TestTableRequestErrors(t *testing.T) {
	t.Parallel()
	invalid := func(code, issues string) string {
		return `{"error":"` + code + `","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[` + issues + `]}}}}`
	}
	const semver = `{"error":"semver_error","message":"Native version: %s doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo","moreInfo":{"version_build":"%s"}}`
	rows := []row{
		{name: "POST a body that is not JSON", steps: []step{{req: post(rawJSON("{")), status: 400,
			body: `{"error":"invalid_json_parse_body","message":"Invalid JSON body","moreInfo":{"e":{}}}`}}},
		{name: "POST an empty object", steps: []step{{req: post(map[string]any{}), status: 400,
			body: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "POST a JSON null body (Capgo: 500)", steps: []step{{req: post(rawJSON("null")), status: 400,
			body: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"body":null}}`}}},
		{name: "PUT a numeric device_id (Capgo: 500)", steps: []step{{req: put(body(with("device_id", 12))), status: 400,
			body: invalid("invalid_json_body", `{"message":"Device ID must be a string","path":["device_id"],"code":"custom"}`)}}},
		{name: "POST a non-string version_build (Capgo: 500)", steps: []step{{req: post(body(with("version_build", 5), asks("beta"))), status: 400,
			body: invalid("invalid_json_body", `{"message":"Version build must be a string","path":["version_build"],"code":"custom"}`)}}},
		{name: "POST without device_id echoes the body", steps: []step{{req: post(body(without("device_id"), asks("beta"))), status: 400,
			body: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"channel":"beta"}}}`}}},
		{name: "POST without app_id echoes the body", steps: []step{{req: post(body(without("app_id"))), status: 400,
			body: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"device_id":"` + dev + `","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "POST a native version that is not semver", steps: []step{{req: post(body(with("version_build", "1.0.0.0.1"))), status: 400,
			body: strings.ReplaceAll(semver, "%s", "1.0.0.0.1")}}},
		{name: "PUT an unsupported platform", steps: []step{{req: put(body(with("platform", "web"))), status: 400,
			body: invalid("invalid_json_body", `{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}`)}}},
		{name: "PUT without device_id", steps: []step{{req: put(body(without("device_id"))), status: 400,
			body: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "DELETE without a query", steps: []step{{req: del(map[string]any{}), status: 400,
			body: `{"error":"invalid_query_parameters","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "DELETE without device_id fills is_prod in", steps: []step{{req: del(body(without("device_id", "is_prod"))), status: 400,
			body: `{"error":"missing_device_id","message":"Cannot find device_id","moreInfo":{"body":{"app_id":"com.demo.app","platform":"android","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}}}`}}},
		{name: "DELETE a native version that is not semver", steps: []step{{req: del(body(with("version_build", "x.y"))), status: 400,
			body: strings.ReplaceAll(semver, "%s", "x.y")}}},
		{name: "GET without a query", steps: []step{{req: list(map[string]any{}), status: 400,
			body: `{"error":"invalid_query_parameters","message":"Cannot parse body","moreInfo":{"body":{}}}`}}},
		{name: "GET without app_id", steps: []step{{req: list(map[string]any{"platform": "ios"}), status: 400,
			body: `{"error":"missing_app_id","message":"Cannot find app_id","moreInfo":{"body":{"platform":"ios","is_emulator":false,"is_prod":true}}}`}}},
		{name: "GET with a bad app_id and platform lists both issues", steps: []step{{req: list(map[string]any{"app_id": "nope", "platform": "web"}), status: 400,
			body: invalid("invalid_query_parameters", `{"message":"App ID must be a reverse domain string","path":["app_id"],"code":"custom"},{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}`)}}},
		{name: "POST a NUL in channel (PostgreSQL cannot store it; it was a 503)", steps: []step{{req: post(body(asks("beta\u0000"))), status: 400,
			body: invalid("invalid_json_body", `{"message":"String must not contain the NUL character","path":["channel"],"code":"custom"}`)}}},
		{name: "PUT a NUL in defaultChannel and plugin_version", steps: []step{{req: put(body(with("defaultChannel", "\u0000"), with("plugin_version", "6.0.0\u0000"))), status: 400,
			body: invalid("invalid_json_body", `{"message":"String must not contain the NUL character","path":["defaultChannel"],"code":"custom"},{"message":"String must not contain the NUL character","path":["plugin_version"],"code":"custom"}`)}}},
		{name: "DELETE a NUL (%00) in the query", steps: []step{{req: del(body(with("custom_id", "a\u0000"))), status: 400,
			body: invalid("invalid_query_parameters", `{"message":"String must not contain the NUL character","path":["custom_id"],"code":"custom"}`)}}},
		{name: "GET invalid UTF-8 (%FF) in the query", steps: []step{{req: list(map[string]any{"app_id": "com.demo.app", "platform": "ios", "key_id": "\xff"}), status: 400,
			body: invalid("invalid_query_parameters", `{"message":"String must be valid UTF-8","path":["key_id"],"code":"custom"}`)}}},
		{name: "PATCH is not a route", steps: []step{{req: request{method: http.MethodPatch}, status: 404,
			body: `{"error":"not_found","message":"Not found"}`}}},
		{name: "POST and PUT bodies over 1 MiB are payload_too_large", steps: []step{
			{req: post(rawJSON(`{` + strings.Repeat(" ", 1<<20) + `}`)), status: 413, body: `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`},
			{req: put(rawJSON(`{` + strings.Repeat(" ", 1<<20) + `}`)), status: 413, body: `{"error":"payload_too_large","message":"Request body exceeds 1048576 bytes"}`},
		}},
	}
	for i := range rows {
		rows[i].snap = snap()
		rows[i].queries = []store.ChannelSelfQuery{} // none
	}
	runRows(t, rows)
}

// TestTableOnPremise: an unknown app, or an org over its MAU, is 429
// on_premise_app on every verb.
func TestTableOnPremise(t *testing.T) {
	t.Parallel()
	unknown := []bodyOpt{with("app_id", "com.unknown.app"), asks("beta")}
	planOver := snap(app(planInvalid()))
	runRows(t, []row{
		{name: "an unknown app is on_premise_app, recording nothing", steps: []step{
			{req: post(body(unknown...)), status: 429, body: onPremise},
			{req: put(body(unknown...)), status: 429, body: onPremise},
			{req: del(body(unknown...)), status: 429, body: onPremise},
			{req: list(body(unknown...)), status: 429, body: onPremise},
			{after: time.Minute, req: post(body(append(unknown, newPlugin())...)), status: 429, body: onPremise},
		}},
		{name: "over its MAU: set records needPlanUpgrade and the device", snap: planOver,
			steps:  []step{{req: post(body(asks("beta"))), status: 429, body: onPremise}},
			events: recorded("needPlanUpgrade")},
		{name: "over its MAU: get", snap: planOver,
			steps:  []step{{req: put(body(newPlugin())), status: 429, body: onPremise}},
			events: recorded("needPlanUpgrade", devNewPlugin())},
		{name: "over its MAU: unset", snap: planOver,
			steps:  []step{{req: del(body()), status: 429, body: onPremise}},
			events: recorded("needPlanUpgrade")},
		{name: "over its MAU: list with a device", snap: planOver,
			steps:  []step{{req: list(body()), status: 429, body: onPremise}},
			events: recorded("needPlanUpgrade")},
		{name: "over its MAU: list without a device records nothing", snap: planOver,
			steps: []step{{req: list(body(without("device_id"))), status: 429, body: onPremise}}},
	})
}

// TestTableSet: POST validates for new plugins and stores the override
// (channel_devices) for old ones.
func TestTableSet(t *testing.T) {
	t.Parallel()
	const removeFailed = `{"error":"override_not_allowed","message":"Cannot remove channel override"}`
	runRows(t, []row{
		{name: "no channel is missing_channel, before the store", snap: snap(), steps: []step{
			{req: post(body()), status: 200, body: `{"error":"missing_channel","message":"Cannot find channel in body"}`},
			{req: post(body(asks(""))), status: 200, body: `{"error":"missing_channel","message":"Cannot find channel in body"}`},
		}, queries: []store.ChannelSelfQuery{}},
		{name: "an unknown channel is channel_not_found naming it", snap: snap(), steps: []step{
			{req: post(body(asks("nope"))), status: 200, body: `{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.demo.app"}`},
		}},
		{name: "a public channel without self-set", snap: snap(channel("production", selfSet(false))), steps: []step{
			{req: post(body(newPlugin(), asks("production"))), status: 200,
				body: `{"error":"public_channel_self_set_not_allowed","message":"This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.","channel":"production","app_id":"com.demo.app"}`},
		}},
		{name: "a private channel without self-set", snap: snap(channel("beta", selfSet(false))), steps: []step{
			{req: post(body(asks("beta"))), status: 200,
				body: `{"error":"channel_self_set_not_allowed","message":"This channel does not allow devices to self associate","channel":"beta","app_id":"com.demo.app"}`},
		}},
		{name: "new plugin: validated, not stored", snap: snap(override("development")), steps: []step{
			{req: post(body(newPlugin(), asks("beta"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devNewPlugin()),
			queries: []store.ChannelSelfQuery{query(func(q *store.ChannelSelfQuery) { q.Channel = "beta" })}},
		{name: "a missing plugin_version counts as new", snap: snap(), steps: []step{
			{req: post(body(without("plugin_version"), asks("beta"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devPlugin(""))},
		{name: "new plugin: a channel of another platform is accepted", snap: snap(), steps: []step{
			{req: post(body(newPlugin(), asks("no_access"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devNewPlugin())},
		{name: "new plugin: a locked override is not read", snap: snap(override("beta"), channel("beta", selfSet(false))), steps: []step{
			{req: post(body(newPlugin(), asks("development"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devNewPlugin())},
		{name: "old plugin: the override is stored", snap: snap(), steps: []step{
			{req: post(body(asks("beta"))), status: 200, body: okBody},
		}, events: recorded("setChannel"), writes: writes(setOverride(2)),
			queries: []store.ChannelSelfQuery{oldQuery("beta", true)}},
		{name: "an unparseable plugin_version counts as old", snap: snap(), steps: []step{
			{req: post(body(with("plugin_version", "abc"), asks("beta"))), status: 200, body: okBody},
		}, events: recorded("setChannel", devPlugin("abc")), writes: writes(setOverride(2))},
		{name: "old plugin: the override is replaced", snap: snap(override("beta")), steps: []step{
			{req: post(body(asks("development"))), status: 200, body: okBody},
		}, events: recorded("setChannel"), writes: writes(removeOverride(), setOverride(3))},
		{name: "old plugin: the channel it already has is a no-op", snap: snap(override("beta")), steps: []step{
			{req: post(body(asks("beta"))), status: 200, body: okBody},
		}},
		{name: "old plugin: the platform's public channel removes the override", snap: snap(override("beta")), steps: []step{
			{req: post(body(asks("production"))), status: 200, body: okBody},
		}, events: recorded("setChannel"), writes: writes(removeOverride())},
		{name: "old plugin: another platform's public channel is an override", snap: snap(), steps: []step{
			{req: post(body(asks("development"))), status: 200, body: okBody},
		}, events: recorded("setChannel"), writes: writes(setOverride(3))},
		{name: "old plugin: a locked override cannot change", snap: snap(override("beta"), channel("beta", selfSet(false))), steps: []step{
			{req: post(body(asks("development"))), status: 200, body: cannotOverride},
		}},
		{name: "old plugin: an override that cannot be written is override_not_allowed", snap: snap(), opts: []option{upsertFails()}, steps: []step{
			{req: post(body(asks("beta"))), status: 200, body: `{"error":"override_not_allowed","message":"Cannot do channel override"}`},
		}, writes: writes(setOverride(2))},
		{name: "old plugin: an old override that cannot be removed is override_not_allowed", snap: snap(override("development")), opts: []option{deleteFails()}, steps: []step{
			{req: post(body(asks("beta"))), status: 200, body: removeFailed},
			{req: post(body(asks("production"))), status: 200, body: removeFailed},
		}, writes: writes(removeOverride(), removeOverride())},
		{name: "custom_id (trimmed) and defaultChannel reach the device", snap: snap(), steps: []step{
			{req: post(body(newPlugin(), asks("beta"), with("custom_id", " me "), with("defaultChannel", "beta"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devNewPlugin(), devCustomID("me"), devDefault("beta"))},
		{name: "a custom_id the app blocks is dropped", snap: snap(app(allowCustomID(false))), steps: []step{
			{req: post(body(newPlugin(), asks("beta"), with("custom_id", "me"))), status: 200, body: allowSet},
		}, events: recorded("setChannel", devNewPlugin())},
		{name: "an upper-case device id is lowercased in the body", snap: snap(), steps: []step{
			{req: post(body(with("device_id", strings.ToUpper(dev)), asks("beta"))), status: 200, body: okBody},
		}, events: recorded("setChannel"), writes: writes(setOverride(2))},
	})
}

// TestTableGet: PUT echoes a new plugin's channel, and answers an old one
// its override or default channel.
func TestTableGet(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{name: "new plugin: its channel is echoed", snap: snap(), steps: []step{
			{req: put(body(newPlugin(), asks("beta"))), status: 200, body: `{"channel":"beta","status":"override","allowSet":true}`},
		}, events: recorded("getChannel", devNewPlugin()), queries: []store.ChannelSelfQuery{query()}},
		{name: "new plugin: its defaultChannel is the default", snap: snap(), steps: []step{
			{req: put(body(newPlugin(), with("defaultChannel", "whatever"))), status: 200, body: `{"channel":"whatever","status":"default"}`},
		}, events: recorded("getChannel", devNewPlugin(), devDefault("whatever"))},
		{name: "new plugin: production without a channel, whatever the server holds", snap: snap(override("beta")), steps: []step{
			{req: put(body(newPlugin())), status: 200, body: `{"channel":"production","status":"default"}`},
		}, events: recorded("getChannel", devNewPlugin())},
		{name: "old plugin: its override", snap: snap(override("beta")), steps: []step{
			{req: put(body()), status: 200, body: `{"channel":"beta","status":"override","allowSet":true}`},
		}, events: recorded("getChannel"), queries: []store.ChannelSelfQuery{oldQuery("", true)}},
		{name: "old plugin: a locked override says so", snap: snap(override("beta"), channel("beta", selfSet(false))), steps: []step{
			{req: put(body()), status: 200, body: `{"channel":"beta","status":"override","allowSet":false}`},
		}, events: recorded("getChannel")},
		{name: "old plugin: the platform's public channel", snap: snap(), steps: []step{
			{req: put(body()), status: 200, body: `{"channel":"production","status":"default"}`},
			{req: put(body(with("platform", "ios"))), status: 200, body: `{"channel":"development","status":"default"}`},
		}, events: events(recorded("getChannel"), recorded("getChannel", devPlatform("ios")))},
		{name: "old plugin: the defaultChannel whatever its platforms", snap: snap(), steps: []step{
			{req: put(body(with("defaultChannel", "no_access"))), status: 200, body: `{"channel":"no_access","status":"default"}`},
		}, events: recorded("getChannel", devDefault("no_access")), queries: []store.ChannelSelfQuery{oldQuery("no_access", false)}},
		{name: "old plugin: an unknown defaultChannel is channel_not_found", snap: snap(), steps: []step{
			{req: put(body(with("defaultChannel", "nope"))), status: 200, body: notFound},
		}},
		{name: "old plugin: no public channel is channel_not_found", snap: snap(channel("production", isPublic(false)), channel("development", isPublic(false))), steps: []step{
			{req: put(body()), status: 200, body: notFound},
		}},
		{name: "old plugin: no public channel for the platform is channel_not_found", snap: snap(channel("production", isPublic(false))), steps: []step{
			{req: put(body()), status: 200, body: notFound},
		}},
	})
}

// TestTableUnset: DELETE (query string).
func TestTableUnset(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{name: "new plugin: channel_devices is left alone", snap: snap(override("beta")), steps: []step{
			{req: del(body(newPlugin())), status: 200, body: okBody},
		}, events: recorded("setChannel", devNewPlugin()), queries: []store.ChannelSelfQuery{query()}},
		{name: "old plugin: the override is removed, no stats", snap: snap(override("beta")), steps: []step{
			{req: del(body()), status: 200, body: okBody},
		}, writes: writes(removeOverride()), queries: []store.ChannelSelfQuery{oldQuery("", false)}},
		{name: "old plugin: no override is cannot_override", snap: snap(), steps: []step{
			{req: del(body()), status: 200, body: cannotOverride},
		}},
		{name: "old plugin: a locked override is cannot_override", snap: snap(override("beta"), channel("beta", selfSet(false))), steps: []step{
			{req: del(body()), status: 200, body: cannotOverride},
		}},
		{name: "old plugin: an override that cannot be deleted is override_not_allowed", snap: snap(override("beta")), opts: []option{deleteFails()}, steps: []step{
			{req: del(body()), status: 200, body: `{"error":"override_not_allowed","message":"Cannot delete channel override"}`},
		}, writes: writes(removeOverride())},
		{name: "an upper-case device id is lowercased in the query", snap: snap(override("beta")), steps: []step{
			{req: del(body(with("device_id", strings.ToUpper(dev)))), status: 200, body: okBody},
		}, writes: writes(removeOverride())},
	})
}

// TestTableList: GET answers the channels the store selects as a bare
// array, recording nothing.
func TestTableList(t *testing.T) {
	t.Parallel()
	const (
		prod = `{"id":1,"name":"production","public":true,"allow_self_set":true}`
		beta = `{"id":2,"name":"beta","public":false,"allow_self_set":true}`
	)
	filter := func(emulator, prod bool) store.ChannelSelfQuery {
		return query(func(q *store.ChannelSelfQuery) {
			q.List = &store.ChannelFilter{Platform: "android", IsEmulator: emulator, IsProd: prod}
		})
	}
	runRows(t, []row{
		{name: "the selected channels", snap: snap(listed("production", "beta")), steps: []step{
			{req: list(body()), status: 200, body: `[` + prod + `,` + beta + `]`},
		}, queries: []store.ChannelSelfQuery{filter(false, true)}},
		{name: "without device_id", snap: snap(listed("production", "beta")), steps: []step{
			{req: list(body(without("device_id"))), status: 200, body: `[` + prod + `,` + beta + `]`},
		}, queries: []store.ChannelSelfQuery{query(func(q *store.ChannelSelfQuery) {
			q.DeviceID, q.List = "", &store.ChannelFilter{Platform: "android", IsProd: true}
		})}},
		{name: "a public channel without self-set says so", snap: snap(listed("production"), channel("production", selfSet(false))), steps: []step{
			{req: list(body()), status: 200, body: `[{"id":1,"name":"production","public":true,"allow_self_set":false}]`},
		}},
		{name: "the device and build kinds filter, a missing is_prod is prod", snap: snap(listed("beta")), steps: []step{
			{req: list(body(with("is_emulator", true))), status: 200, body: `[` + beta + `]`},
			{req: list(body(with("is_prod", false))), status: 200, body: `[` + beta + `]`},
			{req: list(body(without("is_prod"))), status: 200, body: `[` + beta + `]`},
		}, queries: []store.ChannelSelfQuery{filter(true, true), filter(false, false), filter(false, true)}},
		{name: "nothing to list is an empty array", snap: snap(), steps: []step{
			{req: list(body()), status: 200, body: `[]`},
		}},
	})
}

// TestTableUnavailable: a store or recorder that cannot take the request
// is 503 so the device retries; answers that record nothing need no
// recorder.
func TestTableUnavailable(t *testing.T) {
	t.Parallel()
	runRows(t, []row{
		{name: "a store that cannot answer is 503 on every verb", snap: snap(), opts: []option{storeDown()}, steps: []step{
			{req: post(body(asks("beta"))), status: 503, body: unavailable},
			{req: put(body(newPlugin())), status: 503, body: unavailable},
			{req: del(body()), status: 503, body: unavailable},
			{req: list(body()), status: 503, body: unavailable},
		}},
		{name: "a recorder that takes nothing is 503", snap: snap(), opts: []option{recorderClosed()}, steps: []step{
			{req: put(body(newPlugin())), status: 503, body: unavailable},
			{req: del(body()), status: 200, body: cannotOverride},
		}},
	})
}
