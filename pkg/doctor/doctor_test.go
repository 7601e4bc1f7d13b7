package doctor_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	channelself "github.com/capgo-functions/capgo-functions/functions/channel_self"
	"github.com/capgo-functions/capgo-functions/functions/stats"
	"github.com/capgo-functions/capgo-functions/functions/updates"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/s3test"
	"github.com/capgo-functions/capgo-functions/internal/testenv/storagetest"
	"github.com/capgo-functions/capgo-functions/pkg/bundleurl"
	"github.com/capgo-functions/capgo-functions/pkg/doctor"
	"github.com/capgo-functions/capgo-functions/pkg/gateway"
	"github.com/capgo-functions/capgo-functions/pkg/server"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	demoApp = "com.demo.app"
	demoOrg = "046a36ac-e03c-4590-9257-bd6c9dba9ee8"
	// bundleKey is app_versions.r2_path of 1.0.0, the bundle of the public
	// android channel "production" in the seed.
	bundleKey = "orgs/" + demoOrg + "/apps/" + demoApp + "/1.0.0.zip"
)

// bundle is a real web bundle zip: a top-level folder holding index.html,
// as the Capgo CLI uploads it.
func bundle(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"dist/index.html":     `<!doctype html><script src="js/app.js"></script>`,
		"dist/js/app.js":      strings.Repeat("console.log('capgo');\n", 2000),
		"dist/assets/app.css": "body{margin:0}",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// kongStub stands in for Kong behind the gateway proxy (Kong cannot run
// here): PostgREST's root, the edge runtime's health probe, and, when
// storage is not nil, /storage/v1 forwarded to the Storage stand-in.
func kongStub(t *testing.T, storage *storagetest.Server) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rest/v1/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "postgrest/12.2.3")
		w.Header().Set("Content-Type", "application/openapi+json")
		_, _ = io.WriteString(w, `{"swagger":"2.0","info":{"title":"standard public schema"}}`)
	})
	mux.HandleFunc("GET /functions/v1/_internal/health", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"message":"ok"}`)
	})
	if storage != nil {
		u, _ := url.Parse(storage.URL)
		mux.Handle("/storage/v1/", httputil.NewSingleHostReverseProxy(u))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// deployment is the real router (updates, stats and channel_self on a
// fresh seeded database) behind an httptest server, optionally in front of
// the gateway proxy.
type deployment struct {
	t    *testing.T
	pool *pgxpool.Pool
	url  string
}

// newDeployment starts the server. upstream is the Supabase gateway the
// proxy forwards to; "" runs without the proxy.
func newDeployment(t *testing.T, signer updates.BundleSigner, upstream string) *deployment {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := pgstore.New(pool)
	log := slog.New(slog.DiscardHandler)
	uh, err := updates.New(updates.Deps{Store: st, Recorder: st.Recorder(), Signer: signer, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := stats.New(stats.Deps{Store: st, Recorder: st.Recorder(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channelself.New(channelself.Deps{Store: st, Recorder: st.Recorder(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{
		Functions: []server.Function{
			{Name: "updates", Handler: uh, CORS: true},
			{Name: "stats", Handler: sh, Methods: []string{http.MethodPost, http.MethodGet}},
			{Name: "channel_self", Handler: ch, Methods: []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet}},
		},
		Log: log,
	}
	if upstream != "" {
		gw, err := gateway.New(gateway.Options{Upstream: upstream, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		opts.Fallback = gw
	}
	srv := httptest.NewServer(server.New(opts))
	t.Cleanup(srv.Close)
	return &deployment{t: t, pool: pool, url: srv.URL}
}

func (d *deployment) exec(sql string, args ...any) {
	d.t.Helper()
	if _, err := d.pool.Exec(context.Background(), sql, args...); err != nil {
		d.t.Fatalf("exec %q: %v", sql, err)
	}
}

// setChecksum stores the bundle's checksum on 1.0.0.
func (d *deployment) setChecksum(sum string) {
	d.exec(`UPDATE public.app_versions SET checksum = $1 WHERE app_id = $2 AND name = '1.0.0'`, sum, demoApp)
}

// run runs the doctor as an android device running bundle 0.9.0 on native
// 1.0.0, which the seed's production channel moves to bundle 1.0.0.
func (d *deployment) run(o doctor.Options) doctor.Report {
	d.t.Helper()
	o.BaseURL = d.url
	o.AppID = demoApp
	o.VersionBuild = "1.0.0"
	o.VersionName = "0.9.0"
	if o.DeviceID == "" {
		o.DeviceID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	}
	o.Timeout, o.DownloadTimeout = 10*time.Second, 30*time.Second
	r, err := doctor.Run(context.Background(), o)
	if err != nil {
		d.t.Fatal(err)
	}
	var b strings.Builder
	_, _ = r.WriteTo(&b)
	d.t.Logf("report:\n%s", b.String())
	return r
}

// want checks the status of the named checks and that each detail holds
// the given text.
func want(t *testing.T, r doctor.Report, checks map[string]struct {
	status doctor.Status
	detail string
}) {
	t.Helper()
	for name, w := range checks {
		c, ok := r.Find(name)
		if !ok {
			t.Errorf("no %s check", name)
			continue
		}
		if c.Status != w.status || !strings.Contains(c.Detail, w.detail) {
			t.Errorf("%s: %s %q, want %s containing %q", name, c.Status, c.Detail, w.status, w.detail)
		}
	}
}

type line = struct {
	status doctor.Status
	detail string
}

// failures lists the failed checks.
func failures(r doctor.Report) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == doctor.Fail {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return out
}

func newS3Signer(t *testing.T, s3 *s3test.Server) *bundleurl.S3 {
	t.Helper()
	signer, err := bundleurl.NewS3(bundleurl.S3Options{
		Endpoint: s3.Endpoint, Region: s3.Region, Bucket: "capgo",
		AccessKeyID: s3.AccessKeyID, SecretAccessKey: s3.SecretAccessKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// TestDoctorS3 runs the doctor against the router with the S3 signer and a
// real S3 server holding the bundle.
func TestDoctorS3(t *testing.T) {
	t.Parallel()
	zipData := bundle(t)
	s3 := s3test.Start(t)
	s3.CreateBucket(t, "capgo")
	s3.PutObject(t, "capgo", bundleKey, zipData)
	signer := newS3Signer(t, s3)
	kong := kongStub(t, nil)

	t.Run("healthy deployment passes", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, kong.URL)
		d.setChecksum(sha256Hex(zipData))
		const device = "0b7d9a52-6a0e-4c51-9d0e-5f3c2a1b4e6d"
		r := d.run(doctor.Options{DeviceID: device})
		want(t, r, map[string]line{
			"updates":           {doctor.Pass, "update to 1.0.0: url " + s3.Endpoint + "/capgo/" + bundleKey + ", SHA-256 checksum, 0 manifest files"},
			"bundle.download":   {doctor.Pass, fmt.Sprintf("200, %d bytes", len(zipData))},
			"bundle.checksum":   {doctor.Pass, "sha256 " + sha256Hex(zipData) + " matches"},
			"bundle.zip":        {doctor.Pass, "3 entries, index.html in dist/ (the single top-level folder)"},
			"bundle.range":      {doctor.Pass, fmt.Sprintf("Range bytes=1- answered 206 with %d bytes", len(zipData)-1)},
			"stats":             {doctor.Pass, `set 1.0.0 recorded: HTTP 200 {"status":"ok","results":[{"status":"ok","index":0}]}`},
			"channel_self":      {doctor.Pass, `channel "production" (status default)`},
			"gateway.rest":      {doctor.Pass, "GET /rest/v1/ reached Supabase: HTTP 200 (postgrest/12.2.3)"},
			"gateway.functions": {doctor.Pass, "HEAD /functions/v1/_internal/health: 200"},
		})
		// What a device writes: the devices row (last written by the
		// channel query, with the running version the device reports), the
		// get stat of the update check, the set stat, the getChannel stat.
		var row string
		if err := d.pool.QueryRow(context.Background(), `SELECT concat_ws(' ', app_id, platform, version_name, version_build, plugin_version, is_prod, is_emulator)
			FROM public.devices WHERE device_id = $1`, device).Scan(&row); err != nil {
			t.Fatalf("devices row: %v", err)
		}
		if want := "com.demo.app android 0.9.0 1.0.0 8.51.14 t f"; row != want {
			t.Errorf("devices row %q, want %q", row, want)
		}
		var got []string
		rows, err := d.pool.Query(context.Background(), `SELECT action || ' ' || version_name FROM public.stats WHERE device_id = $1 ORDER BY id`, device)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		if d := cmp.Diff([]string{"get 1.0.0", "set 1.0.0", "getChannel 0.9.0"}, got); d != "" {
			t.Errorf("stats rows (-want +got):\n%s", d)
		}
	})

	t.Run("missing bundle object fails the download", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, kong.URL)
		d.exec(`UPDATE public.app_versions SET r2_path = $1, checksum = $2 WHERE app_id = $3 AND name = '1.0.0'`,
			"orgs/"+demoOrg+"/apps/"+demoApp+"/missing.zip", sha256Hex(zipData), demoApp)
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"updates":         {doctor.Pass, "update to 1.0.0"},
			"bundle.download": {doctor.Fail, "/capgo/orgs/" + demoOrg + "/apps/" + demoApp + "/missing.zip: HTTP 404, want 200 (the plugin fails the download): <?xml"},
		})
		if _, ok := r.Find("bundle.checksum"); ok {
			t.Error("no checksum check without a download")
		}
		if f := failures(r); len(f) != 1 {
			t.Errorf("failures %q, want 1", f)
		}
	})

	t.Run("wrong checksum fails", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, kong.URL)
		other := sha256Hex([]byte("another bundle"))
		d.setChecksum(other)
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"bundle.download": {doctor.Pass, "200"},
			"bundle.checksum": {doctor.Fail, "checksum " + other + " does not match the zip (sha256 " + sha256Hex(zipData)},
		})
		if f := failures(r); len(f) != 1 {
			t.Errorf("failures %q, want 1", f)
		}
	})

	t.Run("legacy CRC32 checksum warns", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, kong.URL)
		d.setChecksum(fmt.Sprintf("%08x", crc32.ChecksumIEEE(zipData)))
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"updates":         {doctor.Pass, "CRC32 checksum"},
			"bundle.checksum": {doctor.Warn, "legacy CRC32"},
		})
		if f := failures(r); len(f) != 0 {
			t.Errorf("failures %q, want none", f)
		}
	})

	t.Run("proxy off", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, "")
		d.setChecksum(sha256Hex(zipData))
		r := d.run(doctor.Options{})
		if f := failures(r); len(f) != 2 {
			t.Errorf("failures %q, want the 2 gateway checks", f)
		}
		want(t, r, map[string]line{
			"bundle.checksum":   {doctor.Pass, "matches"},
			"gateway.rest":      {doctor.Fail, "proxy off: GET /rest/v1/ got capgo-functions' own 404"},
			"gateway.functions": {doctor.Fail, "404: not forwarded to the edge runtime (proxy off?)"},
		})
		r = d.run(doctor.Options{SkipGateway: true})
		want(t, r, map[string]line{"gateway": {doctor.Skip, "--skip-gateway"}})
	})

	t.Run("proxy on, Supabase down", func(t *testing.T) {
		t.Parallel()
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		d := newDeployment(t, signer, down.URL)
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"gateway.rest":      {doctor.Fail, "proxy on, Supabase unreachable: GET /rest/v1/ HTTP 502"},
			"gateway.functions": {doctor.Fail, "HTTP 502, want 200"},
		})
	})

	t.Run("app without a channel", func(t *testing.T) {
		t.Parallel()
		d := newDeployment(t, signer, kong.URL)
		d.exec(`DELETE FROM public.channels WHERE app_id = $1`, demoApp)
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"updates": {doctor.Warn, "the device records download_fail: no_channel"},
			"bundle":  {doctor.Skip, "no bundle offered"},
			"stats":   {doctor.Warn, "the set event for the running version 0.9.0 was refused: the app has no bundle 0.9.0"},
		})
	})
}

// TestDoctorStorage runs the doctor with the Supabase Storage signer, the
// links going through the server's gateway proxy to the Storage stand-in,
// as with a local `supabase start` behind capgo-functions.
func TestDoctorStorage(t *testing.T) {
	t.Parallel()
	zipData := bundle(t)
	storage := storagetest.Start(t, storagetest.Options{})
	storage.PutObject("capgo", bundleKey, zipData)
	kong := kongStub(t, storage)

	modes := map[string]bundleurl.StorageOptions{
		"offline with the JWT secret": {JWTSecret: storage.JWTSecret},
		"through the Storage API":     {APIURL: kong.URL, ServiceKey: storagetest.LocalSecretKey},
	}
	for mode, o := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			signer, err := bundleurl.NewStorage(o)
			if err != nil {
				t.Fatal(err)
			}
			d := newDeployment(t, signer, kong.URL)
			d.setChecksum(sha256Hex(zipData))
			r := d.run(doctor.Options{})
			want(t, r, map[string]line{
				"updates":         {doctor.Pass, "update to 1.0.0: url " + d.url + "/storage/v1/object/sign/capgo/" + bundleKey},
				"bundle.download": {doctor.Pass, "200"},
				"bundle.checksum": {doctor.Pass, "matches"},
				"bundle.zip":      {doctor.Pass, "index.html in dist/"},
				"bundle.range":    {doctor.Pass, "206"},
			})
			if f := failures(r); len(f) != 0 {
				t.Errorf("failures %q, want none", f)
			}
		})
	}

	t.Run("missing object", func(t *testing.T) {
		t.Parallel()
		signer, err := bundleurl.NewStorage(bundleurl.StorageOptions{JWTSecret: storage.JWTSecret})
		if err != nil {
			t.Fatal(err)
		}
		d := newDeployment(t, signer, kong.URL)
		d.exec(`UPDATE public.app_versions SET r2_path = 'orgs/x/apps/y/gone.zip' WHERE app_id = $1 AND name = '1.0.0'`, demoApp)
		r := d.run(doctor.Options{})
		want(t, r, map[string]line{
			"bundle.download": {doctor.Fail, `/storage/v1/object/sign/capgo/orgs/x/apps/y/gone.zip: HTTP 400, want 200 (the plugin fails the download): {"code":"NoSuchKey"`},
		})
	})
}

// TestDoctorServerDown: nothing listens; every check fails cleanly.
func TestDoctorServerDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	r, err := doctor.Run(context.Background(), doctor.Options{BaseURL: srv.URL, AppID: demoApp, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, map[string]line{
		"updates":      {doctor.Fail, "POST /functions/v1/updates: dial tcp"},
		"bundle":       {doctor.Skip, "no valid update answer"},
		"stats":        {doctor.Fail, "connection refused"},
		"channel_self": {doctor.Fail, "connection refused"},
		"gateway.rest": {doctor.Fail, "unreachable"},
	})
}

func TestDoctorOptions(t *testing.T) {
	t.Parallel()
	_, err := doctor.Run(context.Background(), doctor.Options{BaseURL: "localhost:54321", Platform: "windows"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"base URL", "want an absolute http(s) URL", "app id is required", `platform "windows"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
