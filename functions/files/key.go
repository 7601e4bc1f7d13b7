package files

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on a key (1,024 bytes of UTF-8): a longer key
// names no object on any storage.
const maxKeyLen = 1024

// routeKey is the storage key: the path after /files/read/attachments/,
// decoded once (as Hono decodes the :id param), and the same still
// percent-encoded.
func routeKey(r *http.Request) (key, raw string) {
	marker := "/files" + ReadPrefix
	_, key, _ = strings.Cut(r.URL.Path, marker)
	_, raw, _ = strings.Cut(r.URL.EscapedPath(), marker)
	return key, raw
}

// validKey reports whether key can name a stored object; every other key
// is a 404 before any storage is asked. Refused: the empty key, more than
// 1,024 bytes, invalid UTF-8 (S3 keys are UTF-8), control characters
// (NUL cannot be in a file name; none is in a key the CLI uploads), a
// leading "/" or an empty segment (no file in a folder is named so; S3
// would make "a//b" a different object than the folder's "a/b"), and "."
// or ".." segments, which would walk out of the bucket or the folder.
func validKey(key string) bool {
	if key == "" || len(key) > maxKeyLen || !utf8.ValidString(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// candidateKeys are the keys tried in order, as Capgo's worker does
// (getSafeAttachmentReadCandidateKeys): the decoded key, then the key as
// it appeared in the URL, then that with each segment encoded again.
// Manifest keys carry percent-encoded file names (the CLI encodes each
// segment) and are linked raw, so the decoded form can miss them. The
// extra forms are only tried within the same orgs/<org>/apps/<app> scope.
func candidateKeys(key, raw string) []string {
	keys := []string{key}
	if raw == "" || raw == key || !sameAppScope(key, raw) {
		return keys
	}
	for _, k := range []string{raw, encodeSegments(raw)} {
		if validKey(k) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// appScope is (org, app) of orgs/<org>/apps/<app>/<rest…>, ok false for
// any other shape.
func appScope(key string) (org, app string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 5 || parts[0] != "orgs" || parts[1] == "" || parts[2] != "apps" || parts[3] == "" {
		return "", "", false
	}
	for _, p := range parts[4:] {
		if p == "" {
			return "", "", false
		}
	}
	return parts[1], parts[3], true
}

func sameAppScope(a, b string) bool {
	ao, aa, aok := appScope(a)
	bo, ba, bok := appScope(b)
	return aok && bok && ao == bo && aa == ba
}

// encodeSegments is JavaScript's encodeURIComponent on each segment.
func encodeSegments(p string) string {
	const keep = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// appIDFromKey is Capgo's getAppIdFromAttachmentPath: the segment after
// the first "apps" segment.
func appIDFromKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "apps" && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}
