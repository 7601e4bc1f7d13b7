package notify

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

//go:embed notify.sql
var installSQL string

// MigrationName is the file in supabase/migrations that holds [SQL] byte for
// byte (a test keeps the two equal).
const MigrationName = "20260101000300_capgo_functions_notify.sql"

// SQL returns the idempotent script that creates the trigger functions and
// the triggers, for review or for psql (run it with psql -1 -f).
func SQL() string { return installSQL }

// DB is what [Install] and [Check] need of a connection; *pgx.Conn,
// *pgxpool.Pool and pgx.Tx have it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// installLockTimeout bounds how long Install waits for a table lock. The
// triggers need SHARE ROW EXCLUSIVE on each table, which queues behind a long
// transaction and would stall every writer queued behind Install; failing
// and retrying later is kinder to a live database.
const installLockTimeout = "10s"

// Install runs [SQL] in one transaction: it creates or replaces the trigger
// functions and the triggers, and enables them ALWAYS. Running it again
// changes nothing. It must run as the owner of the tables (postgres on
// Supabase).
func Install(ctx context.Context, db DB) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("notify: install: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+installLockTimeout+"'"); err != nil {
		return fmt.Errorf("notify: install: %w", err)
	}
	// No arguments: pgx sends the script with the simple protocol, so it may
	// hold many statements and "$$" bodies stay as written.
	if _, err := tx.Exec(ctx, installSQL); err != nil {
		return fmt.Errorf("notify: install: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("notify: install: %w", err)
	}
	return nil
}

// trigger is one trigger [Install] creates.
type trigger struct {
	table, name, function string
	tgtype                int16 // pg_trigger.tgtype: which events, row or statement, BEFORE or AFTER
}

// pg_trigger.tgtype bits (PostgreSQL's catalog/pg_trigger.h).
const (
	tgRow      = 1 << 0
	tgInsert   = 1 << 2
	tgDelete   = 1 << 3
	tgUpdate   = 1 << 4
	tgTruncate = 1 << 5
)

// triggers lists what Install creates: per table, the row trigger and the
// TRUNCATE trigger, and the function each one calls.
func triggers() []trigger {
	rowFn := []struct{ table, fn string }{
		{"apps", "capgo_functions_notify_app"},
		{"app_versions", "capgo_functions_notify_app"},
		{"manifest", "capgo_functions_notify_manifest"},
		{"channels", "capgo_functions_notify_app"},
		{"channel_devices", "capgo_functions_notify_app"},
		{"orgs", "capgo_functions_notify_org"},
		{"stripe_info", "capgo_functions_notify_stripe_info"},
	}
	var ts []trigger
	for _, r := range rowFn {
		ts = append(ts,
			trigger{r.table, "capgo_functions_notify", r.fn, tgRow | tgInsert | tgDelete | tgUpdate},
			trigger{r.table, "capgo_functions_notify_truncate", "capgo_functions_notify_all", tgTruncate})
	}
	return ts
}

// Tables returns the tables whose changes are notified, in public.
func Tables() []string {
	var names []string
	for _, t := range triggers() {
		if t.name == "capgo_functions_notify" {
			names = append(names, t.table)
		}
	}
	return names
}

// sqlTriggers reads the state of the triggers Install creates. tgenabled is
// 'O' (origin and local sessions only), 'R' (replica only), 'A' (always) or
// 'D' (disabled).
const sqlTriggers = `
SELECT c.relname, t.tgname, t.tgenabled::text, p.proname, t.tgtype, t.tgqual IS NULL AND t.tgattr = ''::int2vector
FROM pg_catalog.pg_trigger AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
WHERE n.nspname = 'public' AND t.tgname IN ('capgo_functions_notify', 'capgo_functions_notify_truncate')`

// Check returns what is missing or wrong with the triggers, one line per
// problem, e.g. "public.channels: trigger capgo_functions_notify is enabled
// for origin sessions only (want ALWAYS)". None means every table notifies
// in every session_replication_role.
func Check(ctx context.Context, db DB) ([]string, error) {
	type state struct {
		enabled, function string
		tgtype            int16
		plain             bool // no WHEN clause, no UPDATE OF column list
	}
	rows, err := db.Query(ctx, sqlTriggers)
	if err != nil {
		return nil, fmt.Errorf("notify: check: %w", err)
	}
	found := map[[2]string]state{}
	var table, name string
	var s state
	_, err = pgx.ForEachRow(rows, []any{&table, &name, &s.enabled, &s.function, &s.tgtype, &s.plain}, func() error {
		found[[2]string{table, name}] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: check: %w", err)
	}

	var problems []string
	for _, want := range triggers() {
		got, ok := found[[2]string{want.table, want.name}]
		where := "public." + want.table + ": trigger " + want.name
		switch {
		case !ok:
			problems = append(problems, where+" is missing")
		case got.function != want.function:
			problems = append(problems, fmt.Sprintf("%s calls %s (want %s)", where, got.function, want.function))
		case got.tgtype != want.tgtype || !got.plain:
			problems = append(problems, where+" fires on other events than the installed one")
		case got.enabled != "A":
			problems = append(problems, fmt.Sprintf("%s is %s (want ALWAYS)", where, enabledText(got.enabled)))
		}
	}
	return problems, nil
}

// Installed reports whether every table has its triggers, enabled ALWAYS
// (see [Check] for what is wrong when it is not).
func Installed(ctx context.Context, db DB) (bool, error) {
	problems, err := Check(ctx, db)
	return err == nil && len(problems) == 0, err
}

func enabledText(tgenabled string) string {
	switch tgenabled {
	case "O":
		return "enabled for origin sessions only"
	case "R":
		return "enabled for replica sessions only"
	case "D":
		return "disabled"
	}
	return "in state " + tgenabled
}
