// Package recorder is the server's write path: a store.Recorder that takes
// each request's events into a bounded in-memory queue and writes them in
// batches from one background writer, so a request never waits for the
// database to write and the database sees a few multi-row statements
// instead of one round trip per row.
//
// Guarantees:
//   - Record queues a call's events as one unit, or returns an error
//     wrapping store.ErrOverloaded and queues nothing (the handler answers
//     503). What Record accepted is written unless the process dies.
//   - The queue is bounded in events: when it is full, Record waits up to
//     Options.EnqueueWait for room, then refuses. Nothing is dropped
//     silently, and memory stays bounded.
//   - A row the database refuses for good is logged and skipped; the rest
//     of its batch is written.
//   - A batch that fails because the database is unavailable is retried
//     with backoff until it is written or Close's deadline passes.
//   - Close stops accepting (Record then returns store.ErrClosed), writes
//     everything queued and returns; events still unwritten at its
//     deadline are counted as lost and logged at Error.
//
// The queue lives in memory: a crash or kill -9 loses what was queued and
// not yet written (at most one flush interval's worth in normal running).
//
// It leaves the SQL to a BatchWriter (pgstore.Store) and the HTTP answer to
// the handlers.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// ErrOverloaded is store.ErrOverloaded, for callers that hold a *Recorder.
var ErrOverloaded = store.ErrOverloaded

// ErrClosed is store.ErrClosed: Record after Close. It wraps ErrOverloaded.
var ErrClosed = store.ErrClosed

// BatchWriter writes batches of events (pgstore.Store implements it).
type BatchWriter interface {
	// WriteBatch writes the events. Rows the database refuses for good are
	// skipped and returned in rejected, the rest written. A non-nil error
	// means nothing was written and the whole batch may be retried.
	WriteBatch(ctx context.Context, batch []store.TimedEvent) (rejected []store.Rejected, err error)
}

// Options tune the recorder. Zero values take the defaults.
type Options struct {
	// QueueSize bounds the events waiting to be written (default 50000).
	// A single call larger than the whole queue is accepted only into an
	// empty queue.
	QueueSize int
	// BatchSize bounds the events of one WriteBatch (default 1000); a full
	// batch is written at once, without waiting for the interval.
	BatchSize int
	// FlushInterval is the longest an event waits in a partial batch
	// (default 100ms).
	FlushInterval time.Duration
	// EnqueueWait is how long Record waits for room in a full queue
	// before refusing (default 250ms; negative means do not wait).
	EnqueueWait time.Duration
	// WriteTimeout bounds one WriteBatch attempt (default 30s).
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts at a batch
	// that failed (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// Log receives the recorder's own events; nil means slog.Default().
	Log *slog.Logger
	// Now stamps each call's events with its time; nil means time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultQueueSize     = 50000
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultEnqueueWait   = 250 * time.Millisecond
	DefaultWriteTimeout  = 30 * time.Second
	DefaultRetryMin      = 100 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
)

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize == 0 {
		o.BatchSize = min(DefaultBatchSize, o.QueueSize)
	}
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.EnqueueWait, DefaultEnqueueWait)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.RetryMin, DefaultRetryMin)
	def(&o.RetryMax, DefaultRetryMax)
	if o.EnqueueWait < 0 {
		o.EnqueueWait = 0
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.QueueSize < 1 || o.BatchSize < 1 || o.BatchSize > o.QueueSize {
		errs = append(errs, fmt.Errorf("recorder: want 1 ≤ batch size (%d) ≤ queue size (%d)", o.BatchSize, o.QueueSize))
	}
	if o.FlushInterval < 0 || o.WriteTimeout < 0 || o.RetryMin < 0 || o.RetryMax < o.RetryMin {
		errs = append(errs, errors.New("recorder: durations must be positive and RetryMin ≤ RetryMax"))
	}
	return errors.Join(errs...)
}

// Stats counts what the recorder did since it started, in events.
type Stats struct {
	Accepted uint64 // taken by Record
	Written  uint64 // in the database
	Failed   uint64 // refused by the database row by row (logged, skipped)
	Lost     uint64 // accepted but not written by Close's deadline (logged at Error)
	Refused  uint64 // not taken by Record (queue full, or closed): their requests got 503
	Retries  uint64 // failed batch attempts that were retried
	Queued   int    // waiting now
}

