package keys

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the resolver's Stats as Prometheus counters
// (palisade_keys_*_total). Register it once per Resolver.
func (r *Resolver) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Resolver }

var statDescs = []struct {
	desc *prometheus.Desc
	get  func(Stats) uint64
}{
	{prometheus.NewDesc("palisade_keys_memory_hits_total", "Key lookups answered by the in-memory LRU.", nil, nil), func(s Stats) uint64 { return s.MemoryHits }},
	{prometheus.NewDesc("palisade_keys_store_hits_total", "Key lookups answered by the persistent store.", nil, nil), func(s Stats) uint64 { return s.StoreHits }},
	{prometheus.NewDesc("palisade_keys_negative_hits_total", "Key lookups answered by a cached failure.", nil, nil), func(s Stats) uint64 { return s.NegativeHits }},
	{prometheus.NewDesc("palisade_keys_fetches_total", "Remote key fetches started (one per keyId however many waiters).", nil, nil), func(s Stats) uint64 { return s.Fetches }},
	{prometheus.NewDesc("palisade_keys_fetch_failures_total", "Remote key fetches that failed (then negatively cached).", nil, nil), func(s Stats) uint64 { return s.FetchFailures }},
	{prometheus.NewDesc("palisade_keys_blocked_total", "Key fetches refused by the domain gate.", nil, nil), func(s Stats) uint64 { return s.Blocked }},
	{prometheus.NewDesc("palisade_keys_refetches_total", "Forced key re-fetches (rotation).", nil, nil), func(s Stats) uint64 { return s.Refetches }},
	{prometheus.NewDesc("palisade_keys_refetches_limited_total", "Forced re-fetches refused by the per-key rate limit.", nil, nil), func(s Stats) uint64 { return s.RefetchesLimited }},
	{prometheus.NewDesc("palisade_keys_stale_served_total", "Expired keys served because their origin failed.", nil, nil), func(s Stats) uint64 { return s.StaleServed }},
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range statDescs {
		ch <- d.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	for _, d := range statDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(s)))
	}
}
