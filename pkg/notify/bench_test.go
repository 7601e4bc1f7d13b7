package notify_test

import (
	"slices"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/notify"
)

// BenchmarkCommitToHandler measures how long a change takes to reach a
// Listener's handler: from sending an autocommit UPDATE of an apps row to
// the handler being called, one change at a time. PostgreSQL delivers the
// notification at commit, which is before the writer hears back, so
// "write-p50/p99" (statement sent → handler) bounds commit → handler from
// above; "exec-p50" is the UPDATE's own round trip, for comparison.
func BenchmarkCommitToHandler(b *testing.B) {
	dsn := pgtest.NewDB(b)
	w := connect(b, dsn)
	handled := make(chan time.Time, 1)
	r := startListener(b, dsn, func(o *notify.Options) {
		o.Handle = func(notify.Payload) { handled <- time.Now() }
	})
	r.waitReset(b)

	var toHandler, execs []time.Duration
	for b.Loop() {
		start := time.Now()
		exec(b, w, "UPDATE apps SET updated_at = now() WHERE app_id = 'com.demo.app'")
		done := time.Now()
		select {
		case at := <-handled:
			toHandler = append(toHandler, at.Sub(start))
		case <-time.After(arrival):
			b.Fatal("the notification never reached the handler")
		}
		execs = append(execs, done.Sub(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(toHandler, 50).Microseconds()), "write-p50-µs")
	b.ReportMetric(float64(percentile(toHandler, 99).Microseconds()), "write-p99-µs")
	b.ReportMetric(float64(percentile(execs, 50).Microseconds()), "exec-p50-µs")
}

// BenchmarkBulkImport inserts 10,000 channel_devices rows of one app in one
// transaction (then deletes them, untimed), with and without the notify
// triggers: their cost on a bulk write. It runs as session_replication_role
// = replica, where only ALWAYS triggers fire, so the difference is the
// notify trigger alone (in origin sessions the schema's own per-row
// triggers, owner_org and the device count, cost far more).
func BenchmarkBulkImport(b *testing.B) {
	const insert = `
INSERT INTO channel_devices (channel_id, app_id, device_id, owner_org)
SELECT c.id, c.app_id, 'device-' || i, c.owner_org
FROM generate_series(1, 10000) AS i JOIN channels AS c ON c.app_id = 'com.demo.app' AND c.name = 'beta'`
	for _, triggers := range []string{"notify", "none"} {
		b.Run(triggers, func(b *testing.B) {
			w := connect(b, pgtest.NewDB(b))
			if triggers == "none" {
				exec(b, w, dropAll)
			}
			exec(b, w, "SET session_replication_role = replica")
			for b.Loop() {
				exec(b, w, insert)
				b.StopTimer()
				exec(b, w, "DELETE FROM channel_devices")
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/row")
		})
	}
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
