package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/functions/files"
	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/functions/updates"
	"github.com/capgo-functions/capgo-functions/pkg/bundledir"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/clientaddr"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
)

// Config is every setting of `capgo-functions serve`. Each is a flag whose
// default comes from an environment variable (the table in settings.go);
// where Capgo's functions already have a variable for the setting, Capgo's
// name is used so an existing supabase/functions/.env works unchanged.
//
// The settings of a package are that package's own options, filled by
// Load and handed over as they are; the package checks them (Load calls
// its check early, so every problem is reported at once).
type Config struct {
	Addr string // --addr, CAPGO_ADDR
	// AdminAddr is --admin-addr, CAPGO_ADMIN_ADDR: metrics, probes and
	// pprof (admin.go); empty disables the admin listener.
	AdminAddr   string
	DatabaseURL string // --database-url, DATABASE_URL
	// WaitForDB is --wait-for-db, CAPGO_WAIT_FOR_DB: at start, wait until
	// the database is usable instead of exiting on a wrong setting or
	// serving 503 while it is down (diagnose.go).
	WaitForDB bool
	// dbDownReported is not a setting: serve sets it when its start-up
	// check has already logged the database as unreachable, so the read
	// model's listener does not log that failure a second time.
	dbDownReported bool
	// PublicURL is updates.Deps.PublicURL: --public-url, CAPGO_PUBLIC_URL.
	PublicURL string

	// How bundle zips are linked (package bundleurl; docs/signers.md).
	// Load resolves an empty BundleSigner to s3 when
	// S3_ENDPOINT is set, else storage when a JWT secret or service role key
	// is, else files.
	BundleSigner string // --bundle-signer, CAPGO_BUNDLE_SIGNER: s3, storage or files
	// S3 is the bucket (--s3-*, S3_*), for the s3 signer and, when its
	// Endpoint is set, for files/read. Expiry is --bundle-url-expiry
	// (CAPGO_BUNDLE_URL_EXPIRY).
	S3 bundleurl.S3Options
	// Storage is the storage signer's own settings: PublicURL
	// (--storage-public-url), JWTSecret (--jwt-secret) and ServiceKey
	// (--service-role-key). It shares the rest: see storageOptions.
	Storage  bundleurl.StorageOptions
	FilesDir string // --files-dir, CAPGO_FILES_DIR: files/read from a local folder

	// In front of Supabase (package gateway): every path this server does
	// not answer is proxied to Gateway.Upstream (--supabase-url,
	// SUPABASE_URL), Kong moved off :54321.
	Gateway gateway.Options
	Proxy   bool // --proxy, CAPGO_PROXY (false: other paths are 404)

	// The write path (package recorder; docs/write-path.md): QueueSize,
	// BatchSize, FlushInterval and EnqueueWait are --recorder-*,
	// CAPGO_RECORDER_*.
	Recorder recorder.Options

	// The read model (package readmodel; docs/read-model.md): ReadModel
	// is on or off (--read-model, CAPGO_READ_MODEL); ListenURL is the
	// connection that LISTENs for changes (--database-listen-url,
	// DATABASE_LISTEN_URL; empty: DatabaseURL); ReadModelMemoryMiB bounds
	// its memory (--read-model-memory, CAPGO_READ_MODEL_MEMORY); Model
	// holds MaxAge (--read-model-reconcile), TTL (--read-model-ttl) and
	// OverrideLimit (--read-model-override-limit).
	ReadModel          string
	ListenURL          string
	ReadModelMemoryMiB int
	Model              readmodel.Options

	CORSOrigins []string           // WEBAPP_URL and CORS_ALLOWED_ORIGINS
	LimitedApps plugin.LimitedApps // LIMITED_APPS (Capgo's JSON list)
	// ChannelSelfIPLimit is channelself.Deps.IPLimit (requests per minute):
	// --channel-self-ip-limit, RATE_LIMIT_CHANNEL_SELF_IP.
	ChannelSelfIPLimit int
	// StatsMaxEvents is stats.Deps.MaxEvents: --stats-max-events,
	// CAPGO_STATS_MAX_EVENTS.
	StatsMaxEvents int

	// The edge (docs/endpoints.md "Connections and clients"): TrustedProxies is
	// --trusted-proxies, CAPGO_TRUSTED_PROXIES (comma-separated CIDRs);
	// BodyTimeout is --body-timeout, CAPGO_BODY_TIMEOUT; MaxConnections is
	// --max-connections, CAPGO_MAX_CONNECTIONS.
	TrustedProxies string
	BodyTimeout    time.Duration
	MaxConnections int

	ShutdownTimeout time.Duration // --shutdown-timeout, CAPGO_SHUTDOWN_TIMEOUT
	LogLevel        slog.Level    // --log-level, CAPGO_LOG_LEVEL
	LogFormat       string        // --log-format, CAPGO_LOG_FORMAT (text|json)
}

