//go:build unix

package pgcluster_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/pgcluster"
)

// The server runs in a process group of its own, so a Ctrl-C in the
// terminal (SIGINT to the foreground group) reaches only the program that
// started it, and Stop still stops it.
func TestServerHasItsOwnProcessGroup(t *testing.T) {
	t.Parallel()
	c := mustStart(t, pgcluster.Options{})
	t.Cleanup(func() { _ = c.Stop() })
	pidFile, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != pid || pgid == syscall.Getpgrp() {
		t.Errorf("postmaster %d is in process group %d (ours: %d), want its own", pid, pgid, syscall.Getpgrp())
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("postmaster %d after Stop: kill 0 = %v, want ESRCH (gone)", pid, err)
	}
}
