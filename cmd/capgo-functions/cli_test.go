package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestCommandLine: argv (and environment) → exit status, stdout and
// stderr, as main produces them (run, then report). None of these cases
// reaches a database: a stray connection attempt would log a line that
// the exact stderr would not match.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	const (
		serveHint  = "see 'capgo-functions serve --help'\n"
		doctorHint = "see 'capgo-functions doctor --help'\n"
	)
	commands := []string{"serve ", "doctor ", "install-notify ", "admin ", "version "}
	for _, tc := range []struct {
		args       []string
		env        map[string]string
		code       int
		stderr     string   // exactly
		stdoutHas  []string // contained
		stdoutNone bool
	}{
		{args: []string{"--help"}, stdoutHas: commands},
		{args: []string{"-h"}, stdoutHas: commands},
		{args: []string{"help"}, stdoutHas: commands},
		{args: []string{"version"}, stdoutHas: []string{"capgo-functions " + version + "\n"}},
		{args: []string{"serve", "-h"}, stdoutHas: []string{"usage: capgo-functions serve [flags]", "-shutdown-timeout", "CAPGO_SHUTDOWN_TIMEOUT", "bare seconds"}},
		{args: []string{"serve", "--help"}, stdoutHas: []string{"-database-url"}},
		{args: []string{"doctor", "--help"}, stdoutHas: []string{"usage: capgo-functions doctor", "-download-timeout"}},
		{args: []string{"install-notify", "-h"}, stdoutHas: []string{"usage: capgo-functions install-notify", "-check"}},
		{args: []string{"nope"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: unknown command \"nope\" (want serve, doctor, install-notify, admin or version)\nsee 'capgo-functions --help'\n"},
		{args: []string{"serve", "--nope"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: flag provided but not defined: -nope\n" + serveHint},
		{args: []string{"--nope"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: flag provided but not defined: -nope\n" + serveHint},
		{args: []string{"serve", "--shutdown-timeout", "soon"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: invalid value \"soon\" for flag -shutdown-timeout: \"soon\" is not a duration (like 604800 or 168h)\n" + serveHint},
		{args: []string{"serve", "extra"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: unexpected arguments: extra\n" + serveHint},
		// Every check of the settings, together, before connecting.
		{args: []string{"serve", "--addr", "127.0.0.1:99999", "--s3-endpoint", "http://", "--log-format", "xml"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: addr \"127.0.0.1:99999\": port \"99999\": want a number from 0 to 65535\n" +
				"S3 settings (S3_*): bundleurl: invalid S3 options: endpoint \"http://\": missing host\naccess key id is required\nsecret access key is required\n" +
				"log format \"xml\": want text or json\n" + serveHint},
		// A bad environment value is reported when its flag is not given…
		{args: []string{"serve", "--addr", "127.0.0.1:99999"}, env: map[string]string{"CAPGO_SHUTDOWN_TIMEOUT": "soon"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: CAPGO_SHUTDOWN_TIMEOUT: \"soon\" is not a duration (like 604800 or 168h)\n" +
				"addr \"127.0.0.1:99999\": port \"99999\": want a number from 0 to 65535\n" + serveHint},
		// … and not when the flag (in bare seconds) overrides it.
		{args: []string{"serve", "--addr", "127.0.0.1:99999", "--shutdown-timeout", "30"}, env: map[string]string{"CAPGO_SHUTDOWN_TIMEOUT": "soon"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: addr \"127.0.0.1:99999\": port \"99999\": want a number from 0 to 65535\n" + serveHint},
		{args: []string{"serve", "--addr", "localhost"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: addr \"localhost\": want HOST:PORT\n" + serveHint},
		{args: []string{"doctor", "--nope"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: flag provided but not defined: -nope\n" + doctorHint},
		{args: []string{"doctor", "--timeout", "5", "--download-timeout", "60"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: doctor: app id is required\n" + doctorHint},
		{args: []string{"install-notify", "--print", "extra"}, code: 2, stdoutNone: true,
			stderr: "capgo-functions: unexpected arguments: extra\nsee 'capgo-functions install-notify --help'\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := report(&stderr, run(context.Background(), tc.args, envOf(tc.env), &stdout, &stderr))
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if stderr.String() != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), tc.stderr)
			}
			if tc.stdoutNone && stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			for _, want := range tc.stdoutHas {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

// TestExitCode: the statuses main exits with, also for wrapped errors.
func TestExitCode(t *testing.T) {
	t.Parallel()
	usage := &usageError{cmd: "capgo-functions serve", err: errors.New("bad")}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errHelpShown, 0},
		{usage, 2},
		{fmt.Errorf("wrapped: %w", usage), 2},
		{errors.New("database: password authentication failed"), 1},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestDurationFlagsTakeBareSeconds: every duration setting takes "7" as
// 7 s from its flag, as from its environment variable.
func TestDurationFlagsTakeBareSeconds(t *testing.T) {
	t.Parallel()
	c := Default()
	level, ack := "info", string(c.Recorder.Ack)
	n := 0
	for _, s := range c.settings(&level, &ack) {
		if _, ok := s.target.(*time.Duration); !ok {
			continue
		}
		n++
		for _, how := range []string{"flag", "env"} {
			var args []string
			env := map[string]string{}
			if how == "flag" {
				args = []string{"--" + s.flag, "7"}
			} else {
				env[s.env[0]] = "7"
			}
			got, err := Load("test", args, envOf(env), io.Discard)
			if err != nil {
				t.Errorf("--%s 7 (%s): %v", s.flag, how, err)
				continue
			}
			level, ack := "info", string(got.Recorder.Ack)
			for _, g := range got.settings(&level, &ack) {
				if g.flag == s.flag && *g.target.(*time.Duration) != 7*time.Second {
					t.Errorf("--%s 7 (%s) = %s, want 7s", s.flag, how, *g.target.(*time.Duration))
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d duration settings, want the table's", n)
	}
}
