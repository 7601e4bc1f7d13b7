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
	// ShapeItem is a code that is no envelope of its own: the `error` of
	// one item inside a 200 answer (a /stats batch result, a
	// /manifest_size file), which the function lays out.
	ShapeItem
)

// Error is a protocol answer that is not a success: the HTTP status, the
// `error` code, the message and the extra keys, rendered by WriteError.
// Each is made by a constructor from its code's row of the catalogue
// (catalogue.go), never by hand.
type Error struct {
	Status  int
	Code    Code
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
	return string(e.Code) + ": " + e.Message
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
		// Our own values always marshal; a failure here is a programming
		// error, answered as any other.
		e := UnknownError(err)
		b, _ = Marshal(e.Body())
		status = e.Status
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
		pe = UnknownError(err)
	}
	for k, v := range pe.Header {
		w.Header().Set(k, v)
	}
	noteAnswered(r.Context(), pe.Code)
	WriteJSON(w, pe.Status, pe.Body())
}

// ---- Request-level answers shared by the device functions. ----

// InvalidJSONParseBody: the body is not JSON (Capgo: parseBody).
func InvalidJSONParseBody(cause error) *Error {
	e := answer(CodeInvalidJSONParseBody, Object{{"e", Object{}}})
	e.Err = cause
	return e
}

// PayloadTooLarge: the body is longer than the function reads.
func PayloadTooLarge(limit int64) *Error { return answer(CodePayloadTooLarge, nil, limit) }

// CannotParseBody: code is CodeInvalidJSONBody (POST/PUT) or
// CodeInvalidQueryParameters (GET/DELETE), "Cannot parse body".
func CannotParseBody(code Code, moreInfo Object) *Error { return answer(code, moreInfo) }

// MissingDeviceID: no truthy device_id.
func MissingDeviceID(body any) *Error { return answer(CodeMissingDeviceID, Object{{"body", body}}) }

// MissingAppID: no truthy app_id.
func MissingAppID(body any) *Error { return answer(CodeMissingAppID, Object{{"body", body}}) }

// SemverError: version_build cannot be coerced to SemVer (Capgo's
// parsePluginBody).
func SemverError(versionBuild string) *Error {
	return answer(CodeSemverError, Object{{"version_build", versionBuild}}, versionBuild)
}

// SemverError200 is /updates' semver_error for a version_build that
// passed parsing but does not parse again (Capgo's updateWithPG, before
// the plugin-version gates): HTTP 200, kind failed, no extra keys.
func SemverError200(versionBuild string) *Error {
	return update200(CodeSemverError, nil, versionBuild)
}

// TooManyRequests is Capgo's simpleRateLimit: 429 with moreInfo, plus
// X-RateLimit-Reset (epoch seconds, ceil) and Retry-After (seconds) when
// the reset time is known (zero resetAt: no headers).
func TooManyRequests(moreInfo Object, resetAt, now time.Time) *Error {
	e := answer(CodeTooManyRequests, moreInfo)
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

// OnPremise: unknown app or an app whose plan is not valid.
func OnPremise() *Error { return answer(CodeOnPremiseApp, nil) }

// NotFound: any other path or method under a function, and a missing
// file on files/read.
func NotFound() *Error { return answer(CodeNotFound, nil) }

// UnknownError is the 500 answer for anything unexpected.
func UnknownError(cause error) *Error {
	e := answer(CodeUnknownError, Object{})
	e.Err = cause
	return e
}

// KO is the answer of Capgo's POST /ko test route: unknown_error, "KO".
func KO() *Error {
	e := answer(CodeUnknownError, Object{})
	e.Message = "KO"
	return e
}

// ServiceUnavailable: the database (or another dependency) cannot be
// reached. Capgo answers on_premise_app here, which would tell devices the
// app does not exist; we answer 503 so clients retry later (docs/compat.md).
func ServiceUnavailable(cause error) *Error {
	e := answer(CodeServiceUnavailable, nil)
	e.Err = cause
	return e
}
