package delivery

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// otherBucket is the host_bucket of every host outside the busiest K.
const otherBucket = "other"

// Host bucket tuning. Scores decay with a half-life of hostBucketHalfLife,
// the ranking is revisited every hostBucketRerank, and a host outside the
// K busiest takes the place of one inside only when its score is
// hostBucketHysteresis times the weaker one's, so two hosts of similar
// traffic around rank K do not swap labels at every re-rank.
const (
	hostBucketHalfLife   = 10 * time.Minute
	hostBucketRerank     = 30 * time.Second
	hostBucketHysteresis = 1.25
	// candidatesPerBucket is how many hosts are scored per bucket (the
	// Space-Saving summary): more candidates than buckets so that a host
	// climbing towards the top is already being counted.
	candidatesPerBucket = 4
	minCandidates       = 64
)

// hostBuckets maps destination hosts to a bounded set of label values: the
// K busiest hosts by a decaying count of the deliveries sent to them each
// have their own host_bucket (their host[:port]), every other host counts
// as "other". At most K+1 host_bucket values are exported at any moment: a
// host that drops out of the busiest K has its series deleted.
//
// The decaying count is a forward-decayed Space-Saving summary: a delivery
// at time t adds 2^((t-t0)/halfLife) to its host's score, which ranks hosts
// exactly as scores halved every half-life would, at O(1) per delivery; the
// summary holds a bounded number of candidates (a newcomer replaces the
// lowest one and inherits its score, which over-counts a newcomer by at
// most the smallest score, never under-counts a busy host).
type hostBuckets struct {
	k   int
	now func() time.Time

	attemptsVec *prometheus.CounterVec
	durationVec *prometheus.HistogramVec

	mu        sync.Mutex
	t0        time.Time
	cands     []scoredHost   // the summary, in a slice: scanning it for the minimum is cheap
	index     map[string]int // host → position in cands
	maxCands  int
	buckets   map[string]*hostSeries // the hosts with their own label
	other     *hostSeries
	rerankAt  time.Time
	scratch   []scoredHost
	evictions int // hosts that lost their bucket, for tests
}

// hostSeries holds one host_bucket's children, resolved once.
type hostSeries struct {
	attempts [nOutcomes]prometheus.Counter
	duration prometheus.Observer
}

type scoredHost struct {
	host     string
	score    float64
	labelled bool // has a bucket (b.buckets holds it)
}

func newHostBuckets(k int, now func() time.Time) *hostBuckets {
	b := &hostBuckets{
		k:   k,
		now: now,
		attemptsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_delivery_host_bucket_attempts_total",
			Help: "Outbound deliveries by destination host bucket (one of the K busiest hosts, or \"other\") and outcome, counted as palisade_delivery_attempts_total.",
		}, []string{"host_bucket", "outcome"}),
		durationVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "palisade_delivery_host_bucket_duration_seconds",
			Help:    "Time from sending a delivery to the end of its response (or its failure), by destination host bucket (one of the K busiest hosts, or \"other\").",
			Buckets: deliveryDurationBuckets,
		}, []string{"host_bucket"}),
		index:    map[string]int{},
		maxCands: max(minCandidates, candidatesPerBucket*k),
		buckets:  map[string]*hostSeries{},
	}
	b.other = b.series(otherBucket)
	return b
}

func (b *hostBuckets) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.attemptsVec, b.durationVec}
}

func (b *hostBuckets) series(label string) *hostSeries {
	s := &hostSeries{duration: b.durationVec.WithLabelValues(label)}
	for i, n := range outcomeNames {
		s.attempts[i] = b.attemptsVec.WithLabelValues(label, n)
	}
	return s
}

// sent scores one delivery sent to host and records its duration.
func (b *hostBuckets) sent(host string, seconds float64) {
	now := b.now()
	b.mu.Lock()
	b.score(host, now)
	s := b.lookup(host, now)
	b.mu.Unlock()
	s.duration.Observe(seconds)
}

// count counts n outcomes of deliveries to host. It does not read the
// clock (sent re-ranks), which costs more than the rest here.
func (b *hostBuckets) count(host string, oc outcome, n int) {
	b.mu.Lock()
	s := b.lookup(host, time.Time{})
	b.mu.Unlock()
	s.attempts[oc].Add(float64(n))
}

