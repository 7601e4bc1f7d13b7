package bundleurl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/storagetest"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
)

// storageObjects are stored in the stand-in for every test below.
var storageObjects = map[string][]byte{
	"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip":          []byte("PK\x03\x04 plain bundle"),
	"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0 beta+1.zip":   []byte("PK\x03\x04 tricky bundle \x00\xff"),
	"orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/ünï (1)&x=y;z@~!'*": bytes.Repeat([]byte("0123456789"), 1000),
	"orgs/o/apps/a/100%.zip": []byte("a 100% bundle body"),
}

const plainKey = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0.zip"

func newStandIn(t *testing.T, o storagetest.Options) *storagetest.Server {
	t.Helper()
	srv := storagetest.Start(t, o)
	for k, v := range storageObjects {
		srv.PutObject(bundleurl.DefaultBucket, k, v)
	}
	return srv
}

func newStorageSigner(t *testing.T, o bundleurl.StorageOptions) *bundleurl.Storage {
	t.Helper()
	s, err := bundleurl.NewStorage(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storageErr decodes the stand-in's (Storage's) error body.
func storageErr(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q is not Storage's envelope: %v", body, err)
	}
	return m
}

// TestStorageURLsDownload fetches the signed URLs of both minting modes
// from the Storage stand-in with a plain GET, as a device would.
func TestStorageURLsDownload(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, storagetest.Options{})
	modes := map[string]bundleurl.StorageOptions{
		"offline":                       {PublicURL: srv.URL, JWTSecret: srv.JWTSecret},
		"api with the service_role JWT": {PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: srv.ServiceRoleKey},
		"api with the sb_secret_ key":   {PublicURL: srv.URL, APIURL: srv.URL + "/", ServiceKey: srv.SecretKey},
	}
	for mode, o := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newStorageSigner(t, o)
			for key, data := range storageObjects {
				t.Run(key, func(t *testing.T) {
					u := sign(t, s, key)
					status, body, _ := get(t, u, "")
					if status != http.StatusOK || !bytes.Equal(body, data) {
						t.Fatalf("GET %s: %d %.100q, want 200 with the object", u, status, body)
					}
					status, body, hdr := get(t, u, "bytes=3-9")
					if status != http.StatusPartialContent || !bytes.Equal(body, data[3:10]) {
						t.Errorf("ranged GET: %d %q, want 206 %q", status, body, data[3:10])
					}
					if got, want := hdr.Get("Content-Range"), fmt.Sprintf("bytes 3-9/%d", len(data)); got != want {
						t.Errorf("Content-Range = %q, want %q", got, want)
					}
				})
			}
		})
	}
}

func TestStorageURLsRefused(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, storagetest.Options{})
	s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, JWTSecret: srv.JWTSecret})
	u := sign(t, s, plainKey)

	tests := []struct {
		name     string
		url      func() string
		wantCode string
	}{
		{"tampered signature", func() string {
			// Flip the signature's first character: every bit of it counts
			// (the last one carries padding bits a decoder may ignore).
			i := strings.LastIndexByte(u, '.') + 1
			flipped := byte('A')
			if u[i] == 'A' {
				flipped = 'B'
			}
			return u[:i] + string(flipped) + u[i+1:]
		}, "InvalidJWT"},
		{"token of another key", func() string {
			return strings.Replace(u, "/1.0.0.zip?", "/1.0.0%20beta%2B1.zip?", 1)
		}, "InvalidSignature"},
		{"expired token", func() string {
			old := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, JWTSecret: srv.JWTSecret,
				Expiry: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
			return sign(t, old, plainKey)
		}, "InvalidJWT"},
		{"wrong secret", func() string {
			bad := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, JWTSecret: srv.JWTSecret + "x"})
			return sign(t, bad, plainKey)
		}, "InvalidJWT"},
		{"offline URL of a missing object is minted, its download is Storage's 404", func() string {
			return sign(t, s, "orgs/none/0.0.0.zip")
		}, "NoSuchKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body, _ := get(t, tc.url(), "")
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (Storage's status for client errors); body %s", status, body)
			}
			if got := storageErr(t, body)["code"]; got != tc.wantCode {
				t.Errorf("code %q, want %q; body %s", got, tc.wantCode, body)
			}
		})
	}
	if n := srv.Downloads(); n != 0 {
		t.Errorf("the stand-in served %d downloads to refused URLs", n)
	}
}

