package recorder

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// fakeWriter is a hand-written BatchWriter that keeps what it was given.
// fail, when set, decides each attempt's outcome; gate, when set, makes
// every attempt wait for a value from it (or for ctx, unless stubborn:
// then it commits whatever its context says, as a COMMIT already sent
// would).
type fakeWriter struct {
	mu       sync.Mutex
	batches  [][]string // device ids of each written batch
	attempts int
	fail     func(attempt int, batch []store.TimedEvent) ([]store.Rejected, error)
	gate     chan struct{}
	stubborn bool
	entered  chan struct{} // receives when an attempt starts (buffered; extra signals dropped)
	wrote    chan struct{} // receives after each written batch (buffered; extra signals dropped)
}

var _ BatchWriter = (*fakeWriter)(nil)

func newFakeWriter() *fakeWriter {
	return &fakeWriter{entered: make(chan struct{}, 1000), wrote: make(chan struct{}, 1000)}
}

func (f *fakeWriter) WriteBatch(ctx context.Context, batch []store.TimedEvent) ([]store.Rejected, error) {
	signal(f.entered)
	switch {
	case f.gate != nil && f.stubborn:
		<-f.gate
	case f.gate != nil:
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	f.attempts++
	attempt := f.attempts
	f.mu.Unlock()
	var rejected []store.Rejected
	if f.fail != nil {
		var err error
		if rejected, err = f.fail(attempt, batch); err != nil {
			return nil, err
		}
	}
	ids := make([]string, len(batch))
	for i, te := range batch {
		ids[i] = te.Event.(plugin.StatsEvent).DeviceID
	}
	f.mu.Lock()
	f.batches = append(f.batches, ids)
	f.mu.Unlock()
	signal(f.wrote)
	return rejected, nil
}

// signal sends on c without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (f *fakeWriter) written() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

// waitBatches waits until n batches are written.
func (f *fakeWriter) waitBatches(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for len(f.written()) < n {
		select {
		case <-f.wrote:
		case <-timeout:
			t.Fatalf("waited 5s for %d batches, got %v", n, f.written())
		}
	}
}

func ev(i int) plugin.Event {
	return plugin.StatsEvent{AppID: "com.demo.app", DeviceID: strconv.Itoa(i), Action: "get"}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func newRecorder(t *testing.T, w BatchWriter, o Options) *Recorder {
	t.Helper()
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := New(w, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func mustRecord(t *testing.T, r *Recorder, events ...plugin.Event) {
	t.Helper()
	if err := r.Record(context.Background(), events...); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

func closeNow(t *testing.T, r *Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func wantStats(t *testing.T, r *Recorder, want Stats) {
	t.Helper()
	if d := cmp.Diff(want, r.Stats()); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

// The tests in this file up to the oversized call are of AckQueued, the
// fire-and-forget mode: Record returns once the events are queued.

func TestFullBatchesAreWrittenAtOnceInOrder(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	// An hour-long interval: only full batches can be written before Close.
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 100, BatchSize: 10, FlushInterval: time.Hour})
	for i := range 25 {
		mustRecord(t, r, ev(i))
	}
	w.waitBatches(t, 2)
	if got := r.Stats().Queued; got != 5 {
		t.Errorf("queued = %d, want the 5 of the partial batch", got)
	}
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 10), ids(10, 20), ids(20, 25)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 25, Written: 25})
}

func TestPartialBatchIsWrittenAfterTheInterval(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 100, BatchSize: 50, FlushInterval: 10 * time.Millisecond})
	mustRecord(t, r, ev(0), ev(1), ev(2))
	// No Close: the interval alone writes the partial batch.
	waitFor(t, func() bool { return r.Stats().Written == 3 })
	if d := cmp.Diff([][]string{ids(0, 3)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 3, Written: 3})
}

func TestRecordStampsEachCallWithItsTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var got []time.Time
	w := newFakeWriter()
	w.fail = func(_ int, batch []store.TimedEvent) ([]store.Rejected, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, te := range batch {
			got = append(got, te.At)
		}
		return nil, nil
	}
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 10, BatchSize: 10, FlushInterval: time.Hour, Now: func() time.Time { return at }})
	mustRecord(t, r, ev(0), ev(1))
	closeNow(t, r)
	if d := cmp.Diff([]time.Time{at, at}, got); d != "" {
		t.Errorf("times (-want +got):\n%s", d)
	}
}

