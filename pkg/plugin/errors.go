package plugin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Shape says how an Error's extra keys are laid out, which is part of
// fidelity with Capgo: thrown errors nest them under "moreInfo", answers
// built with simpleError200 spread them at the top level.
type Shape int

const (
	// ShapePlain renders {"error","message"} (message omitted when empty).
	ShapePlain Shape = iota
	// ShapeMoreInfo renders {"error","message","moreInfo":{…}} (Capgo's simpleError).
	ShapeMoreInfo
	// ShapeSpread renders {"error","message",…extra,"kind"?} (Capgo's simpleError200).
	ShapeSpread
)

// Error is a protocol answer that is not a success: the HTTP status, the
// `error` code, the message and the extra keys, rendered by WriteError.
type Error struct {
	Status  int
	Code    string
	Message string
	Extra   Object
	Shape   Shape
	// Kind is set on /updates business answers (up_to_date, blocked, failed).
	Kind string
	// Header holds response headers the answer needs (Retry-After, …).
	Header map[string]string
	// Err is the underlying cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Body is the JSON object the error renders as.
func (e *Error) Body() Object {
	o := Object{{"error", e.Code}}
	if e.Message != "" || e.Shape != ShapePlain {
		o = append(o, KV{"message", e.Message})
	}
	switch e.Shape {
	case ShapeMoreInfo:
		mi := e.Extra
		if mi == nil {
			mi = Object{}
		}
		o = append(o, KV{"moreInfo", mi})
	case ShapeSpread:
		o = append(o, e.Extra...)
	}
	if e.Kind != "" {
		o = append(o, KV{"kind", e.Kind})
	}
	return o
}

// WriteJSON writes v as the JSON body with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := Marshal(v)
	if err != nil {
		// Our own values always marshal; a failure here is a programming error.
		b = []byte(`{"error":"unknown_error","message":"Unknown error","moreInfo":{}}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteError is the only place that writes an error body. A *Error found
// with errors.As becomes its envelope; anything else is logged once and
// answered as Capgo's 500 unknown_error.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var pe *Error
	if !errors.As(err, &pe) {
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(r.Context(), "request.unhandled_error", "method", r.Method, "path", r.URL.Path, "err", err)
		pe = ErrUnknown(err)
	}
	for k, v := range pe.Header {
		w.Header().Set(k, v)
	}
	WriteJSON(w, pe.Status, pe.Body())
}

func thrown(status int, code, message string, moreInfo Object) *Error {
	return &Error{Status: status, Code: code, Message: message, Extra: moreInfo, Shape: ShapeMoreInfo}
}

// ---- Request-level errors shared by the three functions (Capgo's simpleError → 400). ----

// ErrInvalidJSONParseBody: the body is not JSON (Capgo: parseBody).
func ErrInvalidJSONParseBody(cause error) *Error {
	e := thrown(400, "invalid_json_parse_body", "Invalid JSON body", Object{{"e", Object{}}})
	e.Err = cause
	return e
}

// ErrPayloadTooLarge: the body is longer than the function reads.
func ErrPayloadTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
		Message: "Request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"}
}

// ErrCannotParseBody: invalid_json_body (POST/PUT) or invalid_query_parameters
// (GET/DELETE) with "Cannot parse body".
func ErrCannotParseBody(code string, moreInfo Object) *Error {
	return thrown(400, code, "Cannot parse body", moreInfo)
}

// ErrMissingDeviceID: no truthy device_id.
func ErrMissingDeviceID(body any) *Error {
	return thrown(400, "missing_device_id", "Cannot find device_id", Object{{"body", body}})
}

// ErrMissingAppID: no truthy app_id.
func ErrMissingAppID(body any) *Error {
	return thrown(400, "missing_app_id", "Cannot find app_id", Object{{"body", body}})
}

// ErrSemverNative: version_build cannot be coerced to SemVer.
func ErrSemverNative(versionBuild string) *Error {
	return thrown(400, "semver_error", semverMessage(versionBuild), Object{{"version_build", versionBuild}})
}

func semverMessage(versionBuild string) string {
	return "Native version: " + versionBuild + " doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo"
}

// ErrTooManyRequests is Capgo's simpleRateLimit: 429 with moreInfo, plus
// X-RateLimit-Reset (epoch seconds, ceil) and Retry-After (seconds) when
// the reset time is known (zero resetAt: no headers).
func ErrTooManyRequests(moreInfo Object, resetAt, now time.Time) *Error {
	e := thrown(429, "too_many_requests", "Too many requests", moreInfo)
	if !resetAt.IsZero() {
		ms := resetAt.UnixMilli()
		retry := (resetAt.Sub(now).Milliseconds() + 999) / 1000
		if retry < 0 {
			retry = 0
		}
		e.Header = map[string]string{
			"X-RateLimit-Reset": strconv.FormatInt((ms+999)/1000, 10),
			"Retry-After":       strconv.FormatInt(retry, 10),
		}
	}
	return e
}

// ErrOnPremise: unknown app or an app whose plan is not valid.
func ErrOnPremise() *Error {
	return &Error{Status: 429, Code: "on_premise_app", Message: "On-premise app detected"}
}

// ErrNotFound: any other path or method under a function.
func ErrNotFound() *Error {
	return &Error{Status: 404, Code: "not_found", Message: "Not found"}
}

// ErrUnknown is the 500 answer for anything unexpected.
func ErrUnknown(cause error) *Error {
	e := thrown(500, "unknown_error", "Unknown error", Object{})
	e.Err = cause
	return e
}

// ErrServiceUnavailable: the database (or another dependency) cannot be
// reached. Capgo answers on_premise_app here, which would tell devices the
// app does not exist; we answer 503 so clients retry later (docs/compat.md).
func ErrServiceUnavailable(cause error) *Error {
	return &Error{Status: 503, Code: "service_unavailable", Message: "Service temporarily unavailable, retry later", Err: cause}
}

// Error200 is Capgo's simpleError200: HTTP 200 with extra keys spread at the
// top level (used by /stats and /channel_self business answers).
func Error200(code, message string, extra ...KV) *Error {
	return &Error{Status: 200, Code: code, Message: message, Extra: extra, Shape: ShapeSpread}
}
