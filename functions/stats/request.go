package stats

import (
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// event is one validated /stats event: the info object (with a free-form
// platform, and a version_name that may be "1.2.3:file") and the event's
// own fields.
type event struct {
	plugin.Info
	Action         string
	OldVersionName string
	Metadata       map[string]string // normalised; nil when empty
}

// statsSchema is Capgo's statsRequestSchema plus one rule of ours: an
// event must name its action. Capgo accepts an event without one and
// then crashes on it (500), so we answer a clear 400 (docs/compat.md).
func statsSchema(m map[string]any) []plugin.Issue {
	issues := plugin.StatsSchema(m)
	if _, ok := m["action"]; !ok {
		issues = append(issues, plugin.Issue{Message: "action is required", Path: []string{"action"}})
	}
	return issues
}

// parseEvent is Capgo's parsePluginBody with the stats schema.
func parseEvent(raw plugin.Body) (event, error) {
	m, err := plugin.ParsePluginBody(plugin.CodeInvalidJSONBody, raw, statsSchema, true)
	if err != nil {
		return event{}, err
	}
	return event{
		Info:           plugin.InfoOf(m),
		Action:         str(m, "action"),
		OldVersionName: str(m, "old_version_name"),
		Metadata:       normalizeMetadata(m["metadata"]),
	}, nil
}

// normalizeMetadata is Capgo's normalizeStatsMetadata on a validated
// metadata object (at most 30 keys of at most 64 characters, string values
// of at most 2048): empty keys are dropped, and no keys at all is nil.
func normalizeMetadata(v any) map[string]string {
	md, _ := v.(map[string]any)
	var out map[string]string
	for k, val := range md {
		s, ok := val.(string)
		if k == "" || !ok {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(md))
		}
		out[k] = s
	}
	return out
}

// str returns a string field or "".
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
