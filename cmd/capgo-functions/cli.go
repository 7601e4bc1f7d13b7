package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes of capgo-functions.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed (database, a doctor check, …)
	exitUsage = 2 // the command line or settings are wrong: nothing was tried
)

// A usageError is a command line or a setting that cannot run; cmd is the
// command whose --help explains it.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// errHelpShown is returned once a command's help was printed as asked:
// the program stops there and exits 0.
var errHelpShown = errors.New("help shown")

// exitCode maps run's error to the process's exit status.
func exitCode(err error) int {
	var u *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &u):
		return exitUsage
	}
	return exitFail
}

// report writes run's error to w, the way main does, and returns the exit
// status: the error (each of several on its own line) and, for a usage
// error, where the help is. An error the server logged already is not
// repeated.
func report(w io.Writer, err error) int {
	code := exitCode(err)
	var logged *errLogged
	if code == exitOK || errors.As(err, &logged) {
		return code
	}
	fmt.Fprintln(w, "capgo-functions:", err)
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(w, "see '%s --help'\n", u.cmd)
	}
	return code
}

// parseFlags parses args into fs without printing anything on an error:
// -h/--help writes fs.Usage to help and returns errHelpShown; a flag that
// does not parse, or an argument left over, is a *usageError of one line
// (not the usage, which --help prints).
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(help)
		fs.Usage()
		return errHelpShown
	case err != nil:
		return &usageError{cmd: fs.Name(), err: err}
	case fs.NArg() > 0:
		return &usageError{cmd: fs.Name(), err: fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

// mainHelp is `capgo-functions --help`.
const mainHelp = `usage: capgo-functions [command] [flags]

Commands:
  serve           run the server (the command when none is given)
  doctor          check a running deployment the way a device does
  install-notify  put the read model's change triggers on a Capgo database
  admin           create an app, upload a bundle, set a channel or a device
                  override on this repository's schema, without SQL
  version         print the version

'capgo-functions COMMAND --help' lists a command's flags.
Exit status: 0 done, 1 failed, 2 wrong command line or settings.
`
