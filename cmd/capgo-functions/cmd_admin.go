package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/pkg/adminops"
)

// adminHelp is `capgo-functions admin --help`.
const adminHelp = `usage: capgo-functions admin COMMAND [flags]

Makes what a self-hosted deployment needs to serve its own app, without SQL:

  app create       --app-id ID [--name NAME]
  bundle upload    --app-id ID --version 1.2.3 --zip dist.zip [--channel NAME]
  channel set      --app-id ID --channel NAME [--version V] [--public[=false]]
                   [--self-set[=false]] [--platforms ios,android,electron]
                   [--disable-auto-update none|major|minor|patch|version_number]
  device override  --app-id ID --device-id ID (--channel NAME | --remove)

Every command takes --database-url (DATABASE_URL, as serve); bundle upload
also takes serve's storage settings (--files-dir, or the --s3-* flags). Each
command is one transaction: when it fails, nothing is written. A running
server answers the change at once (the migrations' notify triggers).

For databases made from this repository's supabase/migrations. On Capgo's own
database (its orgs belong to users) every command refuses and names what to
use there: the Capgo CLI (npx @capgo/cli app add, bundle upload, channel set)
or the Capgo dashboard.

'capgo-functions admin COMMAND --help' lists a command's flags.
Exit status: 0 done, 1 failed (nothing written), 2 wrong command line or settings.
`

// runAdmin is `capgo-functions admin COMMAND …`.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		_, err := io.WriteString(stdout, adminHelp)
		if err != nil {
			return err
		}
		return errHelpShown
	}
	const want = "want app create, bundle upload, channel set or device override"
	if len(args) < 2 {
		return &usageError{cmd: "capgo-functions admin", err: errors.New("admin: " + want)}
	}
	cmd := &adminCmd{name: "capgo-functions admin " + args[0] + " " + args[1], getenv: getenv, stdout: stdout}
	switch args[0] + " " + args[1] {
	case "app create":
		return cmd.appCreate(ctx, args[2:])
	case "bundle upload":
		return cmd.bundleUpload(ctx, args[2:])
	case "channel set":
		return cmd.channelSet(ctx, args[2:])
	case "device override":
		return cmd.deviceOverride(ctx, args[2:])
	}
	return &usageError{cmd: "capgo-functions admin", err: fmt.Errorf("admin: unknown command %q (%s)", args[0]+" "+args[1], want)}
}

// adminCmd is one admin command being run.
type adminCmd struct {
	name     string
	getenv   func(string) string
	stdout   io.Writer
	cfg      Config
	settings []setting // the serve settings the command takes
	fs       *flag.FlagSet
	set      map[string]bool // the flags given
}

// flags starts the command's flag set with the serve settings named (from
// the settings table, so they read the same flags and environment
// variables as serve), plus --database-url.
func (a *adminCmd) flags(usage, about string, settings ...string) *flag.FlagSet {
	a.cfg = Default()
	a.fs = flag.NewFlagSet(a.name, flag.ContinueOnError)
	a.fs.Usage = func() {
		fmt.Fprintf(a.fs.Output(), "usage: %s %s\n\n%s\n\n", a.name, usage, about)
		a.fs.PrintDefaults()
	}
	level, ack := "", ""
	for _, s := range a.cfg.settings(&level, &ack) {
		if s.flag == "database-url" || slices.Contains(settings, s.flag) {
			a.settings = append(a.settings, s)
		}
	}
	return a.fs
}

// parse parses args, then gives each setting not on the command line its
// environment variable, as Load does (secrets after parsing, so --help
// never prints them).
func (a *adminCmd) parse(args []string) error {
	envErrs := map[string]error{}
	for _, s := range a.settings {
		if !s.secret {
			envErrs[s.flag] = s.fromEnv(a.getenv)
		}
		s.define(a.fs)
	}
	if err := parseFlags(a.fs, args, a.stdout); err != nil {
		return err
	}
	a.set = map[string]bool{}
	a.fs.Visit(func(f *flag.Flag) { a.set[f.Name] = true })
	for _, s := range a.settings {
		var err error
		switch {
		case a.set[s.flag]:
		case s.secret:
			err = s.fromEnv(a.getenv)
		default:
			err = envErrs[s.flag]
		}
		if err != nil {
			return a.usage(err)
		}
	}
	if u, err := url.Parse(a.cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return a.usage(fmt.Errorf("database URL %q: want postgres://… or postgresql://…", redactURL(a.cfg.DatabaseURL)))
	}
	return nil
}

func (a *adminCmd) usage(err error) error { return &usageError{cmd: a.name, err: err} }

// connect opens the database of --database-url.
func (a *adminCmd) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(a.cfg.DatabaseURL), err)
	}
	return conn, nil
}

// run connects and runs op; an *adminops.InputError is a usage error.
func (a *adminCmd) run(ctx context.Context, op func(*pgx.Conn) error) error {
	conn, err := a.connect(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return a.fail(op(conn))
}

// fail names the command in err; an input error is a usage error.
func (a *adminCmd) fail(err error) error {
	var in *adminops.InputError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &in):
		return a.usage(err)
	}
	return fmt.Errorf("%s: %w", strings.TrimPrefix(a.name, "capgo-functions "), err)
}

func (a *adminCmd) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }
