package plugin

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Version is a SemVer 2 version as @std/semver 1.0.8 (the library Capgo's
// backend uses) parses it.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []PreID // prerelease identifiers
	Build               []string
}

// PreID is one prerelease identifier as @std/semver keeps it: a number or
// a string (see parsePreID).
type PreID struct {
	Num   float64
	Text  string
	IsNum bool
}

// String is the identifier as format() writes it (String(number) for
// numbers).
func (p PreID) String() string {
	if p.IsNum {
		return jsNumberString(p.Num)
	}
	return p.Text
}

// maxSemverLength is @std/semver's MAX_LENGTH, in UTF-16 units.
const maxSemverLength = 256

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: @std/semver
// refuses larger numbers.
const maxSafeInteger = 1<<53 - 1

var (
	fullSemver = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?` +
		`(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)
	// commonSemver is the fast path Capgo checks before coercing.
	commonSemver = regexp.MustCompile(`^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$`)
	// numericTest is @std/semver's NUMERIC_IDENTIFIER_REGEXP,
	// new RegExp(`^${"0|[1-9]\\d*"}$`): without a group it reads "starts
	// with 0, or ends in [1-9]\d*", so "0x1" and "1e3" pass it too.
	numericTest = regexp.MustCompile(`^0|[1-9]\d*$`)
	// Number() of the strings a prerelease identifier can be.
	jsDecimal = regexp.MustCompile(`^-?\d+(?:[eE]-?\d+)?$`)
	jsRadix   = regexp.MustCompile(`^0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$`)
)

// ErrInvalidSemver is returned for strings @std/semver's parse rejects.
var ErrInvalidSemver = errors.New("invalid semver")

// ParseVersion parses s as @std/semver's parse does: at most 256 UTF-16
// units, then trimmed as String.prototype.trim does, a leading "v"
// allowed, and the rest strict SemVer 2 with numbers up to
// Number.MAX_SAFE_INTEGER.
func ParseVersion(s string) (Version, error) {
	if jsLen(s) > maxSemverLength {
		return Version{}, ErrInvalidSemver
	}
	m := fullSemver.FindStringSubmatch(JSTrim(s))
	if m == nil {
		return Version{}, ErrInvalidSemver
	}
	var v Version
	for i, p := range []*uint64{&v.Major, &v.Minor, &v.Patch} {
		n, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil || n > maxSafeInteger {
			return Version{}, ErrInvalidSemver
		}
		*p = n
	}
	if m[4] != "" {
		for _, id := range strings.Split(m[4], ".") {
			v.Pre = append(v.Pre, parsePreID(id))
		}
	}
	if m[5] != "" {
		v.Build = strings.Split(m[5], ".")
	}
	return v, nil
}

// parsePreID is @std/semver's parsePrerelease for one identifier: when it
// passes numericTest and Number(id) is a valid number (not NaN, and
// either infinite or 0..MAX_SAFE_INTEGER), the number; else the string.
func parsePreID(id string) PreID {
	if numericTest.MatchString(id) {
		if n, ok := jsNumber(id); ok && (math.IsInf(n, 0) || (n >= 0 && n <= maxSafeInteger)) {
			return PreID{Num: n, IsNum: true}
		}
	}
	return PreID{Text: id}
}

// jsNumber is JavaScript's Number(s) for the characters an identifier may
// hold ([0-9A-Za-z-]): decimal with an optional sign and exponent, or a
// 0x/0o/0b integer; false for NaN.
func jsNumber(s string) (float64, bool) {
	if m := jsRadix.FindStringSubmatch(s); m != nil {
		base := 16
		switch m[1][0] {
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		n, ok := new(big.Int).SetString(m[1][1:], base)
		if !ok {
			return 0, false
		}
		f, _ := new(big.Float).SetInt(n).Float64()
		return f, true
	}
	if !jsDecimal.MatchString(s) {
		return 0, false
	}
	// Out of range means ±Inf or 0, which is what JavaScript gives.
	f, _ := strconv.ParseFloat(s, 64)
	return f, true
}

// jsNumberString is JavaScript's Number.prototype.toString() (radix 10).
func jsNumberString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		return "0"
	case f < 0:
		return "-" + jsNumberString(-f)
	case math.IsInf(f, 1):
		return "Infinity"
	}
	// Shortest digits that round-trip, and the exponent n with
	// value = 0.digits × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	frac := ""
	if k > 1 {
		frac = "." + digits[1:]
	}
	return digits[:1] + frac + "e" + sign + strconv.Itoa(abs(n-1))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// JSTrim is String.prototype.trim: it strips JavaScript's WhiteSpace and
// LineTerminator characters, which unlike strings.TrimSpace include the
// byte order mark U+FEFF and exclude NEL U+0085.
func JSTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\v', '\f', '\r', '\u2028', '\u2029', '\ufeff':
			return true
		}
		return unicode.Is(unicode.Zs, r)
	})
}