// bucketOf returns host's current host_bucket value.
func (b *hostBuckets) bucketOf(host string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.buckets[host]; ok {
		return host
	}
	return otherBucket
}

// score adds one delivery to host's decaying count. b.mu is held.
func (b *hostBuckets) score(host string, now time.Time) {
	if b.t0.IsZero() {
		b.t0 = now
	}
	exp := now.Sub(b.t0).Seconds() / hostBucketHalfLife.Seconds()
	if exp > 512 { // keep the weights far from overflow: rescale to a new t0
		f := math.Exp2(-exp)
		for i := range b.cands {
			b.cands[i].score *= f
		}
		b.t0, exp = now, 0
	}
	w := math.Exp2(exp)
	if i, ok := b.index[host]; ok {
		b.cands[i].score += w
		return
	}
	if len(b.cands) < b.maxCands {
		b.index[host] = len(b.cands)
		b.cands = append(b.cands, scoredHost{host: host, score: w})
		return
	}
	// Space-Saving: the newcomer replaces the lowest candidate that has no
	// bucket (a labelled host leaves only through a re-rank).
	min := -1
	for i, c := range b.cands {
		if !c.labelled && (min < 0 || c.score < b.cands[min].score) {
			min = i
		}
	}
	if min < 0 {
		return // every candidate is labelled (K >= maxCands): cannot happen with the sizes above
	}
	delete(b.index, b.cands[min].host)
	b.index[host] = min
	b.cands[min] = scoredHost{host: host, score: b.cands[min].score + w}
}

// lookup returns host's series, giving it a bucket while fewer than K are
// taken and re-ranking when due (now zero: not now). b.mu is held.
func (b *hostBuckets) lookup(host string, now time.Time) *hostSeries {
	if !now.IsZero() && now.After(b.rerankAt) {
		b.rerank()
		b.rerankAt = now.Add(hostBucketRerank)
	}
	if s, ok := b.buckets[host]; ok {
		return s
	}
	if len(b.buckets) < b.k && host != otherBucket {
		if i, scored := b.index[host]; scored {
			s := b.series(host)
			b.buckets[host] = s
			b.cands[i].labelled = true
			return s
		}
	}
	return b.other
}

// rerank gives the buckets to the busiest candidates: free buckets go to
// the best unlabelled hosts, then the best unlabelled host replaces the
// weakest labelled one while it is hostBucketHysteresis times busier.
// b.mu is held.
func (b *hostBuckets) rerank() {
	if b.k <= 0 {
		return
	}
	var in, out []scoredHost
	b.scratch = append(b.scratch[:0], b.cands...)
	sort.Slice(b.scratch, func(i, j int) bool {
		if b.scratch[i].score != b.scratch[j].score {
			return b.scratch[i].score > b.scratch[j].score
		}
		return b.scratch[i].host < b.scratch[j].host
	})
	for _, c := range b.scratch {
		if _, ok := b.buckets[c.host]; ok {
			in = append(in, c)
		} else if c.host != otherBucket {
			out = append(out, c)
		}
	}
	// in and out are sorted busiest first.
	for len(b.buckets) < b.k && len(out) > 0 {
		b.label(out[0].host)
		in = append(in, out[0])
		out = out[1:]
	}
	sort.Slice(in, func(i, j int) bool { return in[i].score > in[j].score })
	for len(out) > 0 && len(in) > 0 && out[0].score > hostBucketHysteresis*in[len(in)-1].score {
		weak := in[len(in)-1]
		b.drop(weak.host)
		b.label(out[0].host)
		in = append(in[:len(in)-1], out[0])
		sort.Slice(in, func(i, j int) bool { return in[i].score > in[j].score })
		out = out[1:]
	}
}

// label gives a candidate host its bucket. b.mu is held.
func (b *hostBuckets) label(host string) {
	b.buckets[host] = b.series(host)
	b.cands[b.index[host]].labelled = true
}

// drop deletes a host's bucket and its series. b.mu is held.
func (b *hostBuckets) drop(host string) {
	delete(b.buckets, host)
	if i, ok := b.index[host]; ok {
		b.cands[i].labelled = false
	}
	b.durationVec.DeleteLabelValues(host)
	for _, n := range outcomeNames {
		b.attemptsVec.DeleteLabelValues(host, n)
	}
	b.evictions++
}
