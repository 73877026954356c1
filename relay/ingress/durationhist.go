package ingress

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationHist is a family of fixed-bucket latency histograms, one series
// per label value, exported as ordinary Prometheus histograms.
//
// The pipeline observes twelve durations a request. client_golang's
// histogram does four atomic operations on lines every core shares, and
// under two busy cores that cost about 250 ns an observation, 3 µs a
// request (BenchmarkPipeline's profile). Here a request picks one of
// several shards at random and adds to it, so two cores seldom touch the
// same lines; Collect adds the shards up. Durations are whole nanoseconds,
// compared with bounds converted once.
type durationHist struct {
	desc   *prometheus.Desc
	labels []string  // one per series; nil for an unlabelled histogram
	bounds []float64 // upper bounds, seconds, as exported
	ns     []int64   // the same bounds in nanoseconds
	stride int       // words a series takes in a shard: buckets, +Inf, sum
	shards [histShards]histShard
}

const histShards = 16

// histShard holds, for every series, the count of each bucket (not
// cumulative; the last is +Inf) and the sum of durations in nanoseconds.
type histShard struct {
	v []atomic.Uint64
}

// newDurationHist describes a histogram family. labelName "" makes one
// unlabelled series; otherwise labelValues name the series, in the order
// observe's series index refers to them.
func newDurationHist(name, help, labelName string, labelValues []string, bounds []float64) *durationHist {
	var varLabels []string
	series := 1
	if labelName != "" {
		varLabels = []string{labelName}
		series = len(labelValues)
	}
	h := &durationHist{
		desc:   prometheus.NewDesc(name, help, varLabels, nil),
		labels: labelValues,
		bounds: bounds,
		ns:     make([]int64, len(bounds)),
		stride: len(bounds) + 2,
	}
	if labelName == "" {
		h.labels = nil
	}
	for i, b := range bounds {
		if i > 0 && b <= bounds[i-1] {
			panic("ingress: histogram bounds must increase")
		}
		h.ns[i] = int64(math.Round(b * float64(time.Second)))
	}
	for i := range h.shards {
		// Eight spare words keep one shard's counters off the next
		// allocation's cache line.
		h.shards[i].v = make([]atomic.Uint64, series*h.stride+8)
	}
	return h
}

// shard picks the shard a request adds to.
func (h *durationHist) shard() *histShard {
	return &h.shards[rand.Uint32()%histShards]
}

// observe adds d to the series-th series in shard s (from h.shard).
func (h *durationHist) observe(s *histShard, series int, d time.Duration) {
	n := max(int64(d), 0)
	i := 0
	for i < len(h.ns) && n > h.ns[i] {
		i++
	}
	base := series * h.stride
	s.v[base+i].Add(1)
	s.v[base+len(h.ns)+1].Add(uint64(n))
}

// Describe implements prometheus.Collector.
func (h *durationHist) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector. The count is the sum of the
// buckets as read, so the exported histogram is always consistent with
// itself; an observation racing with Collect lands in this scrape or the
// next.
func (h *durationHist) Collect(ch chan<- prometheus.Metric) {
	series := max(len(h.labels), 1)
	counts := make([]uint64, len(h.ns)+1)
	for s := 0; s < series; s++ {
		clear(counts)
		var sum uint64
		base := s * h.stride
		for i := range h.shards {
			v := h.shards[i].v
			for b := range counts {
				counts[b] += v[base+b].Load()
			}
			sum += v[base+len(h.ns)+1].Load()
		}
		buckets := make(map[float64]uint64, len(h.bounds))
		var cum uint64
		for b, le := range h.bounds {
			cum += counts[b]
			buckets[le] = cum
		}
		cum += counts[len(h.ns)]
		var lv []string
		if h.labels != nil {
			lv = []string{h.labels[s]}
		}
		ch <- prometheus.MustNewConstHistogram(h.desc, cum, float64(sum)/float64(time.Second), buckets, lv...)
	}
}
