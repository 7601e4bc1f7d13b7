package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capgo-functions/capgo-functions/pkg/readmodel"
	"github.com/capgo-functions/capgo-functions/pkg/recorder"
)

// gauge and counter describe one metric read on scrape.
type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func() float64
}

// scraped is a Collector of metrics read on each scrape.
type scraped struct {
	metrics []metric
	before  func() // called once per scrape, before the values are read
}

func (c *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *scraped) Collect(ch chan<- prometheus.Metric) {
	if c.before != nil {
		c.before()
	}
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value())
	}
}

func desc(subsystem, name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, nil, nil)
}

// RecorderCollector reads the recorder's Stats on each scrape.
func RecorderCollector(rec *recorder.Recorder) prometheus.Collector {
	var s recorder.Stats
	counter := func(name, help string, v *uint64) metric {
		return metric{desc("recorder", name, help), prometheus.CounterValue, func() float64 { return float64(*v) }}
	}
	return &scraped{before: func() { s = rec.Stats() }, metrics: []metric{
		{desc("recorder", "queue_events", "Events waiting to be written."), prometheus.GaugeValue, func() float64 { return float64(s.Queued) }},
		counter("events_accepted_total", "Events taken into the queue.", &s.Accepted),
		counter("events_written_total", "Events written to the database.", &s.Written),
		counter("events_failed_total", "Events the database refused row by row (logged, skipped).", &s.Failed),
		counter("events_refused_total", "Events not taken into the queue (full or closed): their requests got 503.", &s.Refused),
		counter("events_lost_total", "Events accepted but not written by the shutdown deadline.", &s.Lost),
		counter("events_withdrawn_total", "Events whose callers gave up before they were committed; never written.", &s.Withdrawn),
		counter("events_late_total", "Events written after their callers gave up.", &s.Late),
		counter("batch_retries_total", "Failed batch attempts that were retried.", &s.Retries),
	}}
}

// ReadModelCollector reads the read model's counters and size on each
// scrape.
func ReadModelCollector(st *readmodel.Store) prometheus.Collector {
	c := st.Counters()
	var apps int
	var bytes int64
	counter := func(name, help string, v interface{ Load() int64 }) metric {
		return metric{desc("readmodel", name, help), prometheus.CounterValue, func() float64 { return float64(v.Load()) }}
	}
	return &scraped{before: func() { apps, bytes = st.Len() }, metrics: []metric{
		counter("hits_total", "Reads answered from a loaded model.", &c.Hits),
		counter("loads_total", "Models loaded from the database.", &c.Loads),
		counter("load_errors_total", "Model loads that failed.", &c.LoadErrors),
		counter("invalidations_total", "Invalidations applied (notifications, resets).", &c.Invalidations),
		counter("evictions_total", "Models evicted to stay within the size bound.", &c.Evictions),
		counter("delegated_total", "Reads passed to the database instead of the model.", &c.Delegated),
		{desc("readmodel", "models", "Models held."), prometheus.GaugeValue, func() float64 { return float64(apps) }},
		{desc("readmodel", "bytes", "Estimated size of the models held."), prometheus.GaugeValue, func() float64 { return float64(bytes) }},
	}}
}

// PoolCollector reads the pgx pool's statistics on each scrape.
func PoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	var s *pgxpool.Stat
	gauge := func(name, help string, v func() float64) metric {
		return metric{desc("db_pool", name, help), prometheus.GaugeValue, v}
	}
	counter := func(name, help string, v func() float64) metric {
		return metric{desc("db_pool", name, help), prometheus.CounterValue, v}
	}
	return &scraped{before: func() { s = pool.Stat() }, metrics: []metric{
		gauge("connections_max", "Most connections the pool opens.", func() float64 { return float64(s.MaxConns()) }),
		gauge("connections_total", "Connections open (idle, in use and being opened).", func() float64 { return float64(s.TotalConns()) }),
		gauge("connections_acquired", "Connections in use.", func() float64 { return float64(s.AcquiredConns()) }),
		gauge("connections_idle", "Idle connections.", func() float64 { return float64(s.IdleConns()) }),
		gauge("connections_constructing", "Connections being opened.", func() float64 { return float64(s.ConstructingConns()) }),
		counter("acquires_total", "Connections acquired.", func() float64 { return float64(s.AcquireCount()) }),
		counter("acquire_duration_seconds_total", "Time spent acquiring connections.", func() float64 { return s.AcquireDuration().Seconds() }),
		counter("empty_acquires_total", "Acquires that waited for a connection.", func() float64 { return float64(s.EmptyAcquireCount()) }),
		counter("canceled_acquires_total", "Acquires canceled by their context.", func() float64 { return float64(s.CanceledAcquireCount()) }),
		counter("new_connections_total", "Connections opened.", func() float64 { return float64(s.NewConnsCount()) }),
	}}
}
