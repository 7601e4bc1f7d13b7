package recorder

import (
	"context"
	"fmt"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// run is the writer. Under AckCommit it writes whatever is queued as soon
// as it is free; under AckQueued it writes full batches at once and
// partial ones every flush interval. When closing it writes everything.
func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	var tick <-chan time.Time
	if r.o.Ack == AckQueued {
		t := time.NewTicker(r.o.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	partial := r.o.Ack == AckCommit
	for {
		select {
		case <-r.wake:
			r.flush(ctx, partial)
		case <-tick:
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
		calls := r.take(partial)
		if len(calls) == 0 {
			return
		}
		r.write(ctx, calls)
	}
}

// take removes the next batch from the queue: whole calls, in order, up to
// BatchSize events (one call alone when it is larger), or nothing when
// fewer than BatchSize events wait and partial is not set.
func (r *Recorder) take(partial bool) []*call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queued == 0 || (!partial && r.queued < r.o.BatchSize) {
		return nil
	}
	var calls []*call
	n := 0
	for e := r.queue.Front(); e != nil && n < r.o.BatchSize; e = r.queue.Front() {
		c := e.Value.(*call)
		if len(calls) > 0 && n+len(c.events) > r.o.BatchSize {
			break
		}
		r.queue.Remove(e)
		c.elem = nil
		calls = append(calls, c)
		n += len(c.events)
	}
	r.queued -= n
	r.roomFreed()
	return calls
}

// write writes the calls' events as one batch, retrying with backoff while
// the database is unavailable. Under AckCommit it leaves out, before each
// attempt, the calls whose callers have given up, and stops when none is
// left; the writer's ctx ends only at Close's deadline, and then whatever
// is left is lost.
func (r *Recorder) write(ctx context.Context, calls []*call) {
	calls = r.prune(calls)
	batch := eventsOf(calls)
	backoff := r.o.RetryMin
	for attempt := 1; len(calls) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			r.lose(calls, err)
			return
		}
		// An attempt runs to its end (or WriteTimeout) even when its callers
		// give up meanwhile: cutting it off would leave its outcome
		// unknown (the server may commit before it hears of the cancel),
		// while letting it finish tells which events were written late.
		actx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
		start := time.Now()
		rejected, err := r.w.WriteBatch(actx, batch)
		cancel()
		if err == nil {
			if r.o.Committed != nil {
				r.o.Committed(batch, time.Since(start))
			}
			r.committed(calls, len(batch), rejected, attempt)
			return
		}
		if ctx.Err() != nil {
			r.lose(calls, err)
			return
		}
		if kept := r.prune(calls); len(kept) != len(calls) {
			calls, batch = kept, eventsOf(kept)
		}
		if len(calls) == 0 {
			// Everybody gave up: nothing left to retry.
			r.log.Warn("recorder.write_failed", "err", err, "attempt", attempt, "retry", false)
			return
		}
		r.retries.Add(1)
		r.log.Warn("recorder.write_failed", "err", err, "events", len(batch), "calls", len(calls), "attempt", attempt, "retry_in", backoff)
		wait := backoff
		if last := lastDeadline(calls); !last.IsZero() {
			wait = min(wait, time.Until(last)) // nobody waits longer than that
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, r.o.RetryMax)
		if kept := r.prune(calls); len(kept) != len(calls) {
			calls, batch = kept, eventsOf(kept)
		}
	}
}

// prune returns the calls somebody still waits for (all of them under
// AckQueued). A call whose caller gave up, or whose deadline has passed,
// is withdrawn: its events are never written, and its caller gets (or
// already got) an error wrapping ErrOverloaded.
func (r *Recorder) prune(calls []*call) []*call {
	if r.o.Ack != AckCommit {
		return calls
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := calls[:0:0]
	for _, c := range calls {
		switch {
		case c.gaveUp:
		case !now.Before(c.deadline):
			r.settle(c, fmt.Errorf("recorder: %d events: %w: not committed within %s", len(c.events), ErrOverloaded, r.o.CommitTimeout))
		default:
			kept = append(kept, c)
			continue
		}
		r.withdrawn.Add(uint64(len(c.events)))
	}
	return kept
}

// lastDeadline is the latest deadline of the calls; zero under AckQueued.
func lastDeadline(calls []*call) time.Time {
	var last time.Time
	for _, c := range calls {
		if c.deadline.After(last) {
			last = c.deadline
		}
	}
	return last
}

func eventsOf(calls []*call) []store.TimedEvent {
	if len(calls) == 1 {
		return calls[0].events
	}
	n := 0
	for _, c := range calls {
		n += len(c.events)
	}
	batch := make([]store.TimedEvent, 0, n)
	for _, c := range calls {
		batch = append(batch, c.events...)
	}
	return batch
}

// committed counts a written batch, logs its refused rows and wakes its
// callers with nil: a refused row does not fail its request (Capgo ignores
// failed writes of these rows).
func (r *Recorder) committed(calls []*call, events int, rejected []store.Rejected, attempt int) {
	failed := 0
	for _, rj := range rejected {
		failed += rj.Events
		app, device := rj.Event.Subject()
		r.log.Error("recorder.row_rejected", "event", fmt.Sprintf("%T", rj.Event), "events", rj.Events,
			"app_id", app, "device_id", device, "err", rj.Err)
	}
	failed = min(failed, events)
	r.written.Add(uint64(events - failed))
	r.failed.Add(uint64(failed))
	late := 0
	r.mu.Lock()
	for _, c := range calls {
		if c.gaveUp {
			late += len(c.events)
			continue
		}
		r.settle(c, nil)
	}
	r.mu.Unlock()
	if late > 0 {
		r.late.Add(uint64(late))
		r.log.Warn("recorder.committed_late", "events", late, "attempt", attempt,
			"hint", "their requests were answered 503 while the commit ran; the devices' retries write them again")
	}
	if attempt > 1 {
		r.log.Info("recorder.write_recovered", "events", events, "attempts", attempt)
	}
}

// lose accounts for a batch abandoned at Close's deadline and tells the
// callers still waiting.
func (r *Recorder) lose(calls []*call, err error) {
	lost, withdrawn := 0, 0
	r.mu.Lock()
	for _, c := range calls {
		if c.gaveUp {
			withdrawn += len(c.events)
			continue
		}
		lost += len(c.events)
		r.settle(c, fmt.Errorf("recorder: %d events not committed before shutdown: %w: %w", len(c.events), ErrClosed, err))
	}
	r.mu.Unlock()
	r.withdrawn.Add(uint64(withdrawn))
	if lost > 0 {
		r.lost.Add(uint64(lost))
		r.log.Error("recorder.events_lost", "events", lost, "err", err)
	}
}

// settle hands c's caller its outcome (once; nothing under AckQueued).
// r.mu must be held.
func (r *Recorder) settle(c *call, err error) {
	if c.done == nil || c.settled {
		return
	}
	c.settled = true
	c.done <- err
}
