package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capgo-functions/capgo-functions/pkg/gateway"
)

// Proxy counts and times the requests the gateway proxy sends to the
// Supabase gateway; it is a gateway.Observer.
type Proxy struct {
	total    *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewProxy registers the proxy metrics on reg. Every outcome's series
// exists from the start, at 0.
func NewProxy(reg prometheus.Registerer) *Proxy {
	p := &Proxy{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "requests_total",
			Help: "Requests passed to the Supabase gateway, by outcome: ok (answered, any status), dial_error, timeout (no answer headers in time), canceled (the client left), client_body (the client's body could not be read), other.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "proxy", Name: "upstream_duration_seconds",
			Help:    "Time from sending a request to the Supabase gateway to its answer headers (the request body included), for the requests it answered.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 150},
		}),
	}
	for _, o := range []string{gateway.OutcomeOK, gateway.OutcomeDialError, gateway.OutcomeTimeout,
		gateway.OutcomeCanceled, gateway.OutcomeClientBody, gateway.OutcomeOther} {
		p.total.WithLabelValues(o)
	}
	reg.MustRegister(p.total, p.duration)
	return p
}

// ObserveUpstream implements gateway.Observer.
func (p *Proxy) ObserveUpstream(outcome string, took time.Duration) {
	p.total.WithLabelValues(outcome).Inc()
	if outcome == gateway.OutcomeOK {
		p.duration.Observe(took.Seconds())
	}
}

// NotificationLag is the read model's notification lag histogram.
type NotificationLag struct{ h prometheus.Histogram }

// NewNotificationLag registers the histogram on reg.
func NewNotificationLag(reg prometheus.Registerer) *NotificationLag {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "readmodel", Name: "notification_lag_seconds",
		Help: "Time from receiving a change notification to having applied its invalidation. " +
			"The notifications carry no commit time, so the delay from the commit to the receipt is not included.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1 µs … 0.26 s
	})
	reg.MustRegister(h)
	return &NotificationLag{h: h}
}

// Applied is a readmodel.LiveOptions.ApplyLatency.
func (n *NotificationLag) Applied(took time.Duration) { n.h.Observe(took.Seconds()) }

// URLCacheCollector reads a bundle URL signer's cache counters
// (bundleurl.Storage.CacheStats) on each scrape.
func URLCacheCollector(c interface{ CacheStats() (hits, misses uint64) }) prometheus.Collector {
	var hits, misses uint64
	counter := func(name, help string, v *uint64) metric {
		return metric{desc("bundleurl", name, help), prometheus.CounterValue, func() float64 { return float64(*v) }}
	}
	return &scraped{before: func() { hits, misses = c.CacheStats() }, metrics: []metric{
		counter("cache_hits_total", "Signed bundle URLs answered from the signer's cache (a token, or a failed mint still remembered).", &hits),
		counter("cache_misses_total", "Signed bundle URL lookups that waited for a token to be minted.", &misses),
	}}
}