// Defaults of the edge settings.
const (
	// DefaultBodyTimeout: a device's body is under 1 KiB; 10 s is ample
	// on a bad mobile link and bounds a slow-body client.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultMaxConnections keeps well under a default 65536 open-file
	// limit while leaving room for the gateway's upstream connections
	// and the database pool.
	DefaultMaxConnections = 4096
)

// trust is the parsed --trusted-proxies.
func (c Config) trust() (*clientaddr.Trust, error) {
	return clientaddr.Parse(strings.Split(c.TrustedProxies, ","))
}

// Default is the configuration with no flag and no environment.
func Default() Config {
	return Config{
		Addr:        "127.0.0.1:54321",
		AdminAddr:   "127.0.0.1:9091",
		DatabaseURL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
		S3:          bundleurl.S3Options{Region: bundleurl.DefaultRegion, Bucket: bundleurl.DefaultBucket, Expiry: bundleurl.DefaultExpiry},
		Gateway:     gateway.Options{Upstream: "http://127.0.0.1:54331"},
		Proxy:       true,
		Recorder: recorder.Options{
			Ack: recorder.DefaultAck, CommitTimeout: recorder.DefaultCommitTimeout,
			QueueSize: recorder.DefaultQueueSize, BatchSize: recorder.DefaultBatchSize,
			FlushInterval: recorder.DefaultFlushInterval, EnqueueWait: recorder.DefaultEnqueueWait,
		},
		ReadModel:          "on",
		ReadModelMemoryMiB: readmodel.DefaultMaxBytes >> 20,
		Model: readmodel.Options{MaxAge: readmodel.DefaultMaxAge, TTL: readmodel.DefaultTTL,
			OverrideLimit: readmodel.DefaultOverrideLimit},
		ChannelSelfIPLimit: channelself.DefaultIPLimit,
		StatsMaxEvents:     stats.DefaultMaxEvents,
		BodyTimeout:        DefaultBodyTimeout,
		MaxConnections:     DefaultMaxConnections,
		ShutdownTimeout:    30 * time.Second,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
	}
}

// modelOptions are the read model's options: the settings, with the
// memory bound in bytes.
func (c Config) modelOptions() readmodel.Options {
	o := c.Model
	o.MaxBytes = int64(c.ReadModelMemoryMiB) << 20
	return o
}

// listenURL is the connection the read model's listener uses.
func (c Config) listenURL() string {
	if c.ListenURL != "" {
		return c.ListenURL
	}
	return c.DatabaseURL
}

// storageOptions are the storage signer's options: its own settings, and
// the three it shares: the bucket and the link lifetime of the S3
// settings, and the Storage API behind the gateway's upstream.
func (c Config) storageOptions() bundleurl.StorageOptions {
	o := c.Storage
	o.Bucket, o.Expiry, o.APIURL = c.S3.Bucket, c.S3.Expiry, c.Gateway.Upstream
	return o
}

// filesS3Options are the S3 settings files/read streams bundles with: the
// bucket's, signed for files.SignedURLExpiry (Capgo's 60 s).
func (c Config) filesS3Options() bundleurl.S3Options {
	o := c.S3
	o.Expiry = files.SignedURLExpiry
	return o
}

// String redacts secrets so a config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("addr=%s database=%s public_url=%q s3_endpoint=%q s3_bucket=%s s3_region=%s proxy=%t supabase_url=%s",
		c.Addr, redactURL(c.DatabaseURL), c.PublicURL, c.S3.Endpoint, c.S3.Bucket, c.S3.Region, c.Proxy, c.Gateway.Upstream)
}

// LogValue implements slog.LogValuer with secrets redacted.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redactURL(s string) string { return redactDSN(s) }

