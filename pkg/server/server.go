// Package server builds the HTTP router: the device functions under
// /functions/v1/<name>, the headers and CORS Capgo's Hono apps add, request
// ids, panic recovery, and the answer for every other path.
package server

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
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
	// CORS turns on Capgo's CORS middleware (only `updates` has it).
	CORS bool
}

// Options configures the router.
type Options struct {
	Functions []Function
	// Fallback answers every path that is not a function (the Supabase
	// gateway proxy); nil answers 404 not_found.
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
		// Echo's own errors (no route) become Capgo's 404 envelope.
		if he, ok := err.(*echo.HTTPError); ok && he.Code == http.StatusNotFound {
			plugin.WriteError(c.Response(), c.Request(), o.Log, plugin.ErrNotFound())
			return
		}
		plugin.WriteError(c.Response(), c.Request(), o.Log, err)
	}
	e.Use(recoverer(o.Log), requestID)
	cors := newCORS(o.CORSOrigins)
	for _, f := range o.Functions {
		h := functionHandler(f, cors, o.Log)
		base := "/functions/v1/" + f.Name
		e.Any(base, echo.WrapHandler(h))
		e.Any(base+"/*", echo.WrapHandler(h))
	}
	fallback := o.Fallback
	if fallback == nil {
		fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			plugin.WriteError(w, r, o.Log, plugin.ErrNotFound())
		})
	}
	e.Any("/*", echo.WrapHandler(fallback))
	e.Any("/", echo.WrapHandler(fallback))
	return e
}

// functionHandler adds what Capgo's createHono and createAllCatch add to
// every function: X-Worker-Source, Content-Security-Policy, POST /ok,
// POST /ko, and the 404 envelope (with CORS) for unknown paths.
func functionHandler(f Function, cors *corsPolicy, log *slog.Logger) http.Handler {
	base := "/functions/v1/" + f.Name
	source := f.Name + "-" + Version
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker-Source", source)
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		sub := strings.TrimPrefix(r.URL.Path, base)
		if sub == "/" {
			sub = ""
		}
		if f.CORS || sub != "" {
			if cors.handle(w, r) {
				return
			}
		}
		switch {
		case sub == "":
			f.Handler.ServeHTTP(w, r)
		case f.Sub[sub] != nil:
			f.Sub[sub].ServeHTTP(w, r)
		case sub == "/ok" && r.Method == http.MethodPost:
			plugin.WriteJSON(w, http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}})
		case sub == "/ko" && r.Method == http.MethodPost:
			plugin.WriteJSON(w, http.StatusInternalServerError, plugin.Object{
				{Key: "error", Value: "unknown_error"}, {Key: "message", Value: "KO"}, {Key: "moreInfo", Value: plugin.Object{}}})
		default:
			plugin.WriteError(w, r, log, plugin.ErrNotFound())
		}
	})
}

// validRequestID is what Hono's requestId middleware accepts from clients.
var validRequestID = regexp.MustCompile(`^[\w\-=]{1,255}$`)

// requestID honours a valid incoming X-Request-Id, else makes one, and
// echoes it in the answer.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = newUUID()
		}
		c.Response().Header().Set("X-Request-Id", id)
		return next(c)
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
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
						plugin.WriteError(c.Response(), c.Request(), log, plugin.ErrUnknown(fmt.Errorf("panic: %v", p)))
					}
				}
			}()
			return next(c)
		}
	}
}
