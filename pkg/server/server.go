// Package server builds the HTTP router: the device functions under
// /functions/v1/<name>, the headers and CORS Capgo's Hono apps add, request
// ids, panic recovery, and the answer for every other path.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Version is reported in X-Worker-Source as <function>-<version>.
const Version = "0.1.0"

// contentSecurityPolicy is the header Capgo's createHono sets on API answers.
const contentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'; script-src 'none'; style-src 'none'; img-src 'none'; connect-src 'none'; upgrade-insecure-requests"

// Function is one device function mounted at /functions/v1/<Name>.
type Function struct {
	Name string
	// Handler answers the function's root path (with or without a
	// trailing slash); /ok, /ko and unknown sub-paths are answered here.
	Handler http.Handler
	// Sub maps extra sub-paths ("/manifest_size") to handlers.
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
	Log         *slog.Logger
}

// New returns the router.
func New(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		// Echo's own errors (no route; a method echo does not know, which
		// Hono's catch-all would take) become Capgo's 404 envelope.
		if he, ok := err.(*echo.HTTPError); ok && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
			plugin.WriteError(c.Response(), c.Request(), o.Log, plugin.NotFound())
			return
		}
		plugin.WriteError(c.Response(), c.Request(), o.Log, err)
	}
	e.Use(recoverer(o.Log), requestID)
	cors := newCORS(o.CORSOrigins)
	match := make(map[string]func(string) bool, len(o.Functions))
	for _, f := range o.Functions {
		h := functionHandler(f, cors, o.Log)
		base := "/functions/v1/" + f.Name
		e.Any(base, echo.WrapHandler(h))
		e.Any(base+"/*", echo.WrapHandler(h))
		match[f.Name] = f.Match
		if f.Match == nil {
			match[f.Name] = func(string) bool { return true }
		}
	}
	if o.Fallback == nil {
		notFound := echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plugin.WriteError(w, r, o.Log, plugin.NotFound())
		}))
		e.Any("/*", notFound)
		e.Any("/", notFound)
		return e
	}
	// Paths that are not ours skip echo: they reach the gateway with any
	// method, unchanged, on the connection's own ResponseWriter.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, sub, ok := splitFunctionPath(r.URL.Path); ok {
			if m := match[name]; m != nil && m(sub) {
				e.ServeHTTP(w, r)
				return
			}
		}
		o.Fallback.ServeHTTP(w, r)
	})
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

// functionHandler adds what Capgo's createHono and createAllCatch add to
// every function: X-Worker-Source, Content-Security-Policy, POST /ok,
// POST /ko, and the catch-all (CORS, then the 404 envelope) for OPTIONS,
// unrouted methods and unknown paths.
func functionHandler(f Function, cors *corsPolicy, log *slog.Logger) http.Handler {
	base := "/functions/v1/" + f.Name
	source := f.Name + "-" + Version
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := strings.TrimPrefix(r.URL.Path, base)
		if f.Match == nil {
			// Hono's PatternRouter (hono/tiny) ends every route with /?$:
			// one trailing slash is the same path.
			sub = strings.TrimSuffix(sub, "/")
		} else if sub == "/" {
			sub = ""
		}
		if f.Match != nil && !f.Match(sub) {
			// Not ours, and no Fallback to pass it to (New routes declined
			// paths to the Fallback when there is one).
			plugin.WriteError(w, r, log, plugin.NotFound())
			return
		}
		w.Header().Set("X-Worker-Source", source)
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		// createHono's POST /ok and /ko are routed before the function
		// adds its CORS middleware, so they answer without it.
		honoRoute := r.Method == http.MethodPost && (sub == "/ok" || sub == "/ko") && f.Match == nil && f.Sub[sub] == nil
		if f.CORS && !honoRoute && cors.handle(w, r) {
			return
		}
		var h http.Handler
		switch {
		case r.Method == http.MethodOptions:
			// No Capgo device function routes OPTIONS: the catch-all's
			// CORS middleware answers the preflight.
		case sub == "" || f.Match != nil:
			if routes(f.Methods, r.Method) {
				h = f.Handler
			}
		case f.Sub[sub] != nil:
			h = f.Sub[sub]
		case sub == "/ok" && r.Method == http.MethodPost:
			h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}})
			})
		case sub == "/ko" && r.Method == http.MethodPost:
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				plugin.WriteError(w, r, log, plugin.KO())
			})
		}
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		// Capgo's createAllCatch: all('*', useCors, 404).
		if !f.CORS && cors.handle(w, r) {
			return
		}
		plugin.WriteError(w, r, log, plugin.NotFound())
	})
}

// routes reports whether a handler with these Hono routes takes method:
// OPTIONS never (it is the catch-all's preflight), HEAD when GET is
// routed, nil routes every other method.
func routes(methods []string, method string) bool {
	switch {
	case method == http.MethodOptions:
		return false
	case methods == nil:
		return true
	case method == http.MethodHead:
		return slices.Contains(methods, http.MethodGet)
	}
	return slices.Contains(methods, method)
}

// validRequestID is what Hono's requestId middleware accepts from clients.
var validRequestID = regexp.MustCompile(`^[\w\-=]{1,255}$`)

// requestID honours a valid incoming X-Request-Id, else makes one, and
// echoes it in the answer.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = plugin.NewUUID()
		}
		c.Response().Header().Set("X-Request-Id", id)
		return next(c)
	}
}

// recoverer turns a panic into Capgo's 500 unknown_error, logged once.
func recoverer(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(c.Request().Context(), "request.panic", "panic", fmt.Sprint(p),
						"path", c.Request().URL.Path, "request_id", c.Response().Header().Get("X-Request-Id"))
					if !c.Response().Committed {
						plugin.WriteError(c.Response(), c.Request(), log, plugin.UnknownError(fmt.Errorf("panic: %v", p)))
					}
				}
			}()
			return next(c)
		}
	}
}
