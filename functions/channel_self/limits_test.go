package channelself

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// tooMany is the 429 body of the per-device limiter.
func tooMany(dev string, resetAt time.Time, retry int) string {
	return `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":"` + dev +
		`","rateLimitResetAt":` + strconv.FormatInt(resetAt.UnixMilli(), 10) + `,"retryAfterSeconds":` + strconv.Itoa(retry) + `}}`
}

// wantHeaders checks Capgo's rate-limit headers.
func wantHeaders(t *testing.T, r functest.Response, resetAt time.Time, retry int) {
	t.Helper()
	reset := strconv.FormatInt((resetAt.UnixMilli()+999)/1000, 10)
	if got := r.Header.Get("X-RateLimit-Reset"); got != reset {
		t.Errorf("X-RateLimit-Reset = %q, want %q", got, reset)
	}
	if got := r.Header.Get("Retry-After"); got != strconv.Itoa(retry) {
		t.Errorf("Retry-After = %q, want %d", got, retry)
	}
}

func TestIPLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ipLimit(3))
	xff := []string{"X-Forwarded-For", "203.0.113.9, 10.0.0.1"}
	newGet := func() map[string]any { return functest.With(functest.BaseBody(functest.NewDeviceID()), newPlugin) }
	limited := `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"reason":"ip_rate_limit_exceeded","app_id":"com.demo.app","rateLimitResetAt":` +
		strconv.FormatInt(start.Add(time.Minute).UnixMilli(), 10) + `,"retryAfterSeconds":%d}}`

	// Requests that stop before the database stage are not counted.
	for range 5 {
		e.call(put, functest.With(newGet(), map[string]any{"platform": "web"}), xff...).Want(t, 400, `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[{"message":"Platform is not supported or invalid","path":["platform"],"code":"custom"}]}}}}`)
		e.call(post, newGet(), xff...).Want(t, 200, `{"error":"missing_channel","message":"Cannot find channel in body"}`)
	}
	for range 3 {
		e.call(put, newGet(), xff...).Want(t, 200, `{"channel":"production","status":"default"}`)
	}
	res := e.call(put, newGet(), xff...)
	res.Want(t, 429, fmt.Sprintf(limited, 60))
	wantHeaders(t, res, start.Add(time.Minute), 60)
	// Every verb shares the app+IP counter; the limit is checked before
	// anything else but the request's validity.
	e.call(get, newGet(), xff...).Want(t, 429, fmt.Sprintf(limited, 60))
	e.call(post, newGet(), xff...).Want(t, 429, fmt.Sprintf(limited, 60))

	// Another client IP, by X-Forwarded-For or X-Real-IP, has its own count.
	e.call(put, newGet(), "X-Forwarded-For", "198.51.100.7").Want(t, 200, `{"channel":"production","status":"default"}`)
	e.call(put, newGet(), "X-Real-IP", "198.51.100.8").Want(t, 200, `{"channel":"production","status":"default"}`)

	e.clock.Advance(59*time.Second + 500*time.Millisecond)
	res = e.call(put, newGet(), xff...)
	res.Want(t, 429, fmt.Sprintf(limited, 1))
	wantHeaders(t, res, start.Add(time.Minute), 1)
	e.clock.Advance(500 * time.Millisecond)
	e.call(put, newGet(), xff...).Want(t, 200, `{"channel":"production","status":"default"}`)
}

func TestIPLimitIgnoresDeviceLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ipLimit(6))
	dev := functest.NewDeviceID()
	body := functest.With(functest.BaseBody(dev), newPlugin)
	for range 5 {
		e.call(put, body).Want(t, 200, `{"channel":"production","status":"default"}`)
	}
	for range 3 { // refused by the device limiter: not counted for the IP
		e.call(put, body).Want(t, 429, tooMany(dev, start.Add(time.Second), 1))
	}
	e.call(put, functest.With(functest.BaseBody(functest.NewDeviceID()), newPlugin)).Want(t, 200, `{"channel":"production","status":"default"}`)
	res := e.call(put, functest.With(functest.BaseBody(functest.NewDeviceID()), newPlugin))
	if res.Status != 429 {
		t.Fatalf("7th counted request: status %d, want 429 (%s)", res.Status, res.Raw)
	}
}

func TestDeviceOperationLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	body := functest.With(functest.BaseBody(dev), newPlugin)
	for range 5 {
		e.call(put, body).Want(t, 200, `{"channel":"production","status":"default"}`)
	}
	res := e.call(put, body)
	res.Want(t, 429, tooMany(dev, start.Add(time.Second), 1))
	wantHeaders(t, res, start.Add(time.Second), 1)

	// Each operation has its own counter; other devices are unaffected.
	e.call(del, body).Want(t, 200, ok)
	e.call(put, functest.With(functest.BaseBody(functest.NewDeviceID()), newPlugin)).Want(t, 200, `{"channel":"production","status":"default"}`)

	e.clock.Advance(400 * time.Millisecond)
	e.call(put, body).Want(t, 429, tooMany(dev, start.Add(time.Second), 1))
	e.clock.Advance(600 * time.Millisecond)
	e.call(put, body).Want(t, 200, `{"channel":"production","status":"default"}`)
	e.checkRows(t, dev, rows{stats: []string{"getChannel:1.0.0", "getChannel:1.0.0", "getChannel:1.0.0", "getChannel:1.0.0",
		"getChannel:1.0.0", "setChannel:1.0.0", "getChannel:1.0.0"}, device: "1.0.0||-"})
}

func TestSameChannelLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	set := func(channel string) map[string]any {
		return functest.With(functest.BaseBody(dev), map[string]any{"plugin_version": "8.0.0", "channel": channel})
	}
	e.call(post, set("beta")).Want(t, 200, `{"status":"ok","allowSet":true}`)
	e.clock.Advance(10 * time.Second)
	res := e.call(post, set("beta"))
	res.Want(t, 429, tooMany(dev, start.Add(time.Minute), 50))
	wantHeaders(t, res, start.Add(time.Minute), 50)
	e.call(post, set("development")).Want(t, 200, `{"status":"ok","allowSet":true}`)
	// A refused set counts too: it reached the database.
	e.call(post, set("nope")).Want(t, 200, `{"error":"channel_not_found","message":"Cannot find channel","channel":"nope","app_id":"com.demo.app"}`)
	e.call(post, set("nope")).Want(t, 429, tooMany(dev, start.Add(70*time.Second), 60))
	e.clock.Advance(50 * time.Second)
	e.call(post, set("beta")).Want(t, 200, `{"status":"ok","allowSet":true}`)
}

func TestListLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.channelIDs()
	dev := functest.NewDeviceID()
	list := ids.Replace(`[{"id":{{id:production}},"name":"production","public":true,"allow_self_set":true},{"id":{{id:beta}},"name":"beta","public":false,"allow_self_set":true}]`)
	for range 5 {
		e.call(get, functest.BaseBody(dev)).Want(t, 200, list)
	}
	e.call(get, functest.BaseBody(dev)).Want(t, 429, tooMany(dev, start.Add(time.Second), 1))
	// Without device_id only the IP limit applies.
	for range 6 {
		e.call(get, functest.With(functest.BaseBody(dev), map[string]any{"device_id": nil})).Want(t, 200, list)
	}
}

func TestOnPremiseAnswersCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	body := functest.With(functest.BaseBody(dev), map[string]any{"app_id": "com.unknown.app"})
	for range 5 {
		e.call(put, body).Want(t, 429, onPremise)
	}
	e.call(put, body).Want(t, 429, `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.unknown.app","device_id":"`+dev+
		`","rateLimitResetAt":`+strconv.FormatInt(start.Add(time.Second).UnixMilli(), 10)+`,"retryAfterSeconds":1}}`)
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"first X-Forwarded-For entry", map[string]string{"X-Forwarded-For": " 203.0.113.9 , 10.0.0.1", "X-Real-IP": "10.0.0.2"}, "203.0.113.9"},
		{"X-Real-IP", map[string]string{"X-Real-IP": "10.0.0.2"}, "10.0.0.2"},
		{"empty X-Forwarded-For entry", map[string]string{"X-Forwarded-For": " , 10.0.0.1"}, "192.0.2.1"},
		{"remote address", nil, "192.0.2.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestLimitedApps: Capgo's LIMITED_APPS refuses an app before anything
// else, naming the app and the device it was sent.
func TestLimitedApps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.Limited = plugin.LimitedApps{functest.DemoApp: 1} })
	dev := functest.NewDeviceID()
	want := `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":"` + dev + `"}}`
	for _, method := range []string{post, put, del, get} {
		res := e.call(method, functest.With(functest.BaseBody(strings.ToUpper(dev)), map[string]any{"version_build": "not semver"}))
		res.Want(t, 429, want)
		if res.Header.Get("Retry-After") != "" {
			t.Errorf("%s: Retry-After %q, want none", method, res.Header.Get("Retry-After"))
		}
	}
	e.call(get, map[string]any{"app_id": functest.DemoApp, "platform": "ios"}).Want(t, 429, `{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app"}}`)
	// Capgo echoes body.device_id as it is: a JSON null is kept (only an
	// absent one is left out), an empty query parameter is "".
	for _, method := range []string{post, put} {
		e.call(method, functest.RawJSON(`{"app_id":"com.demo.app","device_id":null}`)).Want(t, 429,
			`{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":null}}`)
	}
	e.call(del, map[string]any{"app_id": functest.DemoApp, "device_id": ""}).Want(t, 429,
		`{"error":"too_many_requests","message":"Too many requests","moreInfo":{"app_id":"com.demo.app","device_id":""}}`)
	e.checkRows(t, dev, rows{})
}

// TestRecorderClosed: when the recorder takes nothing (shutting down, or
// its queue full) the answer is 503 so the device retries; answers that
// record nothing are unaffected.
func TestRecorderClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.Recorder = functest.ClosedRecorder(t, d.Store.(*pgstore.Store)) })
	dev := functest.NewDeviceID()
	e.call(put, functest.With(functest.BaseBody(dev), newPlugin)).Want(t, 503, `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`)
	e.call(del, functest.BaseBody(dev)).Want(t, 200, cannotOverride)
}
