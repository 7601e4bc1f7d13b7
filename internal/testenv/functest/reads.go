package functest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// Reads is what the device functions read.
type Reads interface {
	store.UpdateReader
	store.StatsReader
	store.ChannelSelfStore
	store.ManifestSizer
}

// ReadModelOn reports whether the functions' tests read through the read
// model (the server's default) or the database store alone
// (CAPGO_TEST_READ_MODEL=off): every conformance suite runs both ways.
func ReadModelOn() bool { return os.Getenv("CAPGO_TEST_READ_MODEL") != "off" }

// syncs holds, per pool, how Exec waits for the read model to have seen
// a change: pool → func().
var syncs sync.Map

var syncSeq atomic.Int64

// NewReads returns the store the functions read in a test on pool: the
// read model in front of pgstore, kept fresh by a real listener on the
// database's direct connection, or pgstore alone (see ReadModelOn). With
// the read model, Exec waits until the listener has applied the change's
// notification, so a test that changes data and asks again is answered
// from the changed data without racing the notification.
func NewReads(tb testing.TB, pool *pgxpool.Pool) Reads {
	tb.Helper()
	st := pgstore.New(pool)
	if !ReadModelOn() {
		return st
	}
	var applied sync.Map // marker payloads seen
	live, err := readmodel.NewLive(st, readmodel.LiveOptions{
		ListenURL: pgtest.Direct(pool.Config().ConnString()), DB: pool, Log: Discard(),
		Applied: func(p notify.Payload) { applied.Store(p.ID, true) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(live.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if pool.Ping(ctx) != nil {
		return live // a test of an unreachable database: nothing to wait for
	}
	waitUntil(tb, "the read model's listener", live.Fresh)
	syncs.Store(pool, func() {
		// Notifications arrive in commit order: once this one is
		// applied, every change committed before it is.
		mark := fmt.Sprintf("functest.sync.%d", syncSeq.Add(1))
		if _, err := pool.Exec(context.Background(), `SELECT pg_notify('capgo_functions_invalidate', 'app:' || $1)`, mark); err != nil {
			tb.Fatalf("sync notification: %v", err)
		}
		waitUntil(tb, "the read model to apply "+mark, func() bool { _, ok := applied.Load(mark); return ok })
	})
	tb.Cleanup(func() { syncs.Delete(pool) })
	return live
}

// syncReads waits until the read model of pool (if any) has seen every
// change committed so far.
func syncReads(pool *pgxpool.Pool) {
	if f, ok := syncs.Load(pool); ok {
		f.(func())()
	}
}

func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// Capture is a store.Recorder for tests without a database: it keeps the
// events it is given. Err is its answer: one wrapping store.ErrOverloaded
// (a full or closed recorder) takes nothing; any other error reports rows
// it could not write, after taking them.
type Capture struct {
	Err error

	mu     sync.Mutex
	events []plugin.Event
}

var _ store.Recorder = (*Capture)(nil)

// Record implements store.Recorder.
func (c *Capture) Record(_ context.Context, events ...plugin.Event) error {
	if errors.Is(c.Err, store.ErrOverloaded) {
		return c.Err
	}
	c.mu.Lock()
	c.events = append(c.events, events...)
	c.mu.Unlock()
	return c.Err
}

// Events returns what was recorded, in order.
func (c *Capture) Events() []plugin.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]plugin.Event(nil), c.events...)
}
