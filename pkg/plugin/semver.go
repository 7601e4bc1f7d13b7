package plugin

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Version is a SemVer 2 version as @std/semver 1.0.8 (the library Capgo's
// backend uses) parses it.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // prerelease identifiers, as written
	Build               []string
}

const maxSemverLength = 256

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: @std/semver
// refuses larger numeric identifiers.
const maxSafeInteger = 1<<53 - 1

var (
	fullSemver = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?` +
		`(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)
	// commonSemver is the fast path Capgo checks before coercing.
	commonSemver = regexp.MustCompile(`^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$`)
	numericID    = regexp.MustCompile(`^[0-9]+$`)
)

// ErrInvalidSemver is returned for strings @std/semver's parse rejects.
var ErrInvalidSemver = errors.New("invalid semver")

// ParseVersion parses s as @std/semver's parse does: the string is trimmed,
// a leading "v" is allowed, and the rest must be strict SemVer 2.
func ParseVersion(s string) (Version, error) {
	if len(s) > maxSemverLength {
		return Version{}, ErrInvalidSemver
	}
	m := fullSemver.FindStringSubmatch(strings.TrimSpace(s))
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
		v.Pre = strings.Split(m[4], ".")
	}
	if m[5] != "" {
		v.Build = strings.Split(m[5], ".")
	}
	return v, nil
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
	if len(v.Pre) > 0 {
		b.WriteByte('-')
		b.WriteString(strings.Join(v.Pre, "."))
	}
	if len(v.Build) > 0 {
		b.WriteByte('+')
		b.WriteString(strings.Join(v.Build, "."))
	}
	return b.String()
}

// Compare returns -1, 0 or 1 by SemVer 2 precedence (build metadata ignored).
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

func comparePreID(a, b string) int {
	an, bn := numericID.MatchString(a), numericID.MatchString(b)
	switch {
	case an && bn:
		x, _ := strconv.ParseUint(a, 10, 64)
		y, _ := strconv.ParseUint(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
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
