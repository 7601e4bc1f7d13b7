package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// The promises of AckCommit checked against PostgreSQL, through
// pgstore.WriteBatch.

// countingWriter counts WriteBatch calls and, while down is set, fails
// every attempt as an unreachable database does, without reaching it.
type countingWriter struct {
	w        BatchWriter
	down     atomic.Bool
	attempts atomic.Int64
}

var _ BatchWriter = (*countingWriter)(nil)

func (c *countingWriter) WriteBatch(ctx context.Context, batch []store.TimedEvent) ([]store.Rejected, error) {
	c.attempts.Add(1)
	if c.down.Load() {
		return nil, fmt.Errorf("pgstore: write batch of %d events: dial tcp 127.0.0.1:5432: connect: connection refused", len(batch))
	}
	return c.w.WriteBatch(ctx, batch)
}

// deviceID is the i-th device of a test.
func deviceID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// rowsOf counts a device's stats, device_usage and devices rows.
func rowsOf(t *testing.T, pool *pgxpool.Pool, device string) [3]int {
	t.Helper()
	var n [3]int
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM stats WHERE device_id = $1),
		(SELECT count(*) FROM device_usage WHERE device_id = $1),
		(SELECT count(*) FROM devices WHERE device_id = $1)`, device).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newPGRecorder returns a recorder on a fresh database, the writer it
// writes through, and a pool of its own for the test's queries.
func newPGRecorder(t *testing.T, o Options) (*Recorder, *countingWriter, *pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	writes, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(writes.Close)
	reads, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reads.Close)
	w := &countingWriter{w: pgstore.New(writes)}
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := New(w, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, w, reads
}

// Every caller that gets nil finds its rows in the database at once,
// through another connection: nil means committed.
func TestCommitRowsAreInTheDatabaseWhenRecordReturns(t *testing.T) {
	t.Parallel()
	r, w, pool := newPGRecorder(t, Options{})
	const callers, calls = 32, 10
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				dev := g*calls + i
				if err := r.Record(context.Background(), offerEvents(int64(dev))...); err != nil {
					t.Errorf("device %d: Record = %v", dev, err)
					return
				}
				if got := rowsOf(t, pool, deviceID(dev)); got != [3]int{1, 1, 1} {
					t.Errorf("device %d: stats, device_usage, devices rows = %v right after Record, want one each", dev, got)
				}
			}
		})
	}
	wg.Wait()
	s := r.Stats()
	if s.Written != 4*callers*calls || s.Accepted != s.Written {
		t.Errorf("stats = %+v, want %d events accepted and written", s, 4*callers*calls)
	}
	t.Logf("%d calls from %d goroutines committed in %d WriteBatch calls", callers*calls, callers, w.attempts.Load())
}

// During an outage callers wait, and those whose deadline passes get
// ErrOverloaded and leave no row behind; those still waiting when the
// database is back get nil, and their rows are written exactly once
// however many attempts it took.
func TestCommitOutageThenRecovery(t *testing.T) {
	t.Parallel()
	r, w, pool := newPGRecorder(t, Options{CommitTimeout: time.Minute, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
	w.down.Store(true)

	// Group A: requests whose deadline (here their context's, as the
	// handlers' storecall.Timeout gives) passes during the outage.
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := r.Record(ctx, offerEvents(int64(i))...)
			if !errors.Is(err, store.ErrOverloaded) {
				t.Errorf("device %d during the outage: Record = %v, want ErrOverloaded", i, err)
			}
		})
	}
	wg.Wait()

	// Group B: requests still waiting when the database comes back.
	errs := make([]<-chan error, n)
	for i := range n {
		errs[i] = recordAsync(context.Background(), r, offerEvents(int64(n+i))...)
	}
	retried := w.attempts.Load() + 3
	waitFor(t, func() bool { return w.attempts.Load() >= retried }) // the writer keeps trying
	w.down.Store(false)
	for i, errc := range errs {
		wantNil(t, fmt.Sprintf("device %d after recovery", n+i), errc)
	}
	closeNow(t, r)

	for i := range 2 * n {
		want := [3]int{}
		if i >= n {
			want = [3]int{1, 1, 1}
		}
		if got := rowsOf(t, pool, deviceID(i)); got != want {
			t.Errorf("device %d: stats, device_usage, devices rows = %v, want %v", i, got, want)
		}
	}
	var versions int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM version_usage WHERE app_id = 'com.bench.app'`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != n {
		t.Errorf("version_usage rows = %d, want %d (group B's, once each)", versions, n)
	}
	s := r.Stats()
	if s.Written != 4*n || s.Withdrawn != 4*n || s.Late != 0 || s.Lost != 0 || s.Retries == 0 {
		t.Errorf("stats = %+v, want %d written, %d withdrawn, none late or lost, some retries", s, 4*n, 4*n)
	}
}

// AckQueued keeps the old promise: Record returns once the events are
// queued, before they are written; Close writes them.
func TestQueuedAcknowledgesBeforeWriting(t *testing.T) {
	t.Parallel()
	r, _, pool := newPGRecorder(t, Options{Ack: AckQueued, FlushInterval: time.Hour})
	mustRecord(t, r, offerEvents(0)...)
	if got := rowsOf(t, pool, deviceID(0)); got != [3]int{} {
		t.Errorf("rows = %v before any flush, want none: AckQueued does not wait for the commit", got)
	}
	closeNow(t, r)
	if got := rowsOf(t, pool, deviceID(0)); got != [3]int{1, 1, 1} {
		t.Errorf("rows = %v after Close, want one each", got)
	}
}
