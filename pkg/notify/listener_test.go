package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

// listenerName is the listener's application_name in pg_stat_activity.
const listenerName = "capgo-functions notify"

// logRecorder is a slog.Handler that keeps every record's level and
// message, and wakes waiters on each one.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{}, 1)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
	return nil
}

// count returns how many records have this level and message.
func (h *logRecorder) count(level slog.Level, msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}

// waitCount waits until at least n records have this level and message.
func (h *logRecorder) waitCount(tb testing.TB, level slog.Level, msg string, n int) {
	tb.Helper()
	deadline := time.After(arrival)
	for h.count(level, msg) < n {
		select {
		case <-h.changed:
		case <-deadline:
			tb.Fatalf("%d %s %q log lines never came (have %d)", n, level, msg, h.count(level, msg))
		}
	}
}

// running is a Listener started by startListener, stopped when the test
// ends.
type running struct {
	l        *notify.Listener
	payloads chan notify.Payload
	resets   chan struct{}
	logs     *logRecorder
	cancel   context.CancelFunc
	done     chan error // Run's result
}

func startListener(tb testing.TB, dsn string, tune func(*notify.Options)) *running {
	tb.Helper()
	r := &running{
		payloads: make(chan notify.Payload, 100),
		resets:   make(chan struct{}, 10),
		logs:     newLogRecorder(),
		done:     make(chan error, 1),
	}
	o := notify.Options{
		URL:        dsn,
		Handle:     func(p notify.Payload) { r.payloads <- p },
		Reset:      func() { r.resets <- struct{}{} },
		Log:        slog.New(r.logs),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	}
	if tune != nil {
		tune(&o)
	}
	l, err := notify.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	r.l = l
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- l.Run(ctx) }()
	tb.Cleanup(func() {
		r.cancel()
		<-r.done
	})
	return r
}

func (r *running) waitReset(tb testing.TB) {
	tb.Helper()
	select {
	case <-r.resets:
	case <-time.After(arrival):
		tb.Fatal("Reset was not called")
	}
}

func (r *running) next(tb testing.TB) notify.Payload {
	tb.Helper()
	select {
	case p := <-r.payloads:
		return p
	case <-time.After(arrival):
		tb.Fatal("no notification reached the handler")
		return notify.Payload{}
	}
}

// listenerBackends counts the listener's server processes on conn's database.
func listenerBackends(tb testing.TB, conn *pgx.Conn) int {
	tb.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", listenerName).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// terminateListener kills the listener's server process, as a failover or
// an idle-connection reaper would.
func terminateListener(tb testing.TB, conn *pgx.Conn) {
	tb.Helper()
	var n int
	err := conn.QueryRow(context.Background(), `
SELECT count(*) FROM (
  SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
) AS t`, listenerName).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	if n != 1 {
		tb.Fatalf("terminated %d listener backends, want 1", n)
	}
}

// allowConnections makes the database of dsn accept or refuse new
// connections (open ones stay), from a connection to database postgres: a
// database cannot refuse its own.
func allowConnections(tb testing.TB, dsn string, allow bool) {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	sql := fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", pgx.Identifier{db}.Sanitize(), allow)
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatal(err)
	}
}

func TestListenerDeliversChanges(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := connect(t, dsn)
	// The pool's URL works as is (pool_* settings are not sent to the
	// server). A tiny ping interval: the listener pings between
	// notifications all the time, which must not disturb delivery.
	r := startListener(t, dsn, func(o *notify.Options) {
		o.URL = dsn + "&pool_max_conns=4"
		o.PingInterval = 5 * time.Millisecond
	})
	r.waitReset(t)
	if !r.l.LastNotification().IsZero() {
		t.Errorf("LastNotification before any = %v, want zero", r.l.LastNotification())
	}

	// Wait until the listener has pinged at least once.
	deadline := time.Now().Add(arrival)
	for {
		var pinged bool
		err := w.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query = '-- ping')", listenerName).Scan(&pinged)
		if err != nil {
			t.Fatal(err)
		}
		if pinged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener never pinged")
		}
		time.Sleep(5 * time.Millisecond)
	}

	before := time.Now().Round(0)
	exec(t, w, "UPDATE apps SET name = 'Renamed' WHERE app_id = 'com.demo.app'")
	if got, want := r.next(t), (notify.Payload{Kind: notify.KindApp, ID: "com.demo.app"}); got != want {
		t.Errorf("handler got %+v, want %+v", got, want)
	}
	if !r.l.Listening() {
		t.Error("Listening = false while notifications arrive")
	}
	if last := r.l.LastNotification(); last.Before(before) {
		t.Errorf("LastNotification = %v, before the update at %v", last, before)
	}

	exec(t, w, "UPDATE stripe_info SET status = 'canceled' WHERE customer_id = '"+demoCustomer+"'")
	if got, want := r.next(t), (notify.Payload{Kind: notify.KindOrg, ID: demoOrg}); got != want {
		t.Errorf("handler got %+v, want %+v", got, want)
	}

	// Another listener's probe is skipped; a payload nobody knows drops
	// everything, with one Warn however often it comes.
	exec(t, w, "NOTIFY "+notify.Channel+", 'probe:0123456789abcdef'")
	exec(t, w, "NOTIFY "+notify.Channel+", 'bundle:42'")
	exec(t, w, "NOTIFY "+notify.Channel+", 'bundle:43'")
	for range 2 {
		if got, want := r.next(t), (notify.Payload{Kind: notify.KindAll}); got != want {
			t.Errorf("handler got %+v, want %+v", got, want)
		}
	}
	if n := r.logs.count(slog.LevelWarn, "notify.unknown_payload"); n != 1 {
		t.Errorf("%d Warn notify.unknown_payload lines, want 1", n)
	}
	if n := r.logs.count(slog.LevelWarn, "notify.connection_lost"); n != 0 {
		t.Errorf("%d Warn notify.connection_lost lines, want 0 (pings broke the connection?)", n)
	}
	select {
	case <-r.resets:
		t.Error("Reset called again without a reconnection")
	default:
	}
}

