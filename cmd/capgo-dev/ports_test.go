package main

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestCheckPortsReportsATakenPort: a taken server address, admin address
// or PostgreSQL port is one error naming it and the make variable that moves it.
func TestCheckPortsReportsATakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port

	err = checkPorts(taken, "", 0)
	if err == nil || !strings.Contains(err.Error(), "the server's address "+taken+" is taken (address already in use)") ||
		!strings.Contains(err.Error(), "make dev ADDR=") || strings.Contains(err.Error(), "\n") {
		t.Errorf("server address taken: %v", err)
	}
	err = checkPorts("127.0.0.1:0", taken, 0)
	if err == nil || !strings.Contains(err.Error(), "the server's admin address "+taken+" (metrics and probes) is taken") ||
		!strings.Contains(err.Error(), "make dev ADMIN_ADDR=") {
		t.Errorf("admin address taken: %v", err)
	}
	err = checkPorts("127.0.0.1:0", "", port)
	if err == nil || !strings.Contains(err.Error(), "the dev PostgreSQL port "+taken+" is taken") ||
		!strings.Contains(err.Error(), "make dev DEV_PG_PORT="+strconv.Itoa(port+1)) {
		t.Errorf("PostgreSQL port taken: %v", err)
	}
	if err := checkPorts("127.0.0.1:0", "127.0.0.1:0", 0); err != nil {
		t.Errorf("port 0 (any free port): %v", err)
	}
}

// TestKongHint: 54321 taken is, on a Supabase developer's machine,
// Supabase's own gateway.
func TestKongHint(t *testing.T) {
	t.Parallel()
	if h := takenHint("54321"); !strings.Contains(h, "supabase stop") {
		t.Errorf("hint for 54321: %q", h)
	}
	if h := takenHint("8080"); strings.Contains(h, "supabase") {
		t.Errorf("hint for 8080: %q", h)
	}
}

// TestServerExit: a server ended by SIGINT or SIGTERM is a normal end of
// make dev; one that fails on its own is an error.
func TestServerExit(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Signal(sig)
		if err := serverExit(cmd.Wait()); err != nil {
			t.Errorf("server ended by %v: %v", sig, err)
		}
	}
	if err := serverExit(exec.Command("sh", "-c", "exit 0").Run()); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	if err := serverExit(exec.Command("sh", "-c", "exit 3").Run()); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit 3: %v", err)
	}
}