// LogValue lets a Stats be logged as a group.
func (s Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("accepted", s.Accepted), slog.Uint64("written", s.Written),
		slog.Uint64("failed", s.Failed), slog.Uint64("lost", s.Lost),
		slog.Uint64("refused", s.Refused), slog.Uint64("retries", s.Retries),
		slog.Int("queued", s.Queued))
}

// Recorder is the batched, asynchronous store.Recorder. Create it with
// New and stop it with Close.
type Recorder struct {
	w   BatchWriter
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	queue  []store.TimedEvent // accepted, not yet taken by the writer, in order
	closed bool
	// space is closed, and replaced, whenever the writer takes events off
	// the queue or Close runs: it wakes the Records waiting for room.
	space chan struct{}

	full    chan struct{}      // capacity 1: a full batch is waiting
	closing chan struct{}      // closed by Close: write everything, then stop
	done    chan struct{}      // closed when the writer has stopped
	abort   context.CancelFunc // cancels the writer's context at Close's deadline

	accepted, written, failed, lost, refused, retries atomic.Uint64
	lastOverloadLog                                   atomic.Int64 // unix nanoseconds
}

// New starts a recorder writing through w. Close must be called to stop
// its writer.
func New(w BatchWriter, o Options) (*Recorder, error) {
	if w == nil {
		return nil, errors.New("recorder: a BatchWriter is required")
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	// The writer's context is detached from any request: acknowledged
	// events must be written whoever asked. Close cancels it at its
	// deadline.
	ctx, abort := context.WithCancel(context.Background())
	r := &Recorder{
		w: w, o: o, log: o.Log,
		space:   make(chan struct{}),
		full:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		abort:   abort,
	}
	go r.run(ctx)
	return r, nil
}

var _ store.Recorder = (*Recorder)(nil)

// Record queues the events as one unit, stamped with the current time. It
// returns an error wrapping store.ErrOverloaded, having queued nothing,
// when the queue stays full for Options.EnqueueWait or ctx ends first, and
// store.ErrClosed after Close.
func (r *Recorder) Record(ctx context.Context, events ...plugin.Event) error {
	if len(events) == 0 {
		return nil
	}
	at := r.o.Now()
	var deadline <-chan time.Time
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			r.refused.Add(uint64(len(events)))
			return ErrClosed
		}
		if n := len(r.queue); n == 0 || n+len(events) <= r.o.QueueSize {
			for _, ev := range events {
				r.queue = append(r.queue, store.TimedEvent{At: at, Event: ev})
			}
			isFull := len(r.queue) >= r.o.BatchSize
			r.mu.Unlock()
			r.accepted.Add(uint64(len(events)))
			if isFull {
				select {
				case r.full <- struct{}{}:
				default: // already signalled
				}
			}
			return nil
		}
		space := r.space
		r.mu.Unlock()

		if deadline == nil {
			t := time.NewTimer(r.o.EnqueueWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-space: // try again
		case <-deadline:
			return r.refuse(len(events), fmt.Errorf("recorder: queue full (%d events) for %s: %w", r.o.QueueSize, r.o.EnqueueWait, ErrOverloaded))
		case <-ctx.Done():
			return r.refuse(len(events), fmt.Errorf("recorder: waiting for room in the queue: %w: %w", ErrOverloaded, context.Cause(ctx)))
		}
	}
}

// refuse counts a refused call and warns, at most once a second, that
// requests are being turned away.
func (r *Recorder) refuse(n int, err error) error {
	r.refused.Add(uint64(n))
	now := time.Now().UnixNano()
	last := r.lastOverloadLog.Load()
	if now-last >= int64(time.Second) && r.lastOverloadLog.CompareAndSwap(last, now) {
		r.log.Warn("recorder.overloaded", "err", err, "stats", r.Stats())
	}
	return err
}

