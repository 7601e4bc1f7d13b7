package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Recorder writes each request's events synchronously, as one batch (see
// WriteBatch), before Record returns. The server uses the batched
// recorder of package recorder instead; this one serves tests and tools
// that want the rows in the database as soon as the answer is out.
type Recorder struct {
	s *Store
}

// Recorder returns the synchronous recorder on this store's pool.
func (s *Store) Recorder() *Recorder { return &Recorder{s: s} }

// Record writes the events at once. A row the database refuses does not
// take the others with it; the returned error joins the refused rows, or
// reports that the database could not be written at all.
func (r *Recorder) Record(ctx context.Context, events ...plugin.Event) error {
	if len(events) == 0 {
		return nil
	}
	at := time.Now()
	batch := make([]store.TimedEvent, len(events))
	for i, ev := range events {
		batch[i] = store.TimedEvent{At: at, Event: ev}
	}
	rejected, err := r.s.WriteBatch(ctx, batch)
	errs := []error{err}
	for _, rj := range rejected {
		errs = append(errs, fmt.Errorf("pgstore: record %T: %w", rj.Event, rj.Err))
	}
	return errors.Join(errs...)
}
