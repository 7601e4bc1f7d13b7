package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Ack says what a successful Record means to its caller, and so what a
// device's 2xx answer promises.
type Ack string

const (
	// AckCommit (the default): Record returns nil only once the transaction
	// holding the call's events has committed. A crash loses nothing that
	// was acknowledged. Concurrent calls share one transaction (group
	// commit), so this costs a request one commit's latency, not one
	// commit of its own.
	AckCommit Ack = "commit"
	// AckQueued: Record returns nil once the events are in the in-memory
	// queue; the writer commits them within about FlushInterval. A crash or
	// kill -9 loses what was acknowledged and not yet written.
	AckQueued Ack = "queued"
)

// ParseAck reads an Ack from its name ("commit" or "queued"); "" is the
// default, AckCommit.
func ParseAck(s string) (Ack, error) {
	switch a := Ack(s); a {
	case "":
		return AckCommit, nil
	case AckCommit, AckQueued:
		return a, nil
	}
	return "", fmt.Errorf("recorder: ack %q: want %s or %s", s, AckCommit, AckQueued)
}

// Options tune the recorder. Zero values take the defaults.
type Options struct {
	// Ack is what Record's nil means: AckCommit (default) or AckQueued.
	Ack Ack
	// CommitTimeout (AckCommit) bounds how long Record waits for its
	// events to be committed, from the moment it is called (default 5s).
	// A call not committed by then gets an error wrapping
	// store.ErrOverloaded; see the package doc for what becomes of its
	// events.
	CommitTimeout time.Duration
	// QueueSize bounds the events waiting to be written (default 50000).
	// A single call larger than the whole queue is accepted only into an
	// empty queue.
	QueueSize int
	// BatchSize bounds the events of one WriteBatch (default 1000). A
	// call's events are never split across batches: a call larger than
	// BatchSize is written alone, as one batch of its own size.
	BatchSize int
	// FlushInterval (AckQueued) is the longest an event waits in a
	// partial batch (default 100ms). AckCommit does not use it: a batch is
	// written as soon as the writer is free.
	FlushInterval time.Duration
	// EnqueueWait is how long Record waits for room in a full queue
	// before refusing (default 250ms; negative means do not wait). Under
	// AckCommit the wait also ends at the call's deadline.
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
	// Committed, when set, is called on the writer's goroutine after each
	// committed batch with its events and how long its commit took (the
	// metrics' batch size, commit latency and rows by table). It must
	// not block.
	Committed func(batch []store.TimedEvent, took time.Duration)
}

// Defaults of Options.
const (
	DefaultAck           = AckCommit
	DefaultCommitTimeout = 5 * time.Second
	DefaultQueueSize     = 50000
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultEnqueueWait   = 250 * time.Millisecond
	DefaultWriteTimeout  = 30 * time.Second
	DefaultRetryMin      = 100 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
)

// withDefaults fills the zero values. It is the only place, with
// validate, that interprets Options; New uses both.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.Ack == "" {
		o.Ack = DefaultAck
	}
	def(&o.CommitTimeout, DefaultCommitTimeout)
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

// validate reports every nonsensical setting at once (after withDefaults).
func (o Options) validate() error {
	var errs []error
	if _, err := ParseAck(string(o.Ack)); err != nil {
		errs = append(errs, err)
	}
	if o.QueueSize < 1 || o.BatchSize < 1 || o.BatchSize > o.QueueSize {
		errs = append(errs, fmt.Errorf("recorder: want 1 ≤ batch size (%d) ≤ queue size (%d)", o.BatchSize, o.QueueSize))
	}
	if o.CommitTimeout < 0 || o.FlushInterval < 0 || o.WriteTimeout < 0 || o.RetryMin < 0 || o.RetryMax < o.RetryMin {
		errs = append(errs, errors.New("recorder: durations must be positive and RetryMin ≤ RetryMax"))
	}
	return errors.Join(errs...)
}
