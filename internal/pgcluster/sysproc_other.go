//go:build !unix

package pgcluster

import "syscall"

// sysProcAttr: outside Unix there is no user switch (os.Geteuid is -1, so we
// never try) and no parent-death signal.
func sysProcAttr(*osUser, bool) *syscall.SysProcAttr { return nil }

// processAlive cannot tell here, so it never lets removeStale delete a
// directory that has a lock file.
func processAlive(int) bool { return true }
