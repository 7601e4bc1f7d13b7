package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// newEcho is echo with our error envelope and the middleware every answer
// of ours gets: panic recovery and a request id.
func newEcho(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		// Echo's own errors (no route, or a method no route takes) cannot
		// happen under a function, whose catch-all takes every method and
		// sub-path; should one appear, it is Capgo's 404 envelope.
		if he, ok := err.(*echo.HTTPError); ok && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
			err = plugin.NotFound()
		}
		plugin.WriteError(c.Response(), c.Request(), log, err)
	}
	e.Use(recoverer(log), requestID)
	return e
}

// validRequestID is what Hono's requestId middleware accepts from clients.
var validRequestID = regexp.MustCompile(`^[\w\-=]{1,255}$`)

// setRequestID honours a valid incoming X-Request-Id, else makes one, and
// echoes it in the answer.
func setRequestID(h http.Header, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if !validRequestID.MatchString(id) {
		id = plugin.NewUUID()
	}
	h.Set("X-Request-Id", id)
}

// requestID is setRequestID as echo middleware.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setRequestID(c.Response().Header(), c.Request())
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
