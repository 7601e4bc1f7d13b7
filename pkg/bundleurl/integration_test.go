package bundleurl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// get fetches url with an optional Range header and returns status and body.
func get(t *testing.T, url, rangeHeader string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := testclient.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

func newSigner(t *testing.T, srv *s3test.Server, o bundleurl.S3Options) *bundleurl.S3 {
	t.Helper()
	if o.Endpoint == "" {
		o.Endpoint = srv.Endpoint
	}
	o.Region, o.AccessKeyID, o.SecretAccessKey = srv.Region, srv.AccessKeyID, srv.SecretAccessKey
	s, err := bundleurl.NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t *testing.T, s bundleurl.Signer, key string) string {
	t.Helper()
	u, err := s.Sign(t.Context(), bundleurl.Request{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSignedURLsDownloadFromS3 checks the URLs against a real S3 server
// (versitygw), fetched with a plain http.Get as a device would.
func TestSignedURLsDownloadFromS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.CreateBucket(t, bundleurl.DefaultBucket)

	objects := map[string][]byte{
		"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip":              []byte("PK\x03\x04 plain bundle"),
		"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0 beta+1.zip":       []byte("PK\x03\x04 tricky bundle \x00\xff"),
		"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/ünï (1)&x=y;z@~!'*.zip": bytes.Repeat([]byte("0123456789"), 1000),
	}
	for key, data := range objects {
		srv.PutObject(t, bundleurl.DefaultBucket, key, data)
	}

	// Endpoint as Capgo's S3_ENDPOINT writes it: host:port, no scheme.
	s := newSigner(t, srv, bundleurl.S3Options{Endpoint: strings.TrimPrefix(srv.Endpoint, "http://")})

	for key, data := range objects {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			u := sign(t, s, key)

			status, body, _ := get(t, u, "")
			if status != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200; body %s", u, status, body)
			}
			if !bytes.Equal(body, data) {
				t.Errorf("GET body = %q, want %q", body, data)
			}

			status, body, hdr := get(t, u, "bytes=3-9")
			if status != http.StatusPartialContent {
				t.Fatalf("ranged GET: status %d, want 206; body %s", status, body)
			}
			if !bytes.Equal(body, data[3:10]) {
				t.Errorf("ranged GET body = %q, want %q", body, data[3:10])
			}
			if got, want := hdr.Get("Content-Range"), fmt.Sprintf("bytes 3-9/%d", len(data)); got != want {
				t.Errorf("Content-Range = %q, want %q", got, want)
			}
		})
	}

	t.Run("tampered signature is refused", func(t *testing.T) {
		t.Parallel()
		u := sign(t, s, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip")
		last := u[len(u)-1]
		flipped := byte('0')
		if last == '0' {
			flipped = '1'
		}
		if status, body, _ := get(t, u[:len(u)-1]+string(flipped), ""); status != http.StatusForbidden {
			t.Errorf("tampered signature: status %d, want 403; body %s", status, body)
		}
	})

	t.Run("signature does not transfer to another key", func(t *testing.T) {
		t.Parallel()
		u := sign(t, s, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip")
		other := strings.Replace(u, "/1.0.0.zip?", "/1.0.0%20beta%2B1.zip?", 1)
		if status, body, _ := get(t, other, ""); status != http.StatusForbidden {
			t.Errorf("path swapped: status %d, want 403; body %s", status, body)
		}
	})

	t.Run("expired URL is refused", func(t *testing.T) {
		t.Parallel()
		expired := newSigner(t, srv, bundleurl.S3Options{
			Endpoint: srv.Endpoint,
			Expiry:   time.Minute,
			Now:      func() time.Time { return time.Now().Add(-time.Hour) },
		})
		u := sign(t, expired, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip")
		status, body, _ := get(t, u, "")
		if status != http.StatusForbidden || !strings.Contains(strings.ToLower(string(body)), "expired") {
			t.Errorf("expired URL: status %d, want 403 mentioning expiry; body %s", status, body)
		}
	})

	t.Run("URL signed an hour ago is still valid within expiry", func(t *testing.T) {
		t.Parallel()
		old := newSigner(t, srv, bundleurl.S3Options{
			Endpoint: srv.Endpoint,
			Now:      func() time.Time { return time.Now().Add(-time.Hour) },
		})
		u := sign(t, old, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip")
		if status, body, _ := get(t, u, ""); status != http.StatusOK {
			t.Errorf("status %d, want 200; body %s", status, body)
		}
	})

	t.Run("missing object is 404, not a signing error", func(t *testing.T) {
		t.Parallel()
		u := sign(t, s, "orgs/none/apps/none/0.0.0.zip")
		if status, body, _ := get(t, u, ""); status != http.StatusNotFound {
			t.Errorf("status %d, want 404; body %s", status, body)
		}
	})

	t.Run("wrong secret is refused", func(t *testing.T) {
		t.Parallel()
		bad, err := bundleurl.NewS3(bundleurl.S3Options{
			Endpoint: srv.Endpoint, Region: srv.Region,
			AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey + "x",
		})
		if err != nil {
			t.Fatal(err)
		}
		u := sign(t, bad, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip")
		if status, body, _ := get(t, u, ""); status != http.StatusForbidden {
			t.Errorf("status %d, want 403; body %s", status, body)
		}
	})
}

// Signer is what handlers depend on; *S3 must satisfy it.
var _ bundleurl.Signer = (*bundleurl.S3)(nil)

func ExampleNewS3() {
	s, err := bundleurl.NewS3(bundleurl.S3Options{
		Endpoint:        "localhost:54321/storage/v1/s3", // S3_ENDPOINT
		Region:          "local",                         // S3_REGION
		AccessKeyID:     "S3_PROTOCOL_ACCESS_KEY_ID from supabase status",
		SecretAccessKey: "S3_PROTOCOL_ACCESS_KEY_SECRET from supabase status",
		Now:             func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	u, err := s.Sign(context.Background(), bundleurl.Request{Key: "orgs/o/apps/com.demo.app/1.0.0 beta.zip"})
	if err != nil {
		panic(err)
	}
	fmt.Println(u[:strings.IndexByte(u, '?')])
	// Output: http://localhost:54321/storage/v1/s3/capgo/orgs/o/apps/com.demo.app/1.0.0%20beta.zip
}
