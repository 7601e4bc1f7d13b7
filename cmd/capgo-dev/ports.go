package main

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
)

// checkPorts makes sure the server's address, its admin address and
// PostgreSQL's port are free before anything starts, so a taken one is the
// first and only line (not an error buried after PostgreSQL's start-up),
// naming the likely culprit and the fix. A port 0 address picks a free
// port, and an empty admin address turns the listener off: nothing to check.
func checkPorts(addr, adminAddr string, pgPort int) error {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" {
		if err := free(addr); err != nil {
			return fmt.Errorf("the server's address %s is taken (%v); %s, or choose another address: make dev ADDR=127.0.0.1:54400", addr, err, takenHint(port))
		}
	}
	if _, port, err := net.SplitHostPort(adminAddr); err == nil && port != "0" {
		if err := free(adminAddr); err != nil {
			return fmt.Errorf("the server's admin address %s (metrics and probes) is taken (%v; another `make dev` or capgo-functions still running?): stop it, or choose another address: make dev ADMIN_ADDR=127.0.0.1:9092 (ADMIN_ADDR= turns the admin listener off)", adminAddr, err)
		}
	}
	if pgPort != 0 {
		if err := free(net.JoinHostPort("127.0.0.1", strconv.Itoa(pgPort))); err != nil {
			return fmt.Errorf("the dev PostgreSQL port 127.0.0.1:%d is taken (%v; another `make dev` still running, or a PostgreSQL of your own?): stop it, or choose another port: make dev DEV_PG_PORT=%d", pgPort, err, pgPort+1)
		}
	}
	return nil
}

// takenHint names the likely holder of a taken server port.
func takenHint(port string) string {
	if port == "54321" {
		return "it is usually Supabase's own API gateway (Kong) from `supabase start`: run `supabase stop`"
	}
	return "stop whatever listens there"
}

// free reports whether addr can be listened on now.
func free(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return errors.New("address already in use")
		}
		return err
	}
	return ln.Close()
}

// serverExit is the outcome of `make dev` once the server exited: a
// server that stopped because of SIGINT or SIGTERM (Ctrl-C reaches it
// directly, and capgo-dev forwards it) is a normal end, whatever its
// status, so make reports no error. Any other failure is the server's.
func serverExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && (ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM) {
			return nil
		}
	}
	return fmt.Errorf("server: %w", err)
}
