package bundleurl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Defaults used by [NewS3] for zero option values. They are Capgo's.
const (
	DefaultRegion = "us-east-1"          // S3_REGION when unset
	DefaultBucket = "capgo"              // the bucket Capgo stores bundles in
	DefaultExpiry = 604800 * time.Second // EXPIRATION_SECONDS in Capgo's downloadUrl.ts
)

// MaxExpiry is the longest lifetime SigV4 allows for a presigned URL
// (X-Amz-Expires <= 604800); S3 servers refuse longer ones.
const MaxExpiry = 7 * 24 * time.Hour

// ErrInvalidKey is returned by [S3.Sign] for an empty key or one that is not
// valid UTF-8 (S3 object keys are UTF-8).
var ErrInvalidKey = errors.New("bundleurl: invalid storage key")

const (
	unsignedPayload = "UNSIGNED-PAYLOAD"
	s3Service       = "s3"
	redacted        = "[REDACTED]"
)

// S3Options configure [NewS3]. Field names follow Capgo's S3_* environment
// variables. String, GoString and LogValue redact SecretAccessKey.
type S3Options struct {
	// Endpoint is Capgo's S3_ENDPOINT: "host[:port][/path]" without a scheme
	// (for example "localhost:54321/storage/v1/s3"), or a full http(s) URL.
	// A path is kept as a prefix before the bucket.
	//
	// Caveat: Capgo rewrites a local Supabase endpoint (localhost, 127.0.0.1
	// or kong with path /storage/v1/s3) to the host the device called, and
	// takes the scheme from X-Forwarded-Proto. This signer does not: it signs
	// for exactly this endpoint, so configure the host devices can reach.
	Endpoint string
	// UseSSL is S3_SSL: the scheme (https when true) used when Endpoint has
	// none. A scheme in Endpoint wins.
	UseSSL bool
	// Region is S3_REGION; empty means DefaultRegion. Supabase's local
	// stack uses "local".
	Region string
	// Bucket is S3_BUCKET; empty means DefaultBucket.
	Bucket          string
	AccessKeyID     string // S3_ACCESS_KEY_ID
	SecretAccessKey string // S3_SECRET_ACCESS_KEY; never printed
	// Expiry is the URL lifetime (X-Amz-Expires), in whole seconds from 1s
	// to MaxExpiry; zero means DefaultExpiry.
	Expiry time.Duration
	// Now is the signing clock; nil means time.Now. The URL is valid from
	// Now() to Now()+Expiry.
	Now func() time.Time
}

// String describes o with the secret redacted.
func (o S3Options) String() string {
	secret := ""
	if o.SecretAccessKey != "" {
		secret = redacted
	}
	return fmt.Sprintf("{Endpoint:%q UseSSL:%t Region:%q Bucket:%q AccessKeyID:%q SecretAccessKey:%q Expiry:%s}",
		o.Endpoint, o.UseSSL, o.Region, o.Bucket, o.AccessKeyID, secret, o.Expiry)
}

// GoString is String, so %#v cannot leak the secret either.
func (o S3Options) GoString() string { return "bundleurl.S3Options" + o.String() }

// LogValue implements slog.LogValuer with the secret redacted.
func (o S3Options) LogValue() slog.Value {
	secret := ""
	if o.SecretAccessKey != "" {
		secret = redacted
	}
	return slog.GroupValue(
		slog.String("endpoint", o.Endpoint),
		slog.Bool("use_ssl", o.UseSSL),
		slog.String("region", o.Region),
		slog.String("bucket", o.Bucket),
		slog.String("access_key_id", o.AccessKeyID),
		slog.String("secret_access_key", secret),
		slog.Duration("expiry", o.Expiry),
	)
}

// Validate reports every problem NewS3 would refuse in o, at once, without
// building a signer: a program checks its settings with it before it
// starts anything. Zero values take their defaults first.
func (o S3Options) Validate() error {
	_, _, _, err := o.withDefaults().validate()
	return err
}

