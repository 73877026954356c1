package ingress

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestDurationHistMatchesClientGolang feeds the same durations, from
// several goroutines at once, to a durationHist and to client_golang's own
// histogram with the same bounds, and requires the gathered series to be
// the same: bucket by bucket, count and sum. Durations include the bounds
// themselves (le is inclusive), zero, negative and past the last bound.
func TestDurationHistMatchesClientGolang(t *testing.T) {
	bounds := []float64{1e-6, 5e-6, 2.5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, .025, .1, .5, 2.5, 10}
	stages := []string{"a", "b", "c"}
	ours := newDurationHist("test_stage_seconds", "help", "stage", stages, bounds)
	theirs := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "test_stage_seconds", Help: "help", Buckets: bounds}, []string{"stage"})

	var edge []time.Duration
	for _, b := range bounds {
		d := time.Duration(math.Round(b * 1e9))
		edge = append(edge, d-1, d, d+1)
	}
	edge = append(edge, 0, -time.Millisecond, time.Minute)

	const workers, each = 8, 5000
	var mu sync.Mutex // client_golang is safe; the lock only keeps the two fed alike
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < each; i++ {
				var d time.Duration
				if i%4 == 0 {
					d = edge[r.IntN(len(edge))]
				} else {
					d = time.Duration(r.Int64N(int64(20 * time.Second)))
				}
				series := r.IntN(len(stages))
				s := ours.shard()
				ours.observe(s, series, d)
				mu.Lock()
				theirs.WithLabelValues(stages[series]).Observe(max(d, 0).Seconds())
				mu.Unlock()
			}
		}(uint64(w))
	}
	wg.Wait()

	got := gatherHist(t, ours)
	want := gatherHist(t, theirs)
	if len(got) != len(stages) || len(want) != len(stages) {
		t.Fatalf("series: got %d, want %d", len(got), len(want))
	}
	var total uint64
	for stage, w := range want {
		g, ok := got[stage]
		if !ok {
			t.Fatalf("stage %q missing", stage)
		}
		if g.GetSampleCount() != w.GetSampleCount() {
			t.Errorf("stage %s: count %d, want %d", stage, g.GetSampleCount(), w.GetSampleCount())
		}
		if math.Abs(g.GetSampleSum()-w.GetSampleSum()) > 1e-6*w.GetSampleSum() {
			t.Errorf("stage %s: sum %v, want %v", stage, g.GetSampleSum(), w.GetSampleSum())
		}
		if len(g.Bucket) != len(w.Bucket) {
			t.Fatalf("stage %s: %d buckets, want %d", stage, len(g.Bucket), len(w.Bucket))
		}
		for i := range w.Bucket {
			if g.Bucket[i].GetUpperBound() != w.Bucket[i].GetUpperBound() || g.Bucket[i].GetCumulativeCount() != w.Bucket[i].GetCumulativeCount() {
				t.Errorf("stage %s bucket le=%v: %d, want le=%v %d", stage, g.Bucket[i].GetUpperBound(),
					g.Bucket[i].GetCumulativeCount(), w.Bucket[i].GetUpperBound(), w.Bucket[i].GetCumulativeCount())
			}
		}
		total += g.GetSampleCount()
	}
	if total != workers*each {
		t.Fatalf("observed %d, want %d", total, workers*each)
	}
}

// TestDurationHistUnlabelled covers the single-series form the ingress uses
// for the whole-request duration.
func TestDurationHistUnlabelled(t *testing.T) {
	h := newDurationHist("test_total_seconds", "help", "", nil, []float64{.001, .01})
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Second} {
		h.observe(h.shard(), 0, d)
	}
	got := gatherHist(t, h)
	m, ok := got[""]
	if len(got) != 1 || !ok {
		t.Fatalf("series %v", got)
	}
	if m.GetSampleCount() != 3 || m.Bucket[0].GetCumulativeCount() != 1 || m.Bucket[1].GetCumulativeCount() != 2 {
		t.Fatalf("histogram %v", m)
	}
	if math.Abs(m.GetSampleSum()-1.003) > 1e-9 {
		t.Fatalf("sum %v", m.GetSampleSum())
	}
}

// gatherHist registers c alone and returns its histograms by the value of
// their one label ("" when unlabelled).
func gatherHist(t *testing.T, c prometheus.Collector) map[string]*dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			label := ""
			if len(m.Label) > 0 {
				label = m.Label[0].GetValue()
			}
			out[label] = m.Histogram
		}
	}
	return out
}
