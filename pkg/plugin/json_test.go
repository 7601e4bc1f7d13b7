package plugin

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// reference is how encoding/json writes v with HTML escaping off: what
// Marshal must reproduce byte for byte.
func reference(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}

func TestMarshalStringsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	pieces := []string{"a", "Z", "é", "日本", "\"", "\\", "/", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x01", "\x1f",
		"\b", "\f", "\n", "\r", "\t", "\x7f", "\xff", "\xc3", "\xe2\x80", "🙂", "\ufffd", " ", "%", "'"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var s string
		for range r.IntN(8) {
			s += pieces[r.IntN(len(pieces))]
		}
		got, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, s); string(got) != want {
			t.Fatalf("case %d: Marshal(%q) = %s, want %s", i, s, got, want)
		}
	}
}

func TestMarshalObjectsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	o := Object{{"error", "x<y>&z"}, {"n", 42}, {"big", int64(1) << 60}, {"ok", true}, {"none", nil},
		{"f", 1.5}, {"num", json.Number("12.50")}, {"list", []string{"a", "b"}},
		{"moreInfo", Object{{"nested", Object{}}, {"arr", []Object{{{"k", "v"}}, {}}}}},
		{"any", []any{1, "two", Object{{"three", 3}}}}, {"map", map[string]any{"b": 1, "a": "\u2028"}}}
	got, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"error":"x<y>&z","n":42,"big":1152921504606846976,"ok":true,"none":null,"f":1.5,"num":12.50,"list":["a","b"],` +
		`"moreInfo":{"nested":{},"arr":[{"k":"v"},{}]},"any":[1,"two",{"three":3}],"map":{"a":"\u2028","b":1}}`
	if string(got) != want {
		t.Errorf("Marshal = %s\nwant      %s", got, want)
	}
	if ref := reference(t, o); ref != want {
		t.Errorf("encoding/json through MarshalJSON = %s\nwant %s", ref, want)
	}
}

func BenchmarkMarshalOffer(b *testing.B) {
	o := Object{{"version", "1.0.0"}, {"url", "http://localhost:54321/functions/v1/files/read/attachments/orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip?key=3885ee49&device_id=6f0e3c2a-0000-4000-8000-000000000001"},
		{"session_key", ""}, {"checksum", "3885ee49"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(o); err != nil {
			b.Fatal(err)
		}
	}
}
