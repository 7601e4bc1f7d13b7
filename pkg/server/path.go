package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// canonicalPath is the decoded path a normalising proxy in front of a
// function may read from the escaped path p (nginx/Kong decode, merge
// slashes and resolve dot segments; other servers drop ;params or take a
// backslash for a slash): %2F, %5C and backslashes are slashes, every
// segment loses its ;params (a literal ";", not an encoded %3B, which is
// part of a name such as a manifest file's), then is decoded; empty and
// "." segments go, ".." removes the segment before it. A trailing slash
// (or trailing dot segment) is kept as one trailing slash.
//
// A canonical request is one whose decoded path is canonicalPath of its
// escaped path and that encodes no separator; the router answers only
// those, and refuses a non-canonical one whose canonical form (in any
// letter case) is a function's.
func canonicalPath(p string) string {
	p = separators.Replace(p)
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	last := ""
	for _, s := range segs {
		s, _, _ = strings.Cut(s, ";")
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
		last = s
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	c := "/" + strings.Join(out, "/")
	if len(out) > 0 && (last == "" || last == "." || last == "..") {
		c += "/"
	}
	return c
}

// separators are the spellings of a path separator a proxy may decode.
var separators = strings.NewReplacer(`\`, "/", "%2F", "/", "%2f", "/", "%5C", "/", "%5c", "/")

// encodedSeparator reports whether an escaped path spells a separator
// encoded (%2F, %5C), which a decoding proxy turns into a real one.
func encodedSeparator(raw string) bool {
	raw = strings.ToLower(raw)
	return strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c")
}

// limitBodyTime bounds reading r's body to d from now: the connection's
// read deadline is set (http.ResponseController), and lifted once the
// body has been read to its end, so the handler's own work after reading
// is not bounded by it (a deadline left on an idle connection would fire
// in the server's background read and cancel the request's context). A
// request without a body is left alone for the same reason. A client
// that has not sent its whole body by then gets a read error (the
// function answers 400) and its connection is closed.
func limitBodyTime(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return // not a server connection (a test recorder): nothing to bound
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody lifts the read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
