// Package readmodel answers the device functions' reads from memory: a
// store that holds, per app, everything an update check, a /stats event
// or a /channel_self request decides on (the app and its plan state, its
// channels with their live and rollout bundles and manifests, its bundle
// names, its device overrides), loaded from the database on first use and
// dropped when the database says it changed.
//
// Freshness is the caller's to drive: Invalidate, InvalidateOrg and Reset
// are called from PostgreSQL notifications (package notify); Options.MaxAge
// bounds how long a model is used without one (the periodic
// reconciliation, or the short time-to-live when the notification triggers
// are not installed). A model loaded while a notification for its app
// arrives is never used: the request that waited for it loads again, so no
// answer comes from data older than the last notification received.
//
// Memory is bounded by Options.MaxBytes (an estimate of the models' size);
// the least recently used apps are dropped first. An app with more
// overrides than Options.OverrideLimit keeps none in its model: its
// devices' overrides are looked up one by one and remembered in a bounded
// per-app table, so 100,000 overrides cost memory only for the devices
// that call.
//
// The snapshots are those of the database store (pgstore): both pass the
// same store conformance suite. Writes (/channel_self overrides) go to the
// database and drop the app's model before they return, so this server's
// next request sees them at once. What the model cannot answer alone (an
// override pointing at another app's channel) is read from the database.
package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Backend is what the read model loads from and delegates to: the
// database store.
type Backend interface {
	store.ModelLoader
	store.UpdateReader
	store.StatsReader
	store.ChannelSelfStore
}

// Options tune the read model. Zero values take the defaults.
type Options struct {
	// MaxBytes bounds the estimated size of the models held (default
	// 16 MiB); the least recently used apps are dropped beyond it.
	MaxBytes int64
	// MaxAge is how long a model is used while notifications are trusted
	// (default 60 s: the reconciliation that catches a missed one, and a
	// trial that ends at midnight with no write).
	MaxAge time.Duration
	// TTL is how long a model is used while they are not (default 1 s):
	// Notified is nil or reports false (the triggers are not installed, or
	// the listening connection is down).
	TTL time.Duration
	// Notified reports whether every change is being notified now.
	Notified func() bool
	// OverrideLimit is how many overrides an app's model holds whole
	// (default 10,000); beyond it they are looked up per device.
	OverrideLimit int
	// DeviceCache bounds the per-device override lookups remembered for
	// each app above OverrideLimit (default 10,000).
	DeviceCache int
	// LoadTimeout bounds one model load (default 10 s).
	LoadTimeout time.Duration
	// Log receives the read model's own events; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxBytes      = 16 << 20
	DefaultMaxAge        = 60 * time.Second
	DefaultTTL           = time.Second
	DefaultOverrideLimit = 10000
	DefaultDeviceCache   = 10000
	DefaultLoadTimeout   = 10 * time.Second
)