func TestListenerReconnectsAndResets(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := connect(t, dsn)
	r := startListener(t, dsn, nil)
	r.waitReset(t)

	terminateListener(t, w)
	r.waitReset(t)
	exec(t, w, "UPDATE channels SET allow_dev = false WHERE app_id = 'com.demo.app' AND name = 'beta'")
	if got, want := r.next(t), (notify.Payload{Kind: notify.KindApp, ID: "com.demo.app"}); got != want {
		t.Errorf("handler after reconnecting got %+v, want %+v", got, want)
	}
	if !r.l.Listening() {
		t.Error("Listening = false after reconnecting")
	}
	if n := r.logs.count(slog.LevelWarn, "notify.connection_lost"); n != 1 {
		t.Errorf("%d Warn notify.connection_lost lines, want 1", n)
	}
	if n := r.logs.count(slog.LevelInfo, "notify.listening"); n != 2 {
		t.Errorf("%d Info notify.listening lines, want 2 (start, recovery)", n)
	}
}

// During an outage the listener retries with backoff, logging one Warn when
// it starts and one Info when it ends, and reports that it is not
// listening.
func TestListenerOutageLogsOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := connect(t, dsn)
	r := startListener(t, dsn, nil)
	r.waitReset(t)

	// New connections are refused until ALLOW_CONNECTIONS is back; w stays.
	allowConnections(t, dsn, false)
	terminateListener(t, w)
	r.logs.waitCount(t, slog.LevelDebug, "notify.retry_failed", 3)
	if r.l.Listening() {
		t.Error("Listening = true while the database refuses connections")
	}
	allowConnections(t, dsn, true)
	r.waitReset(t)

	exec(t, w, "UPDATE orgs SET has_usage_credits = true WHERE id = '"+demoOrg+"'")
	if got, want := r.next(t), (notify.Payload{Kind: notify.KindOrg, ID: demoOrg}); got != want {
		t.Errorf("handler after the outage got %+v, want %+v", got, want)
	}
	if n := r.logs.count(slog.LevelWarn, "notify.connection_lost"); n != 1 {
		t.Errorf("%d Warn notify.connection_lost lines, want 1", n)
	}
	if n := r.logs.count(slog.LevelWarn, "notify.listen_failed"); n != 0 {
		t.Errorf("%d Warn notify.listen_failed lines, want 0", n)
	}
	if n := r.logs.count(slog.LevelInfo, "notify.listening"); n != 2 {
		t.Errorf("%d Info notify.listening lines, want 2 (start, recovery)", n)
	}
}

// A server that starts before its database waits for it, with one Warn.
func TestListenerWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	allowConnections(t, dsn, false)
	r := startListener(t, dsn, nil)
	r.logs.waitCount(t, slog.LevelDebug, "notify.retry_failed", 2)
	if r.l.Listening() {
		t.Error("Listening = true before the first connection")
	}
	allowConnections(t, dsn, true)
	r.waitReset(t)
	// The Info line follows Reset: wait for it rather than race it.
	r.logs.waitCount(t, slog.LevelInfo, "notify.listening", 1)
	if n := r.logs.count(slog.LevelWarn, "notify.listen_failed"); n != 1 {
		t.Errorf("%d Warn notify.listen_failed lines, want 1", n)
	}
	if n := r.logs.count(slog.LevelInfo, "notify.listening"); n != 1 {
		t.Errorf("%d Info notify.listening lines, want 1", n)
	}
}

// When the caller has already reported the database down (serve's
// start-up check), the listener's first failure is not said again as a
// Warn; it still starts listening once the database is up.
func TestListenerDownReported(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	allowConnections(t, dsn, false)
	r := startListener(t, dsn, func(o *notify.Options) { o.DownReported = true })
	r.logs.waitCount(t, slog.LevelDebug, "notify.retry_failed", 1)
	allowConnections(t, dsn, true)
	r.waitReset(t)
	r.logs.waitCount(t, slog.LevelInfo, "notify.listening", 1)
	if n := r.logs.count(slog.LevelWarn, "notify.listen_failed"); n != 0 {
		t.Errorf("%d Warn notify.listen_failed lines, want 0", n)
	}
	if n := r.logs.count(slog.LevelDebug, "notify.listen_failed"); n != 1 {
		t.Errorf("%d Debug notify.listen_failed lines, want 1", n)
	}
}

func TestListenerStopsWhenCanceled(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := connect(t, dsn)
	r := startListener(t, dsn, nil)
	r.waitReset(t)
	if n := listenerBackends(t, w); n != 1 {
		t.Fatalf("%d listener backends while running, want 1", n)
	}
	if err := r.l.Run(t.Context()); err == nil {
		t.Error("a second Run of a running listener returned nil")
	}

	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		r.done <- err // for the cleanup
	case <-time.After(arrival):
		t.Fatal("Run did not return after cancel")
	}
	if r.l.Listening() {
		t.Error("Listening = true after Run returned")
	}
	// The connection is closed; its server process exits right after.
	deadline := time.Now().Add(arrival)
	for listenerBackends(t, w) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listener's connection is still open after Run returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
