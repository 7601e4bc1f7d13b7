package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf16"
)

// Body is a decoded request body before validation: a JSON value as
// JSON.parse would give it (objects are map[string]any, numbers
// json.Number), or a query string converted to an object.
type Body = any

// MaxBodyBytes bounds an /updates or /channel_self body; real ones are
// under 1 KiB.
const MaxBodyBytes = 1 << 20

// ReadBody reads a request body of at most limit bytes: a longer one is
// 413 payload_too_large, a failed read 400 invalid_json_parse_body (what
// Capgo's parseBody answers for a body it cannot read).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, PayloadTooLarge(limit)
	}
	if err != nil {
		return nil, InvalidJSONParseBody(err)
	}
	return data, nil
}

// ParseJSONBody is Capgo's parseBody: the body must be JSON (else 400
// invalid_json_parse_body), and a string device_id is lowercased. As
// Request.json() decodes the bytes as UTF-8 first, a leading byte order
// mark is dropped.
//
// Capgo crashes (500) on a truthy non-string device_id and on a JSON null
// body; we leave those values alone so validation answers a clear 400.
func ParseJSONBody(data []byte) (Body, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, InvalidJSONParseBody(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, InvalidJSONParseBody(errors.New("trailing data after JSON value"))
	}
	return LowerDeviceID(v), nil
}

// ParseJSONEvents is ParseJSONBody for a /stats body, one event or an
// array of them: an array is decoded one element at a time, and one with
// more than maxItems elements is 413 too_many_events as soon as the
// element past the limit begins. Decoding a whole array first would hold
// hundreds of bytes per element however small the element is in the body
// (a 16 MiB body of 640,000 empty events took 600 MB); this way memory is
// bounded by maxItems and a small multiple of the body. Within the limit
// the result and the errors are ParseJSONBody's.
func ParseJSONEvents(data []byte, maxItems int) (Body, error) {
	trimmed := bytes.TrimPrefix(data, []byte("\uFEFF"))
	if i := bytes.IndexFunc(trimmed, func(r rune) bool { return !isJSONSpace(r) }); i < 0 || trimmed[i] != '[' {
		return ParseJSONBody(data)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '['
		return nil, InvalidJSONParseBody(err)
	}
	list := []any{}
	for dec.More() {
		if len(list) >= maxItems {
			return nil, TooManyEvents(maxItems)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, InvalidJSONParseBody(err)
		}
		list = append(list, v)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, InvalidJSONParseBody(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, InvalidJSONParseBody(errors.New("trailing data after JSON value"))
	}
	return list, nil
}

// isJSONSpace is JSON's insignificant whitespace.
func isJSONSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// LowerDeviceID lowercases a string device_id of an object body in place.
func LowerDeviceID(v any) any {
	if m, ok := v.(map[string]any); ok {
		if s, ok := m["device_id"].(string); ok {
			m["device_id"] = strings.ToLower(s)
		}
	}
	return v
}

// queryFields are the keys Capgo's convertQueryToBody copies.
var queryFields = []string{"version_name", "version_build", "platform", "app_id", "device_id", "plugin_version",
	"defaultChannel", "channel", "custom_id", "install_source", "version_os", "key_id"}

// QueryToBody is Capgo's convertQueryToBody for GET and DELETE
// /channel_self: an empty query is {}; otherwise the known fields are
// copied (device_id lowercased) and is_emulator/is_prod become booleans.
func QueryToBody(q url.Values) Body {
	if len(q) == 0 {
		return map[string]any{}
	}
	m := map[string]any{}
	for _, k := range queryFields {
		if vs, ok := q[k]; ok {
			m[k] = vs[0]
		}
	}
	if s, ok := m["device_id"].(string); ok {
		m["device_id"] = strings.ToLower(s)
	}
	isEmulator, isProd := "false", "true"
	if vs, ok := q["is_emulator"]; ok {
		isEmulator = vs[0]
	}
	if vs, ok := q["is_prod"]; ok {
		isProd = vs[0]
	}
	m["is_emulator"] = isEmulator == "true"
	m["is_prod"] = isProd == "true"
	return m
}

// truthy is JavaScript truthiness for a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	}
	return true
}

// field reads a property as JavaScript would: only objects have properties.
func field(body any, key string) any {
	if m, ok := body.(map[string]any); ok {
		return m[key]
	}
	return nil
}

// keyCount is Object.keys(body).length.
func keyCount(body any) int {
	switch x := body.(type) {
	case map[string]any:
		return len(x)
	case []any:
		return len(x)
	case string:
		return jsLen(x)
	}
	return 0
}

// jsLen is a string's JavaScript length (UTF-16 code units), which is what
// Capgo's "at most N character(s)" checks count.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // ranging over a string yields no surrogates
	}
	return n
}