func TestStorageAPIErrors(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, storagetest.Options{})
	ctx := context.Background()

	t.Run("missing object is ErrObjectNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: srv.ServiceRoleKey})
		_, err := s.Sign(ctx, bundleurl.Request{Key: "orgs/none/0.0.0.zip"})
		var apiErr *bundleurl.StorageAPIError
		if !errors.Is(err, bundleurl.ErrObjectNotFound) || !errors.As(err, &apiErr) {
			t.Fatalf("err %v, want a StorageAPIError matching ErrObjectNotFound", err)
		}
		want := bundleurl.StorageAPIError{HTTPStatus: 400, StatusCode: 404, Code: "NoSuchKey", Message: "Object not found"}
		if *apiErr != want {
			t.Errorf("got %+v, want %+v", *apiErr, want)
		}
	})

	t.Run("bad key keeps Storage's 403", func(t *testing.T) {
		t.Parallel()
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: "not-a-jwt"})
		_, err := s.Sign(ctx, bundleurl.Request{Key: plainKey})
		var apiErr *bundleurl.StorageAPIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "AccessDenied" || errors.Is(err, bundleurl.ErrObjectNotFound) {
			t.Fatalf("err %v, want StorageAPIError statusCode 403 AccessDenied", err)
		}
	})

	t.Run("anon key sees no object", func(t *testing.T) {
		t.Parallel()
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: srv.AnonKey})
		if _, err := s.Sign(ctx, bundleurl.Request{Key: plainKey}); !errors.Is(err, bundleurl.ErrObjectNotFound) {
			t.Fatalf("err %v, want ErrObjectNotFound", err)
		}
	})

	t.Run("keys Storage's sign route would rename are refused", func(t *testing.T) {
		t.Parallel()
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: srv.ServiceRoleKey})
		for _, key := range []string{"a?b.zip", "a#b.zip"} {
			if _, err := s.Sign(ctx, bundleurl.Request{Key: key}); !errors.Is(err, bundleurl.ErrInvalidKey) {
				t.Errorf("key %q: err %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("unreachable Storage", func(t *testing.T) {
		t.Parallel()
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: "http://127.0.0.1:1", ServiceKey: srv.ServiceRoleKey})
		if _, err := s.Sign(ctx, bundleurl.Request{Key: plainKey}); err == nil || !strings.Contains(err.Error(), "storage API") {
			t.Errorf("err %v, want a storage API transport error", err)
		}
	})

	t.Run("a hung Storage is bounded by the caller's context", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		hung := storagetest.Start(t, storagetest.Options{OnSign: func(*http.Request) { <-release }})
		t.Cleanup(func() { close(release) })
		hung.PutObject("capgo", plainKey, []byte("x"))
		s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: hung.URL, APIURL: hung.URL, ServiceKey: hung.ServiceRoleKey})
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Sign(ctx, bundleurl.Request{Key: plainKey})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Sign returned after %s, want about 200ms", d)
		}
	})
}

// TestStorageAPICache checks on real HTTP that the update path asks the
// Storage API once per key, however many devices ask at once.
func TestStorageAPICache(t *testing.T) {
	t.Parallel()
	var gate sync.WaitGroup
	gate.Add(1)
	srv := newStandIn(t, storagetest.Options{OnSign: func(*http.Request) { gate.Wait() }})
	s := newStorageSigner(t, bundleurl.StorageOptions{PublicURL: srv.URL, APIURL: srv.URL, ServiceKey: srv.ServiceRoleKey})

	const devices = 100
	var wg sync.WaitGroup
	var started atomic.Int64
	urls := make([]string, devices)
	for i := range devices {
		wg.Go(func() {
			started.Add(1)
			urls[i] = sign(t, s, plainKey)
		})
	}
	for started.Load() < devices {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	gate.Done()
	wg.Wait()
	for i := range 50 {
		if u := sign(t, s, plainKey); u != urls[0] {
			t.Fatalf("call %d: %q, want the cached %q", i, u, urls[0])
		}
	}
	for i, u := range urls {
		if u != urls[0] {
			t.Fatalf("device %d got %q, want %q", i, u, urls[0])
		}
	}
	if n := srv.SignCalls(); n != 1 {
		t.Errorf("Storage API calls = %d, want 1 for %d concurrent and 50 later signs", n, devices)
	}
	if status, body, _ := get(t, urls[0], ""); status != http.StatusOK || !bytes.Equal(body, storageObjects[plainKey]) {
		t.Errorf("GET: %d %q", status, body)
	}
	sign(t, s, "orgs/o/apps/a/100%.zip")
	if n := srv.SignCalls(); n != 2 {
		t.Errorf("Storage API calls = %d after a second key, want 2", n)
	}
}

var _ bundleurl.Signer = (*bundleurl.Storage)(nil)

func ExampleNewStorage() {
	s, err := bundleurl.NewStorage(bundleurl.StorageOptions{
		PublicURL: "http://localhost:54321",                                  // what devices reach
		JWTSecret: "super-secret-jwt-token-with-at-least-32-characters-long", // supabase status: JWT_SECRET
	})
	if err != nil {
		panic(err)
	}
	u, err := s.Sign(context.Background(), bundleurl.Request{Key: "orgs/o/apps/com.demo.app/1.0.0 beta.zip"})
	if err != nil {
		panic(err)
	}
	fmt.Println(u[:strings.IndexByte(u, '?')])
	// Output: http://localhost:54321/storage/v1/object/sign/capgo/orgs/o/apps/com.demo.app/1.0.0%20beta.zip
}
