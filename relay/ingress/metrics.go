package ingress

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-fedi/palisade/relay/keys"
)

// Stage names, in pipeline order. They are Prometheus label values: stable.
const (
	stageTransport = "transport"
	stageSignature = "signature"
	stageDomain    = "domain_gate"
	stageRate      = "rate_limit"
	stageDigest    = "digest"
	stageParse     = "parse"
	stageDedup     = "dedup"
	stageKey       = "key"
	stageVerify    = "verify"
	stagePolicy    = "policy"
	stageQueue     = "queue"
)

// Metrics are the ingress's Prometheus series. Every ending of a request is
// counted once in palisade_ingress_requests_total with the stage that ended
// it, a reason code from a fixed vocabulary, and the status sent.
type Metrics struct {
	requests   *prometheus.CounterVec
	stageTime  *durationHist // series in stagesArr order
	total      *durationHist
	keyLookups *prometheus.CounterVec
	// keyBySource holds the key-lookup counters by keys.Source (index 0
	// counts errors), resolved once so the hot path hashes no labels.
	keyBySource [4]prometheus.Counter
	// inflight backs palisade_ingress_inflight_requests: one atomic add a
	// request each way, where a Gauge's Inc is a compare-and-swap loop.
	inflight atomic.Int64

	// ending caches the requests counter's children by endingKey: a hit is
	// a lock-free load (an RWMutex's read lock writes a shared word).
	ending sync.Map
}

var stagesArr = [...]string{stageTransport, stageSignature, stageDomain, stageRate, stageDigest, stageParse, stageDedup, stageKey, stageVerify, stagePolicy, stageQueue}

type endingKey struct {
	stage, reason string
	code          int
}

// NewMetrics registers the ingress metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_ingress_requests_total",
			Help: "Inbound federation requests by the pipeline stage that ended them, the reason, and the HTTP status sent.",
		}, []string{"stage", "reason", "code"}),
		stageTime: newDurationHist("palisade_ingress_stage_duration_seconds",
			"Time spent in each ingress stage.", "stage", stagesArr[:],
			[]float64{1e-6, 5e-6, 2.5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, .025, .1, .5, 2.5, 10}),
		total: newDurationHist("palisade_ingress_request_duration_seconds",
			"Time from request read to response, for inbox requests.", "", nil,
			[]float64{1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, .01, .025, .05, .1, .25, 1, 5}),
		keyLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_ingress_key_lookups_total",
			Help: "Actor key resolutions by where the key came from (memory, store, fetch) or error.",
		}, []string{"source"}),
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palisade_ingress_inflight_requests",
		Help: "Inbox requests being processed now.",
	}, func() float64 { return float64(m.inflight.Load()) })
	m.keyBySource[0] = m.keyLookups.WithLabelValues("error")
	for _, src := range []keys.Source{keys.SourceMemory, keys.SourceStore, keys.SourceFetch} {
		m.keyBySource[src] = m.keyLookups.WithLabelValues(src.String())
	}
	reg.MustRegister(m.requests, m.stageTime, m.total, m.keyLookups, inflight)
	return m
}

// count adds one to the ending's counter, caching the child so the hot path
// does not hash label values on every request.
func (m *Metrics) count(stage, reason string, code int) {
	k := endingKey{stage, reason, code}
	c, ok := m.ending.Load(k)
	if !ok {
		c, _ = m.ending.LoadOrStore(k, m.requests.WithLabelValues(stage, reason, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}
