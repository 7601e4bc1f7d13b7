package plugin

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseJSONEvents: the streaming /stats parser gives ParseJSONBody's
// result and error code whenever the body holds at most max events, and
// too_many_events only for an array longer than max (or one that is
// invalid past the limit, which it never reads).
//
//	go test -run=^$ -fuzz=FuzzParseJSONEvents -fuzztime=10s ./pkg/plugin
func FuzzParseJSONEvents(f *testing.F) {
	f.Add([]byte(`[{"app_id":"com.demo.app","device_id":"ABC"},{}]`), uint8(1))
	f.Add([]byte("\uFEFF [1, 2 ,3] "), uint8(3))
	f.Add([]byte(`{"device_id":"ABC"}`), uint8(0))
	f.Add([]byte(`[1,]`), uint8(5))
	f.Add([]byte(`[}`), uint8(5))
	f.Add([]byte(`[] []`), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		limit := int(max) + 1
		got, err := ParseJSONEvents(data, limit)
		want, wantErr := ParseJSONBody(data)
		var pe *Error
		if errors.As(err, &pe) && pe.Code == CodeTooManyEvents {
			if list, ok := want.([]any); wantErr == nil && (!ok || len(list) <= limit) {
				t.Fatalf("too_many_events for %q, which ParseJSONBody reads as %#v", data, want)
			}
			return
		}
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("ParseJSONEvents(%q) error %v, ParseJSONBody error %v", data, err, wantErr)
		case err != nil:
			var we *Error
			if !errors.As(err, &pe) || !errors.As(wantErr, &we) || pe.Code != we.Code {
				t.Fatalf("ParseJSONEvents(%q) error %v, ParseJSONBody error %v", data, err, wantErr)
			}
		case !reflect.DeepEqual(got, want):
			t.Fatalf("ParseJSONEvents(%q) = %#v, ParseJSONBody = %#v", data, got, want)
		}
	})
}

// FuzzParsePluginBody: parsing and validating a body with each schema
// never panics, fails only with one of our answers, and never accepts a
// string PostgreSQL cannot store.
//
//	go test -run=^$ -fuzz=FuzzParsePluginBody -fuzztime=10s ./pkg/plugin
func FuzzParsePluginBody(f *testing.F) {
	f.Add([]byte(`{"app_id":"com.demo.app","device_id":"6F0F6A1C-3B0E-4C61-9D8A-2D5B8E1F7A42","version_name":"builtin","version_build":"1.0",`+
		`"platform":"ios","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"defaultChannel":"beta\u0000"}`), uint8(0))
	f.Add([]byte(`{"app_id":"com.demo.app","device_id":"6f0f6a1c-3b0e-4c61-9d8a-2d5b8e1f7a42","version_name":"1.0.0","version_os":"14",`+
		`"platform":"web","action":"set","metadata":{"k":"v"},"is_emulator":false,"is_prod":true}`), uint8(1))
	f.Add([]byte(`{"app_id":"com.demo.app","platform":"android","key_id":"\ud800"}`), uint8(3))
	schemas := []Schema{UpdateSchema, StatsSchema, ChannelSelfSchema, ChannelSelfGetSchema}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		body, err := ParseJSONBody(data)
		if err != nil {
			return
		}
		m, err := ParsePluginBody(CodeInvalidJSONBody, body, schemas[int(which)%len(schemas)], which%2 == 0)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Status >= 500 {
				t.Fatalf("ParsePluginBody(%q): %v", data, err)
			}
			return
		}
		for k, v := range m {
			if s, ok := v.(string); ok && (strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)) {
				t.Fatalf("accepted %s = %q", k, s)
			}
		}
	})
}
