//go:build !linux

package s3test

import "os/exec"

// setDeathSignal is a no-op outside Linux: only tb.Cleanup stops the
// server there.
func setDeathSignal(cmd *exec.Cmd) {}
