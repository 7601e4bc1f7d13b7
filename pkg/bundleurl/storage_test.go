package bundleurl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testJWTSecret = "super-secret-jwt-token-with-at-least-32-characters-long"

func newTestStorage(t *testing.T, o StorageOptions) *Storage {
	t.Helper()
	if o.JWTSecret == "" && o.ServiceKey == "" {
		o.JWTSecret = testJWTSecret
	}
	if o.Now == nil {
		o.Now = func() time.Time { return fixedNow }
	}
	s, err := NewStorage(o)
	if err != nil {
		t.Fatalf("NewStorage: %v", err)
	}
	return s
}

// verifyHS256 checks a compact JWT the way a verifier does: the header,
// the HMAC-SHA256 over "<header>.<payload>" with secret as raw bytes, and
// returns the decoded claims.
func verifyHS256(t *testing.T, secret, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: want 3 parts, got %d", tok, len(parts))
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatalf("header %s: %v", hdr, err)
	}
	if d := cmp.Diff(map[string]any{"alg": "HS256", "typ": "JWT"}, h); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if parts[2] != want {
		t.Errorf("signature %s, want %s", parts[2], want)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	return claims
}

func TestStorageOfflineToken(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t, StorageOptions{PublicURL: "http://127.0.0.1:54321/", Expiry: time.Hour})
	u, err := s.Sign(context.Background(), Request{Key: tricky})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "http://127.0.0.1:54321/storage/v1/object/sign/capgo/orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0%20beta%2B1.zip?token="
	tok, ok := strings.CutPrefix(u, prefix)
	if !ok {
		t.Fatalf("URL %q\nwant prefix %q", u, prefix)
	}
	claims := verifyHS256(t, testJWTSecret, tok)
	want := map[string]any{
		"url":   "capgo/" + tricky, // the decoded path: Storage compares it to the decoded route param
		"iat":   float64(fixedNow.Unix()),
		"exp":   float64(fixedNow.Add(time.Hour).Unix()),
		"scope": "download",
	}
	if d := cmp.Diff(want, claims); d != "" {
		t.Errorf("claims (-want +got):\n%s", d)
	}
	if s.Mode() != "offline" {
		t.Errorf("Mode = %q, want offline", s.Mode())
	}

	t.Run("a wrong secret does not verify", func(t *testing.T) {
		t.Parallel()
		parts := strings.Split(tok, ".")
		mac := hmac.New(sha256.New, []byte(testJWTSecret+"x"))
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) == parts[2] {
			t.Error("signature verifies with another secret")
		}
	})
}

func TestStoragePathEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, publicURL, bucket, key, wantPath string
	}{
		{"plain key", "https://api.example.com", "", "orgs/o/apps/a/1.0.0.zip",
			"https://api.example.com/storage/v1/object/sign/capgo/orgs/o/apps/a/1.0.0.zip"},
		{"space and plus", "https://api.example.com", "", "a/1.0.0 beta+1.zip",
			"https://api.example.com/storage/v1/object/sign/capgo/a/1.0.0%20beta%2B1.zip"},
		{"reserved and non-ASCII bytes, '/' kept between segments", "https://api.example.com", "", "ünï (1)&x=y;z@~!'*?#%.zip",
			"https://api.example.com/storage/v1/object/sign/capgo/%C3%BCn%C3%AF%20%281%29%26x%3Dy%3Bz%40~%21%27%2A%3F%23%25.zip"},
		{"base with a path prefix and trailing slash", "https://gw.example.com/supabase/", "bundles", "k.zip",
			"https://gw.example.com/supabase/storage/v1/object/sign/bundles/k.zip"},
		{"bucket escaped too", "http://h", "my bucket", "k.zip",
			"http://h/storage/v1/object/sign/my%20bucket/k.zip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestStorage(t, StorageOptions{PublicURL: tc.publicURL, Bucket: tc.bucket})
			u, err := s.Sign(context.Background(), Request{Key: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			path, tok, ok := strings.Cut(u, "?token=")
			if !ok || path != tc.wantPath {
				t.Errorf("URL %q\nwant %q?token=…", u, tc.wantPath)
			}
			bucket := tc.bucket
			if bucket == "" {
				bucket = DefaultBucket
			}
			if got := verifyHS256(t, testJWTSecret, tok)["url"]; got != bucket+"/"+tc.key {
				t.Errorf("url claim %q, want %q", got, bucket+"/"+tc.key)
			}
		})
	}
}

