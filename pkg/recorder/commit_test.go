package recorder

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// The tests of AckCommit (the default) with a hand-written BatchWriter:
// the batching logic. commit_pg_test.go checks the same promises against
// PostgreSQL.

// recordAsync runs Record in a goroutine; the result arrives on the channel.
func recordAsync(ctx context.Context, r *Recorder, events ...plugin.Event) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- r.Record(ctx, events...) }()
	return errc
}

func wantNil(t *testing.T, what string, errc <-chan error) {
	t.Helper()
	if err := <-errc; err != nil {
		t.Errorf("%s: Record = %v, want nil", what, err)
	}
}

func wantOverloaded(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, store.ErrOverloaded) {
		t.Errorf("%s: Record = %v, want an error wrapping ErrOverloaded", what, err)
	}
}

// ids written, in batch order.
func flat(batches [][]string) []string {
	var out []string
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

func TestCommitReturnsOnlyOnceTheBatchIsWritten(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{CommitTimeout: time.Minute})
	// The writer goes one batch at a time, as the test lets it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case w.gate <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	const callers = 64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if err := r.Record(context.Background(), ev(i)); err != nil {
				t.Errorf("caller %d: Record = %v", i, err)
				return
			}
			if !slices.Contains(flat(w.written()), strconv.Itoa(i)) {
				t.Errorf("caller %d: Record returned before its batch was written (written: %v)", i, w.written())
			}
		})
	}
	wg.Wait()
	if got := len(flat(w.written())); got != callers {
		t.Errorf("%d events written, want %d", got, callers)
	}
	wantStats(t, r, Stats{Accepted: callers, Written: callers})
}

// While the writer commits one batch, the calls that arrive wait in the
// queue; once it is free it takes them all (up to BatchSize) into one
// WriteBatch.
func TestCommitCoalescesTheCallsThatWaitedIntoOneBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch int
		want  []int // events per WriteBatch
	}{
		{1000, []int{1, 31}},
		{10, []int{1, 10, 10, 10, 1}},
	} {
		t.Run("batch="+strconv.Itoa(tc.batch), func(t *testing.T) {
			t.Parallel()
			w := newFakeWriter()
			w.gate = make(chan struct{})
			r := newRecorder(t, w, Options{BatchSize: tc.batch, CommitTimeout: time.Minute})
			first := recordAsync(context.Background(), r, ev(0))
			<-w.entered // the writer is committing call 0
			var errs []<-chan error
			for i := 1; i < 32; i++ {
				errs = append(errs, recordAsync(context.Background(), r, ev(i)))
			}
			waitFor(t, func() bool { return r.Stats().Queued == 31 })
			close(w.gate)
			wantNil(t, "first caller", first)
			for i, errc := range errs {
				wantNil(t, "caller "+strconv.Itoa(i+1), errc)
			}
			var sizes []int
			for _, b := range w.written() {
				sizes = append(sizes, len(b))
			}
			if d := cmp.Diff(tc.want, sizes); d != "" {
				t.Errorf("32 callers: events per WriteBatch (-want +got):\n%s", d)
			}
			got := flat(w.written())
			slices.SortFunc(got, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
			if d := cmp.Diff(ids(0, 32), got); d != "" {
				t.Errorf("events written (-want +got):\n%s", d)
			}
		})
	}
}

