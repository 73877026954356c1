package delivery

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is a settable clock for the host buckets.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func sendN(b *hostBuckets, host string, n int) {
	for range n {
		b.sent(host, 0.01)
		b.count(host, outcomeSuccess, 1)
	}
}

// exportedBuckets gathers the host_bucket values the registry exports, for
// both families, and checks that they agree.
func exportedBuckets(t *testing.T, b *hostBuckets) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range b.collectors() {
		reg.MustRegister(c)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byFam := map[string][]string{}
	for _, f := range fams {
		seen := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "host_bucket" && !seen[l.GetValue()] {
					seen[l.GetValue()] = true
					byFam[f.GetName()] = append(byFam[f.GetName()], l.GetValue())
				}
			}
		}
		sort.Strings(byFam[f.GetName()])
	}
	a := byFam["palisade_delivery_host_bucket_attempts_total"]
	d := byFam["palisade_delivery_host_bucket_duration_seconds"]
	if !slices.Equal(a, d) {
		t.Fatalf("attempts export buckets %v, durations %v", a, d)
	}
	return a
}

func counterValue(t *testing.T, b *hostBuckets, bucket, oc string) float64 {
	t.Helper()
	var m dto.Metric
	c, err := b.attemptsVec.GetMetricWithLabelValues(bucket, oc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestHostBucketsFirstKThenOther(t *testing.T) {
	clk := newFakeClock()
	b := newHostBuckets(2, clk.now)
	if got := exportedBuckets(t, b); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("before any delivery: buckets %v, want [other] (from start-up)", got)
	}
	sendN(b, "a.example", 3)
	sendN(b, "b.example", 2)
	sendN(b, "c.example", 5)
	if got := exportedBuckets(t, b); !slices.Equal(got, []string{"a.example", "b.example", "other"}) {
		t.Fatalf("buckets %v, want the first two hosts and other", got)
	}
	if v := counterValue(t, b, "other", "success"); v != 5 {
		t.Fatalf("other counted %v successes, want c.example's 5", v)
	}
	if b.bucketOf("c.example") != "other" || b.bucketOf("a.example") != "a.example" {
		t.Fatalf("labels: c=%s a=%s", b.bucketOf("c.example"), b.bucketOf("a.example"))
	}
	// Outcomes of hosts never sent to (refused, expired) count as other.
	b.count("refused.example", outcomeRefused, 4)
	if v := counterValue(t, b, "other", "refused_by_policy"); v != 4 {
		t.Fatalf("other counted %v refusals, want 4", v)
	}
}

func TestHostBucketsFollowTheTraffic(t *testing.T) {
	clk := newFakeClock()
	b := newHostBuckets(2, clk.now)
	sendN(b, "a.example", 100)
	sendN(b, "b.example", 100)
	sendN(b, "c.example", 10)
	// An hour later a and c are busy, b is quiet: c must take b's bucket
	// at the next re-rank, and b's series must be gone.
	for range 12 {
		clk.advance(5 * time.Minute)
		sendN(b, "a.example", 50)
		sendN(b, "c.example", 50)
	}
	clk.advance(hostBucketRerank + time.Second)
	sendN(b, "a.example", 1)
	if got := exportedBuckets(t, b); !slices.Equal(got, []string{"a.example", "c.example", "other"}) {
		t.Fatalf("after the traffic moved: buckets %v, want a, c and other", got)
	}
	if b.evictions != 1 {
		t.Fatalf("%d evictions, want 1 (b)", b.evictions)
	}
}

func TestHostBucketsHysteresis(t *testing.T) {
	clk := newFakeClock()
	b := newHostBuckets(1, clk.now)
	sendN(b, "a.example", 100)
	// b sends a little more than a, but not hysteresis times more: a keeps
	// its bucket across many re-ranks.
	for range 40 {
		clk.advance(hostBucketRerank)
		sendN(b, "a.example", 10)
		sendN(b, "b.example", 11)
	}
	if got := exportedBuckets(t, b); !slices.Equal(got, []string{"a.example", "other"}) {
		t.Fatalf("buckets %v, want a kept", got)
	}
	if b.evictions != 0 {
		t.Fatalf("%d evictions for a 10%% difference", b.evictions)
	}
}

// Whatever the traffic, never more than K+1 host_bucket values are exported
// and the candidates summary stays bounded; the busiest hosts hold buckets.
func TestHostBucketsBounded(t *testing.T) {
	clk := newFakeClock()
	const k = 5
	b := newHostBuckets(k, clk.now)
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 200 {
		clk.advance(time.Minute) // each phase lasts five half-lives
		for range 200 {
			// Zipf-like: low host numbers are far busier; the hot set
			// moves every 50 steps.
			h := int(rng.ExpFloat64()*3) + (step/50)*100
			if rng.IntN(4) == 0 {
				h = rng.IntN(5000) + 10000 // long tail
			}
			sendN(b, fmt.Sprintf("h%d.example", h), 1)
		}
		if got := exportedBuckets(t, b); len(got) > k+1 {
			t.Fatalf("step %d: %d host_bucket values exported: %v", step, len(got), got)
		}
		if len(b.cands) > b.maxCands || len(b.index) != len(b.cands) {
			t.Fatalf("step %d: %d candidates (%d indexed), bound %d", step, len(b.cands), len(b.index), b.maxCands)
		}
		for i, c := range b.cands {
			if b.index[c.host] != i || c.labelled != (b.buckets[c.host] != nil) {
				t.Fatalf("step %d: %s at %d, indexed at %d, labelled %v", step, c.host, i, b.index[c.host], c.labelled)
			}
		}
	}
	// The hot set of the last phase (h300, h301, ...) holds the buckets.
	got := exportedBuckets(t, b)
	for _, h := range []string{"h300.example", "h301.example", "h302.example"} {
		if !slices.Contains(got, h) {
			t.Errorf("busiest host %s has no bucket: %v", h, got)
		}
	}
}

// Weights are rescaled before they overflow: a process running for weeks
// keeps ranking.
func TestHostBucketsLongRun(t *testing.T) {
	clk := newFakeClock()
	b := newHostBuckets(1, clk.now)
	sendN(b, "a.example", 1)
	for range 60 {
		clk.advance(24 * time.Hour)
		sendN(b, "b.example", 5)
		sendN(b, "a.example", 1)
	}
	for _, c := range b.cands {
		if c.score <= 0 || c.score > 1e300 || c.score != c.score {
			t.Fatalf("score of %s is %v after 60 days", c.host, c.score)
		}
	}
	if b.bucketOf("b.example") != "b.example" {
		t.Fatalf("b, five times busier for weeks, has no bucket (a=%s)", b.bucketOf("a.example"))
	}
}

// The engine labels real deliveries: with K=1, the busier of two inboxes
// gets its own host_bucket, the other counts as "other", and the bucket
// families agree with the unlabelled ones.
func TestEngineHostBuckets(t *testing.T) {
	key := senderKey(t)
	busy := newSink(t, &key.PublicKey, "")
	quiet := newSink(t, &key.PublicKey, "")
	quiet.setStatus(func(int64) int { return http.StatusInternalServerError })
	o := fastOptions(t)
	o.HostBuckets = 1
	o.MaxAge = 200 * time.Millisecond
	en := newEnv(t, "", o)
	en.run()
	for i := range 5 {
		if err := en.e.Enqueue(activity(i), testActor, []string{busy.url("/inbox")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "5 deliveries", func() bool { return en.outcome("success") == 5 })
	if err := en.e.Enqueue(activity(9), testActor, []string{quiet.url("/inbox")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failing delivery to expire", func() bool { return en.outcome("expired") == 1 })
	u, _ := url.Parse(busy.url("/"))
	b := en.e.m.hosts
	if v := counterValue(t, b, u.Host, "success"); v != 5 {
		t.Errorf("%s counted %v successes, want 5", u.Host, v)
	}
	retries := counterValue(t, b, "other", "retry_5xx")
	if retries < 1 || retries != float64(en.outcome("retry_5xx")) {
		t.Errorf("other counted %v 5xx retries, the engine %d", retries, en.outcome("retry_5xx"))
	}
	if v := counterValue(t, b, "other", "expired"); v != 1 {
		t.Errorf("other counted %v expired, want 1", v)
	}
	fams, err := en.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total, bucketed uint64
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "palisade_delivery_duration_seconds":
				total += m.GetHistogram().GetSampleCount()
			case "palisade_delivery_host_bucket_duration_seconds":
				bucketed += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if total == 0 || total != bucketed {
		t.Errorf("durations: %d unlabelled, %d by host bucket", total, bucketed)
	}
}

// BenchmarkHostBucketsSent is the per-delivery cost of the host-bucket
// metrics (score, lookup, duration and outcome), over 1,000 destination
// hosts with a skewed load; BenchmarkUnlabelledSent is what the engine paid
// before them (one histogram observation, one counter), for the ratio.
func BenchmarkHostBucketsSent(b *testing.B) {
	hb := newHostBuckets(20, time.Now)
	hosts := make([]string, 1000)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seq := make([]string, 4096)
	for i := range seq {
		seq[i] = hosts[min(len(hosts)-1, int(rng.ExpFloat64()*50))]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := seq[i&4095]
		hb.sent(h, 0.05)
		hb.count(h, outcomeSuccess, 1)
	}
}

func BenchmarkUnlabelledSent(b *testing.B) {
	m := &metrics{}
	m.attemptsVec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"outcome"})
	for i, n := range outcomeNames {
		m.attempts[i] = m.attemptsVec.WithLabelValues(n)
	}
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "y", Buckets: deliveryDurationBuckets})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.duration.Observe(0.05)
		m.attempts[outcomeSuccess].Inc()
	}
}
