// Package storecall holds the two rules every device function applies to
// its store calls: what a failed read does to the answer (Found), and how
// the events of one request reach a store.Recorder (Record: detached from
// the client, bounded in time, with one rule for what a failed write does
// to the answer). It sits between package plugin (which knows HTTP
// statuses but no store) and package store (which knows no statuses).
package storecall

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// Timeout bounds the writes of one request, which run detached from the
// client so a hang-up cannot drop them, while a hung database cannot pile
// up requests.
const Timeout = 10 * time.Second

// Record writes events, detached from the client: Capgo awaits these
// writes before answering and so do we (the batched recorder returns once
// they are committed, or only queued with --ack=queued). Rows the database
// refuses do not change the answer (Capgo ignores them too). A recorder
// that does not record them (queue full, not committed in time, shutting
// down) makes the answer a 503 service_unavailable, so that no answer
// acknowledges a request whose rows will not be written; the recorder
// warns about that itself, at most once a second, so here it is only
// <function>.record_refused at Debug. Any other error is logged as
// <function>.record_failed and does not change the answer.
//
// function names the caller in the log events ("updates", "stats", …).
func Record(ctx context.Context, rec store.Recorder, log *slog.Logger, function string, events []plugin.Event) error {
	if len(events) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	err := rec.Record(ctx, events...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrOverloaded):
		log.DebugContext(ctx, function+".record_refused", "err", err, "events", len(events))
		return plugin.ServiceUnavailable(err)
	}
	log.ErrorContext(ctx, function+".record_failed", "err", err, "events", len(events))
	return nil
}

// Found is the rule for a store read that may find nothing: the value when
// err is nil; nil (the app does not exist: the decision answers for it)
// when err is store.ErrNotFound; otherwise the database could not answer,
// which is Unavailable. function names the caller in the log events.
func Found[T any](ctx context.Context, log *slog.Logger, function string, v T, err error) (*T, error) {
	switch {
	case err == nil:
		return &v, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	}
	return nil, Unavailable(ctx, log, function, err)
}

// Unavailable is the answer to a store read the database could not
// answer: logged once as <function>.store_unavailable at Error, answered
// 503 service_unavailable so the device retries (Capgo answers some of
// these as on_premise_app, which would tell devices their app does not
// exist; docs/compat.md).
func Unavailable(ctx context.Context, log *slog.Logger, function string, err error) error {
	// Debug: the server reports an outage once, with a summary while it
	// lasts (cmd/capgo-functions/outage.go), not once per request.
	log.DebugContext(ctx, function+".store_unavailable", "err", err)
	return plugin.ServiceUnavailable(err)
}
