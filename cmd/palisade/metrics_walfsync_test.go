package main

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Pebble's WAL fsync histogram counts nanoseconds on 100 buckets; the
// export is in seconds on walFsyncBounds, each count exact for the Pebble
// bound it names.
func TestWALFsyncHistogramInSeconds(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: pebble.FsyncLatencyBuckets})
	for _, d := range []time.Duration{50 * time.Microsecond, 300 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond, 40 * time.Millisecond, 20 * time.Second} {
		h.Observe(float64(d))
	}
	desc := prometheus.NewDesc("palisade_pebble_wal_fsync_seconds", "h", nil, nil)
	m, err := walFsyncHistogram(desc, h)
	if err != nil {
		t.Fatal(err)
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	hist := out.GetHistogram()
	if hist.GetSampleCount() != 6 {
		t.Errorf("count %d, want 6", hist.GetSampleCount())
	}
	wantSum := (50*time.Microsecond + 600*time.Microsecond + 2*time.Millisecond + 40*time.Millisecond + 20*time.Second).Seconds()
	if s := hist.GetSampleSum(); s < wantSum*0.999 || s > wantSum*1.001 {
		t.Errorf("sum %g s, want %g s", s, wantSum)
	}
	cum := func(le float64) uint64 {
		for _, b := range hist.GetBucket() {
			if b.GetUpperBound() >= le*0.999 && b.GetUpperBound() <= le*1.001 {
				return b.GetCumulativeCount()
			}
		}
		t.Fatalf("no bucket at %g s in %v", le, hist.GetBucket())
		return 0
	}
	for le, want := range map[float64]uint64{0.0001: 1, 0.0005: 3, 0.0025: 4, 0.005: 4, 10: 5} {
		if got := cum(le); got != want {
			t.Errorf("le=%g: %d, want %d", le, got, want)
		}
	}
	if n := len(hist.GetBucket()); n != len(walFsyncBounds) {
		t.Errorf("%d buckets, want %d", n, len(walFsyncBounds))
	}
}
