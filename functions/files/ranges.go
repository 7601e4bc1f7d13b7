package files

import (
	"math"
	"strconv"
	"strings"
)

// rangeKind is what a request's Range header asks of the storage.
type rangeKind int

const (
	// rangeNone: no Range, or one this server ignores (RFC 9110 §14.2
	// lets a server ignore Range): the whole object, 200.
	rangeNone rangeKind = iota
	// rangeSingle: one byte range, forwarded as byteRange.spec.
	rangeSingle
	// rangeUnsatisfiable: a range no object satisfies (bytes=-0, or a
	// first position beyond any size): 416 with the object's size.
	rangeUnsatisfiable
)

// byteRange is a parsed Range header.
type byteRange struct {
	kind rangeKind
	// spec is the normalised header sent to the storage for rangeSingle
	// ("bytes=10-19", "bytes=10-", "bytes=-5").
	spec string
}

// parseRange reads the Range header field lines of a request
// (RFC 9110 §14.1.2 and §14.2). The storage only ever sees one
// normalised range, so S3 and the local folder answer alike:
//
//   - invalid syntax, another unit than bytes, several field lines, or a
//     last position before the first: ignored (200 with the whole object),
//     where http.ServeContent would answer 416;
//   - more than one range: ignored too (200). S3 does not answer
//     multipart/byteranges at all, and http.ServeContent would turn 229
//     one-byte ranges of a 229-byte file into a 30 KB multipart answer.
//     No Capgo client sends several ranges;
//   - bytes=-0 (a zero-length suffix) and first positions past 2^63-1:
//     unsatisfiable whatever the size (ServeContent answers bytes=-0 with
//     an empty 206).
//
// Positions past 2^63-1 elsewhere are read as 2^63-1: a last position or
// suffix that large covers the object to its end.
func parseRange(values []string) byteRange {
	if len(values) != 1 {
		return byteRange{}
	}
	unit, set, ok := strings.Cut(values[0], "=")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return byteRange{}
	}
	var spec string
	for el := range strings.SplitSeq(set, ",") {
		// A #list may carry empty elements and spaces around commas.
		el = strings.Trim(el, " \t")
		if el == "" {
			continue
		}
		if spec != "" {
			return byteRange{}
		}
		spec = el
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}
	}
	if first == "" {
		n, ok := position(last)
		switch {
		case !ok:
			return byteRange{}
		case n == 0:
			return byteRange{kind: rangeUnsatisfiable}
		}
		return byteRange{kind: rangeSingle, spec: "bytes=-" + strconv.FormatInt(n, 10)}
	}
	f, ok := position(first)
	switch {
	case !ok:
		return byteRange{}
	case f == math.MaxInt64:
		return byteRange{kind: rangeUnsatisfiable}
	}
	if last == "" {
		return byteRange{kind: rangeSingle, spec: "bytes=" + strconv.FormatInt(f, 10) + "-"}
	}
	l, ok := position(last)
	if !ok || l < f {
		return byteRange{}
	}
	return byteRange{kind: rangeSingle, spec: "bytes=" + strconv.FormatInt(f, 10) + "-" + strconv.FormatInt(l, 10)}
}

// position is 1*DIGIT, saturating at math.MaxInt64.
func position(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}
