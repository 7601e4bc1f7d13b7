package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// adminRun runs `capgo-functions admin args…` in-process with env and
// returns its exit status, stdout and stderr.
func adminRun(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := report(&errOut, run(context.Background(), append([]string{"admin"}, args...), envOf(env), &out, &errOut))
	return code, out.String(), errOut.String()
}

// webZip is a bundle zip as a web build gives it: index.html at the root.
func webZip(t *testing.T, dir, name string, entries ...string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		f, err := w.Create(e)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "<!doctype html><title>%s %s</title>", name, e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, buf.Bytes()
}

// updateAnswer posts an update check of a device on the builtin bundle to
// base and returns the decoded answer.
func updateAnswer(t *testing.T, base, appID, device, platform string) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"app_id":%q,"device_id":%q,"platform":%q,"version_build":"1.0.0",`+
		`"version_name":"builtin","plugin_version":"7.0.30","is_emulator":false,"is_prod":true}`, appID, device, platform)
	res, err := testclient.Client.Post(base+"/functions/v1/updates", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["status"] = res.StatusCode
	return m
}

// TestAdminCommandsEndToEnd runs the admin commands against the database
// and files folder of a running server, whose read model is only told of
// changes by the notify triggers (its time-to-live is longer than the
// test), and checks what devices are answered after each command.
func TestAdminCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	files := t.TempDir()
	env := map[string]string{"DATABASE_URL": dsn, "CAPGO_FILES_DIR": files}
	cfg, err := Load("test", []string{"--addr", "127.0.0.1:0", "--proxy=false", "--read-model-ttl", "1h",
		"--database-listen-url", pgtest.Direct(dsn)}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	base := startServe(t, cfg)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	const (
		app    = "com.example.app"
		devA   = "0c1d2e3f-0000-4000-8000-00000000000a"
		devB   = "0c1d2e3f-0000-4000-8000-00000000000b"
		devIOS = "0c1d2e3f-0000-4000-8000-0000000000c1"
	)
	admin := func(wantOut string, args ...string) {
		t.Helper()
		code, out, errOut := adminRun(t, env, args...)
		if code != exitOK || errOut != "" || !strings.Contains(out, wantOut) {
			t.Fatalf("admin %s: exit %d, stdout %q, stderr %q; want 0 and stdout containing %q", strings.Join(args, " "), code, out, errOut, wantOut)
		}
	}
	// expect waits until the device's answer has the fields of want: the
	// read model learns of a commit from its notification, asynchronously.
	// With a one-hour time-to-live, nothing else would refresh it.
	expect := func(step, device, platform string, want map[string]any) map[string]any {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := updateAnswer(t, base, app, device, platform)
			ok := true
			for k, v := range want {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					ok = false
				}
			}
			if ok {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s answered %v, want %v", step, device, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The app does not exist yet: the model holds that.
	expect("before", devA, "android", map[string]any{"status": 429, "error": "on_premise_app"})

	admin("created app com.example.app (\"com.example.app\") in new org ", "app", "create", "--app-id", app)
	// The plan check passes: the device is told there is no channel, not
	// to upgrade a plan.
	expect("app created", devA, "android", map[string]any{"status": 200, "error": "no_channel"})

	dir := t.TempDir()
	zip123, data123 := webZip(t, dir, "dist-1.2.3.zip", "index.html", "assets/app.js")
	sum := sha256.Sum256(data123)
	checksum := hex.EncodeToString(sum[:])
	var org string
	if err := pool.QueryRow(context.Background(), `SELECT owner_org::text FROM apps WHERE app_id = $1`, app).Scan(&org); err != nil {
		t.Fatal(err)
	}
	key := "orgs/" + org + "/apps/" + app + "/1.2.3.zip"
	admin("uploaded com.example.app 1.2.3: "+fmt.Sprint(len(data123))+" bytes to "+key+" in folder "+files+", checksum (sha256) "+checksum+"\n"+
		"channel production of com.example.app created: bundle 1.2.3, public, no self-set, platforms ios,android,electron, disable-auto-update major\n",
		"bundle", "upload", "--app-id", app, "--version", "1.2.3", "--zip", zip123, "--channel", "production")

	got := expect("bundle uploaded", devA, "android", map[string]any{"status": 200, "version": "1.2.3", "checksum": checksum})
	link, _ := got["url"].(string)
	// Served by files/read from the folder (the query is Capgo's key and
	// device_id, for the bandwidth record).
	short, _, _ := strings.Cut(link, "?")
	if want := base + "/functions/v1/files/read/attachments/" + key; short != want {
		t.Errorf("url %q, want %q?…", link, want)
	}
	downloaded := download(t, link, "", http.StatusOK)
	dsum := sha256.Sum256(downloaded)
	if !bytes.Equal(downloaded, data123) || hex.EncodeToString(dsum[:]) != checksum {
		t.Fatalf("downloaded %d bytes with sha256 %x, want the %d uploaded with %s", len(downloaded), dsum, len(data123), checksum)
	}

	// doctor checks it as a device does: update, download, checksum, zip.
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"doctor", "--url", base, "--app-id", app, "--skip-gateway",
		"--device-id", "0c1d2e3f-0000-4000-8000-0000000000dd"}, envOf(nil), &out, &errOut)
	report := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"PASS updates update to 1.2.3: url " + short + ", SHA-256 checksum, 0 manifest files",
		"PASS bundle.checksum sha256 " + checksum + " matches",
		"PASS bundle.zip 2 entries, index.html in the zip root",
		"0 failed",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	if err != nil {
		t.Errorf("doctor: %v\n%s", err, out.String())
	}

	// A second bundle, then the channel moved to it.
	zip124, _ := webZip(t, dir, "dist-1.2.4.zip", "www/index.html")
	admin("uploaded com.example.app 1.2.4: ", "bundle", "upload", "--app-id", app, "--version", "1.2.4", "--zip", zip124)
	admin("channel production of com.example.app updated: bundle 1.2.4, public,", "channel", "set", "--app-id", app, "--channel", "production", "--version", "1.2.4")
	expect("channel set to 1.2.4", devA, "android", map[string]any{"version": "1.2.4"})

	// A private channel and a device overridden to it.
	admin("channel beta of com.example.app created: bundle 1.2.3, private, self-set allowed, platforms ios,android,electron, disable-auto-update major",
		"channel", "set", "--app-id", app, "--channel", "beta", "--version", "1.2.3", "--self-set")
	admin("device 0c1d2e3f-0000-4000-8000-00000000000b of com.example.app: overridden to channel beta (was: none)",
		"device", "override", "--app-id", app, "--device-id", strings.ToUpper(devB), "--channel", "beta")
	expect("override", devB, "android", map[string]any{"version": "1.2.3"})
	expect("no override", devA, "android", map[string]any{"version": "1.2.4"})
	admin("device 0c1d2e3f-0000-4000-8000-00000000000b of com.example.app: override to channel beta removed",
		"device", "override", "--app-id", app, "--device-id", devB, "--remove")
	expect("override removed", devB, "android", map[string]any{"version": "1.2.4"})

	// Platforms and public: only the flags given change.
	admin("channel production of com.example.app updated: bundle 1.2.4, public, no self-set, platforms ios, disable-auto-update major",
		"channel", "set", "--app-id", app, "--channel", "production", "--platforms", "ios")
	expect("production for ios only", devA, "android", map[string]any{"status": 200, "error": "no_channel"})
	expect("production for ios only", devIOS, "ios", map[string]any{"version": "1.2.4"})
	admin("channel beta of com.example.app updated: bundle 1.2.3, public, self-set allowed, platforms android, disable-auto-update major",
		"channel", "set", "--app-id", app, "--channel", "beta", "--public", "--platforms", "android")
	expect("beta public for android", devA, "android", map[string]any{"version": "1.2.3"})
	admin("channel beta of com.example.app updated: bundle 1.2.3, private,", "channel", "set", "--app-id", app, "--channel", "beta", "--public=false")
	expect("beta private", devA, "android", map[string]any{"status": 200, "error": "no_channel"})
	expect("production untouched", devIOS, "ios", map[string]any{"version": "1.2.4"})

	t.Run("refusals", func(t *testing.T) { adminRefusals(t, env, pool, files, dir) })
}

// adminRefusals: each bad command exits with its status and one line
// (plus where the help is, for a wrong command line) and writes nothing.
func adminRefusals(t *testing.T, env map[string]string, pool *pgxpool.Pool, files, dir string) {
	const app = "com.example.app"
	good, _ := webZip(t, dir, "good.zip", "index.html")
	notZip := filepath.Join(dir, "index.html")
	if err := os.WriteFile(notZip, []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	noIndex, _ := webZip(t, dir, "no-index.zip", "a/index.html", "b/index.html")
	state := func() string {
		var s string
		err := pool.QueryRow(context.Background(), `SELECT format('%s orgs, %s apps, %s bundles, %s channels %s, %s overrides',
			(SELECT count(*) FROM orgs), (SELECT count(*) FROM apps), (SELECT count(*) FROM app_versions),
			(SELECT count(*) FROM channels), (SELECT string_agg(concat_ws(':', name, version, "public", ios, android, electron,
				allow_device_self_set, disable_auto_update), ' ' ORDER BY name) FROM channels),
			(SELECT count(*) FROM channel_devices))`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		filepath.WalkDir(files, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return err
		})
		return s + "; files " + strings.Join(names, " ")
	}
	before := state()
	hint := func(cmd string) string { return "see 'capgo-functions admin " + cmd + " --help'\n" }
	s3 := map[string]string{"S3_ENDPOINT": "http://127.0.0.1:1", "S3_ACCESS_KEY_ID": "k", "S3_SECRET_ACCESS_KEY": "s"}
	for _, tc := range []struct {
		args   []string
		env    map[string]string // over env; "" removes a variable
		code   int
		stderr string
	}{
		{[]string{}, nil, 2, "capgo-functions: admin: want app create, bundle upload, channel set or device override\nsee 'capgo-functions admin --help'\n"},
		{[]string{"app", "delete"}, nil, 2, "capgo-functions: admin: unknown command \"app delete\" (want app create, bundle upload, channel set or device override)\nsee 'capgo-functions admin --help'\n"},
		{[]string{"app", "create", "--nope"}, nil, 2, "capgo-functions: flag provided but not defined: -nope\n" + hint("app create")},
		{[]string{"app", "create"}, nil, 2, "capgo-functions: --app-id is required\n" + hint("app create")},
		{[]string{"app", "create", "--app-id", "example"}, nil, 2, "capgo-functions: app id \"example\": want a reverse domain name like com.example.app\n" + hint("app create")},
		{[]string{"app", "create", "--app-id", app}, nil, 1, "capgo-functions: admin app create: app com.example.app already exists\n"},
		{[]string{"app", "create", "--app-id", "com.example.new", "--database-url", "mysql://x"}, nil, 2, "capgo-functions: database URL \"mysql://x\": want postgres://… or postgresql://…\n" + hint("app create")},
		{[]string{"bundle", "upload", "--app-id", "com.example.nope", "--version", "1.0.0", "--zip", good}, nil, 1,
			"capgo-functions: admin bundle upload: app com.example.nope does not exist (capgo-functions admin app create --app-id com.example.nope)\n"},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.2", "--zip", good}, nil, 2, "capgo-functions: --version \"1.2\": want a semantic version like 1.2.3\n" + hint("bundle upload")},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0"}, nil, 2, "capgo-functions: --zip is required\n" + hint("bundle upload")},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.2.3", "--zip", good, "--channel", "production"}, nil, 1,
			"capgo-functions: admin bundle upload: app com.example.app already has a bundle 1.2.3\n"},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", good + ".missing"}, nil, 1,
			"capgo-functions: admin bundle upload: read the zip: open " + good + ".missing: no such file or directory\n"},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", notZip}, nil, 1,
			"capgo-functions: admin bundle upload: " + notZip + ": not a zip archive: zip: not a valid zip file\n"},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", noIndex}, nil, 1,
			"capgo-functions: admin bundle upload: " + noIndex + ": no index.html at the bundle root or in a single top-level folder: the device fails to set the bundle (set_fail)\n"},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", good}, map[string]string{"CAPGO_FILES_DIR": ""}, 2,
			"capgo-functions: no bundle storage: set --files-dir (CAPGO_FILES_DIR) or --s3-endpoint (S3_ENDPOINT) as for serve\n" + hint("bundle upload")},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", good}, s3, 2,
			"capgo-functions: --files-dir (CAPGO_FILES_DIR) and --s3-endpoint (S3_ENDPOINT) are both set: serve reads one storage, choose one\n" + hint("bundle upload")},
		{[]string{"bundle", "upload", "--app-id", app, "--version", "1.3.0", "--zip", good, "--files-dir", good}, nil, 2,
			"capgo-functions: bundledir: " + good + " is not a folder\n" + hint("bundle upload")},
		{[]string{"channel", "set", "--app-id", app, "--channel", "production", "--platforms", "ios,web"}, nil, 2,
			"capgo-functions: platform \"web\": want ios, android or electron\n" + hint("channel set")},
		{[]string{"channel", "set", "--app-id", app, "--channel", "production", "--disable-auto-update", "all"}, nil, 2,
			"capgo-functions: disable auto update \"all\": want one of none, major, minor, patch, version_number\n" + hint("channel set")},
		{[]string{"channel", "set", "--app-id", app, "--channel", "production", "--public=maybe"}, nil, 2,
			"capgo-functions: invalid boolean value \"maybe\" for -public: parse error\n" + hint("channel set")},
		{[]string{"channel", "set", "--app-id", app, "--channel", "production", "--version", "9.9.9"}, nil, 1,
			"capgo-functions: admin channel set: app com.example.app has no bundle 9.9.9 (capgo-functions admin bundle upload)\n"},
		{[]string{"channel", "set", "--app-id", "com.example.nope", "--channel", "production"}, nil, 1,
			"capgo-functions: admin channel set: app com.example.nope does not exist (capgo-functions admin app create --app-id com.example.nope)\n"},
		{[]string{"device", "override", "--app-id", app, "--device-id", "0c1d2e3f-0000-4000-8000-00000000000a", "--channel", "nope"}, nil, 1,
			"capgo-functions: admin device override: app com.example.app has no channel nope (capgo-functions admin channel set)\n"},
		{[]string{"device", "override", "--app-id", app, "--device-id", "my-phone", "--channel", "beta"}, nil, 2,
			"capgo-functions: device id \"my-phone\": want the UUID the device sends, like 6f0e3c2a-0000-4000-8000-00000000aaaa\n" + hint("device override")},
		{[]string{"device", "override", "--app-id", app, "--device-id", "0c1d2e3f-0000-4000-8000-00000000000a"}, nil, 2,
			"capgo-functions: --channel NAME or --remove is required\n" + hint("device override")},
		{[]string{"device", "override", "--app-id", app, "--device-id", "0c1d2e3f-0000-4000-8000-00000000000a", "--channel", "beta", "--remove"}, nil, 2,
			"capgo-functions: --channel and --remove: give one\n" + hint("device override")},
		{[]string{"device", "override", "--app-id", app, "--device-id", "0c1d2e3f-0000-4000-8000-00000000000a", "--remove"}, nil, 1,
			"capgo-functions: admin device override: device 0c1d2e3f-0000-4000-8000-00000000000a has no override in app com.example.app\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			e := maps.Clone(env)
			for k, v := range tc.env {
				if v == "" {
					delete(e, k)
				} else {
					e[k] = v
				}
			}
			code, out, errOut := adminRun(t, e, tc.args...)
			if code != tc.code || errOut != tc.stderr || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, no stdout, stderr:\n%s", code, out, errOut, tc.code, tc.stderr)
			}
			if after := state(); after != before {
				t.Errorf("wrote:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// TestAdminHelp: admin --help and each command's --help list the flags
// and exit 0, without printing a secret from the environment.
func TestAdminHelp(t *testing.T) {
	t.Parallel()
	env := map[string]string{"S3_SECRET_ACCESS_KEY": "sekrit-value", "DATABASE_URL": "postgresql://u@h/db"}
	for _, tc := range []struct {
		args []string
		has  []string
	}{
		{[]string{"--help"}, []string{"usage: capgo-functions admin COMMAND", "app create", "bundle upload", "channel set", "device override", "npx @capgo/cli app add", "Exit status"}},
		{[]string{"-h"}, []string{"usage: capgo-functions admin COMMAND"}},
		{[]string{"app", "create", "--help"}, []string{"usage: capgo-functions admin app create --app-id ID [--name NAME]", "-app-id", "-name", "-database-url", "postgresql://u@h/db", "npx @capgo/cli app add"}},
		{[]string{"bundle", "upload", "-h"}, []string{"usage: capgo-functions admin bundle upload --app-id ID --version 1.2.3 --zip dist.zip [--channel NAME]", "-zip", "-channel", "-files-dir", "CAPGO_FILES_DIR", "-s3-endpoint", "-s3-secret-access-key", "-s3-ssl", "SHA-256"}},
		{[]string{"channel", "set", "--help"}, []string{"-platforms", "-public", "-self-set", "-disable-auto-update", "-version", "only the flags given are changed"}},
		{[]string{"device", "override", "--help"}, []string{"-device-id", "-remove", "-channel"}},
	} {
		code, out, errOut := adminRun(t, env, tc.args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		for _, want := range tc.has {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, want, out)
			}
		}
		if strings.Contains(out, "sekrit") {
			t.Errorf("%v: help prints the secret:\n%s", tc.args, out)
		}
	}
}
