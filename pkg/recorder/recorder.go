// Package recorder is the server's write path: a store.Recorder that
// takes each request's events into a bounded in-memory queue and writes
// them in batches from one writer goroutine, so the database sees a few
// multi-row statements per transaction instead of one round trip per row.
//
// What a nil from Record means is Options.Ack:
//
//   - AckCommit (the default): the transaction holding the call's events
//     has committed. This is group commit: when the writer becomes free it
//     takes everything queued (whole calls, up to BatchSize events), writes
//     it with one WriteBatch (one transaction) and wakes every caller of
//     the batch with the outcome. There is no timer: a lone call is written
//     at once, and under load batches grow by themselves while the previous
//     commit runs. A crash or kill -9 loses no acknowledged event.
//   - AckQueued: the events are queued; the writer writes full batches at
//     once and partial ones every FlushInterval. A crash or kill -9 loses
//     what was queued and not yet written (about one flush interval of
//     traffic in normal running).
//
// Guarantees, in both modes:
//   - Admission is per call: a call whose events do not fit the queue
//     (bounded in events) waits up to EnqueueWait for room and is then
//     refused whole with an error wrapping store.ErrOverloaded, having
//     queued nothing (the handler answers 503). Other calls are unaffected.
//   - A call's events are never split across batches, so they are
//     committed all together or not at all. A call larger than BatchSize is
//     written alone, as one batch of its own size.
//   - A row the database refuses for good (WriteBatch's savepoint
//     isolation) is logged (recorder.row_rejected) and skipped; the rest of
//     its batch is written, and its caller still gets nil, as Capgo ignores
//     failed writes of these rows and answers as usual.
//   - A batch that fails because the database is unavailable is retried
//     with backoff (RetryMin doubling to RetryMax).
//   - Close stops admitting (Record then returns store.ErrClosed), writes
//     everything queued and returns; events still unwritten at its deadline
//     are counted as lost and logged at Error, and under AckCommit their
//     callers get an error wrapping store.ErrClosed.
//
// Under AckCommit each call also has a deadline, CommitTimeout after it
// started (or ctx's, if earlier). A caller whose events are not committed
// by then gets an error wrapping store.ErrOverloaded: its request answers
// 503 and the device sends it again. What becomes of its events:
//   - still queued (not taken by the writer): they are withdrawn from the
//     queue and never written (Stats.Withdrawn);
//   - in the attempt under way: the attempt runs to its end; if it
//     commits, they are written although their caller got an error
//     (Stats.Late, logged as recorder.committed_late), and the device's
//     retry writes them a second time: delivery is at least once. If it
//     fails, they are left out of the next attempt and never written
//     (Stats.Withdrawn).
//
// Either way the recorder knows, counts and logs what became of them. The
// one outcome nobody can know is that of a commit whose connection was
// lost (or whose WriteTimeout passed) while the server committed: the
// batch counts as not written and is retried for the callers still
// waiting, so those events may be written twice.
//
// It leaves the SQL to a BatchWriter (pgstore.Store) and the HTTP answer to
// the handlers.
package recorder

import (
	"container/list"
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
	// WriteBatch writes the events in one transaction. Rows the database
	// refuses for good are skipped and returned in rejected, the rest
	// written. A non-nil error means nothing was written and the whole
	// batch may be retried.
	WriteBatch(ctx context.Context, batch []store.TimedEvent) (rejected []store.Rejected, err error)
}

// Stats counts what the recorder did since it started, in events. Once
// closed, Accepted = Written + Failed + Lost + Withdrawn.
type Stats struct {
	Accepted  uint64 // taken by Record into the queue
	Written   uint64 // in the database (Late included)
	Failed    uint64 // refused by the database row by row (logged, skipped)
	Lost      uint64 // accepted but not written by Close's deadline (logged at Error)
	Refused   uint64 // not taken by Record (queue full, or closed): their requests got 503
	Withdrawn uint64 // AckCommit: their callers gave up before an attempt could commit them; never written
	Late      uint64 // AckCommit: written after their callers gave up (at least once: the retry writes them again)
	Retries   uint64 // failed batch attempts that were retried
	Queued    int    // waiting now
}

