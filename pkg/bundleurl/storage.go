package bundleurl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultCacheSize is the number of bundle keys a [Storage] signer keeps
// signed URLs for when StorageOptions.CacheSize is zero. An app has one
// live bundle per channel, so this covers thousands of apps.
const DefaultCacheSize = 10000

// ErrNoPublicBase is returned by [Storage.Sign] when no public base URL is
// configured and the request carries none ([Request].PublicBase).
var ErrNoPublicBase = errors.New("bundleurl: no public base URL for the storage link")

// StorageOptions configure [NewStorage]. String, GoString and LogValue
// redact JWTSecret and ServiceKey.
type StorageOptions struct {
	// PublicURL is the base devices reach Supabase at, scheme://host[:port]
	// with an optional path prefix; links are
	// <PublicURL>/storage/v1/object/sign/<bucket>/<key>?token=…. Empty means
	// the base of each request, [Request].PublicBase (in front of Supabase,
	// that is this server, which proxies /storage/v1).
	PublicURL string
	// Bucket is S3_BUCKET; empty means DefaultBucket.
	Bucket string
	// JWTSecret is the project JWT secret (SUPABASE_JWT_SECRET). When set,
	// tokens are minted offline: no network call, no existence check.
	JWTSecret string
	// APIURL and ServiceKey are used when JWTSecret is empty: each token is
	// asked of the Storage API at <APIURL>/storage/v1/object/sign/… with the
	// service role (or sb_secret_) key.
	APIURL     string
	ServiceKey string
	// Client makes the Storage API calls; nil means a client with a 10 s
	// timeout and its own connection pool.
	Client *http.Client
	// Expiry is the token lifetime, in whole seconds from 2s to MaxExpiry
	// (S3's limit, so either signer takes the same lifetime); zero means
	// DefaultExpiry.
	Expiry time.Duration
	// CacheSize bounds the number of keys whose URL is kept; zero means
	// DefaultCacheSize.
	CacheSize int
	// Now is the clock for offline tokens and the cache; nil means time.Now.
	Now func() time.Time
	// Log receives background refresh failures; nil means slog.Default().
	Log *slog.Logger
}

func (o StorageOptions) redacted() (secret, key string) {
	if o.JWTSecret != "" {
		secret = redacted
	}
	if o.ServiceKey != "" {
		key = redacted
	}
	return secret, key
}

// String describes o with the secrets redacted.
func (o StorageOptions) String() string {
	secret, key := o.redacted()
	return fmt.Sprintf("{PublicURL:%q Bucket:%q JWTSecret:%q APIURL:%q ServiceKey:%q Expiry:%s CacheSize:%d}",
		o.PublicURL, o.Bucket, secret, o.APIURL, key, o.Expiry, o.CacheSize)
}

// GoString is String, so %#v cannot leak a secret either.
func (o StorageOptions) GoString() string { return "bundleurl.StorageOptions" + o.String() }

// LogValue implements slog.LogValuer with the secrets redacted.
func (o StorageOptions) LogValue() slog.Value {
	secret, key := o.redacted()
	return slog.GroupValue(
		slog.String("public_url", o.PublicURL),
		slog.String("bucket", o.Bucket),
		slog.String("jwt_secret", secret),
		slog.String("api_url", o.APIURL),
		slog.String("service_key", key),
		slog.Duration("expiry", o.Expiry),
	)
}

// Validate reports every problem NewStorage would refuse in o, at once,
// without building a signer: a program checks its settings with it before
// it starts anything. Zero values take their defaults first.
func (o StorageOptions) Validate() error { return o.withDefaults().validate() }

