// Command capgo-functions serves Capgo's device endpoints
// (/functions/v1/updates, …) from one Go binary in front of a Capgo
// Supabase database.
//
//	capgo-functions [serve] [flags]   run the server (the default)
//	capgo-functions doctor [flags]    check a running deployment as a device
//	capgo-functions install-notify    put the read model's change triggers on a Capgo database
//	capgo-functions admin …           create an app, upload a bundle, set a channel or a device override
//	capgo-functions version           print the version
//
// Every flag has an environment variable; see `capgo-functions serve -h`
// and the README. Exit status: 0 done (also after --help), 1 failed, 2 a
// wrong command line or setting (one line each, then where --help is).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := report(os.Stderr, run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// run is the whole program: it parses the command line and runs the
// subcommand until ctx is cancelled. Help goes to stdout; report turns
// the error into stderr lines and the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd = "help"
	}
	switch cmd {
	case "serve":
		cfg, err := Load("capgo-functions serve", args, getenv, stdout)
		if err != nil {
			return err
		}
		tuneGC(getenv, cfg)
		return serve(ctx, cfg, stderr, nil)
	case "doctor":
		return runDoctor(ctx, args, getenv, stdout, stderr)
	case "install-notify":
		return installNotify(ctx, args, getenv, stdout, stderr)
	case "admin":
		return runAdmin(ctx, args, getenv, stdout)
	case "version":
		fmt.Fprintln(stdout, "capgo-functions", version)
		return nil
	case "help":
		_, err := io.WriteString(stdout, mainHelp)
		return err
	}
	return &usageError{cmd: "capgo-functions", err: fmt.Errorf("unknown command %q (want serve, doctor, install-notify, admin or version)", cmd)}
}

// tuneGC sets the garbage collector for a server whose live heap is small
// (a few MB plus the read model) and whose requests allocate: collecting
// at 5× the live heap instead of 2× cut its CPU share enough to serve about
// 13 % more update checks on two cores (make bench-compare), while a soft
// memory limit of 96 MiB plus the read model's bound keeps a growing heap
// from taking more. GOGC and GOMEMLIMIT, when set, are the user's choice.
func tuneGC(getenv func(string) string, cfg Config) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(96<<20 + int64(cfg.ReadModelMemoryMiB)<<20)
	}
}