func TestStoragePublicBase(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t, StorageOptions{})
	const base = "https://devices.example.com/"
	u, err := s.Sign(context.Background(), Request{Key: "k.zip", PublicBase: base})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://devices.example.com/storage/v1/object/sign/capgo/k.zip?token="; !strings.HasPrefix(u, want) {
		t.Errorf("URL %q, want prefix %q", u, want)
	}
	if _, err := s.Sign(context.Background(), Request{Key: "k.zip"}); !errors.Is(err, ErrNoPublicBase) {
		t.Errorf("no base: err %v, want ErrNoPublicBase", err)
	}
	configured := newTestStorage(t, StorageOptions{PublicURL: "http://configured"})
	if u, _ := configured.Sign(context.Background(), Request{Key: "k.zip", PublicBase: base}); !strings.HasPrefix(u, "http://configured/storage/") {
		t.Errorf("configured base must win over the request's: %q", u)
	}
	for _, key := range []string{"", "\xff.zip"} {
		if _, err := s.Sign(context.Background(), Request{Key: key, PublicBase: base}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("key %q: err %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestNewStorageValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    StorageOptions
		want []string // substrings of the error; none means valid
	}{
		{"offline minimal", StorageOptions{JWTSecret: "s"}, nil},
		{"api minimal", StorageOptions{ServiceKey: "k", APIURL: "http://127.0.0.1:54331"}, nil},
		{"nothing to sign with", StorageOptions{}, []string{"a JWT secret (offline signing) or a service key (Storage API) is required", "API URL"}},
		{"api without URL", StorageOptions{ServiceKey: "k"}, []string{"API URL (needed without a JWT secret): empty"}},
		{"api URL without scheme", StorageOptions{ServiceKey: "k", APIURL: "127.0.0.1:54331"}, []string{"scheme must be http or https"}},
		{"bad public URL", StorageOptions{JWTSecret: "s", PublicURL: "ftp://x"}, []string{"public URL", "scheme must be http or https"}},
		{"public URL with query", StorageOptions{JWTSecret: "s", PublicURL: "http://x/?a=b"}, []string{"must not have a query"}},
		{"bucket with slash", StorageOptions{JWTSecret: "s", Bucket: "a/b"}, []string{`bucket "a/b" must be a single path segment`}},
		{"expiry too short", StorageOptions{JWTSecret: "s", Expiry: time.Second}, []string{"too short"}},
		{"expiry above 7 days", StorageOptions{JWTSecret: "s", Expiry: MaxExpiry + time.Second}, []string{"expiry 168h0m1s too long"}},
		{"7 days", StorageOptions{JWTSecret: "s", Expiry: MaxExpiry}, nil},
		{"fractional expiry", StorageOptions{JWTSecret: "s", Expiry: 1500 * time.Millisecond * 3}, []string{"whole number of seconds"}},
		{"negative cache", StorageOptions{JWTSecret: "s", CacheSize: -1}, []string{"cache size -1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewStorage(tc.o)
			// Validate reports what NewStorage refuses, word for word.
			if verr := tc.o.Validate(); fmt.Sprint(verr) != fmt.Sprint(err) {
				t.Errorf("Validate = %v, want NewStorage's %v", verr, err)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStorageSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret, key = "jwt-secret-value-0123456789abcdef", "sb_secret_service-key-value"
	o := StorageOptions{JWTSecret: secret, ServiceKey: key, APIURL: "http://kong"}
	s, err := NewStorage(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "opts", o, "signer", s)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", o, o, o, o, s, s, s) + buf.String()
	for _, v := range []string{secret, key} {
		if strings.Contains(out, v) {
			t.Errorf("output leaks %q:\n%s", v, out)
		}
	}
	if !strings.Contains(out, redacted) {
		t.Errorf("output should show %s:\n%s", redacted, out)
	}
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// countingMint mints numbered tokens valid for life from the clock's now.
type countingMint struct {
	clock *fakeClock
	life  time.Duration
	calls atomic.Int64
	gate  chan struct{} // when not nil, each mint waits for it to close
	fail  atomic.Bool
}

func (m *countingMint) mint(ctx context.Context, key string) (token, error) {
	n := m.calls.Add(1)
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return token{}, ctx.Err()
		}
	}
	if m.fail.Load() {
		return token{}, fmt.Errorf("mint %d failed", n)
	}
	now := m.clock.now()
	return token{value: fmt.Sprintf("%s#%d", key, n), iat: now, exp: now.Add(m.life)}, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestURLCache(t *testing.T) {
	t.Parallel()
	discard := slog.New(slog.DiscardHandler)
	get := func(t *testing.T, c *urlCache, m *countingMint, key string) string {
		t.Helper()
		v, err := c.get(context.Background(), key, m.mint)
		if err != nil {
			t.Fatalf("get %q: %v", key, err)
		}
		return v
	}

	// fixture is a cache of size entries on a fresh clock at fixedNow and a
	// mint of 100 s tokens on that clock; a gated mint waits for m.gate.
	fixture := func(size int, gated bool) (*fakeClock, *countingMint, *urlCache) {
		clock := newFakeClock(fixedNow)
		m := &countingMint{clock: clock, life: 100 * time.Second}
		if gated {
			m.gate = make(chan struct{})
		}
		return clock, m, newURLCache(size, clock.now, discard)
	}

	t.Run("same key mints once, another key mints again", func(t *testing.T) {
		t.Parallel()
		_, m, c := fixture(10, false)
		for range 5 {
			if got := get(t, c, m, "a"); got != "a#1" {
				t.Fatalf("got %q, want a#1", got)
			}
		}
		if got := get(t, c, m, "b"); got != "b#2" {
			t.Errorf("got %q, want b#2", got)
		}
		if n := m.calls.Load(); n != 2 {
			t.Errorf("mints = %d, want 2", n)
		}
		if h, mi := c.hits.Load(), c.misses.Load(); h != 4 || mi != 2 {
			t.Errorf("hits %d misses %d, want 4 and 2 (the metrics)", h, mi)
		}
	})

	t.Run("renewed in the background past half-life, synchronously past three quarters", func(t *testing.T) {
		t.Parallel()
		clock, m, c := fixture(10, false)
		get(t, c, m, "k")
		clock.advance(49 * time.Second)
		if got := get(t, c, m, "k"); got != "k#1" || m.calls.Load() != 1 {
			t.Fatalf("fresh: got %q after %d mints, want k#1 after 1", got, m.calls.Load())
		}
		clock.advance(2 * time.Second) // 51 s: stale
		if got := get(t, c, m, "k"); got != "k#1" {
			t.Fatalf("stale: got %q, want the old k#1 while renewing", got)
		}
		waitFor(t, "background renewal", func() bool { return get(t, c, m, "k") == "k#2" })
		if n := m.calls.Load(); n != 2 {
			t.Errorf("mints = %d, want 2 (one renewal however many calls)", n)
		}
		// k#2 was minted at 51 s; at 51+76 s less than a quarter is left.
		clock.advance(76 * time.Second)
		if got := get(t, c, m, "k"); got != "k#3" {
			t.Errorf("nearly expired: got %q, want a fresh k#3", got)
		}
	})

	t.Run("a failed renewal keeps serving the old token", func(t *testing.T) {
		t.Parallel()
		clock, m, c := fixture(10, false)
		get(t, c, m, "k")
		m.fail.Store(true)
		clock.advance(60 * time.Second)
		get(t, c, m, "k")
		waitFor(t, "the renewal attempt", func() bool { return m.calls.Load() == 2 })
		for range 10 {
			if got := get(t, c, m, "k"); got != "k#1" {
				t.Fatalf("got %q, want k#1", got)
			}
		}
		if n := m.calls.Load(); n != 2 {
			t.Errorf("mints = %d, want 2: a failing renewal is not retried at once", n)
		}
	})

	t.Run("errors are remembered for a few seconds", func(t *testing.T) {
		t.Parallel()
		clock, m, c := fixture(10, false)
		m.fail.Store(true)
		for range 3 {
			if _, err := c.get(context.Background(), "k", m.mint); err == nil || err.Error() != "mint 1 failed" {
				t.Fatalf("err %v, want mint 1 failed", err)
			}
		}
		clock.advance(errorTTL)
		m.fail.Store(false)
		if got := get(t, c, m, "k"); got != "k#2" {
			t.Errorf("after errorTTL: got %q, want k#2", got)
		}
		// A remembered failure is answered from memory: a hit.
		if h, mi := c.hits.Load(), c.misses.Load(); h != 2 || mi != 2 {
			t.Errorf("hits %d misses %d, want 2 and 2 (the metrics)", h, mi)
		}
	})

	t.Run("a burst shares one mint", func(t *testing.T) {
		t.Parallel()
		_, m, c := fixture(10, true)
		const n = 200
		var wg sync.WaitGroup
		var started atomic.Int64
		got := make([]string, n)
		for i := range n {
			wg.Go(func() {
				started.Add(1)
				got[i] = get(t, c, m, "k")
			})
		}
		waitFor(t, "all callers", func() bool { return started.Load() == n })
		time.Sleep(10 * time.Millisecond)
		close(m.gate)
		wg.Wait()
		for i, v := range got {
			if v != "k#1" {
				t.Fatalf("caller %d got %q, want k#1", i, v)
			}
		}
		if calls := m.calls.Load(); calls != 1 {
			t.Errorf("mints = %d, want 1", calls)
		}
	})

	t.Run("a cancelled caller does not cancel the mint others wait on", func(t *testing.T) {
		t.Parallel()
		_, m, c := fixture(10, true)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			_, err := c.get(ctx, "k", m.mint)
			errc <- err
		}()
		waitFor(t, "the mint to start", func() bool { return m.calls.Load() == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: err %v, want context.Canceled", err)
		}
		close(m.gate)
		if got := get(t, c, m, "k"); got != "k#1" || m.calls.Load() != 1 {
			t.Errorf("got %q after %d mints, want k#1 after 1", got, m.calls.Load())
		}
	})

	t.Run("size is bounded", func(t *testing.T) {
		t.Parallel()
		_, m, c := fixture(3, false)
		for i := range 50 {
			key := fmt.Sprint("k", i)
			if got, want := get(t, c, m, key), fmt.Sprintf("%s#%d", key, i+1); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if n := c.len(); n > 3 {
				t.Fatalf("after %d keys the cache holds %d, want at most 3", i+1, n)
			}
		}
	})
}

func TestStorageCachesOfflineTokens(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(fixedNow)
	s := newTestStorage(t, StorageOptions{PublicURL: "http://h", Expiry: 100 * time.Second, Now: clock.now})
	first, _ := s.Sign(context.Background(), Request{Key: "k.zip"})
	clock.advance(10 * time.Second)
	if again, _ := s.Sign(context.Background(), Request{Key: "k.zip"}); again != first {
		t.Errorf("within half-life the same URL is served (CDN-friendly): %q then %q", first, again)
	}
	clock.advance(80 * time.Second)
	later, _ := s.Sign(context.Background(), Request{Key: "k.zip"})
	if later == first {
		t.Errorf("with under a quarter of the lifetime left a new URL is minted")
	}
	_, tok, _ := strings.Cut(later, "?token=")
	if iat := verifyHS256(t, testJWTSecret, tok)["iat"]; iat != float64(fixedNow.Add(90*time.Second).Unix()) {
		t.Errorf("iat %v, want the clock's", iat)
	}
}

func BenchmarkStorageSign(b *testing.B) {
	for _, mode := range []string{"cached", "uncached"} {
		b.Run(mode, func(b *testing.B) {
			s, err := NewStorage(StorageOptions{PublicURL: "http://127.0.0.1:54321", JWTSecret: testJWTSecret})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			keys := []string{tricky}
			if mode == "uncached" {
				// More keys than the cache holds: every call mints.
				s.cache = newURLCache(1, time.Now, slog.New(slog.DiscardHandler))
				keys = append(keys, tricky+"2")
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Sign(ctx, Request{Key: keys[i%len(keys)]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStorageSignParallel(b *testing.B) {
	s, err := NewStorage(StorageOptions{PublicURL: "http://127.0.0.1:54321", JWTSecret: testJWTSecret})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(ctx, Request{Key: tricky}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestEncodeURI: the API path escapes keys as JavaScript's encodeURI (the
// expected values were printed by node), so Storage's decodeURI gives the
// key back.
func TestEncodeURI(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]string{
		{"orgs/o/apps/com.demo.app/1.0.0 beta+1.zip", "orgs/o/apps/com.demo.app/1.0.0%20beta+1.zip"},
		{"ünï (1)&x=y;z@~!'*.zip", "%C3%BCn%C3%AF%20(1)&x=y;z@~!'*.zip"},
		{"100%.zip", "100%25.zip"},
		{"a\"<>\\^`{|}.zip", "a%22%3C%3E%5C%5E%60%7B%7C%7D.zip"},
		{"日本/語.zip", "%E6%97%A5%E6%9C%AC/%E8%AA%9E.zip"},
	} {
		if got := string(appendEncodeURI(nil, tc[0])); got != tc[1] {
			t.Errorf("encodeURI(%q) = %q, want %q", tc[0], got, tc[1])
		}
	}
}
