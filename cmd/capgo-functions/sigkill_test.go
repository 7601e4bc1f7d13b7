package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

// With the default --ack=commit a 2xx means the request's rows are
// committed, so killing the process cannot lose an acknowledged event.
// These tests run the real binary (see sigterm_test.go for the helpers).

// loadOutcome is what one request of the load got.
type loadOutcome int

const (
	unsent      loadOutcome = iota
	answeredOK              // 200 with the answer that records the rows
	answered503             // 503 service_unavailable
	noAnswer                // the connection failed (the process was killed)
)

// mixedLoad sends update checks (4 events each: stats, device_usage,
// version_usage, devices) and, every fourth request, a /stats batch of
// loadStatsBatch events of one device (a stats and a device_usage row per
// event, one devices row), each with a device id of its own, from
// concurrency clients, until stop is closed or the server stops answering.
type mixedLoad struct {
	ids     []string
	outcome []loadOutcome
	oks     atomic.Int64
	refused atomic.Int64
	wg      sync.WaitGroup
}

const loadStatsBatch = 3

func isStatsRequest(i int) bool { return i%4 == 3 }

func startMixedLoad(t *testing.T, url string, devices, concurrency int, stop <-chan struct{}) *mixedLoad {
	l := &mixedLoad{ids: make([]string, devices), outcome: make([]loadOutcome, devices)}
	for i := range l.ids {
		l.ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency},
	}
	var next atomic.Int64
	for range concurrency {
		l.wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1)) - 1
				if i >= devices {
					return
				}
				post, acknowledged := postUpdate, `"version":"1.0.0"`
				if isStatsRequest(i) {
					post, acknowledged = postStats(loadStatsBatch), statsOK(loadStatsBatch)
				}
				status, body, err := post(client, url, l.ids[i])
				switch {
				case err != nil:
					l.outcome[i] = noAnswer
					return // the server is gone
				case status == http.StatusOK && strings.Contains(body, acknowledged):
					l.outcome[i] = answeredOK
					l.oks.Add(1)
				case status == http.StatusServiceUnavailable && body == `{"error":"service_unavailable","message":"Service temporarily unavailable, retry later"}`:
					l.outcome[i] = answered503
					l.refused.Add(1)
				default:
					t.Errorf("device %s: %d %s", l.ids[i], status, body)
				}
			}
		})
	}
	return l
}

// want is the stats, device_usage and devices rows request i writes.
func (l *mixedLoad) want(i int) [3]int {
	if isStatsRequest(i) {
		return [3]int{loadStatsBatch, loadStatsBatch, 1}
	}
	return [3]int{1, 1, 1}
}

// events is how many events request i records.
func (l *mixedLoad) events(i int) int {
	if isStatsRequest(i) {
		return 3 * loadStatsBatch
	}
	return 4
}

func TestSIGKILLLosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.NewDB(t)
	bin := buildBinary(t)
	srv := startServer(t, bin, "DATABASE_URL="+dsn) // every recorder setting at its default: ack=commit

	const devices, concurrency = 200_000, 64
	stop := make(chan struct{})
	start := time.Now()
	l := startMixedLoad(t, srv.url, devices, concurrency, stop)
	// Mid-load: once a few thousand requests were answered (a few
	// seconds), kill the process without warning.
	waitUntil(t, "3000 answers", func() bool { return l.oks.Load() >= 3000 })
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	loadTime := time.Since(start)
	_ = srv.wait(time.Minute)
	close(stop)
	l.wg.Wait()

	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows := rowsPerDevice(t, pool)
	counts := map[loadOutcome]int{}
	var acknowledgedEvents, lost, updatesRecorded int
	for i, id := range l.ids {
		o := l.outcome[i]
		counts[o]++
		got, want := rows[id], l.want(i)
		if o == answeredOK {
			acknowledgedEvents += l.events(i)
		}
		switch {
		case o == answeredOK && got != want:
			lost++
			t.Errorf("acknowledged request %d (device %s): stats, device_usage, devices rows = %v, want %v", i, id, got, want)
		case got != [3]int{} && got != want:
			t.Errorf("request %d (device %s, outcome %d): rows %v, want all (%v) or none", i, id, o, got, want)
		}
		if got == want && !isStatsRequest(i) {
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
	t.Logf("SIGKILL after %s of load: %d requests answered 200 (%d events), %d answered 503, %d without answer; acknowledged events lost: %d",
		loadTime.Round(time.Millisecond), counts[answeredOK], acknowledgedEvents, counts[answered503], counts[noAnswer], lost)
	if counts[noAnswer] == 0 {
		t.Errorf("no request went unanswered: the kill did not happen mid-load")
	}
}

// A request whose rows are not committed within --recorder-commit-timeout
// is answered 503, and its rows are not written behind its back: still
// queued, they are withdrawn; in the commit under way, they are written
// when it ends and the recorder counts them (stats.late) and logs them
// (recorder.committed_late): the device's retry writes them again.
func TestCommitTimeoutAnswers503AndWritesNothingBehindItsBack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.NewDB(t)
	bin := buildBinary(t)
	srv := startServer(t, bin, "DATABASE_URL="+dsn, "CAPGO_RECORDER_COMMIT_TIMEOUT=300ms", "CAPGO_SHUTDOWN_TIMEOUT=30s")

	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	const devices, concurrency = 200_000, 32
	stop := make(chan struct{})
	l := startMixedLoad(t, srv.url, devices, concurrency, stop)
	waitUntil(t, "200 answers", func() bool { return l.oks.Load() >= 200 })
	// The database falls behind: the stats table is locked, every commit
	// waits, and requests time out.
	lock, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.Background()) }()
	if _, err := lock.Exec(context.Background(), `LOCK TABLE stats IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "100 refusals", func() bool { return l.refused.Load() >= 100 })
	if err := lock.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The database is back: requests are answered 200 again.
	oks := l.oks.Load()
	waitUntil(t, "200 more answers", func() bool { return l.oks.Load() >= oks+200 })
	close(stop)
	l.wg.Wait()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.wait(time.Minute); err != nil {
		t.Fatalf("server exit: %v\n%s", err, srv.logs())
	}

	rows := rowsPerDevice(t, pool)
	var refusedWithRows int // events
	for i, id := range l.ids {
		got, want := rows[id], l.want(i)
		switch o := l.outcome[i]; {
		case o == answeredOK && got != want:
			t.Errorf("acknowledged request %d (device %s): rows = %v, want %v", i, id, got, want)
		case got != [3]int{} && got != want:
			t.Errorf("request %d (device %s): rows %v, want all (%v) or none", i, id, got, want)
		case o == answered503 && got == want:
			refusedWithRows += l.events(i)
		}
	}
	st := closedRecorderStats(t, srv)
	t.Logf("%d answered 200, %d answered 503; recorder.closed: %+v", l.oks.Load(), l.refused.Load(), st)
	if st.Withdrawn == 0 {
		t.Errorf("no request gave up waiting for its commit: the database was not slow enough")
	}
	if refusedWithRows != int(st.Late) {
		t.Errorf("requests answered 503 have %d events written, the recorder counted %d as late: events were written behind their callers' back",
			refusedWithRows, st.Late)
	}
}

// closedRecorderStats reads the counters of the recorder.closed log line.
func closedRecorderStats(t *testing.T, p *process) struct{ Accepted, Written, Withdrawn, Late, Lost uint64 } {
	t.Helper()
	for line := range strings.SplitSeq(p.logs(), "\n") {
		var rec struct {
			Msg   string
			Stats struct{ Accepted, Written, Withdrawn, Late, Lost uint64 }
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "recorder.closed" {
			return rec.Stats
		}
	}
	t.Fatalf("no recorder.closed in the server's log:\n%s", p.logs())
	return struct{ Accepted, Written, Withdrawn, Late, Lost uint64 }{}
}
