package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome indexes the bounded outcome label values.
type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeGone
	outcomeRejected
	outcomeRetry5xx
	outcomeRetryTimeout
	outcomeRetryNetwork
	outcomeRetry429
	outcomeRefused
	outcomeExpired
	nOutcomes
)

// outcomeNames are label values: stable, the dashboards read them.
var outcomeNames = [nOutcomes]string{
	"success", "gone", "rejected_4xx", "retry_5xx", "retry_timeout",
	"retry_network", "retry_429", "refused_by_policy", "expired",
}

type metrics struct {
	reg         prometheus.Registerer
	cs          []prometheus.Collector
	attemptsVec *prometheus.CounterVec
	attempts    [nOutcomes]prometheus.Counter
	duration    prometheus.Histogram
	enqueued    prometheus.Counter
	unavailable prometheus.Gauge
	hosts       *hostBuckets
}

// deliveryDurationBuckets are the delivery latency histograms' buckets.
var deliveryDurationBuckets = []float64{.001, .005, .025, .1, .25, .5, 1, 2.5, 5, 10, 30}

// sent records the duration of one delivery sent to host (host[:port]).
func (m *metrics) sent(host string, seconds float64) {
	m.duration.Observe(seconds)
	m.hosts.sent(host, seconds)
}

// attempt counts n outcomes oc of deliveries to host.
func (m *metrics) attempt(host string, oc outcome, n int) {
	m.attempts[oc].Add(float64(n))
	m.hosts.count(host, oc, n)
}

func newMetrics(reg prometheus.Registerer, e *Engine) (*metrics, error) {
	m := &metrics{reg: reg, hosts: newHostBuckets(e.o.HostBuckets, e.o.Now)}
	m.attemptsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palisade_delivery_attempts_total",
		Help: "Outbound deliveries by outcome: each attempt once (success, gone, rejected_4xx, retry_*), and jobs ended unsent (refused_by_policy) or given up (expired).",
	}, []string{"outcome"})
	for i, n := range outcomeNames {
		m.attempts[i] = m.attemptsVec.WithLabelValues(n)
	}
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "palisade_delivery_duration_seconds",
		Help:    "Time from sending a delivery to the end of its response (or its failure).",
		Buckets: deliveryDurationBuckets,
	})
	m.enqueued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "palisade_delivery_enqueued_total",
		Help: "Deliveries queued (one per distinct inbox per activity).",
	})
	m.unavailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "palisade_delivery_hosts_unavailable",
		Help: "Destination hosts currently marked unavailable (held and probed).",
	})
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palisade_delivery_pending",
		Help: "Deliveries stored and not finished, in flight included.",
	}, func() float64 { return float64(e.jobs.Pending()) })
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palisade_delivery_oldest_pending_seconds",
		Help: "How long ago the oldest pending delivery became due (0 when none): the delivery lag.",
	}, func() float64 {
		_, t := e.jobs.Stats()
		if t.IsZero() {
			return 0
		}
		return max(0, e.o.Now().Sub(t).Seconds())
	})
	for _, c := range append([]prometheus.Collector{m.attemptsVec, m.duration, m.enqueued, m.unavailable, pending, oldest}, m.hosts.collectors()...) {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("delivery: register metrics: %w (one Engine per registry)", err)
		}
		m.cs = append(m.cs, c)
	}
	return m, nil
}

// unregister removes the metrics so a new Engine may register them (tests
// restart engines on one registry).
func (m *metrics) unregister() {
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
	m.cs = nil
}
