package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

// TestSIGTERMWritesEveryAcknowledgedUpdate: see sigtermRun; update checks
// only, with --ack=queued (a 2xx means queued).
func TestSIGTERMWritesEveryAcknowledgedUpdate(t *testing.T) {
	t.Parallel()
	sigtermRun(t, false, "queued")
}

// TestSIGTERMWritesEveryAcknowledgedStatsBatch: see sigtermRun; every
// fourth request is a /stats batch, with the default --ack=commit. A batch
// must be recorded as one unit: answered 200 with all its rows, or 503
// with none.
func TestSIGTERMWritesEveryAcknowledgedStatsBatch(t *testing.T) {
	t.Parallel()
	sigtermRun(t, true, "commit")
}

// sigtermRun runs the real binary as its own process and loads it with
// update checks (each offers a bundle and records a stats row, a
// device_usage row, a version_usage row and a devices row) and, with
// withStats, /stats batches (each of statsBatch events of one device: a
// stats and a device_usage row per event, one devices row). It holds the
// stats table locked so the recorder's queue fills and requests get 503,
// sends SIGTERM in the middle of it all, lets the database go again, and
// then checks the database holds exactly the rows of every request that
// got a 200 and none of any request that got a 503. Every request has a
// device id of its own.
func sigtermRun(t *testing.T, withStats bool, ack string) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.NewDB(t)
	bin := buildBinary(t)

	const (
		devices     = 4000
		concurrency = 64
		statsBatch  = 3
	)
	// A small queue, so that a blocked database fills it within a few
	// hundred requests and later ones are refused. With ack=commit the
	// queue holds only the events of requests waiting for their commit
	// (at most 64 requests here), so it must be smaller than that; and
	// the requests wait for the database longer than it is blocked.
	queue := []string{"CAPGO_RECORDER_QUEUE_SIZE=2000", "CAPGO_RECORDER_BATCH_SIZE=200"}
	if ack == "commit" {
		queue = []string{"CAPGO_RECORDER_QUEUE_SIZE=200", "CAPGO_RECORDER_BATCH_SIZE=50", "CAPGO_RECORDER_COMMIT_TIMEOUT=10s"}
	}
	srv := startServer(t, bin, append(queue,
		"DATABASE_URL="+dsn,
		"CAPGO_ACK="+ack,
		"CAPGO_RECORDER_FLUSH_INTERVAL=50ms",
		"CAPGO_RECORDER_ENQUEUE_WAIT=20ms",
		"CAPGO_SHUTDOWN_TIMEOUT=30s",
	)...)

	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	ids := make([]string, devices)
	isStats := func(i int) bool { return withStats && i%4 == 3 }
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	outcome := make([]string, devices) // "ok", "503", "error"
	var next, oks, unavailable atomic.Int64
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency},
	}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= devices {
					return
				}
				post, acknowledged := postUpdate, `"version":"1.0.0"`
				if isStats(i) {
					post, acknowledged = postStats(statsBatch), statsOK(statsBatch)
				}
				status, body, err := post(client, srv.url, ids[i])
				switch {
				case err != nil:
					outcome[i] = "error"
				case status == http.StatusOK && strings.Contains(body, acknowledged):
					outcome[i] = "ok"
					oks.Add(1)
				case status == http.StatusServiceUnavailable && body == `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`:
					outcome[i] = "503"
					unavailable.Add(1)
				default:
					outcome[i] = "unexpected"
					t.Errorf("device %s: %d %s", ids[i], status, body)
				}
			}
		})
	}

	// Phase 1: normal running. Phase 2: the stats table is locked, so the
	// writer blocks, the queue fills and requests are refused.
	waitUntil(t, "500 answers", func() bool { return oks.Load() >= 500 })
	lock, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.Background()) }()
	if _, err := lock.Exec(context.Background(), `LOCK TABLE stats IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "20 refusals", func() bool { return unavailable.Load() >= 20 })

	// Phase 3: SIGTERM while the queue is full and the database blocked;
	// then the database comes back and the recorder drains.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sentAt := next.Load()
	time.Sleep(500 * time.Millisecond)
	if err := lock.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := srv.wait(time.Minute); err != nil {
		t.Fatalf("server exit: %v\n%s", err, srv.logs())
	}

	// Every request after the server stopped failed to connect, so the
	// load really ran into the shutdown.
	counts := map[string]int{}
	for _, o := range outcome {
		counts[o]++
	}
	t.Logf("SIGTERM after %d requests sent; outcomes: %v", sentAt, counts)
	if counts["error"] == 0 {
		t.Errorf("no request failed to connect after SIGTERM: the load ended before the shutdown")
	}

	rows := rowsPerDevice(t, pool)
	var updatesRecorded, statsRecorded int
	for i, id := range ids {
		got, want := rows[id], [3]int{1, 1, 1}
		if isStats(i) {
			want = [3]int{statsBatch, statsBatch, 1}
		}
		switch outcome[i] {
		case "ok":
			if got != want {
				t.Errorf("acknowledged request %d (device %s): stats, device_usage, devices rows = %v, want %v", i, id, got, want)
			}
		case "503":
			if got != [3]int{} {
				t.Errorf("refused request %d (device %s): rows %v written", i, id, got)
			}
		default: // no answer: all of the request's rows or none
			if got != [3]int{} && got != want {
				t.Errorf("unanswered request %d (device %s): rows %v, want all (%v) or none", i, id, got, want)
			}
		}
		switch {
		case got == [3]int{}:
		case isStats(i):
			statsRecorded++
		default:
			updatesRecorded++
		}
	}
	var versionRows int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM version_usage WHERE app_id = 'com.demo.app'`).Scan(&versionRows); err != nil {
		t.Fatal(err)
	}
	if versionRows != updatesRecorded {
		t.Errorf("version_usage rows = %d, want one per recorded update check (%d)", versionRows, updatesRecorded)
	}
	recordedEvents := 4*updatesRecorded + 3*statsBatch*statsRecorded

	// The recorder's own account: nothing lost or refused by the database,
	// and everything it took is written.
	st := srv.recorderStats(t)
	t.Logf("recorder.closed: %+v", st)
	if st.Lost != 0 || st.Failed != 0 || st.Accepted != st.Written || st.Written != uint64(recordedEvents) || st.Refused == 0 {
		t.Errorf("recorder.closed stats = %+v; want nothing lost or failed, accepted = written = %d, some refused", st, recordedEvents)
	}
}

