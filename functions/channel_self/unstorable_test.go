package channelself

import "testing"

// TestUnstorableText: text PostgreSQL cannot hold (a NUL) is a 400 on the
// seeded database, writing nothing (before, the failed query was a 503),
// and the device's next valid request is served as usual.
func TestUnstorableText(t *testing.T) {
	t.Parallel()
	issue := func(code, path string) string {
		return `{"error":"` + code + `","message":"Cannot parse body","moreInfo":{"parseResult":{"success":false,"error":{"name":"SchemaError","issues":[` +
			`{"message":"String must not contain the NUL character","path":["` + path + `"],"code":"custom"}]}}}}`
	}
	runCases(t, []selfCase{
		{name: "a NUL in channel, defaultChannel or the query, then a valid set", steps: []step{
			{method: post, changes: map[string]any{"channel": "beta\u0000"}, status: 400, want: issue("invalid_json_body", "channel")},
			{method: put, changes: map[string]any{"defaultChannel": "\u0000"}, status: 400, want: issue("invalid_json_body", "defaultChannel")},
			{method: del, changes: map[string]any{"custom_id": "\u0000"}, status: 400, want: issue("invalid_query_parameters", "custom_id")},
			{method: post, changes: merge(newPlugin, map[string]any{"channel": "beta"}), status: 200, want: `{"status":"ok","allowSet":true}`},
		}, rows: &rows{stats: []string{"setChannel:1.0.0"}, device: "1.0.0||-"}},
	})
}
