package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// outageSummaryEvery is how often an ongoing outage is summed up in the log.
const outageSummaryEvery = 10 * time.Second

// outage reports the database's availability in the log the way an
// operator wants to read it: one ERROR when requests start failing, one
// summary with counts per outageSummaryEvery while they keep failing, one
// INFO when the database answers again. (Every failing request used to log
// its own ERROR: 39,434 lines in a 15 s outage.)
type outage struct {
	log  *slog.Logger
	now  func() time.Time
	down atomic.Bool // read on every request: no lock while all is well

	mu          sync.Mutex
	since       time.Time
	failures    int64 // since the outage began
	unreported  int64 // since the last line
	lastSummary time.Time
	lastErr     string
}

func newOutage(log *slog.Logger, now func() time.Time) *outage {
	if now == nil {
		now = time.Now
	}
	return &outage{log: log, now: now}
}

// observe records one store call's outcome: nil and store.ErrNotFound are
// answers, anything else a failure.
func (o *outage) observe(err error) {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, context.Canceled) {
		if o.down.Load() {
			o.recovered()
		}
		return
	}
	o.failed(err)
}

func (o *outage) failed(err error) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	o.unreported++
	o.lastErr = err.Error()
	if !o.down.Load() {
		o.down.Store(true)
		o.since, o.lastSummary, o.unreported = now, now, 0
		o.log.Error("database.unavailable", "err", err,
			"hint", "device requests answer 503 until it answers again; a summary follows every "+outageSummaryEvery.String())
		return
	}
	if now.Sub(o.lastSummary) >= outageSummaryEvery {
		o.log.Error("database.still_unavailable", "for", now.Sub(o.since).Round(time.Second),
			"failed_requests", o.unreported, "failed_total", o.failures, "last_err", o.lastErr)
		o.lastSummary, o.unreported = now, 0
	}
}

// begin opens an outage that was reported already (the start-up WARN of
// a database not up yet): failing requests then add to its summaries
// instead of logging a second opening line, and the first answer logs
// database.available.
func (o *outage) begin(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	o.down.Store(true)
	o.since, o.lastSummary, o.lastErr = now, now, err.Error()
}

func (o *outage) recovered() {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down.Load() {
		return
	}
	o.down.Store(false)
	o.log.Info("database.available", "after", now.Sub(o.since).Round(time.Millisecond), "failed_requests", o.failures)
	o.failures, o.unreported = 0, 0
}

// watchedReads observes every read of the device functions.
type watchedReads struct {
	deviceReads
	o *outage
}

func (w watchedReads) UpdateSnapshot(ctx context.Context, q store.UpdateQuery) (store.UpdateSnapshot, error) {
	s, err := w.deviceReads.UpdateSnapshot(ctx, q)
	w.o.observe(err)
	return s, err
}

func (w watchedReads) StatsSnapshot(ctx context.Context, q store.StatsQuery) (store.StatsSnapshot, error) {
	s, err := w.deviceReads.StatsSnapshot(ctx, q)
	w.o.observe(err)
	return s, err
}

func (w watchedReads) StatsSnapshots(ctx context.Context, qs []store.StatsQuery) ([]store.StatsSnapshot, []error, error) {
	s, errs, err := w.deviceReads.StatsSnapshots(ctx, qs)
	w.o.observe(err)
	return s, errs, err
}

func (w watchedReads) ChannelSelfSnapshot(ctx context.Context, q store.ChannelSelfQuery) (store.ChannelSelfSnapshot, error) {
	s, err := w.deviceReads.ChannelSelfSnapshot(ctx, q)
	w.o.observe(err)
	return s, err
}

func (w watchedReads) ManifestFileSizes(ctx context.Context, appID, versionName string, versionID int64, files []store.ManifestFile) ([]store.ManifestFileSize, error) {
	s, err := w.deviceReads.ManifestFileSizes(ctx, appID, versionName, versionID, files)
	w.o.observe(err)
	return s, err
}