// Validate reports options that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("read model: max bytes %d is negative", o.MaxBytes))
	}
	if o.MaxAge < 0 || o.TTL < 0 {
		errs = append(errs, fmt.Errorf("read model: max age %s and TTL %s must not be negative", o.MaxAge, o.TTL))
	}
	if o.OverrideLimit < 0 || o.DeviceCache < 0 {
		errs = append(errs, errors.New("read model: override limit and device cache must not be negative"))
	}
	if o.LoadTimeout < 0 {
		errs = append(errs, fmt.Errorf("read model: load timeout %s is negative", o.LoadTimeout))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Notified == nil {
		o.Notified = func() bool { return false }
	}
	if o.OverrideLimit == 0 {
		o.OverrideLimit = DefaultOverrideLimit
	}
	if o.DeviceCache == 0 {
		o.DeviceCache = DefaultDeviceCache
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is the read model. It implements the read interfaces of package
// store; create it with New.
type Store struct {
	db  Backend
	opt Options

	mu      sync.Mutex
	entries map[string]*entry
	bytes   int64 // estimated size of the loaded entries

	stats Stats
}

// Stats counts what the read model did, for metrics and tests.
type Stats struct {
	Hits, Loads, LoadErrors, Invalidations, Evictions, Delegated atomic.Int64
}

// entry is one app's model, loading or loaded.
type entry struct {
	ready    chan struct{} // closed once model/err are set
	model    *model        // nil when the app does not exist
	err      error         // the load failed (not cached)
	loadedAt time.Time
	bytes    int64
	stale    atomic.Bool  // invalidated: whoever waited for it loads again
	used     atomic.Int64 // last use, unix nanoseconds (LRU)
}

// dependsOn reports whether the loaded model reads another app's rows.
// A model still loading may: it counts as dependent, to be safe.
func (e *entry) dependsOn(appID string) bool {
	select {
	case <-e.ready:
		return e.model != nil && slices.Contains(e.model.dependsOn, appID)
	default:
		return true
	}
}

// New returns a read model in front of db.
func New(db Backend, opt Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("read model: no backend")
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return &Store{db: db, opt: opt.withDefaults(), entries: map[string]*entry{}}, nil
}

// Counters returns the read model's counters.
func (s *Store) Counters() *Stats { return &s.stats }

// Invalidate drops the app's model, and those of the apps whose channels
// serve one of its bundles: the next request loads them again.
func (s *Store) Invalidate(appID string) {
	s.mu.Lock()
	if e := s.entries[appID]; e != nil {
		s.drop(appID, e)
	}
	for id, e := range s.entries {
		if e.dependsOn(appID) {
			s.drop(id, e)
		}
	}
	s.mu.Unlock()
	s.stats.Invalidations.Add(1)
}

// InvalidateOrg drops the models of every app of the org (its plan
// changed), and any model still loading, whose org is not known yet.
func (s *Store) InvalidateOrg(orgID string) {
	s.mu.Lock()
	for id, e := range s.entries {
		select {
		case <-e.ready:
			if e.model == nil || e.model.app.OwnerOrg != orgID {
				continue
			}
		default:
		}
		s.drop(id, e)
	}
	s.mu.Unlock()
	s.stats.Invalidations.Add(1)
}

// Reset drops every model (the notifications may have been missed).
func (s *Store) Reset() {
	s.mu.Lock()
	for id, e := range s.entries {
		s.drop(id, e)
	}
	s.mu.Unlock()
	s.stats.Invalidations.Add(1)
}

// Len is the number of apps held (loaded or loading) and their estimated
// size in bytes.
func (s *Store) Len() (apps int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), s.bytes
}

// drop removes an entry; s.mu is held.
func (s *Store) drop(appID string, e *entry) {
	e.stale.Store(true)
	delete(s.entries, appID)
	s.bytes -= e.bytes
}

// get returns the app's model (nil when the app does not exist), loading
// it when needed. A model invalidated while it loaded is loaded again.
func (s *Store) get(ctx context.Context, appID string) (*model, *entry, error) {
	for {
		now := s.opt.Now()
		maxAge := s.opt.MaxAge
		if !s.opt.Notified() {
			maxAge = min(maxAge, s.opt.TTL)
		}
		s.mu.Lock()
		e := s.entries[appID]
		if e != nil {
			select {
			case <-e.ready:
				if e.err != nil || now.Sub(e.loadedAt) >= maxAge {
					s.drop(appID, e)
					e = nil
				}
			default:
			}
		}
		load := e == nil
		if load {
			e = &entry{ready: make(chan struct{})}
			s.entries[appID] = e
		}
		s.mu.Unlock()
		if load {
			s.load(ctx, appID, e)
		} else {
			select {
			case <-e.ready:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if e.stale.Load() {
			continue // changed while loading: never answer from it
		}
		if e.err != nil {
			return nil, nil, e.err
		}
		if !load {
			s.stats.Hits.Add(1)
		}
		e.used.Store(now.UnixNano())
		return e.model, e, nil
	}
}

// load fills e from the database, detached from the caller (others may
// be waiting for the same load) but bounded in time.
func (s *Store) load(ctx context.Context, appID string, e *entry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.LoadTimeout)
	defer cancel()
	started := s.opt.Now()
	am, err := s.db.AppModel(ctx, appID, s.opt.OverrideLimit)
	s.stats.Loads.Add(1)
	size := int64(len(appID)) + entryOverhead // an unknown app is remembered too: it calls again
	switch {
	case err == nil:
		e.model = newModel(am, s.opt.DeviceCache)
		size += e.model.size()
	case errors.Is(err, store.ErrNotFound):
	default:
		s.stats.LoadErrors.Add(1)
		e.err = err
	}
	e.loadedAt = started
	e.used.Store(started.UnixNano())
	s.mu.Lock()
	if s.entries[appID] == e && !e.stale.Load() {
		e.bytes = size
		s.bytes += size
		s.evict(appID)
	}
	s.mu.Unlock()
	close(e.ready)
}

// evict drops the least recently used loaded models until the size fits,
// never the one just loaded (keep); s.mu is held.
func (s *Store) evict(keep string) {
	for s.bytes > s.opt.MaxBytes {
		var oldestID string
		var oldest *entry
		for id, e := range s.entries {
			if id == keep {
				continue
			}
			select {
			case <-e.ready:
			default:
				continue
			}
			if oldest == nil || e.used.Load() < oldest.used.Load() {
				oldestID, oldest = id, e
			}
		}
		if oldest == nil {
			return
		}
		s.drop(oldestID, oldest)
		s.stats.Evictions.Add(1)
	}
}

// override returns the channel id of the device's override in m's app,
// and whether it has one, looking it up in the database when the model
// does not hold the app's overrides whole.
func (s *Store) override(ctx context.Context, m *model, e *entry, deviceID string) (int64, bool, error) {
	if m.overridesComplete {
		id, ok := m.overrides[deviceID]
		return id, ok, nil
	}
	if id, ok, known := m.devices.get(deviceID); known {
		return id, ok, nil
	}
	id, err := s.db.OverrideChannel(ctx, m.app.AppID, deviceID)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		id = 0
	default:
		return 0, false, err
	}
	found := err == nil
	if !e.stale.Load() {
		m.devices.put(deviceID, id, found)
	}
	return id, found, nil
}
