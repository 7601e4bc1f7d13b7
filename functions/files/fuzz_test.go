package files

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// The fuzz targets run the handler against a local folder: the same code
// path as S3 but in process, so each input takes microseconds. Their seeds
// (testdata/fuzz/FuzzX) run as ordinary tests under go test; fuzz with
//
//	go test -run='^$' -fuzz=FuzzKey -fuzztime=10s ./functions/files
//	go test -run='^$' -fuzz=FuzzRange -fuzztime=10s ./functions/files

const (
	fuzzKey     = "orgs/o/apps/com.demo.app/1.0.0.zip"
	fuzzEscaped = "orgs/o/apps/com.demo.app/delta/ab_my%20page.html"
)

var (
	fuzzData   = []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	fuzzSecret = []byte("outside the bundle folder")
)

// events counts the bandwidth rows the handler records.
type events struct {
	mu sync.Mutex
	ev []plugin.Event
}

func (e *events) Record(_ context.Context, ev ...plugin.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev...)
	return nil
}

// folderHandler is the handler on a local folder holding fuzzKey and
// fuzzEscaped, with a secret file next to the folder.
func folderHandler(tb testing.TB) *Handler {
	tb.Helper()
	parent := tb.TempDir()
	root := filepath.Join(parent, "bundles")
	for name, data := range map[string][]byte{
		filepath.Join(parent, "secret"):                      fuzzSecret,
		filepath.Join(root, filepath.FromSlash(fuzzKey)):     fuzzData,
		filepath.Join(root, filepath.FromSlash(fuzzEscaped)): fuzzData,
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	dir, err := bundledir.New(root)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := New(Deps{Signer: dir, Client: dir.Client(), Recorder: &events{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// readRequest is a GET of the route with raw as the escaped key, as Go's
// server would hand it over; ok is false when the server would refuse
// the request line (invalid percent-encoding) before any handler.
func readRequest(method, raw string) (*http.Request, bool) {
	key, err := url.PathUnescape(raw)
	if err != nil {
		return nil, false
	}
	base := "/functions/v1/files" + ReadPrefix
	u := &url.URL{Path: base + key, RawPath: base + raw, RawQuery: "device_id=fuzz"}
	r := httptest.NewRequest(method, "/", nil)
	r.URL = u
	r.RequestURI = u.RequestURI()
	return r, true
}

// FuzzKey: whatever the key, the handler does not panic, answers no 5xx
// with its storage up, serves nothing from outside the folder, and only
// serves the file a valid key names.
func FuzzKey(f *testing.F) {
	h := folderHandler(f)
	f.Add(fuzzKey)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			r, ok := readRequest(method, raw)
			if !ok {
				return
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s %q: %d %s", method, raw, w.Code, w.Body.Bytes())
			}
			if bytes.Contains(w.Body.Bytes(), fuzzSecret) {
				t.Fatalf("%s %q served the file outside the folder", method, raw)
			}
			if w.Code == http.StatusOK && method == http.MethodGet && !bytes.Equal(w.Body.Bytes(), fuzzData) {
				t.Fatalf("%s %q: 200 with %q", method, raw, w.Body.Bytes())
			}
		}
	})
}

var rangeSpec = regexp.MustCompile(`^bytes=(?:(\d+)-(\d*)|-(\d+))$`)

// FuzzRange: parseRange does not panic, forwards one normalised range
// that it reads back unchanged, and the handler answers the header with
// 200, 206 or 416, never a 5xx, with the bytes it says it sends.
func FuzzRange(f *testing.F) {
	h := folderHandler(f)
	f.Add("bytes=0-9")
	f.Fuzz(func(t *testing.T, header string) {
		br := parseRange([]string{header})
		switch br.kind {
		case rangeNone, rangeUnsatisfiable:
			if br.spec != "" {
				t.Fatalf("%q: %v with spec %q", header, br.kind, br.spec)
			}
		case rangeSingle:
			m := rangeSpec.FindStringSubmatch(br.spec)
			if m == nil {
				t.Fatalf("%q: spec %q", header, br.spec)
			}
			if m[1] != "" && m[2] != "" {
				first, _ := strconv.ParseInt(m[1], 10, 64)
				last, _ := strconv.ParseInt(m[2], 10, 64)
				if last < first {
					t.Fatalf("%q: spec %q ends before it starts", header, br.spec)
				}
			}
			if again := parseRange([]string{br.spec}); again != br {
				t.Fatalf("%q: spec %q reads back as %+v", header, br.spec, again)
			}
		default:
			t.Fatalf("%q: kind %v", header, br.kind)
		}

		r, _ := readRequest(http.MethodGet, fuzzKey)
		r.Header.Set("Range", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.Bytes()
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, fuzzData) {
				t.Fatalf("%q: 200 with %q", header, body)
			}
		case http.StatusPartialContent:
			if br.kind != rangeSingle || !bytes.Contains(fuzzData, body) || len(body) == 0 {
				t.Fatalf("%q: 206 with %q", header, body)
			}
		case http.StatusRequestedRangeNotSatisfiable:
			if cr := w.Header().Get("Content-Range"); cr != "bytes */"+strconv.Itoa(len(fuzzData)) {
				t.Fatalf("%q: 416 with Content-Range %q", header, cr)
			}
		default:
			t.Fatalf("%q: status %d %s", header, w.Code, body)
		}
	})
}
