package channelself

import (
	"net/http"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/ratelimit"
)

// Capgo's channel_self limits (channelSelfRateLimit.ts).
const (
	// DefaultIPLimit is how many requests one IP may make per app and
	// minute (RATE_LIMIT_CHANNEL_SELF_IP's default).
	DefaultIPLimit = 1000
	ipWindow       = time.Minute
	// A device may repeat one operation 5 times per second.
	opLimit  = 5
	opWindow = time.Second
	// A device may not set the same channel twice within 60 s.
	sameSetWindow = time.Minute
)

// limits are Capgo's three /channel_self limiters, kept in process memory.
// A request is checked before the database stage and counted after it (for
// every outcome that reached it), as Capgo records its counters in a
// finally block.
type limits struct {
	now     func() time.Time
	ipLimit int
	ip      *ratelimit.Limiter // app + IP, per minute
	op      *ratelimit.Limiter // app + device + operation, per second
	sameSet *ratelimit.Limiter // app + device + channel, 60 s
}

func newLimits(now func() time.Time, ipLimit, maxKeys int) *limits {
	o := ratelimit.Options{Now: now, MaxKeys: maxKeys}
	return &limits{now: now, ipLimit: ipLimit, ip: ratelimit.New(o), op: ratelimit.New(o), sameSet: ratelimit.New(o)}
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

// checkIP: 429 with reason ip_rate_limit_exceeded once the app+IP counter
// reached the limit in its minute.
func (l *limits) checkIP(appID, ip string) error {
	if c, ok := l.ip.Get(key(appID, ip)); ok && c.Count >= l.ipLimit {
		return l.tooMany(plugin.Object{{Key: "reason", Value: "ip_rate_limit_exceeded"}, {Key: "app_id", Value: appID}}, c.ResetAt)
	}
	return nil
}

// checkDevice: 429 once the device made the operation 5 times in the
// current second, or (set) asked for the same channel within 60 s.
func (l *limits) checkDevice(appID, deviceID string, o op, channel string) error {
	info := plugin.Object{{Key: "app_id", Value: appID}, {Key: "device_id", Value: deviceID}}
	if c, ok := l.op.Get(key(appID, deviceID, string(o))); ok && c.Count >= opLimit {
		return l.tooMany(info, c.ResetAt)
	}
	if o == opSet && channel != "" {
		if c, ok := l.sameSet.Get(key(appID, deviceID, channel)); ok {
			return l.tooMany(info, c.ResetAt)
		}
	}
	return nil
}

// record counts a request that reached the database stage.
func (l *limits) record(appID, ip, deviceID string, o op, channel string) {
	if deviceID != "" {
		l.op.Hit(key(appID, deviceID, string(o)), opWindow)
		if o == opSet && channel != "" {
			l.sameSet.Mark(key(appID, deviceID, channel), sameSetWindow)
		}
	}
	l.ip.Hit(key(appID, ip), ipWindow)
}

// tooMany is Capgo's simpleRateLimit with buildRateLimitInfo: moreInfo
// gains rateLimitResetAt (epoch ms) and retryAfterSeconds, and the answer
// carries Retry-After and X-RateLimit-Reset.
func (l *limits) tooMany(info plugin.Object, resetAt time.Time) error {
	nowMs, resetMs := l.now().UnixMilli(), resetAt.UnixMilli()
	retry := max(0, (resetMs-nowMs+999)/1000)
	info = append(info, plugin.KV{Key: "rateLimitResetAt", Value: resetMs}, plugin.KV{Key: "retryAfterSeconds", Value: retry})
	return plugin.TooManyRequests(info, time.UnixMilli(resetMs), time.UnixMilli(nowMs))
}

// clientIP is the client's address as pkg/server works it out
// (clientaddr): the connection's, or what a trusted proxy forwarded
// (--trusted-proxies), so a client cannot choose its own key.
func clientIP(r *http.Request) string {
	return clientaddr.Of(r).IP
}
