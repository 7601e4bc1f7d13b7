package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The CPU columns say where a request's cost goes on this machine: the
// server process, PostgreSQL (the postmaster and every backend) and wrk.
// They are what explains a ratio to the ceiling: on a box where all three
// share the cores, req/s is at most cores ÷ (their sum per request).

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the CPU a process has used: user and system time, and with
// children set also that of its children it has waited for (a
// postmaster's exited backends).
func procCPU(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	fields := f[11:13] // utime, stime (fields 14, 15)
	if children {
		fields = f[11:15] // and cutime, cstime
	}
	var ticks int64
	for _, s := range fields {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// parentOf is a process's parent pid, or 0 when it has gone.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// treeCPU is the CPU of a process and of its children, live or exited.
func treeCPU(pid int) (time.Duration, error) {
	total, err := procCPU(pid, true)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || parentOf(child) != pid {
			continue
		}
		if d, err := procCPU(child, true); err == nil { // a backend may exit meanwhile
			total += d
		}
	}
	return total, nil
}

// selfCPU is this process's CPU: the ceiling handler runs in it.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// postmasterPID reads the first line of a data directory's postmaster.pid.
func postmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

// cpuMeter reads the CPU used so far by the measured server and by
// PostgreSQL (nil when there is none, as for the ceiling).
type cpuMeter struct {
	server   func() (time.Duration, error)
	database func() (time.Duration, error)
}

// cpuSample is what a cpuMeter read at one moment.
type cpuSample struct{ server, database time.Duration }

func (m cpuMeter) read() (cpuSample, error) {
	var s cpuSample
	var err error
	if s.server, err = m.server(); err != nil {
		return s, fmt.Errorf("server CPU: %w", err)
	}
	if m.database != nil {
		if s.database, err = m.database(); err != nil {
			return s, fmt.Errorf("PostgreSQL CPU: %w", err)
		}
	}
	return s, nil
}

// perRequest is each CPU figure divided by the requests wrk completed.
type perRequest struct{ server, database, wrk time.Duration }

func (p perRequest) cells() []string {
	us := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64)
	}
	return []string{us(p.server), us(p.database), us(p.wrk)}
}