func TestFullQueueRefusesAfterTheWait(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{}) // the writer is stuck until we say so
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 4, BatchSize: 2, FlushInterval: time.Hour, EnqueueWait: 20 * time.Millisecond})

	mustRecord(t, r, ev(0), ev(1)) // a full batch: the writer takes it and blocks
	waitFor(t, func() bool { return r.Stats().Queued == 0 })
	mustRecord(t, r, ev(2), ev(3))
	mustRecord(t, r, ev(4), ev(5)) // the queue holds 4: full

	start := time.Now()
	err := r.Record(context.Background(), ev(6))
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, store.ErrOverloaded) || errors.Is(err, store.ErrClosed) {
		t.Fatalf("Record on a full queue = %v, want ErrOverloaded (not closed)", err)
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("refused after %s, want after the 20ms wait", waited)
	}

	// A caller whose context ends while waiting is refused too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Record(ctx, ev(7), ev(8)); !errors.Is(err, ErrOverloaded) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with a cancelled context = %v, want ErrOverloaded and context.Canceled", err)
	}

	close(w.gate) // the database is back
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 2), ids(2, 4), ids(4, 6)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 6, Written: 6, Refused: 3})
}

func TestWaitingRecordGetsInWhenRoomFrees(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 2, BatchSize: 2, FlushInterval: time.Hour, EnqueueWait: 10 * time.Second})
	mustRecord(t, r, ev(0), ev(1))
	waitFor(t, func() bool { return r.Stats().Queued == 0 }) // the writer holds 0,1
	mustRecord(t, r, ev(2), ev(3))                           // queue full

	errc := make(chan error, 1)
	go func() { errc <- r.Record(context.Background(), ev(4)) }()
	select {
	case err := <-errc:
		t.Fatalf("Record returned %v while the queue was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.gate <- struct{}{} // batch 0,1 written; the writer takes 2,3: room frees
	if err := <-errc; err != nil {
		t.Fatalf("waiting Record = %v, want nil once room freed", err)
	}
	close(w.gate)
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 2), ids(2, 4), ids(4, 5)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
}

// A call larger than the queue is accepted into an empty queue and, larger
// than a batch too, written alone as one batch: a call is never split.
func TestOversizedCallIsTakenIntoAnEmptyQueueAndWrittenWhole(t *testing.T) {
	t.Parallel()
	for _, ack := range []Ack{AckQueued, AckCommit} {
		t.Run(string(ack), func(t *testing.T) {
			t.Parallel()
			w := newFakeWriter()
			r := newRecorder(t, w, Options{Ack: ack, QueueSize: 2, BatchSize: 2, FlushInterval: time.Hour})
			mustRecord(t, r, ev(0), ev(1), ev(2))
			mustRecord(t, r, ev(3))
			closeNow(t, r)
			if d := cmp.Diff([][]string{ids(0, 3), ids(3, 4)}, w.written()); d != "" {
				t.Errorf("batches (-want +got):\n%s", d)
			}
		})
	}
}

// Calls are taken whole: a batch ends before the first call that would
// make it larger than BatchSize.
func TestBatchesEndAtCallBoundaries(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 100, BatchSize: 4, FlushInterval: time.Hour})
	mustRecord(t, r, ev(0), ev(1), ev(2))
	mustRecord(t, r, ev(3), ev(4))
	mustRecord(t, r, ev(5), ev(6))
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 3), ids(3, 7)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
}

func TestCloseDrainsAndThenRefuses(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 1000, BatchSize: 100, FlushInterval: time.Hour})
	for i := 0; i < 250; i += 5 {
		mustRecord(t, r, ev(i), ev(i+1), ev(i+2), ev(i+3), ev(i+4))
	}
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 100), ids(100, 200), ids(200, 250)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	err := r.Record(context.Background(), ev(250))
	if !errors.Is(err, store.ErrClosed) || !errors.Is(err, store.ErrOverloaded) {
		t.Errorf("Record after Close = %v, want ErrClosed (an ErrOverloaded)", err)
	}
	closeNow(t, r) // a second Close is harmless
	wantStats(t, r, Stats{Accepted: 250, Written: 250, Refused: 1})
}

