// Package metrics is the server's Prometheus metrics, registered on a
// registry of the caller's (cmd/capgo-functions builds one per app; no
// package globals). Request metrics are observed as requests end
// (server.Observer); the write path's batches as they commit
// (recorder.Options.Committed); everything the components already count
// (the recorder's Stats, the read model's counters, the pgx pool's Stat)
// is read on scrape by a Collector, so no hot path is instrumented twice.
//
// Names follow Prometheus conventions: capgo_functions_ prefix, base units
// (seconds, bytes), _total for counters.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capgo-functions/capgo-functions/pkg/plugin"
	"github.com/capgo-functions/capgo-functions/pkg/store"
)

const namespace = "capgo_functions"

// Requests counts and times the device functions' requests; it is a
// server.Observer.
type Requests struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewRequests registers the request metrics on reg.
func NewRequests(reg prometheus.Registerer) *Requests {
	r := &Requests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Device function requests answered, by function, method, status and Capgo error code (\"\" for none).",
		}, []string{"function", "method", "status", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "request_duration_seconds",
			Help:    "Time from routing a device function request to the end of its answer, by function, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"function", "method", "status"}),
	}
	reg.MustRegister(r.total, r.duration)
	return r
}

// ObserveRequest implements server.Observer.
func (r *Requests) ObserveRequest(function, method string, status int, code plugin.Code, took time.Duration) {
	s := strconv.Itoa(status)
	r.total.WithLabelValues(function, method, s, string(code)).Inc()
	r.duration.WithLabelValues(function, method, s).Observe(took.Seconds())
}

// Batches observes the recorder's committed batches: their size, commit
// latency and rows by table.
type Batches struct {
	size    prometheus.Histogram
	latency prometheus.Histogram
	rows    *prometheus.CounterVec
}

// NewBatches registers the batch metrics on reg.
func NewBatches(reg prometheus.Registerer) *Batches {
	b := &Batches{
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "recorder", Name: "batch_size_events",
			Help:    "Events per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 … 16384
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "recorder", Name: "commit_duration_seconds",
			Help:    "Time of the database attempt that committed a batch.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "recorder", Name: "rows_total",
			Help: "Rows in committed batches, by table (rows the database refused one by one are also counted in capgo_functions_recorder_events_failed_total).",
		}, []string{"table"}),
	}
	reg.MustRegister(b.size, b.latency, b.rows)
	return b
}

// Committed is a recorder.Options.Committed.
func (b *Batches) Committed(batch []store.TimedEvent, took time.Duration) {
	b.size.Observe(float64(len(batch)))
	b.latency.Observe(took.Seconds())
	var n [5]int
	for _, e := range batch {
		switch e.Event.(type) {
		case plugin.StatsEvent:
			n[0]++
		case plugin.DeviceUpsert:
			n[1]++
		case plugin.DeviceUsage:
			n[2]++
		case plugin.VersionUsage:
			n[3]++
		case plugin.BandwidthUsage:
			n[4]++
		}
	}
	for i, table := range rowTables {
		if n[i] > 0 {
			b.rows.WithLabelValues(table).Add(float64(n[i]))
		}
	}
}

// rowTables are the tables of each event type, in Committed's order
// (pkg/store/pgstore/batch.go).
var rowTables = [...]string{"stats", "devices", "device_usage", "version_usage", "bandwidth_usage"}
