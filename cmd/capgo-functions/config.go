package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
)

// Config is every setting of `capgo-functions serve`. Each is a flag whose
// default comes from an environment variable; where Capgo's functions
// already have a variable for the setting, Capgo's name is used so an
// existing supabase/functions/.env works unchanged.
type Config struct {
	Addr        string // --addr, CAPGO_ADDR
	DatabaseURL string // --database-url, DATABASE_URL
	PublicURL   string // --public-url, CAPGO_PUBLIC_URL

	S3Endpoint        string        // --s3-endpoint, S3_ENDPOINT
	S3Region          string        // --s3-region, S3_REGION
	S3Bucket          string        // --s3-bucket, S3_BUCKET
	S3AccessKeyID     string        // --s3-access-key-id, S3_ACCESS_KEY_ID
	S3SecretAccessKey string        // --s3-secret-access-key, S3_SECRET_ACCESS_KEY
	S3SSL             bool          // --s3-ssl, S3_SSL
	BundleURLExpiry   time.Duration // --bundle-url-expiry, CAPGO_BUNDLE_URL_EXPIRY
	FilesDir          string        // --files-dir, CAPGO_FILES_DIR

	// How bundle zips are linked (package bundleurl; README "Bundle URLs
	// (signers)"). Load resolves an empty BundleSigner to s3 when
	// S3_ENDPOINT is set, else storage when a JWT secret or service role key
	// is, else files.
	BundleSigner     string // --bundle-signer, CAPGO_BUNDLE_SIGNER: s3, storage or files
	JWTSecret        string // --jwt-secret, SUPABASE_JWT_SECRET or JWT_SECRET; never printed
	ServiceRoleKey   string // --service-role-key, SUPABASE_SERVICE_ROLE_KEY; never printed
	StoragePublicURL string // --storage-public-url, CAPGO_STORAGE_PUBLIC_URL

	// In front of Supabase (package gateway): every path this server does
	// not answer is proxied to SupabaseURL, Kong moved off :54321.
	SupabaseURL string // --supabase-url, SUPABASE_URL
	Proxy       bool   // --proxy, CAPGO_PROXY (false: other paths are 404)

	CORSOrigins     []string           // WEBAPP_URL and CORS_ALLOWED_ORIGINS
	LimitedApps     plugin.LimitedApps // LIMITED_APPS (Capgo's JSON list)
	ShutdownTimeout time.Duration      // --shutdown-timeout, CAPGO_SHUTDOWN_TIMEOUT
	LogLevel        slog.Level         // --log-level, CAPGO_LOG_LEVEL
	LogFormat       string             // --log-format, CAPGO_LOG_FORMAT (text|json)

	// The write path (package recorder): events are queued and written in
	// batches; see the README's "Write path" section.
	RecorderAck           recorder.Ack  // --ack, CAPGO_ACK: what a 2xx promises (commit|queued)
	RecorderCommitTimeout time.Duration // --recorder-commit-timeout, CAPGO_RECORDER_COMMIT_TIMEOUT
	RecorderQueueSize     int           // --recorder-queue-size, CAPGO_RECORDER_QUEUE_SIZE
	RecorderBatchSize     int           // --recorder-batch-size, CAPGO_RECORDER_BATCH_SIZE
	RecorderFlushInterval time.Duration // --recorder-flush-interval, CAPGO_RECORDER_FLUSH_INTERVAL
	RecorderEnqueueWait   time.Duration // --recorder-enqueue-wait, CAPGO_RECORDER_ENQUEUE_WAIT

	// /channel_self's per app+IP limit (requests per minute); README
	// "/stats and /channel_self".
	ChannelSelfIPLimit int // --channel-self-ip-limit, RATE_LIMIT_CHANNEL_SELF_IP
}

// Default is the configuration with no flag and no environment.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:54321",
		DatabaseURL:     "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
		S3Region:        "us-east-1",
		S3Bucket:        "capgo",
		BundleURLExpiry: 604800 * time.Second,
		SupabaseURL:     "http://127.0.0.1:54331",
		Proxy:           true,
		ShutdownTimeout: 30 * time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",

		RecorderAck:           recorder.DefaultAck,
		RecorderCommitTimeout: recorder.DefaultCommitTimeout,
		RecorderQueueSize:     recorder.DefaultQueueSize,
		RecorderBatchSize:     recorder.DefaultBatchSize,
		RecorderFlushInterval: recorder.DefaultFlushInterval,
		RecorderEnqueueWait:   recorder.DefaultEnqueueWait,

		ChannelSelfIPLimit: channelself.DefaultIPLimit,
	}
}

