package files_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var notFound = map[string]any{"error": "not_found", "message": "Not found"}

// TestBadKeys: a key that cannot name a stored object is Capgo's 404
// not_found on both storages, never a 5xx, and nothing outside the folder
// is served.
func TestBadKeys(t *testing.T) {
	t.Parallel()
	const app = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/"
	paths := []string{
		"%2Fetc%2Fpasswd",                       // leading "/" (decoded)
		"%2fetc/passwd",                         // lower-case escape
		"/etc/passwd",                           // leading "/" as sent
		app + "1.0.0%00.zip",                    // NUL
		"%00",                                   // NUL alone
		app + "%ff.zip",                         // invalid UTF-8
		app + "%c3%28.zip",                      // invalid UTF-8 sequence
		app + "a%01b.zip",                       // control character
		app + "a%7fb.zip",                       // DEL
		app + "x//1.0.0.zip",                    // empty segment
		app + "1.0.0.zip/",                      // trailing "/"
		app + "1.0.0.zip%2F",                    // trailing "/" escaped
		"%2e%2e/secret",                         // outside the folder
		"%2e%2e%2fsecret",                       // outside the folder, one escaped segment
		app + "..%2f..%2f..%2f..%2fsecret",      // walks up through escapes
		app + "1.0.0.zip/inner",                 // a file used as a folder
		app + strings.Repeat("a", 300) + ".zip", // a segment too long for a file name
		app + strings.Repeat("b/", 600) + "c",   // more than 1,024 bytes
		"orgs",                                  // a folder
		app + "%5C..%5Csecret",                  // backslashes: a name, not a path
	}
	// Spellings that a normalising proxy would turn into another path are
	// refused by the router before the route sees them (pkg/server: one
	// routing truth): 400 invalid_path, also never served.
	nonCanonical := map[string]bool{
		"%2Fetc%2Fpasswd": true, "%2fetc/passwd": true, "/etc/passwd": true,
		app + "x//1.0.0.zip": true, app + "1.0.0.zip%2F": true,
		app + "..%2f..%2f..%2f..%2fsecret": true, app + "%5C..%5Csecret": true,
	}
	invalidPath := map[string]any{"error": "invalid_path", "message": "Path is not in canonical form"}
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storage)
			for _, p := range paths {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					req, err := http.NewRequestWithContext(t.Context(), method, e.url+readBase+"x", nil)
					if err != nil {
						t.Fatal(err)
					}
					// Opaque keeps the path exactly as written.
					req.URL.Opaque = "//" + req.URL.Host + readBase + p
					req.URL.RawQuery = "device_id=9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
					got := do(t, req)
					wantStatus, wantBody := http.StatusNotFound, notFound
					if nonCanonical[p] {
						wantStatus, wantBody = http.StatusBadRequest, invalidPath
					}
					if got.status != wantStatus {
						t.Errorf("%s %q: status %d, want %d; body %q", method, p, got.status, wantStatus, got.body)
						continue
					}
					if method == http.MethodGet {
						if diff := cmp.Diff(wantBody, jsonBody(t, got.body)); diff != "" {
							t.Errorf("GET %q: body (-want +got):\n%s", p, diff)
						}
					}
				}
			}
			if rows := e.rows("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"); len(rows) != 0 {
				t.Errorf("bad keys recorded bandwidth: %v", rows)
			}
		})
	}
}

// TestRanges: RFC 9110's Range rules, the same on both storages, and the
// bandwidth row counts the bytes sent.
func TestRanges(t *testing.T) { eachStorage(t, testRanges) }

