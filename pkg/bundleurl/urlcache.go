package bundleurl

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/logctx"
)

// Cache timings, as fractions of a token's lifetime and fixed bounds.
const (
	// mintTimeout bounds one mint; it runs detached from the request that
	// started it, so a client hanging up does not fail the others waiting.
	mintTimeout = 15 * time.Second
	// errorTTL is how long a failed mint is remembered, so an outage or a
	// missing object costs one Storage call per key every few seconds
	// instead of one per update check.
	errorTTL = 5 * time.Second
)

// urlCache keeps one token per key. A token is served as is while more
// than half its lifetime remains ("fresh"); then it is still served while
// one background mint renews it, until a quarter of its lifetime remains;
// after that (or with none) callers wait for a mint, one per key however
// many callers arrive (single flight). The map holds at most max keys.
type urlCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
	max     int
	now     func() time.Time
	log     *slog.Logger

	// hits are lookups answered from memory (a token, or a mint failure
	// still remembered); misses waited for a mint (started or joined).
	hits, misses atomic.Uint64
}

type cacheEntry struct {
	done chan struct{} // closed once the first mint has finished

	// Set before done is closed, then read and written under urlCache.mu.
	tok        token
	err        error
	errUntil   time.Time // a failed first mint is answered until then
	refreshing bool
	retryAt    time.Time // no renewal before then (after a failed one)
}

func newURLCache(max int, now func() time.Time, log *slog.Logger) *urlCache {
	return &urlCache{entries: make(map[string]*cacheEntry), max: max, now: now, log: log}
}

type mintFunc func(ctx context.Context, key string) (token, error)

// usable reports whether tok can still be handed out at now, and whether
// it is due for renewal.
func usable(tok token, now time.Time) (ok, stale bool) {
	life := tok.exp.Sub(tok.iat)
	left := tok.exp.Sub(now)
	return left > life/4, left <= life/2
}

func (c *urlCache) get(ctx context.Context, key string, mint mintFunc) (string, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		select {
		case <-e.done:
			now := c.now()
			if e.err == nil {
				ok, stale := usable(e.tok, now)
				if ok {
					if stale && !e.refreshing && !now.Before(e.retryAt) {
						e.refreshing = true
						go c.refresh(ctx, key, e, mint)
					}
					v := e.tok.value
					c.mu.Unlock()
					c.hits.Add(1)
					return v, nil
				}
			} else if now.Before(e.errUntil) {
				err := e.err
				c.mu.Unlock()
				c.hits.Add(1)
				return "", err
			}
			e = nil // expired: mint again below
		default: // a mint is in flight: wait for it
		}
	}
	if e == nil {
		e = &cacheEntry{done: make(chan struct{})}
		c.evictLocked()
		c.entries[key] = e
		c.mu.Unlock()
		go c.first(ctx, key, e, mint)
	} else {
		c.mu.Unlock()
	}
	c.misses.Add(1)

	select {
	case <-e.done:
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.tok.value, e.err
}

// first runs the mint of a new entry, detached from the caller's
// cancellation (others may be waiting on it) but bounded.
func (c *urlCache) first(ctx context.Context, key string, e *cacheEntry, mint mintFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mintTimeout)
	defer cancel()
	tok, err := mint(ctx, key)
	c.mu.Lock()
	e.tok, e.err = tok, err
	if err != nil {
		e.errUntil = c.now().Add(errorTTL)
	}
	c.mu.Unlock()
	close(e.done)
}

// refresh renews a stale entry in the background; on failure the old token
// stays in use and the next renewal is tried after errorTTL.
func (c *urlCache) refresh(ctx context.Context, key string, e *cacheEntry, mint mintFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mintTimeout)
	defer cancel()
	tok, err := mint(ctx, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if err != nil {
		e.retryAt = c.now().Add(errorTTL)
		// ctx is the request's that found the token stale: the line
		// names it.
		logctx.From(ctx, c.log).WarnContext(ctx, "bundleurl.refresh_failed", "key", key, "err", err)
		return
	}
	e.tok = tok
}

// evictLocked makes room for one more key: first by dropping entries that
// can no longer be served, then arbitrary ones (map order is random).
func (c *urlCache) evictLocked() {
	if len(c.entries) < c.max {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if ok, _ := usable(e.tok, now); e.err != nil || !ok {
				delete(c.entries, k)
			}
		default:
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
}

// len is the number of keys held (tests).
func (c *urlCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
