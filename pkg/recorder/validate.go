package recorder

import (
	"errors"
	"fmt"
	"time"
)

// The ranges [Options.Validate] holds a deployment's settings to (the
// README's settings table). New accepts wider values: tests switch the
// flush timer off with an hour-long interval.
const (
	MaxQueueSize     = 10_000_000       // about 2–4 GB of queued events
	MinInterval      = time.Millisecond // FlushInterval and EnqueueWait
	MaxFlushInterval = time.Minute
	MaxEnqueueWait   = 10 * time.Second
	// MaxCommitTimeout is what storecall gives a request's writes in all.
	MaxCommitTimeout = 10 * time.Second
)

// Validate reports every problem in o at once: what New refuses, and a
// setting outside the ranges above. Zero values take their defaults first
// (and a negative EnqueueWait, "do not wait", is allowed). A program calls
// it with its settings before it starts anything.
func (o Options) Validate() error {
	errs := []error{o.withDefaults().validate()}
	if o.QueueSize > MaxQueueSize {
		errs = append(errs, fmt.Errorf("recorder: queue size %d: want at most %d", o.QueueSize, MaxQueueSize))
	}
	if f := o.FlushInterval; f > 0 && (f < MinInterval || f > MaxFlushInterval) {
		errs = append(errs, fmt.Errorf("recorder: flush interval %s: want 1ms to 1m", f))
	}
	if w := o.EnqueueWait; w > 0 && (w < MinInterval || w > MaxEnqueueWait) {
		errs = append(errs, fmt.Errorf("recorder: enqueue wait %s: want 1ms to 10s (requests wait this long before a 503)", w))
	}
	if c := o.CommitTimeout; c > 0 && (c < MinInterval || c > MaxCommitTimeout) {
		errs = append(errs, fmt.Errorf("recorder: commit timeout %s: want 1ms to 10s (a request's writes are given 10s in all)", c))
	}
	return errors.Join(errs...)
}
