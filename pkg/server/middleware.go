package server

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/capgo-functions/capgo-functions/pkg/logctx"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// newEcho is echo with our error envelope and panic recovery. The request
// id and the request's logger are the pre-router's (router.ServeHTTP).
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
		r := c.Request()
		plugin.WriteError(c.Response(), r, logctx.From(r.Context(), log), err)
	}
	e.Use(recoverer(log))
	return e
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
					r := c.Request()
					log := logctx.From(r.Context(), log)
					log.ErrorContext(r.Context(), "request.panic", "panic", fmt.Sprint(p), "path", r.URL.Path)
					if !c.Response().Committed {
						plugin.WriteError(c.Response(), r, log, plugin.UnknownError(fmt.Errorf("panic: %v", p)))
					}
				}
			}()
			return next(c)
		}
	}
}
