package updates

import (
	"fmt"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// TestRolloutBuckets: buckets are uniform enough, deterministic, and a
// higher percentage selects a superset.
func TestRolloutBuckets(t *testing.T) {
	t.Parallel()
	const n = 20000
	rolloutID := "7c1e5b6e-3f1a-4b8e-9a55-1d2f3c4b5a69"
	ch := &store.Channel{RolloutEnabled: true, RolloutID: rolloutID, RolloutVersion: &store.Bundle{Name: "2.0.0"}}
	prev := map[int]bool{}
	for _, pct := range []int{0, 100, 1000, 2500, 5000, 9999, 10000, 12000} {
		ch.RolloutPercentageBps = pct
		selected := 0
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
			sel := rolloutSelected(ch, id, "1.0.0")
			if sel != rolloutSelected(ch, id, "1.0.0") {
				t.Fatalf("device %s: not deterministic", id)
			}
			if prev[i] && !sel {
				t.Fatalf("pct %d: device %s dropped out when the percentage rose", pct, id)
			}
			if sel {
				prev[i] = true
				selected++
			}
		}
		want := float64(min(pct, 10000)) / 10000
		if got := float64(selected) / n; got < want-0.02 || got > want+0.02 {
			t.Errorf("pct %d selected %.3f of devices, want about %.3f", pct, got, want)
		}
	}
}

func TestRolloutRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	base := func() *store.Channel {
		return &store.Channel{RolloutEnabled: true, RolloutPercentageBps: 10000, RolloutID: "r", RolloutVersion: &store.Bundle{Name: "2.0.0"}}
	}
	cases := []struct {
		name    string
		mutate  func(*store.Channel)
		current string
		want    bool
	}{
		{"disabled", func(c *store.Channel) { c.RolloutEnabled = false }, "2.0.0", false},
		{"already on the rollout bundle", func(c *store.Channel) { c.RolloutPercentageBps = 0 }, "2.0.0", true},
		{"paused", func(c *store.Channel) { c.RolloutPausedAt = &now }, "1.0.0", false},
		{"paused keeps devices on it", func(c *store.Channel) { c.RolloutPausedAt = &now }, "2.0.0", true},
		{"zero percent", func(c *store.Channel) { c.RolloutPercentageBps = 0 }, "1.0.0", false},
		{"full", func(*store.Channel) {}, "1.0.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			if got := rolloutSelected(c, "00000000-0000-4000-8000-000000000001", tc.current); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecideWithoutApp: unknown apps record a "get" stat only.
func TestDecideWithoutApp(t *testing.T) {
	t.Parallel()
	req := plugin.UpdateRequest{Info: plugin.Info{AppID: "com.x.y", DeviceID: "d", VersionName: "1.0.0"}}
	out := decide(req, nil)
	if out.answer == nil || out.answer.Code != "on_premise_app" || out.answer.Status != 429 {
		t.Fatalf("answer = %+v", out.answer)
	}
	want := plugin.StatsEvent{AppID: "com.x.y", DeviceID: "d", Action: "get", VersionName: "1.0.0"}
	if len(out.events) != 1 || fmt.Sprint(out.events[0]) != fmt.Sprint(want) {
		t.Errorf("events = %+v", out.events)
	}
}
