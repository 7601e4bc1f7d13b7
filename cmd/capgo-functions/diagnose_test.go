package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
	"github.com/capgo-functions/capgo-functions/internal/testenv/functest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/internal/testenv/testclient"
)

// logLine is the part of a JSON log line these tests read.
type logLine struct {
	Level, Msg, Cause, Fix, Err, Database, Addr string
}

// logLines parses the server's JSON log; a line that is not JSON fails
// the test (nothing but log lines may reach stderr).
func logLines(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var rec logLine
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("stderr line is not a JSON log line: %q", l)
		}
		out = append(out, rec)
	}
	return out
}

// serveArgs runs the server on free ports against dsn, logging JSON.
func serveArgs(dsn string, more ...string) []string {
	return append([]string{"serve", "--database-url", dsn, "--addr", "127.0.0.1:0", "--admin-addr=",
		"--proxy=false", "--log-format", "json"}, more...)
}

func noEnv(string) string { return "" }

// A database that waiting will not fix ends the start: exit status 1 and
// one ERROR line naming the cause and the fix, without the password.
func TestStartupDatabaseProblems(t *testing.T) {
	t.Parallel()
	c := passwordCluster(t)
	dsn := func(userinfo, db, query string) string {
		u, _ := url.Parse(c.DSN(db))
		u.User, u.RawQuery = url.UserPassword(userinfo, "wrong-pw-31337"), query
		if userinfo == "postgres" { // trusted: no password asked
			u.User = url.User("postgres")
		}
		return u.String()
	}
	for _, tc := range []struct {
		name, dsn, event, cause string
	}{
		{"wrong password", dsn("capgo_user", "postgres", "sslmode=disable"), "database.auth_failed", `password authentication failed for user "capgo_user"`},
		{"unknown database", dsn("postgres", "no_such_db", "sslmode=disable"), "database.not_found", `database "no_such_db" does not exist`},
		{"no Capgo schema", dsn("postgres", "postgres", "sslmode=disable"), "database.schema_missing", `database "postgres" has no apps table`},
		{"TLS refused", dsn("postgres", "postgres", "sslmode=require"), "database.tls_refused", "the server does not accept TLS"},
		{"apps not readable", strings.Replace(dsn("capgo_user", "capgo_like", "sslmode=disable"), "wrong-pw-31337", "right-pw", 1), "database.permission_denied", `user "capgo_user" may not read the apps table`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			l, stderr := failedStart(t, serveArgs(tc.dsn))
			took := time.Since(start)
			if l.Level != "ERROR" || l.Msg != tc.event || !strings.Contains(l.Cause, tc.cause) || !strings.Contains(l.Fix, "--database-url (DATABASE_URL)") {
				t.Errorf("log line %+v, want ERROR %s with cause %q and a fix naming --database-url", l, tc.event, tc.cause)
			}
			if strings.Contains(stderr, "wrong-pw") || strings.Contains(stderr, "right-pw") {
				t.Errorf("stderr leaks the password: %s", stderr)
			}
			if took > 15*time.Second { // bounded by dbCheckTimeout (5 s)
				t.Errorf("took %s to give up", took)
			}
			// install-notify says it the same way, in its error.
			err := installNotify(context.Background(), []string{"--check", "--database-url", tc.dsn}, noEnv, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.event+": "+tc.cause) || strings.Contains(err.Error(), "-pw") {
				t.Errorf("install-notify: %v, want %s: %s…", err, tc.event, tc.cause)
			}
		})
	}
}

// A wrong --database-listen-url is said at start as a wrong
// --database-url is, naming that setting and URL: otherwise only the
// listener's retries and a /readyz never ready would show it.
func TestStartupListenURLProblem(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	u, err := url.Parse(pgtest.Direct(dsn))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_listen_db"
	l, _ := failedStart(t, serveArgs(dsn, "--read-model", "on", "--database-listen-url", u.String()))
	if l.Level != "ERROR" || l.Msg != "database.not_found" || !strings.Contains(l.Cause, `"no_such_listen_db"`) ||
		!strings.Contains(l.Fix, "--database-listen-url (DATABASE_LISTEN_URL)") || !strings.Contains(l.Database, "/no_such_listen_db") {
		t.Errorf("log line %+v, want ERROR database.not_found naming --database-listen-url and its URL", l)
	}

	// With the read model off nothing listens: the setting is not checked.
	var stderr2 functest.Logs
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, serveArgs(dsn, "--read-model", "off", "--database-listen-url", u.String()), noEnv, io.Discard, &stderr2)
	}()
	waitStarted(t, &stderr2, done)
	stop()
	if err := <-done; err != nil {
		t.Errorf("run with --read-model off: %v\n%s", err, stderr2.String())
	}
}

