package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/fakeclock"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// fakeDB is a hand-written backend: each app's model names its bundle
// after the load that produced it ("load-N"), so a test can tell which
// load an answer came from. gate, when set, holds every load until a
// value is sent on it.
type fakeDB struct {
	mu        sync.Mutex
	loads     map[string]int
	orgs      map[string]string // app → org; an app not listed does not exist
	failNext  error
	gate      chan struct{}
	started   chan string
	overrides atomic.Int64 // OverrideChannel calls
	writes    atomic.Int64
}

func newFakeDB(apps ...string) *fakeDB {
	db := &fakeDB{loads: map[string]int{}, orgs: map[string]string{}}
	for _, a := range apps {
		db.orgs[a] = "org-" + a
	}
	return db
}

func (db *fakeDB) AppModel(ctx context.Context, appID string, _ int) (store.AppModel, error) {
	db.mu.Lock()
	db.loads[appID]++
	n := db.loads[appID]
	org, ok := db.orgs[appID]
	fail := db.failNext
	db.failNext = nil
	gate, started := db.gate, db.started
	db.mu.Unlock()
	if started != nil {
		started <- appID
	}
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return store.AppModel{}, fail
	}
	if !ok {
		return store.AppModel{}, store.ErrNotFound
	}
	ch := store.Channel{ID: 1, Name: "production", Public: true, IOS: true, Android: true, Electron: true,
		Version: store.Bundle{ID: int64(n), Name: fmt.Sprintf("load-%d", n)}}
	return store.AppModel{
		App:          store.App{AppID: appID, OwnerOrg: org, PlanValid: true},
		PlanValidMAU: true,
		Channels:     []store.ModelChannel{{Channel: ch, OwnerOrg: org, Servable: true}},
		Overrides:    map[string]int64{}, OverridesComplete: true,
	}, nil
}

func (db *fakeDB) loadsOf(appID string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.loads[appID]
}

func (db *fakeDB) OverrideChannel(context.Context, string, string) (int64, error) {
	db.overrides.Add(1)
	return 0, store.ErrNotFound
}

func (db *fakeDB) UpdateSnapshot(context.Context, store.UpdateQuery) (store.UpdateSnapshot, error) {
	return store.UpdateSnapshot{}, errors.New("fake: not delegated in these tests")
}

func (db *fakeDB) StatsSnapshot(context.Context, store.StatsQuery) (store.StatsSnapshot, error) {
	return store.StatsSnapshot{}, errors.New("fake: not delegated")
}

func (db *fakeDB) StatsSnapshots(context.Context, []store.StatsQuery) ([]store.StatsSnapshot, []error, error) {
	return nil, nil, errors.New("fake: not delegated")
}

func (db *fakeDB) ChannelSelfSnapshot(context.Context, store.ChannelSelfQuery) (store.ChannelSelfSnapshot, error) {
	return store.ChannelSelfSnapshot{}, errors.New("fake: not delegated")
}

func (db *fakeDB) DeleteOverride(context.Context, string, string) error {
	db.writes.Add(1)
	return nil
}

func (db *fakeDB) UpsertOverride(context.Context, store.ChannelOverride) error {
	db.writes.Add(1)
	return nil
}

