// Package pgcluster runs a PostgreSQL server from the machine's own binaries,
// for tests and for the dev server.
//
// It provides:
//   - [Start]: find the binaries, initdb a data directory (or reuse one), and
//     run postgres on a loopback port until [Cluster.Stop];
//   - [Cluster.Prepare]: create a database and run SQL scripts in it, such as
//     [Bootstrap] (the Supabase roles, schemas and helpers that plain
//     PostgreSQL lacks) followed by [SupabaseScripts] (the project's migrations
//     and seed);
//   - [Cluster.Clone] and [Cluster.Drop]: cheap copies of a prepared database
//     through CREATE DATABASE … TEMPLATE, so each test gets its own.
//
// It leaves to others: deciding when a cluster is shared and when a test
// skips (package pgtest), which scripts make up the schema (package supabase
// embeds them), and everything about the schema's content.
//
// The server trusts every local connection and runs with fsync off: it is
// fast and disposable, never a place for data that matters.
//
// PostgreSQL refuses to run as root. When the caller is root (as in CI
// containers), initdb and postgres run as the "postgres" OS user, which then
// owns the data and socket directories; every directory above them must be
// searchable by that user (os.TempDir normally is).
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoPostgres reports that no PostgreSQL server binaries were found.
// Callers decide whether that is a skip or a failure; any other error from
// [Start] means PostgreSQL is there but did not work.
var ErrNoPostgres = errors.New("pgcluster: PostgreSQL server binaries (initdb, postgres) not found")

// Options configures [Start]. The zero value is a throwaway cluster on a free
// port, logging into its data directory.
type Options struct {
	// DataDir is the cluster's data directory. Empty means a new temporary
	// directory under os.TempDir, removed by Stop. Otherwise the directory is
	// kept: it is initialized if missing or empty, and reused if it already
	// holds a cluster (it has a PG_VERSION file).
	DataDir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Log receives the server's log (from a goroutine; write errors are
	// ignored). Nil means DataDir/server.log, appended to.
	Log io.Writer
}

// Cluster is a running PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	binDir  string
	dataDir string
	tmpDir  string // holds the unix socket, and the data dir unless persistent; removed by Stop
	port    int
	runAs   *osUser // nil: run as the current user

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the server process has been waited for
	waitErr error         // the server's exit status; read only after exited is closed
	tail    *tailBuffer   // the end of the server log, for error messages
	logFile *os.File      // when Options.Log was nil

	admin *pgxpool.Pool // on database "postgres", for CREATE/DROP DATABASE

	stopOnce sync.Once
	stopErr  error
}

// osUser is the unprivileged account the server runs as when we are root.
type osUser struct {
	name     string
	uid, gid int
}

const (
	// readyTimeout bounds how long Start waits for connections after the
	// server was launched (recovery of a persistent cluster may be included).
	readyTimeout = 60 * time.Second
	// stopTimeout is how long Stop waits for a fast shutdown before SIGKILL.
	stopTimeout = 30 * time.Second
	// portAttempts is how often Start retries with a new free port when the
	// one it picked was taken between probing and postgres binding it.
	portAttempts = 3
)

// Start finds the PostgreSQL binaries, prepares the data directory and runs
// the server until Stop. ctx bounds the startup only, not the server's life.
//
// The returned error wraps [ErrNoPostgres] when no binaries are found. When
// the server fails to come up, the error includes the end of its log.
//
// The server runs in a process group of its own: a Ctrl-C in the terminal
// does not reach it, only Stop does (capgo-dev stops it after the server
// that uses it). On Linux the server is killed by the kernel if this
// process dies without calling Stop. Start also removes the temporary directories that such
// clusters left in os.TempDir.
func Start(ctx context.Context, opt Options) (c *Cluster, err error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	c = &Cluster{binDir: binDir}
	defer func() {
		if err != nil {
			// Stop undoes whatever part of the setup happened: the process,
			// the log file and the temporary directories.
			_ = c.Stop()
			c = nil
		}
	}()

	if os.Geteuid() == 0 {
		u, err := lookupOSUser("postgres")
		if err != nil {
			return c, fmt.Errorf("pgcluster: running as root, so the server must run as the postgres OS user: %w", err)
		}
		c.runAs = u
	}

	// One temporary directory per cluster, removed by Stop, holds all that
	// is not meant to outlive it: the unix socket always, and the data dir
	// when it is not persistent. One directory to remove, and one name
	// pattern for removeStale to find when Stop never ran.
	removeStale(os.TempDir())
	if c.tmpDir, err = c.mkTempDir(tempPattern); err != nil {
		return c, err
	}
	if opt.DataDir == "" {
		c.dataDir = filepath.Join(c.tmpDir, "data")
	} else if c.dataDir, err = filepath.Abs(opt.DataDir); err != nil {
		return c, fmt.Errorf("pgcluster: data dir: %w", err)
	}

	if err := c.initDataDir(ctx); err != nil {
		return c, err
	}

	c.tail = &tailBuffer{max: 8 << 10}
	logTo := opt.Log
	if logTo == nil {
		// Opened after initdb, which wants an empty directory.
		if c.logFile, err = os.OpenFile(filepath.Join(c.dataDir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return c, fmt.Errorf("pgcluster: server log: %w", err)
		}
		logTo = c.logFile
	}

	for attempt := 1; ; attempt++ {
		c.port = opt.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return c, err
			}
		}
		err = c.launch(ctx, io.MultiWriter(c.tail, ignoreErrors{logTo}))
		// Retry only a server that exited because its port was taken.
		if err == nil || c.cmd != nil || opt.Port != 0 || attempt == portAttempts || !c.tail.contains("could not bind") {
			break
		}
		c.tail.reset()
	}
	if err != nil {
		return c, err
	}

	if c.admin, err = pgxpool.New(ctx, c.DSN("postgres")); err != nil {
		return c, fmt.Errorf("pgcluster: admin pool: %w", err)
	}
	return c, nil
}

