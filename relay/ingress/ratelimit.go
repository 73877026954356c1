package ingress

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by string (a domain, an actor, a
// client address), sharded so that concurrent requests rarely meet on a
// lock. Memory is bounded: each shard holds at most maxPerShard buckets and,
// when full, forgets the buckets that have refilled completely (they carry
// no state a fresh bucket would not have) or, failing that, an arbitrary
// one — so a flood of distinct keys can cost at most a fresh burst per key,
// never unbounded memory.
type limiter struct {
	rate        float64 // tokens per second
	burst       float64
	maxPerShard int
	seed        maphash.Seed
	shards      [64]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	_       [40]byte // keep shards on separate cache lines
}

type bucket struct {
	tokens float64
	last   int64 // unix nanos of the last refill
}

// newLimiter returns nil when rate is not positive: a nil limiter allows
// everything.
func newLimiter(rate float64, burst int, maxKeys int) *limiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	l := &limiter{rate: rate, burst: float64(burst), maxPerShard: max(16, maxKeys/64), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// allow takes one token for key. When none is left it reports how long
// until one is.
func (l *limiter) allow(key []byte, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	s := &l.shards[maphash.Bytes(l.seed, key)%uint64(len(l.shards))]
	nowNs := now.UnixNano()
	s.mu.Lock()
	b := s.buckets[string(key)] // no allocation for the lookup
	if b == nil {
		if len(s.buckets) >= l.maxPerShard {
			s.evict(l, nowNs)
		}
		b = &bucket{tokens: l.burst, last: nowNs}
		s.buckets[string(key)] = b
	}
	elapsed := float64(nowNs-b.last) / 1e9
	if elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = nowNs
	}
	if b.tokens >= 1 {
		b.tokens--
		s.mu.Unlock()
		return true, 0
	}
	need := (1 - b.tokens) / l.rate
	s.mu.Unlock()
	return false, time.Duration(need * float64(time.Second))
}

// evict drops buckets that are full again; if none is, it drops one at
// random (map iteration order) so the shard stays bounded.
func (s *limiterShard) evict(l *limiter, nowNs int64) {
	full := (l.burst / l.rate) * 1e9
	dropped := false
	for k, b := range s.buckets {
		if float64(nowNs-b.last) >= full {
			delete(s.buckets, k)
			dropped = true
		}
	}
	if !dropped {
		for k := range s.buckets {
			delete(s.buckets, k)
			break
		}
	}
}