// MustVersion parses a version literal of ours; it panics on a typo.
func MustVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic("plugin: bad version literal " + s)
	}
	return v
}

// String formats v as @std/semver's format does.
func (v Version) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(v.Major, 10))
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(v.Minor, 10))
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(v.Patch, 10))
	for i, p := range v.Pre {
		if i == 0 {
			b.WriteByte('-')
		} else {
			b.WriteByte('.')
		}
		b.WriteString(p.String())
	}
	if len(v.Build) > 0 {
		b.WriteByte('+')
		b.WriteString(strings.Join(v.Build, "."))
	}
	return b.String()
}

// Compare returns -1, 0 or 1 as @std/semver's compare does: SemVer 2
// precedence (build metadata ignored), prerelease identifiers compared as
// numbers when both are numbers, numbers before strings, strings by code
// unit.
func (v Version) Compare(w Version) int {
	for _, p := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; ; i++ {
		switch {
		case i >= len(v.Pre) && i >= len(w.Pre):
			return 0
		case i >= len(v.Pre):
			return -1
		case i >= len(w.Pre):
			return 1
		}
		if c := comparePreID(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
}

func comparePreID(a, b PreID) int {
	switch {
	case a.IsNum && b.IsNum:
		switch {
		case a.Num < b.Num:
			return -1
		case a.Num > b.Num:
			return 1
		}
		return 0
	case a.IsNum:
		return -1
	case b.IsNum:
		return 1
	}
	// Identifiers are ASCII, so byte order is UTF-16 code unit order.
	return strings.Compare(a.Text, b.Text)
}

// Less reports v < w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// FixSemver is Capgo's fixSemver: builtin/unknown → 0.0.0, "X" → "X.0.0",
// "X.Y" → "X.Y.0".
func FixSemver(s string) string {
	if s == "builtin" || s == "unknown" {
		return "0.0.0"
	}
	switch strings.Count(s, ".") {
	case 0:
		return s + ".0.0"
	case 1:
		return s + ".0"
	}
	return s
}

// IsDeprecated is Capgo's isDeprecatedPluginVersion: for majors 5–8 the
// version is "deprecated" (below a feature threshold) when it is lower than
// that major's minimum; every other major counts as supported.
func IsDeprecated(v Version, min5, min6, min7, min8 Version) bool {
	switch v.Major {
	case 5:
		return v.Less(min5)
	case 6:
		return v.Less(min6)
	case 7:
		return v.Less(min7)
	case 8:
		return v.Less(min8)
	}
	return false
}

// Plugin-version thresholds Capgo gates features on.
var (
	v5_10_0 = MustVersion("5.10.0")
	v5_34_0 = MustVersion("5.34.0")
	v5_35_0 = MustVersion("5.35.0")
	v6_2_0  = MustVersion("6.2.0")
	v6_25_0 = MustVersion("6.25.0")
	v6_34_0 = MustVersion("6.34.0")
	v6_35_0 = MustVersion("6.35.0")
	v7_0_35 = MustVersion("7.0.35")
	v7_25_0 = MustVersion("7.25.0")
	v7_34_0 = MustVersion("7.34.0")
	v7_35_0 = MustVersion("7.35.0")
	v8_0_0  = MustVersion("8.0.0")
	v8_35_0 = MustVersion("8.35.0")
	v8_40_7 = MustVersion("8.40.7")
)

// SupportsManifest: manifest (delta) entries are sent to plugins ≥ 5.10.0,
// 6.25.0, 7.0.35 and every 8+.
func SupportsManifest(p Version) bool { return !IsDeprecated(p, v5_10_0, v6_25_0, v7_0_35, v8_0_0) }

// SupportsMetadata: link/comment are sent to plugins ≥ 5.35.0/6.35.0/7.35.0/8.35.0.
func SupportsMetadata(p Version) bool { return !IsDeprecated(p, v5_35_0, v6_35_0, v7_35_0, v8_35_0) }

// IsDeprecatedPlugin is the default deprecation gate (5.10.0/6.25.0/7.25.0/8.0.0).
func IsDeprecatedPlugin(p Version) bool { return IsDeprecated(p, v5_10_0, v6_25_0, v7_25_0, v8_0_0) }

// SupportsBuiltinRevert: {"version":"builtin"} is understood from 6.2.0 on.
func SupportsBuiltinRevert(p Version) bool { return !p.Less(v6_2_0) }

// EnforcesKeyID: key_id mismatches are enforced for plugins > 8.40.7 (20-char key ids).
func EnforcesKeyID(p Version) bool { return v8_40_7.Less(p) }

// KeepsChannelLocally: plugins that store their channel on the device
// (/channel_self "new" behaviour); everything but 5.x<5.34, 6.x<6.34, 7.x<7.34.
func KeepsChannelLocally(p Version) bool { return !IsDeprecated(p, v5_34_0, v6_34_0, v7_34_0, v8_0_0) }