// withDefaults fills the zero values.
func (o S3Options) withDefaults() S3Options {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Expiry == 0 {
		o.Expiry = DefaultExpiry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate checks o (with its defaults) and returns its parsed endpoint.
func (o S3Options) validate() (scheme, host, path string, err error) {
	var errs []error
	scheme, host, path, err = parseEndpoint(o.Endpoint, o.UseSSL)
	if err != nil {
		errs = append(errs, err)
	}
	if o.AccessKeyID == "" {
		errs = append(errs, errors.New("access key id is required"))
	}
	if o.SecretAccessKey == "" {
		errs = append(errs, errors.New("secret access key is required"))
	}
	if strings.ContainsAny(o.Region, "/ \t\r\n") {
		errs = append(errs, fmt.Errorf("region %q must not contain '/' or spaces", o.Region))
	}
	if strings.Contains(o.Bucket, "/") || !utf8.ValidString(o.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q must be a single path segment", o.Bucket))
	}
	switch {
	case o.Expiry < time.Second || o.Expiry > MaxExpiry:
		errs = append(errs, fmt.Errorf("expiry %s out of range: must be between 1s and %s (SigV4 limit)", o.Expiry, MaxExpiry))
	case o.Expiry%time.Second != 0:
		errs = append(errs, fmt.Errorf("expiry %s must be a whole number of seconds", o.Expiry))
	}
	if len(errs) > 0 {
		return "", "", "", fmt.Errorf("bundleurl: invalid S3 options: %w", errors.Join(errs...))
	}
	return scheme, host, path, nil
}

// S3 mints SigV4 presigned, path-style GET URLs:
//
//	<scheme>://<host><endpoint path>/<bucket>/<key>?X-Amz-Algorithm=AWS4-HMAC-SHA256
//	    &X-Amz-Credential=<id>/<yyyymmdd>/<region>/s3/aws4_request&X-Amz-Date=…
//	    &X-Amz-Expires=<seconds>&X-Amz-SignedHeaders=host&X-Amz-Signature=…
//
// The payload is UNSIGNED-PAYLOAD and the only signed header is host, so a
// device may add any header (Range, If-None-Match) to its GET. Every key
// segment is escaped the strict SigV4 way (all but A-Z a-z 0-9 - . _ ~ and
// '/'), so the path sent on the wire is exactly the signed canonical URI.
//
// Unlike Capgo's URLs, these carry no X-Amz-Content-Sha256=UNSIGNED-PAYLOAD
// or x-id=PutObject query parameters: S3 servers assume an unsigned payload
// for presigned GETs, and the x-id value was a Capgo quirk.
//
// An S3 is safe for concurrent use; Sign makes no network call.
type S3 struct {
	signer *v4.Signer
	creds  aws.Credentials
	region string
	scheme string
	host   string // host[:port], default port removed
	prefix string // "//" + host + escaped endpoint path + "/" + escaped bucket + "/"
	query  string // "X-Amz-Expires=<seconds>"
	expiry time.Duration
	bucket string
	base   string // scheme://host/escaped-endpoint-path, for String
	now    func() time.Time
}

var _ Signer = (*S3)(nil)

// NewS3 validates o, fills its defaults and returns a ready signer. Every
// problem in o is reported at once (errors.Join), as [S3Options.Validate]
// reports it.
func NewS3(o S3Options) (*S3, error) {
	o = o.withDefaults()
	scheme, host, path, err := o.validate()
	if err != nil {
		return nil, err
	}

	prefix := make([]byte, 0, 2+len(host)+len(path)+len(o.Bucket)+2)
	prefix = append(prefix, "//"...)
	prefix = append(prefix, host...)
	prefix = appendEscapedPath(prefix, path)
	prefix = append(prefix, '/')
	prefix = appendEscapedPath(prefix, o.Bucket)
	prefix = append(prefix, '/')

	return &S3{
		// S3 does not double-escape the canonical URI: the path is escaped
		// once, here, and signed as sent.
		signer: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
		creds: aws.Credentials{
			AccessKeyID:     o.AccessKeyID,
			SecretAccessKey: o.SecretAccessKey,
			Source:          "bundleurl",
		},
		region: o.Region,
		scheme: scheme,
		host:   host,
		prefix: string(prefix),
		query:  "X-Amz-Expires=" + strconv.FormatInt(int64(o.Expiry/time.Second), 10),
		expiry: o.Expiry,
		bucket: o.Bucket,
		base:   scheme + "://" + string(appendEscapedPath([]byte(host), path)),
		now:    o.Now,
	}, nil
}

// parseEndpoint splits Capgo's S3_ENDPOINT into scheme, host (without a
// default port, which clients drop from the Host header) and the decoded
// path prefix without a trailing slash.
func parseEndpoint(endpoint string, useSSL bool) (scheme, host, path string, err error) {
	if endpoint == "" {
		return "", "", "", errors.New("endpoint is required")
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		scheme := "http"
		if useSSL {
			scheme = "https"
		}
		raw = scheme + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", "", fmt.Errorf("endpoint %q: scheme must be http or https", endpoint)
	case u.Host == "" || u.Hostname() == "":
		return "", "", "", fmt.Errorf("endpoint %q: missing host", endpoint)
	case u.User != nil:
		return "", "", "", fmt.Errorf("endpoint %q: must not contain credentials", endpoint)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "", "", fmt.Errorf("endpoint %q: must not have a query or fragment", endpoint)
	}
	host = u.Host
	if u.Scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	} else {
		host = strings.TrimSuffix(host, ":443")
	}
	return u.Scheme, host, strings.TrimRight(u.Path, "/"), nil
}

// Sign returns a presigned GET URL for req.Key, valid from s.Now() for the
// configured expiry. ctx is not used: signing makes no network call; nor
// is req.PublicBase: the URL points at the endpoint.
func (s *S3) Sign(ctx context.Context, req Request) (string, error) {
	return s.Presign(ctx, http.MethodGet, req.Key)
}

// Presign returns a presigned URL for method (GET, PUT, DELETE, …) on key,
// signed like Sign's: UNSIGNED-PAYLOAD, only host signed. It is how a tool
// writes a bundle to the bucket (capgo-functions admin bundle upload)
// with the same settings the server links it with.
func (s *S3) Presign(ctx context.Context, method, key string) (string, error) {
	if key == "" || !utf8.ValidString(key) {
		return "", fmt.Errorf("%w %q", ErrInvalidKey, key)
	}
	var b strings.Builder
	b.Grow(len(s.prefix) + escapedLen(key))
	b.WriteString(s.prefix)
	writeEscapedPath(&b, key)

	// URL.Opaque ("//host/escaped/path") makes both the signer and
	// URL.String use the path exactly as escaped above.
	u := url.URL{Scheme: s.scheme, Host: s.host, Opaque: b.String(), RawQuery: s.query}
	r := http.Request{Method: method, URL: &u, Host: s.host}
	signed, _, err := s.signer.PresignHTTP(ctx, s.creds, &r, unsignedPayload, s3Service, s.region, s.now())
	if err != nil {
		return "", fmt.Errorf("bundleurl: presign %q: %w", key, err)
	}
	return signed, nil
}

// String describes s without its secret.
func (s *S3) String() string {
	return fmt.Sprintf("bundleurl.S3{endpoint=%s bucket=%q region=%q access_key_id=%q expiry=%s}",
		s.base, s.bucket, s.region, s.creds.AccessKeyID, s.expiry)
}

// GoString is String, so %#v cannot leak the secret either.
func (s *S3) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without the secret.
func (s *S3) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", s.base),
		slog.String("bucket", s.bucket),
		slog.String("region", s.region),
		slog.String("access_key_id", s.creds.AccessKeyID),
		slog.Duration("expiry", s.expiry),
	)
}

// unreserved reports the bytes SigV4 leaves as-is in a URI (RFC 3986
// unreserved); '/' is kept too, as a separator between key segments.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}

const upperHex = "0123456789ABCDEF"

// escapedLen is the length of p after writeEscapedPath.
func escapedLen(p string) int {
	n := len(p)
	for i := 0; i < len(p); i++ {
		if !unreserved(p[i]) {
			n += 2
		}
	}
	return n
}

// writeEscapedPath writes p URI-encoded the SigV4 way: each byte outside
// the unreserved set becomes %XX (uppercase hex, UTF-8 bytes for non-ASCII),
// so a space is %20 and '+' is %2B.
func writeEscapedPath(b *strings.Builder, p string) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
}

// appendEscapedPath is writeEscapedPath for byte slices.
func appendEscapedPath(dst []byte, p string) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&0x0f])
	}
	return dst
}
