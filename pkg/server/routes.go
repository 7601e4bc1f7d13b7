package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// contentSecurityPolicy is the header Capgo's createHono sets on API answers.
const contentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'; script-src 'none'; style-src 'none'; img-src 'none'; connect-src 'none'; upgrade-insecure-requests"

// echoMethods are the methods echo routes by name; any other method
// (MKCOL, …) finds no route and gets the function's catch-all.
var echoMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPatch,
	http.MethodPost, echo.PROPFIND, http.MethodPut, http.MethodTrace, echo.REPORT,
}

// mount adds f's routes under /functions/v1/<Name>, in the order a Capgo
// Hono app for the function has them:
//
//  1. createHono: X-Worker-Source and Content-Security-Policy on every
//     answer, and POST /ok, POST /ko, routed before the function adds its
//     CORS middleware, so they answer without it;
//  2. the function's own routes (Handler for Methods, Sub), behind CORS
//     when f.CORS;
//  3. createAllCatch, all('*', useCors, 404): everything else under the
//     function (OPTIONS preflight, unrouted methods, unknown sub-paths)
//     gets CORS, then 404 not_found.
//
// Two Hono quirks are routes here too: its PatternRouter ends every route
// with /?$, so each route also answers with one trailing slash; and it runs
// GET handlers for HEAD, so HEAD is routed wherever GET is.
func mount(e *echo.Echo, f Function, cors echo.MiddlewareFunc) {
	base := "/functions/v1/" + f.Name
	hono := workerHeaders(f.Name + "-" + Version)
	own := []echo.MiddlewareFunc{hono}
	if f.CORS {
		own = append(own, cors)
	}
	handler := echo.WrapHandler(f.Handler)
	methods := routedMethods(f.Methods)

	if f.Match != nil {
		// The pre-router only sends the sub-paths Match accepts.
		e.Match(methods, base, handler, own...)
		e.Match(methods, base+"/*", handler, own...)
	} else {
		route(e, []string{http.MethodPost}, base+"/ok", answerOK, hono)
		route(e, []string{http.MethodPost}, base+"/ko", answerKO, hono)
		route(e, methods, base, handler, own...)
		for sub, h := range f.Sub {
			route(e, routedMethods(nil), base+sub, echo.WrapHandler(h), own...)
		}
	}

	catchAll := func(echo.Context) error { return plugin.NotFound() }
	e.RouteNotFound(base, catchAll, hono, cors)
	e.RouteNotFound(base+"/*", catchAll, hono, cors)
}

// route adds path, and path with one trailing slash, for methods.
func route(e *echo.Echo, methods []string, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	e.Match(methods, path, h, m...)
	e.Match(methods, path+"/", h, m...)
}

// routedMethods are the methods a handler with these Hono routes gets:
// HEAD wherever GET is; nil means every method echo routes but OPTIONS,
// which is always the catch-all's preflight.
func routedMethods(methods []string) []string {
	if methods == nil {
		return slices.DeleteFunc(slices.Clone(echoMethods), func(m string) bool { return m == http.MethodOptions })
	}
	out := slices.Clone(methods)
	if slices.Contains(out, http.MethodGet) && !slices.Contains(out, http.MethodHead) {
		out = append(out, http.MethodHead)
	}
	return out
}

// answerOK and answerKO are createHono's POST /ok and POST /ko.
func answerOK(c echo.Context) error {
	plugin.WriteJSON(c.Response(), http.StatusOK, plugin.Object{{Key: "status", Value: "ok"}})
	return nil
}

func answerKO(c echo.Context) error {
	plugin.WriteError(c.Response(), c.Request(), nil, plugin.KO())
	return nil
}

// workerHeaders sets the headers createHono adds to every answer.
func workerHeaders(source string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Worker-Source", source)
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			return next(c)
		}
	}
}
