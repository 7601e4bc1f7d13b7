// Package ratelimit counts requests per key in fixed windows, in process
// memory, with an injectable clock and a bound on the number of keys kept.
//
// It is the building block for Capgo's Cache-API limiters (one counter per
// key with a reset time). Checking and counting are separate calls, because
// Capgo checks a limit before a request and counts the request only once it
// got far enough. The counts are per process: with N replicas behind a load
// balancer each replica counts on its own, so a limit is at most N times
// looser.
//
// It leaves to its callers what the keys mean, which limit applies and what
// to answer when it is reached.
package ratelimit

import (
	"sync"
	"time"
)

// DefaultMaxKeys bounds a Limiter's memory when Options.MaxKeys is 0:
// about 100 bytes per key, so some 10 MB.
const DefaultMaxKeys = 100_000

// sweepEvery is how often expired keys are dropped.
const sweepEvery = 10 * time.Second

// Options configures a Limiter.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxKeys bounds the live keys; 0 means DefaultMaxKeys. When a new key
	// would exceed it, expired keys are dropped and then, if needed,
	// arbitrary live ones (their counts restart: the limiter fails open
	// rather than growing without bound).
	MaxKeys int
}

// Counter is a key's count in its current window.
type Counter struct {
	Count   int
	ResetAt time.Time // the window ends (and the key expires) at this time
}

// Limiter holds the counters. Its zero value is not usable; call New.
type Limiter struct {
	now     func() time.Time
	maxKeys int

	mu        sync.Mutex
	counters  map[string]Counter
	nextSweep time.Time
	evicted   int64
}

// New returns an empty limiter.
func New(o Options) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	return &Limiter{now: o.Now, maxKeys: o.MaxKeys, counters: map[string]Counter{}}
}

// Get returns the key's counter while its window lasts; ok is false when
// the key has none.
func (l *Limiter) Get(key string) (c Counter, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok = l.counters[key]
	if ok && !now.Before(c.ResetAt) {
		return Counter{}, false
	}
	return c, ok
}

// Hit counts one request for key: in its current window, or in a new one
// of length window when none lasts. It returns the counter after the hit.
func (l *Limiter) Hit(key string, window time.Duration) Counter {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.counters[key]
	if ok && now.Before(c.ResetAt) {
		c.Count++
	} else {
		c = Counter{Count: 1, ResetAt: now.Add(window)}
	}
	l.store(now, key, c)
	return c
}

// Mark starts a new window of length window with a count of 1 for key,
// replacing any current one.
func (l *Limiter) Mark(key string, window time.Duration) Counter {
	now := l.now()
	c := Counter{Count: 1, ResetAt: now.Add(window)}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.store(now, key, c)
	return c
}

// Len is the number of keys held, expired ones included until the next sweep.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.counters)
}

// Evicted is how many live keys were dropped to respect MaxKeys.
func (l *Limiter) Evicted() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}

// store saves c under key, first dropping expired keys every sweepEvery,
// and live keys too when the map is full. l.mu is held.
func (l *Limiter) store(now time.Time, key string, c Counter) {
	_, exists := l.counters[key]
	full := !exists && len(l.counters) >= l.maxKeys
	if full || !now.Before(l.nextSweep) {
		for k, v := range l.counters {
			if !now.Before(v.ResetAt) {
				delete(l.counters, k)
			}
		}
		l.nextSweep = now.Add(sweepEvery)
	}
	if !exists && len(l.counters) >= l.maxKeys {
		// Still full of live keys: drop a tenth of them (map order is
		// random), so the sweep cost is paid once per many new keys.
		drop := l.maxKeys/10 + 1
		for k := range l.counters {
			if drop == 0 {
				break
			}
			delete(l.counters, k)
			l.evicted++
			drop--
		}
	}
	l.counters[key] = c
}
