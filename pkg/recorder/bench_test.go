package recorder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

// BenchmarkRecord is the cost a request pays: queueing one answer's four
// events, from many goroutines at once.
func BenchmarkRecord(b *testing.B) {
	r, err := New(discard{}, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), EnqueueWait: time.Second})
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
}

// BenchmarkRecorderToPostgres queues b.N answers' events from many
// goroutines and closes the recorder, so the time includes writing every
// row to PostgreSQL: events/s is the write path's sustained throughput.
func BenchmarkRecorderToPostgres(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st := pgstore.New(pgtest.NewPool(b))
			r, err := New(st, Options{BatchSize: batch, EnqueueWait: 10 * time.Second,
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
