// Package pgtest gives each test its own PostgreSQL database holding the
// project's Supabase schema and seed.
//
// The first call to [NewDB] in a test binary starts one throwaway cluster
// (package pgcluster, data under os.TempDir) and prepares a template
// database in it: the Supabase bootstrap, then supabase/migrations, then
// supabase/seed.sql, exactly the files package supabase embeds. Every NewDB
// call then clones that template (CREATE DATABASE … TEMPLATE, milliseconds
// on tmpfs, a few hundred on a slow disk), so tests can run with t.Parallel
// and never see each other's writes. [Main] stops the cluster and removes
// its data when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		pool := pgtest.NewPool(t)
//		…
//	}
//
// When PostgreSQL is not installed, tests skip with one line, except under
// CI (CI set to anything but "", "false" or "0"), where a missing database is
// a failure. Any other startup problem always fails the test.
//
// With PGTEST_POOLER=pgbouncer, the databases are reached through a
// PgBouncer in transaction mode (as behind Supabase's Supavisor): NewDB
// returns a DSN through the pooler, with the query mode the server uses
// behind one (default_query_exec_mode=cache_describe); [Direct] gives the
// direct DSN of the same database, for what a transaction pooler cannot
// carry (LISTEN). Under CI a missing pgbouncer is then a failure.
//
// It leaves to others: running the server (pgcluster), the schema itself
// (package supabase), and what a test does with its database.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
	"github.com/capgo-functions/capgo-functions/supabase"
)

// template is the database every test database is cloned from.
const template = "pgtest_template"

// setupTimeout bounds starting the cluster and preparing the template.
// The schema is applied once per test binary, so this is generous.
const setupTimeout = 3 * time.Minute

// The shared cluster of this test binary. Tests only reach it through
// NewDB, which hands each one a database of its own, so this is the one
// piece of package state and it is safe for parallel tests.
var (
	mainCalled atomic.Bool
	setupOnce  sync.Once
	cluster    *pgcluster.Cluster   // set by setup, even when preparing failed, so Main can stop it
	bouncer    *pgcluster.PgBouncer // set by setup with PGTEST_POOLER=pgbouncer
	direct     sync.Map             // pooled DSN → direct DSN
	setupErr   error
	dbSeq      atomic.Int64 // makes database names unique within the binary; the pid, across binaries of a persistent cluster
)

// Main runs the tests and then stops the shared cluster, removing its data
// directory, and exits with the tests' status. Call it from TestMain in
// every package that uses [NewDB] or [NewPool]; they fail without it, since
// otherwise the cluster's data would be left in os.TempDir.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if bouncer != nil {
		if err := bouncer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping PgBouncer:", err)
		}
	}
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping PostgreSQL:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// NewDB returns the DSN of a new database, a clone of the seeded template,
// and drops it when the test ends. The first call starts the cluster and
// prepares the template, so it takes seconds; later calls take one
// CREATE DATABASE.
func NewDB(tb testing.TB) string {
	tb.Helper()
	if !mainCalled.Load() {
		tb.Fatal("pgtest: call pgtest.Main from TestMain (func TestMain(m *testing.M) { pgtest.Main(m) }) so the shared cluster is stopped and removed")
	}
	setupOnce.Do(setup)
	switch {
	case errors.Is(setupErr, pgcluster.ErrNoPostgres) && !inCI():
		tb.Skip("pgtest: PostgreSQL not found (set PG_BINDIR or install postgresql); skipping")
	case errors.Is(setupErr, pgcluster.ErrNoPgBouncer) && !inCI():
		tb.Skip("pgtest: PGTEST_POOLER=pgbouncer but pgbouncer is not installed; skipping")
	case errors.Is(setupErr, pgcluster.ErrNoPostgres):
		tb.Fatalf("pgtest: PostgreSQL is required when CI is set: %v", setupErr)
	case setupErr != nil:
		tb.Fatal(setupErr)
	}

	name := fmt.Sprintf("pgtest_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.Clone(ctx, template, name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Not tb.Context: it is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.Drop(ctx, name); err != nil {
			tb.Error(err)
		}
	})
	if bouncer == nil {
		return cluster.DSN(name)
	}
	pooled := bouncer.DSN(name) + "&default_query_exec_mode=cache_describe"
	direct.Store(pooled, cluster.DSN(name))
	return pooled
}

// Direct returns the direct DSN of a database NewDB returned: itself,
// unless the tests run through PgBouncer (PGTEST_POOLER=pgbouncer).
func Direct(dsn string) string {
	if d, ok := direct.Load(dsn); ok {
		return d.(string)
	}
	return dsn
}

// Pooled reports whether NewDB's DSNs go through PgBouncer.
func Pooled() bool { return os.Getenv("PGTEST_POOLER") == "pgbouncer" }

// NewPool returns a pool on a new database (see [NewDB]), closed when the
// test ends, before the database is dropped.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := NewDB(tb)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close) // registered after the drop, so it runs first
	return pool
}

// setup starts the cluster and prepares the template, once per test binary.
// Its error is kept for every later NewDB, so all database tests of the
// binary fail (or skip) the same way.
func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		setupErr = err
		return
	}
	cluster = c
	scripts, err := pgcluster.SupabaseScripts(supabase.Files)
	if err != nil {
		setupErr = err
		return
	}
	// The error names the failing script and line, e.g.
	// "pgcluster: prepare pgtest_template: supabase/migrations/…sql:12:3: …".
	setupErr = c.Prepare(ctx, template, append([]pgcluster.Script{pgcluster.Bootstrap()}, scripts...)...)
	if setupErr == nil && Pooled() {
		bouncer, setupErr = c.StartPgBouncer(ctx)
	}
}

// inCI reports whether CI is set the way CI systems set it ("true"; GitLab
// and others use other non-empty values).
func inCI() bool {
	switch os.Getenv("CI") {
	case "", "false", "0":
		return false
	}
	return true
}
