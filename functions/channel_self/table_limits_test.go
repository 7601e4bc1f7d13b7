package channelself_test

// Capgo's /channel_self limits (channelSelfRateLimit.ts) and LIMITED_APPS
// as tables on the fake clock, which starts at 1800000000123 ms.

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// ipLimited is the 429 of the app+IP limiter, whose window opened at
// start.
func ipLimited(retry int) string {
	return `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"reason":"ip_rate_limit_exceeded","app_id":"com.demo.app",` +
		`"rateLimitResetAt":1800000060123,"retryAfterSeconds":` + strconv.Itoa(retry) + `}}`
}

// deviceLimited is the 429 of the per-device limiters.
func deviceLimited(app, device string, resetAt int64, retry int) string {
	return `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"` + app + `","device_id":"` + device +
		`","rateLimitResetAt":` + strconv.FormatInt(resetAt, 10) + `,"retryAfterSeconds":` + strconv.Itoa(retry) + `}}`
}

// retryHeaders are Capgo's rate-limit headers: X-RateLimit-Reset is the
// reset time in epoch seconds rounded up.
func retryHeaders(reset string, retry int) map[string]string {
	return map[string]string{"X-RateLimit-Reset": reset, "Retry-After": strconv.Itoa(retry)}
}

// TestTableRateLimits: the app+IP limit per minute, 5 requests per second
// per device and operation, the same channel not twice within 60 s; a
// request counts once it reached the store, whatever its answer.
func TestTableRateLimits(t *testing.T) {
	t.Parallel()
	const def = `{"channel":"production","status":"default"}`
	getAs := func(n int) request { return put(body(with("device_id", devN(n)), newPlugin())) }
	xff := func(r request) request { return r.from("X-Forwarded-For", "203.0.113.9, 10.0.0.1") }
	var notCounted []step
	for range 5 {
		notCounted = append(notCounted,
			step{req: xff(put(body(newPlugin(), with("platform", "web")))), status: 400,
				body: `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`},
			step{req: xff(post(body(newPlugin()))), status: 200, body: `{"error":"missing_channel","message":"Cannot find channel in body"}`},
		)
	}
	five := func(s step) []step { return []step{s, s, s, s, s} }
	newGets := func(ids ...int) []plugin.Event {
		var evs []plugin.Event
		for _, n := range ids {
			evs = append(evs, recorded("getChannel", devID(devN(n)), devNewPlugin())...)
		}
		return evs
	}
	get := step{req: put(body(newPlugin())), status: 200, body: def}
	deviceLimitedGet := step{req: put(body(newPlugin())), status: 429, body: deviceLimited(demoApp, dev, 1800000001123, 1),
		header: retryHeaders("1800000002", 1)}
	runRows(t, []row{
		{
			name: "one IP's requests per app and minute; bad requests do not count",
			snap: snap(), opts: []option{ipLimit(3), trustProxy()},
			steps: slices.Concat(notCounted, []step{
				{req: xff(getAs(1)), status: 200, body: def},
				{req: xff(getAs(2)), status: 200, body: def},
				{req: xff(getAs(3)), status: 200, body: def},
				{req: xff(getAs(4)), status: 429, body: ipLimited(60), header: retryHeaders("1800000061", 60)},
				// Every verb shares the app+IP counter.
				{req: xff(list(body(with("device_id", devN(5))))), status: 429, body: ipLimited(60)},
				{req: xff(post(body(with("device_id", devN(6)), asks("beta")))), status: 429, body: ipLimited(60)},
				// Another client IP, by X-Forwarded-For or X-Real-IP, has its own count.
				{req: getAs(7).from("X-Forwarded-For", "198.51.100.7"), status: 200, body: def},
				{req: getAs(8).from("X-Real-IP", "198.51.100.8"), status: 200, body: def},
				{after: 59*time.Second + 500*time.Millisecond, req: xff(getAs(9)), status: 429, body: ipLimited(1), header: retryHeaders("1800000061", 1)},
				{after: 500 * time.Millisecond, req: xff(getAs(10)), status: 200, body: def},
			}),
			events: newGets(1, 2, 3, 7, 8, 10),
		},
		{
			// Without --trusted-proxies the connection is the client.
			name: "a forged X-Forwarded-For or X-Real-IP does not evade the IP limit",
			snap: snap(), opts: []option{ipLimit(2)},
			steps: []step{
				{req: getAs(1).from("X-Forwarded-For", "198.51.100.1"), status: 200, body: def},
				{req: getAs(2).from("X-Forwarded-For", "198.51.100.2"), status: 200, body: def},
				{req: getAs(3).from("X-Forwarded-For", "198.51.100.3"), status: 429, body: ipLimited(60), header: retryHeaders("1800000061", 60)},
				{req: getAs(4).from("X-Real-IP", "198.51.100.4"), status: 429, body: ipLimited(60)},
			},
			events: newGets(1, 2),
		},
		{
			name: "requests the device limiter refuses do not count for the IP",
			snap: snap(), opts: []option{ipLimit(6)},
			steps: slices.Concat(five(get), []step{deviceLimitedGet, deviceLimitedGet, deviceLimitedGet,
				{req: getAs(2), status: 200, body: def},
				{req: getAs(3), status: 429, body: ipLimited(60), header: retryHeaders("1800000061", 60)},
			}),
			events: events(recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()),
				recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()), newGets(2)),
		},
		{
			name: "a device may repeat an operation 5 times per second",
			snap: snap(),
			steps: slices.Concat(five(get), []step{
				deviceLimitedGet,
				// Each operation has its own counter; other devices are unaffected.
				{req: del(body(newPlugin())), status: 200, body: okBody},
				{req: getAs(2), status: 200, body: def},
				{after: 400 * time.Millisecond, req: put(body(newPlugin())), status: 429, body: deviceLimited(demoApp, dev, 1800000001123, 1)},
				{after: 600 * time.Millisecond, req: put(body(newPlugin())), status: 200, body: def},
			}),
			events: events(recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()),
				recorded("getChannel", devNewPlugin()), recorded("getChannel", devNewPlugin()),
				recorded("setChannel", devNewPlugin()), newGets(2), recorded("getChannel", devNewPlugin())),
		},
		{
			name: "a device may not set the same channel twice within 60 s, refused or not",
			snap: snap(),
			steps: []step{
				{req: post(body(with("plugin_version", "8.0.0"), asks("beta"))), status: 200, body: allowSet},
				{after: 10 * time.Second, req: post(body(with("plugin_version", "8.0.0"), asks("beta"))), status: 429,
					body: deviceLimited(demoApp, dev, 1800000060123, 50), header: retryHeaders("1800000061", 50)},
				{req: post(body(with("plugin_version", "8.0.0"), asks("development"))), status: 200, body: allowSet},
				{req: post(body(with("plugin_version", "8.0.0"), asks("nope"))), status: 200,
					body: `{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.demo.app"}`},
				{req: post(body(with("plugin_version", "8.0.0"), asks("nope"))), status: 429, body: deviceLimited(demoApp, dev, 1800000070123, 60)},
				{after: 50 * time.Second, req: post(body(with("plugin_version", "8.0.0"), asks("beta"))), status: 200, body: allowSet},
			},
			events: events(recorded("setChannel", devPlugin("8.0.0")), recorded("setChannel", devPlugin("8.0.0")), recorded("setChannel", devPlugin("8.0.0"))),
		},
		{
			name: "listing is limited per device only when a device_id is given",
			snap: snap(listed("production")),
			steps: slices.Concat(
				five(step{req: list(body()), status: 200, body: `[{"id":1,"name":"production","public":true,"allow_self_set":true}]`}),
				[]step{{req: list(body()), status: 429, body: deviceLimited(demoApp, dev, 1800000001123, 1)}},
				five(step{req: list(body(without("device_id"))), status: 200, body: `[{"id":1,"name":"production","public":true,"allow_self_set":true}]`}),
				[]step{{req: list(body(without("device_id"))), status: 200, body: `[{"id":1,"name":"production","public":true,"allow_self_set":true}]`}},
			),
		},
		{
			name: "on_premise_app answers count",
			steps: slices.Concat(
				five(step{req: put(body(with("app_id", "com.unknown.app"))), status: 429, body: onPremise}),
				[]step{{req: put(body(with("app_id", "com.unknown.app"))), status: 429, body: deviceLimited("com.unknown.app", dev, 1800000001123, 1)}},
			),
		},
	})
}

