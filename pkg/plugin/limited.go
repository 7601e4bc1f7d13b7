package plugin

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// LimitedApps is Capgo's LIMITED_APPS switch: a JSON list of
// {"id": app_id, "ignore": p} where p = 0 never limits, 1 always limits and
// a fraction limits that share of requests at random. Limited requests get
// 429 too_many_requests before any validation. The zero value limits nothing.
type LimitedApps map[string]float64

// ParseLimitedApps parses the LIMITED_APPS value ("" is none). The first
// entry of an id wins, as in Capgo.
func ParseLimitedApps(s string) (LimitedApps, error) {
	if s == "" {
		return nil, nil
	}
	var list []struct {
		ID     string  `json:"id"`
		Ignore float64 `json:"ignore"`
	}
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf(`LIMITED_APPS: want a JSON list like [{"id":"com.example.app","ignore":0.5}]: %w`, err)
	}
	l := LimitedApps{}
	for _, a := range list {
		if a.Ignore < 0 || a.Ignore > 1 {
			return nil, fmt.Errorf("LIMITED_APPS: ignore of %q is %v, want 0 to 1", a.ID, a.Ignore)
		}
		if _, dup := l[a.ID]; !dup {
			l[a.ID] = a.Ignore
		}
	}
	return l, nil
}

// Limited reports whether this request for appID is to be refused.
func (l LimitedApps) Limited(appID string) bool {
	p, ok := l[appID]
	switch {
	case !ok || p <= 0:
		return false
	case p >= 1:
		return true
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return float64(binary.BigEndian.Uint32(b[:]))/(1<<32) < p
}

// LimitedApp is the 429 answer for a limited app (Capgo's
// simpleRateLimit({app_id}), without a reset time).
func LimitedApp(appID any) *Error {
	return TooManyRequests(Object{{"app_id", appID}}, time.Time{}, time.Time{})
}

// BodyAppID is the raw app_id of a decoded body, before validation (nil
// when absent), which is what Capgo's isLimited looks at.
func BodyAppID(body Body) any { return field(body, "app_id") }
