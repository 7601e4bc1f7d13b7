package pgcluster

import "syscall"

// sysProcAttr runs a child as u (nil: as ourselves). With deathsig, the
// kernel SIGKILLs the child when the thread that started it exits, so a
// killed test binary does not leave a server behind.
func sysProcAttr(u *osUser, deathsig bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if u != nil {
		a.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	}
	if deathsig {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}

// processAlive reports whether pid exists (EPERM: it does, as another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