// TestTableLimitedApps: LIMITED_APPS refuses an app before anything else,
// naming the app and the device_id as sent (a JSON null kept, an absent
// one left out), without rate-limit headers.
func TestTableLimitedApps(t *testing.T) {
	t.Parallel()
	const (
		withDevice = `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":"` + dev + `"}}`
		appOnly    = `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`
		nullDevice = `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":null}}`
	)
	noRetry := map[string]string{"Retry-After": "", "X-RateLimit-Reset": ""}
	bad := body(with("device_id", strings.ToUpper(dev)), with("version_build", "not semver"))
	runRows(t, []row{
		{name: "every verb, before validation, with the device id lowercased", snap: snap(), opts: []option{limited()}, steps: []step{
			{req: post(bad), status: 429, body: withDevice, header: noRetry},
			{req: put(bad), status: 429, body: withDevice, header: noRetry},
			{req: del(bad), status: 429, body: withDevice, header: noRetry},
			{req: list(bad), status: 429, body: withDevice, header: noRetry},
		}, queries: []store.ChannelSelfQuery{}},
		{name: "a list without device_id names the app only", snap: snap(), opts: []option{limited()}, steps: []step{
			{req: list(map[string]any{"app_id": demoApp, "platform": "ios"}), status: 429, body: appOnly},
		}},
		{name: "a JSON null device_id is echoed", snap: snap(), opts: []option{limited()}, steps: []step{
			{req: post(rawJSON(`{"app_id":"com.demo.app","device_id":null}`)), status: 429, body: nullDevice},
			{req: put(rawJSON(`{"app_id":"com.demo.app","device_id":null}`)), status: 429, body: nullDevice},
		}},
		{name: "an empty device_id parameter is echoed", snap: snap(), opts: []option{limited()}, steps: []step{
			{req: del(map[string]any{"app_id": demoApp, "device_id": ""}), status: 429,
				body: `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":""}}`},
		}},
		{name: "another app is not limited", snap: snap(), opts: []option{limited()}, steps: []step{
			{req: put(body(with("app_id", "com.other.app"), newPlugin())), status: 429, body: onPremise},
		}},
	})
}
