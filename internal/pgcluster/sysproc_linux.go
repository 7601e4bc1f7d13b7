package pgcluster

import "syscall"

// sysProcAttr runs a child as u (nil: as ourselves). A server (postgres,
// pgbouncer) runs in a process group of its own, so a Ctrl-C in the
// terminal reaches only the program that started it, which stops it last
// (capgo-dev: after the Go server, which would otherwise lose its
// database on the way down); and the kernel SIGKILLs it when the thread
// that started it exits, so a killed test binary does not leave a server
// behind.
func sysProcAttr(u *osUser, server bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	if server {
		a.Setpgid = true
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}

// processAlive reports whether pid exists (EPERM: it does, as another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
