package pgcluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Script is one SQL file to run: Name says where it came from in errors,
// SQL may hold many statements.
type Script struct{ Name, SQL string }

//go:embed bootstrap.sql
var bootstrapSQL string

// Bootstrap returns the Supabase bootstrap for plain PostgreSQL
// (bootstrap.sql names its sources): the anon/authenticated/service_role roles
// and friends, the extensions schema with uuid-ossp, pgcrypto and
// moddatetime, the default API grants, and minimal auth and storage schemas
// with their helper functions. Run it before the migrations, which assume
// what the Supabase image provides. It is for tests and the dev server only.
func Bootstrap() Script { return Script{Name: "pgcluster/bootstrap.sql", SQL: bootstrapSQL} }

// SupabaseScripts returns the scripts of a Supabase project directory in the
// order `supabase start` applies them: every migrations/*.sql in name order
// (the names start with their version), then seed.sql if there is one.
// fsys is rooted at the supabase directory (package supabase's Files).
func SupabaseScripts(fsys fs.FS) ([]Script, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: list migrations: %w", err)
	}
	slices.Sort(names)
	if _, err := fs.Stat(fsys, "seed.sql"); err == nil {
		names = append(names, "seed.sql")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	scripts := make([]Script, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		scripts = append(scripts, Script{Name: path.Join("supabase", name), SQL: string(b)})
	}
	return scripts, nil
}

// Prepare creates database db if it does not exist, then runs the scripts in
// it, in order, stopping at the first error, which names the script and the
// line. Each script is sent as one simple-protocol query, so it may hold many
// statements and runs as one implicit transaction (unless it has its own
// BEGIN/COMMIT), like one migration of `supabase migration up`.
//
// Prepare leaves no connection open to db, so db can be a template for
// [Cluster.Clone] right after it returns.
func (c *Cluster) Prepare(ctx context.Context, db string, scripts ...Script) error {
	var exists bool
	if err := c.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: prepare %s: %w", db, err)
	}
	if !exists {
		if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("pgcluster: prepare %s: %w", db, err)
		}
	}

	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		return fmt.Errorf("pgcluster: prepare %s: %w", db, err)
	}
	// A connection left open would make every later CREATE DATABASE …
	// TEMPLATE db fail with "source database is being accessed by other users".
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range scripts {
		// Scripts made by pg_dump set search_path to '' for the session; like
		// the Supabase CLI between migrations, start each script from the
		// defaults so none depends on what the previous one left behind.
		if err := conn.PgConn().Exec(ctx, "RESET ALL").Close(); err != nil {
			return fmt.Errorf("pgcluster: prepare %s: before %s: %w", db, s.Name, err)
		}
		// The raw simple query protocol: no parameter parsing, so "$1" inside
		// function bodies stays as written, and many statements per query.
		if err := conn.PgConn().Exec(ctx, s.SQL).Close(); err != nil {
			return scriptError(db, s, err)
		}
	}
	return conn.Close(ctx)
}

// Clone creates database name as a copy of template, which must have no
// open connections (see [Cluster.Prepare]).
func (c *Cluster) Clone(ctx context.Context, template, name string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	if _, err := c.admin.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgcluster: clone %s into %s: %w", template, name, err)
	}
	return nil
}

// Drop drops database name if it exists, disconnecting whoever still uses
// it (a test's leaked pool must not make its cleanup fail).
func (c *Cluster) Drop(ctx context.Context, name string) error {
	if _, err := c.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgcluster: drop %s: %w", name, err)
	}
	return nil
}

// scriptError names the script and, when the server reports where the
// error is, its line and column, plus the detail and context lines that
// PgError.Error leaves out.
func scriptError(db string, s Script, err error) error {
	where := s.Name
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("pgcluster: prepare %s: %s: %w", db, where, err)
	}
	if pgErr.Position > 0 {
		line, col := lineCol(s.SQL, int(pgErr.Position))
		where = fmt.Sprintf("%s:%d:%d", where, line, col)
	}
	var more strings.Builder
	for _, kv := range [][2]string{{"DETAIL", pgErr.Detail}, {"HINT", pgErr.Hint}, {"CONTEXT", pgErr.Where}} {
		if kv[1] != "" {
			fmt.Fprintf(&more, "\n%s: %s", kv[0], kv[1])
		}
	}
	return fmt.Errorf("pgcluster: prepare %s: %s: %w%s", db, where, err, more.String())
}

// lineCol converts PostgreSQL's error position (1-based, in characters) to
// a 1-based line and column.
func lineCol(sql string, pos int) (line, col int) {
	line, col = 1, 1
	for i, r := range []rune(sql) {
		if i+1 == pos {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
