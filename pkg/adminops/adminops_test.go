package adminops_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/adminops"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// connect opens a new seeded database.
func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.Direct(pgtest.NewDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// rowCounts are the rows of every table the operations write.
func rowCounts(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s string
	err := conn.QueryRow(context.Background(), `SELECT format('orgs=%s apps=%s app_versions=%s channels=%s channel_devices=%s',
		(SELECT count(*) FROM orgs), (SELECT count(*) FROM apps), (SELECT count(*) FROM app_versions),
		(SELECT count(*) FROM channels), (SELECT count(*) FROM channel_devices))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeZip writes a zip of the named files (content: the name) and returns
// its path and bytes.
func makeZip(t *testing.T, names ...string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		f, err := w.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("<!-- " + n + " -->"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dist.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, buf.Bytes()
}

// files lists the files under dir, relative, with forward slashes.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newDir(t *testing.T) (*adminops.Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := adminops.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

func TestCreateApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t)
	a, err := adminops.CreateApp(ctx, conn, "com.example.app", "")
	if err != nil {
		t.Fatal(err)
	}
	if !a.OrgCreated || a.Name != "com.example.app" {
		t.Errorf("first app: %+v, want a new org and the app id as name", a)
	}
	// The org has no Stripe customer: the plan check needs no billing rows.
	if n := count(t, conn, `SELECT count(*) FROM orgs WHERE id = $1 AND customer_id IS NULL AND name = $2 AND created_by = $3`,
		a.OwnerOrg, adminops.OrgName, adminops.Owner); n != 1 {
		t.Errorf("org rows: %d, want 1", n)
	}
	if n := count(t, conn, `SELECT count(*) FROM apps WHERE app_id = 'com.example.app' AND owner_org = $1 AND user_id = $2`, a.OwnerOrg, adminops.Owner); n != 1 {
		t.Errorf("app rows: %d, want 1", n)
	}

	b, err := adminops.CreateApp(ctx, conn, "com.example.other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	if b.OrgCreated || b.OwnerOrg != a.OwnerOrg || b.Name != "Other" {
		t.Errorf("second app: %+v, want the same org %s", b, a.OwnerOrg)
	}

	before := rowCounts(t, conn)
	_, err = adminops.CreateApp(ctx, conn, "com.example.app", "")
	if err == nil || err.Error() != "app com.example.app already exists" {
		t.Errorf("duplicate: %v", err)
	}
	for _, id := range []string{"", "example", "com.example.app!", "com." + strings.Repeat("a", 47)} {
		_, err := adminops.CreateApp(ctx, conn, id, "")
		var in *adminops.InputError
		if !errors.As(err, &in) {
			t.Errorf("app id %q: %v, want an InputError", id, err)
		}
	}
	if after := rowCounts(t, conn); after != before {
		t.Errorf("refusals wrote rows: %s, was %s", after, before)
	}
}

// TestCapgoDatabaseRefused: on Capgo's own schema (orgs.created_by
// references users; org_users exists) and on a database without the
// tables, every operation refuses before writing.
func TestCapgoDatabaseRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	zipPath, _ := makeZip(t, "index.html")
	yes := true
	ops := map[string]func(*pgx.Conn, adminops.Storage) error{
		"app create": func(c *pgx.Conn, _ adminops.Storage) error {
			_, err := adminops.CreateApp(ctx, c, "com.example.app", "")
			return err
		},
		"bundle upload": func(c *pgx.Conn, st adminops.Storage) error {
			_, err := adminops.UploadBundle(ctx, c, st, adminops.BundleUpload{AppID: "com.demo.app", Version: "2.0.0", ZipPath: zipPath, Channel: "production"})
			return err
		},
		"channel set": func(c *pgx.Conn, _ adminops.Storage) error {
			_, err := adminops.SetChannel(ctx, c, adminops.ChannelChange{AppID: "com.demo.app", Name: "beta", Public: &yes})
			return err
		},
		"device override": func(c *pgx.Conn, _ adminops.Storage) error {
			_, err := adminops.OverrideDevice(ctx, c, "com.demo.app", "6f0e3c2a-0000-4000-8000-00000000aaaa", "beta")
			return err
		},
	}
	for _, schema := range []struct {
		name, sql, want string
	}{
		{"org_users", `CREATE TABLE public.org_users (org_id uuid, user_id uuid)`, "this is Capgo's own database"},
		{"orgs.created_by references users", `CREATE TABLE public.users (id uuid PRIMARY KEY);
			INSERT INTO public.users SELECT DISTINCT created_by FROM public.orgs;
			ALTER TABLE public.orgs ADD CONSTRAINT orgs_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users (id)`, "this is Capgo's own database"},
		{"no tables", `DROP SCHEMA public CASCADE; CREATE SCHEMA public`, "this database has no public.apps table"},
	} {
		t.Run(schema.name, func(t *testing.T) {
			t.Parallel()
			conn := connect(t)
			exec(t, conn, schema.sql)
			st, root := newDir(t)
			before := ""
			if schema.name != "no tables" {
				before = rowCounts(t, conn)
			}
			for name, op := range ops {
				err := op(conn, st)
				if err == nil || !strings.HasPrefix(err.Error(), schema.want) {
					t.Errorf("%s: %v, want %q…", name, err, schema.want)
				}
			}
			if before != "" {
				if after := rowCounts(t, conn); after != before {
					t.Errorf("rows written: %s, was %s", after, before)
				}
			}
			if f := files(t, root); len(f) > 0 {
				t.Errorf("files written: %v", f)
			}
		})
	}
	var e *adminops.CapgoDatabaseError
	conn := connect(t)
	exec(t, conn, `CREATE TABLE public.org_users (org_id uuid)`)
	_, err := adminops.CreateApp(ctx, conn, "com.example.app", "")
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "npx @capgo/cli app add") {
		t.Errorf("app create on Capgo: %v, want a CapgoDatabaseError naming npx @capgo/cli app add", err)
	}
}

func TestUploadBundle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t)
	st, root := newDir(t)
	app, err := adminops.CreateApp(ctx, conn, "com.example.app", "")
	if err != nil {
		t.Fatal(err)
	}
	zipPath, data := makeZip(t, "dist/index.html", "dist/js/app.js")
	b, err := adminops.UploadBundle(ctx, conn, st, adminops.BundleUpload{AppID: "com.example.app", Version: "1.2.3", ZipPath: zipPath, Channel: "production"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	key := "orgs/" + app.OwnerOrg + "/apps/com.example.app/1.2.3.zip"
	if b.Key != key || b.Checksum != hex.EncodeToString(sum[:]) || b.Root != "dist" || b.Size != int64(len(data)) {
		t.Errorf("bundle %+v, want key %s, sha256 %x, root dist", b, key, sum)
	}
	got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored zip: %v (%d bytes, want %d)", err, len(got), len(data))
	}
	if n := count(t, conn, `SELECT count(*) FROM app_versions WHERE id = $1 AND app_id = 'com.example.app' AND name = '1.2.3'
		AND r2_path = $2 AND checksum = $3 AND storage_provider = 'r2' AND owner_org = $4 AND NOT deleted AND external_url IS NULL`,
		b.ID, key, b.Checksum, app.OwnerOrg); n != 1 {
		t.Errorf("app_versions row: %d, want 1", n)
	}
	// The first channel is public: the first upload reaches devices.
	if c := b.Channel; c == nil || !c.Created || !c.Public || c.Version != "1.2.3" || c.Platforms.String() != "ios,android,electron" || c.DisableAutoUpdate != "major" {
		t.Errorf("channel %+v, want production created, public, on 1.2.3", b.Channel)
	}
	// A second new channel is private; an existing one keeps its settings.
	zip2, _ := makeZip(t, "index.html")
	b2, err := adminops.UploadBundle(ctx, conn, st, adminops.BundleUpload{AppID: "com.example.app", Version: "1.2.4-beta.1", ZipPath: zip2, Channel: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	if c := b2.Channel; !c.Created || c.Public || c.Version != "1.2.4-beta.1" || b2.Root != "" {
		t.Errorf("second channel %+v (root %q), want beta created private", c, b2.Root)
	}
	b3, err := adminops.UploadBundle(ctx, conn, st, adminops.BundleUpload{AppID: "com.example.app", Version: "1.2.4", ZipPath: zip2, Channel: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if c := b3.Channel; c.Created || !c.Public || c.Version != "1.2.4" {
		t.Errorf("existing channel %+v, want production public on 1.2.4", c)
	}

	// Refusals: nothing written, no file left.
	before, beforeFiles := rowCounts(t, conn), files(t, root)
	notZip := filepath.Join(t.TempDir(), "dist.zip")
	os.WriteFile(notZip, []byte("<html>"), 0o644)
	noIndex, _ := makeZip(t, "a/index.html", "b/app.js")
	exec(t, conn, `UPDATE app_versions SET deleted = true WHERE app_id = 'com.example.app' AND name = '1.2.4-beta.1'`)
	for _, tc := range []struct {
		u    adminops.BundleUpload
		want string
	}{
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.2.3", ZipPath: zip2}, "app com.example.app already has a bundle 1.2.3"},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.2.4-beta.1", ZipPath: zip2}, "app com.example.app already has a bundle 1.2.4-beta.1 (deleted; its name stays taken)"},
		{adminops.BundleUpload{AppID: "com.example.nope", Version: "1.0.0", ZipPath: zip2}, "app com.example.nope does not exist (capgo-functions admin app create --app-id com.example.nope)"},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.0.0", ZipPath: notZip}, notZip + ": not a zip archive: zip: not a valid zip file"},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.0.0", ZipPath: noIndex}, noIndex + ": no index.html at the bundle root or in a single top-level folder: the device fails to set the bundle (set_fail)"},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.0.0", ZipPath: notZip + ".missing"}, "read the zip: open " + notZip + ".missing: no such file or directory"},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.0", ZipPath: zip2}, `--version "1.0": want a semantic version like 1.2.3`},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "v1.0.0", ZipPath: zip2}, `--version "v1.0.0": want a semantic version like 1.2.3`},
		{adminops.BundleUpload{AppID: "com.example.app", Version: "1.0.0", ZipPath: zip2, Channel: " x"}, `channel name " x": no spaces at the ends or control characters`},
	} {
		_, err := adminops.UploadBundle(ctx, conn, st, tc.u)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v\nwant %s", tc.u, err, tc.want)
		}
	}
	if after, afterFiles := rowCounts(t, conn), files(t, root); after != before || strings.Join(afterFiles, " ") != strings.Join(beforeFiles, " ") {
		t.Errorf("refusals wrote: %s %v, was %s %v", after, afterFiles, before, beforeFiles)
	}
}

// failingStorage fails every Put.
type failingStorage struct{ adminops.Storage }

func (failingStorage) Put(context.Context, string, []byte) error { return errors.New("disk full") }

// TestUploadBundleUndoes: a store that fails leaves no row; a commit that
// fails (a deferred check refusing the row) leaves no file.
func TestUploadBundleUndoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t)
	st, root := newDir(t)
	if _, err := adminops.CreateApp(ctx, conn, "com.example.app", ""); err != nil {
		t.Fatal(err)
	}
	zipPath, _ := makeZip(t, "index.html")
	before := rowCounts(t, conn)
	u := adminops.BundleUpload{AppID: "com.example.app", Version: "1.0.0", ZipPath: zipPath, Channel: "production"}
	if _, err := adminops.UploadBundle(ctx, conn, failingStorage{st}, u); err == nil || err.Error() != "disk full" {
		t.Errorf("failing store: %v", err)
	}
	if after := rowCounts(t, conn); after != before {
		t.Errorf("failing store wrote rows: %s, was %s", after, before)
	}

	exec(t, conn, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
		CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON app_versions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()`)
	_, err := adminops.UploadBundle(ctx, conn, st, u)
	if err == nil || !strings.Contains(err.Error(), "refused at commit") {
		t.Errorf("failing commit: %v", err)
	}
	if after := rowCounts(t, conn); after != before {
		t.Errorf("failing commit wrote rows: %s, was %s", after, before)
	}
	if f := files(t, root); len(f) > 0 {
		t.Errorf("failing commit left files: %v", f)
	}
}

func TestSetChannel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t)
	yes, no := true, false
	v := "1.361.0"
	ios := adminops.Platforms{IOS: true}
	dau := "minor"

	// beta (android, ios, electron) made public: development (ios) and
	// production (android, electron) stop being public.
	ch, err := adminops.SetChannel(ctx, conn, adminops.ChannelChange{AppID: "com.demo.app", Name: "beta", Public: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Created || !ch.Changed || !ch.Public || ch.Version != "1.361.0" || strings.Join(ch.Demoted, ",") != "development,production" {
		t.Errorf("beta public: %+v", ch)
	}
	// Only the flags given change.
	ch, err = adminops.SetChannel(ctx, conn, adminops.ChannelChange{AppID: "com.demo.app", Name: "beta", Platforms: &ios, DisableAutoUpdate: &dau, SelfSet: &no})
	if err != nil {
		t.Fatal(err)
	}
	want := adminops.Channel{Name: "beta", Changed: true, Version: "1.361.0", Public: true, SelfSet: false, Platforms: ios, DisableAutoUpdate: "minor"}
	if ch.Name != want.Name || ch.Created || !ch.Changed || ch.Version != want.Version || !ch.Public || ch.SelfSet || ch.Platforms != ios || ch.DisableAutoUpdate != "minor" || len(ch.Demoted) != 0 {
		t.Errorf("beta changed: %+v, want %+v", ch, want)
	}
	// A new channel takes the defaults and what is given.
	ch, err = adminops.SetChannel(ctx, conn, adminops.ChannelChange{AppID: "com.demo.app", Name: "qa", Version: &v, SelfSet: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Created || ch.Public || !ch.SelfSet || ch.Version != "1.361.0" || ch.Platforms.String() != "ios,android,electron" || ch.DisableAutoUpdate != "major" {
		t.Errorf("qa created: %+v", ch)
	}
	if n := count(t, conn, `SELECT count(*) FROM channels c JOIN apps a USING (app_id) WHERE c.name = 'qa' AND c.owner_org = a.owner_org`); n != 1 {
		t.Errorf("qa rows with the app's org: %d", n)
	}
	ch, err = adminops.SetChannel(ctx, conn, adminops.ChannelChange{AppID: "com.demo.app", Name: "qa"})
	if err != nil || ch.Changed || ch.Created {
		t.Errorf("no change: %+v %v", ch, err)
	}

	before := rowCounts(t, conn)
	missing, deleted, bad := "9.9.9", "1.0.0", "none-such"
	exec(t, conn, `UPDATE app_versions SET deleted = true WHERE app_id = 'com.demo.app' AND name = '1.0.0'`)
	for _, tc := range []struct {
		c    adminops.ChannelChange
		want string
	}{
		{adminops.ChannelChange{AppID: "com.demo.app", Name: "qa", Version: &missing}, "app com.demo.app has no bundle 9.9.9 (capgo-functions admin bundle upload)"},
		{adminops.ChannelChange{AppID: "com.demo.app", Name: "new", Version: &deleted}, "bundle 1.0.0 of app com.demo.app is deleted"},
		{adminops.ChannelChange{AppID: "com.demo.nope", Name: "qa"}, "app com.demo.nope does not exist (capgo-functions admin app create --app-id com.demo.nope)"},
		{adminops.ChannelChange{AppID: "com.demo.app", Name: "qa", DisableAutoUpdate: &bad}, `disable auto update "none-such": want one of none, major, minor, patch, version_number`},
		{adminops.ChannelChange{AppID: "com.demo.app", Name: ""}, "--channel is required"},
	} {
		_, err := adminops.SetChannel(ctx, conn, tc.c)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v\nwant %s", tc.c, err, tc.want)
		}
	}
	if after := rowCounts(t, conn); after != before {
		t.Errorf("refusals wrote: %s, was %s", after, before)
	}
}

func TestParsePlatforms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ios": "ios", "android,ios": "ios,android", " electron , android": "android,electron",
		"":        `platforms "": want a comma-separated list of ios, android, electron`,
		"ios,web": `platform "web": want ios, android or electron`, "ios,": `platform "": want ios, android or electron`,
	} {
		p, err := adminops.ParsePlatforms(in)
		got := p.String()
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("ParsePlatforms(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestOverrideDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := connect(t)
	const dev = "6F0E3C2A-0000-4000-8000-00000000AAAA"
	was, err := adminops.OverrideDevice(ctx, conn, "com.demo.app", dev, "beta")
	if err != nil || was != "" {
		t.Fatalf("override: %q %v", was, err)
	}
	was, err = adminops.OverrideDevice(ctx, conn, "com.demo.app", dev, "development")
	if err != nil || was != "beta" {
		t.Fatalf("second override: %q %v", was, err)
	}
	// Stored lower-case, with the app's org; the app's counter follows.
	if n := count(t, conn, `SELECT count(*) FROM channel_devices d JOIN channels c ON c.id = d.channel_id JOIN apps a ON a.app_id = d.app_id
		WHERE d.device_id = $1 AND c.name = 'development' AND d.owner_org = a.owner_org AND a.channel_device_count = 1`, strings.ToLower(dev)); n != 1 {
		t.Errorf("override rows: %d, want 1", n)
	}
	before := rowCounts(t, conn)
	for _, tc := range []struct {
		op   func() error
		want string
	}{
		{func() error { _, err := adminops.OverrideDevice(ctx, conn, "com.demo.app", dev, "nope"); return err }, "app com.demo.app has no channel nope (capgo-functions admin channel set)"},
		{func() error {
			_, err := adminops.OverrideDevice(ctx, conn, "com.demo.app", "device-1", "beta")
			return err
		}, `device id "device-1": want the UUID the device sends, like 6f0e3c2a-0000-4000-8000-00000000aaaa`},
		{func() error { _, err := adminops.OverrideDevice(ctx, conn, "com.demo.nope", dev, "beta"); return err }, "app com.demo.nope does not exist (capgo-functions admin app create --app-id com.demo.nope)"},
		{func() error {
			_, err := adminops.RemoveOverride(ctx, conn, "com.demo.app", "6f0e3c2a-0000-4000-8000-00000000bbbb")
			return err
		}, "device 6f0e3c2a-0000-4000-8000-00000000bbbb has no override in app com.demo.app"},
	} {
		if err := tc.op(); err == nil || err.Error() != tc.want {
			t.Errorf("%v, want %s", err, tc.want)
		}
	}
	if after := rowCounts(t, conn); after != before {
		t.Errorf("refusals wrote: %s, was %s", after, before)
	}
	ch, err := adminops.RemoveOverride(ctx, conn, "com.demo.app", dev)
	if err != nil || ch != "development" {
		t.Fatalf("remove: %q %v", ch, err)
	}
	if n := count(t, conn, `SELECT count(*) FROM channel_devices`); n != 0 {
		t.Errorf("overrides left: %d", n)
	}
}