// postUpdate sends an update check that Capgo's fixture answers with an
// offer of 1.0.0 ("new version available" in Capgo's tests/updates.test.ts).
func postUpdate(client *http.Client, base, deviceID string) (int, string, error) {
	body := fmt.Sprintf(`{"app_id":"com.demo.app","device_id":%q,"platform":"android","version_build":"1.0.0",`+
		`"version_name":"1.1.0","plugin_version":"7.0.0","is_emulator":false,"is_prod":true}`, deviceID)
	res, err := client.Post(base+"/functions/v1/updates", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", err
	}
	return res.StatusCode, string(b), nil
}

// postStats sends a /stats batch of n events of one device ("get" of the
// fixture's bundle 1.0.0).
func postStats(n int) func(client *http.Client, base, deviceID string) (int, string, error) {
	return func(client *http.Client, base, deviceID string) (int, string, error) {
		events := make([]string, n)
		for i := range events {
			events[i] = fmt.Sprintf(`{"app_id":"com.demo.app","device_id":%q,"platform":"android","version_build":"1.0.0",`+
				`"version_name":"1.0.0","version_os":"14","plugin_version":"7.0.0","is_emulator":false,"is_prod":true,"action":"get"}`, deviceID)
		}
		res, err := client.Post(base+"/functions/v1/stats", "application/json", strings.NewReader("["+strings.Join(events, ",")+"]"))
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return 0, "", err
		}
		return res.StatusCode, string(b), nil
	}
}

// statsOK is the answer to a batch of n events that were all recorded.
func statsOK(n int) string {
	results := make([]string, n)
	for i := range results {
		results[i] = fmt.Sprintf(`{"status":"ok","index":%d}`, i)
	}
	return `{"status":"ok","results":[` + strings.Join(results, ",") + `]}`
}

// rowsPerDevice counts stats, device_usage and devices rows per device id.
func rowsPerDevice(t *testing.T, pool *pgxpool.Pool) map[string][3]int {
	t.Helper()
	out := map[string][3]int{}
	for col, table := range []string{"stats", "device_usage", "devices"} {
		rs, err := pool.Query(context.Background(), `SELECT device_id::text, count(*) FROM `+table+` GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		var n int
		_, err = pgx.ForEachRow(rs, []any{&id, &n}, func() error {
			c := out[id]
			c[col] = n
			out[id] = c
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// buildBinary builds this command into the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	gotool, err := exec.LookPath("go") // go test puts its own go first in PATH
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "capgo-functions")
	out, err := exec.Command(gotool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the server running as a child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	done chan error

	mu  sync.Mutex
	log bytes.Buffer
}

// startServer starts bin on a free loopback port with only the given
// environment (so the developer's CAPGO_* and S3_* settings stay out) and
// waits until it listens.
func startServer(t *testing.T, bin string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.log.Write(line)
			p.log.WriteByte('\n')
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "server.started" {
				addr <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("server exited before listening: %v\n%s", err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("server not listening after 30s\n%s", p.logs())
	}
	return p
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait waits for the process to exit and returns its exit error.
func (p *process) wait(timeout time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

// closedStats are the counters the recorder logs when it closes.
type closedStats struct {
	Accepted, Written, Failed, Lost, Refused, Retries uint64
	Queued                                            int
}

func (p *process) recorderStats(t *testing.T) closedStats {
	t.Helper()
	for line := range strings.SplitSeq(p.logs(), "\n") {
		var rec struct {
			Msg   string
			Stats closedStats
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "recorder.closed" {
			return rec.Stats
		}
	}
	t.Fatalf("no recorder.closed in the server's log:\n%s", p.logs())
	return closedStats{}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
