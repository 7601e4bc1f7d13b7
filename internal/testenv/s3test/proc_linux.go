package s3test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill versitygw when the test process dies
// without running its cleanups (test timeout, SIGKILL).
//
// Pdeathsig fires when the thread that forked the child exits; the Go
// runtime only ends threads locked with runtime.LockOSThread, which these
// helpers never do, so in practice it fires when the process exits.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