// LogValue lets a Stats be logged as a group.
func (s Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("accepted", s.Accepted), slog.Uint64("written", s.Written),
		slog.Uint64("failed", s.Failed), slog.Uint64("lost", s.Lost),
		slog.Uint64("refused", s.Refused), slog.Uint64("withdrawn", s.Withdrawn),
		slog.Uint64("late", s.Late), slog.Uint64("retries", s.Retries),
		slog.Int("queued", s.Queued))
}

// Recorder is the batched store.Recorder. Create it with New and stop it
// with Close.
type Recorder struct {
	w   BatchWriter
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	queue  list.List // of *call: accepted, not yet taken by the writer, in order
	queued int       // events in queue
	closed bool
	// space is closed, and replaced, whenever events leave the queue or
	// Close runs: it wakes the Records waiting for room.
	space chan struct{}

	wake    chan struct{}      // capacity 1: there is something for the writer
	closing chan struct{}      // closed by Close: write everything, then stop
	done    chan struct{}      // closed when the writer has stopped
	abort   context.CancelFunc // cancels the writer's context at Close's deadline

	accepted, written, failed, lost, refused, withdrawn, late, retries atomic.Uint64
	lastOverloadLog                                                    atomic.Int64 // unix nanoseconds
}

// call is one Record's events on their way to the database.
type call struct {
	events []store.TimedEvent
	// deadline (AckCommit) is when its caller gives up; zero under
	// AckQueued, where nobody waits.
	deadline time.Time
	// done (AckCommit) receives the outcome, once; nil under AckQueued.
	done chan error

	// Guarded by Recorder.mu.
	elem    *list.Element // its place in the queue; nil once taken or withdrawn
	gaveUp  bool          // its caller returned an error while the writer held it
	settled bool          // done has received the outcome
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
	// The writer's context is detached from any request: a batch holds the
	// events of many requests and must be written whoever hangs up. Close
	// cancels it at its deadline.
	ctx, abort := context.WithCancel(context.Background())
	r := &Recorder{
		w: w, o: o, log: o.Log,
		space:   make(chan struct{}),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		abort:   abort,
	}
	go r.run(ctx)
	return r, nil
}

var _ store.Recorder = (*Recorder)(nil)

// Record takes the events as one unit, stamped with the current time.
// Under AckCommit it returns nil once they are committed; under AckQueued,
// once they are queued.
//
// It returns an error wrapping store.ErrOverloaded, having queued nothing,
// when the queue stays full for Options.EnqueueWait or ctx ends first, and
// store.ErrClosed after Close. Under AckCommit it also returns an error
// wrapping store.ErrOverloaded when the events are not committed within
// Options.CommitTimeout or before ctx ends (see the package doc for what
// becomes of them), and one wrapping store.ErrClosed when Close's deadline
// passes first. Rows the database refuses for good do not make it fail.
func (r *Recorder) Record(ctx context.Context, events ...plugin.Event) error {
	if len(events) == 0 {
		return nil
	}
	at := r.o.Now()
	c := &call{events: make([]store.TimedEvent, len(events))}
	for i, ev := range events {
		c.events[i] = store.TimedEvent{At: at, Event: ev}
	}
	if r.o.Ack == AckCommit {
		c.deadline = time.Now().Add(r.o.CommitTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(c.deadline) {
			c.deadline = d
		}
		c.done = make(chan error, 1)
	}
	if err := r.admit(ctx, c); err != nil {
		return err
	}
	if c.done == nil {
		return nil
	}
	return r.await(ctx, c)
}

// admit puts c in the queue, waiting for room up to EnqueueWait (and, under
// AckCommit, c's deadline), or refuses it whole.
func (r *Recorder) admit(ctx context.Context, c *call) error {
	n := len(c.events)
	var wait <-chan time.Time
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			r.refused.Add(uint64(n))
			return ErrClosed
		}
		if r.queued == 0 || r.queued+n <= r.o.QueueSize {
			c.elem = r.queue.PushBack(c)
			r.queued += n
			// Under AckCommit the writer takes whatever is there as soon as
			// it is free; under AckQueued it waits for a full batch or the
			// next tick.
			signal := r.o.Ack == AckCommit || r.queued >= r.o.BatchSize
			r.mu.Unlock()
			r.accepted.Add(uint64(n))
			if signal {
				select {
				case r.wake <- struct{}{}:
				default: // already signalled
				}
			}
			return nil
		}
		space := r.space
		r.mu.Unlock()

		if wait == nil {
			d := r.o.EnqueueWait
			if !c.deadline.IsZero() {
				d = min(d, time.Until(c.deadline))
			}
			t := time.NewTimer(d)
			defer t.Stop()
			wait = t.C
		}
		select {
		case <-space: // try again
		case <-wait:
			r.refused.Add(uint64(n))
			return r.overloaded(fmt.Errorf("recorder: queue full (%d events) for %s: %w", r.o.QueueSize, r.o.EnqueueWait, ErrOverloaded))
		case <-ctx.Done():
			r.refused.Add(uint64(n))
			return r.overloaded(fmt.Errorf("recorder: waiting for room in the queue: %w: %w", ErrOverloaded, context.Cause(ctx)))
		}
	}
}

