package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
)

// A setting is one flag of `capgo-functions serve` and the environment
// variables that give its default.
type setting struct {
	flag  string   // the flag's name
	env   []string // its environment variables; the first one set wins
	usage string   // -h text; the variables are appended
	// target is the Config field the setting fills: *string, *bool, *int
	// or *time.Duration. What it holds when Load starts (Default) is the
	// default. Every number and duration must be more than 0: the packages
	// read 0 as "the default", which a setting written out never means.
	target any
	// secret settings take their environment value after parsing, so -h
	// does not print it as the default.
	secret bool
}

// settings is the table of flags, each filling a field of c; level
// receives --log-level, which Load turns into c.LogLevel.
func (c *Config) settings(level, ack *string) []setting {
	env := func(names ...string) []string { return names }
	return []setting{
		{"addr", env("CAPGO_ADDR"), "listen address HOST:PORT", &c.Addr, false},
		{"admin-addr", env("CAPGO_ADMIN_ADDR"), "admin listen address HOST:PORT for /metrics, /healthz, /readyz and /debug/pprof; empty disables it", &c.AdminAddr, false},
		{"database-url", env("DATABASE_URL"), "PostgreSQL URL of the Capgo database", &c.DatabaseURL, false},
		{"wait-for-db", env("CAPGO_WAIT_FOR_DB"), "at start, retry until the database is reachable and holds the Capgo schema before listening on --addr (the admin listener answers meanwhile), instead of exiting on a wrong password, database or schema (or answering 503 while it is down)", &c.WaitForDB, false},
		{"public-url", env("CAPGO_PUBLIC_URL"), "externally visible base URL for links to this server; empty derives it from each request", &c.PublicURL, false},
		{"s3-endpoint", env("S3_ENDPOINT"), "S3 endpoint host[:port][/path] or URL used to presign bundle downloads; empty links bundles through /functions/v1/files/read", &c.S3.Endpoint, false},
		{"s3-region", env("S3_REGION"), "S3 region", &c.S3.Region, false},
		{"s3-bucket", env("S3_BUCKET"), "S3 bucket holding bundles", &c.S3.Bucket, false},
		{"s3-access-key-id", env("S3_ACCESS_KEY_ID"), "S3 access key id", &c.S3.AccessKeyID, false},
		{"s3-secret-access-key", env("S3_SECRET_ACCESS_KEY"), "S3 secret access key", &c.S3.SecretAccessKey, true},
		{"s3-ssl", env("S3_SSL"), "use https for an S3 endpoint given without scheme", &c.S3.UseSSL, false},
		{"supabase-url", env("SUPABASE_URL"), "the Supabase gateway (Kong, moved by [api] port) every other path is proxied to", &c.Gateway.Upstream, false},
		{"proxy", env("CAPGO_PROXY"), "proxy every path this server does not answer to --supabase-url; false answers them 404", &c.Proxy, false},
		{"bundle-signer", env("CAPGO_BUNDLE_SIGNER"), "how bundle zips are linked: s3 (presigned S3 GET), storage (Supabase Storage signed URL) or files (/functions/v1/files/read); empty: s3 with S3_ENDPOINT, else storage with a JWT secret or service role key, else files", &c.BundleSigner, false},
		{"jwt-secret", env("SUPABASE_JWT_SECRET", "JWT_SECRET"), "project JWT secret: storage links are signed offline with it", &c.Storage.JWTSecret, true},
		{"service-role-key", env("SUPABASE_SERVICE_ROLE_KEY"), "service_role or sb_secret_ key: without a JWT secret, storage links are asked of the Storage API at --supabase-url", &c.Storage.ServiceKey, true},
		{"storage-public-url", env("CAPGO_STORAGE_PUBLIC_URL"), "base URL devices reach Supabase Storage at, for storage links; empty: --public-url, else the host each device called", &c.Storage.PublicURL, false},
		{"files-dir", env("CAPGO_FILES_DIR"), "local folder holding bundle storage keys (orgs/<org>/apps/<app>/…); /functions/v1/files/read serves from it instead of S3", &c.FilesDir, false},
		{"bundle-url-expiry", env("CAPGO_BUNDLE_URL_EXPIRY"), "lifetime of presigned bundle URLs, at most 168h", &c.S3.Expiry, false},
		{"shutdown-timeout", env("CAPGO_SHUTDOWN_TIMEOUT"), "how long to wait for requests in flight on SIGINT/SIGTERM", &c.ShutdownTimeout, false},
		{"log-level", env("CAPGO_LOG_LEVEL"), "debug, info, warn or error", level, false},
		{"log-format", env("CAPGO_LOG_FORMAT"), "text or json", &c.LogFormat, false},
		{"ack", env("CAPGO_ACK"), "what a device's 2xx promises: commit (its rows are committed) or queued (queued in memory, written within the flush interval; a crash loses them)", ack, false},
		{"recorder-commit-timeout", env("CAPGO_RECORDER_COMMIT_TIMEOUT"), "with --ack=commit, how long a request waits for its rows to be committed before answering 503, like 5s", &c.Recorder.CommitTimeout, false},
		{"recorder-queue-size", env("CAPGO_RECORDER_QUEUE_SIZE"), "events waiting to be written at most; when full, requests answer 503", &c.Recorder.QueueSize, false},
		{"recorder-batch-size", env("CAPGO_RECORDER_BATCH_SIZE"), "events written per batch at most", &c.Recorder.BatchSize, false},
		{"recorder-flush-interval", env("CAPGO_RECORDER_FLUSH_INTERVAL"), "longest wait before a partial batch is written, like 100ms", &c.Recorder.FlushInterval, false},
		{"recorder-enqueue-wait", env("CAPGO_RECORDER_ENQUEUE_WAIT"), "how long a request waits for room in a full queue before answering 503, like 250ms", &c.Recorder.EnqueueWait, false},
		{"read-model", env("CAPGO_READ_MODEL"), "on: answer device reads from memory, kept fresh by database notifications; off: read the database on every request", &c.ReadModel, false},
		{"database-listen-url", env("DATABASE_LISTEN_URL"), "PostgreSQL URL of the connection that LISTENs for changes: direct or session-mode, never a transaction-mode pooler; empty: --database-url", &c.ListenURL, false},
		{"read-model-memory", env("CAPGO_READ_MODEL_MEMORY"), "MiB the read model may hold; the least recently used apps are dropped beyond it", &c.ReadModelMemoryMiB, false},
		{"read-model-reconcile", env("CAPGO_READ_MODEL_RECONCILE"), "longest a model is used with notifications working before it is reloaded anyway, like 60s", &c.Model.MaxAge, false},
		{"read-model-ttl", env("CAPGO_READ_MODEL_TTL"), "longest a model is used while changes are not notified (triggers missing, listener down), like 1s", &c.Model.TTL, false},
		{"read-model-override-limit", env("CAPGO_READ_MODEL_OVERRIDE_LIMIT"), "device overrides an app's model holds whole; beyond it they are looked up per device", &c.Model.OverrideLimit, false},
		{"channel-self-ip-limit", env("RATE_LIMIT_CHANNEL_SELF_IP"), "/channel_self requests one client IP may make per app and minute before 429 too_many_requests", &c.ChannelSelfIPLimit, false},
		{"stats-max-events", env("CAPGO_STATS_MAX_EVENTS"), "events one /stats batch may hold; a longer batch is 413 too_many_events", &c.StatsMaxEvents, false},
		{"trusted-proxies", env("CAPGO_TRUSTED_PROXIES"), "comma-separated CIDRs of proxies whose X-Forwarded-For/-Host/-Proto and X-Real-IP are believed; empty: the connection is the client", &c.TrustedProxies, false},
		{"body-timeout", env("CAPGO_BODY_TIMEOUT"), "how long a device function's request body may take to arrive, like 10s; proxied paths are not bounded", &c.BodyTimeout, false},
		{"max-connections", env("CAPGO_MAX_CONNECTIONS"), "open client connections at most; further ones wait in the kernel's listen backlog until one closes", &c.MaxConnections, false},
	}
}