// withDefaults fills the zero values.
func (o StorageOptions) withDefaults() StorageOptions {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Expiry == 0 {
		o.Expiry = DefaultExpiry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// validate checks o, with its defaults.
func (o StorageOptions) validate() error {
	var errs []error
	if o.PublicURL != "" {
		if err := checkBaseURL(o.PublicURL); err != nil {
			errs = append(errs, fmt.Errorf("public URL: %w", err))
		}
	}
	if o.Bucket == "" || strings.Contains(o.Bucket, "/") || !utf8.ValidString(o.Bucket) {
		errs = append(errs, fmt.Errorf("bucket %q must be a single path segment", o.Bucket))
	}
	switch {
	case o.Expiry < 2*time.Second:
		errs = append(errs, fmt.Errorf("expiry %s too short: want at least 2s", o.Expiry))
	case o.Expiry > MaxExpiry:
		errs = append(errs, fmt.Errorf("expiry %s too long: want at most %s, as for S3", o.Expiry, MaxExpiry))
	case o.Expiry%time.Second != 0:
		errs = append(errs, fmt.Errorf("expiry %s must be a whole number of seconds", o.Expiry))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("cache size %d must not be negative", o.CacheSize))
	}
	if o.JWTSecret == "" {
		if o.ServiceKey == "" {
			errs = append(errs, errors.New("a JWT secret (offline signing) or a service key (Storage API) is required"))
		}
		if err := checkBaseURL(o.APIURL); err != nil {
			errs = append(errs, fmt.Errorf("API URL (needed without a JWT secret): %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bundleurl: invalid storage options: %w", errors.Join(errs...))
	}
	return nil
}

// Storage mints Supabase Storage signed URLs:
//
//	<public base>/storage/v1/object/sign/<bucket>/<key>?token=<HS256 JWT>
//
// The token's claims are {url:"<bucket>/<key>", iat, exp, scope:"download"};
// Storage checks its signature, scope, url and exp (verifyObjectSignature)
// and needs no apikey for the GET. The token names no host, so unlike an
// S3 presigned URL the link works through any proxy in front of Kong.
//
// A signed URL is kept per key while more than half of its lifetime
// remains and served from memory; past that it is still served while a
// single background call renews it, and a burst of first requests for a key
// shares one mint. So the update path makes no network call after the
// first request per key and per half-lifetime. A Storage is safe for
// concurrent use.
type Storage struct {
	publicURL string
	prefix    string // "/storage/v1/object/sign/" + escaped bucket + "/"
	bucket    string
	expiry    time.Duration
	mint      func(ctx context.Context, key string) (token, error)
	cache     *urlCache
	mode      string
	apiURL    string
}

var _ Signer = (*Storage)(nil)

// NewStorage validates o, fills its defaults and returns a ready signer.
// Every problem in o is reported at once (errors.Join), as
// [StorageOptions.Validate] reports it.
func NewStorage(o StorageOptions) (*Storage, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")

	s := &Storage{
		publicURL: o.PublicURL,
		prefix:    string(appendEscapedPath([]byte("/storage/v1/object/sign/"), o.Bucket)) + "/",
		bucket:    o.Bucket,
		expiry:    o.Expiry,
		cache:     newURLCache(o.CacheSize, o.Now, o.Log),
	}
	if o.JWTSecret != "" {
		m := offlineMinter{secret: []byte(o.JWTSecret), bucket: o.Bucket, expiry: o.Expiry, now: o.Now}
		s.mint, s.mode = m.mint, "offline"
	} else {
		c := o.Client
		if c == nil {
			c = &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
		}
		a := &apiMinter{client: c, base: strings.TrimRight(o.APIURL, "/"), key: o.ServiceKey, bucket: o.Bucket, expiry: o.Expiry}
		s.mint, s.mode, s.apiURL = a.mint, "api", a.base
	}
	return s, nil
}

// CacheStats are the signed URL cache's lookups since NewStorage: hits
// answered from memory, misses waited for a mint.
func (s *Storage) CacheStats() (hits, misses uint64) {
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment.
func checkBaseURL(raw string) error {
	if raw == "" {
		return errors.New("empty: want http(s)://host[:port]")
	}
	u, err := url.Parse(raw)
	switch {
	case !strings.Contains(raw, "://") || err == nil && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", raw)
	case err != nil:
		return fmt.Errorf("%q: %w", raw, err)
	case u.Host == "":
		return fmt.Errorf("%q: missing host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: must not contain credentials", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%q: must not have a query or fragment", raw)
	}
	return nil
}

// Sign returns the signed Storage URL of req.Key, under the configured
// PublicURL, else under req.PublicBase. The first call for a key (and one
// call per half-lifetime after) mints a token; the others answer from
// memory.
func (s *Storage) Sign(ctx context.Context, req Request) (string, error) {
	key := req.Key
	if key == "" || !utf8.ValidString(key) {
		return "", fmt.Errorf("%w %q", ErrInvalidKey, key)
	}
	base := s.publicURL
	if base == "" {
		base = strings.TrimRight(req.PublicBase, "/")
		if base == "" {
			return "", ErrNoPublicBase
		}
	}
	tok, err := s.cache.get(ctx, key, s.mint)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(base) + len(s.prefix) + escapedLen(key) + len("?token=") + len(tok))
	b.WriteString(base)
	b.WriteString(s.prefix)
	writeEscapedPath(&b, key)
	b.WriteString("?token=")
	b.WriteString(tok)
	return b.String(), nil
}

// Mode is "offline" (tokens minted with the JWT secret) or "api" (asked of
// the Storage API), for logs.
func (s *Storage) Mode() string { return s.mode }

// String describes s without its secrets.
func (s *Storage) String() string {
	return fmt.Sprintf("bundleurl.Storage{mode=%s public_url=%q api_url=%q bucket=%q expiry=%s}",
		s.mode, s.publicURL, s.apiURL, s.bucket, s.expiry)
}

// GoString is String, so %#v cannot leak a secret either.
func (s *Storage) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without the secrets.
func (s *Storage) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", s.mode),
		slog.String("public_url", s.publicURL),
		slog.String("api_url", s.apiURL),
		slog.String("bucket", s.bucket),
		slog.Duration("expiry", s.expiry),
	)
}
