package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ErrNoPgBouncer is returned by StartPgBouncer when no pgbouncer binary is
// installed (Debian package pgbouncer).
var ErrNoPgBouncer = errors.New("pgcluster: pgbouncer not found (apt-get install pgbouncer)")

// PgBouncer is a PgBouncer in transaction mode in front of a cluster: the
// pooler Supabase (Supavisor on 6543) and many deployments put between
// servers and PostgreSQL, where one server connection serves a client only
// for the length of a transaction (no LISTEN, no session state).
type PgBouncer struct {
	port int
	cmd  *exec.Cmd
	dir  string
	out  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

// StartPgBouncer starts a transaction-mode PgBouncer for every database
// of the cluster. Stop it before the cluster.
func (c *Cluster) StartPgBouncer(ctx context.Context) (*PgBouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			return nil, ErrNoPgBouncer
		}
		bin = "/usr/sbin/pgbouncer"
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := c.mkTempDir(tempPattern)
	if err != nil {
		return nil, err
	}
	users := filepath.Join(dir, "userlist.txt")
	ini := filepath.Join(dir, "pgbouncer.ini")
	conf := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits,search_path
admin_users = postgres
`, c.port, port, users)
	for name, body := range map[string]string{users: `"postgres" ""` + "\n", ini: conf} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			return nil, err
		}
		if err := c.chown(name); err != nil {
			return nil, err
		}
	}
	b := &PgBouncer{port: port, dir: dir, out: &bytes.Buffer{}, done: make(chan struct{})}
	b.cmd = exec.Command(bin, ini)
	b.cmd.Dir = "/"
	b.cmd.Stdout, b.cmd.Stderr = lockedWriter{&b.mu, b.out}, lockedWriter{&b.mu, b.out}
	b.cmd.SysProcAttr = sysProcAttr(c.runAs, true)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // see launch: the death signal follows this thread
		if err := b.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = b.cmd.Wait()
		close(b.done)
	}()
	if err := <-started; err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgcluster: start pgbouncer: %w", err)
	}
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case <-b.done:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: pgbouncer exited: %s", b.output())
		case <-ctx.Done():
			_ = b.Stop()
			return nil, fmt.Errorf("pgcluster: pgbouncer not ready: %w: %s", ctx.Err(), b.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DSN returns a connection string for database db through the pooler.
func (b *PgBouncer) DSN(db string) string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, url.PathEscape(db))
}

// Stop ends PgBouncer and removes its files.
func (b *PgBouncer) Stop() error {
	_ = b.cmd.Process.Kill()
	<-b.done
	return os.RemoveAll(b.dir)
}

func (b *PgBouncer) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}
