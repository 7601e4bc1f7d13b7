package server_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzRouter: whatever the request target, the pre-router does not
// panic, and a path that a normalising gateway would read as one of our
// functions (decoded, backslashes as slashes, ;params dropped, dot
// segments resolved, empty segments merged, any letter case) never
// reaches the fallback: it is answered here, or refused 400. The oracle
// is written apart from the router's canonicalPath on purpose. Seeds are
// in testdata/fuzz/FuzzRouter.
func FuzzRouter(f *testing.F) {
	fallbackHit := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h := newHandler(fallbackHit)
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			return // the server would answer 400 before any handler
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 299 && ours(req.URL.EscapedPath()) {
			t.Errorf("%q (path %q) reached the fallback", target, req.URL.Path)
		}
	})
}

// ours is the oracle: does a normalising gateway read the escaped path p
// as a path of the router newHandler builds (updates, stats,
// files/read/attachments/…)? Separators may be encoded; a literal ;
// starts a segment's params.
func ours(p string) bool {
	var segs []string
	p = strings.NewReplacer("%2f", "/", "%5c", "/").Replace(strings.ToLower(p))
	for _, s := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) < 3 || segs[0] != "functions" || segs[1] != "v1" {
		return false
	}
	switch {
	case slices.Contains([]string{"updates", "stats"}, segs[2]):
		return true
	case segs[2] == "files":
		return len(segs) >= 6 && segs[3] == "read" && segs[4] == "attachments"
	}
	return false
}
