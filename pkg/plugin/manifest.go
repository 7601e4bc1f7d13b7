package plugin

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

var percentOctet = regexp.MustCompile(`(?i)%[0-9a-f]{2}`)

// NormalizeManifestFileName is Capgo's normalizeLegacyEncodedManifestFileName:
// older CLIs stored percent-encoded file names; when s3Path ends with
// "_<fileName>" and decoding is safe and round-trips, the decoded name is
// sent so the plugin writes the file where the bundle expects it.
func NormalizeManifestFileName(fileName, s3Path string) string {
	if s3Path == "" || !percentOctet.MatchString(fileName) || !strings.HasSuffix(s3Path, "_"+fileName) {
		return fileName
	}
	segs := strings.Split(fileName, "/")
	for i, s := range segs {
		// decodeURIComponent throws on a bad escape and on bytes that are
		// not UTF-8.
		d, err := url.PathUnescape(s)
		if err != nil || !utf8.ValidString(d) {
			return fileName
		}
		segs[i] = d
	}
	decoded := strings.Join(segs, "/")
	if decoded == fileName || !safeManifestPath(decoded) {
		return fileName
	}
	// Re-encode the decoded path split anew, as encodeManifestPathSegments
	// does: a decoded "%2F" is a separator there.
	enc := strings.Split(decoded, "/")
	for i, s := range enc {
		enc[i] = encodeURIComponent(s)
	}
	if strings.Join(enc, "/") != fileName {
		return fileName
	}
	return decoded
}

func safeManifestPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return false
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// encodeURIComponent is JavaScript's: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is escaped.
func encodeURIComponent(s string) string {
	const unreserved = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(unreserved, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex2(c)))
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
