package pgcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
)

// tinyProject stands in for the supabase directory. The second migration
// uses an unqualified name after the first emptied search_path, which only
// works if Prepare resets session settings between scripts.
var tinyProject = fstest.MapFS{
	"migrations/20240101000000_notes.sql": {Data: []byte(`
		SELECT pg_catalog.set_config('search_path', '', false);
		CREATE TABLE public.notes (id serial PRIMARY KEY, owner uuid, body text NOT NULL);
		ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON public.notes FOR SELECT TO authenticated USING (owner = auth.uid());
	`)},
	"migrations/20240102000000_notes_stamp.sql": {Data: []byte(`
		ALTER TABLE notes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
		CREATE FUNCTION notes_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM public.notes $$;
	`)},
	"seed.sql": {Data: []byte(`
		INSERT INTO notes (owner, body) VALUES ('11111111-1111-1111-1111-111111111111', 'seeded');
	`)},
	"migrations/README.md": {Data: []byte("not a migration")},
}

func TestSupabaseScriptsOrder(t *testing.T) {
	t.Parallel()
	scripts, err := pgcluster.SupabaseScripts(tinyProject)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range scripts {
		got = append(got, s.Name)
	}
	want := []string{
		"supabase/migrations/20240101000000_notes.sql",
		"supabase/migrations/20240102000000_notes_stamp.sql",
		"supabase/seed.sql",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scripts = %q, want %q", got, want)
	}

	scripts, err = pgcluster.SupabaseScripts(fstest.MapFS{})
	if err != nil || len(scripts) != 0 {
		t.Errorf("empty project: %d scripts, err %v; want none", len(scripts), err)
	}
}

func TestNoPostgres(t *testing.T) {
	t.Setenv("PG_BINDIR", t.TempDir()) // authoritative when set: no fallback
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if !errors.Is(err, pgcluster.ErrNoPostgres) {
		if c != nil {
			_ = c.Stop()
		}
		t.Fatalf("Start with empty PG_BINDIR: err = %v, want ErrNoPostgres", err)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	c := mustStart(t, pgcluster.Options{})
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("start: %s", time.Since(start))

	scripts, err := pgcluster.SupabaseScripts(tinyProject)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := c.Prepare(ctx, "tmpl", append([]pgcluster.Script{pgcluster.Bootstrap()}, scripts...)...); err != nil {
		t.Fatal(err)
	}
	t.Logf("prepare: %s", time.Since(start))

	start = time.Now()
	for _, db := range []string{"a", "b"} {
		if err := c.Clone(ctx, "tmpl", db); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("two clones: %s", time.Since(start))

	a, b := mustConnect(t, c.DSN("a")), mustConnect(t, c.DSN("b"))
	if _, err := a.Exec(ctx, "INSERT INTO notes (body) VALUES ('only in a')"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, a, "SELECT notes_count()"); n != 2 {
		t.Errorf("clone a: %d notes, want 2 (seed + own)", n)
	}
	if n := count(t, b, "SELECT notes_count()"); n != 1 {
		t.Errorf("clone b: %d notes, want 1 (seed only): clones are not isolated", n)
	}
	// The bootstrap's roles and auth.uid() work the way PostgREST uses them.
	for _, tc := range []struct {
		sub  string
		want int64
	}{{"11111111-1111-1111-1111-111111111111", 1}, {"22222222-2222-2222-2222-222222222222", 0}} {
		tx, err := b.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)", `{"sub":"`+tc.sub+`"}`); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("user %s sees %d notes through RLS, want %d", tc.sub, n, tc.want)
		}
		_ = tx.Rollback(ctx)
	}

	// Drop works even with a connection still open (WITH (FORCE)).
	if err := c.Drop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b, "SELECT count(*) FROM pg_database WHERE datname = 'a'"); n != 0 {
		t.Errorf("database a still exists after Drop")
	}

	dataDir := c.DataDir()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s left after Stop (stat err %v)", dataDir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestParallelClones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := mustStart(t, pgcluster.Options{})
	t.Cleanup(func() { _ = c.Stop() })
	if err := c.Prepare(ctx, "tmpl", pgcluster.Bootstrap(), pgcluster.Script{Name: "t.sql", SQL: "CREATE TABLE t (x int); INSERT INTO t VALUES (1);"}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.Clone(ctx, "tmpl", fmt.Sprintf("c%d", i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent clones from one template: %v", err)
	}
}

func TestScriptErrorNamesScriptAndLine(t *testing.T) {
	t.Parallel()
	c := mustStart(t, pgcluster.Options{})
	t.Cleanup(func() { _ = c.Stop() })
	err := c.Prepare(context.Background(), "bad",
		pgcluster.Script{Name: "ok.sql", SQL: "SELECT 1;"},
		pgcluster.Script{Name: "broken.sql", SQL: "SELECT 1;\nSELECT nope FROM pg_class;"},
		pgcluster.Script{Name: "never.sql", SQL: "SELECT 1;"},
	)
	if err == nil || !strings.Contains(err.Error(), "broken.sql:2:8") {
		t.Fatalf("Prepare error = %v, want it to name broken.sql:2:8", err)
	}
}

func TestPersistentDataDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Not t.TempDir: that is 0700 and root-owned, and when we are root the
	// server runs as "postgres", which must reach the data dir.
	parent, err := os.MkdirTemp("", "pgclustertest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "pg")

	c := mustStart(t, pgcluster.Options{DataDir: dir})
	err = c.Prepare(ctx, "keep", pgcluster.Script{Name: "k.sql", SQL: "CREATE TABLE k (x int); INSERT INTO k VALUES (42);"})
	if stopErr := c.Stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		t.Fatal(err)
	}

	c = mustStart(t, pgcluster.Options{DataDir: dir})
	t.Cleanup(func() { _ = c.Stop() })
	if n := count(t, mustConnect(t, c.DSN("keep")), "SELECT x FROM k"); n != 42 {
		t.Errorf("reused cluster: x = %d, want 42", n)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Errorf("persistent data dir removed by Stop: %v", err)
	}
}

// mustStart starts a cluster, skipping the test when PostgreSQL is not
// installed, unless CI is set (the same rule as package pgtest, which this
// package cannot import).
func mustStart(tb testing.TB, opt pgcluster.Options) *pgcluster.Cluster {
	tb.Helper()
	c, err := pgcluster.Start(context.Background(), opt)
	if errors.Is(err, pgcluster.ErrNoPostgres) {
		if ci := os.Getenv("CI"); ci == "" || ci == "false" || ci == "0" {
			tb.Skip("pgcluster: PostgreSQL not found (set PG_BINDIR or install postgresql); skipping")
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustConnect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func count(tb testing.TB, conn *pgx.Conn, sql string) int64 {
	tb.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// BenchmarkCloneDrop measures what each database test pays for its own
// database. It is dominated by file creation (about a thousand files per
// database), so it is much faster with TMPDIR on a tmpfs such as /dev/shm.
func BenchmarkCloneDrop(b *testing.B) {
	ctx := context.Background()
	c := mustStart(b, pgcluster.Options{})
	b.Cleanup(func() { _ = c.Stop() })
	if err := c.Prepare(ctx, "tmpl", pgcluster.Bootstrap()); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("b%d", i)
		if err := c.Clone(ctx, "tmpl", name); err != nil {
			b.Fatal(err)
		}
		if err := c.Drop(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
}