// DSN returns a connection string for database db on this cluster, as the
// superuser "postgres" over TCP (trust authentication, no TLS).
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, url.PathEscape(db))
}

// DataDir returns the absolute path of the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// Stop shuts the server down (fast shutdown, then SIGKILL after 30s), and
// removes its temporary directory: the socket always, the data directory
// only when Options.DataDir was empty. It is safe to call more
// than once; later calls return the first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if c.admin != nil {
		c.admin.Close()
	}
	if c.cmd != nil {
		// SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients and
		// rolls back their transactions instead of waiting for them, and still
		// checkpoints, so a persistent data dir starts cleanly next time.
		_ = c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
			errs = append(errs, fmt.Errorf("pgcluster: server ignored fast shutdown for %s and was killed", stopTimeout))
		}
	}
	if c.logFile != nil {
		errs = append(errs, c.logFile.Close())
	}
	if c.tmpDir != "" {
		errs = append(errs, os.RemoveAll(c.tmpDir))
	}
	return errors.Join(errs...)
}

// initDataDir runs initdb unless the data directory already holds a cluster.
func (c *Cluster) initDataDir(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	// initdb creates the directory itself, but only if it may write to the
	// parent; creating it here (empty, 0700 as postgres demands) and handing
	// it over works for any parent we can write to. Missing parents are
	// made searchable (0755): when we run as root the server runs as the
	// postgres user, which must be able to reach the data directory.
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: data dir parent: %w", err)
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: data dir: %w", err)
	}
	if err := c.chown(c.dataDir); err != nil {
		return err
	}
	cmd := c.command(ctx, "initdb",
		"-D", c.dataDir,
		"-A", "trust",
		"-U", "postgres",
		"-E", "UTF8",
		"--locale=C",
		// Skip the fsync of every file: the server runs with fsync=off
		// anyway, and this is most of initdb's time on slow disks.
		"--no-sync",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", c.dataDir, err, out)
	}
	return nil
}

// launch starts postgres and waits until it accepts connections.
func (c *Cluster) launch(ctx context.Context, log io.Writer) error {
	c.cmd = c.command(context.Background(), "postgres",
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-k", c.tmpDir,
		"-c", "listen_addresses=127.0.0.1",
		// Durability is worthless for throwaway data and costs most of the
		// time of CREATE DATABASE and of every test's commits.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Parallel tests each hold a pool; the default 100 runs out.
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
	)
	c.cmd.Stdout = log
	c.cmd.Stderr = log
	// Backends inherit the log pipe; if one outlives a killed postmaster,
	// do not let Wait block on it for long.
	c.cmd.WaitDelay = 5 * time.Second
	c.cmd.SysProcAttr = sysProcAttr(c.runAs, true)
	c.exited = make(chan struct{})

	// The parent-death signal (Pdeathsig) fires when the OS *thread* that
	// forked the child exits, not the process. The Go runtime retires a
	// thread when a goroutine locked to it returns. So the server is started
	// and waited for from one goroutine that keeps its thread locked: the
	// thread lives exactly as long as the server, and if the test binary is
	// killed the kernel kills the server with it.
	started := make(chan error, 1)
	cmd, exited := c.cmd, c.exited
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		c.cmd = nil
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	return c.waitReady(ctx)
}

// waitReady polls until the server accepts a connection, the server exits,
// or the deadline passes.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var lastErr error
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres")+"&connect_timeout=5")
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-c.exited:
			c.cmd = nil // already waited for; nothing for Stop to signal
			return fmt.Errorf("pgcluster: postgres exited during startup (%v); server log ends with:\n%s", c.waitErr, c.tail)
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres on port %d not accepting connections (%v): %w; server log ends with:\n%s", c.port, lastErr, ctx.Err(), c.tail)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// command builds an exec.Cmd for a PostgreSQL program, running as c.runAs.
func (c *Cluster) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, prog), args...)
	// Our working directory may be unreadable by the postgres user (/root),
	// which makes initdb and postgres complain.
	cmd.Dir = "/"
	cmd.SysProcAttr = sysProcAttr(c.runAs, false)
	// PG* variables of the caller (PGDATA, PGPORT, PGOPTIONS…) must not
	// redirect or reconfigure our private server.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	return cmd
}

// mkTempDir creates a temporary directory owned by the server's user.
func (c *Cluster) mkTempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if err := c.chown(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// chown hands path to the server's user when that is not us.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	if err := os.Chown(path, c.runAs.uid, c.runAs.gid); err != nil {
		return fmt.Errorf("pgcluster: give %s to user %s: %w", path, c.runAs.name, err)
	}
	return nil
}

func lookupOSUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	return &osUser{name: name, uid: uid, gid: gid}, nil
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before postgres binds it; Start retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ignoreErrors keeps a failing Options.Log from stopping the copy of the
// server's output: the pipe would fill up and block the server.
type ignoreErrors struct{ w io.Writer }

func (w ignoreErrors) Write(p []byte) (int, error) {
	_, _ = w.w.Write(p)
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (t *tailBuffer) contains(s string) bool { return strings.Contains(t.String(), s) }

func (t *tailBuffer) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = t.buf[:0]
}