// No flush interval under AckCommit: a lone call is written at once. The
// interval is an hour and the commit timeout a minute, so only an
// immediate write can answer nil.
func TestCommitIdleCallIsWrittenWithoutWaitingForAFlush(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	r := newRecorder(t, w, Options{FlushInterval: time.Hour, CommitTimeout: time.Minute})
	mustRecord(t, r, ev(0), ev(1))
	mustRecord(t, r, ev(2))
	if d := cmp.Diff([][]string{ids(0, 2), ids(2, 3)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
}

// A caller that gives up while its call is still queued withdraws it: it
// is never written, and its room in the queue is freed.
func TestCommitCallerGivingUpInTheQueueWithdrawsItsEvents(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{CommitTimeout: time.Minute})
	first := recordAsync(context.Background(), r, ev(0))
	<-w.entered
	ctx, cancel := context.WithCancel(context.Background())
	second := recordAsync(ctx, r, ev(1), ev(2))
	waitFor(t, func() bool { return r.Stats().Queued == 2 })
	cancel()
	err := <-second
	wantOverloaded(t, "caller that gave up", err)
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrClosed) {
		t.Errorf("Record = %v, want it to name context.Canceled and not ErrClosed", err)
	}
	if q := r.Stats().Queued; q != 0 {
		t.Errorf("queued = %d after the withdrawal, want 0", q)
	}
	close(w.gate)
	wantNil(t, "first caller", first)
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 1)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 3, Written: 1, Withdrawn: 2})
}

// A caller that gives up while the writer retries its batch is left out of
// the next attempt: its events are never written; the others of the batch
// are.
func TestCommitCallerGivingUpDuringRetriesIsLeftOut(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	w.stubborn = true
	w.fail = func(attempt int, _ []store.TimedEvent) ([]store.Rejected, error) {
		if attempt == 2 {
			return nil, errors.New("read tcp 127.0.0.1:5432: connection reset by peer")
		}
		return nil, nil
	}
	r := newRecorder(t, w, Options{CommitTimeout: time.Minute, RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	z := recordAsync(context.Background(), r, ev(0))
	<-w.entered // attempt 1: call 0
	ctx, cancel := context.WithCancel(context.Background())
	a := recordAsync(ctx, r, ev(1))
	c := recordAsync(context.Background(), r, ev(2))
	waitFor(t, func() bool { return r.Stats().Queued == 2 })
	w.gate <- struct{}{} // attempt 1 commits; the writer takes calls 1 and 2
	<-w.entered          // attempt 2 runs
	cancel()
	wantOverloaded(t, "caller that gave up", <-a)
	close(w.gate) // attempt 2 fails; attempt 3 has call 2 only
	wantNil(t, "caller 0", z)
	wantNil(t, "caller 2", c)
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 1), ids(2, 3)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 3, Written: 2, Withdrawn: 1, Retries: 1})
}

// A caller that gives up while an attempt holding its events is already
// committing gets its error, and the events are written anyway: counted
// as late and logged (at least once: the device sends them again).
func TestCommitLateCommitIsCountedAndLogged(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	w.stubborn = true
	var logs syncBuffer
	r, err := New(w, Options{CommitTimeout: time.Minute, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := recordAsync(ctx, r, ev(0), ev(1))
	<-w.entered
	cancel()
	wantOverloaded(t, "caller that gave up", <-errc)
	close(w.gate)
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 2)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 2, Written: 2, Late: 2})
	if !logs.contains("level=WARN msg=recorder.committed_late events=2") {
		t.Errorf("the late commit is not logged:\n%s", logs.String())
	}
}