func testRanges(t *testing.T, e *env) {
	small := e.data[smallKey]
	n := len(small)
	var many []string
	for i := range n {
		many = append(many, fmt.Sprintf("%d-%d", i, i))
	}
	unsatisfiable := map[string]any{"error": "range_not_satisfiable", "message": "Requested range not satisfiable"}
	cases := []struct {
		name    string
		method  string
		key     string
		rng     string
		status  int
		body    []byte // GET: the exact body (nil with json)
		json    map[string]any
		cr      string // Content-Range
		length  string // Content-Length
		rowSize int64  // bandwidth row for the GET; 0 for none
	}{
		{name: "invalid syntax is ignored", rng: "bytes=abc", status: 200, body: small, length: strconv.Itoa(n), rowSize: int64(n)},
		{name: "last before first is ignored", rng: "bytes=5-3", status: 200, body: small, rowSize: int64(n)},
		{name: "another unit is ignored", rng: "items=0-1", status: 200, body: small, rowSize: int64(n)},
		{name: "a range without a dash is ignored", rng: "bytes=5", status: 200, body: small, rowSize: int64(n)},
		{name: "a negative first position is ignored", rng: "bytes=--5", status: 200, body: small, rowSize: int64(n)},
		{name: "two ranges are a full 200", rng: "bytes=0-0,2-2", status: 200, body: small, length: strconv.Itoa(n), rowSize: int64(n)},
		{name: "229 one-byte ranges are the 229 bytes, not multipart", rng: "bytes=" + strings.Join(many, ","), status: 200, body: small, length: strconv.Itoa(n), rowSize: int64(n)},
		{name: "bytes=-0 is 416", rng: "bytes=-0", status: 416, json: unsatisfiable, cr: fmt.Sprintf("bytes */%d", n)},
		{name: "bytes=-0 on HEAD is 416", method: http.MethodHead, rng: "bytes=-0", status: 416, cr: fmt.Sprintf("bytes */%d", n)},
		{name: "bytes=-0 of an empty object is 416", key: emptyKey, rng: "bytes=-0", status: 416, json: unsatisfiable, cr: "bytes */0"},
		{name: "a first position past 2^63 is 416", rng: "bytes=99999999999999999999-", status: 416, json: unsatisfiable, cr: fmt.Sprintf("bytes */%d", n)},
		{name: "leading zeros and spaces", rng: "bytes= 0010-0019 ,", status: 206, body: small[10:20], cr: fmt.Sprintf("bytes 10-19/%d", n), length: "10", rowSize: 10},
		{name: "upper-case unit", rng: "Bytes=0-3", status: 206, body: small[:4], cr: fmt.Sprintf("bytes 0-3/%d", n), rowSize: 4},
		{name: "a last position past 2^63 runs to the end", rng: "bytes=200-99999999999999999999", status: 206, body: small[200:], cr: fmt.Sprintf("bytes 200-%d/%d", n-1, n), rowSize: int64(n - 200)},
		{name: "HEAD with ignored ranges is the object's headers", method: http.MethodHead, rng: "bytes=0-0,2-2", status: 200, length: strconv.Itoa(n)},
		{name: "HEAD records nothing", method: http.MethodHead, rng: "bytes=0-9", status: 206, cr: fmt.Sprintf("bytes 0-9/%d", n), length: "10"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method, key := tc.method, tc.key
			if method == "" {
				method = http.MethodGet
			}
			if key == "" {
				key = smallKey
			}
			device := fmt.Sprintf("0c0d0e0f-0000-4000-8000-%012d", i)
			got := get(t, method, e.url+readBase+key+"?device_id="+device, map[string]string{"Range": tc.rng})
			if got.status != tc.status {
				t.Fatalf("status %d, want %d; body %q", got.status, tc.status, got.body)
			}
			switch {
			case tc.json != nil:
				if diff := cmp.Diff(tc.json, jsonBody(t, got.body)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			case method == http.MethodHead:
				if len(got.body) != 0 {
					t.Errorf("HEAD body of %d bytes", len(got.body))
				}
			case !bytes.Equal(got.body, tc.body):
				t.Errorf("body: %d bytes, want %d", len(got.body), len(tc.body))
			}
			if cr := got.header.Get("Content-Range"); cr != tc.cr {
				t.Errorf("Content-Range %q, want %q", cr, tc.cr)
			}
			if tc.length != "" && got.header.Get("Content-Length") != tc.length {
				t.Errorf("Content-Length %q, want %q", got.header.Get("Content-Length"), tc.length)
			}
			var want []row
			if tc.rowSize > 0 {
				want = []row{{device, demoApp, tc.rowSize}}
			}
			if diff := cmp.Diff(want, e.rows(device)); diff != "" {
				t.Errorf("bandwidth_usage rows (-want +got):\n%s", diff)
			}
		})
	}
}
