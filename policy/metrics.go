package policy

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTopDomains is how many domains get their own label in
// palisade_policy_domain_decisions_total by default.
const DefaultTopDomains = 50

// promoteAfter is how many decisions a domain needs before it gets its own
// label, so a burst of one-off domains does not take all the slots.
const promoteAfter = 100

// maxCandidates bounds the domains counted towards promotion; the counts
// start over when it is reached (fair to steady heavy domains, which reach
// promoteAfter again quickly).
const maxCandidates = 4096

// metrics are the engine's Prometheus metrics.
//
// palisade_policy_decisions_total{rule,action,mode} counts every fired rule
// (mode "enforce") and every shadow rule that would have fired (mode
// "shadow"); decisions where nothing fired count as rule="none",
// action="accept". Effects of the domain table count as rule="domain_policy"
// so that a 100,000-entry table does not become 100,000 series; the
// per-domain counter says which domains.
//
// palisade_policy_domain_decisions_total{domain,action} counts decisions by
// actor domain and decided action. Its cardinality is bounded: the first
// DefaultTopDomains (or WithTopDomains) domains to reach promoteAfter
// decisions get their own label for the life of the process, all others
// count as domain="other". Labels are sticky, so every series only grows.
type metrics struct {
	decisions *prometheus.CounterVec
	rateLimit prometheus.Counter
	domains   *domainCounters
	domDesc   *prometheus.Desc
}

func newMetrics(top int) *metrics {
	if top <= 0 {
		top = DefaultTopDomains
	}
	return &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_policy_decisions_total",
			Help: "Policy rules that fired, by rule id, action and mode (enforce or shadow).",
		}, []string{"rule", "action", "mode"}),
		rateLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_policy_rate_limited_total",
			Help: "Activities refused by a rate rule (answered 429).",
		}),
		domains: &domainCounters{max: top, cand: map[string]uint32{}},
		domDesc: prometheus.NewDesc("palisade_policy_domain_decisions_total",
			"Policy decisions by actor domain (top domains, the rest as \"other\") and decided action.",
			[]string{"domain", "action"}, nil),
	}
}

func (m *metrics) observe(host string, d *Decision) {
	if len(d.Fired) == 0 {
		m.decisions.WithLabelValues("none", "accept", "enforce").Inc()
	}
	for _, f := range d.Fired {
		m.decisions.WithLabelValues(ruleLabel(f.RuleID), f.Action.String(), "enforce").Inc()
	}
	for _, f := range d.Shadow {
		m.decisions.WithLabelValues(ruleLabel(f.RuleID), f.Action.String(), "shadow").Inc()
	}
	if d.RateLimited {
		m.rateLimit.Inc()
	}
	m.domains.inc(host, d.Action)
}

func ruleLabel(id string) string {
	if strings.HasPrefix(id, "domain:") {
		return "domain_policy"
	}
	return id
}

// domainCounters counts per domain with sticky, bounded labels.
type domainCounters struct {
	max   int
	slots atomic.Pointer[map[string]*[numActions]atomic.Uint64] // copy-on-write; read without locks
	full  atomic.Bool
	other [numActions]atomic.Uint64

	mu   sync.Mutex
	cand map[string]uint32
}

func (dc *domainCounters) inc(host string, a Action) {
	if a >= numActions {
		return
	}
	if p := dc.slots.Load(); p != nil {
		if c, ok := (*p)[host]; ok {
			c[a].Add(1)
			return
		}
	}
	dc.other[a].Add(1)
	if dc.full.Load() || host == "" {
		return
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.full.Load() {
		return
	}
	n := dc.cand[host] + 1
	if n < promoteAfter {
		if len(dc.cand) >= maxCandidates {
			clear(dc.cand)
		}
		dc.cand[host] = n
		return
	}
	delete(dc.cand, host)
	old := map[string]*[numActions]atomic.Uint64{}
	if p := dc.slots.Load(); p != nil {
		old = *p
	}
	next := make(map[string]*[numActions]atomic.Uint64, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[strings.Clone(host)] = new([numActions]atomic.Uint64)
	dc.slots.Store(&next)
	if len(next) >= dc.max {
		dc.full.Store(true)
		dc.cand = nil
	}
}

// Collector returns the engine's Prometheus metrics, for the caller to
// register on its admin registry.
func (e *Engine) Collector() prometheus.Collector { return (*metricsCollector)(e.metrics) }

type metricsCollector metrics

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	c.decisions.Describe(ch)
	c.rateLimit.Describe(ch)
	ch <- c.domDesc
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	c.decisions.Collect(ch)
	c.rateLimit.Collect(ch)
	emit := func(domain string, counts *[numActions]atomic.Uint64) {
		for a := range numActions {
			if v := counts[a].Load(); v > 0 {
				ch <- prometheus.MustNewConstMetric(c.domDesc, prometheus.CounterValue, float64(v), domain, a.String())
			}
		}
	}
	if p := c.domains.slots.Load(); p != nil {
		for d, counts := range *p {
			emit(d, counts)
		}
	}
	emit("other", &c.domains.other)
}