// Admission is per call: a call that does not fit the queue is refused
// whole, queues nothing, and the calls already queued are committed.
func TestCommitFullQueueRefusesTheWholeCallOnly(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{QueueSize: 4, BatchSize: 2, EnqueueWait: -1, CommitTimeout: time.Minute})
	z := recordAsync(context.Background(), r, ev(0), ev(1))
	<-w.entered
	a := recordAsync(context.Background(), r, ev(2), ev(3))
	waitFor(t, func() bool { return r.Stats().Queued == 2 })
	b := recordAsync(context.Background(), r, ev(4), ev(5))
	waitFor(t, func() bool { return r.Stats().Queued == 4 })
	err := r.Record(context.Background(), ev(6), ev(7), ev(8))
	wantOverloaded(t, "call that does not fit", err)
	if errors.Is(err, store.ErrClosed) {
		t.Errorf("Record = %v, want overloaded, not closed", err)
	}
	if q := r.Stats().Queued; q != 4 {
		t.Errorf("queued = %d after a refusal, want 4: nothing of the refused call may be queued", q)
	}
	close(w.gate)
	for name, errc := range map[string]<-chan error{"call 0-1": z, "call 2-3": a, "call 4-5": b} {
		wantNil(t, name, errc)
	}
	closeNow(t, r)
	if d := cmp.Diff([][]string{ids(0, 2), ids(2, 4), ids(4, 6)}, w.written()); d != "" {
		t.Errorf("batches (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 6, Written: 6, Refused: 3})
}

// Close stops admitting, commits what is queued and wakes every caller.
func TestCommitCloseCommitsTheQueueAndWakesEveryone(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{})
	r := newRecorder(t, w, Options{CommitTimeout: time.Minute})
	z := recordAsync(context.Background(), r, ev(0))
	<-w.entered
	a := recordAsync(context.Background(), r, ev(1))
	b := recordAsync(context.Background(), r, ev(2))
	waitFor(t, func() bool { return r.Stats().Queued == 2 })
	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	close(w.gate)
	for name, errc := range map[string]<-chan error{"caller 0": z, "caller 1": a, "caller 2": b} {
		wantNil(t, name, errc)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := r.Record(context.Background(), ev(3)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
	got := flat(w.written())
	slices.Sort(got)
	if d := cmp.Diff(ids(0, 3), got); d != "" {
		t.Errorf("events written (-want +got):\n%s", d)
	}
	wantStats(t, r, Stats{Accepted: 3, Written: 3, Refused: 1})
}

// Whatever is still unwritten at Close's deadline fails its callers with
// ErrClosed, is counted lost and logged, and Close says so.
func TestCommitCloseDeadlineFailsTheCallersStillWaiting(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{}) // never opened: the database hangs
	var logs syncBuffer
	r, err := New(w, Options{CommitTimeout: time.Minute, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	z := recordAsync(context.Background(), r, ev(0))
	<-w.entered
	a := recordAsync(context.Background(), r, ev(1), ev(2))
	waitFor(t, func() bool { return r.Stats().Queued == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want an error naming the deadline", err)
	}
	for name, errc := range map[string]<-chan error{"caller in the writer": z, "caller in the queue": a} {
		if err := <-errc; !errors.Is(err, store.ErrClosed) || !errors.Is(err, store.ErrOverloaded) {
			t.Errorf("%s: Record = %v, want an error wrapping ErrClosed (an ErrOverloaded)", name, err)
		}
	}
	wantStats(t, r, Stats{Accepted: 3, Lost: 3})
	if !logs.contains("level=ERROR msg=recorder.events_lost") {
		t.Errorf("the loss is not logged:\n%s", logs.String())
	}
}

// A caller whose events are not committed within CommitTimeout gets
// ErrOverloaded, and its events are never written.
func TestCommitTimeoutFailsTheCallerAndWithdrawsItsEvents(t *testing.T) {
	t.Parallel()
	w := newFakeWriter()
	w.gate = make(chan struct{}) // never opened: the database hangs
	r := newRecorder(t, w, Options{CommitTimeout: 20 * time.Millisecond, WriteTimeout: 50 * time.Millisecond})
	errc := recordAsync(context.Background(), r, ev(0))
	<-w.entered
	queued := recordAsync(context.Background(), r, ev(1))
	for name, errc := range map[string]<-chan error{"caller in the writer": errc, "caller in the queue": queued} {
		err := <-errc
		wantOverloaded(t, name, err)
		if errors.Is(err, store.ErrClosed) || !strings.Contains(err.Error(), "not committed within 20ms") {
			t.Errorf("%s: Record = %v, want it to say it was not committed within 20ms", name, err)
		}
	}
	// The attempt times out, and since nobody waits for its events any
	// more it is not retried: Close finds nothing to write.
	closeNow(t, r)
	if got := w.written(); len(got) != 0 {
		t.Errorf("written %v, want nothing: every caller gave up", got)
	}
	wantStats(t, r, Stats{Accepted: 2, Withdrawn: 2})
}