// String redacts secrets so a config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("addr=%s database=%s public_url=%q s3_endpoint=%q s3_bucket=%s s3_region=%s proxy=%t supabase_url=%s",
		c.Addr, redactURL(c.DatabaseURL), c.PublicURL, c.S3Endpoint, c.S3Bucket, c.S3Region, c.Proxy, c.SupabaseURL)
}

// LogValue implements slog.LogValuer with secrets redacted.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Load parses flags over environment defaults and validates the result,
// reporting every problem at once.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := Default()
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var errs []error
	envDuration := func(key string, def time.Duration) time.Duration {
		v := getenv(key)
		if v == "" {
			return def
		}
		d, err := parseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return def
		}
		return d
	}
	envBool := func(key string, def bool) bool {
		v := getenv(key)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a boolean", key, v))
			return def
		}
		return b
	}

	envInt := func(key string, def int) int {
		v := getenv(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", key, v))
			return def
		}
		return n
	}

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", env("CAPGO_ADDR", c.Addr), "listen address HOST:PORT (CAPGO_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", c.DatabaseURL), "PostgreSQL URL of the Capgo database (DATABASE_URL)")
	fs.StringVar(&c.PublicURL, "public-url", env("CAPGO_PUBLIC_URL", ""), "externally visible base URL for links to this server; empty derives it from each request (CAPGO_PUBLIC_URL)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env("S3_ENDPOINT", ""), "S3 endpoint host[:port][/path] or URL used to presign bundle downloads; empty links bundles through /functions/v1/files/read (S3_ENDPOINT)")
	fs.StringVar(&c.S3Region, "s3-region", env("S3_REGION", c.S3Region), "S3 region (S3_REGION)")
	fs.StringVar(&c.S3Bucket, "s3-bucket", env("S3_BUCKET", c.S3Bucket), "S3 bucket holding bundles (S3_BUCKET)")
	fs.StringVar(&c.S3AccessKeyID, "s3-access-key-id", env("S3_ACCESS_KEY_ID", ""), "S3 access key id (S3_ACCESS_KEY_ID)")
	fs.StringVar(&c.S3SecretAccessKey, "s3-secret-access-key", env("S3_SECRET_ACCESS_KEY", ""), "S3 secret access key (S3_SECRET_ACCESS_KEY)")
	fs.BoolVar(&c.S3SSL, "s3-ssl", envBool("S3_SSL", false), "use https for an S3 endpoint given without scheme (S3_SSL)")
	fs.StringVar(&c.SupabaseURL, "supabase-url", env("SUPABASE_URL", c.SupabaseURL), "the Supabase gateway (Kong, moved by [api] port) every other path is proxied to (SUPABASE_URL)")
	fs.BoolVar(&c.Proxy, "proxy", envBool("CAPGO_PROXY", c.Proxy), "proxy every path this server does not answer to --supabase-url; false answers them 404 (CAPGO_PROXY)")
	fs.StringVar(&c.BundleSigner, "bundle-signer", env("CAPGO_BUNDLE_SIGNER", ""), "how bundle zips are linked: s3 (presigned S3 GET), storage (Supabase Storage signed URL) or files (/functions/v1/files/read); empty: s3 with S3_ENDPOINT, else storage with a JWT secret or service role key, else files (CAPGO_BUNDLE_SIGNER)")
	// The two secrets take their environment value after parsing, so -h
	// does not print them as defaults.
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "project JWT secret: storage links are signed offline with it (SUPABASE_JWT_SECRET or JWT_SECRET)")
	fs.StringVar(&c.ServiceRoleKey, "service-role-key", "", "service_role or sb_secret_ key: without a JWT secret, storage links are asked of the Storage API at --supabase-url (SUPABASE_SERVICE_ROLE_KEY)")
	fs.StringVar(&c.StoragePublicURL, "storage-public-url", env("CAPGO_STORAGE_PUBLIC_URL", ""), "base URL devices reach Supabase Storage at, for storage links; empty: --public-url, else the host each device called (CAPGO_STORAGE_PUBLIC_URL)")
	fs.StringVar(&c.FilesDir, "files-dir", env("CAPGO_FILES_DIR", ""), "local folder holding bundle storage keys (orgs/<org>/apps/<app>/…); /functions/v1/files/read serves from it instead of S3 (CAPGO_FILES_DIR)")
	fs.DurationVar(&c.BundleURLExpiry, "bundle-url-expiry", envDuration("CAPGO_BUNDLE_URL_EXPIRY", c.BundleURLExpiry), "lifetime of presigned bundle URLs, at most 168h (CAPGO_BUNDLE_URL_EXPIRY)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("CAPGO_SHUTDOWN_TIMEOUT", c.ShutdownTimeout), "how long to wait for requests in flight on SIGINT/SIGTERM (CAPGO_SHUTDOWN_TIMEOUT)")
	level := fs.String("log-level", env("CAPGO_LOG_LEVEL", "info"), "debug, info, warn or error (CAPGO_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("CAPGO_LOG_FORMAT", c.LogFormat), "text or json (CAPGO_LOG_FORMAT)")
	ack := fs.String("ack", env("CAPGO_ACK", string(c.RecorderAck)), "what a device's 2xx promises: commit (its rows are committed) or queued (queued in memory, written within the flush interval; a crash loses them) (CAPGO_ACK)")
	fs.DurationVar(&c.RecorderCommitTimeout, "recorder-commit-timeout", envDuration("CAPGO_RECORDER_COMMIT_TIMEOUT", c.RecorderCommitTimeout), "with --ack=commit, how long a request waits for its rows to be committed before answering 503, like 5s (CAPGO_RECORDER_COMMIT_TIMEOUT)")
	fs.IntVar(&c.RecorderQueueSize, "recorder-queue-size", envInt("CAPGO_RECORDER_QUEUE_SIZE", c.RecorderQueueSize), "events waiting to be written at most; when full, requests answer 503 (CAPGO_RECORDER_QUEUE_SIZE)")
	fs.IntVar(&c.RecorderBatchSize, "recorder-batch-size", envInt("CAPGO_RECORDER_BATCH_SIZE", c.RecorderBatchSize), "events written per batch at most (CAPGO_RECORDER_BATCH_SIZE)")
	fs.DurationVar(&c.RecorderFlushInterval, "recorder-flush-interval", envDuration("CAPGO_RECORDER_FLUSH_INTERVAL", c.RecorderFlushInterval), "longest wait before a partial batch is written, like 100ms (CAPGO_RECORDER_FLUSH_INTERVAL)")
	fs.DurationVar(&c.RecorderEnqueueWait, "recorder-enqueue-wait", envDuration("CAPGO_RECORDER_ENQUEUE_WAIT", c.RecorderEnqueueWait), "how long a request waits for room in a full queue before answering 503, like 250ms (CAPGO_RECORDER_ENQUEUE_WAIT)")
	fs.IntVar(&c.ChannelSelfIPLimit, "channel-self-ip-limit", envInt("RATE_LIMIT_CHANNEL_SELF_IP", c.ChannelSelfIPLimit), "/channel_self requests one client IP may make per app and minute before 429 too_many_requests (RATE_LIMIT_CHANNEL_SELF_IP)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	for _, o := range append([]string{getenv("WEBAPP_URL")}, strings.Split(getenv("CORS_ALLOWED_ORIGINS"), ",")...) {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	if l, err := plugin.ParseLimitedApps(getenv("LIMITED_APPS")); err != nil {
		errs = append(errs, err)
	} else {
		c.LimitedApps = l
	}
	if a, err := recorder.ParseAck(*ack); err != nil {
		errs = append(errs, err)
	} else {
		c.RecorderAck = a
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", *level))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["jwt-secret"] {
		c.JWTSecret = env("SUPABASE_JWT_SECRET", getenv("JWT_SECRET"))
	}
	if !set["service-role-key"] {
		c.ServiceRoleKey = getenv("SUPABASE_SERVICE_ROLE_KEY")
	}
	if c.BundleSigner == "" {
		c.BundleSigner = c.defaultSigner()
	}
	errs = append(errs, c.validate()...)
	return c, errors.Join(errs...)
}

// parseDuration accepts Go durations ("168h") and plain seconds ("604800").
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 604800 or 168h)", s)
	}
	return d, nil
}

