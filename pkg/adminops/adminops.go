// Package adminops makes the rows (and stores the zips) a self-hosted
// deployment needs to serve its own app without writing SQL: an app with
// the org that owns it, a bundle, a channel, a device override. It is what
// `capgo-functions admin …` runs.
//
// It writes databases made from this repository's supabase/migrations
// only. Capgo's own database keeps more invariants than those migrations
// know (orgs belong to users of auth.users, membership rows, billing rows
// kept by Stripe webhooks, usage counters, storage accounting), which the
// Capgo CLI and dashboard maintain: on such a database every operation
// refuses with a *CapgoDatabaseError before it writes anything.
//
// Every operation runs in one transaction and writes nothing when it fails.
// The change triggers of the migrations (package notify) tell a running
// server's read model about each commit, so its next answer sees it.
package adminops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
)

// MaxAppIDLen is the longest app id the device endpoints can record:
// devices.app_id and stats.app_id are varchar(50), so a longer id would
// make every device write of the app fail.
const MaxAppIDLen = 50

// An InputError is a value that cannot be right whatever the database
// holds (an app id, a version, a platform that does not parse): nothing
// was tried.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error {
	return &InputError{msg: fmt.Sprintf(format, args...)}
}

// A CapgoDatabaseError is the refusal to write Capgo's own database; Use
// is what to use there instead.
type CapgoDatabaseError struct{ Use string }

func (e *CapgoDatabaseError) Error() string {
	return "this is Capgo's own database (orgs belong to users, public.org_users exists): " +
		"capgo-functions admin only writes databases made from this repository's migrations; use " + e.Use
}

// Where to go on a Capgo database, per operation.
const (
	useAppAdd         = "the Capgo CLI (npx @capgo/cli app add) or the Capgo dashboard"
	useBundleUpload   = "the Capgo CLI (npx @capgo/cli bundle upload) or the Capgo dashboard"
	useChannelSet     = "the Capgo CLI (npx @capgo/cli channel add / channel set) or the Capgo dashboard"
	useDeviceOverride = "the Capgo dashboard (the app's Devices page)"
)

// errNoSchema is a database without the device endpoints' tables.
var errNoSchema = errors.New("this database has no public.apps table: apply this repository's supabase/migrations first")

// checkSchema tells this repository's schema from Capgo's, in tx: Capgo's
// orgs.created_by has a foreign key to public.users and its org_users
// table exists; the migrations here keep the column without the key and
// have no such table.
func checkSchema(ctx context.Context, tx pgx.Tx, use string) error {
	var apps, capgo bool
	err := tx.QueryRow(ctx, `
SELECT to_regclass('public.apps') IS NOT NULL,
       to_regclass('public.org_users') IS NOT NULL
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                  WHERE c.conrelid = to_regclass('public.orgs') AND c.contype = 'f' AND a.attname = 'created_by')`).Scan(&apps, &capgo)
	switch {
	case err != nil:
		return fmt.Errorf("check the schema: %w", err)
	case !apps:
		return errNoSchema
	case capgo:
		return &CapgoDatabaseError{Use: use}
	}
	return nil
}

// inTx runs fn in a transaction of conn that checks the schema first, and
// commits when fn succeeds. The undo fn returns, when not nil, runs when
// the commit fails: it removes what fn wrote outside the database.
func inTx(ctx context.Context, conn *pgx.Conn, use string, fn func(pgx.Tx) (undo func(), err error)) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if err := checkSchema(ctx, tx, use); err != nil {
		return err
	}
	undo, err := fn(tx)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if undo != nil {
			undo()
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// app is the apps row an operation works on.
type app struct {
	id, ownerOrg, userID string
}

// lockApp reads appID's row, locked against a concurrent change until the
// transaction ends.
func lockApp(ctx context.Context, tx pgx.Tx, appID string) (app, error) {
	a := app{id: appID}
	err := tx.QueryRow(ctx, `SELECT owner_org::text, COALESCE(user_id::text, '') FROM public.apps WHERE app_id = $1 FOR UPDATE`, appID).
		Scan(&a.ownerOrg, &a.userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("app %s does not exist (capgo-functions admin app create --app-id %s)", appID, appID)
	}
	if err != nil {
		return a, fmt.Errorf("read app %s: %w", appID, err)
	}
	return a, nil
}

// checkAppID refuses an app id the device endpoints would refuse or could
// not record.
func checkAppID(id string) error {
	switch {
	case id == "":
		return inputErrorf("--app-id is required")
	case !plugin.IsAppID(id):
		return inputErrorf("app id %q: want a reverse domain name like com.example.app", id)
	case len(id) > MaxAppIDLen:
		return inputErrorf("app id %q: longer than %d characters (devices.app_id is varchar(%d))", id, MaxAppIDLen, MaxAppIDLen)
	}
	return nil
}

// checkVersion refuses a bundle version that is not SemVer 2 as written
// (Capgo's CLI refuses those too: regexSemver in its utils).
func checkVersion(flag, v string) error {
	if v == "" {
		return inputErrorf("%s is required", flag)
	}
	if _, err := plugin.ParseVersion(v); err != nil || v != strings.TrimSpace(v) || strings.HasPrefix(v, "v") {
		return inputErrorf("%s %q: want a semantic version like 1.2.3", flag, v)
	}
	return nil
}

// checkChannelName refuses an empty name, or one with spaces at its ends
// or control characters, which no device could send back.
func checkChannelName(name string) error {
	if name == "" {
		return inputErrorf("--channel is required")
	}
	if name != strings.TrimSpace(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return inputErrorf("channel name %q: no spaces at the ends or control characters", name)
	}
	return nil
}
