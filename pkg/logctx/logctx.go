// Package logctx carries a request's logger in its context: every line
// logged while serving the request names it (request_id, the id its
// answer carries in X-Request-Id) and the function serving it (function:
// updates, stats, channel_self, files, proxy, …), so an operator can go
// from a device's answer to the server's lines about it.
//
// It costs one small allocation per request and nothing per line that
// is not logged: the attributes are not pre-formatted with
// slog.Logger.With (several allocations, on every request, logged or
// not); the request's logger adds them when it writes a line.
package logctx

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Attribute keys of every line logged under a request.
const (
	KeyRequestID = "request_id"
	KeyFunction  = "function"
)

// validID is what Hono's requestId middleware accepts from clients.
var validID = regexp.MustCompile(`^[\w\-=]{1,255}$`)

// RequestID is the id of r's answer, as Hono's requestId middleware
// chooses it: a valid incoming X-Request-Id is kept, anything else is
// replaced by a new UUID.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); validID.MatchString(id) {
		return id
	}
	return plugin.NewUUID()
}

// With returns ctx carrying the logger of the request with this id,
// served by function ("" when no function serves it): base with
// request_id and function on every line.
func With(ctx context.Context, base *slog.Logger, id, function string) context.Context {
	if base == nil {
		base = slog.Default()
	}
	s := &scope{Context: ctx, id: id, function: function, base: base.Handler()}
	// slog.New's pointer does not escape here: the Logger lives inside
	// the scope, so From hands it out without allocating.
	s.logger = *slog.New(s)
	return s
}

// From is the logger of the request ctx belongs to; outside a request
// (background work, a handler called without the router) it is fallback,
// or slog.Default() when fallback is nil.
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		return &s.logger
	}
	if fallback == nil {
		return slog.Default()
	}
	return fallback
}

// ID is the request id ctx carries ("" outside a request).
func ID(ctx context.Context) string {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		return s.id
	}
	return ""
}

type scopeKey struct{}

// scope is both the request's context (one allocation instead of a
// context.WithValue plus the value) and its logger's slog.Handler, which
// adds the request's attributes to each line it writes.
type scope struct {
	context.Context
	id, function string
	base         slog.Handler
	logger       slog.Logger
}

func (s *scope) Value(key any) any {
	if key == (scopeKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// attrs are the request's attributes, followed by more.
func (s *scope) attrs(more ...slog.Attr) []slog.Attr {
	as := make([]slog.Attr, 0, 2+len(more))
	as = append(as, slog.String(KeyRequestID, s.id))
	if s.function != "" {
		as = append(as, slog.String(KeyFunction, s.function))
	}
	return append(as, more...)
}

func (s *scope) Enabled(ctx context.Context, l slog.Level) bool { return s.base.Enabled(ctx, l) }

func (s *scope) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String(KeyRequestID, s.id))
	if s.function != "" {
		r.AddAttrs(slog.String(KeyFunction, s.function))
	}
	return s.base.Handle(ctx, r)
}

// WithAttrs and WithGroup fix the request's attributes into the derived
// handler, ahead of the new ones and outside any group: a handler's
// logger.With(…) per request already allocates, so no scope is needed
// behind it.
func (s *scope) WithAttrs(as []slog.Attr) slog.Handler { return s.base.WithAttrs(s.attrs(as...)) }

func (s *scope) WithGroup(name string) slog.Handler {
	return s.base.WithAttrs(s.attrs()).WithGroup(name)
}