func (c Config) validate() []error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("addr %q: want HOST:PORT", c.Addr))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("database URL %q: want postgres://… or postgresql://…", redactURL(c.DatabaseURL)))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public URL %q: want http(s)://host[:port]", c.PublicURL))
		}
	}
	if c.S3Endpoint != "" && (c.S3AccessKeyID == "" || c.S3SecretAccessKey == "") {
		errs = append(errs, errors.New("S3_ENDPOINT is set: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required"))
	}
	if c.Proxy {
		errs = append(errs, c.validateProxy()...)
	}
	errs = append(errs, c.validateSigner()...)
	if c.FilesDir != "" && c.S3Endpoint != "" {
		errs = append(errs, errors.New("CAPGO_FILES_DIR and S3_ENDPOINT are both set: files/read serves from one storage, choose one"))
	}
	if c.FilesDir != "" {
		if st, err := os.Stat(c.FilesDir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("files dir %q: not a readable folder", c.FilesDir))
		}
	}
	if c.BundleURLExpiry <= 0 || c.BundleURLExpiry > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("bundle URL expiry %s: want more than 0 and at most 168h (the SigV4 limit)", c.BundleURLExpiry))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s: want more than 0", c.ShutdownTimeout))
	}
	if c.RecorderBatchSize < 1 || c.RecorderQueueSize < c.RecorderBatchSize || c.RecorderQueueSize > 10_000_000 {
		errs = append(errs, fmt.Errorf("recorder batch size %d and queue size %d: want 1 ≤ batch size ≤ queue size ≤ 10000000", c.RecorderBatchSize, c.RecorderQueueSize))
	}
	if c.RecorderFlushInterval < time.Millisecond || c.RecorderFlushInterval > time.Minute {
		errs = append(errs, fmt.Errorf("recorder flush interval %s: want 1ms to 1m", c.RecorderFlushInterval))
	}
	if c.RecorderEnqueueWait < time.Millisecond || c.RecorderEnqueueWait > 10*time.Second {
		errs = append(errs, fmt.Errorf("recorder enqueue wait %s: want 1ms to 10s (requests wait this long before a 503)", c.RecorderEnqueueWait))
	}
	if c.RecorderCommitTimeout < time.Millisecond || c.RecorderCommitTimeout > 10*time.Second {
		errs = append(errs, fmt.Errorf("recorder commit timeout %s: want 1ms to 10s (a request's writes are given 10s in all)", c.RecorderCommitTimeout))
	}
	if c.ChannelSelfIPLimit < 1 {
		errs = append(errs, fmt.Errorf("channel_self IP limit %d: want at least 1 request per minute", c.ChannelSelfIPLimit))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	return errs
}

