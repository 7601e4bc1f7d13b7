package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/functions/files"
	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	demoApp = functest.DemoApp
	zipKey  = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip"
	// oddKey needs escaping: a space and a plus.
	oddKey = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0 beta+1.zip"
	// deltaKey is how the CLI names a manifest file: the file name is
	// percent-encoded inside the key, and /updates links it raw.
	deltaKey = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/delta/ab12_my%20page.html"
	emptyKey = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/empty.zip"
	readBase = "/functions/v1/files/read/attachments/"
)

// env is the real router with the files function, a storage (a
// versitygw holding the bundle bucket, or a local folder) and a seeded
// database receiving bandwidth rows.
type env struct {
	t    *testing.T
	url  string
	pool *pgxpool.Pool
	data map[string][]byte
	// root is the local folder (storageDir), "" on S3.
	root string
}

// The two storages files/read serves from.
const (
	storageS3  = "s3"
	storageDir = "dir"
)

var storages = []string{storageS3, storageDir}

func objectData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// smallKey is a 229-byte object, for requests with many ranges.
const smallKey = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/small.bin"

// newEnv starts the router on storage (storageS3 or storageDir) holding
// the test objects.
func newEnv(t *testing.T, storage string) *env {
	t.Helper()
	e := &env{t: t, data: map[string][]byte{
		zipKey:   objectData(100_000, 1),
		oddKey:   objectData(5_000, 2),
		deltaKey: []byte("<html>delta</html>"),
		emptyKey: {},
		smallKey: objectData(229, 3),
	}}
	deps := files.Deps{}
	switch storage {
	case storageS3:
		s3 := s3test.Start(t)
		s3.CreateBucket(t, bundleurl.DefaultBucket)
		for k, v := range e.data {
			s3.PutObject(t, bundleurl.DefaultBucket, k, v)
		}
		signer, err := bundleurl.NewS3(bundleurl.S3Options{
			Endpoint: s3.Endpoint, Region: s3.Region, AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey,
			Expiry: files.SignedURLExpiry,
		})
		if err != nil {
			t.Fatal(err)
		}
		deps.Signer = signer
	case storageDir:
		// The folder sits inside a parent holding a file the route
		// must never reach.
		parent := t.TempDir()
		writeFile(t, filepath.Join(parent, "secret"), []byte("outside the folder"))
		e.root = filepath.Join(parent, "bundles")
		for k, v := range e.data {
			writeFile(t, filepath.Join(e.root, filepath.FromSlash(k)), v)
		}
		dir, err := bundledir.New(e.root)
		if err != nil {
			t.Fatal(err)
		}
		deps.Signer, deps.Client = dir, dir.Client()
	default:
		t.Fatalf("unknown storage %q", storage)
	}
	e.pool = pgtest.NewPool(t)
	deps.Recorder = pgstore.New(e.pool).Recorder()
	e.url = startRouterDeps(t, deps)
	return e
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startRouter serves the files function (read route only) on the real
// router; signer may be nil (no storage configured).
func startRouter(t *testing.T, signer files.Signer, rec store.Recorder) string {
	t.Helper()
	return startRouterDeps(t, files.Deps{Signer: signer, Recorder: rec})
}

// startRouterDeps serves the files function with d on the real router.
// Every request's handler is done before get returns: the bandwidth row
// of a download is written after its body, which the client may have
// read in full before the handler records it.
func startRouterDeps(t *testing.T, d files.Deps) string {
	t.Helper()
	d.Log = functest.Discard()
	h, err := files.New(d)
	if err != nil {
		t.Fatal(err)
	}
	fn := server.Function{Name: "files", Handler: h, Match: files.Match, Methods: []string{http.MethodGet}}
	router := server.New(server.Options{Functions: []server.Function{fn}, Log: functest.Discard()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer markDone(r.Header.Get(doneHeader))
		router.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// doneHeader carries a test request's id; handlerDone holds a channel per
// id, closed when the server is done with that request.
const doneHeader = "X-Test-Request"

var (
	handlerDone sync.Map // string → chan struct{}
	requestSeq  atomic.Int64
)

func markDone(id string) {
	if ch, ok := handlerDone.LoadAndDelete(id); ok {
		close(ch.(chan struct{}))
	}
}

// row is one bandwidth_usage row.
type row struct {
	DeviceID, AppID string
	FileSize        int64
}

func (e *env) rows(deviceID string) []row {
	e.t.Helper()
	rs, err := e.pool.Query(context.Background(),
		`SELECT device_id, app_id, file_size FROM bandwidth_usage WHERE lower(device_id) = lower($1) ORDER BY id`, deviceID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.DeviceID, &r.AppID, &r.FileSize); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, method, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// do sends req and waits until the server is done with it.
func do(t *testing.T, req *http.Request) response {
	t.Helper()
	id := strconv.FormatInt(requestSeq.Add(1), 10)
	done := make(chan struct{})
	handlerDone.Store(id, done)
	req.Header.Set(doneHeader, id)
	resp, err := testclient.Transport.RoundTrip(req)
	if err != nil {
		handlerDone.Delete(id)
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-t.Context().Done():
		t.Fatal("the server never finished the request")
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func jsonBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", b, err)
	}
	return v
}

// escape writes a key as a URL path the way a client would send it.
func escape(key string) string {
	return strings.NewReplacer(" ", "%20", "+", "%2B").Replace(key)
}

func TestRead(t *testing.T) { eachStorage(t, testRead) }

// eachStorage runs test against every storage, in parallel subtests.
func eachStorage(t *testing.T, test func(*testing.T, *env)) {
	t.Parallel()
	for _, storage := range storages {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, storage))
		})
	}
}

func testRead(t *testing.T, e *env) {
	zip := e.data[zipKey]
	n := len(zip)
	const cache = "public, max-age=31536000, immutable, no-transform"

	cases := []struct {
		name     string
		method   string
		path     string
		header   map[string]string
		device   string // device_id query param; "" for none
		status   int
		body     []byte            // nil: check JSON instead (or no body for HEAD)
		json     map[string]any    // expected JSON body
		headers  map[string]string // exact values; "" means absent
		wantRows []row
	}{
		{
			name: "full GET records the bandwidth", method: "GET", path: zipKey, device: "6AA5A0E3-2C0A-4A1B-9C3E-1F2D3C4B5A60",
			status: 200, body: zip,
			headers: map[string]string{
				"Content-Length": strconv.Itoa(n), "Content-Range": "", "Accept-Ranges": "bytes",
				"Cache-Control": cache, "Content-Disposition": `attachment; filename="` + zipKey + `"`,
				"X-Worker-Source": "files-" + server.Version,
			},
			wantRows: []row{{"6aa5a0e3-2c0a-4a1b-9c3e-1f2d3c4b5a60", demoApp, int64(n)}},
		},
		{
			name: "GET without device_id records nothing", method: "GET", path: zipKey,
			status: 200, body: zip,
		},
		{
			name: "range GET is 206 with the bytes and records the span", method: "GET", path: zipKey,
			header: map[string]string{"Range": "bytes=10-19"}, device: "2b9c0e3a-7d4e-4f1a-8b2c-3d4e5f6a7b80",
			status: 206, body: zip[10:20],
			headers:  map[string]string{"Content-Range": fmt.Sprintf("bytes 10-19/%d", n), "Content-Length": "10"},
			wantRows: []row{{"2b9c0e3a-7d4e-4f1a-8b2c-3d4e5f6a7b80", demoApp, 10}},
		},
		{
			name: "suffix range", method: "GET", path: zipKey, header: map[string]string{"Range": "bytes=-5"},
			status: 206, body: zip[n-5:],
			headers: map[string]string{"Content-Range": fmt.Sprintf("bytes %d-%d/%d", n-5, n-1, n)},
		},
		{
			name: "unsatisfiable range is 416", method: "GET", path: zipKey,
			header: map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+10)}, device: "3c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
			status:  416,
			json:    map[string]any{"error": "range_not_satisfiable", "message": "Requested range not satisfiable"},
			headers: map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", n)},
		},
		{
			name: "HEAD gives the object's headers and records nothing", method: "HEAD", path: zipKey, device: "4d1e2f3a-4b5c-4d6e-9f7a-8b9c0d1e2f3a",
			status: 200,
			headers: map[string]string{"Content-Length": strconv.Itoa(n), "Content-Range": "", "Accept-Ranges": "bytes",
				"Cache-Control": cache},
		},
		{
			name: "HEAD with a range", method: "HEAD", path: zipKey, header: map[string]string{"Range": "bytes=0-99"},
			status: 206, headers: map[string]string{"Content-Length": "100", "Content-Range": fmt.Sprintf("bytes 0-99/%d", n)},
		},
		{
			name: "HEAD of an empty object", method: "HEAD", path: emptyKey,
			status: 200, headers: map[string]string{"Content-Length": "0", "Content-Range": ""},
		},
		{
			name: "GET of an empty object records nothing", method: "GET", path: emptyKey, device: "8b5c6d7e-8f9a-4b0c-9d1e-2f3a4b5c6d7e",
			status: 200, body: []byte{}, headers: map[string]string{"Content-Length": "0"},
		},
		{
			name: "missing object is 404", method: "GET", path: "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/9.9.9.zip",
			device: "5e2f3a4b-5c6d-4e7f-8a8b-9c0d1e2f3a4b",
			status: 404, json: map[string]any{"error": "not_found", "message": "Not found"},
		},
		{
			name: "missing object HEAD is 404", method: "HEAD", path: "orgs/x/apps/y/none.zip", status: 404,
		},
		{
			// The router refuses a non-canonical path before the handler
			// (pkg/server); the handler's own 404 for dot segments is the
			// second line of defence.
			name: "dot segments are refused", method: "GET", path: "orgs/x/apps/y/../../../etc/passwd",
			status: 400, json: map[string]any{"error": "invalid_path", "message": "Path is not in canonical form"},
		},
		{
			name: "the key query param is ignored", method: "GET", path: zipKey + "?key=wrong-checksum",
			status: 200, body: zip,
		},
		{
			name: "escaped key", method: "GET", path: escape(oddKey), device: "6f3a4b5c-6d7e-4f8a-9b9c-0d1e2f3a4b5c",
			status: 200, body: e.data[oddKey],
			headers:  map[string]string{"Content-Disposition": `attachment; filename="` + oddKey + `"`},
			wantRows: []row{{"6f3a4b5c-6d7e-4f8a-9b9c-0d1e2f3a4b5c", demoApp, int64(len(e.data[oddKey]))}},
		},
		{
			name: "manifest key linked raw is found", method: "GET", path: deltaKey, status: 200, body: e.data[deltaKey],
		},
		{
			name: "POST is the catch-all 404", method: "POST", path: zipKey,
			status: 404, json: map[string]any{"error": "not_found", "message": "Not found"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := e.url + readBase + tc.path
			if tc.device != "" {
				sep := "?"
				if strings.Contains(url, "?") {
					sep = "&"
				}
				url += sep + "key=abc&device_id=" + tc.device
			}
			got := get(t, tc.method, url, tc.header)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d; body %q", got.status, tc.status, got.body)
			}
			switch {
			case tc.json != nil:
				if diff := cmp.Diff(tc.json, jsonBody(t, got.body)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				if ct := got.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
			case tc.method == http.MethodHead || tc.body == nil:
				if len(got.body) != 0 {
					t.Errorf("body of %d bytes, want none", len(got.body))
				}
			default:
				if !bytes.Equal(got.body, tc.body) {
					t.Errorf("body: %d bytes, want %d (equal: false)", len(got.body), len(tc.body))
				}
			}
			gotHeaders := map[string]string{}
			for k := range tc.headers {
				gotHeaders[k] = got.header.Get(k)
			}
			if tc.headers == nil {
				tc.headers = map[string]string{}
			}
			if diff := cmp.Diff(tc.headers, gotHeaders); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if tc.device != "" {
				if diff := cmp.Diff(tc.wantRows, e.rows(tc.device)); diff != "" {
					t.Errorf("bandwidth_usage rows (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestConditional: the storage's ETag and 304 pass through.
func TestConditional(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storageS3)
	first := get(t, "HEAD", e.url+readBase+zipKey, nil)
	etag := first.header.Get("ETag")
	if etag == "" {
		t.Fatalf("no ETag in %v", first.header)
	}
	got := get(t, "GET", e.url+readBase+zipKey+"?device_id=7a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d", map[string]string{"If-None-Match": etag})
	if got.status != http.StatusNotModified || len(got.body) != 0 {
		t.Errorf("If-None-Match: status %d body %q, want 304 and no body", got.status, got.body)
	}
	if rows := e.rows("7a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d"); len(rows) != 0 {
		t.Errorf("a 304 recorded bandwidth: %v", rows)
	}
}

// TestNoStorage: without S3 settings the route says so.
func TestNoStorage(t *testing.T) {
	t.Parallel()
	url := startRouter(t, nil, pgstore.New(pgtest.NewPool(t)).Recorder())
	got := get(t, "GET", url+readBase+zipKey+"?device_id=x", nil)
	want := map[string]any{"error": "storage_not_configured", "message": "No file storage is configured on this server (set S3_ENDPOINT and its keys)"}
	if got.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", got.status)
	}
	if diff := cmp.Diff(want, jsonBody(t, got.body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestStorageFailures: an unreachable storage or one refusing the
// signature is Capgo's 503 upstream_unavailable.
func TestStorageFailures(t *testing.T) {
	t.Parallel()
	s3 := s3test.Start(t)
	s3.CreateBucket(t, bundleurl.DefaultBucket)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	rec := pgstore.New(pgtest.NewPool(t)).Recorder()

	cases := []struct {
		name     string
		endpoint string
		secret   string
		want     map[string]any
	}{
		{"storage down", closed, s3.SecretAccessKey, map[string]any{"error": "upstream_unavailable",
			"message": "File storage temporarily unavailable", "moreInfo": map[string]any{"fileId": zipKey}}},
		{"signature refused", s3.Endpoint, "wrong-secret", map[string]any{"error": "upstream_unavailable",
			"message": "File storage temporarily unavailable", "moreInfo": map[string]any{"fileId": zipKey, "status": float64(403)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			signer, err := bundleurl.NewS3(bundleurl.S3Options{Endpoint: tc.endpoint, Region: s3.Region,
				AccessKeyID: s3.AccessKeyID, SecretAccessKey: tc.secret, Expiry: files.SignedURLExpiry})
			if err != nil {
				t.Fatal(err)
			}
			url := startRouter(t, signer, rec)
			got := get(t, "GET", url+readBase+zipKey, nil)
			if got.status != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", got.status)
			}
			if diff := cmp.Diff(tc.want, jsonBody(t, got.body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