// failedStart runs args, which must exit 1 with exactly one log line, and
// returns that line and the whole of stderr.
func failedStart(t *testing.T, args []string) (logLine, string) {
	t.Helper()
	var stderr functest.Logs
	if code := report(&stderr, run(context.Background(), args, noEnv, io.Discard, &stderr)); code != exitFail {
		t.Errorf("exit status %d, want %d (exitFail)", code, exitFail)
	}
	lines := logLines(t, stderr.String())
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1:\n%s", len(lines), stderr.String())
	}
	return lines[0], stderr.String()
}

// A database that is not up yet is one WARN line; the server starts and
// answers 503 (the outage report does not open a second time).
func TestStartupDatabaseNotUpYet(t *testing.T) {
	t.Parallel()
	dead := deadAddr(t)
	var stderr functest.Logs
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, serveArgs("postgresql://postgres:pw-dead-1@"+dead+"/postgres?sslmode=disable"), noEnv, io.Discard, &stderr)
	}()
	base := "http://" + waitStarted(t, &stderr, done)
	for i := range 3 {
		status, body, err := postUpdate(testclient.Client, base, fmt.Sprintf("6f0e3c2a-0000-4000-8000-00000000000%d", i))
		if err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("update check: %d %s %v, want 503", status, body, err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	var warns []string
	for _, l := range logLines(t, stderr.String()) {
		switch l.Level {
		case "WARN", "ERROR":
			warns = append(warns, l.Level+" "+l.Msg)
		}
	}
	if strings.Join(warns, "|") != "WARN database.unreachable" {
		t.Errorf("warnings and errors %q, want one WARN database.unreachable:\n%s", warns, stderr.String())
	}
	if strings.Contains(stderr.String(), "pw-dead") {
		t.Errorf("log leaks the password:\n%s", stderr.String())
	}
}

// --wait-for-db keeps retrying a database that is not there yet, and
// serves once it is.
func TestStartupWaitForDatabase(t *testing.T) {
	t.Parallel()
	src := pgtest.Direct(pgtest.NewDB(t))
	u, err := url.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("waitfordb_%d_%d", os.Getpid(), time.Now().UnixNano()) // unique under -count
	admin := *u
	admin.Path = "/postgres"
	u.Path = "/" + name
	u.RawQuery += "&pool_max_conns=5" // the pool's setting, not the server's

	var stderr functest.Logs
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, serveArgs(u.String(), "--wait-for-db", "--admin-addr", "127.0.0.1:0"), noEnv, io.Discard, &stderr)
	}()
	adminURL := "http://" + waitLogged(t, &stderr, done, "admin.started")
	waitUntil(t, "the database.not_found line", func() bool { return strings.Contains(stderr.String(), "database.not_found") })
	time.Sleep(time.Second) // a few retries
	select {
	case err := <-done:
		t.Fatalf("run returned while waiting for the database: %v\n%s", err, stderr.String())
	default:
	}
	// While it waits, the admin listener answers: alive, not ready, and why.
	if status, body := get(t, adminURL+"/healthz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz while waiting: %d %q, want 200 \"ok\\n\"", status, body)
	}
	status, body := get(t, adminURL+"/readyz")
	wantPrefix := `{"ready":false,"checks":{"database":"waiting for the database (--wait-for-db): database.not_found: `
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, wantPrefix) || !strings.Contains(body, name) {
		t.Errorf("/readyz while waiting: %d %s, want 503 %s… naming %s", status, body, wantPrefix, name)
	}
	if status, body := get(t, adminURL+"/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines ") ||
		strings.Contains(body, "capgo_functions_") {
		t.Errorf("/metrics while waiting: %d, want 200 with Go's metrics and none of the app's yet:\n%s", status, body)
	}

	// The database appears: a copy of the test's own, schema and seed.
	conn, err := pgx.Connect(context.Background(), admin.String())
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the DROP below (cleanups run last-registered first).
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tmpl := pgx.Identifier{strings.TrimPrefix(filepath.Clean(mustPath(t, src)), "/")}
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name+" TEMPLATE "+tmpl.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	base := "http://" + waitStarted(t, &stderr, done)
	if status, body, err := postUpdate(testclient.Client, base, "6f0e3c2a-0000-4000-8000-000000000001"); err != nil || status != http.StatusOK {
		t.Errorf("update check: %d %s %v, want 200", status, body, err)
	}
	// Built: the same listener now answers from the app, ready once the
	// read model's listener has connected (it does so in the background).
	waitUntil(t, "/readyz 200 once serving", func() bool {
		status, _ := get(t, adminURL+"/readyz")
		return status == http.StatusOK
	})
	if status, body := get(t, adminURL+"/metrics"); status != http.StatusOK || !strings.Contains(body, `capgo_functions_requests_total{code="",function="updates",method="POST",status="200"} 1`) {
		t.Errorf("/metrics once serving: %d, want the update check counted:\n%s", status, body)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	var notFound int
	for _, l := range logLines(t, stderr.String()) {
		if l.Msg == "database.not_found" {
			notFound++
		}
	}
	if notFound != 1 {
		t.Errorf("%d database.not_found lines, want 1 (then once a minute):\n%s", notFound, stderr.String())
	}
}