// validateProxy checks SUPABASE_URL, and that it is not this server
// itself (API_URL from `supabase status` is, once external_url points at
// us): every proxied request would come back to us until the sockets ran
// out.
func (c Config) validateProxy() []error {
	u, err := gateway.ParseUpstream(c.SupabaseURL)
	if err != nil {
		return []error{fmt.Errorf("supabase URL: %w", err)}
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil // reported with addr
	}
	upPort := u.Port()
	if upPort == "" {
		upPort = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if upPort == port && (isLocalHost(host) && isLocalHost(u.Hostname()) || strings.EqualFold(host, u.Hostname())) {
		return []error{fmt.Errorf("supabase URL %s is this server (addr %s): point it at Kong's own port ([api] port in supabase/config.toml, e.g. http://127.0.0.1:54331), not at API_URL", c.SupabaseURL, c.Addr)}
	}
	return nil
}

// isLocalHost reports a host this machine answers on for loopback
// clients: localhost, loopback and unspecified addresses.
func isLocalHost(h string) bool {
	if h == "" || strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// The bundle URL signers (--bundle-signer).
const (
	signerS3      = "s3"
	signerStorage = "storage"
	signerFiles   = "files"
)

// defaultSigner picks the signer the settings given imply.
func (c Config) defaultSigner() string {
	switch {
	case c.S3Endpoint != "":
		return signerS3
	case c.JWTSecret != "" || c.ServiceRoleKey != "":
		return signerStorage
	}
	return signerFiles
}

// validateSigner checks that the chosen signer has what it needs.
func (c Config) validateSigner() []error {
	var errs []error
	switch c.BundleSigner {
	case signerS3:
		if c.S3Endpoint == "" {
			errs = append(errs, errors.New("bundle signer s3: S3_ENDPOINT (with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY) is required"))
		}
	case signerStorage:
		switch {
		case c.JWTSecret == "" && c.ServiceRoleKey == "":
			errs = append(errs, errors.New("bundle signer storage: set SUPABASE_JWT_SECRET (signs offline; `supabase status` prints it as JWT_SECRET) or SUPABASE_SERVICE_ROLE_KEY (signs through the Storage API at SUPABASE_URL)"))
		case c.JWTSecret != "" && len(c.JWTSecret) < 32:
			errs = append(errs, fmt.Errorf("bundle signer storage: the JWT secret is %d characters, Supabase's are at least 32: is it the project's JWT secret (not a key)?", len(c.JWTSecret)))
		case c.JWTSecret == "":
			if _, err := gateway.ParseUpstream(c.SupabaseURL); err != nil {
				errs = append(errs, fmt.Errorf("bundle signer storage through the Storage API: supabase URL: %w", err))
			}
		}
		if c.StoragePublicURL != "" {
			if u, err := url.Parse(c.StoragePublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
				errs = append(errs, fmt.Errorf("storage public URL %q: want http(s)://host[:port][/path]", c.StoragePublicURL))
			}
		}
		if !c.Proxy && c.StoragePublicURL == "" {
			errs = append(errs, errors.New("bundle signer storage links devices to /storage/v1 on this server, which needs --proxy: turn it on, or set CAPGO_STORAGE_PUBLIC_URL to where devices reach Supabase"))
		}
	case signerFiles:
	default:
		errs = append(errs, fmt.Errorf("bundle signer %q: want s3, storage or files", c.BundleSigner))
	}
	return errs
}
