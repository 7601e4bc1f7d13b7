// Command capgo-dev gives a working server on a fresh machine with one
// command (`make dev`): it starts a private PostgreSQL cluster (data kept
// in .dev/pgdata), applies the Supabase bootstrap, this repository's
// migrations and the demo seed on first use, then runs the given server
// command with DATABASE_URL pointing at it, forwarding SIGINT/SIGTERM and
// stopping PostgreSQL when the server exits.
//
// A taken server address (-addr) or PostgreSQL port (-port) is reported
// before anything starts. Ctrl-C ends it with status 0.
//
//	capgo-dev [-data .dev/pgdata] [-port 54339] [-addr 127.0.0.1:54321] -- ./bin/capgo-functions serve [flags]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
	"github.com/capgo-functions/capgo-functions/supabase"
)

// database is the dev database name inside the private cluster.
const database = "capgo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capgo-dev:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := flag.String("data", ".dev/pgdata", "PostgreSQL data directory (kept between runs; delete it to start over)")
	port := flag.Int("port", 54339, "PostgreSQL port on 127.0.0.1")
	bundles := flag.String("bundles", ".dev/bundles", "bundle folder served by /functions/v1/files/read (demo zips are written there)")
	addr := flag.String("addr", "", "the server's listen address, checked to be free before PostgreSQL starts (make dev passes ADDR)")
	adminAddr := flag.String("admin-addr", "", "the server's admin address, checked likewise (make dev passes ADMIN_ADDR)")
	flag.Parse()
	if flag.NArg() == 0 {
		return errors.New("usage: capgo-dev [flags] -- SERVER_COMMAND [ARGS]")
	}
	if err := checkPorts(*addr, *adminAddr, *port); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	abs = usableDataDir(abs)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(startCtx, pgcluster.Options{DataDir: abs, Port: *port})
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "capgo-dev: stop PostgreSQL:", err)
		}
	}()
	if err := prepare(startCtx, c); err != nil {
		return err
	}
	dsn := c.DSN(database)
	fmt.Fprintf(os.Stderr, "capgo-dev: PostgreSQL ready: DATABASE_URL=%s (data in %s)\n", dsn, abs)
	bundleDir, err := filepath.Abs(*bundles)
	if err != nil {
		return err
	}
	if err := writeBundles(startCtx, dsn, bundleDir); err != nil {
		return fmt.Errorf("demo bundles: %w", err)
	}

	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "CAPGO_FILES_DIR="+bundleDir)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return serverExit(err)
	case <-ctx.Done():
		// Pass the signal on so the server shuts down gracefully (it has
		// it already when Ctrl-C reached the whole process group).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return serverExit(<-done)
	}
}

// prepare applies bootstrap, migrations and seed the first time only.
func prepare(ctx context.Context, c *pgcluster.Cluster) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, database).Scan(&exists)
	conn.Close(ctx)
	if err != nil || exists {
		return err
	}
	scripts, err := pgcluster.SupabaseScripts(supabase.Files)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "capgo-dev: creating database", database, "with the migrations and the demo seed")
	if err := c.Prepare(ctx, database, append([]pgcluster.Script{pgcluster.Bootstrap()}, scripts...)...); err != nil {
		// Leave no half-prepared database behind: the next run starts over.
		_ = c.Drop(context.Background(), database)
		return err
	}
	return nil
}

// usableDataDir returns dir, or a stand-in under /var/tmp when dir cannot
// be used: as root, PostgreSQL runs as the postgres user, which must be
// able to reach the data directory, and a checkout under a private folder
// (/root, a 0700 temporary folder) is out of its reach. Nothing is chmod'ed.
func usableDataDir(dir string) string {
	if os.Geteuid() != 0 || searchableByOthers(filepath.Dir(dir)) {
		return dir
	}
	sum := sha256.Sum256([]byte(dir))
	alt := filepath.Join(os.TempDir(), "capgo-dev-"+hex.EncodeToString(sum[:4]), "pgdata")
	if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() {
		alt = filepath.Join("/var/tmp", "capgo-dev-"+hex.EncodeToString(sum[:4]), "pgdata")
	}
	fmt.Fprintf(os.Stderr, "capgo-dev: %s is not reachable by the postgres user; keeping the database in %s instead\n", dir, alt)
	return alt
}

// searchableByOthers reports whether every existing folder from dir up to
// the root lets other users through (o+x); missing ones will be made so.
func searchableByOthers(dir string) bool {
	for {
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}
