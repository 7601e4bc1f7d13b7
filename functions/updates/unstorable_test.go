package updates

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// TestUnstorableText: text PostgreSQL cannot hold (a NUL) is a 400 on the
// seeded database, writing nothing (before, the failed query was a 503),
// and the device's next valid check is served and recorded as usual.
func TestUnstorableText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := functest.NewDeviceID()
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_name": "1.1.0", "defaultChannel": "beta\u0000"})).Want(t, 400,
		`{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[`+
			`{"message":"String must not contain the NUL character","path":["defaultChannel"],"code":"custom"}]}}}}`)
	if got, want := e.rowsOf(dev), [3]int{0, 0, 0}; got != want {
		t.Errorf("after the 400: stats, device_usage, devices rows = %v, want %v", got, want)
	}
	e.Post(functest.With(functest.BaseBody(dev), map[string]any{"version_name": "1.1.0"})).Want(t, 200,
		`{"version":"1.0.0","url":"`+zipURL("1.0.0", "3885ee49", dev)+`","session_key":"","checksum":"3885ee49"}`)
	if got, want := e.rowsOf(dev), [3]int{1, 1, 1}; got != want {
		t.Errorf("after the valid check: stats, device_usage, devices rows = %v, want %v", got, want)
	}
}