// Load parses flags over environment defaults and validates the result,
// reporting every problem at once. A flag wins over its environment
// variable, so a variable that does not parse is an error only when its
// flag is not given. -h writes the settings to usage and returns
// errHelpShown; a flag that does not parse returns a *usageError (one
// line) and writes nothing.
func Load(name string, args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	level, ack := "info", string(c.Recorder.Ack)
	table := c.settings(&level, &ack)
	var errs []error
	envErrs := map[string]error{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, s := range table {
		if !s.secret {
			envErrs[s.flag] = s.fromEnv(getenv)
		}
		s.define(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\n%s\n\n", name, serveHelp)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, usage); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range table {
		switch {
		case set[s.flag]:
		case s.secret:
			errs = append(errs, s.fromEnv(getenv))
		default:
			errs = append(errs, envErrs[s.flag])
		}
		errs = append(errs, s.checkPositive())
	}

	// Settings Capgo reads from the environment only.
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

	if a, err := recorder.ParseAck(ack); err != nil {
		errs = append(errs, err)
	} else {
		c.Recorder.Ack = a
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if c.BundleSigner == "" {
		c.BundleSigner = c.defaultSigner()
	}
	errs = append(errs, c.validate()...)
	if err := errors.Join(errs...); err != nil {
		return c, &usageError{cmd: name, err: err}
	}
	return c, nil
}

// define adds s to fs, with its target's value as the default.
func (s setting) define(fs *flag.FlagSet) {
	usage := s.usage + " (" + strings.Join(s.env, " or ") + ")"
	switch t := s.target.(type) {
	case *string:
		fs.StringVar(t, s.flag, *t, usage)
	case *bool:
		fs.BoolVar(t, s.flag, *t, usage)
	case *int:
		fs.IntVar(t, s.flag, *t, usage)
	case *time.Duration:
		fs.Var(durationValue{t}, s.flag, usage)
	default:
		panic(fmt.Sprintf("setting %s: target %T", s.flag, s.target))
	}
}

// fromEnv sets the target from the first of s's variables that is set; a
// value that does not parse is an error and leaves the target as it was.
func (s setting) fromEnv(getenv func(string) string) error {
	var key, v string
	for _, key = range s.env {
		if v = getenv(key); v != "" {
			break
		}
	}
	if v == "" {
		return nil
	}
	switch t := s.target.(type) {
	case *string:
		*t = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a boolean", key, v)
		}
		*t = b
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", key, v)
		}
		*t = n
	case *time.Duration:
		d, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		*t = d
	}
	return nil
}

// checkPositive reports a number or duration that is not more than 0.
func (s setting) checkPositive() error {
	switch t := s.target.(type) {
	case *int:
		if *t < 1 {
			return fmt.Errorf("--%s (%s) %d: want at least 1", s.flag, strings.Join(s.env, " or "), *t)
		}
	case *time.Duration:
		if *t <= 0 {
			return fmt.Errorf("--%s (%s) %s: want more than 0", s.flag, strings.Join(s.env, " or "), *t)
		}
	}
	return nil
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

// durationValue is a duration flag that, like the environment variables,
// also takes bare seconds ("3600").
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil { // the zero value flag.PrintDefaults makes
		return "0s"
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// serveHelp heads `capgo-functions serve -h`.
const serveHelp = `Runs the server. Each flag has an environment variable (in parentheses);
a flag given wins over its variable. Durations are Go durations (10s, 1h30m)
or bare seconds (3600). The README's settings table explains each one.`