// await waits for the outcome of c's commit until c's deadline or ctx's
// end, then gives up.
func (r *Recorder) await(ctx context.Context, c *call) error {
	t := time.NewTimer(time.Until(c.deadline))
	defer t.Stop()
	var cause error
	select {
	case err := <-c.done:
		return err
	case <-t.C:
		cause = fmt.Errorf("not committed within %s", r.o.CommitTimeout)
	case <-ctx.Done():
		cause = context.Cause(ctx)
	}
	if settled, err := r.giveUp(c); settled {
		return err // the outcome arrived meanwhile
	}
	return r.overloaded(fmt.Errorf("recorder: %d events: %w: %w", len(c.events), ErrOverloaded, cause))
}

// giveUp withdraws c from the queue, or tells the writer holding it that
// nobody waits for it any more; settled reports that the outcome had
// already arrived, and err is that outcome.
func (r *Recorder) giveUp(c *call) (settled bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.settled {
		return true, <-c.done
	}
	if c.elem != nil {
		// Still queued: nobody will ever write it.
		n := len(c.events)
		r.queue.Remove(c.elem)
		c.elem = nil
		r.queued -= n
		r.roomFreed()
		r.withdrawn.Add(uint64(n))
		return false, nil
	}
	// The writer holds it: it leaves it out of its next attempt, or counts
	// it as late if the attempt under way commits.
	c.gaveUp = true
	return false, nil
}

// roomFreed wakes the Records waiting for room. r.mu must be held.
func (r *Recorder) roomFreed() {
	close(r.space)
	r.space = make(chan struct{})
}

// overloaded warns, at most once a second, that requests are being turned
// away, and returns err.
func (r *Recorder) overloaded(err error) error {
	now := time.Now().UnixNano()
	last := r.lastOverloadLog.Load()
	if now-last >= int64(time.Second) && r.lastOverloadLog.CompareAndSwap(last, now) {
		r.log.Warn("recorder.overloaded", "err", err, "stats", r.Stats())
	}
	return err
}

// Close stops accepting events, writes everything queued and returns.
// When ctx ends first, the write in progress is abandoned, the events not
// written are counted as lost and logged at Error (under AckCommit their
// callers get an error wrapping store.ErrClosed), and the error says how
// many. Close may be called more than once; later calls wait for the first.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	if first {
		r.closed = true
		r.roomFreed() // wake waiting Records: they see closed
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
	r.log.Info("recorder.closed", "ack", r.o.Ack, "stats", s)
	if s.Lost == 0 {
		return nil
	}
	if r.o.Ack == AckCommit {
		return fmt.Errorf("recorder: %d events not written at shutdown (their requests got 503): %w", s.Lost, context.Cause(ctx))
	}
	return fmt.Errorf("recorder: %d acknowledged events lost at shutdown: %w", s.Lost, context.Cause(ctx))
}

// Stats returns the counters so far.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	queued := r.queued
	r.mu.Unlock()
	return Stats{
		Accepted: r.accepted.Load(), Written: r.written.Load(), Failed: r.failed.Load(),
		Lost: r.lost.Load(), Refused: r.refused.Load(), Withdrawn: r.withdrawn.Load(),
		Late: r.late.Load(), Retries: r.retries.Load(), Queued: queued,
	}
}
