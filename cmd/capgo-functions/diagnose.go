package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbCheckTimeout bounds the start-up check's one connection and query, so
// that a wrong setting ends the process within seconds.
const dbCheckTimeout = 5 * time.Second

// How --wait-for-db retries: from waitFirstRetry, doubling up to
// waitMaxRetry; the line that says why is repeated every waitLogEvery.
const (
	waitFirstRetry = 250 * time.Millisecond
	waitMaxRetry   = 5 * time.Second
	waitLogEvery   = time.Minute
)

// A dbProblem is a database the server cannot work with however long it
// waits: a wrong setting, or a database that is not (yet) a Capgo one.
// Event is the log message (database.auth_failed, …), Cause what the
// database said, Fix what to change; DB, when set, the (redacted) URL it
// concerns if not --database-url's.
type dbProblem struct {
	Event, Cause, Fix, DB string
}

// where is the URL to name in the problem's log line: DB, or def.
func (p *dbProblem) where(def string) string {
	if p.DB != "" {
		return p.DB
	}
	return def
}

func (p *dbProblem) Error() string { return p.Event + ": " + p.Cause + ": " + p.Fix }

// The settings a fix names.
const (
	dsnSetting    = "--database-url (DATABASE_URL)"
	listenSetting = "--database-listen-url (DATABASE_LISTEN_URL)"
)

// checkDatabase connects to dsn, given by setting (named in a fix), once,
// within dbCheckTimeout, and checks that it holds the Capgo schema. It
// returns a *dbProblem for a database that waiting will not fix (wrong
// password, unknown database, no schema, TLS refused, no privilege),
// another error for one that may come up (refused, timed out, name not
// resolving, starting up), nil when usable.
func checkDatabase(ctx context.Context, dsn, setting string) error {
	// Parsed as the pool parses it: pool_* settings are the pool's, not
	// parameters for the server.
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return &dbProblem{Event: "database.url_invalid", Cause: err.Error(), Fix: "correct " + setting}
	}
	ctx, cancel := context.WithTimeout(ctx, dbCheckTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		if p := classifyConnect(err, setting); p != nil {
			return p
		}
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The store names its tables without a schema: look apps up the same
	// way, through the connection's search_path.
	var hasApps, canRead bool
	err = conn.QueryRow(ctx, `SELECT to_regclass('apps') IS NOT NULL,
		coalesce(has_table_privilege(to_regclass('apps'), 'SELECT'), false)`).Scan(&hasApps, &canRead)
	switch {
	case err != nil:
		if p := classifyConnect(err, setting); p != nil {
			return p
		}
		return err
	case !hasApps:
		return &dbProblem{Event: "database.schema_missing",
			Cause: fmt.Sprintf("database %q has no apps table: it is not a Capgo database", conn.Config().Database),
			Fix:   "point " + setting + " at the Capgo database, or apply Capgo's migrations to it (supabase db reset / supabase migration up)"}
	case !canRead:
		return &dbProblem{Event: "database.permission_denied",
			Cause: fmt.Sprintf("user %q may not read the apps table", conn.Config().User),
			Fix:   "connect as the tables' owner (postgres on Supabase) in " + setting + ", or grant the user access to Capgo's tables"}
	}
	return nil
}

// classifyConnect names the failures of a connection attempt that are a
// setting to fix; nil for the others.
func classifyConnect(err error, setting string) *dbProblem {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01":
			return &dbProblem{Event: "database.auth_failed", Cause: pe.Message,
				Fix: "check the user and password in " + setting}
		case "28000": // no pg_hba.conf entry, or a role that does not exist
			return &dbProblem{Event: "database.auth_failed", Cause: pe.Message,
				Fix: "check the user in " + setting + " and that the server's pg_hba.conf lets it connect from here"}
		case "3D000":
			return &dbProblem{Event: "database.not_found", Cause: pe.Message,
				Fix: "check the database name in " + setting + ": Supabase's is postgres; or create the database and apply Capgo's migrations"}
		case "42501": // CONNECT privilege on the database revoked
			return &dbProblem{Event: "database.permission_denied", Cause: pe.Message,
				Fix: "connect as a user allowed to, in " + setting}
		}
		return nil
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	switch {
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return &dbProblem{Event: "database.tls_refused", Cause: "the server does not accept TLS connections (sslmode asks for TLS)",
			Fix: "set sslmode=disable (or prefer) in " + setting + ", or turn ssl on in the server"}
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &badHost):
		return &dbProblem{Event: "database.tls_failed", Cause: "the server's TLS certificate is not trusted: " + lastLine(err),
			Fix: "give the CA with sslrootcert=… in " + setting + ", or use sslmode=require to encrypt without verifying"}
	}
	return nil
}