func newStore(t *testing.T, db readmodel.Backend, opt readmodel.Options) *readmodel.Store {
	t.Helper()
	s, err := readmodel.New(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bundle is the name of the bundle an update check for app is offered.
func bundle(t *testing.T, s *readmodel.Store, app string) string {
	t.Helper()
	snap, err := s.UpdateSnapshot(context.Background(), store.UpdateQuery{AppID: app, DeviceID: "d", Platform: "ios"})
	if err != nil {
		t.Fatalf("UpdateSnapshot(%s): %v", app, err)
	}
	return snap.Channel.Version.Name
}

func TestModelIsLoadedOnceAndReloadedAfterInvalidate(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a", "b")
	s := newStore(t, db, readmodel.Options{})
	for range 3 {
		if got := bundle(t, s, "a"); got != "load-1" {
			t.Fatalf("bundle = %s, want load-1 (one load)", got)
		}
	}
	s.Invalidate("a")
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Fatalf("after Invalidate: bundle = %s, want load-2", got)
	}
	if got := bundle(t, s, "b"); got != "load-1" || db.loadsOf("a") != 2 {
		t.Fatalf("b = %s, loads of a = %d; want load-1 and 2", got, db.loadsOf("a"))
	}
	if c := s.Counters(); c.Loads.Load() != 3 || c.Hits.Load() != 2 {
		t.Errorf("loads %d, hits %d; want 3 and 2", c.Loads.Load(), c.Hits.Load())
	}
}

// A notification that arrives while a model loads means the load may have
// read the old state: nobody answers from it.
func TestInvalidateDuringLoadIsNeverAnsweredFrom(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a")
	db.gate, db.started = make(chan struct{}), make(chan string, 4)
	s := newStore(t, db, readmodel.Options{})
	got := make(chan string, 1)
	go func() {
		snap, err := s.UpdateSnapshot(context.Background(), store.UpdateQuery{AppID: "a", DeviceID: "d", Platform: "ios"})
		if err != nil {
			got <- err.Error()
			return
		}
		got <- snap.Channel.Version.Name
	}()
	<-db.started
	s.Invalidate("a")
	db.gate <- struct{}{} // the first load finishes, stale
	<-db.started          // so the caller loads again
	db.gate <- struct{}{}
	if b := <-got; b != "load-2" {
		t.Fatalf("answered %s, want load-2 (load-1 began before the notification)", b)
	}
}

func TestMaxAgeReloads(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	db := newFakeDB("a")
	s := newStore(t, db, readmodel.Options{MaxAge: time.Second, Now: clk.Now})
	bundle(t, s, "a")
	clk.Advance(999 * time.Millisecond)
	if got := bundle(t, s, "a"); got != "load-1" {
		t.Fatalf("before MaxAge: %s, want load-1", got)
	}
	clk.Advance(time.Millisecond)
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Fatalf("at MaxAge: %s, want load-2", got)
	}
}

func TestUnknownAppsAreRememberedUntilInvalidated(t *testing.T) {
	t.Parallel()
	db := newFakeDB()
	s := newStore(t, db, readmodel.Options{})
	for range 3 {
		if _, err := s.UpdateSnapshot(context.Background(), store.UpdateQuery{AppID: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if n := db.loadsOf("x"); n != 1 {
		t.Fatalf("loads = %d, want 1", n)
	}
	db.mu.Lock()
	db.orgs["x"] = "org-x"
	db.mu.Unlock()
	s.Invalidate("x") // the apps row was inserted
	if got := bundle(t, s, "x"); got != "load-2" {
		t.Fatalf("after insert: %s, want load-2", got)
	}
}

func TestLoadErrorsAreNotRemembered(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a")
	db.failNext = errors.New("connection refused")
	s := newStore(t, db, readmodel.Options{})
	if _, err := s.UpdateSnapshot(context.Background(), store.UpdateQuery{AppID: "a"}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want the database's error", err)
	}
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Fatalf("after a failed load: %s, want load-2", got)
	}
}

func TestInvalidateOrgDropsOnlyItsApps(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a", "b")
	s := newStore(t, db, readmodel.Options{})
	bundle(t, s, "a")
	bundle(t, s, "b")
	s.InvalidateOrg("org-a")
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Errorf("a = %s, want load-2", got)
	}
	if got := bundle(t, s, "b"); got != "load-1" {
		t.Errorf("b = %s, want load-1", got)
	}
	s.Reset()
	if got := bundle(t, s, "b"); got != "load-2" {
		t.Errorf("after Reset b = %s, want load-2", got)
	}
}

func TestOverrideWritesAreVisibleToTheNextRequest(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a")
	s := newStore(t, db, readmodel.Options{})
	bundle(t, s, "a")
	if err := s.UpsertOverride(context.Background(), store.ChannelOverride{AppID: "a", DeviceID: "d", ChannelID: 1}); err != nil {
		t.Fatal(err)
	}
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Errorf("after UpsertOverride: %s, want load-2", got)
	}
	if err := s.DeleteOverride(context.Background(), "a", "d"); err != nil {
		t.Fatal(err)
	}
	if got := bundle(t, s, "a"); got != "load-3" || db.writes.Load() != 2 {
		t.Errorf("after DeleteOverride: %s with %d writes, want load-3 and 2", got, db.writes.Load())
	}
}