func TestCloseWakesRecordsWaitingForRoom(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 1, BatchSize: 1, FlushInterval: time.Hour, EnqueueWait: time.Minute})
	mustRecord(t, r, ev(0))
	waitFor(t, func() bool { return r.Stats().Queued == 0 })
	mustRecord(t, r, ev(1))
	errc := make(chan error, 1)
	go func() { errc <- r.Record(context.Background(), ev(2)) }()
	time.Sleep(10 * time.Millisecond)

	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	select {
	case err := <-errc:
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("waiting Record after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Record waiting for room was not woken by Close")
	}
	close(w.gate)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := cmp.Diff([][]string{ids(0, 1), ids(1, 2)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
}

func TestTransientFailureIsRetriedUntilWritten(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.fail = func(attempt int, _ []store.TimedEvent) ([]store.Rejected, error) {
		if attempt <= 3 {
			return nil, errors.New("dial tcp 127.0.0.1:5432: connection refused")
		}
		return nil, nil
	}
	r := newRecorder(t, w, Options{Ack: AckQueued, QueueSize: 100, BatchSize: 10, FlushInterval: time.Hour,
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	for i := range 10 {
		mustRecord(t, r, ev(i))
	}
	w.waitBatches(t, 1)
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 10)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 10, Written: 10, Retries: 3})
}

func TestOutageOutlastingCloseLosesLoudly(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.fail = func(int, []store.TimedEvent) ([]store.Rejected, error) {
		return nil, errors.New("connection refused")
	}
	var logs syncBuffer
	r, err := New(w, Options{Ack: AckQueued, QueueSize: 100, BatchSize: 4, FlushInterval: time.Hour,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustRecord(t, r, ev(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = r.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close during an outage = %v, want an error with the deadline", err)
	}
	s := r.Stats()
	if s.Lost != 10 || s.Written != 0 || s.Retries == 0 {
		t.Errorf("stats = %+v, want 10 lost, none written, some retries", s)
	}
	if !logs.contains("level=ERROR msg=recorder.events_lost") || !logs.contains("lost=10") {
		t.Errorf("logs do not report the loss loudly:\n%s", logs.String())
	}
}

// A row the database refuses costs only itself; under AckCommit its caller
// still gets nil, as Capgo answers as usual when these writes fail.
func TestRejectedRowsAreCountedAndTheRestWritten(t *testing.T) {
	t.Parallel()
	for _, ack := range []Ack{AckQueued, AckCommit} {
		t.Run(string(ack), func(t *testing.T) {
			t.Parallel()
			w := newFakeWriter()
			w.fail = func(_ int, batch []store.TimedEvent) ([]store.Rejected, error) {
				return []store.Rejected{{Event: batch[1].Event, Events: 1, Err: errors.New("value too long for type character varying(32)")}}, nil
			}
			var logs syncBuffer
			r, err := New(w, Options{Ack: ack, QueueSize: 10, BatchSize: 10, FlushInterval: time.Hour, Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			mustRecord(t, r, ev(0), ev(1), ev(2))
			closeNow(t, r)
			wantStats(t, r, Stats{Accepted: 3, Written: 2, Failed: 1})
			if !logs.contains("msg=recorder.row_rejected") || !logs.contains("device_id=1") {
				t.Errorf("the rejected row is not logged:\n%s", logs.String())
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"batch larger than queue", Options{QueueSize: 10, BatchSize: 11}},
		{"batch larger than the default queue", Options{BatchSize: DefaultQueueSize + 1}},
		{"negative queue", Options{QueueSize: -1}},
		{"negative batch", Options{BatchSize: -1}},
		{"retry max below min", Options{RetryMin: time.Second, RetryMax: time.Millisecond}},
		{"negative commit timeout", Options{CommitTimeout: -time.Second}},
		{"negative flush interval", Options{Ack: AckQueued, FlushInterval: -time.Second}},
		{"unknown ack", Options{Ack: "durable"}},
		{"ack in capitals", Options{Ack: "COMMIT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if r, err := New(newFakeWriter(), tc.o); err == nil {
				_ = r.Close(context.Background())
				t.Errorf("New(%+v) succeeded", tc.o)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil writer) succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a log sink safe for the writer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func (s *syncBuffer) contains(sub string) bool {
	return strings.Contains(s.String(), sub)
}
