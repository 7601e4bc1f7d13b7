package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

// offerEvents are the rows of one /updates answer that offers a bundle:
// device_usage, version_usage, stats and the device upsert.
func offerEvents(i int) []plugin.Event {
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	d := device(id)
	return []plugin.Event{
		plugin.DeviceUsage{DeviceID: id, AppID: testApp, OrgID: testOrg, Platform: "android", VersionBuild: "1.0.0"},
		plugin.VersionUsage{AppID: testApp, VersionName: "1.0.1", Action: "get"},
		plugin.StatsEvent{AppID: testApp, DeviceID: id, Action: "get", VersionName: "1.0.1"},
		plugin.DeviceUpsert{Device: d},
	}
}

// BenchmarkWriteBatch writes batches of /updates answers' rows; events/s
// is the write path's ceiling for one writer at that batch size.
func BenchmarkWriteBatch(b *testing.B) {
	for _, requests := range []int{1, 25, 250} {
		b.Run(fmt.Sprintf("events=%d", 4*requests), func(b *testing.B) {
			s := New(pgtest.NewPool(b))
			n := 0
			start := time.Now()
			for b.Loop() {
				batch := make([]store.TimedEvent, 0, 4*requests)
				for range requests {
					for _, ev := range offerEvents(n) {
						batch = append(batch, store.TimedEvent{At: time.Now(), Event: ev})
					}
					n++
				}
				if _, err := s.WriteBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*n)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkSyncRecorder is the synchronous path: one transaction per
// request, the request waiting for it.
func BenchmarkSyncRecorder(b *testing.B) {
	r := New(pgtest.NewPool(b)).Recorder()
	n := 0
	start := time.Now()
	for b.Loop() {
		if err := r.Record(context.Background(), offerEvents(n)...); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(4*n)/time.Since(start).Seconds(), "events/s")
}
