package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func lookWrk() (string, error) {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk is not installed: apt-get install wrk")
	}
	return p, nil
}

// wrkScript posts body with a fresh random device id in every request,
// so the server sees many devices as it would in the field.
const wrkScript = `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = [==[%s]==]
local n = 0
local seed = 0
function setup(thread)
  seed = seed + 1
  thread:set("seed", seed)
end
function init(args)
  math.randomseed(seed * 7919 + os.time())
end
function request()
  n = n + 1
  local id = string.format("%%08x-%%04x-4000-8000-%%012x", math.random(0, 2147483646), n %% 65536, seed * 1000000 + n)
  return wrk.format(nil, nil, nil, (body:gsub("DEVICE_ID", id)))
end
`

// measure checks that url answers body as expected (want in the answer),
// then loads it with wrk and returns its figures, with the CPU the server,
// PostgreSQL and wrk used per request meanwhile.
func measure(ctx context.Context, o options, conns int, url, body, want string, meter cpuMeter) (row, error) {
	if err := check(ctx, url, strings.ReplaceAll(body, deviceSlot, "6f0e3c2a-0000-4000-8000-000000000001"), want); err != nil {
		return row{}, err
	}
	dir, err := os.MkdirTemp("", "capgo-bench-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "body.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, body)), 0o600); err != nil {
		return row{}, err
	}
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(o.duration.Seconds()))+"s", "--latency", "-s", script, url)
	before, err := meter.read()
	if err != nil {
		return row{}, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return row{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	after, err := meter.read()
	if err != nil {
		return row{}, err
	}
	r, err := parseWrk(out)
	if err != nil || r.requests == 0 {
		return r, err
	}
	n := time.Duration(r.requests)
	r.cpu = perRequest{
		server:   (after.server - before.server) / n,
		database: (after.database - before.database) / n,
		wrk:      (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / n,
	}
	return r, nil
}

// check sends one request and compares the answer.
func check(ctx context.Context, url, body, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 || !bytes.Contains(b, []byte(want)) {
		return fmt.Errorf("POST %s answered %d %s; want 2xx with %s", url, res.StatusCode, b, want)
	}
	return nil
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkCount   = regexp.MustCompile(`(\d+) requests in`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: (.*)`)
)

// parseWrk reads wrk --latency's report.
func parseWrk(out []byte) (row, error) {
	var r row
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk printed no rate: %s", out)
	}
	r.reqs, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := wrkCount.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		d := time.Duration(v * float64(unit)).Round(10 * time.Microsecond)
		if string(m[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkSockErr.FindSubmatch(out); m != nil {
		fmt.Fprintln(os.Stderr, "capgo-bench: wrk socket errors:", string(m[1]))
	}
	return r, nil
}

// peakRSS is a process's peak resident set (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}
