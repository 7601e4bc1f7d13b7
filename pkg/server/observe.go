package server

import (
	"context"
	"net/http"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Observer is told of every request a function answered (or the router
// refused as an invalid function path), once its handler has returned:
// the metrics (pkg/metrics). Every value is from a bounded set: the
// function's name ("" for an invalid path), the method (methodLabel),
// the status and the catalogue code of an error envelope ("" for none).
// Requests passed to Options.Fallback (the gateway) are not observed.
type Observer interface {
	ObserveRequest(function, method string, status int, code plugin.Code, took time.Duration)
}

// observe runs next under o, with r in ctx: it times the request, keeps
// the status its answer was written with and reads the code
// plugin.WriteError noted.
func observe(ctx context.Context, o Observer, function string, w http.ResponseWriter, r *http.Request,
	next func(http.ResponseWriter, *http.Request)) {
	start := time.Now()
	ctx, code := plugin.WithAnswered(ctx)
	sw := &statusWriter{ResponseWriter: w}
	next(sw, r.WithContext(ctx))
	status := sw.status
	if status == 0 {
		status = http.StatusOK // net/http's answer when a handler writes nothing
	}
	o.ObserveRequest(function, methodLabel(r.Method), status, code(), time.Since(start))
}

// statusWriter keeps the status an answer was written with. Unwrap lets
// http.ResponseController (echo's Flush, the body deadline, files/read's
// streaming) reach the connection's writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodLabel is the method as a label value: the methods the functions
// route, else "other" (a client may send any token as a method).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodOptions, http.MethodPatch:
		return m
	}
	return "other"
}