// Close stops accepting events, writes everything queued and returns.
// When ctx ends first, the write in progress is abandoned, the events not
// written are counted as lost and logged at Error, and the error says how
// many. Close may be called more than once; later calls wait for the first.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	if first {
		r.closed = true
		close(r.space) // wake waiting Records: they see closed
		r.space = make(chan struct{})
	}
	r.mu.Unlock()
	if !first {
		select {
		case <-r.done:
		case <-ctx.Done():
		}
		return nil
	}
	close(r.closing)
	select {
	case <-r.done:
	case <-ctx.Done():
		r.abort()
		<-r.done
	}
	r.abort()
	s := r.Stats()
	r.log.Info("recorder.closed", "stats", s)
	if s.Lost > 0 {
		return fmt.Errorf("recorder: %d acknowledged events lost at shutdown: %w", s.Lost, context.Cause(ctx))
	}
	return nil
}

// Stats returns the counters so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	queued := len(r.queue)
	r.mu.Unlock()
	return Stats{
		Accepted: r.accepted.Load(), Written: r.written.Load(), Failed: r.failed.Load(),
		Lost: r.lost.Load(), Refused: r.refused.Load(), Retries: r.retries.Load(), Queued: queued,
	}
}

// run is the writer: it writes full batches as soon as they are full,
// partial ones every flush interval, and everything when closing.
func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.o.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.full:
			r.flush(ctx, false)
		case <-tick.C:
			r.flush(ctx, true)
		case <-r.closing:
			// Closed: Record takes nothing more, so this empties the queue
			// (writing it, or counting it lost once ctx is cancelled).
			r.flush(ctx, true)
			return
		}
	}
}

// flush writes batches while there is a full one, or while there is
// anything at all when partial is set.
func (r *Recorder) flush(ctx context.Context, partial bool) {
	for {
		batch := r.take(partial)
		if len(batch) == 0 {
			return
		}
		r.write(ctx, batch)
	}
}

// take removes the next batch from the queue: up to BatchSize events, or
// nothing when fewer are waiting and partial is not set.
func (r *Recorder) take(partial bool) []store.TimedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.queue)
	if n == 0 || (!partial && n < r.o.BatchSize) {
		return nil
	}
	k := min(n, r.o.BatchSize)
	batch := r.queue[:k:k]
	r.queue = r.queue[k:]
	if len(r.queue) == 0 {
		r.queue = nil // let a burst's backing array go
	}
	close(r.space)
	r.space = make(chan struct{})
	return batch
}

// write writes one batch, retrying with backoff while the database is
// unavailable, until it is written or ctx is cancelled (Close's deadline).
func (r *Recorder) write(ctx context.Context, batch []store.TimedEvent) {
	backoff := r.o.RetryMin
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			r.lose(batch, err)
			return
		}
		actx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
		rejected, err := r.w.WriteBatch(actx, batch)
		cancel()
		if err == nil {
			r.account(batch, rejected, attempt)
			return
		}
		if ctx.Err() != nil {
			r.lose(batch, err)
			return
		}
		r.retries.Add(1)
		r.log.Warn("recorder.write_failed", "err", err, "events", len(batch), "attempt", attempt, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, r.o.RetryMax)
	}
}

// account counts a written batch and logs its refused rows.
func (r *Recorder) account(batch []store.TimedEvent, rejected []store.Rejected, attempt int) {
	failed := 0
	for _, rj := range rejected {
		failed += rj.Events
		app, device := rj.Event.Subject()
		r.log.Error("recorder.row_rejected", "event", fmt.Sprintf("%T", rj.Event), "events", rj.Events,
			"app_id", app, "device_id", device, "err", rj.Err)
	}
	failed = min(failed, len(batch))
	r.written.Add(uint64(len(batch) - failed))
	r.failed.Add(uint64(failed))
	if attempt > 1 {
		r.log.Info("recorder.write_recovered", "events", len(batch), "attempts", attempt)
	}
}

// lose accounts for a batch abandoned at Close's deadline.
func (r *Recorder) lose(batch []store.TimedEvent, err error) {
	r.lost.Add(uint64(len(batch)))
	r.log.Error("recorder.events_lost", "events", len(batch), "err", err)
}
