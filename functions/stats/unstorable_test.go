package stats

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
)

// TestUnstorableText: text PostgreSQL cannot hold (a NUL) is refused as
// bad input on the seeded database: a single event is a 400 that writes
// nothing, and in a batch only the offending events are item errors while
// the others are written (before, the failed write made the whole batch
// 503, which plugins resend forever).
func TestUnstorableText(t *testing.T) {
	t.Parallel()
	const nulIssue = `{"error":"invalid_json_body","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[` +
		`{"message":"String must not contain the NUL character","path":["defaultChannel"],"code":"custom"}]}}}}`
	runCases(t, []statsCase{
		{
			name: "a single event with a NUL in defaultChannel writes nothing",
			body: withEvent(map[string]any{"defaultChannel": "beta\u0000"}), status: 400, want: nulIssue,
			rows: &rows{},
		},
		{
			name: "a batch writes the events around the ones with a NUL",
			body: func(dev string) any {
				return []any{
					functest.With(baseEvent(dev), map[string]any{"version_name": "1.0.0\u0000"}),
					baseEvent(dev),
					functest.With(baseEvent(dev), map[string]any{"action": "get", "metadata": map[string]any{"k": "\u0000"}}),
					functest.With(baseEvent(dev), map[string]any{"action": "app_moved_to_foreground", "old_version_name": "\u0000"}),
				}
			},
			status: 200,
			want: `{"status":"ok","results":[{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":0},` +
				`{"status":"ok","index":1},` +
				`{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":2},` +
				`{"status":"error","error":"invalid_json_body","message":"Cannot parse body","index":3}]}`,
			rows: &rows{stats: []string{"set:1.0.0"}, device: "1.0.0||-", mau: []string{"android:1.0.0"},
				versionUsage: []string{"install:1.0.0:production"}},
		},
	})
}
