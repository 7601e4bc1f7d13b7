package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
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

	CORSOrigins     []string           // WEBAPP_URL and CORS_ALLOWED_ORIGINS
	LimitedApps     plugin.LimitedApps // LIMITED_APPS (Capgo's JSON list)
	ShutdownTimeout time.Duration      // --shutdown-timeout, CAPGO_SHUTDOWN_TIMEOUT
	LogLevel        slog.Level         // --log-level, CAPGO_LOG_LEVEL
	LogFormat       string             // --log-format, CAPGO_LOG_FORMAT (text|json)
}

// Default is the configuration with no flag and no environment.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:54321",
		DatabaseURL:     "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
		S3Region:        "us-east-1",
		S3Bucket:        "capgo",
		BundleURLExpiry: 604800 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
	}
}

// String redacts secrets so a config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("addr=%s database=%s public_url=%q s3_endpoint=%q s3_bucket=%s s3_region=%s",
		c.Addr, redactURL(c.DatabaseURL), c.PublicURL, c.S3Endpoint, c.S3Bucket, c.S3Region)
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
	fs.DurationVar(&c.BundleURLExpiry, "bundle-url-expiry", envDuration("CAPGO_BUNDLE_URL_EXPIRY", c.BundleURLExpiry), "lifetime of presigned bundle URLs, at most 168h (CAPGO_BUNDLE_URL_EXPIRY)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("CAPGO_SHUTDOWN_TIMEOUT", c.ShutdownTimeout), "how long to wait for requests in flight on SIGINT/SIGTERM (CAPGO_SHUTDOWN_TIMEOUT)")
	level := fs.String("log-level", env("CAPGO_LOG_LEVEL", "info"), "debug, info, warn or error (CAPGO_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("CAPGO_LOG_FORMAT", c.LogFormat), "text or json (CAPGO_LOG_FORMAT)")
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
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", *level))
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
	if c.BundleURLExpiry <= 0 || c.BundleURLExpiry > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("bundle URL expiry %s: want more than 0 and at most 168h (the SigV4 limit)", c.BundleURLExpiry))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s: want more than 0", c.ShutdownTimeout))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	return errs
}
