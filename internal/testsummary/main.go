// Command testsummary runs `go test -json` and prints what plain
// `go test` prints (each package's ok/FAIL line, a failed test's output,
// build errors) followed by every skipped test with its reason and their
// count, which plain `go test` hides. It exits with go test's status, so
// a failure still fails `make test`.
//
//	go run ./internal/testsummary go test -count=1 -json ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary go test -json [flags] [packages]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	s := newSummary(os.Stdout)
	scanErr := s.read(out)
	err = cmd.Wait()
	s.printSkips()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	case err != nil || scanErr != nil:
		fmt.Fprintln(os.Stderr, "testsummary:", errors.Join(err, scanErr))
		os.Exit(1)
	case s.failed:
		os.Exit(1) // go test exits non-zero on a failure; never pass one
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type summary struct {
	w       io.Writer
	running map[string][]string // a test's output so far, by package and test
	held    map[string][]string // failed subtests' output, printed with their top-level test
	skips   []string
	failed  bool
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, running: map[string][]string{}, held: map[string][]string{}}
}

// read consumes go test -json output; a line that is not JSON (go test
// prints some that way) is passed through.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.w, sc.Text())
			continue
		}
		s.add(e)
	}
	return sc.Err()
}

func (s *summary) add(e event) {
	key := e.Package + " " + e.Test
	switch {
	case e.Action == "build-output":
		io.WriteString(s.w, e.Output)
	case e.Test == "" && e.Action == "output":
		if e.Output != "PASS\n" { // plain go test prints only the ok line
			io.WriteString(s.w, e.Output)
		}
	case e.Test == "" && e.Action == "fail":
		s.failed = true
		// Tests that never finished (a panic, a timeout): their output.
		for k, lines := range s.running {
			if strings.HasPrefix(k, e.Package+" ") {
				io.WriteString(s.w, strings.Join(lines, ""))
				delete(s.running, k)
			}
		}
	case e.Test == "":
	case e.Action == "output":
		if !strings.HasPrefix(strings.TrimSpace(e.Output), "=== ") {
			s.running[key] = append(s.running[key], e.Output)
		}
	case e.Action == "skip":
		s.skips = append(s.skips, fmt.Sprintf("SKIP %s %s: %s", e.Package, e.Test, reason(s.running[key])))
		delete(s.running, key)
	case e.Action == "pass":
		delete(s.running, key)
	case e.Action == "fail":
		s.failed = true
		top, _, sub := strings.Cut(e.Test, "/")
		topKey := e.Package + " " + top
		lines := headerFirst(s.running[key])
		if sub {
			s.held[topKey] = append(s.held[topKey], lines...)
		} else {
			io.WriteString(s.w, strings.Join(append(lines, s.held[topKey]...), ""))
			delete(s.held, topKey)
		}
		delete(s.running, key)
	}
}

// headerFirst puts a test's "--- FAIL: name" line (the last one in -json
// output) before what it logged, as plain go test prints it.
func headerFirst(lines []string) []string {
	var head, rest []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "--- ") {
			head = append(head, l)
		} else {
			rest = append(rest, l)
		}
	}
	return append(head, rest...)
}

// reason is what a skipped test logged: its t.Skip message.
func reason(lines []string) string {
	var r []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- SKIP") {
			r = append(r, l)
		}
	}
	if len(r) == 0 {
		return "(no reason given)"
	}
	return strings.Join(r, " ")
}

func (s *summary) printSkips() {
	for _, l := range s.skips {
		fmt.Fprintln(s.w, l)
	}
	fmt.Fprintf(s.w, "%d tests skipped\n", len(s.skips))
}