// lastLine is the last line of a pgx error, which lists one line per
// address tried (and, with sslmode=prefer, one per TLS and plain try):
// the last attempt, in one line of log.
func lastLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}

// errLogged is an error serve has already logged, as its one line: the
// process exits 1 without repeating it on stderr.
type errLogged struct{ err error }

func (e *errLogged) Error() string { return e.err.Error() }
func (e *errLogged) Unwrap() error { return e.err }

// checkDatabases is checkDatabase of --database-url and, when the read
// model listens on a connection of its own, of --database-listen-url: a
// wrong setting there would otherwise only show as the listener's retries
// and a /readyz that never turns ready. That one's other failures (not up
// yet) are left to the listener, which reports and retries them.
func checkDatabases(ctx context.Context, cfg Config) error {
	if err := checkDatabase(ctx, cfg.DatabaseURL, dsnSetting); err != nil {
		return err
	}
	if cfg.ReadModel != "on" || cfg.ListenURL == "" || cfg.ListenURL == cfg.DatabaseURL {
		return nil
	}
	var p *dbProblem
	if err := checkDatabase(ctx, cfg.ListenURL, listenSetting); errors.As(err, &p) {
		p.DB = redactURL(cfg.ListenURL)
		return p
	}
	return nil
}

// awaitDatabase is serve's start-up check of the database. A database
// that waiting will not fix is one ERROR line naming the cause and the
// fix, and an *errLogged: the process exits 1. One that is only not up
// yet is one WARN line, and its error is returned as down: the server
// starts and answers 503 until it is up (the outage report then carries
// on from that line). With --wait-for-db both wait instead, before the
// server listens, retrying until the database is usable or ctx ends
// (ctx's error: serve stops cleanly, nothing of the app was built). wait, when not
// nil, is told each cause waited out (the admin listener's /readyz).
func awaitDatabase(ctx context.Context, cfg Config, log *slog.Logger, wait func(cause string)) (down error, err error) {
	db := redactURL(cfg.DatabaseURL)
	err = checkDatabases(ctx, cfg)
	if err == nil {
		return nil, nil
	}
	var p *dbProblem
	if !cfg.WaitForDB {
		if errors.As(err, &p) {
			log.Error(p.Event, "cause", p.Cause, "fix", p.Fix, "database", p.where(db))
			return nil, &errLogged{p}
		}
		log.Warn("database.unreachable", "err", lastLine(err), "database", db,
			"hint", "device requests answer 503 until it answers; --wait-for-db waits for it before listening")
		return err, nil
	}

	start := time.Now()
	var lastEvent string
	var lastLog time.Time
	retry := waitFirstRetry
	for err != nil {
		level, event, attrs := slog.LevelWarn, "database.unreachable", []any{"err", lastLine(err)}
		cause, where := event+": "+lastLine(err), db
		if errors.As(err, &p) {
			level, event, attrs = slog.LevelError, p.Event, []any{"cause", p.Cause, "fix", p.Fix}
			cause, where = p.Event+": "+p.Cause, p.where(db)
		}
		if wait != nil {
			wait(cause)
		}
		// Once per cause, then every waitLogEvery while it lasts.
		if event != lastEvent || time.Since(lastLog) >= waitLogEvery {
			attrs = append(attrs, "database", where, "waiting", time.Since(start).Round(time.Second),
				"hint", "--wait-for-db: retrying until the database is usable; only the admin listener answers until then")
			log.Log(ctx, level, event, attrs...)
			lastEvent, lastLog = event, time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, waitMaxRetry)
		err = checkDatabases(ctx, cfg)
	}
	log.Info("database.ready", "after", time.Since(start).Round(time.Millisecond))
	return nil, nil
}
