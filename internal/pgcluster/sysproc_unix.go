//go:build unix && !linux

package pgcluster

import "syscall"

// sysProcAttr runs a child as u (nil: as ourselves), a server in a
// process group of its own (see sysproc_linux.go). Only Linux has a
// parent-death signal, so elsewhere a killed test binary can leave a server
// running until its data directory is removed.
func sysProcAttr(u *osUser, server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: server}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	return a
}

// processAlive reports whether pid exists (EPERM: it does, as another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
