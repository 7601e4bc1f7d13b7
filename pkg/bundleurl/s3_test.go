package bundleurl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testAccessKey = "AKIDEXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tricky        = "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0 beta+1.zip"
)

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestS3(t testing.TB, o S3Options) *S3 {
	t.Helper()
	if o.AccessKeyID == "" {
		o.AccessKeyID = testAccessKey
	}
	if o.SecretAccessKey == "" {
		o.SecretAccessKey = testSecret
	}
	if o.Now == nil {
		o.Now = func() time.Time { return fixedNow }
	}
	s, err := NewS3(o)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

func mustSign(t *testing.T, s *S3, key string) string {
	t.Helper()
	u, err := s.Sign(context.Background(), Request{Key: key})
	if err != nil {
		t.Fatalf("Sign(%q): %v", key, err)
	}
	return u
}

// splitURL cuts a signed URL into the scheme://host part, the path exactly
// as written, and the parsed query.
func splitURL(t *testing.T, raw string) (origin, rawPath string, q url.Values) {
	t.Helper()
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		t.Fatalf("no scheme in %q", raw)
	}
	hostPath, rawQuery, _ := strings.Cut(rest, "?")
	i := strings.IndexByte(hostPath, '/')
	if i < 0 {
		t.Fatalf("no path in %q", raw)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("query of %q: %v", raw, err)
	}
	return scheme + "://" + hostPath[:i], hostPath[i:], q
}

func TestSignURLShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       S3Options
		wantOrigin string
		wantPath   string // before the key
		wantRegion string
	}{
		{
			name:       "capgo local endpoint without scheme, S3_SSL=false",
			opts:       S3Options{Endpoint: "localhost:54321/storage/v1/s3", Region: "local"},
			wantOrigin: "http://localhost:54321",
			wantPath:   "/storage/v1/s3/capgo/",
			wantRegion: "local",
		},
		{
			name:       "no scheme with S3_SSL=true uses https",
			opts:       S3Options{Endpoint: "project.supabase.co/storage/v1/s3/", UseSSL: true},
			wantOrigin: "https://project.supabase.co",
			wantPath:   "/storage/v1/s3/capgo/",
			wantRegion: "us-east-1",
		},
		{
			name:       "scheme in endpoint wins over UseSSL",
			opts:       S3Options{Endpoint: "https://acct.r2.cloudflarestorage.com", Region: "auto", Bucket: "bundles"},
			wantOrigin: "https://acct.r2.cloudflarestorage.com",
			wantPath:   "/bundles/",
			wantRegion: "auto",
		},
		{
			name:       "http endpoint with UseSSL stays http",
			opts:       S3Options{Endpoint: "http://127.0.0.1:9000/", UseSSL: true},
			wantOrigin: "http://127.0.0.1:9000",
			wantPath:   "/capgo/",
			wantRegion: "us-east-1",
		},
		{
			name:       "default https port dropped",
			opts:       S3Options{Endpoint: "https://s3.eu-west-3.amazonaws.com:443", Region: "eu-west-3"},
			wantOrigin: "https://s3.eu-west-3.amazonaws.com",
			wantPath:   "/capgo/",
			wantRegion: "eu-west-3",
		},
		{
			name:       "default http port dropped, ipv6 host kept bracketed",
			opts:       S3Options{Endpoint: "[::1]:80/s3"},
			wantOrigin: "http://[::1]",
			wantPath:   "/s3/capgo/",
			wantRegion: "us-east-1",
		},
		{
			name:       "endpoint path segments escaped like keys",
			opts:       S3Options{Endpoint: "http://gw.local/my s3"},
			wantOrigin: "http://gw.local",
			wantPath:   "/my%20s3/capgo/",
			wantRegion: "us-east-1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestS3(t, tc.opts)
			raw := mustSign(t, s, "orgs/o/apps/a/1.0.0.zip")
			origin, path, q := splitURL(t, raw)
			if origin != tc.wantOrigin {
				t.Errorf("origin = %q, want %q", origin, tc.wantOrigin)
			}
			if want := tc.wantPath + "orgs/o/apps/a/1.0.0.zip"; path != want {
				t.Errorf("path = %q, want %q", path, want)
			}
			sig := q.Get("X-Amz-Signature")
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sig) {
				t.Errorf("X-Amz-Signature = %q, want 64 hex digits", sig)
			}
			q.Del("X-Amz-Signature")
			want := url.Values{
				"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
				"X-Amz-Credential":    {testAccessKey + "/20260102/" + tc.wantRegion + "/s3/aws4_request"},
				"X-Amz-Date":          {"20260102T030405Z"},
				"X-Amz-Expires":       {"604800"},
				"X-Amz-SignedHeaders": {"host"},
			}
			if diff := cmp.Diff(want, q); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if err := checkSignature(raw, testSecret); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSignKeyEscaping(t *testing.T) {
	t.Parallel()
	s := newTestS3(t, S3Options{Endpoint: "localhost:54321/storage/v1/s3"})
	tests := []struct{ key, want string }{
		{"orgs/o/apps/com.demo.app/1.0.0.zip", "orgs/o/apps/com.demo.app/1.0.0.zip"},
		{tricky, "orgs/046a36ac-e03c-4590-9257-bd6c9dba9ee8/apps/com.demo.app/1.0.0%20beta%2B1.zip"},
		{"a/ünïcødé/日本.zip", "a/%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%97%A5%E6%9C%AC.zip"},
		{"unreserved-._~/AZaz09", "unreserved-._~/AZaz09"},
		{"sub-delims!$&'()*,;=:@", "sub-delims%21%24%26%27%28%29%2A%2C%3B%3D%3A%40"},
		{"query?and#fragment", "query%3Fand%23fragment"},
		{"already%20escaped", "already%2520escaped"},
		{"delta/abc_path%2Fwith%2Fslashes.js.br", "delta/abc_path%252Fwith%252Fslashes.js.br"},
		{"/leading//double/", "/leading//double/"},
		{"tab\tnewline\n", "tab%09newline%0A"},
	}
	for _, tc := range tests {
		raw := mustSign(t, s, tc.key)
		_, path, _ := splitURL(t, raw)
		if want := "/storage/v1/s3/capgo/" + tc.want; path != want {
			t.Errorf("key %q: path = %q, want %q", tc.key, path, want)
		}
		// A client decodes the path back to exactly the key ...
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("key %q: url.Parse: %v", tc.key, err)
			continue
		}
		if got := strings.TrimPrefix(u.Path, "/storage/v1/s3/capgo/"); got != tc.key {
			t.Errorf("key %q: decodes to %q", tc.key, got)
		}
		// ... and the signature covers the path as sent.
		if err := checkSignature(raw, testSecret); err != nil {
			t.Errorf("key %q: %v", tc.key, err)
		}
	}
}