// Stopping a server that waits for its database is a clean stop.
func TestStartupWaitForDatabaseStopped(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.Direct(pgtest.NewDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_db"
	var stderr functest.Logs
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, serveArgs(u.String(), "--wait-for-db"), noEnv, io.Discard, &stderr) }()
	waitUntil(t, "the database.not_found line", func() bool { return strings.Contains(stderr.String(), "database.not_found") })
	stop()
	if err := <-done; err != nil {
		t.Errorf("run: %v, want nil (stopped)", err)
	}
}

// waitStarted returns the address of the server's server.started line.
func waitStarted(t *testing.T, logs *functest.Logs, done chan error) string {
	t.Helper()
	return waitLogged(t, logs, done, "server.started")
}

// waitLogged returns the addr of the first log line msg.
func waitLogged(t *testing.T, logs *functest.Logs, done chan error, msg string) string {
	t.Helper()
	var addr string
	waitUntil(t, msg, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned before %s: %v\n%s", msg, err, logs.String())
		default:
		}
		for _, l := range strings.Split(logs.String(), "\n") {
			var rec logLine
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == msg {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	return addr
}

func mustPath(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// passwordCluster starts a PostgreSQL of the test's own whose pg_hba.conf
// asks a password of every user but postgres (the shared one trusts
// everybody), with a user capgo_user (password right-pw) and a database
// capgo_like whose apps table capgo_user may not read. Its server has no
// TLS, as every pgcluster.
func passwordCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	pgtest.NewDB(t) // skips, or fails under CI, without PostgreSQL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := c.Prepare(ctx, "capgo_like", pgcluster.Script{Name: "apps", SQL: "CREATE ROLE capgo_user LOGIN PASSWORD 'right-pw'; CREATE TABLE apps (app_id text)"}); err != nil {
		t.Fatal(err)
	}
	// Rewritten in place: it keeps the owner the server reads it as.
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(c.DataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	// The reload is asynchronous: wait until a wrong password is refused.
	wrong, _ := url.Parse(c.DSN("postgres"))
	wrong.User = url.UserPassword("capgo_user", "wrong")
	waitUntil(t, "password authentication", func() bool {
		conn, err := pgx.Connect(ctx, wrong.String())
		if err == nil {
			conn.Close(ctx)
			return false
		}
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "28P01"
	})
	return c
}

// The failures the real servers above cannot produce: each is a setting to
// fix, or one waiting fixes (nil).
func TestClassifyConnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string // the event; "" for none
	}{
		{&pgconn.PgError{Code: "28000", Message: `no pg_hba.conf entry for host "10.0.0.1"`}, "database.auth_failed"},
		{&pgconn.PgError{Code: "28000", Message: `role "nobody" does not exist`}, "database.auth_failed"},
		{&pgconn.PgError{Code: "42501", Message: `permission denied for database "capgo"`}, "database.permission_denied"},
		{fmt.Errorf("tls error: %w", x509.UnknownAuthorityError{}), "database.tls_failed"},
		{fmt.Errorf("tls error: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "db"}), "database.tls_failed"},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, ""},
		{&pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"}, ""},
		{errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), ""},
		{fmt.Errorf("hostname resolving error: %w", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}), ""},
	} {
		p := classifyConnect(tc.err, dsnSetting)
		got := ""
		if p != nil {
			got = p.Event
		}
		if got != tc.want {
			t.Errorf("classifyConnect(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// deadAddr is a loopback address nothing listens on (a port just freed).
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
