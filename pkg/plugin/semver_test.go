package plugin

import (
	"strings"
	"testing"
)

// TestParseVersionStd pins the corners where @std/semver 1.0.8 (parse.ts,
// _shared.ts, format.ts) is JavaScript rather than SemVer 2: the length
// limit counts UTF-16 units before trimming, String.prototype.trim's
// whitespace set, and prerelease identifiers converted with Number()
// whenever /^0|[1-9]\d*$/ (no group: "starts with 0 or ends in digits")
// matches and the number is a valid one.
func TestParseVersionStd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string // want "" means invalid
	}{
		{"ideographic spaces are trimmed and count one unit each", strings.Repeat("\u3000", 100) + "1.2.3", "1.2.3"},
		{"256 units is the limit, counted before trimming", strings.Repeat(" ", 251) + "1.2.3", "1.2.3"},
		{"257 units is too long", strings.Repeat(" ", 252) + "1.2.3", ""},
		{"a byte order mark is trimmed", "\uFEFF1.2.3", "1.2.3"},
		{"NEL is not JavaScript whitespace", "\u00851.2.3", ""},
		{"hex prerelease becomes its number", "1.0.0-0x1", "1.0.0-1"},
		{"binary and octal too", "1.0.0-0b11.0o17", "1.0.0-3.15"},
		{"an exponent after a leading 0", "1.0.0-0e5", "1.0.0-0"},
		{"an exponent ending in digits", "1.0.0-1E3", "1.0.0-1000"},
		{"a fraction", "1.0.0-5e-1", "1.0.0-0.5"},
		{"an exponent ending in 0 is kept as text", "1.0.0-1e0", "1.0.0-1e0"},
		{"an overflowing exponent is Infinity", "1.0.0-1e400", "1.0.0-Infinity"},
		{"a negative number stays text", "1.0.0--1", "1.0.0--1"},
		{"an unsafe integer stays text", "1.0.0-99999999999999999999", "1.0.0-99999999999999999999"},
		{"not a number stays text", "1.0.0-0x", "1.0.0-0x"},
		{"build metadata is kept", "1.0.0-0x1+0x1", "1.0.0-1+0x1"},
		{"capital V is not a prefix", "V1.2.3", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVersion(tc.in)
			got := ""
			if err == nil {
				got = v.String()
			}
			if got != tc.want {
				t.Errorf("ParseVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestCompareStd: @std/semver compares numeric identifiers as numbers and
// everything else (unsafe integers included) as strings, numbers first.
func TestCompareStd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0.0-10000000000000000000", "1.0.0-9007199254740992", -1}, // both text: "1…" < "9…"
		{"1.0.0-99999999999999999999", "1.0.0-1", 1},                 // text > number
		{"1.0.0-0x10", "1.0.0-9", 1},                                 // 16 > 9
		{"1.0.0-1e400", "1.0.0-99", 1},                               // Infinity > 99
		{"1.0.0-5e-1", "1.0.0-0", 1},                                 // 0.5 > 0
		{"1.0.0-0e5", "1.0.0-0", 0},                                  // both 0
		{"1.0.0-1e0", "1.0.0-2", 1},                                  // text > number
	}
	for _, tc := range cases {
		if got := MustVersion(tc.a).Compare(MustVersion(tc.b)); got != tc.want {
			t.Errorf("%s vs %s = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := MustVersion(tc.b).Compare(MustVersion(tc.a)); got != -tc.want {
			t.Errorf("%s vs %s = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestJSNumberString(t *testing.T) {
	t.Parallel()
	cases := map[float64]string{
		0: "0", 1: "1", 1000: "1000", 0.5: "0.5", 1e-7: "1e-7", 0.000001: "0.000001",
		1e21: "1e+21", 1.5e21: "1.5e+21", 123456789012345680000: "123456789012345680000",
		-2: "-2", 9007199254740991: "9007199254740991",
	}
	for f, want := range cases {
		if got := jsNumberString(f); got != want {
			t.Errorf("jsNumberString(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestJSTrim(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		" \t\n\v\f\r\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeffx\ufeff ": "x",
		"\u0085x\u0085": "\u0085x\u0085",
		"\u200bx":       "\u200bx", // zero width space is not whitespace
	}
	for in, want := range cases {
		if got := JSTrim(in); got != want {
			t.Errorf("JSTrim(%q) = %q, want %q", in, got, want)
		}
	}
}