// The memory bound drops the least recently used apps, never the one
// just loaded.
func TestEvictionDropsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	db := newFakeDB("a", "b", "c")
	probe := newStore(t, db, readmodel.Options{})
	bundle(t, probe, "a")
	_, one := probe.Len()
	s := newStore(t, db, readmodel.Options{MaxBytes: 2*one + one/2, Now: clk.Now})
	bundle(t, s, "a")
	clk.Advance(time.Millisecond)
	bundle(t, s, "b")
	clk.Advance(time.Millisecond)
	bundle(t, s, "a") // a is now more recent than b
	clk.Advance(time.Millisecond)
	bundle(t, s, "c") // evicts b
	if apps, bytes := s.Len(); apps != 2 || bytes > 2*one+one/2 {
		t.Fatalf("held %d apps in %d bytes, want 2 within %d", apps, bytes, 2*one+one/2)
	}
	before := db.loadsOf("a")
	bundle(t, s, "a")
	if db.loadsOf("a") != before {
		t.Error("a was evicted, b should have been")
	}
	if s.Counters().Evictions.Load() != 1 {
		t.Errorf("evictions = %d, want 1", s.Counters().Evictions.Load())
	}
}

// Above OverrideLimit the overrides are looked up per device and each
// lookup is remembered.
func TestOverridesAboveTheLimitAreLookedUpPerDevice(t *testing.T) {
	t.Parallel()
	db := &incompleteDB{fakeDB: newFakeDB("a")}
	s := newStore(t, db, readmodel.Options{})
	for range 3 {
		bundle(t, s, "a")
	}
	if n := db.overrides.Load(); n != 1 {
		t.Fatalf("override lookups = %d, want 1 (remembered)", n)
	}
}

type incompleteDB struct{ *fakeDB }

func (db *incompleteDB) AppModel(ctx context.Context, appID string, limit int) (store.AppModel, error) {
	m, err := db.fakeDB.AppModel(ctx, appID, limit)
	m.Overrides, m.OverridesComplete = nil, false
	return m, err
}

// Readers and invalidations at once (run with -race).
func TestConcurrentReadsAndInvalidations(t *testing.T) {
	t.Parallel()
	db := newFakeDB("a", "b", "c")
	s := newStore(t, db, readmodel.Options{MaxBytes: 4000})
	var wg sync.WaitGroup
	ctx := context.Background()
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				app := []string{"a", "b", "c"}[(g+i)%3]
				switch i % 7 {
				case 0:
					s.Invalidate(app)
				case 3:
					s.InvalidateOrg("org-" + app)
				default:
					if _, err := s.UpdateSnapshot(ctx, store.UpdateQuery{AppID: app, DeviceID: "d", Platform: "ios"}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if apps, bytes := s.Len(); bytes < 0 || apps > 3 {
		t.Errorf("held %d apps in %d bytes", apps, bytes)
	}
}

// While changes are not notified (no triggers, or the listening connection
// is down), a model is used for TTL at most; while they are, for MaxAge.
func TestTTLWhileNotificationsAreNotTrusted(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	var notified atomic.Bool
	notified.Store(true)
	db := newFakeDB("a")
	s := newStore(t, db, readmodel.Options{MaxAge: time.Minute, TTL: time.Second, Notified: notified.Load, Now: clk.Now})
	bundle(t, s, "a")
	clk.Advance(30 * time.Second)
	if got := bundle(t, s, "a"); got != "load-1" {
		t.Fatalf("notified, 30 s old: %s, want load-1", got)
	}
	notified.Store(false)
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Fatalf("not notified, 30 s old: %s, want load-2", got)
	}
	clk.Advance(999 * time.Millisecond)
	if got := bundle(t, s, "a"); got != "load-2" {
		t.Fatalf("not notified, 999 ms old: %s, want load-2", got)
	}
	clk.Advance(time.Millisecond)
	if got := bundle(t, s, "a"); got != "load-3" {
		t.Fatalf("not notified, 1 s old: %s, want load-3", got)
	}
}