// validate reports every problem at once: the rules this command makes
// (between settings, and about its own ones), and each package's own
// check of the options it will be given, the one its New runs.
func (c Config) validate() []error {
	var errs []error
	check := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if err := checkAddr(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if _, port, err := net.SplitHostPort(c.AdminAddr); c.AdminAddr != "" && (err != nil || port == "") {
		errs = append(errs, fmt.Errorf("admin addr %q: want HOST:PORT, or empty to disable", c.AdminAddr))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("database URL %q: want postgres://… or postgresql://…", redactURL(c.DatabaseURL)))
	}
	check("CAPGO_PUBLIC_URL", updates.CheckPublicURL(c.PublicURL))
	if c.S3.Endpoint != "" {
		check("S3 settings (S3_*)", c.S3.Validate())
	}
	errs = append(errs, c.validateSigner()...)
	if c.FilesDir != "" {
		if c.S3.Endpoint != "" {
			errs = append(errs, errors.New("CAPGO_FILES_DIR and S3_ENDPOINT are both set: files/read serves from one storage, choose one"))
		}
		check("CAPGO_FILES_DIR", bundledir.Check(c.FilesDir))
	}
	if c.Proxy {
		errs = append(errs, c.validateProxy()...)
	}
	if _, err := c.trust(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Recorder.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.ReadModel {
	case "on":
		check("read model", c.modelOptions().Validate())
		if u, err := url.Parse(c.ListenURL); c.ListenURL != "" && (err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql")) {
			errs = append(errs, fmt.Errorf("database listen URL %q: want postgres://… or postgresql://…", redactURL(c.ListenURL)))
		}
	case "off":
	default:
		errs = append(errs, fmt.Errorf("read model %q: want on or off", c.ReadModel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	return errs
}

// checkAddr checks a listen address before anything is started: HOST:PORT
// with a port number from 0 (any free port) to 65535; net.Listen would
// only say so after the database was connected.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return errors.New("want HOST:PORT")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}

// validateProxy checks SUPABASE_URL, and that it is not this server
// itself (API_URL from `supabase status` is, once external_url points at
// us): every proxied request would come back to us until the sockets ran
// out.
func (c Config) validateProxy() []error {
	if err := c.Gateway.Validate(); err != nil {
		return []error{fmt.Errorf("supabase URL: %w", err)}
	}
	u, _ := url.Parse(c.Gateway.Upstream)
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil // reported with addr
	}
	upPort := u.Port()
	if upPort == "" {
		upPort = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if upPort == port && (isLocalHost(host) && isLocalHost(u.Hostname()) || strings.EqualFold(host, u.Hostname())) {
		return []error{fmt.Errorf("supabase URL %s is this server (addr %s): point it at Kong's own port ([api] port in supabase/config.toml, e.g. http://127.0.0.1:54331), not at API_URL", c.Gateway.Upstream, c.Addr)}
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
	case c.S3.Endpoint != "":
		return signerS3
	case c.Storage.JWTSecret != "" || c.Storage.ServiceKey != "":
		return signerStorage
	}
	return signerFiles
}

// validateSigner checks that the chosen signer has what it needs, in the
// words of the settings a user sets; the signer's options themselves are
// its package's to check.
func (c Config) validateSigner() []error {
	switch c.BundleSigner {
	case signerS3:
		if c.S3.Endpoint == "" {
			return []error{errors.New("bundle signer s3: S3_ENDPOINT (with S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY) is required")}
		}
	case signerStorage:
		return c.validateStorage()
	case signerFiles:
	default:
		return []error{fmt.Errorf("bundle signer %q: want s3, storage or files", c.BundleSigner)}
	}
	return nil
}

func (c Config) validateStorage() []error {
	s := c.Storage
	if s.JWTSecret == "" && s.ServiceKey == "" {
		return []error{errors.New("bundle signer storage: set SUPABASE_JWT_SECRET (signs offline; `supabase status` prints it as JWT_SECRET) or SUPABASE_SERVICE_ROLE_KEY (signs through the Storage API at SUPABASE_URL)")}
	}
	var errs []error
	if s.JWTSecret != "" && len(s.JWTSecret) < 32 {
		errs = append(errs, fmt.Errorf("bundle signer storage: the JWT secret is %d characters, Supabase's are at least 32: is it the project's JWT secret (not a key)?", len(s.JWTSecret)))
	}
	if err := c.storageOptions().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("bundle signer storage: %w", err))
	}
	if !c.Proxy && s.PublicURL == "" {
		errs = append(errs, errors.New("bundle signer storage links devices to /storage/v1 on this server, which needs --proxy: turn it on, or set CAPGO_STORAGE_PUBLIC_URL to where devices reach Supabase"))
	}
	return errs
}
