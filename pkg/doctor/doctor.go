// Package doctor checks a running deployment the way a device does: it
// asks /functions/v1/updates for an app, validates the answer against the
// plugin's rules (Cap-go/capacitor-updater, see validateAnswer), downloads
// the offered bundle and checks its checksum and layout and every manifest
// file, sends a stat and a channel query, and checks that other paths
// reach the Supabase gateway behind the server.
//
// Every check yields one [Check] line (PASS, WARN, FAIL or SKIP with a
// detail); a FAIL means a device would fail or a part of the deployment is
// missing. Network I/O is bounded by Options.Timeout per API call and
// Options.DownloadTimeout per download.
//
// The checks write what a device writes: a devices row for DeviceID, the
// stats rows of the update check, a `set` stat and a channel query.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// Defaults for zero Options fields.
const (
	DefaultPluginVersion   = "8.51.14" // the current plugin's pluginVersion (CapacitorUpdaterPlugin.java)
	DefaultPlatform        = "android"
	DefaultVersionBuild    = "1.0.0"
	DefaultTimeout         = 10 * time.Second
	DefaultDownloadTimeout = 2 * time.Minute
	DefaultMaxBundleSize   = 512 << 20
	// manifestConcurrency is how many manifest files are fetched at once
	// (the plugin uses 8 or more per host).
	manifestConcurrency = 8
)

// Options say which deployment to check and as which device.
type Options struct {
	// BaseURL is where devices reach the server, e.g. http://127.0.0.1:54321
	// (the updateUrl without /functions/v1/updates).
	BaseURL string
	AppID   string
	// DeviceID is the device to pose as; "" means a random lower-case UUID.
	DeviceID string
	// VersionBuild is the native version; "" means DefaultVersionBuild.
	VersionBuild string
	// VersionName is the running bundle; "" means VersionBuild (the device
	// runs its builtin bundle, as plugins ≥ 8.44 report it).
	VersionName    string
	PluginVersion  string // "" means DefaultPluginVersion
	Platform       string // android, ios or electron; "" means DefaultPlatform
	DefaultChannel string
	KeyID          string
	IsEmulator     bool
	IsDev          bool // is_prod false
	// SkipGateway leaves out the Supabase gateway checks (for a server run
	// without the proxy on purpose).
	SkipGateway bool

	// Client makes every request; nil means a client with its own
	// connection pool (timeouts come from the two fields below).
	Client          *http.Client
	Timeout         time.Duration // per API call; 0 means DefaultTimeout
	DownloadTimeout time.Duration // per download; 0 means DefaultDownloadTimeout
	MaxBundleSize   int64         // bytes; 0 means DefaultMaxBundleSize
}

// Status is the outcome of a check.
type Status string

// The outcomes. Only FAIL makes a report fail.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Check is one line of the report.
type Check struct {
	Name   string
	Status Status
	Detail string
}

// Report is every check in the order run.
type Report struct {
	// Target says what was checked, as whom.
	Target string
	Checks []Check
}

// Failed is the number of FAIL checks.
func (r Report) Failed() int { return r.count(Fail) }

func (r Report) count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Find returns the first check named name.
func (r Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// WriteTo prints one line per check and a summary line.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	if r.Target != "" {
		b.WriteString(r.Target + "\n")
	}
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", c.Status, width, c.Name, c.Detail)
	}
	fmt.Fprintf(&b, "%d passed, %d warnings, %d failed, %d skipped\n",
		r.count(Pass), r.count(Warn), r.count(Fail), r.count(Skip))
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// doctor runs the checks of one Run.
type doctor struct {
	o      Options
	base   string
	client *http.Client
	report Report
}

func (d *doctor) add(name string, s Status, format string, args ...any) {
	d.report.Checks = append(d.report.Checks, Check{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
}

// Run checks the deployment. It returns an error only for invalid options;
// everything the deployment gets wrong is in the report.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.fill(); err != nil {
		return Report{}, err
	}
	d := &doctor{o: o, base: strings.TrimRight(o.BaseURL, "/"), client: o.Client}
	if d.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // the deployment is checked directly
		d.client = &http.Client{Transport: t}
	}
	d.report.Target = fmt.Sprintf("capgo-functions doctor: %s as app %s, device %s (%s, version_build %s, version_name %s, plugin %s)",
		d.base, o.AppID, o.DeviceID, o.Platform, o.VersionBuild, o.VersionName, o.PluginVersion)

	offer := d.checkUpdates(ctx)
	d.checkBundle(ctx, offer)
	d.checkStats(ctx, offer)
	d.checkChannel(ctx)
	if o.SkipGateway {
		d.add("gateway", Skip, "--skip-gateway")
	} else {
		d.checkGateway(ctx)
	}
	return d.report, nil
}

func (o *Options) fill() error {
	var errs []error
	if err := checkHTTPURL(o.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("base URL: %w", err))
	}
	if o.AppID == "" {
		errs = append(errs, errors.New("app id is required"))
	}
	if o.DeviceID == "" {
		o.DeviceID = plugin.NewUUID()
	}
	if o.VersionBuild == "" {
		o.VersionBuild = DefaultVersionBuild
	}
	if o.VersionName == "" {
		o.VersionName = o.VersionBuild
	}
	if o.PluginVersion == "" {
		o.PluginVersion = DefaultPluginVersion
	}
	if o.Platform == "" {
		o.Platform = DefaultPlatform
	}
	switch o.Platform {
	case "android", "ios", "electron":
	default:
		errs = append(errs, fmt.Errorf("platform %q: want android, ios or electron", o.Platform))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DownloadTimeout == 0 {
		o.DownloadTimeout = DefaultDownloadTimeout
	}
	if o.MaxBundleSize == 0 {
		o.MaxBundleSize = DefaultMaxBundleSize
	}
	if o.Timeout < 0 || o.DownloadTimeout < 0 || o.MaxBundleSize < 0 {
		errs = append(errs, errors.New("timeouts and the bundle size limit must be positive"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("doctor: %w", errors.Join(errs...))
	}
	return nil
}

// checkHTTPURL accepts an absolute http(s) URL with a host.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("empty: want http(s)://host[:port]")
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("%q: want an absolute http(s) URL", raw)
	}
	return nil
}

// userAgent is the plugin's (DownloadService.buildUserAgent).
func (d *doctor) userAgent() string {
	osVersion := "14"
	if d.o.Platform == "ios" {
		osVersion = "17.5"
	}
	return fmt.Sprintf("CapacitorUpdater/%s (%s) %s/%s", d.o.PluginVersion, d.o.AppID, d.o.Platform, osVersion)
}

// shortURL names a URL in the report without its query (signed URLs carry
// credentials).
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%.80q", raw)
	}
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if len(s) > 200 {
		s = s[:120] + "…" + s[len(s)-79:]
	}
	return s
}

// excerpt is the start of a body for the report.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