func TestSignInvalidKey(t *testing.T) {
	t.Parallel()
	s := newTestS3(t, S3Options{Endpoint: "localhost:9000"})
	for _, key := range []string{"", "bad\xffutf8"} {
		if _, err := s.Sign(context.Background(), Request{Key: key}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Sign(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestSignExpiryAndClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 12, 31, 23, 59, 59, 0, time.FixedZone("X", 5*3600))
	s := newTestS3(t, S3Options{Endpoint: "localhost:9000", Expiry: 90 * time.Second, Now: func() time.Time { return now }})
	_, _, q := splitURL(t, mustSign(t, s, "k"))
	if got := q.Get("X-Amz-Expires"); got != "90" {
		t.Errorf("X-Amz-Expires = %q, want 90", got)
	}
	if got := q.Get("X-Amz-Date"); got != "20301231T185959Z" {
		t.Errorf("X-Amz-Date = %q, want the clock in UTC 20301231T185959Z", got)
	}
	if got := q.Get("X-Amz-Credential"); !strings.Contains(got, "/20301231/") {
		t.Errorf("X-Amz-Credential = %q, want the UTC date in its scope", got)
	}

	max := newTestS3(t, S3Options{Endpoint: "localhost:9000", Expiry: MaxExpiry})
	_, _, q = splitURL(t, mustSign(t, max, "k"))
	if got := q.Get("X-Amz-Expires"); got != "604800" {
		t.Errorf("MaxExpiry: X-Amz-Expires = %q, want 604800", got)
	}
}

func TestSignDeterministicAndConcurrent(t *testing.T) {
	t.Parallel()
	s := newTestS3(t, S3Options{Endpoint: "localhost:9000"})
	want := mustSign(t, s, tricky)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, err := s.Sign(context.Background(), Request{Key: tricky})
				if err != nil || got != want {
					t.Errorf("concurrent Sign = %q, %v; want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewS3Validation(t *testing.T) {
	t.Parallel()
	ok := S3Options{Endpoint: "localhost:54321/storage/v1/s3", AccessKeyID: "id", SecretAccessKey: "secret"}
	tests := []struct {
		name  string
		edit  func(*S3Options)
		wants []string // every substring must appear in the error
	}{
		{"everything missing reported at once", func(o *S3Options) { *o = S3Options{} },
			[]string{"endpoint is required", "access key id is required", "secret access key is required"}},
		{"bad scheme", func(o *S3Options) { o.Endpoint = "ftp://host" }, []string{"scheme must be http or https"}},
		{"no host", func(o *S3Options) { o.Endpoint = "http:///path" }, []string{"missing host"}},
		{"unparsable", func(o *S3Options) { o.Endpoint = "http://host:port/" }, []string{`endpoint "http://host:port/"`}},
		{"credentials in endpoint", func(o *S3Options) { o.Endpoint = "http://u:p@host" }, []string{"must not contain credentials"}},
		{"query in endpoint", func(o *S3Options) { o.Endpoint = "host/s3?x=1" }, []string{"must not have a query"}},
		{"bucket with slash", func(o *S3Options) { o.Bucket = "a/b" }, []string{`bucket "a/b"`}},
		{"region with slash", func(o *S3Options) { o.Region = "us/east" }, []string{`region "us/east"`}},
		{"expiry above 7 days", func(o *S3Options) { o.Expiry = MaxExpiry + time.Second }, []string{"expiry 168h0m1s out of range"}},
		{"negative expiry", func(o *S3Options) { o.Expiry = -time.Second }, []string{"out of range"}},
		{"sub-second expiry", func(o *S3Options) { o.Expiry = 500 * time.Millisecond }, []string{"out of range"}},
		{"fractional expiry", func(o *S3Options) { o.Expiry = 1500 * time.Millisecond }, []string{"whole number of seconds"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tc.edit(&o)
			s, err := NewS3(o)
			if err == nil {
				t.Fatalf("NewS3 = %v, want an error", s)
			}
			// Validate reports what NewS3 refuses, word for word.
			if verr := o.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate = %v, want NewS3's %v", verr, err)
			}
			if !strings.HasPrefix(err.Error(), "bundleurl: invalid S3 options: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := NewS3(ok); err != nil {
		t.Errorf("NewS3(valid) = %v", err)
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	o := S3Options{Endpoint: "localhost:9000", AccessKeyID: "visible-id", SecretAccessKey: "TOP-SECRET-VALUE"}
	s, err := NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("opts", "opts", o, "signer", s)
	log.Info("text", slog.Any("opts", o))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("opts", "opts", o, "signer", s)
	for _, out := range []string{
		fmt.Sprint(o), fmt.Sprintf("%v %+v %#v %s", o, o, o, o), fmt.Sprintf("%v %+v %#v %s", &o, &o, &o, &o),
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logs.String(),
	} {
		if strings.Contains(out, "TOP-SECRET-VALUE") {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "visible-id") {
			t.Errorf("output lacks the access key id: %s", out)
		}
	}
}

// checkSignature recomputes the SigV4 query signature of a presigned GET
// from the URL alone, with code independent of the aws signer: the path as
// written is the canonical URI, the query is re-encoded and sorted, and
// host is the only signed header.
func checkSignature(rawURL, secret string) error {
	_, rest, _ := strings.Cut(rawURL, "://")
	hostPath, rawQuery, _ := strings.Cut(rest, "?")
	i := strings.IndexByte(hostPath, '/')
	host, path := hostPath[:i], hostPath[i:]
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	got := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")

	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, strictEscape(k)+"="+strictEscape(v))
		}
	}
	sort.Strings(pairs)
	canonical := strings.Join([]string{"GET", path, strings.Join(pairs, "&"), "host:" + host + "\n", "host", "UNSIGNED-PAYLOAD"}, "\n")

	cred := strings.Split(q.Get("X-Amz-Credential"), "/") // id/date/region/service/aws4_request
	scope := strings.Join(cred[1:], "/")
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + q.Get("X-Amz-Date") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])

	key := []byte("AWS4" + secret)
	for _, part := range cred[1:] {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(hmacSHA256(key, toSign)); got != want {
		return fmt.Errorf("signature %s, want %s for canonical request:\n%s", got, want, canonical)
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// strictEscape is RFC 3986 escaping of everything but unreserved bytes.
func strictEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func BenchmarkSign(b *testing.B) {
	s := newTestS3(b, S3Options{Endpoint: "localhost:54321/storage/v1/s3", Region: "local"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, Request{Key: tricky}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignParallel(b *testing.B) {
	s := newTestS3(b, S3Options{Endpoint: "localhost:54321/storage/v1/s3", Region: "local"})
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
