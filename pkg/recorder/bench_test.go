package recorder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
	"github.com/capgo-functions/capgo-functions/pkg/store/pgstore"
)

// discard is a BatchWriter that writes nothing, to measure the queue alone.
type discard struct{}

func (discard) WriteBatch(context.Context, []store.TimedEvent) ([]store.Rejected, error) {
	return nil, nil
}

// offerEvents are the rows of one /updates answer that offers a bundle.
func offerEvents(i int64) []plugin.Event {
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	return []plugin.Event{
		plugin.DeviceUsage{DeviceID: id, AppID: "com.bench.app", OrgID: "046a36ac-e03c-4590-9257-bd6c9dba9ee8", Platform: "android", VersionBuild: "1.0.0"},
		plugin.VersionUsage{AppID: "com.bench.app", VersionName: "1.0.1", Action: "get"},
		plugin.StatsEvent{AppID: "com.bench.app", DeviceID: id, Action: "get", VersionName: "1.0.1"},
		plugin.DeviceUpsert{Device: plugin.Device{AppID: "com.bench.app", DeviceID: id, Platform: "android",
			PluginVersion: "7.0.0", VersionBuild: "1.0.0", VersionName: "1.0.1", IsProd: true}},
	}
}

// BenchmarkRecord is the recorder's own cost per request, with a writer
// that writes nothing: queueing one answer's four events (ack=queued), or
// queueing them and being woken by the writer (ack=commit), from many
// goroutines at once.
func BenchmarkRecord(b *testing.B) {
	for _, ack := range []Ack{AckQueued, AckCommit} {
		b.Run("ack="+string(ack), func(b *testing.B) {
			r, err := New(discard{}, Options{Ack: ack, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), EnqueueWait: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			events := offerEvents(0)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.Record(context.Background(), events...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if err := r.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRecorderToPostgres queues b.N answers' events from many
// goroutines (ack=queued) and closes the recorder, so the time includes
// writing every row to PostgreSQL: events/s is the write path's sustained
// throughput with full batches. BenchmarkAck compares the two modes.
func BenchmarkRecorderToPostgres(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st := pgstore.New(pgtest.NewPool(b))
			r, err := New(st, Options{Ack: AckQueued, BatchSize: batch, EnqueueWait: 10 * time.Second,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.Record(context.Background(), offerEvents(n.Add(1))...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := r.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s := r.Stats()
			if s.Written != s.Accepted || s.Failed != 0 {
				b.Fatalf("stats %+v: not everything written", s)
			}
			b.ReportMetric(float64(s.Written)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAck compares what a 2xx costs in each mode against PostgreSQL:
// b.N calls of Record, each of events events of a device of its own, from
// callers goroutines, then Close (so ack=queued is timed until its rows
// are written too). It reports the throughput in events/s, the latency of
// Record (p50 and p99, in µs: what a request waits for its 2xx) and how
// many calls one WriteBatch carried on average.
func BenchmarkAck(b *testing.B) {
	for _, ack := range []Ack{AckCommit, AckQueued} {
		for _, callers := range []int{1, 16, 64} {
			for _, events := range []int{1, 10} {
				b.Run(fmt.Sprintf("ack=%s/callers=%d/events=%d", ack, callers, events), func(b *testing.B) {
					benchmarkAck(b, pgstore.New(pgtest.NewPool(b)), ack, callers, events)
				})
			}
		}
	}
}

func benchmarkAck(b *testing.B, st BatchWriter, ack Ack, callers, perCall int) {
	w := &countingWriter{w: st}
	r, err := New(w, Options{Ack: ack, EnqueueWait: 10 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	latencies := make([][]time.Duration, callers)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				events := benchEvents(i, perCall)
				start := time.Now()
				if err := r.Record(context.Background(), events...); err != nil {
					b.Error(err)
					return
				}
				latencies[g] = append(latencies[g], time.Since(start))
			}
		})
	}
	wg.Wait()
	if err := r.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := r.Stats()
	if s.Written != s.Accepted || s.Written != uint64(b.N*perCall) {
		b.Fatalf("stats %+v: not everything written", s)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(s.Written)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/float64(w.attempts.Load()), "calls/batch")
}

// benchEvents are the events of call i: perCall events of device i, taken
// in turn from an offered update's (device_usage, version_usage, stats,
// devices).
func benchEvents(i int64, perCall int) []plugin.Event {
	offer := offerEvents(i)
	out := make([]plugin.Event, perCall)
	for k := range out {
		out[k] = offer[k%len(offer)]
	}
	return out
}
