package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

// installNotify is `capgo-functions install-notify`: it puts the change
// notification triggers (package notify) on an existing Capgo database, or
// with --check only verifies them, and prints what it found. It fails
// (exit 1) when a trigger is missing or not enabled ALWAYS afterwards.
// --print writes the SQL instead, for review or `psql -1 -f`.
func installNotify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dbURL := getenv("DATABASE_URL")
	if dbURL == "" {
		dbURL = Default().DatabaseURL
	}
	fs := flag.NewFlagSet("capgo-functions install-notify", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: capgo-functions install-notify [flags]\n\n"+
			"Installs the triggers that NOTIFY %s on every change of %s,\n"+
			"enabled ALWAYS (also in replica sessions). Idempotent; needs PostgreSQL 14+ and\n"+
			"the tables' owner (postgres on Supabase). Supabase projects made from this\n"+
			"repository's migrations already have them.\n\n", notify.Channel, strings.Join(notify.Tables(), ", "))
		fs.PrintDefaults()
	}
	fs.StringVar(&dbURL, "database-url", dbURL, "PostgreSQL URL of the Capgo database, as the tables' owner (DATABASE_URL)")
	check := fs.Bool("check", false, "only check the triggers; change nothing")
	printSQL := fs.Bool("print", false, "print the SQL and exit without connecting")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *printSQL {
		_, err := io.WriteString(stdout, notify.SQL())
		return err
	}
	if dbURL == "" {
		return &usageError{cmd: fs.Name(), err: errors.New("install-notify: --database-url (DATABASE_URL) is empty")}
	}

	// A wrong password, database or schema is said in one line, with its
	// fix, as serve says it (diagnose.go); so is a database not reachable.
	if err := checkDatabase(ctx, dbURL, dsnSetting); err != nil {
		var p *dbProblem
		if errors.As(err, &p) {
			return fmt.Errorf("install-notify: %w", err)
		}
		return fmt.Errorf("install-notify: database %s not reachable: %s", redactURL(dbURL), lastLine(err))
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("install-notify: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if !*check {
		if err := notify.Install(ctx, conn); err != nil {
			return fmt.Errorf("install-notify: %w", err)
		}
	}
	problems, err := notify.Check(ctx, conn)
	if err != nil {
		return fmt.Errorf("install-notify: %w", err)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "not installed:", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("install-notify: %d notify triggers missing or not enabled ALWAYS (run without --check to install them)", len(problems))
	}
	fmt.Fprintf(stdout, "ok: %s notify channel %s, in every session_replication_role\n", strings.Join(notify.Tables(), ", "), notify.Channel)
	return nil
}
