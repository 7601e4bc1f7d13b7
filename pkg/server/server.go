// Package server builds the HTTP router: the device functions under
// /functions/v1/<name>, the headers and CORS Capgo's Hono apps add, request
// ids, panic recovery, and the answer for every other path.
//
// Routing is echo's: every function's routes, methods, CORS and catch-all
// are echo routes (routes.go). In front of echo sits one small
// pre-router, [router], whose only decision is whether a function answers
// the path at all; everything else goes to Options.Fallback untouched.
package server

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Version is reported in X-Worker-Source as <function>-<version>.
const Version = "0.1.0"

// Function is one device function mounted at /functions/v1/<Name>.
type Function struct {
	Name string
	// Handler answers the function's root path (with or without a
	// trailing slash); /ok, /ko and unknown sub-paths are answered here.
	Handler http.Handler
	// Sub maps extra sub-paths ("/manifest_size") to handlers; they get
	// every method but OPTIONS.
	Sub map[string]http.Handler
	// CORS turns on Capgo's CORS middleware for every answer (only
	// `updates` has it). Without it, CORS headers are still sent where
	// Capgo's catch-all (createAllCatch) answers: OPTIONS preflight,
	// methods Handler does not route, and unknown sub-paths.
	CORS bool
	// Methods lists the methods Handler answers, as the function's Hono
	// routes do; HEAD follows GET (Hono runs GET handlers for HEAD, so
	// Handler must answer HEAD as a GET without body). Other methods get
	// the catch-all: CORS, then 404 not_found. Nil means Handler answers
	// every method but OPTIONS. OPTIONS is always a preflight: no Capgo
	// device function routes it.
	Methods []string
	// Match, when set, selects the sub-paths this function answers (""
	// is the root; "/read/attachments/x" for /functions/v1/<Name>/read/…):
	// Handler answers those, and every other path under the function is
	// passed untouched to Options.Fallback (the rest of the function
	// still lives behind the Supabase gateway). Sub, /ok and /ko are then
	// unused.
	Match func(sub string) bool
}

// Options configures the router.
type Options struct {
	Functions []Function
	// Fallback answers every path that is not a function, and the paths
	// a function's Match declines (the Supabase gateway proxy); nil
	// answers 404 not_found. It gets the request as it came, before the
	// router and its middleware: no X-Request-Id or function headers are
	// added, any method reaches it, and it may hijack the connection
	// (websockets).
	Fallback http.Handler
	// CORSOrigins are extra allowed origins (Capgo's WEBAPP_URL and
	// CORS_ALLOWED_ORIGINS).
	CORSOrigins []string
	// BodyTimeout bounds reading a function request's body, from the
	// moment the router gets the request (its headers are read); zero
	// means no bound. Proxied requests are not bounded (uploads of any
	// size and duration go through the gateway).
	BodyTimeout time.Duration
	// Trust names the proxies whose forwarded headers are believed for
	// the function routes (clientaddr.Of); nil trusts no one.
	Trust *clientaddr.Trust
	// Observer, when set, is told of every function request (observe.go).
	Observer Observer
	Log      *slog.Logger
}

// New returns the router.
func New(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	e := newEcho(o.Log)
	cors := newCORS(o.CORSOrigins).middleware
	rt := &router{echo: e, fallback: o.Fallback, functions: make(map[string]func(string) bool, len(o.Functions)),
		log: o.Log, bodyTimeout: o.BodyTimeout, trust: o.Trust, observer: o.Observer}
	if rt.fallback == nil {
		rt.fallback = notFound(o.Log)
	}
	for _, f := range o.Functions {
		mount(e, f, cors)
		rt.functions[f.Name] = f.Match
		if f.Match == nil {
			rt.functions[f.Name] = func(string) bool { return true }
		}
	}
	return rt
}

// router is the pre-router: a request for a path some function answers
// goes to echo, every other one to the fallback.
//
// The fallback is reached here, before echo, rather than as an echo
// route: it must get the request as it came, with any method (echo routes
// a fixed set), without the middleware's X-Request-Id, and on the
// connection's own ResponseWriter, so the gateway can hijack it for a
// websocket upgrade (/realtime/v1/websocket) and flush streamed answers.
type router struct {
	echo *echo.Echo
	// functions maps a function name to the sub-paths it answers.
	functions   map[string]func(sub string) bool
	fallback    http.Handler
	log         *slog.Logger
	bodyTimeout time.Duration
	trust       *clientaddr.Trust
	observer    Observer
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dest := rt.route(r)
	if dest == routeFallback {
		rt.fallback.ServeHTTP(w, r)
		return
	}
	name := "" // an invalid path: no function answered it
	if dest == routeFunction {
		name, _, _ = splitFunctionPath(r.URL.Path)
	}
	// Every answer of ours names its request, and so does every line
	// logged while serving it (pkg/logctx).
	id := logctx.RequestID(r)
	w.Header().Set("X-Request-Id", id)
	ctx := logctx.With(r.Context(), rt.log, id, name)
	if rt.observer == nil {
		rt.serve(dest, w, r.WithContext(ctx))
		return
	}
	observe(ctx, rt.observer, name, w, r, func(w http.ResponseWriter, r *http.Request) { rt.serve(dest, w, r) })
}

// serve sends a request for a function's path where route decided.
func (rt *router) serve(dest destination, w http.ResponseWriter, r *http.Request) {
	if dest == routeInvalid {
		w.Header().Set("Cache-Control", "no-store")
		plugin.WriteError(w, r, logctx.From(r.Context(), rt.log), plugin.InvalidPath())
		return
	}
	if rt.bodyTimeout > 0 {
		limitBodyTime(w, r, rt.bodyTimeout)
	}
	rt.echo.ServeHTTP(w, rt.trust.Attach(r))
}

// A destination is where the pre-router sends a request.
type destination int

const (
	routeFallback destination = iota
	routeFunction
	routeInvalid
)

// route decides: a canonical path some function answers goes to echo; a
// path that only normalises (canonicalPath) into one is invalid; every
// other path is the fallback's, untouched.
func (rt *router) route(r *http.Request) destination {
	p := r.URL.Path
	canonical := canonicalPath(r.URL.EscapedPath())
	if canonical == p && !encodedSeparator(r.URL.RawPath) && rt.answers(p) {
		return routeFunction
	}
	if rt.answers(canonical) || rt.answers(strings.ToLower(canonical)) {
		return routeInvalid
	}
	return routeFallback
}

// answers reports whether a function answers path p as written.
func (rt *router) answers(p string) bool {
	name, sub, ok := splitFunctionPath(p)
	if !ok {
		return false
	}
	answers := rt.functions[name]
	return answers != nil && answers(sub)
}

// splitFunctionPath splits /functions/v1/<name>[/<sub>] into the name and
// the sub-path ("" for the root, with or without a trailing slash).
func splitFunctionPath(p string) (name, sub string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/functions/v1/")
	if !ok {
		return "", "", false
	}
	name, sub, _ = strings.Cut(rest, "/")
	if sub != "" {
		sub = "/" + sub
	}
	return name, sub, true
}

// notFound is the answer for paths no function answers when there is no
// Fallback: Capgo's 404 envelope, with a request id like every answer of
// ours.
func notFound(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", logctx.RequestID(r))
		plugin.WriteError(w, r, log, plugin.NotFound())
	})
}
